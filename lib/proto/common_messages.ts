/**
 * v1 JSON codecs for the Mesos messages shared by the scheduler, executor and internal APIs
 * (Mesos's core messages): ids, Labels, Filters, KillPolicy, CommandInfo/URI, ExecutorInfo, TaskInfo,
 * FrameworkInfo, TaskStatus, Offer, Offer.Operation, MasterInfo, AgentInfo.
 *
 * Readers (`readX(r: JsonReader)`) follow stout's JSON-to-proto rules through lib/proto/json.ts and
 * are meant to be composed inside a `decodeMessage`; `decodeX(json, path)` decodes one message
 * on its own. Readers fill in proto defaults (`failover_timeout` 0.0, `checkpoint` false, `role`
 * "*", `shell` true, `extract` true, `refuse_seconds` 5.0, AgentInfo `port` 5051, a resource's
 * `role` "*"), exactly as a protobuf getter would, so a value decoded from Mesos's output and a
 * value decoded from a client's sparse input mean the same thing.
 *
 * Encoders (`encodeX`) write what Mesos writes: ids as `{"value": …}`, every field with
 * a non-deprecated default, doubles wrapped with `double()` so stringifyWire prints `15.0`, no
 * empty repeated fields, no unset fields.
 *
 * Resources a framework submits (tasks, executors, operations) are `ResourceInput`: wire-checked
 * only, because the master answers an invalid one with TASK_ERROR or a dropped operation rather
 * than with a 400. Resources Corral itself produced (offers, agents) are validated `Resource`s.
 * Container, health check and discovery sub-messages are passed through as their JSON objects.
 *
 * This module gathers the shared codecs, which live one message family per file.
 */
export { ApiValidationError, type ApiErrorStage, convertApiMessage, isUuidBytes, unsupportedType, validationFailure } from './api_errors.ts';
export {
  decodeFilters,
  decodeKillPolicy,
  encodeAddress,
  encodeFilters,
  encodeKillPolicy,
  encodeUrl,
  idJson,
  readAddress,
  readFilters,
  readId,
  readIds,
  readKillPolicy,
  readLabelsField,
  readNanoseconds,
  readPassthrough,
  readRequiredId,
  readUrl,
} from './message_fields.ts';
export { encodeResourceInput, readSubmittedResource, readValidatedResources } from './submitted_resources.ts';
export { decodeCommandInfo, encodeCommandInfo, encodeUri, readCommandInfo, readUri } from './command_info.ts';
export { decodeExecutorInfo, encodeExecutorInfo, readExecutorInfo } from './executor_info.ts';
export { decodeTaskInfo, encodeTaskInfo, readTaskInfo } from './task_info.ts';
export { CAPABILITY_TYPES, decodeFrameworkInfo, encodeFrameworkInfo, readFrameworkInfo } from './framework_info.ts';
export { TASK_REASONS, TASK_SOURCES, TASK_STATES, decodeTaskStatus, encodeTaskStatus, readTaskStatus } from './task_status.ts';
export { OPERATION_TYPES, decodeOffer, decodeOperation, encodeOffer, encodeOperation, readOffer, readOperation } from './offer.ts';
export { decodeAgentInfo, decodeMasterInfo, encodeAgentInfo, encodeMasterInfo, masterInfoIp, readAgentInfo, readMasterInfo } from './master_agent_info.ts';
