/**
 * The launch path of a task's executor: its records, sandbox and checkpoints, the container's
 * environment, the fetch of the command's URIs, the container's start, and the report of a
 * launch that failed. One launch is one `Launch` passed along.
 */
import { startHealthChecks } from './health_checker.ts';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CorralError, describeError } from '../common/errors.ts';
import { Resources, checkpointedOf } from '../common/resources/index.ts';
import type { CommandInfo, TaskInfo, TaskState } from '../proto/messages.ts';
import { type ContainerImage, containerImageOf } from '../proto/container_info.ts';
import { SANDBOX_IN_IMAGE } from './containerizer/images/provider.ts';
import { replaceSymlink, writeAtomic, writeJsonAtomic } from './checkpoint.ts';
import { commandArgv, commandExecutorName } from './command_executor.ts';
import type { LaunchSpec } from './containerizer/containerizer.ts';
import type { ProbeTarget } from './containerizer/health_probes.ts';
import type { AgentContext } from './context.ts';
import { armRegistrationTimer, executorTerminated } from './executors.ts';
import { type AgentFramework, AgentTaskRecord, ExecutorRecord, toResources } from './records.ts';
import { type VolumeMount, volumeMounts } from './volumes.ts';

/** One container launch: the executor and the task it starts with, its command and the containerizer's spec. */
export interface Launch {
  readonly fw: AgentFramework;
  readonly ex: ExecutorRecord;
  /** The first task (a command task's only one). */
  readonly record: AgentTaskRecord;
  readonly command: CommandInfo;
  readonly spec: LaunchSpec;
  /** The container's image (TaskInfo.container, or ExecutorInfo.container for a custom executor). */
  readonly image?: ContainerImage;
}

/**
 * Checkpoint the framework's info before one of its tasks is launched, when it is not the info
 * last written (or being written) there: every launch would otherwise pay for the same file,
 * synced twice, on the way of the launches after it. Writes go one after another; one that
 * fails rejects, and the next launch writes again.
 */
export function checkpointFrameworkInfo(ctx: AgentContext, fw: AgentFramework): Promise<void> {
  const path = ctx.options.paths.frameworkInfoFile(ctx.id!, fw.id);
  const text = JSON.stringify(fw.info);
  const last = fw.infoCheckpoint;
  if (last && last.path === path && last.text === text) return last.written;
  const written = (last?.written ?? Promise.resolve()).catch(() => undefined).then(() => writeAtomic(path, text));
  fw.infoCheckpoint = { path, text, written };
  written.catch(() => {
    if (fw.infoCheckpoint?.written === written) fw.infoCheckpoint = undefined;
  });
  return written;
}

/** A new executor for `task` (the task starts with it, or waits in its queue). */
export async function createExecutor(ctx: AgentContext, fw: AgentFramework, task: TaskInfo): Promise<void> {
  const agentId = ctx.id!;
  const paths = ctx.options.paths;
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
    await ctx.agentUpdate(fw, undefined, task.taskId, 'TASK_ERROR', 'REASON_TASK_INVALID', `Task has invalid resources: ${describeError(e)}`);
    return;
  }
  // Reservations or volumes this agent has not checkpointed (a CHECKPOINT_RESOURCES lost or
  // overtaken): not launched, as the Mesos agent refuses them.
  if (!ctx.checkpointed.contains(checkpointedOf(resources))) {
    await ctx.agentUpdate(
      fw,
      undefined,
      task.taskId,
      'TASK_LOST',
      'REASON_RESOURCES_UNKNOWN',
      'Task uses checkpointed resources (reservations or persistent volumes) unknown to the agent',
    );
    return;
  }
  const name = info?.name ?? commandExecutorName(task.taskId, command);
  const ex = new ExecutorRecord(executorId, fw.id, containerId, sandbox, info, resources, name, info?.source ?? task.taskId);
  fw.executors.set(executorId, ex);
  ctx.log.info(
    { taskId: task.taskId, frameworkId: fw.id, executorId, containerId, resources: resources.toString() },
    `launching task ${task.taskId} of framework ${fw.id} in container ${containerId} (executor ${executorId}) with ${resources.toString()}`,
  );
  const record = new AgentTaskRecord(task, fw.id, executorId);
  if (ex.isCommand) ex.tasks.set(task.taskId, record);
  else ex.queued.set(task.taskId, task); // until the executor subscribes
  let volumes: VolumeMount[];
  let image: ContainerImage | undefined;
  try {
    image = info ? containerImageOf(info.container, 'executor.container') : containerImageOf(task.container, 'container');
    // The sandbox is its task user's alone (the fetcher and the supervisor give it to the
    // user): other task users must not read what a task writes there, e.g. its stdout. 0700,
    // not 0750: the group would be the user's primary group, which other users can share.
    // The directories above stay searchable, so MESOS_SANDBOX works as a path.
    await mkdir(paths.runsDir(agentId, fw.id, executorId), { recursive: true });
    await mkdir(sandbox, { mode: 0o700 });
    await mkdir(runDir, { recursive: true });
    volumes = volumeMounts(paths, resources);
    await replaceSymlink(containerId, paths.latestRunLink(agentId, fw.id, executorId));
    if (fw.info.checkpoint) {
      await writeJsonAtomic(paths.executorInfoFile(agentId, fw.id, executorId), info ?? { executorId, command, commandTask: true });
      await writeJsonAtomic(paths.taskInfoFile(agentId, fw.id, executorId, containerId, task.taskId), task);
    }
  } catch (e) {
    if (e instanceof CorralError && e.code === 'CHECKPOINT_WRITE_FAILED') ctx.checkpointFailed(e, { frameworkId: fw.id, executorId, taskId: task.taskId });
    await launchFailed(ctx, fw, ex, record, e);
    return;
  }
  const env = executorEnv(ctx, fw, ex, command);
  const user = ctx.options.switchUser ? (command.user ?? fw.info.user) : undefined;
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
  const started = startContainer(ctx, { fw, ex, record, command, spec, ...(image ? { image } : {}) }).catch((e: unknown) => {
    ctx.log.error({ frameworkId: fw.id, executorId, err: describeError(e) }, 'starting the container failed unexpectedly');
    return undefined;
  });
  ex.starting = started.then(() => undefined);
  ex.done = started.then((s) => s?.ended);
  // Fetching can take long: it goes on without holding up the master's next messages. A
  // container with nothing to fetch is launched before this returns, unless fewer than
  // `launchesInFlight` launches are under way: most of a launch is waiting for the supervisor
  // to start, which the next one can use (a kill that comes meanwhile is applied once the
  // container is up).
  ctx.launching++;
  const done = (): void => {
    ctx.launching--;
  };
  void started.then(done, done);
  if (command.uris.length === 0 && !image && ctx.launching > (ctx.options.launchesInFlight ?? 0)) await started;
}

/**
 * Fetch the command's URIs into the sandbox (before the containerizer; Mesos
 * fetches after isolation, just before exec), launch the container, and report. Resolves with
 * the container's end, or undefined when the start failed (reported as TASK_FAILED, or
 * TASK_KILLED when a kill came first).
 */
async function startContainer(ctx: AgentContext, launch: Launch): Promise<{ ended: Promise<void> } | undefined> {
  const { fw, ex, record, command } = launch;
  let spec = launch.spec;
  const executorId = ex.id;
  const containerId = ex.containerId;
  const images = launch.image ? ctx.options.images : undefined;
  try {
    if (command.uris.length > 0) {
      ex.fetching = new AbortController();
      const t0 = performance.now();
      try {
        await ctx.fetcher.fetch({
          uris: command.uris,
          sandbox: ex.sandbox,
          signal: ex.fetching.signal,
          containerId,
          ...(spec.user === undefined ? {} : { user: spec.user }),
        });
      } finally {
        ex.fetching = undefined;
        ctx.metrics.observe('containerizer/fetcher/fetch_ms', performance.now() - t0);
      }
    }
    if (launch.image) spec = await withImage(ctx, launch, launch.image);
    if (ex.killRequested) throw new CorralError('KILLED_DURING_LAUNCH', 'killed before its container started');
    const t0 = performance.now();
    ex.container = await ctx.options.containerizer.launch(spec);
    ctx.metrics.observe('slave/container_launch_ms', performance.now() - t0);
  } catch (e) {
    await images?.cleanup(containerId).catch(() => undefined);
    await launchFailed(ctx, fw, ex, record, e);
    return undefined;
  }
  if (images) {
    void ex.container.termination
      .catch(() => undefined)
      .then(() => images.cleanup(containerId))
      .catch((e: unknown) => ctx.log.warn({ containerId, err: describeError(e) }, "removing the container's root filesystem failed"));
  }
  ctx.metrics.inc('slave/executors_registering');
  if (ex.isCommand) {
    ex.state = 'RUNNING';
    await ctx.executorUpdate(fw, ex, record, 'TASK_RUNNING');
    startHealthChecks(ctx, fw, ex, record, { sandbox: spec.sandbox, env: spec.env, ...(spec.user === undefined ? {} : { user: spec.user }) });
  } else {
    armRegistrationTimer(ctx, fw, ex, ctx.options.executorRegistrationTimeoutMs, 'executor did not subscribe in time; destroying its container');
  }
  ex.done = ex.container.termination
    .then(
      (t) => executorTerminated(ctx, fw, ex, t),
      (e) => executorTerminated(ctx, fw, ex, { status: -1, message: describeError(e) }),
    )
    .catch((e) => ctx.log.error({ frameworkId: fw.id, executorId, err: describeError(e) }, 'handling the end of an executor failed'));
  // A kill that came while the container was being launched.
  if (ex.killRequested) void ctx.options.containerizer.kill(containerId, ex.isCommand ? ctx.options.defaultKillGraceMs : 0);
  return { ended: ex.done };
}

/**
 * The launch spec for a container with an image: the image pulled (its progress appended to the
 * sandbox's stderr, where Mesos's fetcher output goes too), the root filesystem's scratch made,
 * the command and environment as docker/runtime combines them. Throws ImageError.
 */
async function withImage(ctx: AgentContext, launch: Launch, image: ContainerImage): Promise<LaunchSpec> {
  const images = ctx.options.images;
  if (!images) {
    throw new CorralError(
      'CONTAINER_LAUNCH_FAILED',
      `the container asks for the image '${image.name}', and this agent runs no image provider (start it with --image_providers=docker and --isolation with filesystem/linux,docker/runtime)`,
    );
  }
  const log = join(launch.ex.sandbox, 'stderr');
  const progress = (line: string): void => void appendFile(log, `${line}\n`).catch(() => undefined);
  const prepared = await images.prepare(launch.ex.containerId, image, launch.command, progress);
  // Environment, last wins: the agent's, MESOS_SANDBOX (inside the image), the image's Env, the task's own.
  const env: Record<string, string> = { ...launch.spec.env, MESOS_SANDBOX: SANDBOX_IN_IMAGE, ...prepared.env };
  for (const v of launch.command.environment?.variables ?? []) if (v.value !== undefined) env[v.name] = v.value;
  ctx.log.info(
    { containerId: launch.ex.containerId, image: image.name, taskId: launch.record.info.taskId },
    `provisioned the image '${image.name}' for container ${launch.ex.containerId}`,
  );
  return { ...launch.spec, env, rootfs: prepared.rootfs, ...(prepared.argv ? { argv: prepared.argv } : {}) };
}

/** The container never started: its tasks end as FAILED (KILLED if a kill came first). */
async function launchFailed(ctx: AgentContext, fw: AgentFramework, ex: ExecutorRecord, record: AgentTaskRecord, e: unknown): Promise<void> {
  const killed = ex.killRequested;
  if (!killed) {
    ctx.log.error({ frameworkId: fw.id, executorId: ex.id, err: describeError(e) }, 'container launch failed');
    ctx.metrics.inc('slave/container_launch_errors');
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
    if (killed) await ctx.agentUpdate(fw, ex, rec.info.taskId, state, 'REASON_TASK_KILLED_DURING_LAUNCH', 'Killed before the task started');
    else await ctx.agentUpdate(fw, ex, rec.info.taskId, state, 'REASON_CONTAINER_LAUNCH_FAILED', `Failed to launch container: ${describeError(e)}`);
  }
}

/**
 * What the health checks of a command task recovered after an agent restart need: its sandbox,
 * its environment and user as its launch made them (in an image: MESOS_SANDBOX inside it; the
 * image's own Env is not known again), rebuilt from the checkpointed TaskInfo.
 */
export function recoveredProbeTarget(ctx: AgentContext, fw: AgentFramework, ex: ExecutorRecord, task: TaskInfo): ProbeTarget | undefined {
  const command = task.command;
  if (!command) return undefined;
  const env = executorEnv(ctx, fw, ex, command);
  let image: ContainerImage | undefined;
  try {
    image = containerImageOf(task.container, 'container');
  } catch {
    image = undefined;
  }
  if (image) env.MESOS_SANDBOX = SANDBOX_IN_IMAGE;
  const user = ctx.options.switchUser ? (command.user ?? fw.info.user) : undefined;
  return { sandbox: ex.sandbox, env, ...(user === undefined ? {} : { user }) };
}

function executorEnv(ctx: AgentContext, fw: AgentFramework, ex: ExecutorRecord, command: CommandInfo): Record<string, string> {
  const env: Record<string, string> = { ...ctx.options.executorEnvironment };
  for (const v of command.environment?.variables ?? []) if (v.value !== undefined) env[v.name] = v.value;
  Object.assign(env, {
    MESOS_FRAMEWORK_ID: fw.id,
    MESOS_EXECUTOR_ID: ex.id,
    MESOS_DIRECTORY: ex.sandbox,
    MESOS_SANDBOX: ex.sandbox,
    MESOS_SLAVE_ID: ctx.id!,
    MESOS_AGENT_ID: ctx.id!,
    MESOS_SLAVE_PID: ctx.pid,
    MESOS_AGENT_ENDPOINT: `${ctx.options.ip}:${ctx.options.port}`,
    MESOS_CHECKPOINT: fw.info.checkpoint ? '1' : '0',
    MESOS_HTTP_COMMAND_EXECUTOR: '0',
    MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: `${Math.round(ctx.options.executorShutdownGracePeriodMs)}ms`,
    LIBPROCESS_PORT: '0',
  });
  // Only a custom executor talks to the executor API, with the token the agent signed for it
  // here; no other token (the agent's own environment may hold one) reaches a container.
  if (ctx.options.executorTokens && !ex.isCommand) env.MESOS_EXECUTOR_AUTHENTICATION_TOKEN = ctx.options.executorTokens.issue(fw.id, ex.id, ex.containerId);
  else delete env.MESOS_EXECUTOR_AUTHENTICATION_TOKEN;
  if (fw.info.checkpoint) {
    env.MESOS_RECOVERY_TIMEOUT = '15mins';
    env.MESOS_SUBSCRIPTION_BACKOFF_MAX = '2secs';
  }
  return env;
}
