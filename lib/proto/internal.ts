/**
 * Corral's own master ↔ agent protocol (not a Mesos wire format: Mesos used libprocess
 * messages here). An agent opens a stream to the master with REGISTER or REREGISTER and
 * receives MasterToAgent records on it; everything else it says is a POST of an AgentToMaster
 * call carrying the stream id. Embedded Mesos messages use the v1 JSON codecs.
 */
import type { Resource } from '../common/resources/index.ts';
import type { AgentInfo, ExecutorInfo, FrameworkInfo, KillPolicy, TaskInfo, TaskState, TaskStatus } from './messages.ts';

/** The header that carries the agent's id: on the master's answer to a subscription, and on the agent's calls. */
export const AGENT_ID_HEADER = 'corral-agent-id';
/** The header that carries the agent's stream id on its calls. */
export const AGENT_STREAM_HEADER = 'corral-agent-stream-id';
/** Where an agent opens its stream (REGISTER or REREGISTER). */
export const AGENT_SUBSCRIBE_PATH = '/internal/agent/subscribe';
/** Where an agent POSTs its other calls. */
export const AGENT_CALL_PATH = '/internal/agent/call';

/** A task as an agent reports it when re-registering. */
export interface AgentTask {
  readonly frameworkId: string;
  readonly executorId?: string;
  readonly task: TaskInfo;
  readonly state: TaskState;
  /** The latest status the agent holds, acknowledged or not. */
  readonly latestStatus?: TaskStatus;
}

export interface AgentExecutor {
  readonly frameworkId: string;
  readonly executorInfo: ExecutorInfo;
}

export type AgentToMaster =
  /** `ip`: the address the agent is reached at (--advertise_ip); absent, the master takes the one it sees the agent connect from. */
  | { readonly type: 'REGISTER'; readonly agentInfo: AgentInfo; readonly version: string; readonly ip?: string }
  | {
      readonly type: 'REREGISTER';
      readonly agentId: string;
      readonly agentInfo: AgentInfo;
      readonly version: string;
      readonly ip?: string;
      readonly tasks: readonly AgentTask[];
      readonly executors: readonly AgentExecutor[];
      readonly frameworks: readonly FrameworkInfo[];
    }
  | { readonly type: 'STATUS_UPDATE'; readonly frameworkId: string; readonly status: TaskStatus }
  | { readonly type: 'EXECUTOR_EXITED'; readonly frameworkId: string; readonly executorId: string; readonly status: number }
  | { readonly type: 'EXECUTOR_MESSAGE'; readonly frameworkId: string; readonly executorId: string; readonly data: string }
  | { readonly type: 'PONG' }
  /** Revocable resources the agent's estimator says it can oversubscribe (replaces the last). */
  | { readonly type: 'UPDATE_OVERSUBSCRIBED'; readonly oversubscribed: readonly Resource[] };

export type MasterToAgent =
  | { readonly type: 'REGISTERED'; readonly agentId: string; readonly masterId: string }
  | { readonly type: 'REREGISTERED'; readonly agentId: string; readonly masterId: string }
  | { readonly type: 'RUN_TASK'; readonly frameworkId: string; readonly frameworkInfo: FrameworkInfo; readonly task: TaskInfo }
  | { readonly type: 'KILL_TASK'; readonly frameworkId: string; readonly taskId: string; readonly killPolicy?: KillPolicy }
  | { readonly type: 'ACKNOWLEDGE'; readonly frameworkId: string; readonly taskId: string; readonly uuid: string }
  | { readonly type: 'SHUTDOWN_FRAMEWORK'; readonly frameworkId: string }
  | { readonly type: 'SHUTDOWN_EXECUTOR'; readonly frameworkId: string; readonly executorId: string }
  | { readonly type: 'FRAMEWORK_MESSAGE'; readonly frameworkId: string; readonly executorId: string; readonly data: string }
  | { readonly type: 'UPDATE_FRAMEWORK'; readonly frameworkId: string; readonly frameworkInfo: FrameworkInfo }
  /** The agent's checkpointed resources (dynamic reservations, persistent volumes), in full. */
  | { readonly type: 'CHECKPOINT_RESOURCES'; readonly resources: readonly Resource[] }
  | { readonly type: 'PING' }
  /** The master removed this agent: it must kill its tasks and register anew. */
  | { readonly type: 'SHUTDOWN'; readonly message: string };
