/**
 * Framework lifecycle: SUBSCRIBE (new, re-subscription, failover), the stream going away and
 * the failover timeout, the checks on every other call, heartbeats, and removal (TEARDOWN, the
 * operator's teardown, a failover timeout).
 */
import { randomUUID } from 'node:crypto';
import { MAX_DURATION_MS } from '../common/flags.ts';
import { checkId, checkRole } from '../common/ids.ts';
import type { Sink } from '../common/sink.ts';
import { type FrameworkInfo, type SchedulerCall, type SchedulerEvent, isTerminal } from '../proto/messages.ts';
import { MasterRefusal, refusedAs } from './errors.ts';
import type { Offers } from './offers.ts';
import { Framework } from './records.ts';
import type { MasterState } from './state.ts';
import type { TaskBook } from './tasks.ts';
import { checkUserName } from './validation.ts';

export const HEARTBEAT_INTERVAL_MS = 15_000;

export class FrameworkLifecycle {
  constructor(
    private readonly s: MasterState,
    private readonly offerBook: Offers,
    private readonly taskBook: TaskBook,
  ) {}

  /**
   * SUBSCRIBE. The caller has checked the HTTP-level rules; FrameworkInfo problems are answered
   * on the stream with an ERROR event, which then closes.
   */
  subscribe(call: Extract<SchedulerCall, { type: 'SUBSCRIBE' }>, sink: Sink<SchedulerEvent>): { streamId: string; frameworkId: string } | undefined {
    this.s.metrics.inc(call.subscribe.frameworkInfo.id ? 'master/messages_reregister_framework' : 'master/messages_register_framework');
    const info = call.subscribe.frameworkInfo;
    try {
      this.checkFrameworkInfo(info);
    } catch (e) {
      if (!(e instanceof MasterRefusal)) throw e;
      sink.send({ type: 'ERROR', error: { message: e.message } });
      sink.close();
      return undefined;
    }
    if (!this.s.authorize('register_frameworks', info.principal, info.role)) {
      sink.send({ type: 'ERROR', error: { message: `Framework is not authorized to register with role '${info.role}'` } });
      sink.close();
      return undefined;
    }
    let fw: Framework | undefined;
    if (info.id !== undefined) {
      if (this.s.removedFrameworks.has(info.id)) {
        sink.send({ type: 'ERROR', error: { message: 'Framework has been removed' } });
        sink.close();
        return undefined;
      }
      fw = this.s.frameworks.get(info.id);
    }
    const now = this.s.now();
    const isNew = fw === undefined;
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
      this.s.opts.allocator.updateFramework(fw.id, { role: fw.info.role, revocable: fw.capable('REVOCABLE_RESOURCES') });
    } else {
      const id = info.id ?? `${this.s.id}-${String(this.s.frameworkSeq++).padStart(4, '0')}`;
      fw = new Framework(id, { ...info, id }, now);
      if (info.id !== undefined) fw.reregisteredTime = now;
      this.s.frameworks.set(id, fw);
      this.s.opts.allocator.addFramework(id, { role: fw.info.role, revocable: fw.capable('REVOCABLE_RESOURCES') }, false);
      this.adoptOrphanTasks(fw);
    }
    fw.sink = sink;
    fw.streamId = randomUUID();
    fw.connected = true;
    fw.active = true;
    fw.unregisteredTime = undefined;
    this.s.notify({ type: isNew ? 'FRAMEWORK_ADDED' : 'FRAMEWORK_UPDATED', framework: fw });
    this.s.opts.allocator.activateFramework(fw.id);
    // A subscription starts clean, as in Mesos: old decline filters and suppression go, then
    // the roles the scheduler asks to keep suppressed are suppressed again.
    this.s.opts.allocator.revive(fw.id);
    if (call.subscribe.suppressedRoles?.includes(fw.info.role)) this.s.opts.allocator.suppress(fw.id);
    sink.send({
      type: 'SUBSCRIBED',
      subscribed: { frameworkId: fw.id, heartbeatIntervalSeconds: HEARTBEAT_INTERVAL_MS / 1000, masterInfo: this.s.info },
    });
    sink.send({ type: 'HEARTBEAT' });
    this.scheduleHeartbeat(fw);
    if (info.id !== undefined) {
      // A failover (of the framework or of the master): the agents learn the framework's info
      // and resend at once the status updates they hold for it, as in Mesos.
      for (const agent of this.s.agents.values()) {
        if (agent.connected) this.s.sendAgent(agent, { type: 'UPDATE_FRAMEWORK', frameworkId: fw.id, frameworkInfo: fw.info });
      }
    }
    this.s.log.info(
      { frameworkId: fw.id, name: fw.info.name, principal: fw.info.principal, roles: fw.info.roles ?? [fw.info.role] },
      fw.reregisteredTime === now ? `framework ${fw.id} (${fw.info.name}) re-subscribed (failover)` : `framework ${fw.id} (${fw.info.name}) subscribed`,
    );
    this.s.loop.request('all');
    return { streamId: fw.streamId, frameworkId: fw.id };
  }

  /** The subscription stream of a framework went away. */
  disconnected(frameworkId: string, sink: Sink<SchedulerEvent>): void {
    const fw = this.s.frameworks.get(frameworkId);
    if (!fw || fw.sink !== sink) return; // an old stream (failed over) closing
    fw.sink = undefined;
    fw.connected = false;
    fw.active = false;
    fw.unregisteredTime = this.s.now();
    fw.heartbeat?.cancel();
    this.s.opts.allocator.deactivateFramework(fw.id);
    for (const offer of Array.from(fw.offers.values())) this.offerBook.removeOffer(offer, { rescind: false });
    const timeoutMs = Math.max(0, fw.info.failoverTimeout * 1000);
    this.s.log.info(
      { frameworkId: fw.id, failoverTimeoutMs: timeoutMs },
      `framework ${fw.id} disconnected; it is removed unless it fails over within ${timeoutMs / 1000} s`,
    );
    fw.failover = this.s.opts.clock.setTimer(timeoutMs, () => {
      fw.failover = undefined;
      if (!fw.connected) this.removeFramework(fw, 'failover timeout');
    });
  }

  /** Check the framework id and stream id of a non-SUBSCRIBE call: a MasterRefusal when the call may not go on. */
  checkCall(frameworkId: string, streamId: string | undefined): void {
    const fw = this.s.frameworks.get(frameworkId);
    if (!fw) throw new MasterRefusal('NOT_FOUND', 'Framework cannot be found');
    if (!fw.connected) throw new MasterRefusal('NOT_SUBSCRIBED', 'Framework is not subscribed');
    if (streamId === undefined) throw new MasterRefusal('INVALID', "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
    if (streamId !== fw.streamId) {
      throw new MasterRefusal(
        'INVALID',
        `The stream ID '${streamId}' included in this request didn't match the stream ID currently associated with framework ID ${frameworkId}`,
      );
    }
  }

  /** Throw a MasterRefusal (INVALID) when a SUBSCRIBE's FrameworkInfo cannot be taken. */
  private checkFrameworkInfo(info: FrameworkInfo): void {
    const invalid = (why: string): MasterRefusal => new MasterRefusal('INVALID', why);
    try {
      if (info.id !== undefined) checkId(info.id, 'framework_info.id');
    } catch (e) {
      throw refusedAs(e, `Invalid framework ID '${info.id}'`);
    }
    try {
      checkRole(info.role, 'framework_info.role');
    } catch (e) {
      throw refusedAs(e, `Invalid role '${info.role}'`);
    }
    if (info.roles !== undefined && info.roles.length > 0) {
      throw invalid('Multi-role frameworks (FrameworkInfo.roles, MULTI_ROLE) are not supported by this master');
    }
    if (this.s.opts.roles && info.role !== '*' && !this.s.opts.roles.includes(info.role)) {
      throw invalid(`Role '${info.role}' is not present in the master's --roles`);
    }
    try {
      checkUserName(info.user, 'framework_info.user');
    } catch (e) {
      throw refusedAs(e, `Invalid FrameworkInfo.user '${info.user}'`);
    }
    if (!this.s.opts.rootSubmissions && info.user === 'root') throw invalid("User 'root' is not allowed to run frameworks without --root_submissions set");
    // A duration, as Mesos takes it: non-negative and at most 2^63-1 ns (about 292 years).
    if (!Number.isFinite(info.failoverTimeout) || info.failoverTimeout < 0 || !(info.failoverTimeout * 1000 < MAX_DURATION_MS)) {
      throw invalid(`Invalid failover_timeout ${info.failoverTimeout}: expecting a duration in seconds from 0 to about 292 years`);
    }
  }

  private scheduleHeartbeat(fw: Framework): void {
    fw.heartbeat?.cancel();
    fw.heartbeat = this.s.opts.clock.setTimer(HEARTBEAT_INTERVAL_MS, () => {
      if (!fw.connected || !fw.sink) return;
      fw.sink.send({ type: 'HEARTBEAT' });
      this.scheduleHeartbeat(fw);
    });
  }

  /** A re-subscribing framework unknown to this master takes over the tasks agents reported. */
  private adoptOrphanTasks(fw: Framework): void {
    for (const agent of this.s.agents.values()) {
      for (const task of agent.tasks.get(fw.id)?.values() ?? []) fw.tasks.set(task.id, task);
      for (const [id, ex] of agent.executors.get(fw.id) ?? []) {
        let byAgent = fw.executors.get(agent.id);
        if (!byAgent) fw.executors.set(agent.id, (byAgent = new Map()));
        byAgent.set(id, ex);
      }
    }
  }

  /** Remove a framework (teardown or failover timeout): its tasks are killed everywhere. */
  removeFramework(fw: Framework, why: string): void {
    this.s.log.info({ frameworkId: fw.id, why }, `removing framework ${fw.id} (${fw.info.name}): ${why}; its tasks are killed`);
    fw.heartbeat?.cancel();
    fw.failover?.cancel();
    for (const offer of Array.from(fw.offers.values())) {
      offer.timer?.cancel();
      this.s.offers.delete(offer.id);
      this.s.agents.get(offer.agentId)?.offers.delete(offer.id);
    }
    fw.offers.clear();
    const agentsWithWork = new Set<string>([...fw.executors.keys()]);
    for (const task of Array.from(fw.tasks.values())) {
      agentsWithWork.add(task.agentId);
      if (!isTerminal(task.state)) {
        this.taskBook.countTransition(task.state, 'TASK_KILLED');
        task.state = 'TASK_KILLED';
        const status = this.s.masterStatus(task.id, task.agentId, 'TASK_KILLED', 'REASON_FRAMEWORK_REMOVED', `Framework ${fw.id} removed: ${why}`);
        task.statuses.push({ state: 'TASK_KILLED', timestamp: this.s.now() / 1000, reason: status.reason!, message: status.message!, source: 'SOURCE_MASTER' });
        this.s.notify({ type: 'TASK_UPDATED', task, status });
      }
      this.taskBook.removeTask(task);
    }
    for (const agentId of agentsWithWork) {
      const agent = this.s.agents.get(agentId);
      if (!agent) continue;
      this.s.sendAgent(agent, { type: 'SHUTDOWN_FRAMEWORK', frameworkId: fw.id });
      agent.executors.delete(fw.id);
      agent.tasks.delete(fw.id);
    }
    fw.executors.clear();
    this.s.opts.allocator.removeFramework(fw.id);
    this.s.frameworks.delete(fw.id);
    this.s.removedFrameworks.add(fw.id);
    fw.connected = false;
    fw.active = false;
    fw.unregisteredTime = this.s.now();
    this.s.completedFrameworks.push(fw);
    this.s.notify({ type: 'FRAMEWORK_REMOVED', framework: fw });
    if (this.s.completedFrameworks.length > this.s.opts.maxCompletedFrameworks) this.s.completedFrameworks.shift();
    if (fw.sink && !fw.sink.closed) fw.sink.close();
    fw.sink = undefined;
    this.s.loop.request();
  }

  /**
   * Operator teardown (`/master/teardown`) by `principal`, who must be allowed to tear down
   * the framework's principal (teardown_frameworks). A MasterRefusal says why it is not done.
   */
  teardown(frameworkId: string, principal: string | undefined): void {
    const fw = this.s.frameworks.get(frameworkId);
    if (fw && !this.s.authorize('teardown_frameworks', principal, fw.info.principal)) {
      const who = principal === undefined ? 'a request without a principal' : `principal '${principal}'`;
      throw new MasterRefusal('FORBIDDEN', `Not authorized: ${who} may not tear down framework ${frameworkId} (principal '${fw.info.principal ?? ''}')`);
    }
    if (!fw) throw new MasterRefusal('NOT_FOUND', 'No framework found with specified ID');
    this.removeFramework(fw, 'operator teardown');
  }
}
