/**
 * What the agent's executors hold and use: the usage the oversubscription loops see (the
 * resource estimator and the QoS controller, oversubscription/), the eviction a QoS correction
 * asks for, and the sum the agent's endpoints report as used. The Agent hands these out as
 * `usage()`, `preempt()` and `allocatedResources()`.
 */
import { Resources } from '../common/resources/index.ts';
import { isTerminal } from '../proto/messages.ts';
import { numericStatistics } from './containerizer/isolator.ts';
import type { AgentContext } from './context.ts';
import type { ExecutorUsage, ResourceUsage } from './oversubscription/index.ts';
import { type ExecutorRecord, toResources } from './records.ts';

/** An executor's live and queued tasks, with their resources. */
function liveTasks(ex: ExecutorRecord): { taskId: string; resources: Resources }[] {
  const tasks = Array.from(ex.tasks.values())
    .filter((t) => !isTerminal(t.state))
    .map((t) => ({ taskId: t.info.taskId, resources: toResources(t.info.resources) }));
  for (const q of ex.queued.values()) tasks.push({ taskId: q.taskId, resources: toResources(q.resources) });
  return tasks;
}

/** What a live executor holds: a command task its resources; a custom executor its own and those of its live and queued `tasks`. */
function allocationOf(ex: ExecutorRecord, tasks: readonly { resources: Resources }[]): Resources {
  if (ex.isCommand) return ex.resources;
  let allocated = toResources(ex.info!.resources);
  for (const t of tasks) allocated = allocated.plus(t.resources);
  return allocated;
}

/** What the estimator and the QoS controller see: every live executor, its allocation and statistics. */
export async function resourceUsage(ctx: AgentContext): Promise<ResourceUsage> {
  const executors: ExecutorUsage[] = [];
  for (const fw of ctx.frameworks.values()) {
    for (const ex of fw.executors.values()) {
      if (ex.state === 'TERMINATED') continue;
      const tasks = liveTasks(ex);
      const allocated = allocationOf(ex, tasks);
      const full = ex.container ? await ctx.options.containerizer.usage(ex.containerId).catch(() => undefined) : undefined;
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
  return { executors, total: ctx.options.resources };
}

/** Resources held by live executors and their live and queued tasks (revocable ones included). */
export function allocatedResources(ctx: AgentContext): Resources {
  let sum = Resources.EMPTY;
  for (const fw of ctx.frameworks.values()) {
    for (const ex of fw.executors.values()) {
      if (ex.state !== 'TERMINATED') sum = sum.plus(allocationOf(ex, ex.isCommand ? [] : liveTasks(ex)));
    }
  }
  return sum;
}

/**
 * A QoS correction's KILL: a REGISTERING or RUNNING executor becomes TERMINATING
 * and its container is destroyed at once; its tasks are then reported TASK_LOST with
 * REASON_CONTAINER_PREEMPTED (executorTerminated). Unknown or terminating ones are skipped.
 */
export async function preempt(ctx: AgentContext, frameworkId: string, executorId: string): Promise<void> {
  const ex = ctx.frameworks.get(frameworkId)?.executors.get(executorId);
  if (!ex || (ex.state !== 'REGISTERING' && ex.state !== 'RUNNING')) return;
  ctx.metrics.inc('slave/executors_preempted');
  ctx.log.info(
    { frameworkId, executorId, containerId: ex.containerId },
    `evicting executor ${executorId} of framework ${frameworkId} (container ${ex.containerId}): the QoS controller asked to free its revocable resources`,
  );
  ex.preempted = true;
  ex.killRequested = true;
  ex.state = 'TERMINATING';
  ex.registrationTimer?.cancel();
  ex.fetching?.abort();
  await ex.starting;
  if (ex.container) await ctx.options.containerizer.kill(ex.containerId, 0);
}
