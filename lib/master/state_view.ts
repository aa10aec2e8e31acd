/**
 * A read-only view of the master's state, for the operator endpoints (/state, /slaves,
 * /frameworks, /tasks, /roles, /metrics/snapshot): the records as they are, and the sums the
 * JSON answers need. The http/ handlers read the master through this, not through its parts.
 */
import type { Metrics } from '../common/metrics.ts';
import { Resources } from '../common/resources/index.ts';
import { type MasterInfo, isTerminal } from '../proto/messages.ts';
import type { AgentRecord, Framework, OfferRecord, Task } from './records.ts';
import type { RegistryAgent } from './registry/index.ts';
import type { MasterState } from './state.ts';

export interface MasterView {
  readonly id: string;
  readonly info: MasterInfo;
  /** ms since the epoch, on the master's clock. */
  readonly startTime: number;
  readonly electedTime: number | undefined;
  /** The version agents are reported with. */
  readonly version: string;
  /** Role weights: `--weights`, changed by UPDATE_WEIGHTS. */
  readonly weights: ReadonlyMap<string, number>;
  readonly frameworks: ReadonlyMap<string, Framework>;
  readonly completedFrameworks: readonly Framework[];
  readonly agents: ReadonlyMap<string, AgentRecord>;
  readonly offers: ReadonlyMap<string, OfferRecord>;
  /** Agents from the registry that have not re-registered since this master started. */
  readonly recoveredAgents: ReadonlyMap<string, RegistryAgent>;
  readonly metrics: Metrics;
  uptimeSecs(): number;
  allocationRuns(): number;
}

export function masterView(s: MasterState, times: { readonly startTime: number; electedTime(): number | undefined }): MasterView {
  return {
    id: s.id,
    info: s.info,
    startTime: times.startTime,
    get electedTime() {
      return times.electedTime();
    },
    version: s.opts.version,
    weights: s.weights,
    frameworks: s.frameworks,
    completedFrameworks: s.completedFrameworks,
    agents: s.agents,
    offers: s.offers,
    recoveredAgents: s.recoveredAgents,
    metrics: s.metrics,
    uptimeSecs: () => (s.opts.clock.now() - times.startTime) / 1000,
    allocationRuns: () => s.opts.allocator.stats().allocationRuns,
  };
}

/** What a framework's live tasks and its executors use. */
export function frameworkUsed(fw: Framework): Resources {
  let r = Resources.EMPTY;
  for (const t of fw.tasks.values()) if (!isTerminal(t.state)) r = r.plus(t.resources);
  for (const byAgent of fw.executors.values()) for (const e of byAgent.values()) r = r.plus(e.resources);
  return r;
}

/** What a framework holds in outstanding offers. */
export function frameworkOffered(fw: Framework): Resources {
  let r = Resources.EMPTY;
  for (const o of fw.offers.values()) r = r.plus(o.resources);
  return r;
}

/** What the live tasks and the executors on an agent use. */
export function agentUsed(agent: AgentRecord): Resources {
  let r = Resources.EMPTY;
  for (const byFw of agent.tasks.values()) for (const t of byFw.values()) if (!isTerminal(t.state)) r = r.plus(t.resources);
  for (const byFw of agent.executors.values()) for (const e of byFw.values()) r = r.plus(e.resources);
  return r;
}

/** What of an agent is in outstanding offers. */
export function agentOffered(view: MasterView, agent: AgentRecord): Resources {
  let r = Resources.EMPTY;
  for (const id of agent.offers) {
    const o = view.offers.get(id);
    if (o) r = r.plus(o.resources);
  }
  return r;
}

/** Every task the master knows (live and completed, of live and completed frameworks). */
export function allTasks(view: MasterView): Task[] {
  const all: Task[] = [];
  for (const fw of [...view.frameworks.values(), ...view.completedFrameworks]) all.push(...fw.tasks.values(), ...fw.completedTasks);
  return all;
}
