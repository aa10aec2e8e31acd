/**
 * A command task's health check (TaskInfo.health_check), with Mesos's semantics: the first
 * check `delay_seconds` after the checker starts, the next `interval_seconds` after one ends;
 * a check that does not answer within `timeout_seconds` (0: no limit) fails. Failures before the
 * first success, within `grace_period_seconds` of the start, are ignored; every other failure is
 * counted and reported unhealthy, and the `consecutive_failures`-th in a row asks for the kill.
 * Healthy is reported on the first success and on the first after failures. No process of its
 * own: a check is a probe the containerizer runs (containerizer/health_probes.ts), and the
 * timers are the agent's clock's.
 */
import type { Clock, TimerHandle } from '../common/clock.ts';
import { describeError } from '../common/errors.ts';
import { type HealthCheck, decodeHealthCheck } from '../proto/health_check.ts';
import { isTerminal } from '../proto/messages.ts';
import type { ProbeTarget } from './containerizer/health_probes.ts';
import type { AgentContext } from './context.ts';
import type { AgentFramework, AgentTaskRecord, ExecutorRecord } from './records.ts';

/** One check: resolves true (healthy) or false, within `timeoutMs` (0: none). */
export type Probe = (timeoutMs: number) => Promise<boolean>;

export interface HealthReport {
  readonly healthy: boolean;
  /** The consecutive failures reached `consecutive_failures`: kill the task. */
  readonly kill: boolean;
  readonly consecutiveFailures: number;
}

export class HealthChecker {
  private timer: TimerHandle | undefined;
  private stopped = false;
  private readonly startedAt: number;
  private succeeded = false;
  private failures = 0;

  /**
   * `resumed`: the health last reported before an agent restart. The checks go on from it (the
   * first one `interval_seconds` later; no grace period; healthy reported again only after a
   * failure, unhealthy again only on a failure), as Mesos's checker, which lives in the command
   * executor, never stops across an agent restart.
   */
  constructor(
    private readonly check: HealthCheck,
    private readonly clock: Clock,
    private readonly probe: Probe,
    private readonly report: (r: HealthReport) => void,
    resumed?: boolean,
  ) {
    this.startedAt = clock.now();
    if (resumed === undefined) {
      this.schedule(check.delaySeconds * 1000);
      return;
    }
    this.succeeded = true;
    // Last reported unhealthy: the next success is reported; the count of failures starts again.
    this.failures = resumed ? 0 : 1;
    this.schedule(check.intervalSeconds * 1000);
  }

  /** No more checks; a check under way is ignored when it ends. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(ms, () => {
      this.timer = undefined;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    let ok: boolean;
    try {
      ok = await this.probe(this.check.timeoutSeconds * 1000);
    } catch {
      ok = false;
    }
    if (this.stopped) return;
    if (ok) {
      if (!this.succeeded || this.failures > 0) this.report({ healthy: true, kill: false, consecutiveFailures: 0 });
      this.succeeded = true;
      this.failures = 0;
    } else if (!this.succeeded && this.check.gracePeriodSeconds > 0 && this.clock.now() - this.startedAt <= this.check.gracePeriodSeconds * 1000) {
      // In the grace period, before any success: not counted.
    } else {
      this.failures++;
      const kill = this.failures >= this.check.consecutiveFailures;
      this.report({ healthy: false, kill, consecutiveFailures: this.failures });
      if (kill) {
        this.stop();
        return;
      }
    }
    this.schedule(this.check.intervalSeconds * 1000);
  }
}

/**
 * Start the health checks of a command task that has TaskInfo.health_check (the agent plays
 * Mesos's command executor). Each change of health is a TASK_RUNNING update with `healthy` and
 * REASON_TASK_HEALTH_CHECK_STATUS_UPDATED; at `consecutive_failures` the task is killed as a
 * framework's KILL kills it, and its terminal update says `healthy: false`.
 */
export function startHealthChecks(
  ctx: AgentContext,
  fw: AgentFramework,
  ex: ExecutorRecord,
  task: AgentTaskRecord,
  target: ProbeTarget,
  /** Recovered after an agent restart: the health last reported (undefined: none yet). */
  resumed?: { readonly healthy: boolean | undefined },
): void {
  const json = task.info.healthCheck;
  const containerizer = ctx.options.containerizer;
  if (json === undefined || !containerizer.probe || ex.killRequested) return;
  let check: HealthCheck;
  try {
    check = decodeHealthCheck(json);
  } catch (e) {
    // The master refuses such a task; one from an older master is run unchecked.
    ctx.log.warn({ frameworkId: fw.id, taskId: task.info.taskId, err: describeError(e) }, 'not health-checking the task: its health check is invalid');
    return;
  }
  const probe: Probe = (timeoutMs) => containerizer.probe!(ex.containerId, check, target, timeoutMs);
  ex.healthChecker = new HealthChecker(
    check,
    ctx.options.clock,
    probe,
    (r) => {
      if (ex.killRequested || isTerminal(task.state)) return;
      const taskId = task.info.taskId;
      if (r.kill) {
        ex.healthy = false;
        ctx.log.info(
          { frameworkId: fw.id, taskId, consecutiveFailures: r.consecutiveFailures },
          `Killing task ${taskId} of framework ${fw.id}: its ${check.type} health check failed ${r.consecutiveFailures} times in a row`,
        );
      } else {
        ctx.log.info(
          { frameworkId: fw.id, taskId, healthy: r.healthy },
          `Task ${taskId} of framework ${fw.id} is ${r.healthy ? 'healthy' : 'unhealthy'} (${check.type} health check)`,
        );
      }
      void ctx
        .handleUpdate(fw, ex, task, {
          taskId,
          state: 'TASK_RUNNING',
          source: 'SOURCE_EXECUTOR',
          reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED',
          healthy: r.healthy,
        })
        .then(() => (r.kill ? ctx.killTask(fw.id, taskId, undefined) : undefined))
        .catch((e: unknown) => ctx.log.error({ frameworkId: fw.id, taskId, err: describeError(e) }, 'health check update failed'));
    },
    resumed?.healthy,
  );
  if (resumed)
    ctx.log.info(
      { frameworkId: fw.id, taskId: task.info.taskId },
      `Resumed the ${check.type} health checks of recovered task ${task.info.taskId} of framework ${fw.id}`,
    );
}
