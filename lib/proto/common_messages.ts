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
 */
import { ValidationError } from '../common/errors.ts';
import { type Label, type Resource, type ResourceInput, validateResource } from '../common/resources/index.ts';
import { type JsonObject, type JsonReader, DecodeContext, decodeMessage, emitObject, typeMismatch } from './json.ts';
import { double } from './json_text.ts';
import type {
  Address,
  AgentInfo,
  CapabilityType,
  CommandInfo,
  EnvironmentVariable,
  ExecutorInfo,
  ExecutorType,
  Filters,
  FrameworkInfo,
  KillPolicy,
  Labels,
  MasterInfo,
  Offer,
  Operation,
  Passthrough,
  TaskInfo,
  TaskSource,
  TaskStatus,
  Uri,
  Url,
} from './messages.ts';
import { TASK_REASONS, TASK_STATES } from './messages.ts';
import { encodeAttribute, encodeLabels, encodeResource, readAttribute, readLabels, readResourceInput } from './resources.ts';

/** The model types with their `readonly` removed, for building values field by field. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// ---------------------------------------------------------------------------------------------
// Errors of the v1 APIs

/**
 * Which step refused a v1 API message: turning the JSON into the proto message (Mesos answers
 * 400 `Failed to convert JSON into Call protobuf: <reason>`), validating the call (400 `Failed
 * to validate scheduler::Call: <reason>`, or `executor::Call`), or a well-formed message of a
 * type Corral does not implement (a call: Mesos answers 501 Not Implemented).
 */
export type ApiErrorStage = 'convert' | 'validate' | 'unsupported';

/**
 * A ValidationError from the v1 API call decoders whose `message` is exactly Mesos's text
 * (`Missing required fields: subscribe.framework_info.user`, `Not expecting a JSON number for
 * field 'type'`, `Expecting 'framework_id' to be present`), so an HTTP handler can send it as
 * the 400 body. `field` holds the full dotted path of the offending field; `stage` says which
 * Mesos step the error belongs to.
 */
export class ApiValidationError extends ValidationError {
  readonly stage: ApiErrorStage;
  /** The message without the field prefix a ValidationError normally carries (= `message`). */
  readonly reason: string;

  constructor(stage: ApiErrorStage, field: string, reason: string, options: { code?: string; cause?: unknown } = {}) {
    super(field, reason, options);
    this.name = 'ApiValidationError';
    this.stage = stage;
    this.reason = reason;
    this.message = reason;
  }
}

/**
 * A well-formed call or event of a type the model does not carry (executor UNKNOWN, scheduler
 * INVERSE_OFFERS, executor LAUNCH_GROUP, …): stage 'unsupported', code `UNSUPPORTED`.
 */
export function unsupportedType(kind: 'call' | 'event', name: string): ApiValidationError {
  return new ApiValidationError('unsupported', 'type', `Received an unsupported ${kind} type: ${name}`, { code: 'UNSUPPORTED' });
}

/** A call validation error (Mesos's `validation::…::call::validate`). */
export function validationFailure(field: string, reason: string): ApiValidationError {
  return new ApiValidationError('validate', field, reason);
}

/**
 * Decode a top-level API message with `read`, turning any reader error into an
 * ApiValidationError of stage 'convert' whose message is the bare stout text. A body that is
 * not a JSON object is `Expecting a JSON object`, as stout says.
 */
export function convertApiMessage<T>(json: unknown, read: (r: JsonReader) => T): T {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ApiValidationError('convert', 'call', 'Expecting a JSON object');
  }
  try {
    return decodeMessage(json, '', read);
  } catch (e) {
    if (e instanceof ValidationError && !(e instanceof ApiValidationError)) {
      const field = e.field ?? '';
      const reason = e.message.startsWith(`${field}: `) ? e.message.slice(field.length + 2) : e.message;
      throw new ApiValidationError('convert', field, reason, { code: e.code, cause: e.cause });
    }
    throw e;
  }
}

/** Whether `b64` (already checked to be base64) holds exactly 16 bytes, a status update UUID. */
export function isUuidBytes(b64: string): boolean {
  // 16 bytes are 24 base64 characters ending in '=='; a valid base64 text of that length
  // with that padding always holds 16 bytes.
  return b64.length === 24 && b64.endsWith('==') && !b64.endsWith('===');
}

// ---------------------------------------------------------------------------------------------
// Enum names (the full v1 lists: a name the proto knows is read even if Corral never emits it)

export { TASK_REASONS, TASK_STATES };

export const TASK_SOURCES: readonly TaskSource[] = ['SOURCE_MASTER', 'SOURCE_AGENT', 'SOURCE_EXECUTOR'];

export const CAPABILITY_TYPES: readonly CapabilityType[] = [
  'REVOCABLE_RESOURCES',
  'TASK_KILLING_STATE',
  'GPU_RESOURCES',
  'SHARED_RESOURCES',
  'PARTITION_AWARE',
  'MULTI_ROLE',
  'RESERVATION_REFINEMENT',
  'REGION_AWARE',
];

/** `ExecutorInfo.Type` without UNKNOWN (which reads as "not set"). */
const EXECUTOR_TYPES: readonly ExecutorType[] = ['DEFAULT', 'CUSTOM'];

/** `Offer.Operation.Type`, all of it; Corral implements the first five. */
export const OPERATION_TYPES = [
  'LAUNCH',
  'RESERVE',
  'UNRESERVE',
  'CREATE',
  'DESTROY',
  'LAUNCH_GROUP',
  'GROW_VOLUME',
  'SHRINK_VOLUME',
  'CREATE_DISK',
  'DESTROY_DISK',
  'UNKNOWN',
] as const;

// ---------------------------------------------------------------------------------------------
// Ids, passthrough, durations, labels

function readValue(r: JsonReader): string {
  return r.requiredString('value');
}

/** An optional id field (`{"value": …}`). */
export function readId(r: JsonReader, key: string): string | undefined {
  return r.message(key, readValue);
}

/** A required id field. */
export function readRequiredId(r: JsonReader, key: string): string {
  return r.requiredMessage(key, readValue);
}

/** A repeated id field. */
export function readIds(r: JsonReader, key: string): string[] {
  return r.repeatedMessage(key, readValue);
}

/** An id as the wire wraps it; undefined stays unset. */
export function idJson(value: string): JsonObject;
export function idJson(value: string | undefined): JsonObject | undefined;
export function idJson(value: string | undefined): JsonObject | undefined {
  return value === undefined ? undefined : { value };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A sub-message Corral does not interpret: its JSON object, unchanged. */
export function readPassthrough(r: JsonReader, key: string): Passthrough | undefined {
  const v = r.raw(key);
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) throw typeMismatch(r.at(key), v);
  return v;
}

function passthroughJson(p: Passthrough | undefined): JsonObject | undefined {
  return p as JsonObject | undefined;
}

/** A `DurationInfo` (or `TimeInfo`) field, in nanoseconds. */
export function readNanoseconds(r: JsonReader, key: string): number | undefined {
  return r.message(key, (d) => d.requiredInteger('nanoseconds', 'int64'));
}

function nanosecondsJson(ns: number | undefined): JsonObject | undefined {
  return ns === undefined ? undefined : { nanoseconds: ns };
}

/** A `Labels` field. */
export function readLabelsField(r: JsonReader, key = 'labels'): Labels | undefined {
  return r.message(key, (x) => ({ labels: readLabels(x) }));
}

function labelsJson(l: Labels | undefined): JsonObject | undefined {
  return l === undefined ? undefined : encodeLabels(l.labels);
}

// ---------------------------------------------------------------------------------------------
// Small messages: Address, URL, Filters, KillPolicy

export function readAddress(r: JsonReader): Address {
  const out: Mutable<Address> = { port: r.requiredInteger('port', 'int32') };
  const hostname = r.string('hostname');
  if (hostname !== undefined) out.hostname = hostname;
  const ip = r.string('ip');
  if (ip !== undefined) out.ip = ip;
  return out;
}

export function encodeAddress(a: Address): JsonObject {
  return emitObject({ hostname: a.hostname, ip: a.ip, port: a.port });
}

export function readUrl(r: JsonReader): Url {
  const out: Mutable<Url> = { scheme: r.requiredString('scheme'), address: r.requiredMessage('address', readAddress) };
  const path = r.string('path');
  if (path !== undefined) out.path = path;
  return out;
}

export function encodeUrl(u: Url): JsonObject {
  return emitObject({ scheme: u.scheme, address: encodeAddress(u.address), path: u.path });
}

/** `Filters`: `refuse_seconds` defaults to 5.0. */
export function readFilters(r: JsonReader): Filters {
  return { refuseSeconds: r.double('refuse_seconds') ?? 5 };
}

export function encodeFilters(f: Filters): JsonObject {
  return { refuse_seconds: double(f.refuseSeconds) };
}

export function readKillPolicy(r: JsonReader): KillPolicy {
  const ns = readNanoseconds(r, 'grace_period');
  return ns === undefined ? {} : { gracePeriodNs: ns };
}

export function encodeKillPolicy(k: KillPolicy): JsonObject {
  return emitObject({ grace_period: nanosecondsJson(k.gracePeriodNs) });
}

// ---------------------------------------------------------------------------------------------
// Resources a framework submits: wire-checked ResourceInput, and written back as they came

/** One submitted `Resource`, wire-checked only; an absent `role` reads as `*`. */
export function readSubmittedResource(r: JsonReader): ResourceInput {
  return readResourceInput(r, { defaultRole: '*' });
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function labelListJson(v: unknown): JsonObject | undefined {
  if (!Array.isArray(v)) return undefined;
  const labels = v.filter(isPlainObject).map((l) => ({ key: String(l.key), ...(typeof l.value === 'string' ? { value: l.value } : {}) }));
  return encodeLabels(labels as Label[]);
}

/**
 * A ResourceInput (or a validated Resource, which has the same shape) as v1 JSON. Fields of the
 * wrong JavaScript type are left out rather than guessed at.
 */
export function encodeResourceInput(input: ResourceInput): JsonObject {
  const type = str(input.type);
  const resv = isPlainObject(input.reservation) ? input.reservation : undefined;
  const disk = isPlainObject(input.disk) ? input.disk : undefined;
  let diskJson: JsonObject | undefined;
  if (disk) {
    const p = isPlainObject(disk.persistence) ? disk.persistence : undefined;
    const v = isPlainObject(disk.volume) ? disk.volume : undefined;
    const s = isPlainObject(disk.source) ? disk.source : undefined;
    const root = s ? str(s.root) : undefined;
    diskJson = emitObject({
      persistence: p && emitObject({ id: str(p.id), principal: str(p.principal) }),
      volume: v && emitObject({ mode: str(v.mode), container_path: str(v.containerPath), host_path: str(v.hostPath) }),
      source:
        s &&
        emitObject({
          type: str(s.type),
          path: s.type === 'PATH' && root !== undefined ? { root } : undefined,
          mount: s.type === 'MOUNT' && root !== undefined ? { root } : undefined,
        }),
    });
  }
  return emitObject({
    name: str(input.name),
    type,
    scalar: typeof input.scalar === 'number' ? { value: double(input.scalar) } : undefined,
    ranges: Array.isArray(input.ranges)
      ? emitObject({ range: input.ranges.filter(isPlainObject).map((x) => ({ begin: x.begin as number, end: x.end as number })) })
      : undefined,
    set: Array.isArray(input.set) ? emitObject({ item: input.set.filter((x): x is string => typeof x === 'string') }) : undefined,
    role: str(input.role),
    reservation: resv && emitObject({ principal: str(resv.principal), labels: labelListJson(resv.labels) }),
    disk: diskJson,
    revocable: input.revocable === true ? {} : undefined,
  });
}

function resourceInputsJson(rs: readonly ResourceInput[]): JsonObject[] {
  return rs.map(encodeResourceInput);
}

/**
 * A repeated `Resource` field of Corral's own (offers, agents), validated on the way in. Each
 * element is read in its own decode context so that its missing required fields are reported
 * (`Missing required fields: offers[0].resources[1].name`) before validation could trip over
 * a placeholder.
 */
export function readValidatedResources(r: JsonReader, key: string): Resource[] {
  return r.repeated(key, (v, path) => {
    const ctx = new DecodeContext();
    const input = readResourceInput(ctx.reader(v, path), { defaultRole: '*' });
    ctx.finish(path);
    return validateResource(input, path);
  });
}

// ---------------------------------------------------------------------------------------------
// CommandInfo, URI, Environment

export function readUri(r: JsonReader): Uri {
  const out: Mutable<Uri> = { value: r.requiredString('value'), extract: r.bool('extract') ?? true };
  const executable = r.bool('executable');
  if (executable !== undefined) out.executable = executable;
  const cache = r.bool('cache');
  if (cache !== undefined) out.cache = cache;
  const outputFile = r.string('output_file');
  if (outputFile !== undefined) out.outputFile = outputFile;
  const sha256 = r.string('sha256');
  if (sha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(sha256)) throw new ValidationError(r.at('sha256'), `field 'sha256' must be 64 hexadecimal digits (got '${sha256.length > 80 ? `${sha256.slice(0, 80)}...` : sha256}')`);
    out.sha256 = sha256.toLowerCase();
  }
  return out;
}

export function encodeUri(u: Uri): JsonObject {
  return emitObject({ value: u.value, executable: u.executable, extract: u.extract, cache: u.cache, output_file: u.outputFile, sha256: u.sha256 });
}

function readVariable(r: JsonReader): EnvironmentVariable {
  const name = r.requiredString('name');
  const value = r.string('value');
  return value === undefined ? { name } : { name, value };
}

export function readCommandInfo(r: JsonReader): CommandInfo {
  const out: Mutable<CommandInfo> = {
    uris: r.repeatedMessage('uris', readUri),
    shell: r.bool('shell') ?? true,
    arguments: r.repeatedString('arguments'),
  };
  const environment = r.message('environment', (e) => ({ variables: e.repeatedMessage('variables', readVariable) }));
  if (environment !== undefined) out.environment = environment;
  const value = r.string('value');
  if (value !== undefined) out.value = value;
  const user = r.string('user');
  if (user !== undefined) out.user = user;
  return out;
}

export function encodeCommandInfo(c: CommandInfo): JsonObject {
  return emitObject({
    uris: c.uris.map(encodeUri),
    environment: c.environment && emitObject({ variables: c.environment.variables.map((v) => emitObject({ name: v.name, value: v.value })) }),
    shell: c.shell,
    value: c.value,
    arguments: c.arguments.slice(),
    user: c.user,
  });
}

// ---------------------------------------------------------------------------------------------
// ExecutorInfo, TaskInfo

export function readExecutorInfo(r: JsonReader): ExecutorInfo {
  const out: Mutable<ExecutorInfo> = {
    executorId: readRequiredId(r, 'executor_id'),
    resources: r.repeatedMessage('resources', readSubmittedResource),
  };
  const type = r.enum('type', EXECUTOR_TYPES);
  if (type !== undefined) out.type = type;
  const frameworkId = readId(r, 'framework_id');
  if (frameworkId !== undefined) out.frameworkId = frameworkId;
  const command = r.message('command', readCommandInfo);
  if (command !== undefined) out.command = command;
  const container = readPassthrough(r, 'container');
  if (container !== undefined) out.container = container;
  const name = r.string('name');
  if (name !== undefined) out.name = name;
  const source = r.string('source');
  if (source !== undefined) out.source = source;
  const data = r.bytes('data');
  if (data !== undefined) out.data = data;
  const grace = readNanoseconds(r, 'shutdown_grace_period');
  if (grace !== undefined) out.shutdownGracePeriodNs = grace;
  const labels = readLabelsField(r);
  if (labels !== undefined) out.labels = labels;
  return out;
}

export function encodeExecutorInfo(e: ExecutorInfo): JsonObject {
  return emitObject({
    type: e.type,
    executor_id: idJson(e.executorId),
    framework_id: idJson(e.frameworkId),
    command: e.command && encodeCommandInfo(e.command),
    container: passthroughJson(e.container),
    resources: resourceInputsJson(e.resources),
    name: e.name,
    source: e.source,
    data: e.data,
    shutdown_grace_period: nanosecondsJson(e.shutdownGracePeriodNs),
    labels: labelsJson(e.labels),
  });
}

export function readTaskInfo(r: JsonReader): TaskInfo {
  const out: Mutable<TaskInfo> = {
    name: r.requiredString('name'),
    taskId: readRequiredId(r, 'task_id'),
    agentId: readRequiredId(r, 'agent_id'),
    resources: r.repeatedMessage('resources', readSubmittedResource),
  };
  const executor = r.message('executor', readExecutorInfo);
  if (executor !== undefined) out.executor = executor;
  const command = r.message('command', readCommandInfo);
  if (command !== undefined) out.command = command;
  const container = readPassthrough(r, 'container');
  if (container !== undefined) out.container = container;
  const healthCheck = readPassthrough(r, 'health_check');
  if (healthCheck !== undefined) out.healthCheck = healthCheck;
  const killPolicy = r.message('kill_policy', readKillPolicy);
  if (killPolicy !== undefined) out.killPolicy = killPolicy;
  const data = r.bytes('data');
  if (data !== undefined) out.data = data;
  const labels = readLabelsField(r);
  if (labels !== undefined) out.labels = labels;
  const discovery = readPassthrough(r, 'discovery');
  if (discovery !== undefined) out.discovery = discovery;
  return out;
}

export function encodeTaskInfo(t: TaskInfo): JsonObject {
  return emitObject({
    name: t.name,
    task_id: idJson(t.taskId),
    agent_id: idJson(t.agentId),
    resources: resourceInputsJson(t.resources),
    executor: t.executor && encodeExecutorInfo(t.executor),
    command: t.command && encodeCommandInfo(t.command),
    container: passthroughJson(t.container),
    health_check: passthroughJson(t.healthCheck),
    kill_policy: t.killPolicy && encodeKillPolicy(t.killPolicy),
    data: t.data,
    labels: labelsJson(t.labels),
    discovery: passthroughJson(t.discovery),
  });
}

// ---------------------------------------------------------------------------------------------
// FrameworkInfo

export function readFrameworkInfo(r: JsonReader): FrameworkInfo {
  const out: Mutable<FrameworkInfo> = {
    user: r.requiredString('user'),
    name: r.requiredString('name'),
    failoverTimeout: r.double('failover_timeout') ?? 0,
    checkpoint: r.bool('checkpoint') ?? false,
    role: r.string('role') ?? '*',
    // `Capability.type` is an optional enum: an unknown name leaves it unset, and a capability
    // without a type means nothing, so it is dropped.
    capabilities: r.repeatedMessage('capabilities', (c) => c.enum('type', CAPABILITY_TYPES)).filter((c): c is CapabilityType => c !== undefined),
  };
  const id = readId(r, 'id');
  if (id !== undefined) out.id = id;
  const roles = r.repeatedString('roles');
  if (roles.length > 0) out.roles = roles;
  const hostname = r.string('hostname');
  if (hostname !== undefined) out.hostname = hostname;
  const principal = r.string('principal');
  if (principal !== undefined) out.principal = principal;
  const webuiUrl = r.string('webui_url');
  if (webuiUrl !== undefined) out.webuiUrl = webuiUrl;
  const labels = readLabelsField(r);
  if (labels !== undefined) out.labels = labels;
  return out;
}

export function encodeFrameworkInfo(f: FrameworkInfo): JsonObject {
  return emitObject({
    user: f.user,
    name: f.name,
    id: idJson(f.id),
    failover_timeout: double(f.failoverTimeout),
    checkpoint: f.checkpoint,
    role: f.role,
    roles: f.roles?.slice(),
    hostname: f.hostname,
    principal: f.principal,
    webui_url: f.webuiUrl,
    capabilities: f.capabilities.map((type) => ({ type })),
    labels: labelsJson(f.labels),
  });
}

// ---------------------------------------------------------------------------------------------
// TaskStatus

export function readTaskStatus(r: JsonReader): TaskStatus {
  const out: Mutable<TaskStatus> = { taskId: readRequiredId(r, 'task_id'), state: r.requiredEnum('state', TASK_STATES) };
  const message = r.string('message');
  if (message !== undefined) out.message = message;
  const source = r.enum('source', TASK_SOURCES);
  if (source !== undefined) out.source = source;
  const reason = r.enum('reason', TASK_REASONS);
  if (reason !== undefined) out.reason = reason;
  const data = r.bytes('data');
  if (data !== undefined) out.data = data;
  const agentId = readId(r, 'agent_id');
  if (agentId !== undefined) out.agentId = agentId;
  const executorId = readId(r, 'executor_id');
  if (executorId !== undefined) out.executorId = executorId;
  const timestamp = r.double('timestamp');
  if (timestamp !== undefined) out.timestamp = timestamp;
  const uuid = r.bytes('uuid');
  if (uuid !== undefined) out.uuid = uuid;
  const healthy = r.bool('healthy');
  if (healthy !== undefined) out.healthy = healthy;
  const labels = readLabelsField(r);
  if (labels !== undefined) out.labels = labels;
  const containerStatus = readPassthrough(r, 'container_status');
  if (containerStatus !== undefined) out.containerStatus = containerStatus;
  return out;
}

export function encodeTaskStatus(s: TaskStatus): JsonObject {
  return emitObject({
    task_id: idJson(s.taskId),
    state: s.state,
    message: s.message,
    source: s.source,
    reason: s.reason,
    data: s.data,
    agent_id: idJson(s.agentId),
    executor_id: idJson(s.executorId),
    timestamp: s.timestamp === undefined ? undefined : double(s.timestamp),
    uuid: s.uuid,
    healthy: s.healthy,
    labels: labelsJson(s.labels),
    container_status: passthroughJson(s.containerStatus),
  });
}

// ---------------------------------------------------------------------------------------------
// Offer and Offer.Operation

export function readOffer(r: JsonReader): Offer {
  const out: Mutable<Offer> = {
    id: readRequiredId(r, 'id'),
    frameworkId: readRequiredId(r, 'framework_id'),
    agentId: readRequiredId(r, 'agent_id'),
    hostname: r.requiredString('hostname'),
    resources: readValidatedResources(r, 'resources'),
    attributes: r.repeatedMessage('attributes', readAttribute),
    executorIds: readIds(r, 'executor_ids'),
  };
  const url = r.message('url', readUrl);
  if (url !== undefined) out.url = url;
  return out;
}

export function encodeOffer(o: Offer): JsonObject {
  return emitObject({
    id: idJson(o.id),
    framework_id: idJson(o.frameworkId),
    agent_id: idJson(o.agentId),
    hostname: o.hostname,
    url: o.url && encodeUrl(o.url),
    resources: o.resources.map(encodeResource),
    attributes: o.attributes.map(encodeAttribute),
    executor_ids: o.executorIds.map((value) => ({ value })),
  });
}

/**
 * One `Offer.Operation`. LAUNCH, RESERVE, UNRESERVE, CREATE and DESTROY are read (a missing
 * sub-message reads as empty, as a protobuf getter does); any other type, a missing type or a
 * name the proto does not know is `{type: 'UNSUPPORTED', name}` (Mesos drops those). The
 * sub-messages of the five are wire-checked whenever present, whatever the type, as stout
 * parses every field it knows.
 */
export function readOperation(r: JsonReader): Operation {
  const raw = r.raw('type');
  const type = r.enum('type', OPERATION_TYPES);
  const launch = r.message('launch', (x) => ({ taskInfos: x.repeatedMessage('task_infos', readTaskInfo) }));
  const reserve = r.message('reserve', (x) => ({ resources: x.repeatedMessage('resources', readSubmittedResource) }));
  const unreserve = r.message('unreserve', (x) => ({ resources: x.repeatedMessage('resources', readSubmittedResource) }));
  const create = r.message('create', (x) => ({ volumes: x.repeatedMessage('volumes', readSubmittedResource) }));
  const destroy = r.message('destroy', (x) => ({ volumes: x.repeatedMessage('volumes', readSubmittedResource) }));
  switch (type) {
    case 'LAUNCH':
      return { type, launch: launch ?? { taskInfos: [] } };
    case 'RESERVE':
      return { type, reserve: reserve ?? { resources: [] } };
    case 'UNRESERVE':
      return { type, unreserve: unreserve ?? { resources: [] } };
    case 'CREATE':
      return { type, create: create ?? { volumes: [] } };
    case 'DESTROY':
      return { type, destroy: destroy ?? { volumes: [] } };
    default:
      return { type: 'UNSUPPORTED', name: type ?? (typeof raw === 'string' ? raw : 'UNKNOWN') };
  }
}

export function encodeOperation(o: Operation): JsonObject {
  switch (o.type) {
    case 'LAUNCH':
      return { type: o.type, launch: emitObject({ task_infos: o.launch.taskInfos.map(encodeTaskInfo) }) };
    case 'RESERVE':
      return { type: o.type, reserve: emitObject({ resources: resourceInputsJson(o.reserve.resources) }) };
    case 'UNRESERVE':
      return { type: o.type, unreserve: emitObject({ resources: resourceInputsJson(o.unreserve.resources) }) };
    case 'CREATE':
      return { type: o.type, create: emitObject({ volumes: resourceInputsJson(o.create.volumes) }) };
    case 'DESTROY':
      return { type: o.type, destroy: emitObject({ volumes: resourceInputsJson(o.destroy.volumes) }) };
    case 'UNSUPPORTED':
      // Only the type survives; the content of an unsupported operation is not kept.
      return { type: o.name };
  }
}

// ---------------------------------------------------------------------------------------------
// MasterInfo and AgentInfo

export function readMasterInfo(r: JsonReader): MasterInfo {
  const out: Mutable<MasterInfo> = {
    id: r.requiredString('id'),
    ip: r.requiredInteger('ip', 'uint32'),
    port: r.requiredInteger('port', 'uint32'),
  };
  const pid = r.string('pid');
  if (pid !== undefined) out.pid = pid;
  const hostname = r.string('hostname');
  if (hostname !== undefined) out.hostname = hostname;
  const version = r.string('version');
  if (version !== undefined) out.version = version;
  const address = r.message('address', readAddress);
  if (address !== undefined) out.address = address;
  return out;
}

export function encodeMasterInfo(m: MasterInfo): JsonObject {
  return emitObject({
    id: m.id,
    ip: m.ip,
    port: m.port,
    pid: m.pid,
    hostname: m.hostname,
    version: m.version,
    address: m.address && encodeAddress(m.address),
  });
}

/**
 * The IPv4 address `a.b.c.d` as `MasterInfo.ip` carries it: the four bytes in network order
 * read as a little-endian uint32 (127.0.0.1 → 16777343).
 */
export function masterInfoIp(ipv4: string): number {
  const parts = ipv4.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new ValidationError('ip', `'${ipv4}' is not an IPv4 address`);
  }
  const [a, b, c, d] = parts.map(Number) as [number, number, number, number];
  return (a | (b << 8) | (c << 16) | (d << 24)) >>> 0;
}

/** v1 `AgentInfo`. `port` has the default 5051; `checkpoint` is not a v1 field (see internal_codec). */
export function readAgentInfo(r: JsonReader): AgentInfo {
  const out: Mutable<AgentInfo> = {
    hostname: r.requiredString('hostname'),
    port: r.integer('port', 'int32') ?? 5051,
    resources: readValidatedResources(r, 'resources'),
    attributes: r.repeatedMessage('attributes', readAttribute),
  };
  const id = readId(r, 'id');
  if (id !== undefined) out.id = id;
  return out;
}

export function encodeAgentInfo(a: AgentInfo): JsonObject {
  return emitObject({
    hostname: a.hostname,
    port: a.port ?? 5051,
    resources: a.resources.map(encodeResource),
    attributes: a.attributes.map(encodeAttribute),
    id: idJson(a.id),
  });
}

// ---------------------------------------------------------------------------------------------
// Whole-message decoders (errors name `path`)

export const decodeFrameworkInfo = (json: unknown, path = 'framework_info'): FrameworkInfo => decodeMessage(json, path, readFrameworkInfo);
export const decodeTaskInfo = (json: unknown, path = 'task'): TaskInfo => decodeMessage(json, path, readTaskInfo);
export const decodeExecutorInfo = (json: unknown, path = 'executor_info'): ExecutorInfo => decodeMessage(json, path, readExecutorInfo);
export const decodeCommandInfo = (json: unknown, path = 'command'): CommandInfo => decodeMessage(json, path, readCommandInfo);
export const decodeTaskStatus = (json: unknown, path = 'status'): TaskStatus => decodeMessage(json, path, readTaskStatus);
export const decodeOffer = (json: unknown, path = 'offer'): Offer => decodeMessage(json, path, readOffer);
export const decodeOperation = (json: unknown, path = 'operation'): Operation => decodeMessage(json, path, readOperation);
export const decodeMasterInfo = (json: unknown, path = 'master_info'): MasterInfo => decodeMessage(json, path, readMasterInfo);
export const decodeAgentInfo = (json: unknown, path = 'agent_info'): AgentInfo => decodeMessage(json, path, readAgentInfo);
export const decodeFilters = (json: unknown, path = 'filters'): Filters => decodeMessage(json, path, readFilters);
export const decodeKillPolicy = (json: unknown, path = 'kill_policy'): KillPolicy => decodeMessage(json, path, readKillPolicy);
