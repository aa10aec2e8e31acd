/**
 * The oversubscription module APIs (as in Mesos), for people who write their own estimator or
 * QoS controller. The agent calls `initialize(usage)` once, then:
 *
 * - `ResourceEstimator.oversubscribable()` every `--oversubscribed_resources_interval`: the most
 *   revocable resources the agent could offer now, ON TOP of the revocable resources its
 *   executors already hold (the agent adds those). Each answer replaces the last. Entries need
 *   not be marked revocable: the agent marks them. A promise that never settles stalls the loop.
 * - `QoSController.corrections()` again `--qos_correction_interval_min` after each answer: the
 *   executors to evict. It may stay pending as long as it likes (the noop controller never
 *   answers). An evicted executor's container is destroyed and its tasks go TASK_LOST with
 *   REASON_CONTAINER_PREEMPTED (Mesos 0.23 called the same enum value REASON_EXECUTOR_PREEMPTED).
 *
 * Both get the agent's `usage()`: every live executor with what it was given and, where the
 * containerizer can measure it, its statistics (ResourceStatistics names, snake_case).
 */
import type { Resources } from '../../common/resources/index.ts';

export interface ExecutorUsage {
  readonly frameworkId: string;
  readonly executorId: string;
  readonly containerId: string;
  /** The executor's and its live tasks' resources. */
  readonly allocated: Resources;
  /** Any entry revocable: the whole container counts as revocable (as in Mesos). */
  readonly revocable: boolean;
  readonly tasks: readonly { readonly taskId: string; readonly resources: Resources }[];
  /** ResourceStatistics (cpus_user_time_secs, cpus_system_time_secs, mem_rss_bytes, timestamp, ...). */
  readonly statistics?: Readonly<Record<string, number>>;
}

export interface ResourceUsage {
  readonly executors: readonly ExecutorUsage[];
  /** The agent's total (non-revocable) resources. */
  readonly total: Resources;
}

export type UsageSource = () => Promise<ResourceUsage>;

export interface QoSCorrection {
  readonly type: 'KILL';
  readonly kill: { readonly frameworkId: string; readonly executorId: string };
}

export interface ResourceEstimator {
  initialize(usage: UsageSource): void;
  oversubscribable(): Promise<Resources>;
}

export interface QoSController {
  initialize(usage: UsageSource): void;
  corrections(): Promise<QoSCorrection[]>;
}
