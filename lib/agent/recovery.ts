/**
 * The agent's recovery after a restart: what recover() does with the checkpoints of the last
 * run (read by recover.ts) — re-attach to its supervisors and rebuild its records, or end it.
 */
import { rename } from 'node:fs/promises';
import { CorralError, describeError } from '../common/errors.ts';
import { Resources } from '../common/resources/index.ts';
import { type ExecutorInfo, type TaskStatus, isTerminal } from '../proto/messages.ts';
import { commandExecutorName } from './command_executor.ts';
import type { RecoveredRun } from './containerizer/containerizer.ts';
import type { AgentContext } from './context.ts';
import { armRegistrationTimer, executorTerminated } from './executors.ts';
import { startHealthChecks } from './health_checker.ts';
import { recoveredProbeTarget } from './launch.ts';
import { type AgentFramework, AgentTaskRecord, ExecutorRecord, toResources } from './records.ts';
import {
  checkpointBootId,
  checkpointedBootId,
  forgetAgentId,
  readCheckpoints,
  strictRecoveryError,
  type RecoveredRunState,
  type RecoveredState,
} from './recover.ts';
import { applyCheckpointed, readCheckpointedResources } from './volumes.ts';

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
export async function recover(ctx: AgentContext): Promise<RecoveryReport> {
  const t0 = performance.now();
  const paths = ctx.options.paths;
  // The fetcher cache survives a restart (Mesos wipes it): rebuilt from disk, damaged entries dropped.
  await ctx.fetcher.recoverCache().catch((e) => ctx.log.warn({ dir: ctx.fetcher.cache.dir, err: describeError(e) }, 'cannot recover the fetcher cache'));
  // Reservations and volumes survive even a new agent id (they live under meta/resources).
  const checkpointed = await readCheckpointedResources(paths);
  applyCheckpointed(ctx.options.resources, checkpointed); // throws when they no longer fit
  ctx.checkpointed = checkpointed;
  const bootId = ctx.options.bootId;
  const lastBootId = bootId === undefined ? undefined : await checkpointedBootId(paths);
  const rebooted = lastBootId !== undefined && lastBootId !== bootId;
  const strict = ctx.options.strict ?? true;
  const mode = ctx.options.recoverMode ?? 'reconnect';
  const state = await readCheckpoints(paths, ctx.log);
  let report: RecoveryReport;
  if (!state) {
    await ctx.options.containerizer.recover([]); // orphans only
    if (mode === 'cleanup') await ctx.options.containerizer.orphansCleaned?.();
    await ctx.options.images?.recover(new Map(), ctx.log);
    report = { agentId: undefined, executors: 0, tasks: 0, orphans: 0, killed: 0, rebooted: false, problems: [] };
  } else if (rebooted || mode === 'cleanup') {
    if (!rebooted && strict && state.problems.length > 0) throw strictRecoveryError(state.problems);
    if (rebooted)
      ctx.log.warn(
        { agentId: state.agentId, lastBootId, bootId },
        'the host rebooted since the last run: its tasks are not recovered; registering as a new agent',
      );
    const live = state.runs.filter((r) => !r.completed);
    const killed = await endLastRun(ctx, live, rebooted ? 0 : ctx.options.defaultKillGraceMs);
    await forgetAgentId(paths);
    await ctx.options.images?.recover(new Map(), ctx.log);
    if (!rebooted) ctx.log.info({ agentId: state.agentId, killed }, '--recover=cleanup: every container of the last run is gone; the agent id is forgotten');
    report = { agentId: undefined, executors: 0, tasks: 0, orphans: 0, killed, rebooted, problems: state.problems };
  } else {
    report = await reconnect(ctx, state, strict);
  }
  if (bootId !== undefined) await checkpointBootId(paths, bootId);
  ctx.metrics.inc('slave/recovery_errors', report.problems.length);
  ctx.recoveryMs = performance.now() - t0;
  return report;
}

/** Kill every container of `runs` (and orphans) and wait until all are cleaned up. Returns how many were still running. */
async function endLastRun(ctx: AgentContext, runs: readonly RecoveredRunState[], graceMs: number): Promise<number> {
  const c = ctx.options.containerizer;
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
async function reconnect(ctx: AgentContext, state: RecoveredState, strict: boolean): Promise<RecoveryReport> {
  const paths = ctx.options.paths;
  if (strict && state.problems.length > 0) throw strictRecoveryError(state.problems);
  const mine = ctx.agentInfo();
  const old = state.agentInfo;
  if (
    old &&
    (old.hostname !== mine.hostname ||
      !Resources.of(old.resources).equals(ctx.options.resources) ||
      JSON.stringify(old.attributes) !== JSON.stringify(mine.attributes))
  ) {
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
          latestOf.set(t.updatesFile, await ctx.updates.recover(run.frameworkId, t.info.taskId, t.updatesFile));
        } catch (e) {
          problems.push(`${t.updatesFile}: ${describeError(e)}`);
          ctx.log.warn({ path: t.updatesFile, err: describeError(e) }, 'a checkpoint cannot be read (fatal under --strict, else skipped)');
          if (!strict) await rename(t.updatesFile, paths.damagedCopy(t.updatesFile)).catch(() => {});
        }
      }),
    ),
  );
  const attach: [AgentFramework, ExecutorRecord][] = [];
  const recoveredRunning = new Map<AgentTaskRecord, TaskStatus>();
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
    const fw = ctx.framework(run.frameworkId, fwInfo);
    const command = 'commandTask' in run.executor;
    const info = command ? undefined : (run.executor as ExecutorInfo);
    let resources = info ? toResources(info.resources) : Resources.EMPTY;
    for (const t of run.tasks) resources = resources.plus(toResources(t.info.resources));
    const first = run.tasks[0]?.info;
    const cmd = info?.command ?? first?.command;
    const name = info?.name ?? commandExecutorName(first?.taskId ?? run.executorId, cmd);
    const ex = new ExecutorRecord(
      run.executorId,
      fw.id,
      run.containerId,
      paths.sandbox(state.agentId, fw.id, run.executorId, run.containerId),
      info,
      resources,
      name,
      info?.source ?? run.executorId,
    );
    for (const t of run.tasks) {
      const latest = latestOf.get(t.updatesFile);
      const rec = new AgentTaskRecord(t.info, fw.id, ex.id);
      rec.state = latest?.state ?? 'TASK_STAGING';
      if (latest?.state === 'TASK_RUNNING') recoveredRunning.set(rec, latest);
      if (isTerminal(rec.state) && !ctx.updates.hasPending(fw.id, t.info.taskId)) ex.completedTasks.push(rec);
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
  ctx.id = state.agentId;
  const containers = await ctx.options.containerizer.recover(Array.from(runs.values()));
  // The root filesystems of containers with an image: kept while they run, removed when they end.
  await ctx.options.images?.recover(containers, ctx.log);
  for (const [fw, ex] of attach) {
    const c = containers.get(ex.containerId);
    const termination = c ? c.termination : Promise.resolve({ status: -1, message: 'the container could not be recovered' });
    if (c) ex.container = c;
    ex.done = termination
      .then((t) => executorTerminated(ctx, fw, ex, t))
      .catch((e) => ctx.log.error({ frameworkId: fw.id, executorId: ex.id, err: describeError(e) }, 'handling the end of an executor failed'));
    // A command task's health checks go on (the agent is its command executor).
    if (ex.isCommand && c) {
      for (const rec of ex.tasks.values()) {
        if (rec.state !== 'TASK_RUNNING' || rec.info.healthCheck === undefined) continue;
        const target = recoveredProbeTarget(ctx, fw, ex, rec.info);
        const latest = recoveredRunning.get(rec);
        if (target) startHealthChecks(ctx, fw, ex, rec, target, { healthy: latest?.healthy });
      }
    }
    if (!ex.isCommand && c) {
      armRegistrationTimer(
        ctx,
        fw,
        ex,
        ctx.options.executorReregistrationTimeoutMs ?? 15_000,
        'recovered executor did not subscribe again in time; destroying its container',
      );
    }
  }
  for (const id of orphans) if (containers.has(id)) void ctx.options.containerizer.kill(id, 0);
  ctx.log.info({ agentId: ctx.id, executors: attach.length, tasks, orphans: orphans.length, problems: problems.length }, 'recovered from checkpoints');
  return { agentId: ctx.id, executors: attach.length, tasks, orphans: orphans.length, killed: 0, rebooted: false, problems };
}
