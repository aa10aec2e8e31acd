/**
 * The agent's records of frameworks, executors and tasks: what it runs, as /state shows it and
 * as re-registration reports it.
 */
import type { TimerHandle } from '../common/clock.ts';
import type { Sink } from '../common/sink.ts';
import { type ResourceInput, Resources, validateResource } from '../common/resources/index.ts';
import type { ExecutorEvent, ExecutorInfo, FrameworkInfo, TaskInfo, TaskState } from '../proto/messages.ts';
import type { Container } from './containerizer/containerizer.ts';

export type ExecutorState = 'REGISTERING' | 'RUNNING' | 'TERMINATING' | 'TERMINATED';

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
  /** After SHUTDOWN: destroys the container when the executor has not exited within its grace period. */
  shutdownTimer: TimerHandle | undefined;
  /** A command task's health checks (TaskInfo.health_check), while they run. */
  healthChecker: { stop(): void } | undefined;
  /** false once its health checks had the task killed: its terminal update says so (as Mesos's). */
  healthy: boolean | undefined;
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
  /** The last checkpoint of `info` asked for (launch.ts, checkpointFrameworkInfo). */
  infoCheckpoint: { readonly path: string; readonly text: string; readonly written: Promise<void> } | undefined = undefined;
  constructor(
    readonly id: string,
    public info: FrameworkInfo,
  ) {}
}

/** Resources the master already validated; checked again, since they came over the wire. */
export function toResources(list: readonly ResourceInput[]): Resources {
  return Resources.of(list.map((r, i) => validateResource(r, `resources[${i}]`)));
}
