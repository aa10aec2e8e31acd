/**
 * The life of an executor's container: a custom executor's registration timeout, its tasks,
 * its shutdown, and what the agent reports when a container ends (the command executor's part
 * is in command_executor.ts).
 */
import { type TaskInfo, type TaskReason, isTerminal } from '../proto/messages.ts';
import { writeJsonAtomic } from './checkpoint.ts';
import { commandKillGraceMs, commandTaskEnd } from './command_executor.ts';
import type { Termination } from './containerizer/containerizer.ts';
import type { AgentContext } from './context.ts';
import { type AgentFramework, AgentTaskRecord, type ExecutorRecord } from './records.ts';

/**
 * Start a custom executor's registration timeout: an executor that has not subscribed when it
 * fires has its container destroyed (its tasks are then lost, see executorTerminated).
 */
export function armRegistrationTimer(ctx: AgentContext, fw: AgentFramework, ex: ExecutorRecord, timeoutMs: number, warning: string): void {
  ex.registrationTimer = ctx.options.clock.setTimer(timeoutMs, () => {
    ex.registrationTimer = undefined;
    if (ex.state !== 'REGISTERING') return;
    ctx.log.warn({ frameworkId: fw.id, executorId: ex.id }, warning);
    ex.killRequested = true;
    void ctx.options.containerizer.kill(ex.containerId, 0);
  });
}

/**
 * Shut an executor down as Mesos's agent does. A custom executor is sent SHUTDOWN (dropped if it
 * has not subscribed yet) and given its grace period (ExecutorInfo.shutdown_grace_period, else
 * --executor_shutdown_grace_period) to end its tasks and exit; only when it is still there after
 * that is its container destroyed. A command task (no executor process here: the agent plays
 * Mesos's command executor) is killed as that executor kills it on SHUTDOWN: SIGTERM, then
 * SIGKILL after the task's kill policy grace (else the default). A second shutdown of an
 * executor already shutting down changes nothing.
 */
export async function shutdownExecutor(ctx: AgentContext, ex: ExecutorRecord): Promise<void> {
  if (ex.state === 'TERMINATED') return;
  const again = ex.state === 'TERMINATING';
  ex.killRequested = true;
  ex.state = 'TERMINATING';
  ex.registrationTimer?.cancel();
  ex.fetching?.abort();
  ex.healthChecker?.stop();
  if (ex.isCommand) {
    const task = Array.from(ex.tasks.values())[0];
    const graceMs = task ? commandKillGraceMs(undefined, task.info, ctx.options.defaultKillGraceMs) : ctx.options.defaultKillGraceMs;
    if (ex.container) await ctx.options.containerizer.kill(ex.containerId, graceMs);
    return;
  }
  if (again) return;
  const graceMs = ex.info?.shutdownGracePeriodNs !== undefined ? ex.info.shutdownGracePeriodNs / 1e6 : ctx.options.executorShutdownGracePeriodMs;
  if (ex.sink && !ex.sink.closed) ex.sink.send({ type: 'SHUTDOWN' });
  ctx.log.info(
    { frameworkId: ex.frameworkId, executorId: ex.id, containerId: ex.containerId, gracePeriodMs: graceMs },
    `Shutting down executor '${ex.id}' of framework ${ex.frameworkId}: sent SHUTDOWN; its container is destroyed if it is still running in ${graceMs} ms`,
  );
  ex.shutdownTimer?.cancel();
  ex.shutdownTimer = ctx.options.clock.setTimer(graceMs, () => {
    ex.shutdownTimer = undefined;
    if (ex.state === 'TERMINATED') return;
    ctx.log.info(
      { frameworkId: ex.frameworkId, executorId: ex.id, containerId: ex.containerId },
      `Killing executor '${ex.id}' of framework ${ex.frameworkId}: still running ${graceMs} ms after SHUTDOWN; destroying its container`,
    );
    void ctx.options.containerizer.kill(ex.containerId, 0);
  });
}

/** A task for a subscribed custom executor: sent to it at once. */
export function launchOnExecutor(ex: ExecutorRecord, task: TaskInfo): void {
  ex.tasks.set(task.taskId, new AgentTaskRecord(task, ex.frameworkId, ex.id));
  ex.sink!.send({ type: 'LAUNCH', launch: { task } });
}

/** The container ended: report its tasks (lost, failed or, for a command task, its command's end), checkpoint the run's end, tell the master. */
export async function executorTerminated(ctx: AgentContext, fw: AgentFramework, ex: ExecutorRecord, t: Termination): Promise<void> {
  ex.registrationTimer?.cancel();
  ex.shutdownTimer?.cancel();
  ex.shutdownTimer = undefined;
  ex.healthChecker?.stop();
  const wasRegistering = ex.state === 'REGISTERING';
  ex.state = 'TERMINATED';
  if (ex.sink && !ex.sink.closed) ex.sink.close();
  ctx.metrics.inc('slave/executors_terminated');
  if (ex.preempted) {
    for (const task of Array.from(ex.tasks.values())) {
      if (isTerminal(task.state)) continue;
      await ctx.agentUpdate(fw, ex, task.info.taskId, 'TASK_LOST', 'REASON_CONTAINER_PREEMPTED', 'Container preempted by QoS correction');
    }
    for (const q of Array.from(ex.queued.values())) {
      ex.queued.delete(q.taskId);
      await ctx.agentUpdate(fw, ex, q.taskId, 'TASK_LOST', 'REASON_CONTAINER_PREEMPTED', 'Container preempted by QoS correction');
    }
  }
  if (t.limitation) {
    // The container went over a limit (cgroups/mem: the OOM killer) and was destroyed: its
    // live tasks fail with the limitation's reason and text, from the agent, as in Mesos.
    for (const task of Array.from(ex.tasks.values())) {
      if (isTerminal(task.state)) continue;
      await ctx.agentUpdate(fw, ex, task.info.taskId, 'TASK_FAILED', t.limitation.reason, t.limitation.message);
    }
  }
  if (ex.isCommand) {
    const task = Array.from(ex.tasks.values())[0];
    if (task && !isTerminal(task.state)) {
      const { state, message } = commandTaskEnd(t, ex.killRequested);
      // Killed for failing its health checks: the terminal update says healthy: false, as Mesos's.
      if (ex.healthy === undefined) await ctx.executorUpdate(fw, ex, task, state, message);
      else await ctx.handleUpdate(fw, ex, task, { taskId: task.info.taskId, state, source: 'SOURCE_EXECUTOR', message, healthy: ex.healthy });
    }
  } else {
    const reason: TaskReason = wasRegistering && ex.killRequested ? 'REASON_EXECUTOR_REGISTRATION_TIMEOUT' : 'REASON_EXECUTOR_TERMINATED';
    for (const task of Array.from(ex.tasks.values())) {
      if (isTerminal(task.state)) continue;
      await ctx.agentUpdate(fw, ex, task.info.taskId, 'TASK_LOST', reason, `Executor terminated${t.message ? `: ${t.message}` : ''}`);
    }
    for (const q of Array.from(ex.queued.values())) {
      ex.queued.delete(q.taskId);
      await ctx.agentUpdate(fw, ex, q.taskId, 'TASK_LOST', reason, 'Executor terminated before it started the task');
    }
  }
  if (ctx.id !== undefined && fw.info.checkpoint) {
    // Without it, a restarted agent finds the run's supervisor gone and ends it the same way.
    await writeJsonAtomic(ctx.options.paths.sentinelFile(ctx.id, fw.id, ex.id, ex.containerId), { terminated: true }).catch((e: unknown) =>
      ctx.checkpointFailed(e, { frameworkId: fw.id, executorId: ex.id }),
    );
  }
  ctx.send({ type: 'EXECUTOR_EXITED', frameworkId: fw.id, executorId: ex.id, status: t.status });
  fw.executors.delete(ex.id);
  fw.completedExecutors.push(ex);
  if (fw.completedExecutors.length > 150) fw.completedExecutors.shift();
}
