/**
 * The master's state machine: frameworks, agents, offers and tasks. It knows nothing of HTTP:
 * the http/ handlers decode calls and hand them here, and events leave through sinks (a
 * framework's subscription stream, an agent's stream). Time comes from the injected clock.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '../common/clock.ts';
import { ValidationError, describeError } from '../common/errors.ts';
import { MAX_DURATION_MS } from '../common/flags.ts';
import { idProblem, roleProblem } from '../common/ids.ts';
import type { Logger } from '../common/log.ts';
import type { Sink } from '../common/sink.ts';
import { type Resource, type ResourceInput, Resources, checkpointedOf, validateResource } from '../common/resources/index.ts';
import type { AgentTask, AgentToMaster, MasterToAgent } from '../proto/internal.ts';
import {
  type AgentInfo,
  type ExecutorInfo,
  type FrameworkInfo,
  type MasterInfo,
  type Offer,
  type Operation,
  type SchedulerCall,
  type SchedulerEvent,
  type TaskInfo,
  type TaskReason,
  type TaskState,
  type TaskStatus,
  isTerminal,
} from '../proto/messages.ts';
import type { Allocation, HierarchicalAllocator } from './allocator/index.ts';
import { AllocationLoop } from './allocation_loop.ts';
import { type AclAction, Authorizer } from './authorization.ts';
import { Metrics } from '../common/metrics.ts';
import type { Registry, RegistryAgent } from './registry.ts';
import { type ResourceConversion, type ResourceOperationType, unapplyCheckpointed, userNameProblem, validateResourceOperation, validateTask } from './validation.ts';

export const HEARTBEAT_INTERVAL_MS = 15_000;
const DEFAULT_REFUSE_SECONDS = 5;
const REGISTRY_RETRY_MS = 1000;

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
}

export interface StatusEntry {
  readonly state: TaskState;
  readonly timestamp: number;
  readonly healthy?: boolean;
}

export class Task {
  state: TaskState = 'TASK_STAGING';
  statusUpdateState: TaskState | undefined;
  statusUpdateUuid: string | undefined;
  latest: TaskStatus | undefined;
  readonly statuses: StatusEntry[] = [];
  constructor(
    readonly info: TaskInfo,
    readonly frameworkId: string,
    readonly agentId: string,
    /** Undefined for command tasks (run by the agent's built-in command executor). */
    readonly executorId: string | undefined,
    readonly resources: Resources,
    readonly user: string | undefined,
  ) {}

  get id(): string {
    return this.info.taskId;
  }
}

export interface OfferRecord {
  readonly id: string;
  readonly frameworkId: string;
  readonly agentId: string;
  readonly resources: Resources;
  timer?: TimerHandle;
}

export interface ExecutorRecord {
  readonly info: ExecutorInfo;
  readonly resources: Resources;
}

export class Framework {
  sink: Sink<SchedulerEvent> | undefined;
  streamId: string | undefined;
  connected = false;
  active = false;
  reregisteredTime: number | undefined;
  unregisteredTime: number | undefined;
  heartbeat: TimerHandle | undefined;
  failover: TimerHandle | undefined;
  readonly offers = new Map<string, OfferRecord>();
  readonly tasks = new Map<string, Task>();
  readonly completedTasks: Task[] = [];
  /** agent id → executor id → executor. */
  readonly executors = new Map<string, Map<string, ExecutorRecord>>();
  constructor(
    readonly id: string,
    public info: FrameworkInfo,
    readonly registeredTime: number,
  ) {}

  capable(type: FrameworkInfo['capabilities'][number]): boolean {
    return this.info.capabilities.includes(type);
  }
}

export class Agent {
  sink: Sink<MasterToAgent> | undefined;
  streamId: string | undefined;
  connected = false;
  active = true;
  reregisteredTime: number | undefined;
  missedPings = 0;
  pongSincePing = true;
  pingTimer: TimerHandle | undefined;
  readonly offers = new Set<string>();
  /** framework id → task id → task. */
  readonly tasks = new Map<string, Map<string, Task>>();
  /** framework id → executor id → executor. */
  readonly executors = new Map<string, Map<string, ExecutorRecord>>();
  /** Kills asked for while the agent was away: sent when it comes back. */
  readonly pendingKills = new Map<string, Set<string>>();
  total: Resources;
  /**
   * The principal the agent authenticated as when it (re-)registered with this master (agents
   * authenticate): only that principal may re-register this agent id.
   */
  principal: string | undefined;
  /** Dynamic reservations and persistent volumes: what the agent checkpoints. */
  get checkpointed(): Resources {
    return checkpointedOf(this.total);
  }
  constructor(
    readonly id: string,
    public info: AgentInfo,
    public ip: string,
    readonly registeredTime: number,
  ) {
    this.total = Resources.of(info.resources);
  }

  get port(): number {
    return this.info.port ?? 5051;
  }

  get pid(): string {
    return `slave(1)@${this.ip}:${this.port}`;
  }
}

/** The HTTP layer's verdict on a non-SUBSCRIBE call's framework and stream id. */
export type CallCheck = { ok: true } | { ok: false; status: 400 | 403; message: string };

function ipToUint32(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return 0;
  // Mesos stores the address in network byte order inside a host (little-endian) integer.
  return ((parts[3]! << 24) >>> 0) + (parts[2]! << 16) + (parts[1]! << 8) + parts[0]!;
}

export class Master {
  readonly id: string;
  readonly info: MasterInfo;
  readonly startTime: number;
  electedTime: number | undefined;
  readonly metrics = new Metrics();
  readonly frameworks = new Map<string, Framework>();
  readonly completedFrameworks: Framework[] = [];
  readonly agents = new Map<string, Agent>();
  readonly offers = new Map<string, OfferRecord>();
  /** Agents from the registry that have not re-registered since this master started. */
  readonly recoveredAgents = new Map<string, RegistryAgent>();
  /** Tasks reported by agents for frameworks that have not re-subscribed yet. */
  private readonly removedFrameworks = new Set<string>();
  private readonly loop: AllocationLoop;
  private readonly log: Logger;
  private frameworkSeq = 0;
  private agentSeq = 0;
  private offerSeq = 0;
  private recovered = false;
  private reregisterTimer: TimerHandle | undefined;

  constructor(private readonly opts: MasterOptions) {
    this.id = opts.id ?? randomUUID();
    this.log = opts.logger.child({ component: 'master' });
    this.startTime = opts.clock.now();
    this.metrics.declare('master/registry_write_failures');
    this.info = {
      id: this.id,
      ip: ipToUint32(opts.ip),
      port: opts.port,
      pid: `master@${opts.ip}:${opts.port}`,
      hostname: opts.hostname,
      version: opts.version,
      address: { hostname: opts.hostname, ip: opts.ip, port: opts.port },
    };
    this.loop = new AllocationLoop(opts.allocator, opts.clock, opts.allocationIntervalMs, (a) => this.offer(a));
  }

  get clock(): Clock {
    return this.opts.clock;
  }

  get options(): MasterOptions {
    return this.opts;
  }

  get allocator(): HierarchicalAllocator {
    return this.opts.allocator;
  }

  /** Recover the registry and start allocating. */
  async start(): Promise<void> {
    const state = await this.opts.registry.recover();
    for (const a of state.agents) this.recoveredAgents.set(a.id, a);
    this.recovered = true;
    this.electedTime = this.opts.clock.now();
    if (this.recoveredAgents.size > 0) {
      this.log.info({ agents: this.recoveredAgents.size }, 'recovered agents from the registry; waiting for them to re-register');
      this.reregisterTimer = this.opts.clock.setTimer(this.opts.agentReregisterTimeoutMs, () => this.expireRecoveredAgents());
    }
    this.loop.start();
  }

  stop(): void {
    this.loop.stop();
    this.reregisterTimer?.cancel();
    this.registryRetry?.cancel();
    for (const fw of this.frameworks.values()) {
      fw.heartbeat?.cancel();
      fw.failover?.cancel();
      fw.sink?.close();
    }
    for (const agent of this.agents.values()) {
      agent.pingTimer?.cancel();
      agent.sink?.close();
    }
    for (const o of this.offers.values()) o.timer?.cancel();
  }

  get isRecovered(): boolean {
    return this.recovered;
  }

  private now(): number {
    return this.opts.clock.now();
  }

  // ===========================================================================================
  // Scheduler API

  /**
   * SUBSCRIBE. The caller has checked the HTTP-level rules; FrameworkInfo problems are answered
   * on the stream with an ERROR event, which then closes.
   */
  subscribe(call: Extract<SchedulerCall, { type: 'SUBSCRIBE' }>, sink: Sink<SchedulerEvent>): { streamId: string; frameworkId: string } | undefined {
    this.metrics.inc(call.subscribe.frameworkInfo.id ? 'master/messages_reregister_framework' : 'master/messages_register_framework');
    const info = call.subscribe.frameworkInfo;
    const problem = this.frameworkInfoProblem(info);
    if (problem) {
      sink.send({ type: 'ERROR', error: { message: problem } });
      sink.close();
      return undefined;
    }
    if (!this.authorize('register_frameworks', info.principal, info.role)) {
      sink.send({ type: 'ERROR', error: { message: `Framework is not authorized to register with role '${info.role}'` } });
      sink.close();
      return undefined;
    }
    let fw: Framework | undefined;
    if (info.id !== undefined) {
      if (this.removedFrameworks.has(info.id)) {
        sink.send({ type: 'ERROR', error: { message: 'Framework has been removed' } });
        sink.close();
        return undefined;
      }
      fw = this.frameworks.get(info.id);
    }
    const now = this.now();
    if (fw) {
      if (fw.info.principal !== info.principal) {
        sink.send({ type: 'ERROR', error: { message: 'Changing framework principal is not allowed' } });
        sink.close();
        return undefined;
      }
      if (fw.sink && !fw.sink.closed) {
        const old = fw.sink;
        fw.sink = undefined;
        old.send({ type: 'ERROR', error: { message: 'Framework failed over' } });
        old.close();
      }
      fw.failover?.cancel();
      fw.failover = undefined;
      // user and checkpoint cannot change on re-subscription.
      fw.info = { ...info, id: fw.id, user: fw.info.user, checkpoint: fw.info.checkpoint };
      fw.reregisteredTime = now;
      this.opts.allocator.updateFramework(fw.id, { role: fw.info.role, revocable: fw.capable('REVOCABLE_RESOURCES') });
    } else {
      const id = info.id ?? `${this.id}-${String(this.frameworkSeq++).padStart(4, '0')}`;
      fw = new Framework(id, { ...info, id }, now);
      if (info.id !== undefined) fw.reregisteredTime = now;
      this.frameworks.set(id, fw);
      this.opts.allocator.addFramework(id, { role: fw.info.role, revocable: fw.capable('REVOCABLE_RESOURCES') }, false);
      this.adoptOrphanTasks(fw);
    }
    fw.sink = sink;
    fw.streamId = randomUUID();
    fw.connected = true;
    fw.active = true;
    fw.unregisteredTime = undefined;
    this.opts.allocator.activateFramework(fw.id);
    // A subscription starts clean, as in Mesos: old decline filters and suppression go, then
    // the roles the scheduler asks to keep suppressed are suppressed again.
    this.opts.allocator.revive(fw.id);
    if (call.subscribe.suppressedRoles?.includes(fw.info.role)) this.opts.allocator.suppress(fw.id);
    sink.send({
      type: 'SUBSCRIBED',
      subscribed: { frameworkId: fw.id, heartbeatIntervalSeconds: HEARTBEAT_INTERVAL_MS / 1000, masterInfo: this.info },
    });
    sink.send({ type: 'HEARTBEAT' });
    this.scheduleHeartbeat(fw);
    if (info.id !== undefined) {
      // A failover (of the framework or of the master): the agents learn the framework's info
      // and resend at once the status updates they hold for it, as in Mesos.
      for (const agent of this.agents.values()) {
        if (agent.connected) this.sendAgent(agent, { type: 'UPDATE_FRAMEWORK', frameworkId: fw.id, frameworkInfo: fw.info });
      }
    }
    this.log.info({ frameworkId: fw.id, name: fw.info.name }, fw.reregisteredTime === now ? 'framework re-subscribed' : 'framework subscribed');
    this.loop.request('all');
    return { streamId: fw.streamId, frameworkId: fw.id };
  }

  /** The subscription stream of a framework went away. */
  disconnected(frameworkId: string, sink: Sink<SchedulerEvent>): void {
    const fw = this.frameworks.get(frameworkId);
    if (!fw || fw.sink !== sink) return; // an old stream (failed over) closing
    fw.sink = undefined;
    fw.connected = false;
    fw.active = false;
    fw.unregisteredTime = this.now();
    fw.heartbeat?.cancel();
    this.opts.allocator.deactivateFramework(fw.id);
    for (const offer of Array.from(fw.offers.values())) this.removeOffer(offer, { rescind: false });
    const timeoutMs = Math.max(0, fw.info.failoverTimeout * 1000);
    this.log.info({ frameworkId: fw.id, failoverTimeoutMs: timeoutMs }, 'framework disconnected');
    fw.failover = this.opts.clock.setTimer(timeoutMs, () => {
      fw.failover = undefined;
      if (!fw.connected) this.removeFramework(fw, 'failover timeout');
    });
  }

  /** Check the framework id and stream id of a non-SUBSCRIBE call. */
  checkCall(frameworkId: string, streamId: string | undefined): CallCheck {
    const fw = this.frameworks.get(frameworkId);
    if (!fw) return { ok: false, status: 400, message: 'Framework cannot be found' };
    if (!fw.connected) return { ok: false, status: 403, message: 'Framework is not subscribed' };
    if (streamId === undefined) return { ok: false, status: 400, message: "All non-subscribe calls should include the 'Mesos-Stream-Id' header" };
    if (streamId !== fw.streamId) {
      return { ok: false, status: 400, message: `The stream ID '${streamId}' included in this request didn't match the stream ID currently associated with framework ID ${frameworkId}` };
    }
    return { ok: true };
  }

  /** Every call but SUBSCRIBE, after checkCall passed. */
  handle(call: Exclude<SchedulerCall, { type: 'SUBSCRIBE' }>): void {
    const fw = call.frameworkId === undefined ? undefined : this.frameworks.get(call.frameworkId);
    if (!fw) return;
    switch (call.type) {
      case 'TEARDOWN':
        this.metrics.inc('master/messages_unregister_framework');
        this.removeFramework(fw, 'teardown');
        return;
      case 'ACCEPT':
        this.metrics.inc('master/messages_launch_tasks');
        this.accept(fw, call.accept.offerIds, call.accept.operations, call.accept.filters?.refuseSeconds);
        return;
      case 'DECLINE':
        this.metrics.inc('master/messages_decline_offers');
        this.decline(fw, call.decline.offerIds, call.decline.filters?.refuseSeconds);
        return;
      case 'REVIVE':
        this.metrics.inc('master/messages_revive_offers');
        this.opts.allocator.revive(fw.id);
        this.loop.request('all');
        return;
      case 'SUPPRESS':
        this.metrics.inc('master/messages_suppress_offers');
        this.opts.allocator.suppress(fw.id);
        return;
      case 'KILL':
        this.metrics.inc('master/messages_kill_task');
        this.kill(fw, call.kill.taskId, call.kill.agentId, call.kill.killPolicy);
        return;
      case 'SHUTDOWN': {
        const agent = this.agents.get(call.shutdown.agentId);
        if (agent) this.sendAgent(agent, { type: 'SHUTDOWN_EXECUTOR', frameworkId: fw.id, executorId: call.shutdown.executorId });
        return;
      }
      case 'ACKNOWLEDGE':
        this.metrics.inc('master/messages_status_update_acknowledgement');
        this.acknowledge(fw, call.acknowledge.agentId, call.acknowledge.taskId, call.acknowledge.uuid);
        return;
      case 'RECONCILE':
        this.metrics.inc('master/messages_reconcile_tasks');
        this.reconcile(fw, call.reconcile.tasks);
        return;
      case 'MESSAGE': {
        this.metrics.inc('master/messages_framework_to_executor');
        const agent = this.agents.get(call.message.agentId);
        if (agent?.connected) {
          this.metrics.inc('master/valid_framework_to_executor_messages');
          this.sendAgent(agent, { type: 'FRAMEWORK_MESSAGE', frameworkId: fw.id, executorId: call.message.executorId, data: call.message.data });
        } else {
          this.metrics.inc('master/invalid_framework_to_executor_messages');
        }
        return;
      }
      case 'REQUEST':
        this.metrics.inc('master/messages_resource_request');
        return; // the built-in allocator ignores requests, as Mesos's does
      case 'ACCEPT_INVERSE_OFFERS':
      case 'DECLINE_INVERSE_OFFERS':
      case 'UNSUPPORTED':
        return;
    }
  }

  private frameworkInfoProblem(info: FrameworkInfo): string | undefined {
    if (info.id !== undefined) {
      const bad = idProblem(info.id);
      if (bad) return `Invalid framework ID '${info.id}': ${bad}`;
    }
    const roleBad = roleProblem(info.role);
    if (roleBad) return `Invalid role '${info.role}': ${roleBad}`;
    if (info.roles !== undefined && info.roles.length > 0) {
      return 'Multi-role frameworks (FrameworkInfo.roles, MULTI_ROLE) are not supported by this master';
    }
    if (this.opts.roles && info.role !== '*' && !this.opts.roles.includes(info.role)) {
      return `Role '${info.role}' is not present in the master's --roles`;
    }
    const userBad = userNameProblem(info.user);
    if (userBad) return `Invalid FrameworkInfo.user '${info.user}': ${userBad}`;
    if (!this.opts.rootSubmissions && info.user === 'root') return 'User \'root\' is not allowed to run frameworks without --root_submissions set';
    // A duration, as Mesos takes it: non-negative and at most 2^63-1 ns (about 292 years).
    if (!Number.isFinite(info.failoverTimeout) || info.failoverTimeout < 0 || !(info.failoverTimeout * 1000 < MAX_DURATION_MS)) {
      return `Invalid failover_timeout ${info.failoverTimeout}: expecting a duration in seconds from 0 to about 292 years`;
    }
    return undefined;
  }

  private scheduleHeartbeat(fw: Framework): void {
    fw.heartbeat?.cancel();
    fw.heartbeat = this.opts.clock.setTimer(HEARTBEAT_INTERVAL_MS, () => {
      if (!fw.connected || !fw.sink) return;
      fw.sink.send({ type: 'HEARTBEAT' });
      this.scheduleHeartbeat(fw);
    });
  }

  private send(fw: Framework, event: SchedulerEvent): void {
    if (fw.connected && fw.sink && !fw.sink.closed) fw.sink.send(event);
  }

  // -------------------------------------------------------------------------------------------
  // Offers

  private offer(allocations: Allocation[]): void {
    const byFramework = new Map<Framework, Offer[]>();
    for (const a of allocations) {
      const fw = this.frameworks.get(a.frameworkId);
      const agent = this.agents.get(a.agentId);
      if (!fw || !agent || !fw.connected || !agent.connected) {
        // Raced with a disconnection: give the resources straight back.
        this.opts.allocator.recoverResources(a.frameworkId, a.agentId, a.resources, this.now());
        continue;
      }
      const id = `${this.id}-O${this.offerSeq++}`;
      const record: OfferRecord = { id, frameworkId: fw.id, agentId: agent.id, resources: a.resources };
      this.offers.set(id, record);
      fw.offers.set(id, record);
      agent.offers.add(id);
      if (this.opts.offerTimeoutMs !== undefined) {
        record.timer = this.opts.clock.setTimer(this.opts.offerTimeoutMs, () => {
          if (this.offers.has(id)) this.removeOffer(record, { rescind: true });
        });
      }
      let list = byFramework.get(fw);
      if (!list) byFramework.set(fw, (list = []));
      list.push(this.offerMessage(record, fw, agent));
    }
    for (const [fw, offers] of byFramework) this.send(fw, { type: 'OFFERS', offers: { offers } });
  }

  offerMessage(record: OfferRecord, fw: Framework, agent: Agent): Offer {
    return {
      id: record.id,
      frameworkId: fw.id,
      agentId: agent.id,
      hostname: agent.info.hostname,
      url: { scheme: this.opts.urlScheme ?? 'http', address: { hostname: agent.info.hostname, ip: agent.ip, port: agent.port }, path: '/slave(1)' },
      resources: record.resources.toArray(),
      attributes: agent.info.attributes,
      executorIds: Array.from(fw.executors.get(agent.id)?.keys() ?? []),
    };
  }

  /** Withdraw an offer and give its resources back (with a RESCIND event when asked). */
  private removeOffer(offer: OfferRecord, how: { rescind: boolean; refuseMs?: number }): void {
    offer.timer?.cancel();
    this.offers.delete(offer.id);
    const fw = this.frameworks.get(offer.frameworkId);
    fw?.offers.delete(offer.id);
    this.agents.get(offer.agentId)?.offers.delete(offer.id);
    if (how.rescind && fw) this.send(fw, { type: 'RESCIND', rescind: { offerId: offer.id } });
    this.opts.allocator.recoverResources(offer.frameworkId, offer.agentId, offer.resources, this.now(), how.refuseMs ?? 0);
    this.loop.request();
  }

  /**
   * A call's Filters.refuse_seconds in ms, as Mesos reads it: absent → 5 s; negative, or not a
   * duration (NaN, infinite, over 2^63-1 ns) → 5 s with a warning; the allocator caps the rest
   * at 365 days.
   */
  private refuseMs(refuseSeconds: number | undefined): number {
    if (refuseSeconds === undefined) return DEFAULT_REFUSE_SECONDS * 1000;
    const ms = refuseSeconds * 1000;
    if (ms >= 0 && ms < MAX_DURATION_MS) return ms;
    this.log.warn({ refuseSeconds: String(refuseSeconds) }, `using the default refuse_seconds (${DEFAULT_REFUSE_SECONDS}) for the filter: the one given is ${refuseSeconds < 0 ? 'negative' : 'not a valid duration'}`);
    return DEFAULT_REFUSE_SECONDS * 1000;
  }

  private decline(fw: Framework, offerIds: readonly string[], refuseSeconds: number | undefined): void {
    const refuseMs = this.refuseMs(refuseSeconds);
    for (const id of offerIds) {
      const offer = fw.offers.get(id);
      if (offer) this.removeOffer(offer, { rescind: false, refuseMs });
    }
  }

  private accept(fw: Framework, offerIds: readonly string[], operations: readonly Operation[], refuseSeconds: number | undefined): void {
    const launches = operations.flatMap((op) => (op.type === 'LAUNCH' ? op.launch.taskInfos : []));
    const error = this.offersProblem(fw, offerIds);
    if (error) {
      for (const id of offerIds) {
        const offer = fw.offers.get(id);
        if (offer) this.removeOffer(offer, { rescind: false });
      }
      for (const task of launches) {
        this.metrics.inc('master/task_lost/source_master/reason_invalid_offers');
        this.send(fw, { type: 'UPDATE', update: { status: this.masterStatus(task.taskId, task.agentId, 'TASK_LOST', 'REASON_INVALID_OFFERS', `Task launched with invalid offers: ${error}`) } });
      }
      this.metrics.inc('master/tasks_lost', launches.length);
      return;
    }
    const offers = offerIds.map((id) => fw.offers.get(id)!);
    const agent = this.agents.get(offers[0]!.agentId)!;
    let pool = Resources.EMPTY;
    for (const offer of offers) {
      offer.timer?.cancel();
      this.offers.delete(offer.id);
      fw.offers.delete(offer.id);
      agent.offers.delete(offer.id);
      pool = pool.plus(offer.resources);
    }
    if (!agent.connected) {
      for (const task of launches) {
        this.send(fw, { type: 'UPDATE', update: { status: this.masterStatus(task.taskId, agent.id, 'TASK_LOST', 'REASON_AGENT_DISCONNECTED', 'Agent is disconnected') } });
      }
      this.opts.allocator.recoverResources(fw.id, agent.id, pool, this.now());
      this.loop.request();
      return;
    }
    const launchedHere = new Set<string>();
    let converted = Resources.EMPTY;
    for (const op of operations) {
      if (op.type === 'UNSUPPORTED') {
        this.log.warn({ frameworkId: fw.id, operation: op.name }, 'offer operation not supported; dropped');
        continue;
      }
      if (op.type !== 'LAUNCH') {
        const list = op.type === 'RESERVE' ? op.reserve.resources : op.type === 'UNRESERVE' ? op.unreserve.resources : op.type === 'CREATE' ? op.create.volumes : op.destroy.volumes;
        const conv = this.validateConversion(agent, op.type, list, { principal: fw.info.principal, roles: fw.info.roles ?? [fw.info.role] });
        const denied = typeof conv === 'string' ? undefined : this.conversionDenied(conv, fw.info.principal);
        if (typeof conv === 'string' || denied !== undefined || !pool.contains(conv.from)) {
          const why = typeof conv === 'string' ? conv : (denied ?? this.insufficient(conv));
          this.log.warn({ frameworkId: fw.id, agentId: agent.id, operation: op.type }, `offer operation dropped: ${why}`);
          continue;
        }
        pool = pool.minus(conv.from).plus(conv.to);
        converted = converted.plus(conv.to);
        this.opts.allocator.updateAllocation(fw.id, agent.id, conv.from, conv.to);
        this.applyConversion(agent, conv);
        continue;
      }
      for (const task of op.launch.taskInfos) {
        const user = task.command?.user ?? task.executor?.command?.user ?? fw.info.user;
        if (!this.authorize('run_tasks', fw.info.principal, user)) {
          this.taskError(fw, task, `Not authorized to run tasks as user '${user}'`, 'REASON_TASK_UNAUTHORIZED');
          continue;
        }
        // Each task is launched whole or answered with TASK_ERROR: a failure here (a task that
        // cannot be checked or sent to the agent) leaves no state behind and its resources in
        // the pool, and the call's other tasks go on.
        try {
          const valid = validateTask(task, {
            frameworkId: fw.id,
            agentId: agent.id,
            taskIdInUse: (id) => fw.tasks.has(id) || launchedHere.has(id),
            knownExecutor: (id) => fw.executors.get(agent.id)?.get(id)?.info,
            frameworkCheckpoints: fw.info.checkpoint,
            agentCheckpoints: agent.info.checkpoint ?? true,
          });
          if (typeof valid === 'string') {
            this.taskError(fw, task, valid);
            continue;
          }
          const need = valid.resources.plus(valid.executorResources);
          if (!pool.contains(need)) {
            this.taskError(fw, task, `Task uses more resources ${need.toString()} than available ${pool.toString()}`);
            continue;
          }
          this.launch(fw, agent, task, valid.resources, valid.executorResources);
          pool = pool.minus(need);
          launchedHere.add(task.taskId);
        } catch (e) {
          this.log.warn({ frameworkId: fw.id, agentId: agent.id, taskId: task.taskId, err: describeError(e) }, 'task cannot be launched; answered with TASK_ERROR');
          this.taskError(fw, task, `Task cannot be launched: ${describeError(e)}`);
        }
      }
    }
    // What was not used is declined with the call's filters; what an operation converted goes
    // back without one.
    const speculative = pool.filter((r) => converted.contains(r));
    const unused = pool.filter((r) => !converted.contains(r));
    if (!unused.isEmpty()) this.opts.allocator.recoverResources(fw.id, agent.id, unused, this.now(), this.refuseMs(refuseSeconds));
    if (!speculative.isEmpty()) this.opts.allocator.recoverResources(fw.id, agent.id, speculative, this.now());
    this.loop.request();
  }

  /** Validate a resource operation against the agent's checkpointed resources and use. */
  validateConversion(agent: Agent, type: ResourceOperationType, list: readonly ResourceInput[], who: { principal?: string; roles?: readonly string[] }): ResourceConversion | string {
    return validateResourceOperation(type, list, {
      ...(who.principal !== undefined ? { principal: who.principal } : {}),
      ...(who.roles !== undefined ? { roles: who.roles } : {}),
      checkpointed: agent.checkpointed,
      volumeInUse: (role, id) => {
        for (const used of this.usedOn(agent).values()) {
          for (const v of used.persistentVolumes()) if (v.role === role && v.disk!.persistence!.id === id) return true;
        }
        return false;
      },
    });
  }

  /**
   * May `principal` make this conversion (reserve_resources per role, unreserve_resources per
   * reservation principal, create_volumes per role, destroy_volumes per creator)? The reason
   * when not.
   */
  conversionDenied(conv: ResourceConversion, principal: string | undefined): string | undefined {
    const who = principal === undefined ? 'a request without a principal' : `principal '${principal}'`;
    switch (conv.type) {
      case 'RESERVE':
        for (const r of conv.to) if (!this.authorize('reserve_resources', principal, r.role)) return `Not authorized: ${who} may not reserve resources for role '${r.role}'`;
        return undefined;
      case 'UNRESERVE':
        for (const r of conv.from) {
          const p = r.reservation?.principal;
          if (!this.authorize('unreserve_resources', principal, p)) return `Not authorized: ${who} may not unreserve resources reserved by ${p === undefined ? 'no principal' : `'${p}'`}`;
        }
        return undefined;
      case 'CREATE':
        for (const r of conv.to) if (!this.authorize('create_volumes', principal, r.role)) return `Not authorized: ${who} may not create volumes for role '${r.role}'`;
        return undefined;
      case 'DESTROY':
        for (const r of conv.from) {
          const p = r.disk?.persistence?.principal;
          if (!this.authorize('destroy_volumes', principal, p)) return `Not authorized: ${who} may not destroy volumes created by ${p === undefined ? 'no principal' : `'${p}'`}`;
        }
        return undefined;
    }
  }

  /** May `subject` do `action` on `object` (the `--acls`; without them, anything)? */
  authorize(action: AclAction, subject: string | undefined, object: string | undefined): boolean {
    const ok = (this.opts.authorizer ?? Authorizer.ALLOW_ALL).authorize(action, subject, object);
    if (!ok) this.log.info({ action, principal: subject, object }, 'not authorized');
    return ok;
  }

  insufficient(conv: ResourceConversion): string {
    return conv.type === 'CREATE' ? `Insufficient disk resources: ${conv.from.toString()} are not available` : `Invalid ${conv.type} operation: ${conv.from.toString()} are not available`;
  }

  /**
   * Apply a valid conversion to the master's view of the agent (the allocator has been told),
   * then tell the agent and the registry the agent's full checkpointed set.
   */
  applyConversion(agent: Agent, conv: ResourceConversion): void {
    agent.total = agent.total.minus(conv.from).plus(conv.to);
    this.metrics.inc(`master/operations/${conv.type.toLowerCase()}`);
    this.log.info({ agentId: agent.id, operation: conv.type, from: conv.from.toString(), to: conv.to.toString() }, 'applied resource operation');
    this.checkpointAgent(agent);
  }

  private checkpointAgent(agent: Agent): void {
    const resources = agent.checkpointed.toArray();
    this.sendAgent(agent, { type: 'CHECKPOINT_RESOURCES', resources });
    // The registry records the change with the others made in the same turn: one write for a
    // burst of operations instead of one per operation (bench/volumes).
    this.registryDirty.add(agent);
    if (this.registryDirty.size === 1) queueMicrotask(() => this.flushRegistry());
  }

  private readonly registryDirty = new Set<Agent>();
  /** A failed write of checkpointed resources is tried again after this timer. */
  private registryRetry: TimerHandle | undefined;

  /** A registry write failed (a full disk): counted and logged; the operation it was for fails. */
  private registryFailed(e: unknown, what: string, fields: Record<string, unknown>): void {
    this.metrics.inc('master/registry_write_failures');
    this.log.error({ ...fields, err: describeError(e) }, what);
  }

  private flushRegistry(): void {
    const agents = Array.from(this.registryDirty).filter((a) => this.agents.get(a.id) === a);
    this.registryDirty.clear();
    if (agents.length === 0) return;
    const batch = agents.map((a) => ({ id: a.id, info: a.info, checkpointedResources: a.checkpointed.toArray(), ...(a.principal === undefined ? {} : { principal: a.principal }) }));
    this.opts.registry.updateAgents(batch).catch((e: unknown) => {
      this.registryFailed(e, "cannot record the agents' checkpointed resources in the registry; trying again in 1 s", { agents: batch.length });
      for (const a of agents) this.registryDirty.add(a);
      this.registryRetry ??= this.opts.clock.setTimer(REGISTRY_RETRY_MS, () => {
        this.registryRetry = undefined;
        this.flushRegistry();
      });
    });
  }

  /**
   * Operator RESERVE/UNRESERVE/CREATE/DESTROY (/master/reserve …): validate, rescind offers on
   * the agent until what the operation needs is free, then apply it.
   */
  operatorOperation(agentId: string, type: ResourceOperationType, list: readonly ResourceInput[], principal?: string): { status: 202 | 400 | 403 | 409; message: string } {
    const agent = this.agents.get(agentId);
    if (!agent) return { status: 400, message: `No agent found with specified ID` };
    const conv = this.validateConversion(agent, type, list, principal !== undefined ? { principal } : {});
    if (typeof conv === 'string') return { status: 400, message: conv };
    const denied = this.conversionDenied(conv, principal);
    if (denied !== undefined) return { status: 403, message: denied };
    if (!agent.total.contains(conv.from)) return { status: 409, message: this.insufficient(conv) };
    const alloc = this.opts.allocator;
    for (const offerId of Array.from(agent.offers)) {
      if (alloc.free(agent.id).contains(conv.from)) break;
      const offer = this.offers.get(offerId);
      if (offer) this.removeOffer(offer, { rescind: true, refuseMs: 5000 });
    }
    if (!alloc.free(agent.id).contains(conv.from)) return { status: 409, message: this.insufficient(conv) };
    alloc.updateAgent(agent.id, agent.total.minus(conv.from).plus(conv.to));
    this.applyConversion(agent, conv);
    this.loop.request();
    return { status: 202, message: '' };
  }

  private offersProblem(fw: Framework, offerIds: readonly string[]): string | undefined {
    if (offerIds.length === 0) return 'No offers specified';
    if (new Set(offerIds).size !== offerIds.length) return 'Duplicate offers found';
    let agentId: string | undefined;
    for (const id of offerIds) {
      const offer = this.offers.get(id);
      if (!offer) return `Offer ${id} is no longer valid`;
      if (offer.frameworkId !== fw.id) return `Offer ${id} has invalid framework ${offer.frameworkId} while framework ${fw.id} is expected`;
      if (agentId !== undefined && offer.agentId !== agentId) return 'Aggregated offers must belong to one single agent';
      agentId = offer.agentId;
      if (!this.agents.has(offer.agentId)) return `Offer ${id} is outstanding on an unknown agent`;
    }
    return undefined;
  }

  private taskError(fw: Framework, task: TaskInfo, message: string, reason: 'REASON_TASK_INVALID' | 'REASON_TASK_UNAUTHORIZED' = 'REASON_TASK_INVALID'): void {
    this.metrics.inc('master/tasks_error');
    this.metrics.inc(`master/task_error/source_master/${reason.toLowerCase()}`);
    this.send(fw, { type: 'UPDATE', update: { status: this.masterStatus(task.taskId, task.agentId, 'TASK_ERROR', reason, message) } });
  }

  /** Launch one task; when sending RUN_TASK throws, nothing of the task is kept. */
  private launch(fw: Framework, agent: Agent, info: TaskInfo, resources: Resources, executorResources: Resources): void {
    const executorId = info.executor?.executorId;
    const user = info.command?.user ?? info.executor?.command?.user ?? fw.info.user;
    const task = new Task(info, fw.id, agent.id, executorId, resources, user);
    task.statuses.push({ state: 'TASK_STAGING', timestamp: this.now() / 1000 });
    const outgoing: TaskInfo = { ...info, resources: resources.toArray() };
    this.sendAgent(agent, { type: 'RUN_TASK', frameworkId: fw.id, frameworkInfo: fw.info, task: outgoing });
    if (info.executor && !fw.executors.get(agent.id)?.has(info.executor.executorId)) {
      const ex: ExecutorRecord = { info: { ...info.executor, frameworkId: fw.id }, resources: executorResources };
      this.addExecutor(fw, agent, ex);
    }
    this.addTask(fw, agent, task);
  }

  private addExecutor(fw: Framework, agent: Agent, ex: ExecutorRecord): void {
    const id = ex.info.executorId;
    let byAgent = fw.executors.get(agent.id);
    if (!byAgent) fw.executors.set(agent.id, (byAgent = new Map()));
    byAgent.set(id, ex);
    let byFw = agent.executors.get(fw.id);
    if (!byFw) agent.executors.set(fw.id, (byFw = new Map()));
    byFw.set(id, ex);
  }

  private addTask(fw: Framework | undefined, agent: Agent, task: Task): void {
    fw?.tasks.set(task.id, task);
    let byFw = agent.tasks.get(task.frameworkId);
    if (!byFw) agent.tasks.set(task.frameworkId, (byFw = new Map()));
    byFw.set(task.id, task);
  }

  /** A status generated by the master (no uuid: it is not acknowledged). */
  private masterStatus(taskId: string, agentId: string | undefined, state: TaskState, reason: TaskReason, message: string): TaskStatus {
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

  // -------------------------------------------------------------------------------------------
  // Tasks

  private kill(fw: Framework, taskId: string, agentId: string | undefined, killPolicy: TaskInfo['killPolicy']): void {
    const task = fw.tasks.get(taskId);
    if (!task) {
      this.reconcile(fw, [{ taskId, ...(agentId === undefined ? {} : { agentId }) }]);
      return;
    }
    if (agentId !== undefined && agentId !== task.agentId) return;
    const agent = this.agents.get(task.agentId);
    if (!agent) return;
    if (agent.connected) {
      this.sendAgent(agent, { type: 'KILL_TASK', frameworkId: fw.id, taskId, ...(killPolicy ? { killPolicy } : {}) });
    } else {
      let set = agent.pendingKills.get(fw.id);
      if (!set) agent.pendingKills.set(fw.id, (set = new Set()));
      set.add(taskId);
    }
  }

  private acknowledge(fw: Framework, agentId: string, taskId: string, uuid: string): void {
    const agent = this.agents.get(agentId);
    if (!agent || !agent.connected) {
      this.metrics.inc('master/invalid_status_update_acknowledgements');
      return;
    }
    this.metrics.inc('master/valid_status_update_acknowledgements');
    this.sendAgent(agent, { type: 'ACKNOWLEDGE', frameworkId: fw.id, taskId, uuid });
    const task = agent.tasks.get(fw.id)?.get(taskId);
    if (task && isTerminal(task.state) && task.statusUpdateUuid === uuid && task.statusUpdateState !== undefined && isTerminal(task.statusUpdateState)) {
      this.removeTask(task);
    }
  }

  /** Explicit (tasks given) or implicit (none) reconciliation, as Mesos answers it. */
  private reconcile(fw: Framework, tasks: readonly { taskId: string; agentId?: string }[]): void {
    const answer = (status: TaskStatus) => this.send(fw, { type: 'UPDATE', update: { status } });
    const latest = (t: Task) =>
      ({
        ...this.masterStatus(t.id, t.agentId, t.statusUpdateState ?? t.state, 'REASON_RECONCILIATION', 'Reconciliation: Latest task state'),
        ...(t.executorId === undefined ? {} : { executorId: t.executorId }),
        ...(t.latest?.healthy === undefined ? {} : { healthy: t.latest.healthy }),
      }) satisfies TaskStatus;
    if (tasks.length === 0) {
      for (const t of fw.tasks.values()) answer(latest(t));
      return;
    }
    const pa = fw.capable('PARTITION_AWARE');
    for (const { taskId, agentId } of tasks) {
      const t = fw.tasks.get(taskId);
      if (t && (agentId === undefined || agentId === t.agentId)) {
        answer(latest(t));
        continue;
      }
      if (agentId !== undefined ? this.recoveredAgents.has(agentId) : this.recoveredAgents.size > 0) continue;
      const known = agentId !== undefined && this.agents.has(agentId);
      const state: TaskState = pa ? (known ? 'TASK_GONE' : 'TASK_UNKNOWN') : 'TASK_LOST';
      answer(this.masterStatus(taskId, agentId, state, 'REASON_RECONCILIATION', 'Reconciliation: Task is unknown'));
    }
  }

  /** Move a task out of the active set (terminal and acknowledged, or its framework gone). */
  private removeTask(task: Task): void {
    const agent = this.agents.get(task.agentId);
    const byFw = agent?.tasks.get(task.frameworkId);
    byFw?.delete(task.id);
    if (byFw?.size === 0) agent!.tasks.delete(task.frameworkId);
    const fw = this.frameworks.get(task.frameworkId);
    if (fw && fw.tasks.get(task.id) === task) {
      fw.tasks.delete(task.id);
      fw.completedTasks.push(task);
      if (fw.completedTasks.length > this.opts.maxCompletedTasksPerFramework) fw.completedTasks.shift();
    }
  }

  private applyStatus(task: Task, status: TaskStatus): void {
    const wasTerminal = isTerminal(task.state);
    if (!wasTerminal) {
      this.countTransition(task.state, status.state);
      task.state = status.state;
    }
    task.latest = status;
    if (status.uuid !== undefined) {
      task.statusUpdateState = status.state;
      task.statusUpdateUuid = status.uuid;
    }
    task.statuses.push({ state: status.state, timestamp: status.timestamp ?? this.now() / 1000, ...(status.healthy === undefined ? {} : { healthy: status.healthy }) });
    if (!wasTerminal && isTerminal(status.state)) {
      // The task's resources come back as soon as its terminal update reaches the master.
      this.opts.allocator.recoverResources(task.frameworkId, task.agentId, task.resources, this.now());
      this.loop.request();
    }
  }

  private countTransition(from: TaskState, to: TaskState): void {
    if (from === to) return;
    const gauge = (s: TaskState) => `master/tasks_${s.slice(5).toLowerCase()}`;
    if (!isTerminal(to)) return; // gauges for live states are computed from the task table
    this.metrics.inc(gauge(to));
  }

  // ===========================================================================================
  // Agents

  /** A new agent. Admitted to the registry before it is answered. */
  async registerAgent(msg: Extract<AgentToMaster, { type: 'REGISTER' }>, sink: Sink<MasterToAgent>, ip: string, principal?: string): Promise<{ agentId: string; streamId: string }> {
    this.metrics.inc('master/messages_register_slave');
    const info = this.checkAgentInfo(msg.agentInfo);
    const id = `${this.id}-S${this.agentSeq++}`;
    const withId: AgentInfo = { ...info, id };
    try {
      await this.opts.registry.admitAgent({ id, info: withId, checkpointedResources: checkpointedOf(Resources.of(withId.resources)).toArray(), ...(principal === undefined ? {} : { principal }) });
    } catch (e) {
      this.registryFailed(e, 'cannot admit the agent to the registry; it is refused and will retry', { hostname: info.hostname });
      throw e;
    }
    const agent = new Agent(id, withId, ip, this.now());
    agent.principal = principal;
    this.agents.set(id, agent);
    this.opts.allocator.addAgent(id, agent.total);
    const streamId = this.attachAgent(agent, sink);
    this.sendAgent(agent, { type: 'REGISTERED', agentId: id, masterId: this.id });
    this.metrics.inc('master/slave_registrations');
    this.log.info({ agentId: id, hostname: info.hostname, resources: agent.total.toString() }, 'agent registered');
    this.loop.request();
    return { agentId: id, streamId };
  }

  /** An agent that was registered before (with this master or one before it). */
  async reregisterAgent(msg: Extract<AgentToMaster, { type: 'REREGISTER' }>, sink: Sink<MasterToAgent>, ip: string, principal?: string): Promise<{ agentId: string; streamId: string } | undefined> {
    this.metrics.inc('master/messages_reregister_slave');
    const info = this.checkAgentInfo(msg.agentInfo);
    const id = msg.agentId;
    let agent = this.agents.get(id);
    const recovered = this.recoveredAgents.get(id);
    if (!agent && !recovered) {
      this.log.warn({ agentId: id }, 'unknown agent tried to re-register; telling it to shut down');
      sink.send({ type: 'SHUTDOWN', message: `Agent ${id} is not known to the master (it was removed); register as a new agent` });
      sink.close();
      return undefined;
    }
    // The master's checkpointed set (reservations, volumes) wins over the agent's report
    // (as in Mesos): the agent's total is rebuilt on its plain resources.
    const known = agent ? agent.checkpointed.toArray() : recovered?.checkpointedResources;
    const withId: AgentInfo = { ...info, id, resources: this.totalWithCheckpointed(id, info.resources, known) };
    const checkpointedResources = checkpointedOf(Resources.of(withId.resources)).toArray();
    // The principal that registered the agent stays in the registry; one written before the
    // principal was kept learns it from the first authenticated re-registration.
    const registeredAs = principal ?? this.knownAgentPrincipal(id);
    try {
      await this.opts.registry.updateAgent({ id, info: withId, checkpointedResources, ...(registeredAs === undefined ? {} : { principal: registeredAs }) });
    } catch (e) {
      this.registryFailed(e, 'cannot record the re-registered agent in the registry; it is refused and will retry', { agentId: id });
      throw e;
    }
    const now = this.now();
    if (!agent) {
      this.recoveredAgents.delete(id);
      agent = new Agent(id, withId, ip, recovered ? now : now);
      this.agents.set(id, agent);
      this.adoptReportedTasks(agent, msg.tasks, msg.executors);
      this.opts.allocator.addAgent(id, agent.total, this.usedOn(agent));
    } else {
      agent.info = withId;
      agent.ip = ip;
      const total = Resources.of(withId.resources).plus(agent.total.revocable());
      if (!agent.total.equals(total)) {
        agent.total = total;
        this.opts.allocator.updateAgent(id, agent.total);
      }
      this.reconcileKnownAgent(agent, msg.tasks);
      this.opts.allocator.activateAgent(id);
    }
    agent.reregisteredTime = now;
    agent.active = true;
    if (registeredAs !== undefined) agent.principal = registeredAs;
    const streamId = this.attachAgent(agent, sink);
    this.sendAgent(agent, { type: 'REREGISTERED', agentId: id, masterId: this.id });
    if (!agent.checkpointed.isEmpty() || !checkpointedOf(Resources.of(info.resources)).isEmpty()) {
      this.sendAgent(agent, { type: 'CHECKPOINT_RESOURCES', resources: agent.checkpointed.toArray() });
    }
    for (const [fwId, kills] of agent.pendingKills) {
      for (const taskId of kills) this.sendAgent(agent, { type: 'KILL_TASK', frameworkId: fwId, taskId });
    }
    agent.pendingKills.clear();
    // Frameworks the master no longer has are shut down on the agent.
    for (const fwId of new Set(msg.tasks.map((t) => t.frameworkId))) {
      if (this.removedFrameworks.has(fwId)) this.sendAgent(agent, { type: 'SHUTDOWN_FRAMEWORK', frameworkId: fwId });
    }
    this.metrics.inc('master/slave_reregistrations');
    this.log.info({ agentId: id, hostname: info.hostname, tasks: msg.tasks.length }, 'agent re-registered');
    this.loop.request();
    return { agentId: id, streamId };
  }

  /**
   * The agent's reported total with the master's checkpointed set in place of the agent's own,
   * when the master has one and it fits the agent's plain resources; else the report as is.
   */
  private totalWithCheckpointed(agentId: string, reported: readonly Resource[], known: readonly Resource[] | undefined): Resource[] {
    if (known === undefined) return [...reported];
    const rep = Resources.of(reported);
    const repCheckpointed = checkpointedOf(rep);
    const mine = Resources.of(known);
    if (repCheckpointed.equals(mine)) return [...reported];
    const plain = unapplyCheckpointed(rep.nonRevocable());
    const mineAsPlain = unapplyCheckpointed(mine);
    if (!plain.contains(mineAsPlain)) {
      this.log.warn({ agentId, master: mine.toString(), agent: repCheckpointed.toString() }, "the master's checkpointed resources do not fit the agent's; taking the agent's");
      return [...reported];
    }
    return plain.minus(mineAsPlain).plus(mine).toArray();
  }

  private checkAgentInfo(info: AgentInfo): AgentInfo {
    if (!info.hostname) throw new ValidationError('agent_info.hostname', 'is required');
    const resources = info.resources.map((r, i) => validateResource(r, `agent_info.resources[${i}]`));
    // The network isolator's pool of ephemeral ports is the agent's own: offered to no one.
    return { ...info, resources: resources.filter((r) => r.name !== 'ephemeral_ports') };
  }

  private attachAgent(agent: Agent, sink: Sink<MasterToAgent>): string {
    if (agent.sink && agent.sink !== sink) agent.sink.close();
    agent.sink = sink;
    agent.streamId = randomUUID();
    agent.connected = true;
    agent.missedPings = 0;
    agent.pongSincePing = true;
    this.schedulePing(agent);
    return agent.streamId;
  }

  /** The agent's stream went away: stop offering it; pings decide whether it is removed. */
  agentDisconnected(agentId: string, sink: Sink<MasterToAgent>): void {
    const agent = this.agents.get(agentId);
    if (!agent || agent.sink !== sink) return;
    agent.sink = undefined;
    agent.connected = false;
    agent.active = false;
    this.opts.allocator.deactivateAgent(agent.id);
    for (const id of Array.from(agent.offers)) {
      const offer = this.offers.get(id);
      if (offer) this.removeOffer(offer, { rescind: true });
    }
    this.log.warn({ agentId }, 'agent disconnected');
  }

  /**
   * Why `principal` may not re-register agent `agentId` (undefined: it may): an agent this master
   * knows to have registered as another principal. The principal is kept in the registry, so a
   * restarted master checks the agents it recovered as well; an agent recorded by an older
   * registry without it is bound to the principal of its first authenticated re-registration.
   */
  agentPrincipalRefusal(agentId: string, principal: string | undefined): string | undefined {
    const known = this.knownAgentPrincipal(agentId);
    if (known === undefined || known === principal) return undefined;
    if (principal === undefined) {
      // Requests carry a principal exactly when agents authenticate: this master was started
      // without agent authentication, so no principal can be checked (refusing would lock the
      // agent out for good). The recorded principal stays for when authentication is back.
      this.log.warn({ agentId, registeredAs: known }, 'agents do not authenticate: the principal that registered this agent is not checked');
      return undefined;
    }
    this.log.warn({ agentId, principal, registeredAs: known }, 'agent re-registration refused: another principal registered this agent');
    return `Not authorized: agent ${agentId} was registered by another principal; principal '${principal}' may not re-register it`;
  }

  /** The principal agent `agentId` registered as, for a live agent or one recovered from the registry. */
  private knownAgentPrincipal(agentId: string): string | undefined {
    return this.agents.get(agentId)?.principal ?? this.recoveredAgents.get(agentId)?.principal;
  }

  /** Check an agent call's stream id. */
  checkAgentCall(agentId: string, streamId: string | undefined): CallCheck {
    const agent = this.agents.get(agentId);
    if (!agent) return { ok: false, status: 400, message: `Agent ${agentId} is not registered` };
    if (!agent.connected || streamId !== agent.streamId) return { ok: false, status: 403, message: 'Agent stream id does not match its current connection' };
    return { ok: true };
  }

  /** A call from a connected agent (after checkAgentCall). */
  agentCall(agentId: string, msg: AgentToMaster): void {
    const agent = this.agents.get(agentId);
    if (!agent) return;
    switch (msg.type) {
      case 'PONG':
        agent.pongSincePing = true;
        agent.missedPings = 0;
        return;
      case 'STATUS_UPDATE':
        this.statusUpdate(agent, msg.frameworkId, msg.status);
        return;
      case 'EXECUTOR_EXITED':
        this.metrics.inc('master/messages_exited_executor');
        this.executorExited(agent, msg.frameworkId, msg.executorId, msg.status);
        return;
      case 'EXECUTOR_MESSAGE': {
        this.metrics.inc('master/messages_executor_to_framework');
        const fw = this.frameworks.get(msg.frameworkId);
        if (fw?.connected) {
          this.metrics.inc('master/valid_executor_to_framework_messages');
          this.send(fw, { type: 'MESSAGE', message: { agentId: agent.id, executorId: msg.executorId, data: msg.data } });
        } else {
          this.metrics.inc('master/invalid_executor_to_framework_messages');
        }
        return;
      }
      case 'UPDATE_OVERSUBSCRIBED':
        this.metrics.inc('master/messages_update_slave');
        // As in Mesos: first rescind every outstanding offer from this agent that holds revocable
        // resources (they go back to the allocator), then replace the revocable part of the
        // total. The agent's figure includes the revocable resources its executors hold, so
        // tasks already running on revocable resources stay accounted for.
        for (const id of Array.from(agent.offers)) {
          const offer = this.offers.get(id);
          if (offer && !offer.resources.revocable().isEmpty()) this.removeOffer(offer, { rescind: true });
        }
        agent.total = agent.total.nonRevocable().plus(Resources.of(msg.oversubscribed.map((r) => ({ ...r, revocable: true }))));
        this.opts.allocator.updateAgent(agent.id, agent.total);
        this.loop.request();
        return;
      case 'REGISTER':
      case 'REREGISTER':
        return; // these arrive on the stream request, not as calls
    }
  }

  private statusUpdate(agent: Agent, frameworkId: string, status: TaskStatus): void {
    this.metrics.inc('master/messages_status_update');
    const fw = this.frameworks.get(frameworkId);
    const task = agent.tasks.get(frameworkId)?.get(status.taskId);
    if (task) {
      this.applyStatus(task, status);
      this.metrics.inc('master/valid_status_updates');
    } else {
      this.metrics.inc('master/invalid_status_updates');
    }
    if (fw) this.send(fw, { type: 'UPDATE', update: { status: { ...status, agentId: agent.id } } });
  }

  private executorExited(agent: Agent, frameworkId: string, executorId: string, status: number): void {
    const ex = agent.executors.get(frameworkId)?.get(executorId);
    if (!ex) return;
    agent.executors.get(frameworkId)!.delete(executorId);
    const fw = this.frameworks.get(frameworkId);
    fw?.executors.get(agent.id)?.delete(executorId);
    if (!ex.resources.isEmpty()) {
      this.opts.allocator.recoverResources(frameworkId, agent.id, ex.resources, this.now());
      this.loop.request();
    }
    if (fw) this.send(fw, { type: 'FAILURE', failure: { agentId: agent.id, executorId, status } });
  }

  private schedulePing(agent: Agent): void {
    agent.pingTimer?.cancel();
    agent.pingTimer = this.opts.clock.setTimer(this.opts.agentPingTimeoutMs, () => {
      if (!this.agents.has(agent.id)) return;
      if (!agent.pongSincePing) agent.missedPings++;
      if (agent.missedPings >= this.opts.maxAgentPingTimeouts) {
        this.metrics.inc('master/slave_removals/reason_unhealthy');
        void this.removeAgent(agent, `health check timed out after ${agent.missedPings} missed pings`);
        return;
      }
      agent.pongSincePing = false;
      if (agent.connected) this.sendAgent(agent, { type: 'PING' });
      this.schedulePing(agent);
    });
  }

  private sendAgent(agent: Agent, msg: MasterToAgent): void {
    if (agent.sink && !agent.sink.closed) agent.sink.send(msg);
    else this.metrics.inc('master/dropped_messages');
  }

  /** Remove an agent: its tasks are lost, its frameworks told, its registry entry dropped. */
  async removeAgent(agent: Agent, why: string): Promise<void> {
    if (!this.agents.has(agent.id)) return;
    this.log.warn({ agentId: agent.id, why }, 'removing agent');
    this.metrics.inc('master/slave_removals');
    agent.pingTimer?.cancel();
    for (const id of Array.from(agent.offers)) {
      const offer = this.offers.get(id);
      if (offer) this.removeOffer(offer, { rescind: true });
    }
    for (const [fwId, tasks] of agent.tasks) {
      const fw = this.frameworks.get(fwId);
      for (const task of Array.from(tasks.values())) {
        if (!isTerminal(task.state)) {
          const state: TaskState = fw?.capable('PARTITION_AWARE') ? 'TASK_GONE' : 'TASK_LOST';
          const status = this.masterStatus(task.id, agent.id, state, 'REASON_AGENT_REMOVED', `Agent ${agent.info.hostname} removed: ${why}`);
          this.countTransition(task.state, state);
          task.state = state;
          task.statuses.push({ state, timestamp: this.now() / 1000 });
          this.metrics.inc(`master/task_lost/source_master/reason_slave_removed`);
          if (fw) this.send(fw, { type: 'UPDATE', update: { status } });
        }
        this.removeTask(task);
      }
    }
    for (const fwId of agent.executors.keys()) this.frameworks.get(fwId)?.executors.delete(agent.id);
    for (const fw of this.frameworks.values()) this.send(fw, { type: 'FAILURE', failure: { agentId: agent.id } });
    this.agents.delete(agent.id);
    this.opts.allocator.removeAgent(agent.id);
    if (agent.sink && !agent.sink.closed) {
      agent.sink.send({ type: 'SHUTDOWN', message: `Removed by the master: ${why}` });
      agent.sink.close();
    }
    try {
      await this.opts.registry.removeAgent(agent.id);
    } catch (e) {
      this.registryFailed(e, 'could not remove the agent from the registry', { agentId: agent.id });
    }
  }

  private expireRecoveredAgents(): void {
    this.reregisterTimer = undefined;
    for (const [id] of this.recoveredAgents) {
      this.log.warn({ agentId: id }, 'recovered agent did not re-register in time; removing it from the registry');
      this.metrics.inc('master/recovery_slave_removals');
      void this.opts.registry.removeAgent(id).catch((e: unknown) => this.registryFailed(e, 'registry removal failed', { agentId: id }));
    }
    this.recoveredAgents.clear();
  }

  /** After a master failover: rebuild the tasks an agent reports. */
  private adoptReportedTasks(agent: Agent, tasks: readonly AgentTask[], executors: readonly { frameworkId: string; executorInfo: ExecutorInfo }[]): void {
    for (const e of executors) {
      const res = Resources.of(e.executorInfo.resources.map((r, i) => validateResource(r, `executors.resources[${i}]`)));
      const fw = this.frameworks.get(e.frameworkId);
      const rec: ExecutorRecord = { info: e.executorInfo, resources: res };
      if (fw) this.addExecutor(fw, agent, rec);
      else {
        let byFw = agent.executors.get(e.frameworkId);
        if (!byFw) agent.executors.set(e.frameworkId, (byFw = new Map()));
        byFw.set(e.executorInfo.executorId, rec);
      }
    }
    for (const t of tasks) {
      if (isTerminal(t.state) && t.latestStatus?.uuid === undefined) continue;
      const res = Resources.of(t.task.resources.map((r, i) => validateResource(r, `tasks.resources[${i}]`)));
      const fw = this.frameworks.get(t.frameworkId);
      const task = new Task(t.task, t.frameworkId, agent.id, t.executorId, res, t.task.command?.user ?? fw?.info.user);
      task.state = t.state;
      if (t.latestStatus) {
        task.latest = t.latestStatus;
        task.statusUpdateState = t.latestStatus.state;
        task.statusUpdateUuid = t.latestStatus.uuid;
      }
      task.statuses.push({ state: t.state, timestamp: this.now() / 1000 });
      this.addTask(fw, agent, task);
    }
  }

  /** Resources in use on an agent by live tasks and executors, per framework. */
  private usedOn(agent: Agent): Map<string, Resources> {
    const used = new Map<string, Resources>();
    const add = (fwId: string, r: Resources) => used.set(fwId, (used.get(fwId) ?? Resources.EMPTY).plus(r));
    for (const [fwId, tasks] of agent.tasks) for (const t of tasks.values()) if (!isTerminal(t.state)) add(fwId, t.resources);
    for (const [fwId, exs] of agent.executors) for (const e of exs.values()) add(fwId, e.resources);
    return used;
  }

  /** A re-subscribing framework unknown to this master takes over the tasks agents reported. */
  private adoptOrphanTasks(fw: Framework): void {
    for (const agent of this.agents.values()) {
      for (const task of agent.tasks.get(fw.id)?.values() ?? []) fw.tasks.set(task.id, task);
      for (const [id, ex] of agent.executors.get(fw.id) ?? []) {
        let byAgent = fw.executors.get(agent.id);
        if (!byAgent) fw.executors.set(agent.id, (byAgent = new Map()));
        byAgent.set(id, ex);
      }
    }
  }

  /** A known agent came back: tasks it no longer has are lost; tasks it has are kept. */
  private reconcileKnownAgent(agent: Agent, reported: readonly AgentTask[]): void {
    const have = new Set(reported.map((t) => `${t.frameworkId}\u0000${t.task.taskId}`));
    for (const [fwId, tasks] of agent.tasks) {
      const fw = this.frameworks.get(fwId);
      for (const task of Array.from(tasks.values())) {
        if (have.has(`${fwId}\u0000${task.id}`) || isTerminal(task.state)) continue;
        const status = this.masterStatus(task.id, agent.id, 'TASK_LOST', 'REASON_AGENT_RESTARTED', 'Task is unknown to the agent');
        this.applyStatus(task, status);
        if (fw) this.send(fw, { type: 'UPDATE', update: { status } });
        this.removeTask(task);
      }
    }
  }

  // ===========================================================================================
  // Frameworks leaving

  /** Remove a framework (teardown or failover timeout): its tasks are killed everywhere. */
  removeFramework(fw: Framework, why: string): void {
    this.log.info({ frameworkId: fw.id, why }, 'removing framework');
    fw.heartbeat?.cancel();
    fw.failover?.cancel();
    for (const offer of Array.from(fw.offers.values())) {
      offer.timer?.cancel();
      this.offers.delete(offer.id);
      this.agents.get(offer.agentId)?.offers.delete(offer.id);
    }
    fw.offers.clear();
    const agentsWithWork = new Set<string>([...fw.executors.keys()]);
    for (const task of Array.from(fw.tasks.values())) {
      agentsWithWork.add(task.agentId);
      if (!isTerminal(task.state)) {
        this.countTransition(task.state, 'TASK_KILLED');
        task.state = 'TASK_KILLED';
        task.statuses.push({ state: 'TASK_KILLED', timestamp: this.now() / 1000 });
      }
      this.removeTask(task);
    }
    for (const agentId of agentsWithWork) {
      const agent = this.agents.get(agentId);
      if (!agent) continue;
      this.sendAgent(agent, { type: 'SHUTDOWN_FRAMEWORK', frameworkId: fw.id });
      agent.executors.delete(fw.id);
      agent.tasks.delete(fw.id);
    }
    fw.executors.clear();
    this.opts.allocator.removeFramework(fw.id);
    this.frameworks.delete(fw.id);
    this.removedFrameworks.add(fw.id);
    fw.connected = false;
    fw.active = false;
    fw.unregisteredTime = this.now();
    this.completedFrameworks.push(fw);
    if (this.completedFrameworks.length > this.opts.maxCompletedFrameworks) this.completedFrameworks.shift();
    if (fw.sink && !fw.sink.closed) fw.sink.close();
    fw.sink = undefined;
    this.loop.request();
  }

  /** Operator teardown (`/master/teardown`). */
  teardown(frameworkId: string): boolean {
    const fw = this.frameworks.get(frameworkId);
    if (!fw) return false;
    this.removeFramework(fw, 'operator teardown');
    return true;
  }

  /** Run an allocation now (tests, and the operator after a change). */
  allocateNow(): void {
    this.loop.runNow();
  }
}
