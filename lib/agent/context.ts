/**
 * What the agent's parts (master_protocol, recovery, launch, executors, executor_api,
 * resource_usage) see of the Agent: its state and the few operations they share. The Agent
 * implements it; the parts take it as their first argument instead of importing the Agent.
 */
import type { Logger } from '../common/log.ts';
import type { Metrics } from '../common/metrics.ts';
import type { Resources } from '../common/resources/index.ts';
import type { AgentToMaster } from '../proto/internal.ts';
import type { AgentInfo, FrameworkInfo, TaskInfo, TaskReason, TaskState, TaskStatus } from '../proto/messages.ts';
import type { AgentFramework, AgentTaskRecord, ExecutorRecord } from './records.ts';
import type { Fetcher } from './fetcher/fetcher.ts';
import type { AgentOptions } from './options.ts';
import type { OversubscriptionLoops } from './oversubscription/index.ts';
import type { StatusUpdateManager } from './status_updates.ts';

export interface AgentContext {
  id: string | undefined;
  masterId: string | undefined;
  /** Dynamic reservations and persistent volumes, as the master last said (resources.info). */
  checkpointed: Resources;
  /** Container launches under way (see launch.ts). */
  launching: number;
  /** How long the last recover() took, in ms. */
  recoveryMs: number;
  readonly options: AgentOptions;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly fetcher: Fetcher;
  readonly updates: StatusUpdateManager;
  readonly oversubscription: OversubscriptionLoops;
  readonly frameworks: Map<string, AgentFramework>;
  readonly pid: string;
  agentInfo(): AgentInfo;
  totalResources(): Resources;
  send(msg: AgentToMaster): void;
  /** The framework's record, made or updated with `info`. */
  framework(frameworkId: string, info: FrameworkInfo): AgentFramework;
  runTask(frameworkId: string, frameworkInfo: FrameworkInfo, task: TaskInfo): Promise<void>;
  killTask(frameworkId: string, taskId: string, graceNs: number | undefined): Promise<void>;
  acknowledge(frameworkId: string, taskId: string, uuid: string): Promise<void>;
  shutdownFramework(frameworkId: string): Promise<void>;
  shutdownExecutor(ex: ExecutorRecord): Promise<void>;
  /** An update the agent makes as the command executor. */
  executorUpdate(fw: AgentFramework, ex: ExecutorRecord, task: AgentTaskRecord, state: TaskState, message?: string): Promise<void>;
  /** An update the agent makes on its own account (launch failures, lost executors). */
  agentUpdate(fw: AgentFramework, ex: ExecutorRecord | undefined, taskId: string, state: TaskState, reason: TaskReason, message: string): Promise<void>;
  handleUpdate(fw: AgentFramework, ex: ExecutorRecord | undefined, task: AgentTaskRecord | undefined, partial: TaskStatus): Promise<void>;
  /** A checkpoint the agent could not write (a full disk): counted and logged; the operation it was for fails alone. */
  checkpointFailed(e: unknown, where: Record<string, unknown>): void;
}
