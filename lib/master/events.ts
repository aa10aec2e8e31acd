/**
 * What happened in the master, as the operator event stream (`SUBSCRIBE` on `/api/v1`) tells it:
 * the master's parts report each change through `MasterState.notify` at the moment they make it,
 * in the order they make it; the http/ side encodes and filters them for each subscriber.
 * Observers run synchronously and must not throw or change the master's state.
 */
import type { TaskStatus } from '../proto/messages.ts';
import type { AgentRecord, Framework, Task } from './records.ts';

export type MasterEvent =
  | { readonly type: 'TASK_ADDED'; readonly task: Task }
  /** `status` is the update being applied; the task's state is already its new one. */
  | { readonly type: 'TASK_UPDATED'; readonly task: Task; readonly status: TaskStatus }
  | { readonly type: 'AGENT_ADDED'; readonly agent: AgentRecord }
  | { readonly type: 'AGENT_REMOVED'; readonly agentId: string }
  | { readonly type: 'FRAMEWORK_ADDED' | 'FRAMEWORK_UPDATED' | 'FRAMEWORK_REMOVED'; readonly framework: Framework };

export type MasterObserver = (event: MasterEvent) => void;
