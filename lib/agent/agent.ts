/**
 * The agent's state machine: it registers with the master, runs tasks in containers, speaks
 * the v1 executor API with custom executors, acts as the built-in command executor for
 * command tasks (the agent plus the C supervisor: no extra process per task), and reports
 * every task state through the status update manager. It knows nothing of HTTP: the link to
 * the master and the executor endpoint hand messages in and take messages out.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import type { Clock, TimerHandle } from '../common/clock.ts';
import { CorralError, describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { Metrics } from '../common/metrics.ts';
import type { Sink } from '../common/sink.ts';
import { type ResourceInput, Resources, checkpointedOf, validateResource } from '../common/resources/index.ts';
import type { AgentExecutor, AgentTask, AgentToMaster, MasterToAgent } from '../proto/internal.ts';
import {
  type AgentInfo,
  type Attribute,
  type CommandInfo,
  type ExecutorCall,
  type ExecutorEvent,
  type ExecutorInfo,
  type FrameworkInfo,
  type TaskInfo,
  type TaskReason,
  type TaskSource,
  type TaskState,
  type TaskStatus,
  isTerminal,
} from '../proto/messages.ts';
import { replaceSymlink, writeJsonAtomic } from './checkpoint.ts';
import { type VolumeMount, applyCheckpointed, checkpointResources, readCheckpointedResources, volumeMounts } from './volumes.ts';
import type { Container, Containerizer, LaunchSpec, RecoveredRun, Termination } from './containerizer/containerizer.ts';
import { numericStatistics } from './containerizer/isolator.ts';
import { Fetcher } from './fetcher/fetcher.ts';
import { type QoSController, type ResourceEstimator, type ResourceUsage, NoopQoSController, NoopResourceEstimator, OversubscriptionLoops } from './oversubscription/index.ts';
import type { AgentPaths } from './paths.ts';
import { checkpointBootId, checkpointedBootId, forgetAgentId, readCheckpoints, strictRecoveryError, type RecoveredRunState, type RecoveredState } from './recover.ts';
import { StatusUpdateManager } from './status_updates.ts';

export interface AgentOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly paths: AgentPaths;
  readonly containerizer: Containerizer;
  readonly hostname: string;
  readonly ip: string;
  readonly port: number;
  readonly resources: Resources;
  readonly attributes: readonly Attribute[];
  readonly version: string;
  readonly executorRegistrationTimeoutMs: number;
  readonly executorShutdownGracePeriodMs: number;
  /** Grace between SIGTERM and SIGKILL for command tasks without a kill policy. */
  readonly defaultKillGraceMs: number;
  /** The environment executors start from (`--executor_environment_variables`, or the agent's). */
  readonly executorEnvironment: Readonly<Record<string, string>>;
  /** Run tasks as their framework's user (needs root). */
  readonly switchUser: boolean;
  /**
   * Signs the token each custom executor gets in MESOS_EXECUTOR_AUTHENTICATION_TOKEN
   * (--authenticate_http_executors, --executor_secret_key). Absent: executors get none.
   */
  readonly executorTokens?: { issue(frameworkId: string, executorId: string, containerId: string): string };
  /**
   * How many container launches (without URIs to fetch) may be under way while the agent goes
   * on with the master's next messages (default 0: each launch is done first).
   */
  readonly launchesInFlight?: number;
  /** After a restart, how long recovered custom executors have to subscribe again. */
  readonly executorReregistrationTimeoutMs?: number;
  /** `--recover` (default reconnect): what recover() does with the last run. */
  readonly recoverMode?: 'reconnect' | 'cleanup';
  /** `--strict` (default true): a damaged checkpoint makes recover() fail instead of being skipped. */
  readonly strict?: boolean;
  /**
   * The running kernel's boot id (recover.ts currentBootId): a different checkpointed one means
   * the host rebooted. Undefined: reboots are not detected.
   */
  readonly bootId?: string;
  /** Puts CommandInfo.uris into sandboxes (default: Mesos's defaults, cache in paths.fetcherCacheDir()). */
  readonly fetcher?: Fetcher;
  /** Oversubscription: default noop estimator and controller. */
  readonly resourceEstimator?: ResourceEstimator;
  readonly qosController?: QoSController;
  /** --oversubscribed_resources_interval (default 15 s). */
  readonly oversubscribedResourcesIntervalMs?: number;
  /** --qos_correction_interval_min (default 0). */
  readonly qosCorrectionIntervalMinMs?: number;
}

export interface RecoveryReport {
  /** The recovered agent id; undefined when the agent registers as a new one. */
  readonly agentId: string | undefined;
  readonly executors: number;
  readonly tasks: number;
  readonly orphans: number;
  /** Containers of the last run still running that were killed (--recover=cleanup, a reboot). */
  readonly killed: number;
  /** The host rebooted since the last run (its boot id changed). */
  readonly rebooted: boolean;
  /** Damaged checkpoints (path: reason), skipped under strict=false. */
  readonly problems: readonly string[];
}

type ExecutorState = 'REGISTERING' | 'RUNNING' | 'TERMINATING' | 'TERMINATED';

export class AgentTaskRecord {
  state: TaskState = 'TASK_STAGING';
  constructor(
    readonly info: TaskInfo,
    readonly frameworkId: string,
    readonly executorId: string,
  ) {}
}

export class ExecutorRecord {
  state: ExecutorState = 'REGISTERING';
  container: Container | undefined;
  sink: Sink<ExecutorEvent> | undefined;
  registrationTimer: TimerHandle | undefined;
  /** Tasks waiting for a custom executor to subscribe. */
  readonly queued = new Map<string, TaskInfo>();
  readonly tasks = new Map<string, AgentTaskRecord>();
  readonly completedTasks: AgentTaskRecord[] = [];
  killRequested = false;
  /** Evicted by a QoS correction: its tasks go TASK_LOST with REASON_CONTAINER_PREEMPTED. */
  preempted = false;
  /** Resolves when the agent has finished handling the container's end (or its failed start). */
  done: Promise<void> = Promise.resolve();
  /** Set while the fetcher puts the URIs into the sandbox: aborting it stops the fetch. */
  fetching: AbortController | undefined;
  /** Resolves once the container has been launched, or its launch has failed and been reported. */
  starting: Promise<void> = Promise.resolve();
  constructor(
    readonly id: string,
    readonly frameworkId: string,
    readonly containerId: string,
    readonly sandbox: string,
    /** Undefined for the built-in command executor. */
    readonly info: ExecutorInfo | undefined,
    readonly resources: Resources,
    readonly name: string,
    readonly source: string,
  ) {}

  get isCommand(): boolean {
    return this.info === undefined;
  }
}

export class AgentFramework {
  readonly executors = new Map<string, ExecutorRecord>();
  readonly completedExecutors: ExecutorRecord[] = [];
  constructor(
    readonly id: string,
    public info: FrameworkInfo,
  ) {}
}

/** Why an executor call is refused, for the HTTP layer. */
export type ExecutorCallCheck = { ok: true } | { ok: false; status: 400 | 403; message: string };

/** Resources the master already validated; checked again, since they came over the wire. */
function toResources(list: readonly ResourceInput[]): Resources {
  return Resources.of(list.map((r, i) => validateResource(r, `resources[${i}]`)));
}

/** A status update uuid: an RFC 4122 version 4 UUID as 16 bytes, base64 (as Mesos makes them). */
function newUuid(): string {
  return Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64');
}

function commandArgv(cmd: CommandInfo): string[] {
  if (cmd.shell) return ['/bin/sh', '-c', cmd.value ?? ''];
  return [cmd.value ?? '', ...cmd.arguments.slice(cmd.arguments.length > 0 && cmd.arguments[0] === cmd.value ? 1 : 0)];
}

export class Agent {
  id: string | undefined;
  masterId: string | undefined;
  readonly metrics = new Metrics();
  readonly frameworks = new Map<string, AgentFramework>();
  readonly completedFrameworks: AgentFramework[] = [];
  readonly startTime: number;
  readonly updates: StatusUpdateManager;
  readonly fetcher: Fetcher;
  private readonly log: Logger;
  private sendToMaster: ((msg: AgentToMaster) => void) | undefined;
  /** Dynamic reservations and persistent volumes, as the master last said (resources.info). */
  checkpointed: Resources = Resources.EMPTY;
  /** Container launches under way (see createExecutor). */
  private launching = 0;
  /** How long the last recover() took, in ms. */
  recoveryMs = 0;

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
      { clock: opts.clock, logger: this.log, estimateIntervalMs: opts.oversubscribedResourcesIntervalMs ?? 15_000, correctionIntervalMs: opts.qosCorrectionIntervalMinMs ?? 0 },
    );
    this.startTime = opts.clock.now();
    this.updates = new StatusUpdateManager(
      opts.clock,
      {
        forward: (frameworkId, status) => this.send({ type: 'STATUS_UPDATE', frameworkId, status }),
        checkpointFailed: () => this.metrics.inc('slave/checkpoint_failures'),
      },
      this.log,
    );
    this.metrics.declare('slave/checkpoint_failures');
    this.fetcher = opts.fetcher ?? new Fetcher({ cacheDir: opts.paths.fetcherCacheDir(), logger: opts.logger });
    for (const [name, read] of this.fetcher.metrics()) this.metrics.gauge(name, read);
  }

  get options(): AgentOptions {
    return this.opts;
  }

  get pid(): string {
    return `slave(1)@${this.opts.ip}:${this.opts.port}`;
  }

  agentInfo(): AgentInfo {
    return {
      hostname: this.opts.hostname,
      port: this.opts.port,
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
    if (this.id === undefined) return { type: 'REGISTER', agentInfo: this.registrationInfo(), version: this.opts.version };
    const tasks: AgentTask[] = [];
    const executors: AgentExecutor[] = [];
    const frameworks: FrameworkInfo[] = [];
    for (const fw of this.frameworks.values()) {
      frameworks.push(fw.info);
      // The terminal tasks of executors that ended are reported until their updates are
      // acknowledged (Mesos keeps such executors until then): a task that ended while the agent
      // was down is not "unknown to the agent", which the master would report as lost.
      const reported = new Set<string>();
      for (const ex of [...fw.executors.values(), ...fw.completedExecutors]) {
        const live = fw.executors.get(ex.id) === ex;
        if (ex.info && live) executors.push({ frameworkId: fw.id, executorInfo: ex.info });
        for (const t of [...ex.tasks.values(), ...ex.completedTasks]) {
          if (isTerminal(t.state) && !this.updates.hasPending(fw.id, t.info.taskId)) continue;
          if (reported.has(t.info.taskId)) continue;
          reported.add(t.info.taskId);
          const latest = this.updates.latest(fw.id, t.info.taskId);
          tasks.push({ frameworkId: fw.id, executorId: ex.id, task: withoutData(t.info), state: t.state, ...(latest ? { latestStatus: statusWithoutData(latest) } : {}) });
        }
        for (const q of ex.queued.values()) tasks.push({ frameworkId: fw.id, executorId: ex.id, task: withoutData(q), state: 'TASK_STAGING' });
      }
    }
    return { type: 'REREGISTER', agentId: this.id, agentInfo: this.registrationInfo(), version: this.opts.version, tasks, executors, frameworks };
  }

  /** The agent's total: its flag resources with the checkpointed reservations and volumes. */
  totalResources(): Resources {
    return applyCheckpointed(this.opts.resources, this.checkpointed);
  }

  /** What the master is told: the total, with reservations and volumes, so their views match. */
  private registrationInfo(): AgentInfo {
    return { ...this.agentInfo(), resources: this.totalResources().toArray() };
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

  private send(msg: AgentToMaster): void {
    if (this.sendToMaster) this.sendToMaster(msg);
    else this.metrics.inc('slave/dropped_messages');
  }

  /** A message from the master. */
  async onMasterMessage(msg: MasterToAgent): Promise<void> {
    switch (msg.type) {
      case 'REGISTERED':
      case 'REREGISTERED':
        await this.registered(msg.agentId, msg.masterId);
        return;
      case 'PING':
        this.send({ type: 'PONG' });
        return;
      case 'RUN_TASK':
        await this.runTask(msg.frameworkId, msg.frameworkInfo, msg.task);
        return;
      case 'KILL_TASK':
        await this.killTask(msg.frameworkId, msg.taskId, msg.killPolicy?.gracePeriodNs);
        return;
      case 'ACKNOWLEDGE':
        await this.acknowledge(msg.frameworkId, msg.taskId, msg.uuid);
        return;
      case 'SHUTDOWN_FRAMEWORK':
        await this.shutdownFramework(msg.frameworkId);
        return;
      case 'SHUTDOWN_EXECUTOR': {
        const ex = this.frameworks.get(msg.frameworkId)?.executors.get(msg.executorId);
        if (ex) await this.shutdownExecutor(ex);
        return;
      }
      case 'FRAMEWORK_MESSAGE': {
        const ex = this.frameworks.get(msg.frameworkId)?.executors.get(msg.executorId);
        if (ex?.sink && !ex.sink.closed) {
          ex.sink.send({ type: 'MESSAGE', message: { data: msg.data } });
          this.metrics.inc('slave/valid_framework_messages');
        } else {
          this.metrics.inc('slave/invalid_framework_messages');
        }
        return;
      }
      case 'UPDATE_FRAMEWORK': {
        const fw = this.frameworks.get(msg.frameworkId);
        if (!fw) return;
        fw.info = msg.frameworkInfo;
        // The framework has (re-)subscribed: resend what is not acknowledged yet now instead
        // of at the next retry (up to 10 min away), as Mesos's agent does.
        this.updates.resume();
        return;
      }
      case 'CHECKPOINT_RESOURCES': {
        let next: Resources;
        try {
          next = toResources(msg.resources);
          applyCheckpointed(this.opts.resources, next);
        } catch (e) {
          this.log.error({ err: describeError(e) }, 'CHECKPOINT_RESOURCES refused');
          return;
        }
        await checkpointResources(this.opts.paths, this.checkpointed, next, this.log);
        this.checkpointed = next;
        this.log.info({ resources: next.toString() }, 'checkpointed resources');
        return;
      }
      case 'SHUTDOWN':
        this.log.warn({ message: msg.message }, 'the master told this agent to shut down; killing every task and registering anew');
        for (const fwId of Array.from(this.frameworks.keys())) await this.shutdownFramework(fwId);
        this.id = undefined;
        return;
    }
  }

  private async registered(agentId: string, masterId: string): Promise<void> {
    const first = this.id === undefined;
    this.id = agentId;
    this.masterId = masterId;
    if (first) {
      await writeJsonAtomic(this.opts.paths.agentInfoFile(agentId), this.agentInfo());
      await replaceSymlink(agentId, this.opts.paths.latestAgentLink());
      this.metrics.inc('slave/registered');
    }
    this.log.info({ agentId, masterId }, first ? 'registered with the master' : 're-registered with the master');
    this.updates.resume();
    // The oversubscription loops start once registered (after recovery); a new master learns
    // the last oversubscribed total at once.
    this.oversubscription.registered();
    this.oversubscription.start();
  }

  // ===========================================================================================
  // Recovery after a restart

  /**
   * Restore what the checkpoints hold before connecting to the master (as the
   * Mesos agent recovers). Reservations and volumes are always recovered. Then, by case:
   *   - no checkpointed agent: a new agent; containers left under the launcher (cgroups of a
   *     run that left no checkpoints) are orphans and destroyed;
   *   - the host rebooted (the checkpointed boot id is not the kernel's): nothing of the last
   *     run is recovered; whatever of it might still run is destroyed, the agent id is
   *     forgotten, and the agent registers as a new one;
   *   - `--recover=cleanup`: every container of the last run is killed and cleaned up, the
   *     agent id is forgotten (the caller then exits without registering);
   *   - `--recover=reconnect`: the agent id, the runs of checkpointing frameworks (re-attached
   *     to their supervisors, their update streams rebuilt), orphans (runs of frameworks that
   *     did not checkpoint, containers nobody knows) stopped. An agent whose resources,
   *     attributes or hostname changed refuses to start, as Mesos's does.
   * A damaged checkpoint stops the recovery under `strict` (before anything is touched), or is
   * reported and skipped. The current boot id is checkpointed at the end.
   */
  async recover(): Promise<RecoveryReport> {
    const t0 = performance.now();
    const paths = this.opts.paths;
    // The fetcher cache survives a restart (Mesos wipes it): rebuilt from disk, damaged entries dropped.
    await this.fetcher.recoverCache().catch((e) => this.log.warn({ dir: this.fetcher.cache.dir, err: describeError(e) }, 'cannot recover the fetcher cache'));
    // Reservations and volumes survive even a new agent id (they live under meta/resources).
    const checkpointed = await readCheckpointedResources(paths);
    applyCheckpointed(this.opts.resources, checkpointed); // throws when they no longer fit
    this.checkpointed = checkpointed;
    const bootId = this.opts.bootId;
    const lastBootId = bootId === undefined ? undefined : await checkpointedBootId(paths);
    const rebooted = lastBootId !== undefined && lastBootId !== bootId;
    const strict = this.opts.strict ?? true;
    const mode = this.opts.recoverMode ?? 'reconnect';
    const state = await readCheckpoints(paths, this.log);
    let report: RecoveryReport;
    if (!state) {
      await this.opts.containerizer.recover([]); // orphans only
      if (mode === 'cleanup') await this.opts.containerizer.orphansCleaned?.();
      report = { agentId: undefined, executors: 0, tasks: 0, orphans: 0, killed: 0, rebooted: false, problems: [] };
    } else if (rebooted || mode === 'cleanup') {
      if (!rebooted && strict && state.problems.length > 0) throw strictRecoveryError(state.problems);
      if (rebooted) this.log.warn({ agentId: state.agentId, lastBootId, bootId }, 'the host rebooted since the last run: its tasks are not recovered; registering as a new agent');
      const live = state.runs.filter((r) => !r.completed);
      const killed = await this.endLastRun(live, rebooted ? 0 : this.opts.defaultKillGraceMs);
      await forgetAgentId(paths);
      if (!rebooted) this.log.info({ agentId: state.agentId, killed }, '--recover=cleanup: every container of the last run is gone; the agent id is forgotten');
      report = { agentId: undefined, executors: 0, tasks: 0, orphans: 0, killed, rebooted, problems: state.problems };
    } else {
      report = await this.reconnect(state, strict);
    }
    if (bootId !== undefined) await checkpointBootId(paths, bootId);
    this.metrics.inc('slave/recovery_errors', report.problems.length);
    this.recoveryMs = performance.now() - t0;
    return report;
  }

  /** Kill every container of `runs` (and orphans) and wait until all are cleaned up. Returns how many were still running. */
  private async endLastRun(runs: readonly RecoveredRunState[], graceMs: number): Promise<number> {
    const c = this.opts.containerizer;
    const containers = await c.recover(runs.map((r) => ({ containerId: r.containerId, runDir: r.runDir })));
    let killed = 0;
    await Promise.all(
      Array.from(containers.values(), async (ct) => {
        if (ct.pid > 0 && (await c.kill(ct.containerId, graceMs)) !== undefined) killed++;
        await ct.termination;
      }),
    );
    await c.orphansCleaned?.();
    return killed;
  }

  /** `--recover=reconnect` of the last run (see recover). */
  private async reconnect(state: RecoveredState, strict: boolean): Promise<RecoveryReport> {
    const paths = this.opts.paths;
    if (strict && state.problems.length > 0) throw strictRecoveryError(state.problems);
    const mine = this.agentInfo();
    const old = state.agentInfo;
    if (old && (old.hostname !== mine.hostname || !Resources.of(old.resources).equals(this.opts.resources) || JSON.stringify(old.attributes) !== JSON.stringify(mine.attributes))) {
      throw new CorralError(
        'INCOMPATIBLE_AGENT_INFO',
        `this agent's hostname, resources or attributes differ from the checkpointed ones in ${paths.agentInfoFile(state.agentId)}; to start as a new agent, remove ${paths.latestAgentLink()}`,
      );
    }
    const problems = [...state.problems];
    // The update streams (RecordLog.read reads them with synchronous calls). A damaged one:
    // under --strict=false it is moved aside (so that new updates start a clean one) and the
    // task's state is what the container says.
    const recoverable = state.runs.filter((r) => r.framework?.checkpoint && r.executor);
    const latestOf = new Map<string, TaskStatus | undefined>();
    await Promise.all(
      recoverable.flatMap((run) =>
        run.tasks.map(async (t) => {
          try {
            latestOf.set(t.updatesFile, await this.updates.recover(run.frameworkId, t.info.taskId, t.updatesFile));
          } catch (e) {
            problems.push(`${t.updatesFile}: ${describeError(e)}`);
            this.log.warn({ path: t.updatesFile, err: describeError(e) }, 'a checkpoint cannot be read (fatal under --strict, else skipped)');
            if (!strict) await rename(t.updatesFile, `${t.updatesFile}.damaged`).catch(() => {});
          }
        }),
      ),
    );
    const attach: [AgentFramework, ExecutorRecord][] = [];
    const orphans: string[] = [];
    const runs = new Map<string, RecoveredRun>();
    let tasks = 0;
    for (const run of state.runs) {
      const fwInfo = run.framework;
      if (!fwInfo?.checkpoint || !run.executor) {
        if (!run.completed) {
          orphans.push(run.containerId);
          runs.set(run.containerId, { containerId: run.containerId, runDir: run.runDir });
        }
        continue;
      }
      const fw = this.framework(run.frameworkId, fwInfo);
      const command = 'commandTask' in run.executor;
      const info = command ? undefined : (run.executor as ExecutorInfo);
      let resources = info ? toResources(info.resources) : Resources.EMPTY;
      for (const t of run.tasks) resources = resources.plus(toResources(t.info.resources));
      const first = run.tasks[0]?.info;
      const cmd = info?.command ?? first?.command;
      const name = info?.name ?? `Command Executor (Task: ${first?.taskId ?? run.executorId}) (Command: ${cmd?.shell ? `sh -c '${cmd.value ?? ''}'` : (cmd?.value ?? '')})`;
      const ex = new ExecutorRecord(run.executorId, fw.id, run.containerId, paths.sandbox(state.agentId, fw.id, run.executorId, run.containerId), info, resources, name, info?.source ?? run.executorId);
      for (const t of run.tasks) {
        const latest = latestOf.get(t.updatesFile);
        const rec = new AgentTaskRecord(t.info, fw.id, ex.id);
        rec.state = latest?.state ?? 'TASK_STAGING';
        if (isTerminal(rec.state) && !this.updates.hasPending(fw.id, t.info.taskId)) ex.completedTasks.push(rec);
        else ex.tasks.set(t.info.taskId, rec);
        tasks++;
      }
      if (run.completed) {
        ex.state = 'TERMINATED';
        fw.completedExecutors.push(ex);
        continue;
      }
      ex.state = command ? 'RUNNING' : 'REGISTERING';
      fw.executors.set(ex.id, ex);
      attach.push([fw, ex]);
      // Its resources: the containerizer reports their limits in /monitor/statistics.
      runs.set(run.containerId, { containerId: run.containerId, runDir: run.runDir, resources });
    }
    if (strict && problems.length > 0) throw strictRecoveryError(problems);
    this.id = state.agentId;
    const containers = await this.opts.containerizer.recover(Array.from(runs.values()));
    for (const [fw, ex] of attach) {
      const c = containers.get(ex.containerId);
      const termination = c ? c.termination : Promise.resolve({ status: -1, message: 'the container could not be recovered' });
      if (c) ex.container = c;
      ex.done = termination
        .then((t) => this.executorTerminated(fw, ex, t))
        .catch((e) => this.log.error({ frameworkId: fw.id, executorId: ex.id, err: describeError(e) }, 'handling the end of an executor failed'));
      if (!ex.isCommand && c) {
        ex.registrationTimer = this.opts.clock.setTimer(this.opts.executorReregistrationTimeoutMs ?? 15_000, () => {
          ex.registrationTimer = undefined;
          if (ex.state !== 'REGISTERING') return;
          this.log.warn({ frameworkId: fw.id, executorId: ex.id }, 'recovered executor did not subscribe again in time; destroying its container');
          ex.killRequested = true;
          void this.opts.containerizer.kill(ex.containerId, 0);
        });
      }
    }
    for (const id of orphans) if (containers.has(id)) void this.opts.containerizer.kill(id, 0);
    this.log.info({ agentId: this.id, executors: attach.length, tasks, orphans: orphans.length, problems: problems.length }, 'recovered from checkpoints');
    return { agentId: this.id, executors: attach.length, tasks, orphans: orphans.length, killed: 0, rebooted: false, problems };
  }

  // ===========================================================================================
  // Tasks

  private framework(frameworkId: string, info: FrameworkInfo): AgentFramework {
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
        await writeJsonAtomic(this.opts.paths.frameworkInfoFile(agentId, fw.id), fw.info);
      } catch (e) {
        // A task that cannot be checkpointed (a full disk) is not launched: it fails alone.
        this.checkpointFailed(e, { frameworkId, taskId: task.taskId });
        this.metrics.inc('slave/container_launch_errors');
        await this.agentUpdate(fw, undefined, task.taskId, 'TASK_FAILED', 'REASON_CONTAINER_LAUNCH_FAILED', `Failed to launch container: ${describeError(e)}`);
        return;
      }
    }
    const executorId = task.executor?.executorId ?? task.taskId;
    let ex = fw.executors.get(executorId);
    if (ex && (ex.isCommand || ex.state === 'TERMINATING' || ex.state === 'TERMINATED')) {
      await this.agentUpdate(fw, ex, task.taskId, 'TASK_LOST', 'REASON_EXECUTOR_TERMINATED', `Executor ${executorId} is terminating or is a command executor`);
      return;
    }
    if (!ex) {
      await this.createExecutor(fw, task); // the task starts with it (or waits in its queue)
      return;
    }
    if (ex.state === 'RUNNING' && ex.sink && !ex.sink.closed) {
      this.launchOnExecutor(ex, task);
    } else {
      ex.queued.set(task.taskId, task);
    }
  }

  private async createExecutor(fw: AgentFramework, task: TaskInfo): Promise<void> {
    const agentId = this.id!;
    const paths = this.opts.paths;
    const info = task.executor ? { ...task.executor, frameworkId: fw.id } : undefined;
    const executorId = info?.executorId ?? task.taskId;
    const containerId = randomUUID();
    const sandbox = paths.sandbox(agentId, fw.id, executorId, containerId);
    const runDir = paths.metaRunDir(agentId, fw.id, executorId, containerId);
    const command = info?.command ?? task.command!;
    let resources: Resources;
    try {
      resources = toResources(task.resources).plus(info ? toResources(info.resources) : Resources.EMPTY);
    } catch (e) {
      await this.agentUpdate(fw, undefined, task.taskId, 'TASK_ERROR', 'REASON_TASK_INVALID', `Task has invalid resources: ${describeError(e)}`);
      return;
    }
    // Reservations or volumes this agent has not checkpointed (a CHECKPOINT_RESOURCES lost or
    // overtaken): not launched, as the Mesos agent refuses them.
    if (!this.checkpointed.contains(checkpointedOf(resources))) {
      await this.agentUpdate(fw, undefined, task.taskId, 'TASK_LOST', 'REASON_RESOURCES_UNKNOWN', 'Task uses checkpointed resources (reservations or persistent volumes) unknown to the agent');
      return;
    }
    const name = info?.name ?? `Command Executor (Task: ${task.taskId}) (Command: ${command.shell ? `sh -c '${command.value ?? ''}'` : (command.value ?? '')})`;
    const ex = new ExecutorRecord(executorId, fw.id, containerId, sandbox, info, resources, name, info?.source ?? task.taskId);
    fw.executors.set(executorId, ex);
    const record = new AgentTaskRecord(task, fw.id, executorId);
    if (ex.isCommand) ex.tasks.set(task.taskId, record);
    else ex.queued.set(task.taskId, task); // until the executor subscribes
    let volumes: VolumeMount[];
    try {
      // The sandbox is its task user's alone (the fetcher and the supervisor give it to the
      // user): other task users must not read what a task writes there, e.g. its stdout. 0700,
      // not 0750: the group would be the user's primary group, which other users can share.
      // The directories above stay searchable, so MESOS_SANDBOX works as a path.
      await mkdir(paths.runsDir(agentId, fw.id, executorId), { recursive: true });
      await mkdir(sandbox, { mode: 0o700 });
      await mkdir(runDir, { recursive: true });
      volumes = volumeMounts(paths, resources);
      await replaceSymlink(containerId, `${paths.runsDir(agentId, fw.id, executorId)}/latest`);
      if (this.checkpoints(fw)) {
        await writeJsonAtomic(paths.executorInfoFile(agentId, fw.id, executorId), info ?? { executorId, command, commandTask: true });
        await writeJsonAtomic(paths.taskInfoFile(agentId, fw.id, executorId, containerId, task.taskId), task);
      }
    } catch (e) {
      if (e instanceof CorralError && e.code === 'CHECKPOINT_WRITE_FAILED') this.checkpointFailed(e, { frameworkId: fw.id, executorId, taskId: task.taskId });
      await this.launchFailed(fw, ex, record, e);
      return;
    }
    const env = this.executorEnv(fw, ex, command);
    const user = this.opts.switchUser ? (command.user ?? fw.info.user) : undefined;
    const spec: LaunchSpec = {
      containerId,
      sandbox,
      runDir,
      argv: commandArgv(command),
      env,
      ...(user === undefined ? {} : { user }),
      resources,
      ...(volumes.length > 0 ? { volumes } : {}),
    };
    // startContainer reports its own failures; a rejection here would be a bug: logged, never
    // left unhandled (ex.starting and ex.done are awaited elsewhere, or not at all).
    const started = this.startContainer(fw, ex, record, command, spec).catch((e: unknown) => {
      this.log.error({ frameworkId: fw.id, executorId, err: describeError(e) }, 'starting the container failed unexpectedly');
      return undefined;
    });
    ex.starting = started.then(() => undefined);
    ex.done = started.then((s) => s?.ended);
    // Fetching can take long: it goes on without holding up the master's next messages. A
    // container with nothing to fetch is launched before this returns, unless fewer than
    // `launchesInFlight` launches are under way: most of a launch is waiting for the supervisor
    // to start, which the next one can use (a kill that comes meanwhile is applied once the
    // container is up).
    this.launching++;
    const done = (): void => {
      this.launching--;
    };
    void started.then(done, done);
    if (command.uris.length === 0 && this.launching > (this.opts.launchesInFlight ?? 0)) await started;
  }

  /**
   * Fetch the command's URIs into the sandbox (before the containerizer; Mesos
   * fetches after isolation, just before exec), launch the container, and report. Resolves with
   * the container's end, or undefined when the start failed (reported as TASK_FAILED, or
   * TASK_KILLED when a kill came first).
   */
  private async startContainer(fw: AgentFramework, ex: ExecutorRecord, record: AgentTaskRecord, command: CommandInfo, spec: LaunchSpec): Promise<{ ended: Promise<void> } | undefined> {
    const executorId = ex.id;
    const containerId = ex.containerId;
    try {
      if (command.uris.length > 0) {
        ex.fetching = new AbortController();
        try {
          await this.fetcher.fetch({ uris: command.uris, sandbox: ex.sandbox, signal: ex.fetching.signal, containerId, ...(spec.user === undefined ? {} : { user: spec.user }) });
        } finally {
          ex.fetching = undefined;
        }
      }
      if (ex.killRequested) throw new CorralError('KILLED_DURING_LAUNCH', 'killed before its container started');
      ex.container = await this.opts.containerizer.launch(spec);
    } catch (e) {
      await this.launchFailed(fw, ex, record, e);
      return undefined;
    }
    this.metrics.inc('slave/executors_registering');
    if (ex.isCommand) {
      ex.state = 'RUNNING';
      await this.executorUpdate(fw, ex, record, 'TASK_RUNNING');
    } else {
      ex.registrationTimer = this.opts.clock.setTimer(this.opts.executorRegistrationTimeoutMs, () => {
        ex.registrationTimer = undefined;
        if (ex.state !== 'REGISTERING') return;
        this.log.warn({ frameworkId: fw.id, executorId }, 'executor did not subscribe in time; destroying its container');
        ex.killRequested = true;
        void this.opts.containerizer.kill(containerId, 0);
      });
    }
    ex.done = ex.container.termination
      .then(
        (t) => this.executorTerminated(fw, ex, t),
        (e) => this.executorTerminated(fw, ex, { status: -1, message: describeError(e) }),
      )
      .catch((e) => this.log.error({ frameworkId: fw.id, executorId, err: describeError(e) }, 'handling the end of an executor failed'));
    // A kill that came while the container was being launched.
    if (ex.killRequested) void this.opts.containerizer.kill(containerId, ex.isCommand ? this.opts.defaultKillGraceMs : 0);
    return { ended: ex.done };
  }

  /** The container never started: its tasks end as FAILED (KILLED if a kill came first). */
  private async launchFailed(fw: AgentFramework, ex: ExecutorRecord, record: AgentTaskRecord, e: unknown): Promise<void> {
    const killed = ex.killRequested;
    if (!killed) {
      this.log.error({ frameworkId: fw.id, executorId: ex.id, err: describeError(e) }, 'container launch failed');
      this.metrics.inc('slave/container_launch_errors');
    }
    ex.state = 'TERMINATED';
    ex.registrationTimer?.cancel();
    if (fw.executors.get(ex.id) === ex) fw.executors.delete(ex.id);
    fw.completedExecutors.push(ex);
    const records = ex.isCommand ? [record] : Array.from(ex.queued.values(), (t) => new AgentTaskRecord(t, fw.id, ex.id));
    ex.tasks.clear();
    ex.queued.clear();
    const state: TaskState = killed ? 'TASK_KILLED' : 'TASK_FAILED';
    for (const rec of records) {
      rec.state = state;
      ex.completedTasks.push(rec);
      if (killed) await this.agentUpdate(fw, ex, rec.info.taskId, state, 'REASON_TASK_KILLED_DURING_LAUNCH', 'Killed before the task started');
      else await this.agentUpdate(fw, ex, rec.info.taskId, state, 'REASON_CONTAINER_LAUNCH_FAILED', `Failed to launch container: ${describeError(e)}`);
    }
  }

  private executorEnv(fw: AgentFramework, ex: ExecutorRecord, command: CommandInfo): Record<string, string> {
    const env: Record<string, string> = { ...this.opts.executorEnvironment };
    for (const v of command.environment?.variables ?? []) if (v.value !== undefined) env[v.name] = v.value;
    Object.assign(env, {
      MESOS_FRAMEWORK_ID: fw.id,
      MESOS_EXECUTOR_ID: ex.id,
      MESOS_DIRECTORY: ex.sandbox,
      MESOS_SANDBOX: ex.sandbox,
      MESOS_SLAVE_ID: this.id!,
      MESOS_AGENT_ID: this.id!,
      MESOS_SLAVE_PID: this.pid,
      MESOS_AGENT_ENDPOINT: `${this.opts.ip}:${this.opts.port}`,
      MESOS_CHECKPOINT: fw.info.checkpoint ? '1' : '0',
      MESOS_HTTP_COMMAND_EXECUTOR: '0',
      MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: `${Math.round(this.opts.executorShutdownGracePeriodMs)}ms`,
      LIBPROCESS_PORT: '0',
    });
    // Only a custom executor talks to the executor API, with the token the agent signed for it
    // here; no other token (the agent's own environment may hold one) reaches a container.
    if (this.opts.executorTokens && !ex.isCommand) env.MESOS_EXECUTOR_AUTHENTICATION_TOKEN = this.opts.executorTokens.issue(fw.id, ex.id, ex.containerId);
    else delete env.MESOS_EXECUTOR_AUTHENTICATION_TOKEN;
    if (fw.info.checkpoint) {
      env.MESOS_RECOVERY_TIMEOUT = '15mins';
      env.MESOS_SUBSCRIPTION_BACKOFF_MAX = '2secs';
    }
    return env;
  }

  private launchOnExecutor(ex: ExecutorRecord, task: TaskInfo): void {
    ex.tasks.set(task.taskId, new AgentTaskRecord(task, ex.frameworkId, ex.id));
    ex.sink!.send({ type: 'LAUNCH', launch: { task } });
  }

  async killTask(frameworkId: string, taskId: string, graceNs: number | undefined): Promise<void> {
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
      const task = ex.tasks.get(taskId)!;
      const graceMs = graceNs !== undefined ? graceNs / 1e6 : task.info.killPolicy?.gracePeriodNs !== undefined ? task.info.killPolicy.gracePeriodNs / 1e6 : this.opts.defaultKillGraceMs;
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
    this.log.info({ frameworkId }, 'shutting down framework');
    const executors = Array.from(fw.executors.values());
    await Promise.all(executors.map((ex) => this.shutdownExecutor(ex)));
    await Promise.all(executors.map((ex) => ex.done));
    await this.updates.removeFramework(frameworkId);
    this.maybeFinishFramework(fw, true);
  }

  /** SHUTDOWN to a custom executor, then destroy after the grace period; kill a command task. */
  async shutdownExecutor(ex: ExecutorRecord): Promise<void> {
    if (ex.state === 'TERMINATED') return;
    ex.killRequested = true;
    ex.state = 'TERMINATING';
    ex.registrationTimer?.cancel();
    const grace = ex.info?.shutdownGracePeriodNs !== undefined ? ex.info.shutdownGracePeriodNs / 1e6 : this.opts.executorShutdownGracePeriodMs;
    if (ex.sink && !ex.sink.closed) ex.sink.send({ type: 'SHUTDOWN' });
    ex.fetching?.abort();
    if (ex.container) await this.opts.containerizer.kill(ex.containerId, ex.isCommand ? this.opts.defaultKillGraceMs : grace);
  }

  // -------------------------------------------------------------------------------------------
  // Oversubscription

  /** What the estimator and the QoS controller see: every live executor, its allocation and statistics. */
  async usage(): Promise<ResourceUsage> {
    const executors: ResourceUsage['executors'][number][] = [];
    for (const fw of this.frameworks.values()) {
      for (const ex of fw.executors.values()) {
        if (ex.state === 'TERMINATED') continue;
        const tasks = Array.from(ex.tasks.values())
          .filter((t) => !isTerminal(t.state))
          .map((t) => ({ taskId: t.info.taskId, resources: toResources(t.info.resources) }));
        for (const q of ex.queued.values()) tasks.push({ taskId: q.taskId, resources: toResources(q.resources) });
        let allocated = ex.resources;
        if (!ex.isCommand) {
          allocated = toResources(ex.info!.resources);
          for (const t of tasks) allocated = allocated.plus(t.resources);
        }
        const full = ex.container ? await this.opts.containerizer.usage(ex.containerId).catch(() => undefined) : undefined;
        const statistics = full && numericStatistics(full);
        executors.push({
          frameworkId: fw.id,
          executorId: ex.id,
          containerId: ex.containerId,
          allocated,
          revocable: !ex.resources.revocable().isEmpty() || !allocated.revocable().isEmpty(),
          tasks,
          ...(statistics ? { statistics } : {}),
        });
      }
    }
    return { executors, total: this.opts.resources };
  }

  /** Resources held by live executors and their live and queued tasks (revocable ones included). */
  allocatedResources(): Resources {
    let sum = Resources.EMPTY;
    for (const fw of this.frameworks.values()) {
      for (const ex of fw.executors.values()) {
        if (ex.state === 'TERMINATED') continue;
        if (ex.isCommand) {
          sum = sum.plus(ex.resources);
          continue;
        }
        sum = sum.plus(toResources(ex.info!.resources));
        for (const t of ex.tasks.values()) if (!isTerminal(t.state)) sum = sum.plus(toResources(t.info.resources));
        for (const q of ex.queued.values()) sum = sum.plus(toResources(q.resources));
      }
    }
    return sum;
  }

  /**
   * A QoS correction's KILL: a REGISTERING or RUNNING executor becomes TERMINATING
   * and its container is destroyed at once; its tasks are then reported TASK_LOST with
   * REASON_CONTAINER_PREEMPTED (executorTerminated). Unknown or terminating ones are skipped.
   */
  async preempt(frameworkId: string, executorId: string): Promise<void> {
    const ex = this.frameworks.get(frameworkId)?.executors.get(executorId);
    if (!ex || (ex.state !== 'REGISTERING' && ex.state !== 'RUNNING')) return;
    this.metrics.inc('slave/executors_preempted');
    ex.preempted = true;
    ex.killRequested = true;
    ex.state = 'TERMINATING';
    ex.registrationTimer?.cancel();
    ex.fetching?.abort();
    await ex.starting;
    if (ex.container) await this.opts.containerizer.kill(ex.containerId, 0);
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
  // Container exits

  private async executorTerminated(fw: AgentFramework, ex: ExecutorRecord, t: Termination): Promise<void> {
    ex.registrationTimer?.cancel();
    const wasRegistering = ex.state === 'REGISTERING';
    ex.state = 'TERMINATED';
    if (ex.sink && !ex.sink.closed) ex.sink.close();
    this.metrics.inc('slave/executors_terminated');
    if (ex.preempted) {
      for (const task of Array.from(ex.tasks.values())) {
        if (isTerminal(task.state)) continue;
        await this.agentUpdate(fw, ex, task.info.taskId, 'TASK_LOST', 'REASON_CONTAINER_PREEMPTED', 'Container preempted by QoS correction');
      }
      for (const q of Array.from(ex.queued.values())) {
        ex.queued.delete(q.taskId);
        await this.agentUpdate(fw, ex, q.taskId, 'TASK_LOST', 'REASON_CONTAINER_PREEMPTED', 'Container preempted by QoS correction');
      }
    }
    if (t.limitation) {
      // The container went over a limit (cgroups/mem: the OOM killer) and was destroyed: its
      // live tasks fail with the limitation's reason and text, from the agent, as in Mesos.
      for (const task of Array.from(ex.tasks.values())) {
        if (isTerminal(task.state)) continue;
        await this.agentUpdate(fw, ex, task.info.taskId, 'TASK_FAILED', t.limitation.reason, t.limitation.message);
      }
    }
    if (ex.isCommand) {
      const task = Array.from(ex.tasks.values())[0];
      if (task && !isTerminal(task.state)) {
        let state: TaskState;
        let message: string;
        if (t.exitCode === 0) {
          state = 'TASK_FINISHED';
          message = 'Command exited with status 0';
        } else if (ex.killRequested) {
          state = 'TASK_KILLED';
          message = t.signal !== undefined ? `Command terminated with signal ${t.signal}` : `Command exited with status ${t.exitCode}`;
        } else if (t.signal !== undefined) {
          state = 'TASK_FAILED';
          message = `Command terminated with signal ${t.signal}`;
        } else {
          state = 'TASK_FAILED';
          message = t.exitCode === undefined ? `Command failed: ${t.message ?? 'unknown'}` : `Command exited with status ${t.exitCode}${t.message ? ` (${t.message})` : ''}`;
        }
        await this.executorUpdate(fw, ex, task, state, message);
      }
    } else {
      const reason: TaskReason = wasRegistering && ex.killRequested ? 'REASON_EXECUTOR_REGISTRATION_TIMEOUT' : 'REASON_EXECUTOR_TERMINATED';
      for (const task of Array.from(ex.tasks.values())) {
        if (isTerminal(task.state)) continue;
        await this.agentUpdate(fw, ex, task.info.taskId, 'TASK_LOST', reason, `Executor terminated${t.message ? `: ${t.message}` : ''}`);
      }
      for (const q of Array.from(ex.queued.values())) {
        ex.queued.delete(q.taskId);
        await this.agentUpdate(fw, ex, q.taskId, 'TASK_LOST', reason, 'Executor terminated before it started the task');
      }
    }
    if (this.id !== undefined && fw.info.checkpoint) {
      // Without it, a restarted agent finds the run's supervisor gone and ends it the same way.
      await writeJsonAtomic(this.opts.paths.sentinelFile(this.id, fw.id, ex.id, ex.containerId), { terminated: true }).catch((e: unknown) =>
        this.checkpointFailed(e, { frameworkId: fw.id, executorId: ex.id }),
      );
    }
    this.send({ type: 'EXECUTOR_EXITED', frameworkId: fw.id, executorId: ex.id, status: t.status });
    fw.executors.delete(ex.id);
    fw.completedExecutors.push(ex);
    if (fw.completedExecutors.length > 150) fw.completedExecutors.shift();
  }

  // -------------------------------------------------------------------------------------------
  // Status updates

  /** An update the agent makes as the command executor. */
  private async executorUpdate(fw: AgentFramework, ex: ExecutorRecord, task: AgentTaskRecord, state: TaskState, message?: string): Promise<void> {
    await this.handleUpdate(fw, ex, task, { taskId: task.info.taskId, state, source: 'SOURCE_EXECUTOR', ...(message ? { message } : {}) });
  }

  /** An update the agent makes on its own account (launch failures, lost executors). */
  private async agentUpdate(fw: AgentFramework, ex: ExecutorRecord | undefined, taskId: string, state: TaskState, reason: TaskReason, message: string): Promise<void> {
    const task = ex?.tasks.get(taskId);
    await this.handleUpdate(fw, ex, task, { taskId, state, source: 'SOURCE_AGENT' as TaskSource, reason, message });
  }

  private async handleUpdate(fw: AgentFramework, ex: ExecutorRecord | undefined, task: AgentTaskRecord | undefined, partial: TaskStatus): Promise<void> {
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
      fw.info.checkpoint && this.id !== undefined && ex
        ? this.opts.paths.taskUpdatesFile(this.id, fw.id, ex.id, ex.containerId, status.taskId)
        : undefined;
    await this.updates.update(fw.id, status, path);
  }

  /** A checkpoint the agent could not write (a full disk): counted and logged; the operation it was for fails alone. */
  private checkpointFailed(e: unknown, where: Record<string, unknown>): void {
    this.metrics.inc('slave/checkpoint_failures');
    this.log.warn({ ...where, err: describeError(e) }, 'failed to checkpoint');
  }

  private countState(state: TaskState): void {
    if (isTerminal(state)) this.metrics.inc(`slave/tasks_${state.slice(5).toLowerCase()}`);
  }

  // ===========================================================================================
  // The v1 executor API

  /** Check an executor call's framework and executor. */
  checkExecutorCall(call: ExecutorCall): ExecutorCallCheck {
    const fw = this.frameworks.get(call.frameworkId);
    if (!fw) return { ok: false, status: 400, message: 'Framework cannot be found' };
    const ex = fw.executors.get(call.executorId);
    if (!ex || ex.isCommand) return { ok: false, status: 400, message: 'Executor cannot be found' };
    if (call.type !== 'SUBSCRIBE' && call.type !== 'HEARTBEAT' && ex.state === 'REGISTERING') {
      return { ok: false, status: 403, message: 'Executor is not subscribed' };
    }
    return { ok: true };
  }

  /** SUBSCRIBE from a custom executor: its stream is `sink`. */
  async executorSubscribe(call: Extract<ExecutorCall, { type: 'SUBSCRIBE' }>, sink: Sink<ExecutorEvent>): Promise<void> {
    const fw = this.frameworks.get(call.frameworkId)!;
    const ex = fw.executors.get(call.executorId)!;
    if (ex.sink && ex.sink !== sink && !ex.sink.closed) ex.sink.close();
    if (ex.state === 'TERMINATING' || ex.state === 'TERMINATED') {
      sink.send({ type: 'SHUTDOWN' });
      sink.close();
      return;
    }
    ex.sink = sink;
    ex.state = 'RUNNING';
    ex.registrationTimer?.cancel();
    ex.registrationTimer = undefined;
    // Updates the executor sent before a disconnection and never saw acknowledged.
    for (const { status } of call.subscribe.unacknowledgedUpdates) {
      const task = ex.tasks.get(status.taskId);
      await this.handleUpdate(fw, ex, task, status);
    }
    sink.send({
      type: 'SUBSCRIBED',
      subscribed: { executorInfo: ex.info!, frameworkInfo: fw.info, agentInfo: this.agentInfo(), containerId: ex.containerId },
    });
    for (const task of Array.from(ex.queued.values())) {
      ex.queued.delete(task.taskId);
      this.launchOnExecutor(ex, task);
    }
  }

  /** UPDATE, MESSAGE or HEARTBEAT from a subscribed executor. Returns an error text for a 400. */
  async executorCall(call: Exclude<ExecutorCall, { type: 'SUBSCRIBE' }>): Promise<string | undefined> {
    const fw = this.frameworks.get(call.frameworkId)!;
    const ex = fw.executors.get(call.executorId)!;
    switch (call.type) {
      case 'HEARTBEAT':
        return undefined;
      case 'MESSAGE':
        this.send({ type: 'EXECUTOR_MESSAGE', frameworkId: fw.id, executorId: ex.id, data: call.message.data });
        return undefined;
      case 'UPDATE': {
        const s = call.update.status;
        if (s.uuid === undefined) return "Expecting 'uuid' to be present";
        if (Buffer.from(s.uuid, 'base64').length !== 16) return `Invalid status update uuid '${s.uuid}'`;
        if (s.executorId !== undefined && s.executorId !== ex.id) return `ExecutorID in Call: ${ex.id} does not match ExecutorID in TaskStatus: ${s.executorId}`;
        if (s.source !== 'SOURCE_EXECUTOR') return 'Received Call from executor with invalid source';
        if (s.state === 'TASK_STAGING') return "Received TASK_STAGING from executor which is not allowed";
        const task = ex.tasks.get(s.taskId);
        await this.handleUpdate(fw, ex, task, { ...s, executorId: ex.id });
        if (ex.sink && !ex.sink.closed) ex.sink.send({ type: 'ACKNOWLEDGED', acknowledged: { taskId: s.taskId, uuid: s.uuid } });
        return undefined;
      }
    }
  }

  /** The executor's stream closed. */
  executorDisconnected(frameworkId: string, executorId: string, sink: Sink<ExecutorEvent>): void {
    const ex = this.frameworks.get(frameworkId)?.executors.get(executorId);
    if (ex && ex.sink === sink) ex.sink = undefined;
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
    await this.updates.close();
  }
}

/**
 * A task as the re-registration reports it: without its `data` (nor its executor's, which the
 * executor record carries). The master keeps no task data; sending it could only make the
 * re-registration too large for the master to read, and every task on the agent lost with it.
 */
function withoutData(task: TaskInfo): TaskInfo {
  const { data: _, executor, ...rest } = task;
  if (executor === undefined) return rest;
  const { data: __, ...ex } = executor;
  return { ...rest, executor: ex };
}

/** A status as the re-registration reports it: the master keeps no status `data` (the framework gets it with the update itself). */
function statusWithoutData(status: TaskStatus): TaskStatus {
  const { data: _, ...rest } = status;
  return rest;
}
