/**
 * The registry's interface: the master's durable record of admitted agents, so a restarted (or
 * newly elected) master knows which agents to expect. The backends are in this folder; only
 * lib/cli/master_daemon.ts chooses one.
 */
import type { Resource } from '../../common/resources/index.ts';
import type { AgentInfo } from '../../proto/messages.ts';

export interface RegistryAgent {
  readonly id: string;
  readonly info: AgentInfo;
  /**
   * The agent's dynamic reservations and persistent volumes as the master last applied them
   * (absent in registries written before they existed: then the agent's report is taken).
   */
  readonly checkpointedResources?: readonly Resource[];
  /**
   * The principal the agent authenticated as when it registered: only that principal may
   * re-register this agent id, also with a master that restarted (absent when agents did not
   * authenticate, and in registries written before it was kept: then the agent's first
   * authenticated re-registration sets it).
   */
  readonly principal?: string;
}

export interface RegistryState {
  readonly agents: readonly RegistryAgent[];
  /** Role weights set by UPDATE_WEIGHTS (absent: none was ever set). */
  readonly weights?: Readonly<Record<string, number>>;
}

export interface Registry {
  recover(): Promise<RegistryState>;
  admitAgent(agent: RegistryAgent): Promise<void>;
  updateAgent(agent: RegistryAgent): Promise<void>;
  /** Several agents in one write (the master batches checkpointed-resource changes). */
  updateAgents(agents: readonly RegistryAgent[]): Promise<void>;
  removeAgent(id: string): Promise<void>;
  /** Replace the stored role weights (UPDATE_WEIGHTS): resolves once they are durable. */
  updateWeights(weights: Readonly<Record<string, number>>): Promise<void>;
  /** Bytes of the last stored state (for metrics). */
  size(): number;
}
