/**
 * Corral's internal model of the Mesos v1 messages it speaks. Field names are
 * camelCase here; the codecs in lib/proto translate to and from the wire's snake_case JSON.
 * Conventions: ids are plain strings (the wire wraps them as {"value": …}); `bytes` fields are
 * base64 strings exactly as on the wire; durations are nanoseconds; resources are validated
 * `Resource` values, except where a framework submits them (tasks, executors, operations): those
 * are `ResourceInput`, decoded but not yet validated, because Mesos answers an invalid one with
 * TASK_ERROR or a dropped operation rather than a 400. Sub-messages Corral passes through without interpreting (container,
 * health checks, discovery) are kept as decoded JSON (`Passthrough`).
 */
import type { Label, Resource, ResourceInput } from '../common/resources/index.ts';

/** JSON kept as received (snake_case), forwarded unchanged. */
export type Passthrough = Record<string, unknown>;

export interface Labels {
  readonly labels: readonly Label[];
}

// ---------------------------------------------------------------------------------------------
// Small helpers

export interface Address {
  readonly hostname?: string;
  readonly ip?: string;
  readonly port: number;
}

export interface Url {
  readonly scheme: string;
  readonly address: Address;
  readonly path?: string;
}

export interface Filters {
  /** Default 5.0 on the wire. */
  readonly refuseSeconds: number;
}

export type AttributeValue =
  | { readonly type: 'SCALAR'; readonly scalar: number }
  | { readonly type: 'RANGES'; readonly ranges: readonly { readonly begin: number; readonly end: number }[] }
  | { readonly type: 'SET'; readonly set: readonly string[] }
  | { readonly type: 'TEXT'; readonly text: string };

export type Attribute = { readonly name: string } & AttributeValue;

// ---------------------------------------------------------------------------------------------
// Frameworks

export type CapabilityType =
  | 'REVOCABLE_RESOURCES'
  | 'TASK_KILLING_STATE'
  | 'GPU_RESOURCES'
  | 'SHARED_RESOURCES'
  | 'PARTITION_AWARE'
  | 'MULTI_ROLE'
  | 'RESERVATION_REFINEMENT'
  | 'REGION_AWARE';

export interface FrameworkInfo {
  readonly user: string;
  readonly name: string;
  readonly id?: string;
  /** Seconds; wire default 0.0. */
  readonly failoverTimeout: number;
  /** Wire default false. */
  readonly checkpoint: boolean;
  /** Wire default "*". */
  readonly role: string;
  readonly roles?: readonly string[];
  readonly hostname?: string;
  readonly principal?: string;
  readonly webuiUrl?: string;
  /** Unknown capability names are dropped when decoding. */
  readonly capabilities: readonly CapabilityType[];
  readonly labels?: Labels;
}

// ---------------------------------------------------------------------------------------------
// Tasks and executors

export interface Uri {
  readonly value: string;
  readonly executable?: boolean;
  /** Wire default true. */
  readonly extract: boolean;
  readonly cache?: boolean;
  readonly outputFile?: string;
  /** Corral: the file's expected sha256 (64 hex digits, lower case once decoded). */
  readonly sha256?: string;
}

export interface EnvironmentVariable {
  readonly name: string;
  readonly value?: string;
}

export interface CommandInfo {
  readonly uris: readonly Uri[];
  readonly environment?: { readonly variables: readonly EnvironmentVariable[] };
  /** Wire default true: run `value` with /bin/sh -c. */
  readonly shell: boolean;
  readonly value?: string;
  readonly arguments: readonly string[];
  readonly user?: string;
}

export interface KillPolicy {
  readonly gracePeriodNs?: number;
}

export type ExecutorType = 'DEFAULT' | 'CUSTOM';

export interface ExecutorInfo {
  readonly executorId: string;
  readonly frameworkId?: string;
  readonly type?: ExecutorType;
  readonly command?: CommandInfo;
  readonly container?: Passthrough;
  readonly resources: readonly ResourceInput[];
  readonly name?: string;
  readonly source?: string;
  readonly data?: string;
  readonly shutdownGracePeriodNs?: number;
  readonly labels?: Labels;
}

export interface TaskInfo {
  readonly name: string;
  readonly taskId: string;
  readonly agentId: string;
  readonly resources: readonly ResourceInput[];
  readonly executor?: ExecutorInfo;
  readonly command?: CommandInfo;
  readonly container?: Passthrough;
  readonly healthCheck?: Passthrough;
  readonly killPolicy?: KillPolicy;
  readonly data?: string;
  readonly labels?: Labels;
  readonly discovery?: Passthrough;
}

/** Every v1 task state name (a name the proto knows is read even if Corral never emits it). */
export const TASK_STATES = [
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_UNREACHABLE',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
  'TASK_UNKNOWN',
] as const;

export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set<TaskState>([
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
]);

export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.has(state);
}

export type TaskSource = 'SOURCE_MASTER' | 'SOURCE_AGENT' | 'SOURCE_EXECUTOR';

/**
 * `TaskStatus.Reason`, v1 spelling (AGENT where the v0 proto says SLAVE), values 0–34: the codec
 * reads any of them, Corral emits some.
 */
export const TASK_REASONS = [
  'REASON_COMMAND_EXECUTOR_FAILED',
  'REASON_EXECUTOR_TERMINATED',
  'REASON_EXECUTOR_UNREGISTERED',
  'REASON_FRAMEWORK_REMOVED',
  'REASON_GC_ERROR',
  'REASON_INVALID_FRAMEWORKID',
  'REASON_INVALID_OFFERS',
  'REASON_MASTER_DISCONNECTED',
  'REASON_CONTAINER_LIMITATION_MEMORY',
  'REASON_RECONCILIATION',
  'REASON_AGENT_DISCONNECTED',
  'REASON_AGENT_REMOVED',
  'REASON_AGENT_RESTARTED',
  'REASON_AGENT_UNKNOWN',
  'REASON_TASK_INVALID',
  'REASON_TASK_UNAUTHORIZED',
  'REASON_TASK_UNKNOWN',
  'REASON_CONTAINER_PREEMPTED',
  'REASON_RESOURCES_UNKNOWN',
  'REASON_CONTAINER_LIMITATION',
  'REASON_CONTAINER_LIMITATION_DISK',
  'REASON_CONTAINER_LAUNCH_FAILED',
  'REASON_CONTAINER_UPDATE_FAILED',
  'REASON_EXECUTOR_REGISTRATION_TIMEOUT',
  'REASON_EXECUTOR_REREGISTRATION_TIMEOUT',
  'REASON_TASK_GROUP_INVALID',
  'REASON_TASK_GROUP_UNAUTHORIZED',
  'REASON_IO_SWITCHBOARD_EXITED',
  'REASON_TASK_CHECK_STATUS_UPDATED',
  'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED',
  'REASON_TASK_KILLED_DURING_LAUNCH',
  'REASON_AGENT_REMOVED_BY_OPERATOR',
  'REASON_AGENT_REREGISTERED',
  'REASON_MAX_COMPLETION_TIME_REACHED',
  'REASON_AGENT_DRAINING',
] as const;

export type TaskReason = (typeof TASK_REASONS)[number];

export interface TaskStatus {
  readonly taskId: string;
  readonly state: TaskState;
  readonly message?: string;
  readonly source?: TaskSource;
  readonly reason?: TaskReason;
  readonly data?: string;
  readonly agentId?: string;
  readonly executorId?: string;
  /** Seconds since the epoch. */
  readonly timestamp?: number;
  /** base64 of 16 bytes; present only on updates that must be acknowledged. */
  readonly uuid?: string;
  readonly healthy?: boolean;
  readonly labels?: Labels;
  readonly containerStatus?: Passthrough;
}

// ---------------------------------------------------------------------------------------------
// Offers and operations

export interface Offer {
  readonly id: string;
  readonly frameworkId: string;
  readonly agentId: string;
  readonly hostname: string;
  readonly url?: Url;
  readonly resources: readonly Resource[];
  readonly attributes: readonly Attribute[];
  readonly executorIds: readonly string[];
}

export type Operation =
  | { readonly type: 'LAUNCH'; readonly launch: { readonly taskInfos: readonly TaskInfo[] } }
  | { readonly type: 'RESERVE'; readonly reserve: { readonly resources: readonly ResourceInput[] } }
  | { readonly type: 'UNRESERVE'; readonly unreserve: { readonly resources: readonly ResourceInput[] } }
  | { readonly type: 'CREATE'; readonly create: { readonly volumes: readonly ResourceInput[] } }
  | { readonly type: 'DESTROY'; readonly destroy: { readonly volumes: readonly ResourceInput[] } }
  /** A known operation Corral does not implement (LAUNCH_GROUP, GROW_VOLUME, …), kept by name. */
  | { readonly type: 'UNSUPPORTED'; readonly name: string };

// ---------------------------------------------------------------------------------------------
// Masters and agents

export interface MasterInfo {
  readonly id: string;
  /** IPv4 address as a little-endian uint32, as Mesos encodes it. */
  readonly ip: number;
  readonly port: number;
  readonly pid?: string;
  readonly hostname?: string;
  readonly version?: string;
  readonly address?: Address;
}

export interface AgentInfo {
  readonly hostname: string;
  readonly port?: number;
  readonly resources: readonly Resource[];
  readonly attributes: readonly Attribute[];
  readonly id?: string;
  readonly checkpoint?: boolean;
}

// ---------------------------------------------------------------------------------------------
// The v1 scheduler API

export type SchedulerCall =
  | {
      readonly type: 'SUBSCRIBE';
      readonly frameworkId?: string;
      readonly subscribe: { readonly frameworkInfo: FrameworkInfo; readonly suppressedRoles?: readonly string[] };
    }
  | { readonly type: 'TEARDOWN'; readonly frameworkId: string }
  | {
      readonly type: 'ACCEPT';
      readonly frameworkId: string;
      readonly accept: { readonly offerIds: readonly string[]; readonly operations: readonly Operation[]; readonly filters?: Filters };
    }
  | { readonly type: 'DECLINE'; readonly frameworkId: string; readonly decline: { readonly offerIds: readonly string[]; readonly filters?: Filters } }
  | { readonly type: 'REVIVE'; readonly frameworkId: string; readonly revive?: { readonly roles?: readonly string[] } }
  | { readonly type: 'SUPPRESS'; readonly frameworkId: string; readonly suppress?: { readonly roles?: readonly string[] } }
  | {
      readonly type: 'KILL';
      readonly frameworkId: string;
      readonly kill: { readonly taskId: string; readonly agentId?: string; readonly killPolicy?: KillPolicy };
    }
  | { readonly type: 'SHUTDOWN'; readonly frameworkId: string; readonly shutdown: { readonly executorId: string; readonly agentId: string } }
  | {
      readonly type: 'ACKNOWLEDGE';
      readonly frameworkId: string;
      readonly acknowledge: { readonly agentId: string; readonly taskId: string; readonly uuid: string };
    }
  | {
      readonly type: 'RECONCILE';
      readonly frameworkId: string;
      readonly reconcile: { readonly tasks: readonly { readonly taskId: string; readonly agentId?: string }[] };
    }
  | {
      readonly type: 'MESSAGE';
      readonly frameworkId: string;
      readonly message: { readonly agentId: string; readonly executorId: string; readonly data: string };
    }
  | { readonly type: 'REQUEST'; readonly frameworkId: string; readonly request: { readonly requests: readonly Passthrough[] } }
  | { readonly type: 'ACCEPT_INVERSE_OFFERS' | 'DECLINE_INVERSE_OFFERS'; readonly frameworkId: string }
  | { readonly type: 'UNSUPPORTED'; readonly frameworkId?: string; readonly name: string };

export type SchedulerEvent =
  | {
      readonly type: 'SUBSCRIBED';
      readonly subscribed: { readonly frameworkId: string; readonly heartbeatIntervalSeconds: number; readonly masterInfo?: MasterInfo };
    }
  | { readonly type: 'OFFERS'; readonly offers: { readonly offers: readonly Offer[] } }
  | { readonly type: 'RESCIND'; readonly rescind: { readonly offerId: string } }
  | { readonly type: 'UPDATE'; readonly update: { readonly status: TaskStatus } }
  | { readonly type: 'MESSAGE'; readonly message: { readonly agentId: string; readonly executorId: string; readonly data: string } }
  | { readonly type: 'FAILURE'; readonly failure: { readonly agentId?: string; readonly executorId?: string; readonly status?: number } }
  | { readonly type: 'ERROR'; readonly error: { readonly message: string } }
  | { readonly type: 'HEARTBEAT' };

// ---------------------------------------------------------------------------------------------
// The v1 executor API

export type ExecutorCall =
  | {
      readonly type: 'SUBSCRIBE';
      readonly executorId: string;
      readonly frameworkId: string;
      readonly subscribe: { readonly unacknowledgedTasks: readonly TaskInfo[]; readonly unacknowledgedUpdates: readonly { readonly status: TaskStatus }[] };
    }
  | { readonly type: 'UPDATE'; readonly executorId: string; readonly frameworkId: string; readonly update: { readonly status: TaskStatus } }
  | { readonly type: 'MESSAGE'; readonly executorId: string; readonly frameworkId: string; readonly message: { readonly data: string } }
  | { readonly type: 'HEARTBEAT'; readonly executorId: string; readonly frameworkId: string };

export type ExecutorEvent =
  | {
      readonly type: 'SUBSCRIBED';
      readonly subscribed: {
        readonly executorInfo: ExecutorInfo;
        readonly frameworkInfo: FrameworkInfo;
        readonly agentInfo: AgentInfo;
        readonly containerId?: string;
      };
    }
  | { readonly type: 'LAUNCH'; readonly launch: { readonly task: TaskInfo } }
  | { readonly type: 'KILL'; readonly kill: { readonly taskId: string; readonly killPolicy?: KillPolicy } }
  | { readonly type: 'ACKNOWLEDGED'; readonly acknowledged: { readonly taskId: string; readonly uuid: string } }
  | { readonly type: 'MESSAGE'; readonly message: { readonly data: string } }
  | { readonly type: 'ERROR'; readonly error: { readonly message: string } }
  | { readonly type: 'SHUTDOWN' }
  | { readonly type: 'HEARTBEAT' };
