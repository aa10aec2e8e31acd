import type { Resources } from '../../common/resources/index.ts';

/** What the allocator needs to know of a framework. */
export interface FrameworkSpec {
  readonly role: string;
  /** The framework has the REVOCABLE_RESOURCES capability. */
  readonly revocable: boolean;
}

/** Resources handed to one framework on one agent by an allocation run. */
export interface Allocation {
  readonly frameworkId: string;
  readonly agentId: string;
  readonly resources: Resources;
  /**
   * True for an allocation of revocable resources. They are never combined with
   * non-revocable resources in one allocation; the master offers both together (offers.ts).
   */
  readonly revocable: boolean;
}

/** An agent's resources are offered only if they hold at least one of these amounts. */
export interface MinAllocatable {
  readonly [name: string]: number;
}

export interface AllocatorOptions {
  /** Role weights (`--weights`); a role not listed weighs 1. */
  readonly weights?: ReadonlyMap<string, number>;
  /** Default: cpus 0.01 or mem 32, as Mesos. An empty object offers anything non-empty. */
  readonly minAllocatable?: MinAllocatable;
  /** Longest filter honoured, in ms (longer refuse_seconds are capped). Default 365 days. */
  readonly maxFilterMs?: number;
}

export interface AllocatorStats {
  readonly agents: number;
  readonly frameworks: number;
  readonly roles: number;
  readonly filters: number;
  readonly allocationRuns: number;
}
