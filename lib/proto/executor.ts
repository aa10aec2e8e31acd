/**
 * The v1 executor API's JSON: Calls in, Events out, and the reverse pair for
 * executors written against Corral's codecs.
 *
 * `decodeExecutorCall` does what the Mesos agent does with a JSON body (as the scheduler side,
 * see scheduler.ts): stout conversion (`executor_id` and `framework_id` are required fields of
 * the executor Call, so their absence is `Missing required fields: …`), then
 * `validation::executor::call::validate`: `type` present; SUBSCRIBE needs `subscribe` (even
 * `{}`); UPDATE needs `update`, a `status.uuid` of 16 bytes, a `status.executor_id` (if set)
 * equal to the call's, `status.source` SOURCE_EXECUTOR and a state other than TASK_STAGING;
 * MESSAGE needs `message`; HEARTBEAT needs nothing. UNKNOWN is refused with stage 'unsupported'
 * (Mesos answers 501).
 */
import { convertApiMessage, isUuidBytes, unsupportedType, validationFailure } from './api_errors.ts';
import { encodeAgentInfo, readAgentInfo } from './master_agent_info.ts';
import { encodeExecutorInfo, readExecutorInfo } from './executor_info.ts';
import { encodeFrameworkInfo, readFrameworkInfo } from './framework_info.ts';
import { encodeKillPolicy, idJson, readId, readKillPolicy, readRequiredId } from './message_fields.ts';
import { encodeTaskInfo, readTaskInfo } from './task_info.ts';
import { encodeTaskStatus, readTaskStatus } from './task_status.ts';
import { type JsonObject, type JsonReader, decodeMessage, emitObject } from './json.ts';
import { stringifyWire } from './json_text.ts';
import type { ExecutorCall, ExecutorEvent, TaskInfo, TaskStatus } from './messages.ts';
import { encodeRecord } from './recordio.ts';

/** `executor::Call::Type` (HEARTBEAT 1.8+). */
export const EXECUTOR_CALL_TYPES = ['UNKNOWN', 'SUBSCRIBE', 'UPDATE', 'MESSAGE', 'HEARTBEAT'] as const;

/** `executor::Event::Type` (LAUNCH_GROUP 1.1+, HEARTBEAT 1.8+). */
export const EXECUTOR_EVENT_TYPES = [
  'UNKNOWN',
  'SUBSCRIBED',
  'LAUNCH',
  'KILL',
  'ACKNOWLEDGED',
  'MESSAGE',
  'ERROR',
  'SHUTDOWN',
  'LAUNCH_GROUP',
  'HEARTBEAT',
] as const;

export interface ExecutorCallOptions {
  /**
   * Take a SUBSCRIBE without its `subscribe` object as `{}` instead of refusing it with
   * `Expecting 'subscribe' to be present` (Mesos refuses; some executor
   * libraries never send it).
   */
  readonly allowMissingSubscribe?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Calls: JSON → model

type SubscribeBody = Extract<ExecutorCall, { type: 'SUBSCRIBE' }>['subscribe'];

interface ParsedExecutorCall {
  executorId: string;
  frameworkId: string;
  type?: (typeof EXECUTOR_CALL_TYPES)[number];
  subscribe?: SubscribeBody;
  update?: { status: TaskStatus };
  message?: { data: string };
}

function readSubscribe(r: JsonReader): SubscribeBody {
  return {
    unacknowledgedTasks: r.repeatedMessage('unacknowledged_tasks', readTaskInfo),
    unacknowledgedUpdates: r.repeatedMessage('unacknowledged_updates', (u) => ({ status: u.requiredMessage('status', readTaskStatus) })),
  };
}

function readCall(r: JsonReader): ParsedExecutorCall {
  const c: ParsedExecutorCall = { executorId: readRequiredId(r, 'executor_id'), frameworkId: readRequiredId(r, 'framework_id') };
  const type = r.enum('type', EXECUTOR_CALL_TYPES);
  if (type !== undefined) c.type = type;
  const subscribe = r.message('subscribe', readSubscribe);
  if (subscribe) c.subscribe = subscribe;
  const update = r.message('update', (u) => ({ status: u.requiredMessage('status', readTaskStatus) }));
  if (update) c.update = update;
  const message = r.message('message', (m) => ({ data: m.requiredBytes('data') }));
  if (message) c.message = message;
  return c;
}

function need<T>(v: T | undefined, key: string): T {
  if (v === undefined) throw validationFailure(key, `Expecting '${key}' to be present`);
  return v;
}

function validateCall(c: ParsedExecutorCall, options: ExecutorCallOptions): ExecutorCall {
  const type = need(c.type, 'type');
  const { executorId, frameworkId } = c;
  switch (type) {
    case 'SUBSCRIBE': {
      const subscribe = c.subscribe ?? (options.allowMissingSubscribe ? { unacknowledgedTasks: [], unacknowledgedUpdates: [] } : undefined);
      return { type, executorId, frameworkId, subscribe: need(subscribe, 'subscribe') };
    }
    case 'UPDATE': {
      const update = need(c.update, 'update');
      const s = update.status;
      if (s.uuid === undefined) throw validationFailure('update.status.uuid', "Expecting 'uuid' to be present");
      if (!isUuidBytes(s.uuid)) throw validationFailure('update.status.uuid', 'Not a valid UUID');
      if (s.executorId !== undefined && s.executorId !== executorId) {
        throw validationFailure('update.status.executor_id', `ExecutorID in Call: ${executorId} does not match ExecutorID in TaskStatus: ${s.executorId}`);
      }
      if (s.source !== 'SOURCE_EXECUTOR') {
        throw validationFailure(
          'update.status.source',
          `Received Call from executor ${executorId} of framework ${frameworkId} with invalid source, expecting 'SOURCE_EXECUTOR'`,
        );
      }
      if (s.state === 'TASK_STAGING') {
        throw validationFailure('update.status.state', `Received TASK_STAGING from executor ${executorId} of framework ${frameworkId} which is not allowed`);
      }
      return { type, executorId, frameworkId, update };
    }
    case 'MESSAGE':
      return { type, executorId, frameworkId, message: need(c.message, 'message') };
    case 'HEARTBEAT':
      return { type, executorId, frameworkId };
    case 'UNKNOWN':
      throw unsupportedType('call', type);
  }
}

/**
 * Decode and validate an executor Call from parsed JSON. Throws an ApiValidationError whose
 * message is Mesos's text: stage 'convert' or 'validate' (400), or 'unsupported' for a call of
 * type UNKNOWN (Mesos answers 501).
 */
export function decodeExecutorCall(json: unknown, options: ExecutorCallOptions = {}): ExecutorCall {
  return validateCall(convertApiMessage(json, readCall), options);
}

// ---------------------------------------------------------------------------------------------
// Calls: model → JSON (for executors)

export function encodeExecutorCall(c: ExecutorCall): JsonObject {
  const head = { executor_id: idJson(c.executorId), framework_id: idJson(c.frameworkId), type: c.type };
  switch (c.type) {
    case 'SUBSCRIBE':
      return {
        ...head,
        subscribe: emitObject({
          unacknowledged_tasks: c.subscribe.unacknowledgedTasks.map(encodeTaskInfo),
          unacknowledged_updates: c.subscribe.unacknowledgedUpdates.map((u) => ({ status: encodeTaskStatus(u.status) })),
        }),
      };
    case 'UPDATE':
      return { ...head, update: { status: encodeTaskStatus(c.update.status) } };
    case 'MESSAGE':
      return { ...head, message: { data: c.message.data } };
    case 'HEARTBEAT':
      return head;
  }
}

// ---------------------------------------------------------------------------------------------
// Events: model → JSON

/** An executor Event exactly as Mesos writes it (stringify with stringifyWire). */
export function encodeExecutorEvent(e: ExecutorEvent): JsonObject {
  switch (e.type) {
    case 'SUBSCRIBED':
      return {
        type: e.type,
        subscribed: emitObject({
          executor_info: encodeExecutorInfo(e.subscribed.executorInfo),
          framework_info: encodeFrameworkInfo(e.subscribed.frameworkInfo),
          agent_info: encodeAgentInfo(e.subscribed.agentInfo),
          container_id: idJson(e.subscribed.containerId),
        }),
      };
    case 'LAUNCH':
      return { type: e.type, launch: { task: encodeTaskInfo(e.launch.task) } };
    case 'KILL':
      return { type: e.type, kill: emitObject({ task_id: idJson(e.kill.taskId), kill_policy: e.kill.killPolicy && encodeKillPolicy(e.kill.killPolicy) }) };
    case 'ACKNOWLEDGED':
      return { type: e.type, acknowledged: { task_id: idJson(e.acknowledged.taskId), uuid: e.acknowledged.uuid } };
    case 'MESSAGE':
      return { type: e.type, message: { data: e.message.data } };
    case 'ERROR':
      return { type: e.type, error: { message: e.error.message } };
    case 'SHUTDOWN':
    case 'HEARTBEAT':
      return { type: e.type };
  }
}

/** One RecordIO record of the executor's event stream. */
export function executorEventRecord(e: ExecutorEvent): Buffer {
  return encodeRecord(stringifyWire(encodeExecutorEvent(e)));
}

// ---------------------------------------------------------------------------------------------
// Events: JSON → model (for executors)

function readEvent(r: JsonReader): ExecutorEvent {
  const raw = r.raw('type');
  const type = r.enum('type', EXECUTOR_EVENT_TYPES);
  switch (type) {
    case 'SUBSCRIBED':
      return {
        type,
        subscribed: r.requiredMessage('subscribed', (x) => {
          const executorInfo = x.requiredMessage('executor_info', readExecutorInfo);
          const frameworkInfo = x.requiredMessage('framework_info', readFrameworkInfo);
          const agentInfo = x.requiredMessage('agent_info', readAgentInfo);
          const containerId = readId(x, 'container_id');
          return containerId === undefined ? { executorInfo, frameworkInfo, agentInfo } : { executorInfo, frameworkInfo, agentInfo, containerId };
        }),
      };
    case 'LAUNCH':
      return { type, launch: r.requiredMessage('launch', (x) => ({ task: x.requiredMessage('task', readTaskInfo) as TaskInfo })) };
    case 'KILL':
      return {
        type,
        kill: r.requiredMessage('kill', (x) => {
          const taskId = readRequiredId(x, 'task_id');
          const killPolicy = x.message('kill_policy', readKillPolicy);
          return killPolicy === undefined ? { taskId } : { taskId, killPolicy };
        }),
      };
    case 'ACKNOWLEDGED':
      return { type, acknowledged: r.requiredMessage('acknowledged', (x) => ({ taskId: readRequiredId(x, 'task_id'), uuid: x.requiredBytes('uuid') })) };
    case 'MESSAGE':
      return { type, message: r.requiredMessage('message', (x) => ({ data: x.requiredBytes('data') })) };
    case 'ERROR':
      return { type, error: r.requiredMessage('error', (x) => ({ message: x.requiredString('message') })) };
    case 'SHUTDOWN':
    case 'HEARTBEAT':
      return { type };
    default:
      throw unsupportedType('event', type ?? (typeof raw === 'string' ? raw : 'UNKNOWN'));
  }
}

/**
 * Decode an executor Event (one parsed record). Errors are ValidationErrors naming the field;
 * an event type the model does not carry (LAUNCH_GROUP, UNKNOWN, a name the proto does not
 * know) is an ApiValidationError of stage 'unsupported' (code UNSUPPORTED), which an executor
 * may skip.
 */
export function decodeExecutorEvent(json: unknown): ExecutorEvent {
  return decodeMessage(json, '', readEvent);
}

export { ApiValidationError, type ApiErrorStage } from './api_errors.ts';
