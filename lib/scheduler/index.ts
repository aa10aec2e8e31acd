/**
 * `corral/scheduler`: a client of the Mesos v1 scheduler API for frameworks written in
 * TypeScript or JavaScript, against Corral or Mesos masters.
 *
 * ```ts
 * import { SchedulerClient, offerFits } from 'corral/scheduler';
 * const client = new SchedulerClient({ master: 'zk://zk1:2181/corral', framework: { name: 'hello', failoverTimeoutSeconds: 60 } });
 * client.on('offers', async (offers) => {
 *   for (const offer of offers) {
 *     if (offerFits(offer, 'cpus:0.1;mem:32')) await client.launch(offer, [{ taskId: 'hello-1', resources: 'cpus:0.1;mem:32', command: 'echo hello' }]);
 *     else await client.decline(offer.id);
 *   }
 * });
 * client.on('update', (status) => console.log(status.taskId, status.state));
 * await client.start();
 * ```
 */
export { SchedulerClient } from './client.ts';
export type { BackoffOptions, Disconnected, FrameworkOptions, SchedulerClientEvents, SchedulerClientOptions, Subscribed } from './options.ts';
export { newTaskId, type DistributiveOmit } from './tasks.ts';
export { SchedulerClientError, SchedulerRefusal, type SchedulerClientCode } from './errors.ts';
export { offerFits, offerResources, toTaskInfo, type CommandSpec, type ExecutorSpec, type TaskSpec } from './tasks.ts';
export { isTerminal, TASK_STATES, TERMINAL_STATES } from '../proto/messages.ts';
export type {
  Attribute,
  CapabilityType,
  Filters,
  KillPolicy,
  MasterInfo,
  Offer,
  Operation,
  SchedulerCall,
  SchedulerEvent,
  TaskInfo,
  TaskReason,
  TaskSource,
  TaskState,
  TaskStatus,
} from '../proto/messages.ts';
export { CorralError, ValidationError, type ErrorCode } from '../common/errors.ts';
export {
  HttpError,
  TransportError,
  FixedMasterDetector,
  loadTlsConfig,
  type Credential,
  type LeaderAddress,
  type MasterDetector,
  type TlsConfig,
} from '../transport/index.ts';
export type { Logger } from '../common/log.ts';
