/**
 * `corral/executor`: a client of the Mesos v1 executor API, for custom executors written in
 * TypeScript or JavaScript. The agent starts the executor with its environment (the MESOS_*
 * variables); the client reads it.
 *
 * ```ts
 * import { ExecutorClient } from 'corral/executor';
 * const executor = new ExecutorClient();
 * executor.on('launch', async (task) => {
 *   await executor.update(task.taskId, 'TASK_RUNNING');
 *   // … the work …
 *   await executor.update(task.taskId, 'TASK_FINISHED');
 * });
 * executor.on('kill', ({ taskId }) => void executor.update(taskId, 'TASK_KILLED'));
 * executor.on('shutdown', () => process.exit(0));
 * executor.on('ended', () => process.exit(0));
 * await executor.start();
 * ```
 */
export { ExecutorClient, type ExecutorClientEvents, type ExecutorClientOptions, type ExecutorSubscribed, type UpdateOptions } from './client.ts';
export { ExecutorClientError, ExecutorRefusal, type ExecutorClientCode } from './errors.ts';
export { isTerminal, TASK_STATES, TERMINAL_STATES } from '../proto/messages.ts';
export type { AgentInfo, ExecutorInfo, FrameworkInfo, KillPolicy, TaskInfo, TaskReason, TaskState, TaskStatus } from '../proto/messages.ts';
export { CorralError, ValidationError, type ErrorCode } from '../common/errors.ts';
export { HttpError, TransportError, loadTlsConfig, type TlsConfig } from '../transport/index.ts';
export type { Logger } from '../common/log.ts';
