/**
 * The master's records of frameworks, agents, tasks, executors and offers. The master's parts
 * share them through MasterState; the operator endpoints read them through MasterView.
 */
import type { TimerHandle } from '../common/clock.ts';
import type { Sink } from '../common/sink.ts';
import { Resources, checkpointedOf } from '../common/resources/index.ts';
import type { MasterToAgent } from '../proto/internal.ts';
import {
  type AgentInfo,
  type ExecutorInfo,
  type FrameworkInfo,
  type SchedulerEvent,
  type TaskInfo,
  type TaskState,
  type TaskStatus,
  isTerminal,
} from '../proto/messages.ts';

export interface StatusEntry {
  readonly state: TaskState;
  readonly timestamp: number;
  readonly healthy?: boolean;
  /** Why, as the update said it (the operator API and the web UI show a task's history). */
  readonly reason?: TaskStatus['reason'];
  readonly message?: string;
  readonly source?: TaskStatus['source'];
}

export class Task {
  state: TaskState = 'TASK_STAGING';
  statusUpdateState: TaskState | undefined;
  statusUpdateUuid: string | undefined;
  latest: TaskStatus | undefined;
  readonly statuses: StatusEntry[] = [];
  constructor(
    readonly info: TaskInfo,
    readonly frameworkId: string,
    readonly agentId: string,
    /** Undefined for command tasks (run by the agent's built-in command executor). */
    readonly executorId: string | undefined,
    readonly resources: Resources,
    readonly user: string | undefined,
  ) {}

  get id(): string {
    return this.info.taskId;
  }
}

export interface OfferRecord {
  readonly id: string;
  readonly frameworkId: string;
  readonly agentId: string;
  readonly resources: Resources;
  timer?: TimerHandle;
}

export interface MasterExecutorRecord {
  readonly info: ExecutorInfo;
  readonly resources: Resources;
}

export class Framework {
  sink: Sink<SchedulerEvent> | undefined;
  streamId: string | undefined;
  connected = false;
  active = false;
  reregisteredTime: number | undefined;
  unregisteredTime: number | undefined;
  heartbeat: TimerHandle | undefined;
  failover: TimerHandle | undefined;
  readonly offers = new Map<string, OfferRecord>();
  readonly tasks = new Map<string, Task>();
  readonly completedTasks: Task[] = [];
  /** agent id → executor id → executor. */
  readonly executors = new Map<string, Map<string, MasterExecutorRecord>>();
  constructor(
    readonly id: string,
    public info: FrameworkInfo,
    readonly registeredTime: number,
  ) {}

  capable(type: FrameworkInfo['capabilities'][number]): boolean {
    return this.info.capabilities.includes(type);
  }
}

export class AgentRecord {
  sink: Sink<MasterToAgent> | undefined;
  streamId: string | undefined;
  connected = false;
  active = true;
  reregisteredTime: number | undefined;
  missedPings = 0;
  pongSincePing = true;
  pingTimer: TimerHandle | undefined;
  readonly offers = new Set<string>();
  /** framework id → task id → task. */
  readonly tasks = new Map<string, Map<string, Task>>();
  /** framework id → executor id → executor. */
  readonly executors = new Map<string, Map<string, MasterExecutorRecord>>();
  /** Kills asked for while the agent was away: sent when it comes back. */
  readonly pendingKills = new Map<string, Set<string>>();
  total: Resources;
  /**
   * The principal the agent authenticated as when it (re-)registered with this master (agents
   * authenticate): only that principal may re-register this agent id.
   */
  principal: string | undefined;
  /** Dynamic reservations and persistent volumes: what the agent checkpoints. */
  get checkpointed(): Resources {
    return checkpointedOf(this.total);
  }
  constructor(
    readonly id: string,
    public info: AgentInfo,
    public ip: string,
    readonly registeredTime: number,
  ) {
    this.total = Resources.of(info.resources);
  }

  get port(): number {
    return this.info.port ?? 5051;
  }

  get pid(): string {
    return `slave(1)@${this.ip}:${this.port}`;
  }
}

/** Resources in use on an agent by live tasks and executors, per framework. */
export function usedOn(agent: AgentRecord): Map<string, Resources> {
  const used = new Map<string, Resources>();
  const add = (fwId: string, r: Resources) => used.set(fwId, (used.get(fwId) ?? Resources.EMPTY).plus(r));
  for (const [fwId, tasks] of agent.tasks) for (const t of tasks.values()) if (!isTerminal(t.state)) add(fwId, t.resources);
  for (const [fwId, exs] of agent.executors) for (const e of exs.values()) add(fwId, e.resources);
  return used;
}
