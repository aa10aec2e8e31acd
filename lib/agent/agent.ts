/**
 * The agent's state machine: it registers with the master, runs tasks in containers, speaks
 * the v1 executor API with custom executors, acts as the built-in command executor for
 * command tasks (the agent plus the C supervisor: no extra process per task), and reports
 * every task state through the status update manager. It knows nothing of HTTP: the link to
 * the master and the executor endpoint hand messages in and take messages out.
 *
 * This is the facade and its state; the parts are: master_protocol.ts (messages to and from
 * the master), recovery.ts (after a restart), launch.ts (a task's container launch),
 * records.ts (frameworks, executors, tasks), executors.ts (a container's end, a custom
 * executor's lifecycle), command_executor.ts (command tasks), executor_api.ts (the
 * executor API's domain side) and resource_usage.ts (what the oversubscription loops see). They see the Agent as an AgentContext (context.ts).
 */
import { randomUUID } from 'node:crypto';
import { describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { Metrics } from '../common/metrics.ts';
import type { Sink } from '../common/sink.ts';
import { Resources } from '../common/resources/index.ts';
import type { AgentToMaster, MasterToAgent } from '../proto/internal.ts';
import {
  type AgentInfo,
  type ExecutorCall,
  type ExecutorEvent,
  type FrameworkInfo,
  type TaskInfo,
  type TaskReason,
  type TaskSource,
  type TaskState,
  type TaskStatus,
  isTerminal,
} from '../proto/messages.ts';
import { applyCheckpointed } from './volumes.ts';
import { Fetcher } from './fetcher/fetcher.ts';
import { type ResourceUsage, NoopQoSController, NoopResourceEstimator, OversubscriptionLoops } from './oversubscription/index.ts';
import { StatusUpdateManager } from './status_updates.ts';
import { commandKillGraceMs } from './command_executor.ts';
import type { AgentContext } from './context.ts';
import { checkExecutorCall, executorCall, executorDisconnected, executorSubscribe } from './executor_api.ts';
import { launchOnExecutor, shutdownExecutor } from './executors.ts';
import { AgentFramework, AgentTaskRecord, type ExecutorRecord } from './records.ts';
import { checkpointFrameworkInfo, createExecutor } from './launch.ts';
import { handleMasterMessage, messageClaims, registrationMessage } from './master_protocol.ts';
import { MessageOrder } from './message_order.ts';
import type { AgentOptions } from './options.ts';
import { type RecoveryReport, recover } from './recovery.ts';
import { allocatedResources, preempt, resourceUsage } from './resource_usage.ts';

/** A status update uuid: an RFC 4122 version 4 UUID as 16 bytes, base64 (as Mesos makes them). */
function newUuid(): string {
  return Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64');
}

export class Agent implements AgentContext {
  id: string | undefined;
  masterId: string | undefined;
  readonly metrics = new Metrics();
  readonly frameworks = new Map<string, AgentFramework>();
  readonly completedFrameworks: AgentFramework[] = [];
  readonly startTime: number;
  readonly updates: StatusUpdateManager;
  readonly fetcher: Fetcher;
  readonly log: Logger;
  private sendToMaster: ((msg: AgentToMaster) => void) | undefined;
  /** Dynamic reservations and persistent volumes, as the master last said (resources.info). */
  checkpointed: Resources = Resources.EMPTY;
  /** Container launches under way (see launch.ts). */
  launching = 0;
  /** How long the last recover() took, in ms. */
  recoveryMs = 0;
  /** True while recover() runs: the operator API answers 503 meanwhile, as Mesos's does in its RECOVERING state. */
  recovering = false;
  /** The order of the master's messages (see onMasterMessage). */
  private readonly order = new MessageOrder();

  /** The estimator and QoS loops. */
  readonly oversubscription: OversubscriptionLoops;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.logger.child({ component: 'agent' });
    const isRegistered = (): boolean => this.id !== undefined && this.isConnected;
    this.oversubscription = new OversubscriptionLoops(
      {
        usage: () => this.usage(),
        get registered() {
          return isRegistered();
        },
        sendOversubscribed: (total) => this.send({ type: 'UPDATE_OVERSUBSCRIBED', oversubscribed: total.toArray() }),
        preempt: (frameworkId, executorId) => this.preempt(frameworkId, executorId),
      },
      opts.resourceEstimator ?? new NoopResourceEstimator(),
      opts.qosController ?? new NoopQoSController(),
      {
        clock: opts.clock,
        logger: this.log,
        estimateIntervalMs: opts.oversubscribedResourcesIntervalMs ?? 15_000,
        correctionIntervalMs: opts.qosCorrectionIntervalMinMs ?? 0,
      },
    );
    this.startTime = opts.clock.now();
    this.updates = new StatusUpdateManager(
      opts.clock,
      {
        forward: (frameworkId, status) => this.send({ type: 'STATUS_UPDATE', frameworkId, status }),
        checkpointFailed: () => this.metrics.inc('slave/checkpoint_failures'),
        acknowledged: (ms) => this.metrics.observe('slave/status_update_acknowledgement_ms', ms),
      },
      this.log,
    );
    this.metrics.declare('slave/checkpoint_failures');
    this.metrics.timer('slave/status_update_acknowledgement_ms', { help: "From a status update's first sending to its acknowledgement, in seconds" });
    this.metrics.timer('slave/container_launch_ms', { help: 'Container launches (after the fetch), in seconds' });
    this.metrics.timer('containerizer/fetcher/fetch_ms', { help: "Fetching a task's URIs into its sandbox, in seconds" });
    this.fetcher = opts.fetcher ?? new Fetcher({ cacheDir: opts.paths.fetcherCacheDir(), logger: opts.logger });
    for (const [name, read] of this.fetcher.metrics()) this.metrics.gauge(name, read);
  }

  get options(): AgentOptions {
    return this.opts;
  }

  get pid(): string {
    return `slave(1)@${this.opts.advertise?.ip ?? this.opts.ip}:${this.opts.advertise?.port ?? this.opts.port}`;
  }

  agentInfo(): AgentInfo {
    return {
      hostname: this.opts.hostname,
      port: this.opts.advertise?.port ?? this.opts.port,
      resources: this.opts.resources.toArray(),
      attributes: this.opts.attributes,
      ...(this.id === undefined ? {} : { id: this.id }),
      checkpoint: true,
    };
  }

  // ===========================================================================================
  // The master link

  /** What to send when (re)connecting to a master. */
  registrationMessage(): Extract<AgentToMaster, { type: 'REGISTER' | 'REREGISTER' }> {
    return registrationMessage(this);
  }

  /** The agent's total: its flag resources with the checkpointed reservations and volumes. */
  totalResources(): Resources {
    return applyCheckpointed(this.opts.resources, this.checkpointed);
  }

  /** The link is up: messages to the master go through `send`. */
  connected(send: (msg: AgentToMaster) => void): void {
    this.sendToMaster = send;
  }

  /** The link went down: hold status updates until it is back. */
  disconnected(): void {
    this.sendToMaster = undefined;
    this.updates.pause();
    this.metrics.inc('slave/master_disconnections');
  }

  get isConnected(): boolean {
    return this.sendToMaster !== undefined;
  }

  send(msg: AgentToMaster): void {
    if (this.sendToMaster) this.sendToMaster(msg);
    else this.metrics.inc('slave/dropped_messages');
  }

  /**
   * A message from the master. Resolves once it is handled, which is after every earlier
   * message about the same task, executor or framework (messageClaims), not after all of them:
   * the link hands each message over as it comes.
   */
  onMasterMessage(msg: MasterToAgent): Promise<void> {
    return this.order.run(messageClaims(msg), () => handleMasterMessage(this, msg));
  }

  // ===========================================================================================
  // Recovery after a restart

  /** Restore what the checkpoints hold before connecting to the master (see recovery.ts). */
  async recover(): Promise<RecoveryReport> {
    this.recovering = true;
    try {
      return await recover(this);
    } finally {
      this.recovering = false;
    }
  }

  // ===========================================================================================
  // Tasks

  framework(frameworkId: string, info: FrameworkInfo): AgentFramework {
    let fw = this.frameworks.get(frameworkId);
    if (!fw) {
      fw = new AgentFramework(frameworkId, info);
      this.frameworks.set(frameworkId, fw);
    } else {
      fw.info = info;
    }
    return fw;
  }

  private checkpoints(fw: AgentFramework): boolean {
    return fw.info.checkpoint;
  }

  async runTask(frameworkId: string, frameworkInfo: FrameworkInfo, task: TaskInfo): Promise<void> {
    const agentId = this.id;
    if (agentId === undefined) return;
    const fw = this.framework(frameworkId, frameworkInfo);
    if (this.checkpoints(fw)) {
      try {
        await checkpointFrameworkInfo(this, fw);
      } catch (e) {
        // A task that cannot be checkpointed (a full disk) is not launched: it fails alone.
        this.checkpointFailed(e, { frameworkId, taskId: task.taskId });
        this.metrics.inc('slave/container_launch_errors');
        await this.agentUpdate(fw, undefined, task.taskId, 'TASK_FAILED', 'REASON_CONTAINER_LAUNCH_FAILED', `Failed to launch container: ${describeError(e)}`);
        return;
      }
    }
    const executorId = task.executor?.executorId ?? task.taskId;
    const ex = fw.executors.get(executorId);
    if (ex && (ex.isCommand || ex.state === 'TERMINATING' || ex.state === 'TERMINATED')) {
      await this.agentUpdate(fw, ex, task.taskId, 'TASK_LOST', 'REASON_EXECUTOR_TERMINATED', `Executor ${executorId} is terminating or is a command executor`);
      return;
    }
    if (!ex) {
      await createExecutor(this, fw, task); // the task starts with it (or waits in its queue)
      return;
    }
    this.log.info(
      { taskId: task.taskId, frameworkId, executorId, containerId: ex.containerId },
      `launching task ${task.taskId} of framework ${frameworkId} on its executor ${executorId} (container ${ex.containerId})`,
    );
    if (ex.state === 'RUNNING' && ex.sink && !ex.sink.closed) {
      launchOnExecutor(ex, task);
    } else {
      ex.queued.set(task.taskId, task);
    }
  }

  async killTask(frameworkId: string, taskId: string, graceNs: number | undefined): Promise<void> {
    this.log.info({ frameworkId, taskId }, `asked to kill task ${taskId} of framework ${frameworkId}`);
    const fw = this.frameworks.get(frameworkId);
    const ex = fw ? Array.from(fw.executors.values()).find((e) => e.tasks.has(taskId) || e.queued.has(taskId)) : undefined;
    if (!fw || !ex) {
      // Unknown here: tell the framework it is lost, as Mesos's agent does.
      if (fw) await this.agentUpdate(fw, undefined, taskId, 'TASK_LOST', 'REASON_TASK_UNKNOWN', 'Cannot find the task to kill');
      return;
    }
    const queued = ex.queued.get(taskId);
    if (queued) {
      ex.queued.delete(taskId);
      const rec = new AgentTaskRecord(queued, fw.id, ex.id);
      rec.state = 'TASK_KILLED';
      ex.completedTasks.push(rec);
      await this.agentUpdate(fw, ex, taskId, 'TASK_KILLED', 'REASON_TASK_KILLED_DURING_LAUNCH', 'Killed before the executor started it');
      if (ex.tasks.size === 0 && ex.queued.size === 0) await this.shutdownExecutor(ex);
      return;
    }
    if (ex.fetching) {
      // Its URIs are still being fetched: stop that; the task ends as KILLED (launchFailed).
      ex.killRequested = true;
      ex.fetching.abort();
      return;
    }
    if (ex.isCommand) {
      ex.healthChecker?.stop();
      const task = ex.tasks.get(taskId)!;
      const graceMs = commandKillGraceMs(graceNs, task.info, this.opts.defaultKillGraceMs);
      ex.killRequested = true;
      if (fw.info.capabilities.includes('TASK_KILLING_STATE') && task.state === 'TASK_RUNNING') await this.executorUpdate(fw, ex, task, 'TASK_KILLING');
      await this.opts.containerizer.kill(ex.containerId, graceMs);
      return;
    }
    if (ex.sink && !ex.sink.closed) {
      ex.sink.send({ type: 'KILL', kill: { taskId, ...(graceNs === undefined ? {} : { killPolicy: { gracePeriodNs: graceNs } }) } });
    }
  }

  async acknowledge(frameworkId: string, taskId: string, uuid: string): Promise<void> {
    const ok = await this.updates.acknowledge(frameworkId, taskId, uuid);
    this.metrics.inc(ok ? 'slave/valid_status_update_acknowledgements' : 'slave/invalid_status_update_acknowledgements');
    if (!ok) return;
    const fw = this.frameworks.get(frameworkId);
    if (!fw) return;
    for (const ex of fw.executors.values()) {
      const t = ex.tasks.get(taskId);
      if (t && isTerminal(t.state) && !this.updates.hasPending(frameworkId, taskId)) {
        ex.tasks.delete(taskId);
        ex.completedTasks.push(t);
      }
    }
    this.maybeFinishFramework(fw);
  }

  async shutdownFramework(frameworkId: string): Promise<void> {
    const fw = this.frameworks.get(frameworkId);
    if (!fw) return;
    this.log.info({ frameworkId }, `shutting down framework ${frameworkId}: its executors are killed`);
    const executors = Array.from(fw.executors.values());
    await Promise.all(executors.map((ex) => this.shutdownExecutor(ex)));
    await Promise.all(executors.map((ex) => ex.done));
    await this.updates.removeFramework(frameworkId);
    this.maybeFinishFramework(fw, true);
  }

  /** SHUTDOWN to a custom executor, then destroy after the grace period; kill a command task. */
  async shutdownExecutor(ex: ExecutorRecord): Promise<void> {
    await shutdownExecutor(this, ex);
  }

  // -------------------------------------------------------------------------------------------
  // Oversubscription

  /** What the estimator and the QoS controller see: every live executor, its allocation and statistics (resource_usage.ts). */
  async usage(): Promise<ResourceUsage> {
    return resourceUsage(this);
  }

  /** Resources held by live executors and their live and queued tasks (revocable ones included). */
  allocatedResources(): Resources {
    return allocatedResources(this);
  }

  /** A QoS correction's KILL: the executor is evicted (resource_usage.ts). */
  async preempt(frameworkId: string, executorId: string): Promise<void> {
    await preempt(this, frameworkId, executorId);
  }

  private maybeFinishFramework(fw: AgentFramework, removing = false): void {
    const live = Array.from(fw.executors.values()).some((e) => e.state !== 'TERMINATED');
    if (live) return;
    if (!removing && Array.from(fw.executors.values()).some((e) => e.tasks.size > 0)) return;
    if (!removing) return;
    this.frameworks.delete(fw.id);
    this.completedFrameworks.push(fw);
    if (this.completedFrameworks.length > 50) this.completedFrameworks.shift();
  }

  // -------------------------------------------------------------------------------------------
  // Status updates

  /** An update the agent makes as the command executor. */
  async executorUpdate(fw: AgentFramework, ex: ExecutorRecord, task: AgentTaskRecord, state: TaskState, message?: string): Promise<void> {
    await this.handleUpdate(fw, ex, task, { taskId: task.info.taskId, state, source: 'SOURCE_EXECUTOR', ...(message ? { message } : {}) });
  }

  /** An update the agent makes on its own account (launch failures, lost executors). */
  async agentUpdate(fw: AgentFramework, ex: ExecutorRecord | undefined, taskId: string, state: TaskState, reason: TaskReason, message: string): Promise<void> {
    const task = ex?.tasks.get(taskId);
    await this.handleUpdate(fw, ex, task, { taskId, state, source: 'SOURCE_AGENT' as TaskSource, reason, message });
  }

  async handleUpdate(fw: AgentFramework, ex: ExecutorRecord | undefined, task: AgentTaskRecord | undefined, partial: TaskStatus): Promise<void> {
    const status: TaskStatus = {
      ...partial,
      uuid: partial.uuid ?? newUuid(),
      timestamp: partial.timestamp ?? this.opts.clock.now() / 1000,
      ...(this.id === undefined ? {} : { agentId: this.id }),
      ...(ex ? { executorId: ex.id } : {}),
    };
    if (task) task.state = status.state;
    this.countState(status.state);
    const path =
      fw.info.checkpoint && this.id !== undefined && ex ? this.opts.paths.taskUpdatesFile(this.id, fw.id, ex.id, ex.containerId, status.taskId) : undefined;
    await this.updates.update(fw.id, status, path);
  }

  /** A checkpoint the agent could not write (a full disk): counted and logged; the operation it was for fails alone. */
  checkpointFailed(e: unknown, where: Record<string, unknown>): void {
    this.metrics.inc('slave/checkpoint_failures');
    this.log.warn({ ...where, err: describeError(e) }, 'failed to checkpoint');
  }

  private countState(state: TaskState): void {
    if (isTerminal(state)) this.metrics.inc(`slave/tasks_${state.slice(5).toLowerCase()}`);
  }

  // ===========================================================================================
  // The v1 executor API (executor_api.ts)

  /** Check an executor call's framework and executor: an ExecutorRefusal when the call may not go on. */
  checkExecutorCall(call: ExecutorCall): void {
    checkExecutorCall(this, call);
  }

  /** SUBSCRIBE from a custom executor: its stream is `sink`. */
  async executorSubscribe(call: Extract<ExecutorCall, { type: 'SUBSCRIBE' }>, sink: Sink<ExecutorEvent>): Promise<void> {
    await executorSubscribe(this, call, sink);
  }

  /** UPDATE, MESSAGE or HEARTBEAT from a subscribed executor. An invalid UPDATE is an ExecutorRefusal (INVALID). */
  async executorCall(call: Exclude<ExecutorCall, { type: 'SUBSCRIBE' }>): Promise<void> {
    await executorCall(this, call);
  }

  /** The executor's stream closed. */
  executorDisconnected(frameworkId: string, executorId: string, sink: Sink<ExecutorEvent>): void {
    executorDisconnected(this, frameworkId, executorId, sink);
  }

  // ===========================================================================================
  // Views for endpoints

  /** Live executors with their framework, for /monitor/statistics. */
  *liveExecutors(): IterableIterator<[AgentFramework, ExecutorRecord]> {
    for (const fw of this.frameworks.values()) for (const ex of fw.executors.values()) if (ex.state !== 'TERMINATED') yield [fw, ex];
  }

  /** Every sandbox this agent knows of (live and completed executors). */
  *sandboxes(): IterableIterator<string> {
    for (const fw of [...this.frameworks.values(), ...this.completedFrameworks]) {
      for (const ex of [...fw.executors.values(), ...fw.completedExecutors]) yield ex.sandbox;
    }
  }

  async stop(): Promise<void> {
    this.oversubscription.stop();
    // No more health checks (the next agent on this work dir resumes them after its recovery).
    for (const fw of this.frameworks.values()) for (const ex of fw.executors.values()) ex.healthChecker?.stop();
    await this.updates.close();
  }
}
