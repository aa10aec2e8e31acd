/**
 * The master's shared state: its identity, the records of frameworks, agents and offers, and
 * the small services every part uses (the clock, sending to a framework or an agent, ACL checks,
 * counting a failed registry write). The master's parts (frameworks.ts, agents.ts, offers.ts,
 * operations.ts, launch.ts, tasks.ts, reconcile.ts) each hold this one object.
 */
import type { Clock } from '../common/clock.ts';
import { describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { Metrics } from '../common/metrics.ts';
import type { Sink } from '../common/sink.ts';
import type { MasterToAgent } from '../proto/internal.ts';
import type { MasterInfo, SchedulerEvent, TaskReason, TaskState, TaskStatus } from '../proto/messages.ts';
import type { Allocation, HierarchicalAllocator } from './allocator/index.ts';
import { AllocationLoop } from './allocation_loop.ts';
import { type AclAction, Authorizer } from './authorization.ts';
import type { MasterEvent, MasterObserver } from './events.ts';
import type { AgentRecord, Framework, OfferRecord } from './records.ts';
import type { Registry, RegistryAgent } from './registry/index.ts';

export interface MasterOptions {
  readonly clock: Clock;
  readonly allocator: HierarchicalAllocator;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly hostname: string;
  readonly ip: string;
  readonly port: number;
  readonly version: string;
  readonly allocationIntervalMs: number;
  readonly agentPingTimeoutMs: number;
  readonly maxAgentPingTimeouts: number;
  readonly agentReregisterTimeoutMs: number;
  readonly offerTimeoutMs?: number;
  readonly maxCompletedFrameworks: number;
  readonly maxCompletedTasksPerFramework: number;
  /** `--roles`: when set, frameworks may only use these roles. */
  readonly roles?: readonly string[];
  readonly rootSubmissions: boolean;
  /** `--weights`, for /roles (the allocator has its own copy). */
  readonly weights?: ReadonlyMap<string, number>;
  readonly id?: string;
  /** The scheme agents are reached with, for Offer.url: 'https' when the cluster runs TLS. */
  readonly urlScheme?: 'http' | 'https';
  /** `--acls`: what principals may do (default: everything). */
  readonly authorizer?: Authorizer;
  /**
   * May this master act as the leader at this instant? Asked before every message it sends to
   * a framework or an agent; a message it may not send is dropped (counted in
   * master/dropped_messages) and the daemon is expected to stop the master. Absent: always
   * (a master that runs alone). See docs/architecture.md §1 (masters and leadership).
   */
  readonly mayAct?: () => boolean;
}

/** Mesos's timer of allocation runs. */
export const ALLOCATION_RUN_TIMER = 'allocator/mesos/allocation_run_ms';
/** ACCEPT → the task's first TASK_RUNNING (the master's clock). */
export const LAUNCH_TO_RUNNING_TIMER = 'master/task_launch_to_running_ms';

export class MasterState {
  readonly info: MasterInfo;
  readonly log: Logger;
  readonly metrics = new Metrics();
  readonly frameworks = new Map<string, Framework>();
  readonly completedFrameworks: Framework[] = [];
  readonly agents = new Map<string, AgentRecord>();
  readonly offers = new Map<string, OfferRecord>();
  /** Agents from the registry that have not re-registered since this master started. */
  readonly recoveredAgents = new Map<string, RegistryAgent>();
  /** Frameworks removed (torn down or timed out): they may not subscribe again. */
  readonly removedFrameworks = new Set<string>();
  readonly loop: AllocationLoop;
  frameworkSeq = 0;
  agentSeq = 0;
  offerSeq = 0;
  /** The operator event stream's observers (events.ts). */
  readonly observers = new Set<MasterObserver>();
  /** Role weights as they are now: `--weights`, then UPDATE_WEIGHTS (recovered from the registry). */
  readonly weights: Map<string, number>;

  constructor(
    readonly id: string,
    readonly opts: MasterOptions,
    info: MasterInfo,
    onAllocations: (allocations: Allocation[]) => void,
  ) {
    this.log = opts.logger.child({ component: 'master' });
    this.info = info;
    this.weights = new Map(opts.weights ?? []);
    this.metrics.declare('master/registry_write_failures');
    this.metrics.timer(ALLOCATION_RUN_TIMER, { help: 'Wall time of each allocation run, in seconds' });
    this.metrics.timer(LAUNCH_TO_RUNNING_TIMER, { help: 'From the ACCEPT that launched a task to its first TASK_RUNNING at the master, in seconds' });
    this.loop = new AllocationLoop(opts.allocator, opts.clock, opts.allocationIntervalMs, onAllocations, (ms) =>
      this.metrics.observe(ALLOCATION_RUN_TIMER, ms),
    );
  }

  now(): number {
    return this.opts.clock.now();
  }

  send(fw: Framework, event: SchedulerEvent): void {
    if (fw.connected && fw.sink && !fw.sink.closed) fw.sink.send(event);
  }

  sendAgent(agent: AgentRecord, msg: MasterToAgent): void {
    if (agent.sink && !agent.sink.closed) agent.sink.send(msg);
    else this.metrics.inc('master/dropped_messages');
  }

  /** May this master act as the leader now (MasterOptions.mayAct; always without one)? */
  mayAct(): boolean {
    return this.opts.mayAct === undefined || this.opts.mayAct();
  }

  /**
   * The sink the master's parts hold for a subscriber's `sink`: every message sent on it, by
   * `send`, `sendAgent` or directly (SUBSCRIBED, HEARTBEAT, ERROR, SHUTDOWN), is first checked
   * with `mayAct`, and dropped when this master may no longer act as the leader. The same
   * `sink` always gets the same guard (the http/ handlers name the sink that closed).
   */
  guard<E>(sink: Sink<E>): Sink<E> {
    if (this.opts.mayAct === undefined) return sink;
    const known = this.guards.get(sink);
    if (known) return known as Sink<E>;
    const guarded: Sink<E> = {
      send: (event) => {
        if (this.mayAct()) sink.send(event);
        else this.metrics.inc('master/dropped_messages');
      },
      close: () => sink.close(),
      get closed() {
        return sink.closed;
      },
    };
    this.guards.set(sink, guarded);
    return guarded;
  }

  private readonly guards = new WeakMap<Sink<unknown>, Sink<unknown>>();

  /** Tell the operator event stream's observers what just happened (events.ts). */
  notify(event: MasterEvent): void {
    for (const o of this.observers) o(event);
  }

  /** A status generated by the master (no uuid: it is not acknowledged). */
  masterStatus(taskId: string, agentId: string | undefined, state: TaskState, reason: TaskReason, message: string): TaskStatus {
    return {
      taskId,
      state,
      source: 'SOURCE_MASTER',
      reason,
      message,
      ...(agentId === undefined ? {} : { agentId }),
      timestamp: this.now() / 1000,
    };
  }

  /** The INFO line of a task's change of state (one per change), in the words of its status. */
  logTaskState(taskId: string, frameworkId: string, agentId: string | undefined, s: TaskStatus): void {
    const why = [s.source, s.reason].filter(Boolean).join(', ');
    this.log.info(
      { taskId, frameworkId, agentId, state: s.state, reason: s.reason, source: s.source },
      `task ${taskId} of framework ${frameworkId} is now ${s.state}${agentId ? ` on agent ${agentId}` : ''}${why ? ` (${why})` : ''}${s.message ? `: ${s.message}` : ''}`,
    );
  }

  /** May `subject` do `action` on `object` (the `--acls`; without them, anything)? */
  authorize(action: AclAction, subject: string | undefined, object: string | undefined): boolean {
    const ok = (this.opts.authorizer ?? Authorizer.ALLOW_ALL).authorize(action, subject, object);
    if (!ok) this.log.info({ action, principal: subject, object }, 'not authorized');
    return ok;
  }

  /** A registry write failed (a full disk): counted and logged; the operation it was for fails. */
  registryFailed(e: unknown, what: string, fields: Record<string, unknown>): void {
    this.metrics.inc('master/registry_write_failures');
    this.log.error({ ...fields, err: describeError(e) }, what);
  }
}
