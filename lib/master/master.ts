/**
 * The master: the facade the http/ handlers, the daemon and the tests call. It knows nothing of
 * HTTP: the http/ handlers decode calls and hand them here, and events leave through sinks (a
 * framework's subscription stream, an agent's stream). Time comes from the injected clock.
 *
 * The work is done by its parts, which share one MasterState (state.ts): frameworks.ts
 * (framework lifecycle), agents.ts (agent lifecycle and health), offers.ts, operations.ts
 * (reservations and volumes), launch.ts (ACCEPT), tasks.ts (task bookkeeping, KILL,
 * ACKNOWLEDGE) and reconcile.ts. The operator endpoints read it through `view` (state_view.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '../common/clock.ts';
import type { Metrics } from '../common/metrics.ts';
import type { ResourceInput } from '../common/resources/index.ts';
import type { Sink } from '../common/sink.ts';
import type { AgentToMaster, MasterToAgent } from '../proto/internal.ts';
import type { MasterInfo, SchedulerCall, SchedulerEvent } from '../proto/messages.ts';
import { AgentLifecycle } from './agents.ts';
import type { HierarchicalAllocator } from './allocator/index.ts';
import { type AclAction, Authorizer } from './authorization.ts';
import { MasterRefusal } from './errors.ts';
import type { MasterObserver } from './events.ts';
import { checkRole } from '../common/ids.ts';
import { ValidationError } from '../common/errors.ts';
import { FrameworkLifecycle } from './frameworks.ts';
import { Launcher } from './launch.ts';
import { Offers } from './offers.ts';
import { ResourceOperations } from './operations.ts';
import { Reconciler } from './reconcile.ts';
import type { AgentRecord, Framework, OfferRecord } from './records.ts';
import type { RegistryAgent } from './registry/index.ts';
import { type MasterOptions, MasterState } from './state.ts';
import { type MasterView, masterView } from './state_view.ts';
import { TaskBook } from './tasks.ts';
import type { ResourceOperationType } from './validation.ts';

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
  /** The read-only view the operator endpoints read. */
  readonly view: MasterView;
  private readonly s: MasterState;
  private readonly offerBook: Offers;
  private readonly taskBook: TaskBook;
  private readonly resourceOps: ResourceOperations;
  private readonly launcher: Launcher;
  private readonly reconciler: Reconciler;
  private readonly frameworkLife: FrameworkLifecycle;
  private readonly agentLife: AgentLifecycle;
  private recovered = false;
  private markRecovered!: () => void;
  /** Resolves once the registry is recovered (start() is done); never when it is not. */
  readonly whenRecovered: Promise<void> = new Promise((resolve) => (this.markRecovered = resolve));
  private reregisterTimer: TimerHandle | undefined;

  constructor(private readonly opts: MasterOptions) {
    this.id = opts.id ?? randomUUID();
    this.startTime = opts.clock.now();
    this.info = {
      id: this.id,
      ip: ipToUint32(opts.ip),
      port: opts.port,
      pid: `master@${opts.ip}:${opts.port}`,
      hostname: opts.hostname,
      version: opts.version,
      address: { hostname: opts.hostname, ip: opts.ip, port: opts.port },
    };
    this.s = new MasterState(this.id, opts, this.info, (a) => this.offerBook.offer(a));
    this.offerBook = new Offers(this.s);
    this.taskBook = new TaskBook(this.s);
    this.resourceOps = new ResourceOperations(this.s, this.offerBook);
    this.launcher = new Launcher(this.s, this.offerBook, this.resourceOps, this.taskBook);
    this.reconciler = new Reconciler(this.s, this.taskBook);
    this.frameworkLife = new FrameworkLifecycle(this.s, this.offerBook, this.taskBook);
    this.agentLife = new AgentLifecycle(this.s, this.offerBook, this.taskBook, this.reconciler);
    this.view = masterView(this.s, { startTime: this.startTime, electedTime: () => this.electedTime });
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

  get metrics(): Metrics {
    return this.s.metrics;
  }

  get frameworks(): ReadonlyMap<string, Framework> {
    return this.s.frameworks;
  }

  get completedFrameworks(): readonly Framework[] {
    return this.s.completedFrameworks;
  }

  get agents(): ReadonlyMap<string, AgentRecord> {
    return this.s.agents;
  }

  get offers(): ReadonlyMap<string, OfferRecord> {
    return this.s.offers;
  }

  /** Agents from the registry that have not re-registered since this master started. */
  get recoveredAgents(): ReadonlyMap<string, RegistryAgent> {
    return this.s.recoveredAgents;
  }

  /** Lead: recover the registry and start allocating (a master among several: once elected). */
  async start(): Promise<void> {
    // Elected from here (master/elected is 1), serving once the registry is recovered.
    this.electedTime = this.opts.clock.now();
    const state = await this.opts.registry.recover();
    for (const a of state.agents) this.s.recoveredAgents.set(a.id, a);
    // Weights set through the operator API outlive the master (they win over --weights).
    for (const [role, weight] of Object.entries(state.weights ?? {})) this.setWeight(role, weight);
    this.recovered = true;
    this.markRecovered();
    if (this.s.recoveredAgents.size > 0) {
      this.s.log.info({ agents: this.s.recoveredAgents.size }, 'recovered agents from the registry; waiting for them to re-register');
      this.reregisterTimer = this.opts.clock.setTimer(this.opts.agentReregisterTimeoutMs, () => {
        this.reregisterTimer = undefined;
        this.agentLife.expireRecoveredAgents();
      });
    }
    this.s.loop.start();
  }

  stop(): void {
    this.s.loop.stop();
    this.reregisterTimer?.cancel();
    this.resourceOps.stop();
    for (const fw of this.s.frameworks.values()) {
      fw.heartbeat?.cancel();
      fw.failover?.cancel();
      fw.sink?.close();
    }
    for (const agent of this.s.agents.values()) {
      agent.pingTimer?.cancel();
      agent.sink?.close();
    }
    for (const o of this.s.offers.values()) o.timer?.cancel();
  }

  get isRecovered(): boolean {
    return this.recovered;
  }

  /**
   * May this master act as the leader now (MasterOptions.mayAct)? False once its leadership is
   * in doubt: it then sends nothing to frameworks or agents, and its http/ handlers accept no call.
   */
  mayAct(): boolean {
    return this.s.mayAct();
  }

  // ===========================================================================================
  // Scheduler API

  /**
   * SUBSCRIBE. The caller has checked the HTTP-level rules; FrameworkInfo problems are answered
   * on the stream with an ERROR event, which then closes.
   */
  subscribe(call: Extract<SchedulerCall, { type: 'SUBSCRIBE' }>, sink: Sink<SchedulerEvent>): { streamId: string; frameworkId: string } | undefined {
    return this.frameworkLife.subscribe(call, this.s.guard(sink));
  }

  /** The subscription stream of a framework went away. */
  disconnected(frameworkId: string, sink: Sink<SchedulerEvent>): void {
    this.frameworkLife.disconnected(frameworkId, this.s.guard(sink));
  }

  /** Check the framework id and stream id of a non-SUBSCRIBE call: a MasterRefusal when the call may not go on. */
  checkCall(frameworkId: string, streamId: string | undefined): void {
    this.frameworkLife.checkCall(frameworkId, streamId);
  }

  /** Every call but SUBSCRIBE, after checkCall passed. */
  handle(call: Exclude<SchedulerCall, { type: 'SUBSCRIBE' }>): void {
    const fw = call.frameworkId === undefined ? undefined : this.s.frameworks.get(call.frameworkId);
    if (!fw) return;
    switch (call.type) {
      case 'TEARDOWN':
        this.s.metrics.inc('master/messages_unregister_framework');
        this.frameworkLife.removeFramework(fw, 'teardown');
        return;
      case 'ACCEPT':
        this.s.metrics.inc('master/messages_launch_tasks');
        this.launcher.accept(fw, call.accept.offerIds, call.accept.operations, call.accept.filters?.refuseSeconds);
        return;
      case 'DECLINE':
        this.s.metrics.inc('master/messages_decline_offers');
        this.offerBook.decline(fw, call.decline.offerIds, call.decline.filters?.refuseSeconds);
        return;
      case 'REVIVE':
        this.s.metrics.inc('master/messages_revive_offers');
        this.s.opts.allocator.revive(fw.id);
        this.s.loop.request('all');
        return;
      case 'SUPPRESS':
        this.s.metrics.inc('master/messages_suppress_offers');
        this.s.opts.allocator.suppress(fw.id);
        return;
      case 'KILL':
        this.s.metrics.inc('master/messages_kill_task');
        if (!this.taskBook.kill(fw, call.kill.taskId, call.kill.agentId, call.kill.killPolicy)) {
          // An unknown task is answered as reconciliation answers it.
          const agentId = call.kill.agentId;
          this.reconciler.reconcile(fw, [{ taskId: call.kill.taskId, ...(agentId === undefined ? {} : { agentId }) }]);
        }
        return;
      case 'SHUTDOWN': {
        const agent = this.s.agents.get(call.shutdown.agentId);
        if (agent) this.s.sendAgent(agent, { type: 'SHUTDOWN_EXECUTOR', frameworkId: fw.id, executorId: call.shutdown.executorId });
        return;
      }
      case 'ACKNOWLEDGE':
        this.s.metrics.inc('master/messages_status_update_acknowledgement');
        this.taskBook.acknowledge(fw, call.acknowledge.agentId, call.acknowledge.taskId, call.acknowledge.uuid);
        return;
      case 'RECONCILE':
        this.s.metrics.inc('master/messages_reconcile_tasks');
        this.reconciler.reconcile(fw, call.reconcile.tasks);
        return;
      case 'MESSAGE': {
        this.s.metrics.inc('master/messages_framework_to_executor');
        const agent = this.s.agents.get(call.message.agentId);
        if (agent?.connected) {
          this.s.metrics.inc('master/valid_framework_to_executor_messages');
          this.s.sendAgent(agent, { type: 'FRAMEWORK_MESSAGE', frameworkId: fw.id, executorId: call.message.executorId, data: call.message.data });
        } else {
          this.s.metrics.inc('master/invalid_framework_to_executor_messages');
        }
        return;
      }
      case 'REQUEST':
        this.s.metrics.inc('master/messages_resource_request');
        return; // the built-in allocator ignores requests, as Mesos's does
      case 'ACCEPT_INVERSE_OFFERS':
      case 'DECLINE_INVERSE_OFFERS':
      case 'UNSUPPORTED':
        return;
    }
  }

  /** Operator teardown (`/master/teardown`): a MasterRefusal says why it is not done. */
  teardown(frameworkId: string, principal?: string): void {
    this.frameworkLife.teardown(frameworkId, principal);
  }

  /** May `subject` do `action` on `object` (the `--acls`; without them, anything)? */
  authorize(action: AclAction, subject: string | undefined, object: string | undefined): boolean {
    return this.s.authorize(action, subject, object);
  }

  /**
   * May `subject` see or do `action` on `object`? As authorize, without a log line: the operator
   * API asks it for every object it filters.
   */
  permits(action: AclAction, subject: string | undefined, object: string | undefined): boolean {
    return (this.opts.authorizer ?? Authorizer.ALLOW_ALL).authorize(action, subject, object);
  }

  /** Watch what happens, for the operator event stream (events.ts); the result stops watching. */
  observe(observer: MasterObserver): () => void {
    this.s.observers.add(observer);
    return () => this.s.observers.delete(observer);
  }

  /**
   * UPDATE_WEIGHTS by `principal`: each role checked and authorized (update_weights), then the
   * whole set written to the registry, and only then used by the allocator. A MasterRefusal says
   * why nothing changed (a failed registry write is thrown as it is).
   */
  async updateWeights(weights: readonly { readonly role: string; readonly weight: number }[], principal: string | undefined): Promise<void> {
    weights.forEach(({ role, weight }, i) => {
      try {
        checkRole(role, `update_weights.weight_infos[${i}].role`);
      } catch (e) {
        if (e instanceof ValidationError) throw new MasterRefusal('INVALID', `Invalid role '${role}' in update_weights.weight_infos[${i}].role: ${e.reason}`);
        throw e;
      }
      if (role === '*') throw new MasterRefusal('INVALID', `update_weights.weight_infos[${i}].role: the weight of role '*' cannot be set`);
      if (!(weight > 0) || !Number.isFinite(weight))
        throw new MasterRefusal('INVALID', `update_weights.weight_infos[${i}].weight: must be a positive number (got ${weight})`);
    });
    for (const { role } of weights) {
      if (!this.authorize('update_weights', principal, role)) {
        throw new MasterRefusal(
          'FORBIDDEN',
          `Not authorized: ${principal === undefined ? 'a request without a principal' : `principal '${principal}'`} may not update the weight of role '${role}'`,
        );
      }
    }
    const next = Object.fromEntries(this.s.weights);
    for (const { role, weight } of weights) next[role] = weight;
    try {
      await this.opts.registry.updateWeights(next);
    } catch (e) {
      this.s.registryFailed(e, 'cannot write the weights to the registry; they are not changed', { roles: weights.map((w) => w.role) });
      throw e;
    }
    for (const { role, weight } of weights) this.setWeight(role, weight);
    this.s.log.info({ weights: Object.fromEntries(weights.map((w) => [w.role, w.weight])), principal }, 'role weights updated');
    this.s.loop.request('all');
  }

  private setWeight(role: string, weight: number): void {
    this.s.weights.set(role, weight);
    this.opts.allocator.setWeight(role, weight);
  }

  /**
   * MARK_AGENT_GONE: the agent is removed for good (its tasks gone, its registry entry dropped;
   * it is told to shut down if it comes back). `false` when no agent with that id is known.
   */
  async markAgentGone(agentId: string, principal: string | undefined): Promise<boolean> {
    if (!this.authorize('mark_agents_gone', principal, agentId)) {
      throw new MasterRefusal(
        'FORBIDDEN',
        `Not authorized: ${principal === undefined ? 'a request without a principal' : `principal '${principal}'`} may not mark agents gone`,
      );
    }
    const agent = this.s.agents.get(agentId);
    if (agent) {
      await this.agentLife.removeAgent(agent, 'marked gone by the operator', true);
      return true;
    }
    if (this.s.recoveredAgents.delete(agentId)) {
      this.s.log.warn({ agentId }, 'recovered agent marked gone by the operator; removing it from the registry');
      await this.opts.registry.removeAgent(agentId);
      return true;
    }
    return false;
  }

  /** Operator RESERVE/UNRESERVE/CREATE/DESTROY (/master/reserve …): a MasterRefusal says why it is not applied. */
  operatorOperation(agentId: string, type: ResourceOperationType, list: readonly ResourceInput[], principal?: string): void {
    this.resourceOps.operatorOperation(agentId, type, list, principal);
  }

  // ===========================================================================================
  // Agents

  /** A new agent. Admitted to the registry before it is answered. */
  registerAgent(
    msg: Extract<AgentToMaster, { type: 'REGISTER' }>,
    sink: Sink<MasterToAgent>,
    ip: string,
    principal?: string,
  ): Promise<{ agentId: string; streamId: string }> {
    return this.agentLife.registerAgent(msg, this.s.guard(sink), ip, principal);
  }

  /** An agent that was registered before (with this master or one before it). */
  reregisterAgent(
    msg: Extract<AgentToMaster, { type: 'REREGISTER' }>,
    sink: Sink<MasterToAgent>,
    ip: string,
    principal?: string,
  ): Promise<{ agentId: string; streamId: string } | undefined> {
    return this.agentLife.reregisterAgent(msg, this.s.guard(sink), ip, principal);
  }

  /** The agent's stream went away: stop offering it; pings decide whether it is removed. */
  agentDisconnected(agentId: string, sink: Sink<MasterToAgent>): void {
    this.agentLife.agentDisconnected(agentId, this.s.guard(sink));
  }

  /** A MasterRefusal (FORBIDDEN) when `principal` may not re-register agent `agentId`. */
  checkAgentPrincipal(agentId: string, principal: string | undefined): void {
    this.agentLife.checkAgentPrincipal(agentId, principal);
  }

  /** Check an agent call's stream id: a MasterRefusal when the call may not go on. */
  checkAgentCall(agentId: string, streamId: string | undefined): void {
    this.agentLife.checkAgentCall(agentId, streamId);
  }

  /** A call from a connected agent (after checkAgentCall). */
  agentCall(agentId: string, msg: AgentToMaster): void {
    this.agentLife.agentCall(agentId, msg);
  }

  /** Remove an agent: its tasks are lost, its frameworks told, its registry entry dropped. */
  removeAgent(agent: AgentRecord, why: string): Promise<void> {
    return this.agentLife.removeAgent(agent, why);
  }

  /** Remove a framework (teardown or failover timeout): its tasks are killed everywhere. */
  removeFramework(fw: Framework, why: string): void {
    this.frameworkLife.removeFramework(fw, why);
  }

  /** Run an allocation now (tests, and the operator after a change). */
  allocateNow(): void {
    this.s.loop.runNow();
  }
}
