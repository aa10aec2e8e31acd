/**
 * Agent lifecycle: registration and re-registration (admitted to the registry first), the
 * stream going away, the calls an agent makes (status updates, executor exits, messages,
 * oversubscription), health checks by ping, removal, and the agents recovered from the registry
 * that do not come back.
 */
import { randomUUID } from 'node:crypto';
import { ValidationError } from '../common/errors.ts';
import type { Sink } from '../common/sink.ts';
import { type Resource, Resources, checkpointedOf, validateResource } from '../common/resources/index.ts';
import type { AgentTask, AgentToMaster, MasterToAgent } from '../proto/internal.ts';
import { type AgentInfo, type ExecutorInfo, type TaskState, type TaskStatus, isTerminal } from '../proto/messages.ts';
import { MasterRefusal } from './errors.ts';
import type { Offers } from './offers.ts';
import { AgentRecord, type MasterExecutorRecord, Task, usedOn } from './records.ts';
import type { Reconciler } from './reconcile.ts';
import type { MasterState } from './state.ts';
import type { TaskBook } from './tasks.ts';
import { unapplyCheckpointed } from './validation.ts';

export class AgentLifecycle {
  constructor(
    private readonly s: MasterState,
    private readonly offerBook: Offers,
    private readonly taskBook: TaskBook,
    private readonly reconciler: Reconciler,
  ) {}

  /** A new agent. Admitted to the registry before it is answered. */
  async registerAgent(
    msg: Extract<AgentToMaster, { type: 'REGISTER' }>,
    sink: Sink<MasterToAgent>,
    ip: string,
    principal?: string,
  ): Promise<{ agentId: string; streamId: string }> {
    this.s.metrics.inc('master/messages_register_slave');
    const info = this.checkAgentInfo(msg.agentInfo);
    const id = `${this.s.id}-S${this.s.agentSeq++}`;
    const withId: AgentInfo = { ...info, id };
    try {
      await this.s.opts.registry.admitAgent({
        id,
        info: withId,
        checkpointedResources: checkpointedOf(Resources.of(withId.resources)).toArray(),
        ...(principal === undefined ? {} : { principal }),
      });
    } catch (e) {
      this.s.registryFailed(e, 'cannot admit the agent to the registry; it is refused and will retry', { hostname: info.hostname });
      throw e;
    }
    const agent = new AgentRecord(id, withId, ip, this.s.now());
    agent.principal = principal;
    this.s.agents.set(id, agent);
    this.s.opts.allocator.addAgent(id, agent.total);
    this.s.notify({ type: 'AGENT_ADDED', agent });
    const streamId = this.attachAgent(agent, sink);
    this.s.sendAgent(agent, { type: 'REGISTERED', agentId: id, masterId: this.s.id });
    this.s.metrics.inc('master/slave_registrations');
    this.s.log.info({ agentId: id, agentHost: info.hostname, resources: agent.total.toString() }, `registered agent ${id} at ${info.hostname}`);
    this.s.loop.request();
    return { agentId: id, streamId };
  }

  /** An agent that was registered before (with this master or one before it). */
  async reregisterAgent(
    msg: Extract<AgentToMaster, { type: 'REREGISTER' }>,
    sink: Sink<MasterToAgent>,
    ip: string,
    principal?: string,
  ): Promise<{ agentId: string; streamId: string } | undefined> {
    this.s.metrics.inc('master/messages_reregister_slave');
    const info = this.checkAgentInfo(msg.agentInfo);
    const id = msg.agentId;
    let agent = this.s.agents.get(id);
    const recovered = this.s.recoveredAgents.get(id);
    if (!agent && !recovered) {
      this.s.log.warn({ agentId: id }, 'unknown agent tried to re-register; telling it to shut down');
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
      await this.s.opts.registry.updateAgent({ id, info: withId, checkpointedResources, ...(registeredAs === undefined ? {} : { principal: registeredAs }) });
    } catch (e) {
      this.s.registryFailed(e, 'cannot record the re-registered agent in the registry; it is refused and will retry', { agentId: id });
      throw e;
    }
    const now = this.s.now();
    if (!agent) {
      this.s.recoveredAgents.delete(id);
      agent = new AgentRecord(id, withId, ip, recovered ? now : now);
      this.s.agents.set(id, agent);
      this.s.notify({ type: 'AGENT_ADDED', agent });
      this.adoptReportedTasks(agent, msg.tasks, msg.executors);
      this.s.opts.allocator.addAgent(id, agent.total, usedOn(agent));
    } else {
      agent.info = withId;
      agent.ip = ip;
      const total = Resources.of(withId.resources).plus(agent.total.revocable());
      if (!agent.total.equals(total)) {
        agent.total = total;
        this.s.opts.allocator.updateAgent(id, agent.total);
      }
      this.reconciler.reconcileKnownAgent(agent, msg.tasks);
      this.s.opts.allocator.activateAgent(id);
    }
    agent.reregisteredTime = now;
    agent.active = true;
    if (registeredAs !== undefined) agent.principal = registeredAs;
    const streamId = this.attachAgent(agent, sink);
    this.s.sendAgent(agent, { type: 'REREGISTERED', agentId: id, masterId: this.s.id });
    if (!agent.checkpointed.isEmpty() || !checkpointedOf(Resources.of(info.resources)).isEmpty()) {
      this.s.sendAgent(agent, { type: 'CHECKPOINT_RESOURCES', resources: agent.checkpointed.toArray() });
    }
    for (const [fwId, kills] of agent.pendingKills) {
      for (const taskId of kills) this.s.sendAgent(agent, { type: 'KILL_TASK', frameworkId: fwId, taskId });
    }
    agent.pendingKills.clear();
    // Frameworks the master no longer has are shut down on the agent.
    for (const fwId of new Set(msg.tasks.map((t) => t.frameworkId))) {
      if (this.s.removedFrameworks.has(fwId)) this.s.sendAgent(agent, { type: 'SHUTDOWN_FRAMEWORK', frameworkId: fwId });
    }
    this.s.metrics.inc('master/slave_reregistrations');
    this.s.log.info({ agentId: id, agentHost: info.hostname, tasks: msg.tasks.length }, `re-registered agent ${id} at ${info.hostname}`);
    this.s.loop.request();
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
      this.s.log.warn(
        { agentId, master: mine.toString(), agent: repCheckpointed.toString() },
        "the master's checkpointed resources do not fit the agent's; taking the agent's",
      );
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

  private attachAgent(agent: AgentRecord, sink: Sink<MasterToAgent>): string {
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
    const agent = this.s.agents.get(agentId);
    if (!agent || agent.sink !== sink) return;
    agent.sink = undefined;
    agent.connected = false;
    agent.active = false;
    this.s.opts.allocator.deactivateAgent(agent.id);
    for (const id of Array.from(agent.offers)) {
      const offer = this.s.offers.get(id);
      if (offer) this.offerBook.removeOffer(offer, { rescind: true });
    }
    this.s.log.info({ agentId }, `agent ${agentId} disconnected; its resources are not offered until it reconnects`);
  }

  /**
   * Throw a MasterRefusal (FORBIDDEN) when `principal` may not re-register agent `agentId`: an
   * agent this master knows to have registered as another principal. The principal is kept in
   * the registry, so a restarted master checks the agents it recovered as well; an agent
   * recorded by an older registry without it is bound to the principal of its first
   * authenticated re-registration.
   */
  checkAgentPrincipal(agentId: string, principal: string | undefined): void {
    const known = this.knownAgentPrincipal(agentId);
    if (known === undefined || known === principal) return;
    if (principal === undefined) {
      // Requests carry a principal exactly when agents authenticate: this master was started
      // without agent authentication, so no principal can be checked (refusing would lock the
      // agent out for good). The recorded principal stays for when authentication is back.
      this.s.log.warn({ agentId, registeredAs: known }, 'agents do not authenticate: the principal that registered this agent is not checked');
      return;
    }
    this.s.log.warn({ agentId, principal, registeredAs: known }, 'agent re-registration refused: another principal registered this agent');
    throw new MasterRefusal(
      'FORBIDDEN',
      `Not authorized: agent ${agentId} was registered by another principal; principal '${principal}' may not re-register it`,
    );
  }

  /** The principal agent `agentId` registered as, for a live agent or one recovered from the registry. */
  private knownAgentPrincipal(agentId: string): string | undefined {
    return this.s.agents.get(agentId)?.principal ?? this.s.recoveredAgents.get(agentId)?.principal;
  }

  /** Check an agent call's stream id: a MasterRefusal when the call may not go on. */
  checkAgentCall(agentId: string, streamId: string | undefined): void {
    const agent = this.s.agents.get(agentId);
    if (!agent) throw new MasterRefusal('NOT_FOUND', `Agent ${agentId} is not registered`);
    if (!agent.connected || streamId !== agent.streamId) throw new MasterRefusal('FORBIDDEN', 'Agent stream id does not match its current connection');
  }

  /** A call from a connected agent (after checkAgentCall). */
  agentCall(agentId: string, msg: AgentToMaster): void {
    const agent = this.s.agents.get(agentId);
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
        this.s.metrics.inc('master/messages_exited_executor');
        this.executorExited(agent, msg.frameworkId, msg.executorId, msg.status);
        return;
      case 'EXECUTOR_MESSAGE': {
        this.s.metrics.inc('master/messages_executor_to_framework');
        const fw = this.s.frameworks.get(msg.frameworkId);
        if (fw?.connected) {
          this.s.metrics.inc('master/valid_executor_to_framework_messages');
          this.s.send(fw, { type: 'MESSAGE', message: { agentId: agent.id, executorId: msg.executorId, data: msg.data } });
        } else {
          this.s.metrics.inc('master/invalid_executor_to_framework_messages');
        }
        return;
      }
      case 'UPDATE_OVERSUBSCRIBED':
        this.s.metrics.inc('master/messages_update_slave');
        // As in Mesos: first rescind every outstanding offer from this agent that holds revocable
        // resources (they go back to the allocator), then replace the revocable part of the
        // total. The agent's figure includes the revocable resources its executors hold, so
        // tasks already running on revocable resources stay accounted for.
        for (const id of Array.from(agent.offers)) {
          const offer = this.s.offers.get(id);
          if (offer && !offer.resources.revocable().isEmpty()) this.offerBook.removeOffer(offer, { rescind: true });
        }
        agent.total = agent.total.nonRevocable().plus(Resources.of(msg.oversubscribed.map((r) => ({ ...r, revocable: true }))));
        this.s.opts.allocator.updateAgent(agent.id, agent.total);
        this.s.loop.request();
        return;
      case 'REGISTER':
      case 'REREGISTER':
        return; // these arrive on the stream request, not as calls
    }
  }

  private statusUpdate(agent: AgentRecord, frameworkId: string, status: TaskStatus): void {
    this.s.metrics.inc('master/messages_status_update');
    const fw = this.s.frameworks.get(frameworkId);
    const task = agent.tasks.get(frameworkId)?.get(status.taskId);
    if (task) {
      this.taskBook.applyStatus(task, status);
      this.s.metrics.inc('master/valid_status_updates');
    } else {
      this.s.metrics.inc('master/invalid_status_updates');
    }
    if (fw) this.s.send(fw, { type: 'UPDATE', update: { status: { ...status, agentId: agent.id } } });
  }

  private executorExited(agent: AgentRecord, frameworkId: string, executorId: string, status: number): void {
    const ex = agent.executors.get(frameworkId)?.get(executorId);
    if (!ex) return;
    agent.executors.get(frameworkId)!.delete(executorId);
    const fw = this.s.frameworks.get(frameworkId);
    fw?.executors.get(agent.id)?.delete(executorId);
    if (!ex.resources.isEmpty()) {
      this.s.opts.allocator.recoverResources(frameworkId, agent.id, ex.resources, this.s.now());
      this.s.loop.request();
    }
    if (fw) this.s.send(fw, { type: 'FAILURE', failure: { agentId: agent.id, executorId, status } });
  }

  private schedulePing(agent: AgentRecord): void {
    agent.pingTimer?.cancel();
    agent.pingTimer = this.s.opts.clock.setTimer(this.s.opts.agentPingTimeoutMs, () => {
      if (!this.s.agents.has(agent.id)) return;
      if (!agent.pongSincePing) agent.missedPings++;
      if (agent.missedPings >= this.s.opts.maxAgentPingTimeouts) {
        this.s.metrics.inc('master/slave_removals/reason_unhealthy');
        void this.removeAgent(agent, `health check timed out after ${agent.missedPings} missed pings`);
        return;
      }
      agent.pongSincePing = false;
      if (agent.connected) this.s.sendAgent(agent, { type: 'PING' });
      this.schedulePing(agent);
    });
  }

  /** Remove an agent: its tasks are lost, its frameworks told, its registry entry dropped. */
  async removeAgent(agent: AgentRecord, why: string, gone = false): Promise<void> {
    if (!this.s.agents.has(agent.id)) return;
    this.s.log.warn({ agentId: agent.id, why }, `removing agent ${agent.id} at ${agent.info.hostname}: ${why}`);
    this.s.metrics.inc('master/slave_removals');
    agent.pingTimer?.cancel();
    for (const id of Array.from(agent.offers)) {
      const offer = this.s.offers.get(id);
      if (offer) this.offerBook.removeOffer(offer, { rescind: true });
    }
    for (const [fwId, tasks] of agent.tasks) {
      const fw = this.s.frameworks.get(fwId);
      for (const task of Array.from(tasks.values())) {
        if (!isTerminal(task.state)) {
          // An agent an operator marked gone: its tasks are gone by the operator (as Mesos says to partition-aware frameworks).
          const state: TaskState =
            gone && fw?.capable('PARTITION_AWARE') ? 'TASK_GONE_BY_OPERATOR' : fw?.capable('PARTITION_AWARE') ? 'TASK_GONE' : 'TASK_LOST';
          const reason = gone ? 'REASON_AGENT_REMOVED_BY_OPERATOR' : 'REASON_AGENT_REMOVED';
          const status = this.s.masterStatus(task.id, agent.id, state, reason, `Agent ${agent.info.hostname} removed: ${why}`);
          this.taskBook.countTransition(task.state, state);
          task.state = state;
          task.statuses.push({ state, timestamp: this.s.now() / 1000, reason, message: status.message!, source: 'SOURCE_MASTER' });
          this.s.notify({ type: 'TASK_UPDATED', task, status });
          this.s.logTaskState(task.id, fw?.id ?? fwId, agent.id, status);
          this.s.metrics.inc(`master/task_lost/source_master/reason_slave_removed`);
          if (fw) this.s.send(fw, { type: 'UPDATE', update: { status } });
        }
        this.taskBook.removeTask(task);
      }
    }
    for (const fwId of agent.executors.keys()) this.s.frameworks.get(fwId)?.executors.delete(agent.id);
    for (const fw of this.s.frameworks.values()) this.s.send(fw, { type: 'FAILURE', failure: { agentId: agent.id } });
    this.s.agents.delete(agent.id);
    this.s.notify({ type: 'AGENT_REMOVED', agentId: agent.id });
    this.s.opts.allocator.removeAgent(agent.id);
    if (agent.sink && !agent.sink.closed) {
      agent.sink.send({ type: 'SHUTDOWN', message: `Removed by the master: ${why}` });
      agent.sink.close();
    }
    try {
      await this.s.opts.registry.removeAgent(agent.id);
    } catch (e) {
      this.s.registryFailed(e, 'could not remove the agent from the registry', { agentId: agent.id });
    }
  }

  expireRecoveredAgents(): void {
    for (const [id] of this.s.recoveredAgents) {
      this.s.log.warn({ agentId: id }, 'recovered agent did not re-register in time; removing it from the registry');
      this.s.metrics.inc('master/recovery_slave_removals');
      void this.s.opts.registry.removeAgent(id).catch((e: unknown) => this.s.registryFailed(e, 'registry removal failed', { agentId: id }));
    }
    this.s.recoveredAgents.clear();
  }

  /** After a master failover: rebuild the tasks an agent reports. */
  private adoptReportedTasks(agent: AgentRecord, tasks: readonly AgentTask[], executors: readonly { frameworkId: string; executorInfo: ExecutorInfo }[]): void {
    for (const e of executors) {
      const res = Resources.of(e.executorInfo.resources.map((r, i) => validateResource(r, `executors.resources[${i}]`)));
      const fw = this.s.frameworks.get(e.frameworkId);
      const rec: MasterExecutorRecord = { info: e.executorInfo, resources: res };
      if (fw) this.taskBook.addExecutor(fw, agent, rec);
      else {
        let byFw = agent.executors.get(e.frameworkId);
        if (!byFw) agent.executors.set(e.frameworkId, (byFw = new Map()));
        byFw.set(e.executorInfo.executorId, rec);
      }
    }
    for (const t of tasks) {
      if (isTerminal(t.state) && t.latestStatus?.uuid === undefined) continue;
      const res = Resources.of(t.task.resources.map((r, i) => validateResource(r, `tasks.resources[${i}]`)));
      const fw = this.s.frameworks.get(t.frameworkId);
      const task = new Task(t.task, t.frameworkId, agent.id, t.executorId, res, t.task.command?.user ?? fw?.info.user);
      task.state = t.state;
      if (t.latestStatus) {
        task.latest = t.latestStatus;
        task.statusUpdateState = t.latestStatus.state;
        task.statusUpdateUuid = t.latestStatus.uuid;
      }
      task.statuses.push({ state: t.state, timestamp: this.s.now() / 1000 });
      this.taskBook.addTask(fw, agent, task);
    }
  }
}
