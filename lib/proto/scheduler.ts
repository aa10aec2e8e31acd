/**
 * The v1 scheduler API's JSON: Calls in, Events out, and the reverse pair
 * for clients (Corral's CLI and tests).
 *
 * `decodeSchedulerCall` does what the Mesos master does with a JSON body, in its order:
 *
 * 1. convert: stout's JSON → proto rules over the whole Call, every sub-message that is
 *    present included (whatever the type), then the required-field check. Failures are
 *    ApiValidationErrors of stage 'convert' (Mesos: `Failed to convert JSON into Call
 *    protobuf: <message>`), e.g. `Missing required fields: subscribe.framework_info.user`.
 * 2. validate: `validation::scheduler::call::validate` (stage 'validate'; Mesos: `Failed to
 *    validate scheduler::Call: <message>`): `type` present; for SUBSCRIBE `subscribe` present
 *    and `framework_id` equal to `subscribe.framework_info.id` (unset reads as ""); for every
 *    other type `framework_id` present, then the type's sub-message where Mesos requires it;
 *    ACKNOWLEDGE's `uuid` must hold exactly 16 bytes.
 *
 * `type` is an optional enum in the proto, so a name the proto does not know is dropped by
 * stout and the call fails with `Expecting 'type' to be present`, as on Mesos. UNKNOWN, and
 * the known types Corral does not implement (UPDATE_FRAMEWORK, ACKNOWLEDGE_OPERATION_STATUS,
 * RECONCILE_OPERATIONS), decode to `{type: 'UNSUPPORTED', name}` once validated, for a 501.
 *
 * Events are written as Mesos writes them: `{"type": T, "<lower-cased T>": {…}}` (HEARTBEAT has
 * no sub-message), OFFERS as `{"offers":{"offers":[…]}}`, ERROR as `{"error":{"message":…}}`.
 */
import { convertApiMessage, isUuidBytes, unsupportedType, validationFailure } from './api_errors.ts';
import { encodeFilters, encodeKillPolicy, idJson, readFilters, readId, readIds, readKillPolicy, readRequiredId } from './message_fields.ts';
import { encodeFrameworkInfo, readFrameworkInfo } from './framework_info.ts';
import { encodeMasterInfo, readMasterInfo } from './master_agent_info.ts';
import { encodeOffer, encodeOperation, readOffer, readOperation } from './offer.ts';
import { encodeTaskStatus, readTaskStatus } from './task_status.ts';
import { readSubmittedResource } from './submitted_resources.ts';
import { type JsonObject, type JsonReader, type JsonValue, decodeMessage, emitObject, readRepeated } from './json.ts';
import { double, stringifyWire } from './json_text.ts';
import type { Filters, FrameworkInfo, KillPolicy, Operation, Passthrough, SchedulerCall, SchedulerEvent } from './messages.ts';
import { encodeRecord } from './recordio.ts';

/** `scheduler::Call::Type`, all names (UNKNOWN = 0 … UPDATE_FRAMEWORK = 17). */
export const SCHEDULER_CALL_TYPES = [
  'UNKNOWN',
  'SUBSCRIBE',
  'TEARDOWN',
  'ACCEPT',
  'DECLINE',
  'REVIVE',
  'KILL',
  'SHUTDOWN',
  'ACKNOWLEDGE',
  'RECONCILE',
  'MESSAGE',
  'REQUEST',
  'SUPPRESS',
  'ACCEPT_INVERSE_OFFERS',
  'DECLINE_INVERSE_OFFERS',
  'ACKNOWLEDGE_OPERATION_STATUS',
  'RECONCILE_OPERATIONS',
  'UPDATE_FRAMEWORK',
] as const;
export type SchedulerCallType = (typeof SCHEDULER_CALL_TYPES)[number];

/** `scheduler::Event::Type`, all names (UNKNOWN = 0 … UPDATE_OPERATION_STATUS = 11). */
export const SCHEDULER_EVENT_TYPES = [
  'UNKNOWN',
  'SUBSCRIBED',
  'OFFERS',
  'RESCIND',
  'UPDATE',
  'MESSAGE',
  'FAILURE',
  'ERROR',
  'HEARTBEAT',
  'INVERSE_OFFERS',
  'RESCIND_INVERSE_OFFER',
  'UPDATE_OPERATION_STATUS',
] as const;

/** The heartbeat interval Mesos announces and keeps (DEFAULT_HEARTBEAT_INTERVAL, not configurable). */
export const HEARTBEAT_INTERVAL_SECONDS = 15;

// ---------------------------------------------------------------------------------------------
// Calls: JSON → model

type Sub<K extends SchedulerCall['type']> = Extract<SchedulerCall, { type: K }>;

/** Everything stout would have parsed out of a Call, before validation. */
interface ParsedCall {
  frameworkId?: string;
  type?: SchedulerCallType;
  subscribe?: Sub<'SUBSCRIBE'>['subscribe'];
  accept?: Sub<'ACCEPT'>['accept'];
  decline?: Sub<'DECLINE'>['decline'];
  acceptInverseOffers?: true;
  declineInverseOffers?: true;
  revive?: { roles?: string[] };
  suppress?: { roles?: string[] };
  kill?: Sub<'KILL'>['kill'];
  shutdown?: Sub<'SHUTDOWN'>['shutdown'];
  acknowledge?: Sub<'ACKNOWLEDGE'>['acknowledge'];
  reconcile?: Sub<'RECONCILE'>['reconcile'];
  message?: Sub<'MESSAGE'>['message'];
  request?: Sub<'REQUEST'>['request'];
  acknowledgeOperationStatus?: true;
  reconcileOperations?: true;
  updateFramework?: { frameworkInfo: FrameworkInfo };
}

function readSubscribe(r: JsonReader): Sub<'SUBSCRIBE'>['subscribe'] {
  const frameworkInfo = r.requiredMessage('framework_info', readFrameworkInfo);
  const suppressedRoles = r.repeatedString('suppressed_roles');
  return suppressedRoles.length > 0 ? { frameworkInfo, suppressedRoles } : { frameworkInfo };
}

function readOfferIdsAndFilters(r: JsonReader, idsKey: string): { offerIds: string[]; filters?: Filters } {
  const offerIds = readIds(r, idsKey);
  const filters = r.message('filters', readFilters);
  return filters === undefined ? { offerIds } : { offerIds, filters };
}

function readAccept(r: JsonReader): Sub<'ACCEPT'>['accept'] {
  const offerIds = readIds(r, 'offer_ids');
  const operations: Operation[] = r.repeatedMessage('operations', readOperation);
  const filters = r.message('filters', readFilters);
  return filters === undefined ? { offerIds, operations } : { offerIds, operations, filters };
}

function readRoles(r: JsonReader): { roles?: string[] } {
  const roles = r.repeatedString('roles');
  return roles.length > 0 ? { roles } : {};
}

function readKill(r: JsonReader): Sub<'KILL'>['kill'] {
  const out: { taskId: string; agentId?: string; killPolicy?: KillPolicy } = { taskId: readRequiredId(r, 'task_id') };
  const agentId = readId(r, 'agent_id');
  if (agentId !== undefined) out.agentId = agentId;
  const killPolicy = r.message('kill_policy', readKillPolicy);
  if (killPolicy !== undefined) out.killPolicy = killPolicy;
  return out;
}

function readReconcileTask(r: JsonReader): { taskId: string; agentId?: string } {
  const taskId = readRequiredId(r, 'task_id');
  const agentId = readId(r, 'agent_id');
  return agentId === undefined ? { taskId } : { taskId, agentId };
}

/** `Request` objects are wire-checked (`agent_id`, `resources`) and kept as sent. */
function readRequest(r: JsonReader): Sub<'REQUEST'>['request'] {
  r.repeatedMessage('requests', (x) => {
    readId(x, 'agent_id');
    x.repeatedMessage('resources', readSubmittedResource);
  });
  return { requests: readRepeated(r.raw('requests'), r.at('requests'), (v) => v as Passthrough) };
}

function readInverseOffers(r: JsonReader): true {
  readOfferIdsAndFilters(r, 'inverse_offer_ids');
  return true;
}

function readAcknowledgeOperationStatus(r: JsonReader): true {
  readId(r, 'agent_id');
  readId(r, 'resource_provider_id');
  r.requiredBytes('uuid');
  readRequiredId(r, 'operation_id');
  return true;
}

function readReconcileOperations(r: JsonReader): true {
  r.repeatedMessage('operations', (x) => {
    readRequiredId(x, 'operation_id');
    readId(x, 'agent_id');
    readId(x, 'resource_provider_id');
  });
  return true;
}

function readCall(r: JsonReader): ParsedCall {
  const c: ParsedCall = {};
  const frameworkId = readId(r, 'framework_id');
  if (frameworkId !== undefined) c.frameworkId = frameworkId;
  const type = r.enum('type', SCHEDULER_CALL_TYPES);
  if (type !== undefined) c.type = type;
  // Every sub-message that is present is parsed, as stout parses every field it knows.
  const subscribe = r.message('subscribe', readSubscribe);
  if (subscribe) c.subscribe = subscribe;
  const accept = r.message('accept', readAccept);
  if (accept) c.accept = accept;
  const decline = r.message('decline', (x) => readOfferIdsAndFilters(x, 'offer_ids'));
  if (decline) c.decline = decline;
  if (r.message('accept_inverse_offers', readInverseOffers)) c.acceptInverseOffers = true;
  if (r.message('decline_inverse_offers', readInverseOffers)) c.declineInverseOffers = true;
  const revive = r.message('revive', readRoles);
  if (revive) c.revive = revive;
  const suppress = r.message('suppress', readRoles);
  if (suppress) c.suppress = suppress;
  const kill = r.message('kill', readKill);
  if (kill) c.kill = kill;
  const shutdown = r.message('shutdown', (x) => ({ executorId: readRequiredId(x, 'executor_id'), agentId: readRequiredId(x, 'agent_id') }));
  if (shutdown) c.shutdown = shutdown;
  const acknowledge = r.message('acknowledge', (x) => ({
    agentId: readRequiredId(x, 'agent_id'),
    taskId: readRequiredId(x, 'task_id'),
    uuid: x.requiredBytes('uuid'),
  }));
  if (acknowledge) c.acknowledge = acknowledge;
  const reconcile = r.message('reconcile', (x) => ({ tasks: x.repeatedMessage('tasks', readReconcileTask) }));
  if (reconcile) c.reconcile = reconcile;
  const message = r.message('message', (x) => ({
    agentId: readRequiredId(x, 'agent_id'),
    executorId: readRequiredId(x, 'executor_id'),
    data: x.requiredBytes('data'),
  }));
  if (message) c.message = message;
  const request = r.message('request', readRequest);
  if (request) c.request = request;
  if (r.message('acknowledge_operation_status', readAcknowledgeOperationStatus)) c.acknowledgeOperationStatus = true;
  if (r.message('reconcile_operations', readReconcileOperations)) c.reconcileOperations = true;
  const updateFramework = r.message('update_framework', (x) => {
    x.repeatedString('suppressed_roles');
    return { frameworkInfo: x.requiredMessage('framework_info', readFrameworkInfo) };
  });
  if (updateFramework) c.updateFramework = updateFramework;
  return c;
}

/** `Expecting '<key>' to be present` unless `v` is set. */
function need<T>(v: T | undefined, key: string): T {
  if (v === undefined) throw validationFailure(key, `Expecting '${key}' to be present`);
  return v;
}

/** The most tasks one explicit RECONCILE call may list. */
export const MAX_RECONCILE_TASKS = 100_000;

function validateCall(c: ParsedCall): SchedulerCall {
  const type = need(c.type, 'type');
  if (type === 'SUBSCRIBE') {
    const subscribe = need(c.subscribe, 'subscribe');
    // Mesos compares the two FrameworkID messages; an unset one reads as "".
    if ((c.frameworkId ?? '') !== (subscribe.frameworkInfo.id ?? '')) {
      throw validationFailure('framework_id', "'framework_id' differs from 'subscribe.framework_info.id'");
    }
    return c.frameworkId === undefined ? { type, subscribe } : { type, frameworkId: c.frameworkId, subscribe };
  }
  const frameworkId = need(c.frameworkId, 'framework_id');
  switch (type) {
    case 'TEARDOWN':
      return { type, frameworkId };
    case 'ACCEPT':
      return { type, frameworkId, accept: need(c.accept, 'accept') };
    case 'DECLINE':
      return { type, frameworkId, decline: need(c.decline, 'decline') };
    case 'ACCEPT_INVERSE_OFFERS':
      need(c.acceptInverseOffers, 'accept_inverse_offers');
      return { type, frameworkId };
    case 'DECLINE_INVERSE_OFFERS':
      need(c.declineInverseOffers, 'decline_inverse_offers');
      return { type, frameworkId };
    case 'REVIVE':
      return c.revive === undefined ? { type, frameworkId } : { type, frameworkId, revive: c.revive };
    case 'SUPPRESS':
      return c.suppress === undefined ? { type, frameworkId } : { type, frameworkId, suppress: c.suppress };
    case 'KILL':
      return { type, frameworkId, kill: need(c.kill, 'kill') };
    case 'SHUTDOWN':
      return { type, frameworkId, shutdown: need(c.shutdown, 'shutdown') };
    case 'ACKNOWLEDGE': {
      const acknowledge = need(c.acknowledge, 'acknowledge');
      // id::UUID::fromBytes: exactly 16 bytes. (Mesos also refuses a UUID whose version nibble
      // is not 1–5; Corral does not, since its agents' update ids are 16 random bytes.)
      if (!isUuidBytes(acknowledge.uuid)) throw validationFailure('acknowledge.uuid', 'Not a valid UUID');
      return { type, frameworkId, acknowledge };
    }
    case 'RECONCILE': {
      const reconcile = need(c.reconcile, 'reconcile');
      // Each task asked about is answered with an UPDATE on the subscription stream: the limit
      // bounds what one call can queue there (Mesos has none).
      if (reconcile.tasks.length > MAX_RECONCILE_TASKS) {
        throw validationFailure(
          'reconcile.tasks',
          `'reconcile.tasks' lists ${reconcile.tasks.length} tasks; at most ${MAX_RECONCILE_TASKS} are accepted in one call (reconcile in batches, or with no tasks for all of them)`,
        );
      }
      return { type, frameworkId, reconcile };
    }
    case 'MESSAGE':
      return { type, frameworkId, message: need(c.message, 'message') };
    case 'REQUEST':
      return { type, frameworkId, request: need(c.request, 'request') };
    case 'ACKNOWLEDGE_OPERATION_STATUS':
      need(c.acknowledgeOperationStatus, 'acknowledge_operation_status');
      return { type: 'UNSUPPORTED', frameworkId, name: type };
    case 'RECONCILE_OPERATIONS':
      need(c.reconcileOperations, 'reconcile_operations');
      return { type: 'UNSUPPORTED', frameworkId, name: type };
    case 'UPDATE_FRAMEWORK':
      need(c.updateFramework, 'update_framework');
      return { type: 'UNSUPPORTED', frameworkId, name: type };
    case 'UNKNOWN':
      return { type: 'UNSUPPORTED', frameworkId, name: type };
  }
}

/**
 * Decode and validate a scheduler Call from parsed JSON. Throws an ApiValidationError (a
 * ValidationError) whose message is Mesos's text and whose `stage` says whether Mesos would
 * have failed to convert the JSON or to validate the call.
 */
export function decodeSchedulerCall(json: unknown): SchedulerCall {
  return validateCall(convertApiMessage(json, readCall));
}

// ---------------------------------------------------------------------------------------------
// Calls: model → JSON (for clients)

function roleList(x: { readonly roles?: readonly string[] } | undefined): JsonObject | undefined {
  return x === undefined ? undefined : emitObject({ roles: x.roles?.slice() });
}

/** A scheduler Call as a client sends it. An UNSUPPORTED call is written by its name alone. */
export function encodeSchedulerCall(c: SchedulerCall): JsonObject {
  const head = { framework_id: idJson(c.frameworkId), type: c.type === 'UNSUPPORTED' ? c.name : c.type };
  switch (c.type) {
    case 'SUBSCRIBE':
      return emitObject({
        ...head,
        subscribe: emitObject({ framework_info: encodeFrameworkInfo(c.subscribe.frameworkInfo), suppressed_roles: c.subscribe.suppressedRoles?.slice() }),
      });
    case 'TEARDOWN':
    case 'UNSUPPORTED':
      return emitObject(head);
    case 'ACCEPT':
      return emitObject({
        ...head,
        accept: emitObject({
          offer_ids: c.accept.offerIds.map((value) => ({ value })),
          operations: c.accept.operations.map(encodeOperation),
          filters: c.accept.filters && encodeFilters(c.accept.filters),
        }),
      });
    case 'DECLINE':
      return emitObject({
        ...head,
        decline: emitObject({ offer_ids: c.decline.offerIds.map((value) => ({ value })), filters: c.decline.filters && encodeFilters(c.decline.filters) }),
      });
    case 'ACCEPT_INVERSE_OFFERS':
      return emitObject({ ...head, accept_inverse_offers: {} });
    case 'DECLINE_INVERSE_OFFERS':
      return emitObject({ ...head, decline_inverse_offers: {} });
    case 'REVIVE':
      return emitObject({ ...head, revive: roleList(c.revive) });
    case 'SUPPRESS':
      return emitObject({ ...head, suppress: roleList(c.suppress) });
    case 'KILL':
      return emitObject({
        ...head,
        kill: emitObject({
          task_id: idJson(c.kill.taskId),
          agent_id: idJson(c.kill.agentId),
          kill_policy: c.kill.killPolicy && encodeKillPolicy(c.kill.killPolicy),
        }),
      });
    case 'SHUTDOWN':
      return emitObject({ ...head, shutdown: { executor_id: idJson(c.shutdown.executorId), agent_id: idJson(c.shutdown.agentId) } });
    case 'ACKNOWLEDGE':
      return emitObject({
        ...head,
        acknowledge: { agent_id: idJson(c.acknowledge.agentId), task_id: idJson(c.acknowledge.taskId), uuid: c.acknowledge.uuid },
      });
    case 'RECONCILE':
      return emitObject({
        ...head,
        reconcile: emitObject({ tasks: c.reconcile.tasks.map((t) => emitObject({ task_id: idJson(t.taskId), agent_id: idJson(t.agentId) })) }),
      });
    case 'MESSAGE':
      return emitObject({
        ...head,
        message: { agent_id: idJson(c.message.agentId), executor_id: idJson(c.message.executorId), data: c.message.data },
      });
    case 'REQUEST':
      return emitObject({ ...head, request: emitObject({ requests: c.request.requests as JsonValue[] }) });
  }
}

// ---------------------------------------------------------------------------------------------
// Events: model → JSON

/** A scheduler Event exactly as Mesos writes it (stringify with stringifyWire). */
export function encodeSchedulerEvent(e: SchedulerEvent): JsonObject {
  switch (e.type) {
    case 'SUBSCRIBED':
      return {
        type: e.type,
        subscribed: emitObject({
          framework_id: idJson(e.subscribed.frameworkId),
          heartbeat_interval_seconds: double(e.subscribed.heartbeatIntervalSeconds),
          master_info: e.subscribed.masterInfo && encodeMasterInfo(e.subscribed.masterInfo),
        }),
      };
    case 'OFFERS':
      return { type: e.type, offers: emitObject({ offers: e.offers.offers.map(encodeOffer) }) };
    case 'RESCIND':
      return { type: e.type, rescind: { offer_id: idJson(e.rescind.offerId) } };
    case 'UPDATE':
      return { type: e.type, update: { status: encodeTaskStatus(e.update.status) } };
    case 'MESSAGE':
      return { type: e.type, message: { agent_id: idJson(e.message.agentId), executor_id: idJson(e.message.executorId), data: e.message.data } };
    case 'FAILURE':
      return {
        type: e.type,
        failure: emitObject({ agent_id: idJson(e.failure.agentId), executor_id: idJson(e.failure.executorId), status: e.failure.status }),
      };
    case 'ERROR':
      return { type: e.type, error: { message: e.error.message } };
    case 'HEARTBEAT':
      return { type: e.type };
  }
}

/** One RecordIO record of the event stream: `<bytes>\n<JSON>`, ready to be written as one chunk. */
export function schedulerEventRecord(e: SchedulerEvent): Buffer {
  return encodeRecord(stringifyWire(encodeSchedulerEvent(e)));
}

// ---------------------------------------------------------------------------------------------
// Events: JSON → model (for clients)

function readEvent(r: JsonReader): SchedulerEvent {
  const raw = r.raw('type');
  const type = r.enum('type', SCHEDULER_EVENT_TYPES);
  switch (type) {
    case 'SUBSCRIBED':
      return {
        type,
        subscribed: r.requiredMessage('subscribed', (x) => {
          const frameworkId = readRequiredId(x, 'framework_id');
          // Optional in the proto; Mesos always sends 15.0 (the only interval it uses).
          const heartbeatIntervalSeconds = x.double('heartbeat_interval_seconds') ?? HEARTBEAT_INTERVAL_SECONDS;
          const masterInfo = x.message('master_info', readMasterInfo);
          return masterInfo === undefined ? { frameworkId, heartbeatIntervalSeconds } : { frameworkId, heartbeatIntervalSeconds, masterInfo };
        }),
      };
    case 'OFFERS':
      return { type, offers: r.requiredMessage('offers', (x) => ({ offers: x.repeatedMessage('offers', readOffer) })) };
    case 'RESCIND':
      return { type, rescind: r.requiredMessage('rescind', (x) => ({ offerId: readRequiredId(x, 'offer_id') })) };
    case 'UPDATE':
      return { type, update: r.requiredMessage('update', (x) => ({ status: x.requiredMessage('status', readTaskStatus) })) };
    case 'MESSAGE':
      return {
        type,
        message: r.requiredMessage('message', (x) => ({
          agentId: readRequiredId(x, 'agent_id'),
          executorId: readRequiredId(x, 'executor_id'),
          data: x.requiredBytes('data'),
        })),
      };
    case 'FAILURE':
      return {
        type,
        failure: r.requiredMessage('failure', (x) => {
          const out: { agentId?: string; executorId?: string; status?: number } = {};
          const agentId = readId(x, 'agent_id');
          if (agentId !== undefined) out.agentId = agentId;
          const executorId = readId(x, 'executor_id');
          if (executorId !== undefined) out.executorId = executorId;
          const status = x.integer('status', 'int32');
          if (status !== undefined) out.status = status;
          return out;
        }),
      };
    case 'ERROR':
      return { type, error: r.requiredMessage('error', (x) => ({ message: x.requiredString('message') })) };
    case 'HEARTBEAT':
      return { type };
    default:
      throw unsupportedType('event', type ?? (typeof raw === 'string' ? raw : 'UNKNOWN'));
  }
}

/**
 * Decode a scheduler Event (one record of the stream, parsed). The sub-message of the event's
 * type is required. Errors are ValidationErrors naming the field; an event type the model does
 * not carry (INVERSE_OFFERS, RESCIND_INVERSE_OFFER, UPDATE_OPERATION_STATUS, UNKNOWN, a name the
 * proto does not know) is an ApiValidationError of stage 'unsupported' (code UNSUPPORTED),
 * which a client may skip.
 */
export function decodeSchedulerEvent(json: unknown): SchedulerEvent {
  return decodeMessage(json, '', readEvent);
}

export { ApiValidationError, type ApiErrorStage } from './api_errors.ts';
