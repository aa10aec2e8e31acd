/**
 * The v1 operator API's calls (`POST /api/v1` on the master and on the agent): JSON in, typed
 * calls out, in the order Mesos checks them (see lib/proto/scheduler.ts for the pattern):
 *
 * 1. convert: stout's JSON → proto rules over every sub-message present, then the required
 *    fields (`Failed to convert JSON into Call protobuf: Missing required fields: read_file.path`).
 * 2. validate: `type` present (an unknown name is dropped, as stout drops it, and reads as
 *    absent), and the sub-message the type requires (`Expecting 'get_metrics' to be present`).
 *
 * A known type that Corral does not implement, and UNKNOWN, decode to `{type: 'UNSUPPORTED'}`
 * (the handler answers 501, as Mesos answers UNKNOWN). The responses are built where the records
 * are (lib/master/http/operator_api/, lib/agent/http/operator_api.ts).
 */
import type { ResourceInput } from '../common/resources/index.ts';
import { convertApiMessage, unsupportedType, validationFailure } from './api_errors.ts';
import type { JsonReader } from './json.ts';
import { readNanoseconds, readRequiredId } from './message_fields.ts';
import { readSubmittedResource } from './submitted_resources.ts';

/** `mesos.v1.master.Call.Type`, every name. */
export const MASTER_CALL_TYPES = [
  'UNKNOWN',
  'GET_HEALTH',
  'GET_FLAGS',
  'GET_VERSION',
  'GET_METRICS',
  'GET_LOGGING_LEVEL',
  'SET_LOGGING_LEVEL',
  'LIST_FILES',
  'READ_FILE',
  'GET_STATE',
  'GET_AGENTS',
  'GET_FRAMEWORKS',
  'GET_EXECUTORS',
  'GET_OPERATIONS',
  'GET_TASKS',
  'GET_ROLES',
  'GET_WEIGHTS',
  'UPDATE_WEIGHTS',
  'GET_MASTER',
  'SUBSCRIBE',
  'RESERVE_RESOURCES',
  'UNRESERVE_RESOURCES',
  'CREATE_VOLUMES',
  'DESTROY_VOLUMES',
  'GROW_VOLUME',
  'SHRINK_VOLUME',
  'GET_MAINTENANCE_STATUS',
  'GET_MAINTENANCE_SCHEDULE',
  'UPDATE_MAINTENANCE_SCHEDULE',
  'START_MAINTENANCE',
  'STOP_MAINTENANCE',
  'DRAIN_AGENT',
  'DEACTIVATE_AGENT',
  'REACTIVATE_AGENT',
  'GET_QUOTA',
  'UPDATE_QUOTA',
  'SET_QUOTA',
  'REMOVE_QUOTA',
  'TEARDOWN',
  'MARK_AGENT_GONE',
] as const;

/** `mesos.v1.agent.Call.Type`, every name. */
export const AGENT_CALL_TYPES = [
  'UNKNOWN',
  'GET_HEALTH',
  'GET_FLAGS',
  'GET_VERSION',
  'GET_METRICS',
  'GET_LOGGING_LEVEL',
  'SET_LOGGING_LEVEL',
  'LIST_FILES',
  'READ_FILE',
  'GET_STATE',
  'GET_CONTAINERS',
  'GET_FRAMEWORKS',
  'GET_EXECUTORS',
  'GET_OPERATIONS',
  'GET_TASKS',
  'GET_AGENT',
  'GET_RESOURCE_PROVIDERS',
  'LAUNCH_NESTED_CONTAINER',
  'WAIT_NESTED_CONTAINER',
  'KILL_NESTED_CONTAINER',
  'REMOVE_NESTED_CONTAINER',
  'LAUNCH_NESTED_CONTAINER_SESSION',
  'ATTACH_CONTAINER_INPUT',
  'ATTACH_CONTAINER_OUTPUT',
  'LAUNCH_CONTAINER',
  'WAIT_CONTAINER',
  'KILL_CONTAINER',
  'REMOVE_CONTAINER',
  'ADD_RESOURCE_PROVIDER_CONFIG',
  'UPDATE_RESOURCE_PROVIDER_CONFIG',
  'REMOVE_RESOURCE_PROVIDER_CONFIG',
  'MARK_RESOURCE_PROVIDER_GONE',
  'PRUNE_IMAGES',
] as const;

export type MasterCallType = (typeof MASTER_CALL_TYPES)[number];
export type AgentCallType = (typeof AGENT_CALL_TYPES)[number];

export interface WeightInfo {
  readonly role: string;
  readonly weight: number;
}

/** The calls both daemons share. */
export type CommonOperatorCall =
  | { readonly type: 'GET_HEALTH' | 'GET_FLAGS' | 'GET_VERSION' | 'GET_LOGGING_LEVEL' | 'GET_STATE' | 'GET_FRAMEWORKS' | 'GET_EXECUTORS' | 'GET_TASKS' }
  | { readonly type: 'GET_METRICS'; readonly getMetrics: { readonly timeoutNs?: number } }
  | { readonly type: 'SET_LOGGING_LEVEL'; readonly setLoggingLevel: { readonly level: number; readonly durationNs: number } }
  | { readonly type: 'LIST_FILES'; readonly listFiles: { readonly path: string } }
  | { readonly type: 'READ_FILE'; readonly readFile: { readonly path: string; readonly offset: number; readonly length?: number } }
  /** A known type Corral does not implement, or UNKNOWN: answered 501. */
  | { readonly type: 'UNSUPPORTED'; readonly name: string };

export type MasterOperatorCall =
  | CommonOperatorCall
  | { readonly type: 'GET_AGENTS' | 'GET_ROLES' | 'GET_WEIGHTS' | 'GET_MASTER' }
  | { readonly type: 'SUBSCRIBE' }
  | { readonly type: 'UPDATE_WEIGHTS'; readonly updateWeights: { readonly weightInfos: readonly WeightInfo[] } }
  | {
      readonly type: 'RESERVE_RESOURCES' | 'UNRESERVE_RESOURCES' | 'CREATE_VOLUMES' | 'DESTROY_VOLUMES';
      readonly agentId: string;
      readonly resources: readonly ResourceInput[];
      /** The field the resources came in (`reserve_resources.resources`, `create_volumes.volumes`), for messages. */
      readonly field: string;
    }
  | { readonly type: 'TEARDOWN'; readonly frameworkId: string }
  | { readonly type: 'MARK_AGENT_GONE'; readonly agentId: string };

export type AgentOperatorCall = CommonOperatorCall | { readonly type: 'GET_CONTAINERS' | 'GET_AGENT' };

// ---------------------------------------------------------------------------------------------
// Sub-message readers

type SubReader = (r: JsonReader) => object;

function readGetMetrics(r: JsonReader): { timeoutNs?: number } {
  const timeoutNs = readNanoseconds(r, 'timeout');
  return timeoutNs === undefined ? {} : { timeoutNs };
}

function readSetLoggingLevel(r: JsonReader): { level: number; durationNs: number } {
  const level = r.requiredInteger('level', 'uint32');
  const durationNs = r.requiredMessage('duration', (d) => d.requiredInteger('nanoseconds', 'int64'));
  return { level, durationNs };
}

function readPath(r: JsonReader): { path: string } {
  return { path: r.requiredString('path') };
}

function readReadFile(r: JsonReader): { path: string; offset: number; length?: number } {
  const path = r.requiredString('path');
  const offset = r.requiredInteger('offset', 'uint64');
  const length = r.integer('length', 'uint64');
  return length === undefined ? { path, offset } : { path, offset, length };
}

function readWeights(r: JsonReader): { weightInfos: WeightInfo[] } {
  return {
    weightInfos: r.repeatedMessage('weight_infos', (w) => ({ weight: w.requiredDouble('weight'), role: w.string('role') ?? '' })),
  };
}

function resourcesReader(key: string): SubReader {
  return (r) => ({ agentId: readRequiredId(r, 'agent_id'), resources: r.repeatedMessage(key, readSubmittedResource), key });
}

function idReader(key: string): SubReader {
  return (r) => ({ id: readRequiredId(r, key) });
}

/** The implemented calls that carry a sub-message: its key, its reader, and whether validation requires it. */
const COMMON_SUBS: Readonly<Record<string, readonly [string, SubReader, boolean]>> = {
  GET_METRICS: ['get_metrics', readGetMetrics, true],
  SET_LOGGING_LEVEL: ['set_logging_level', readSetLoggingLevel, true],
  LIST_FILES: ['list_files', readPath, true],
  READ_FILE: ['read_file', readReadFile, true],
};

const MASTER_SUBS: Readonly<Record<string, readonly [string, SubReader, boolean]>> = {
  ...COMMON_SUBS,
  UPDATE_WEIGHTS: ['update_weights', readWeights, true],
  RESERVE_RESOURCES: ['reserve_resources', resourcesReader('resources'), true],
  UNRESERVE_RESOURCES: ['unreserve_resources', resourcesReader('resources'), true],
  CREATE_VOLUMES: ['create_volumes', resourcesReader('volumes'), true],
  DESTROY_VOLUMES: ['destroy_volumes', resourcesReader('volumes'), true],
  TEARDOWN: ['teardown', idReader('framework_id'), true],
  MARK_AGENT_GONE: ['mark_agent_gone', idReader('agent_id'), true],
};

const MASTER_PLAIN = new Set([
  'GET_HEALTH',
  'GET_FLAGS',
  'GET_VERSION',
  'GET_LOGGING_LEVEL',
  'GET_STATE',
  'GET_AGENTS',
  'GET_FRAMEWORKS',
  'GET_EXECUTORS',
  'GET_TASKS',
  'GET_ROLES',
  'GET_WEIGHTS',
  'GET_MASTER',
  'SUBSCRIBE',
]);
const AGENT_PLAIN = new Set([
  'GET_HEALTH',
  'GET_FLAGS',
  'GET_VERSION',
  'GET_LOGGING_LEVEL',
  'GET_STATE',
  'GET_CONTAINERS',
  'GET_FRAMEWORKS',
  'GET_EXECUTORS',
  'GET_TASKS',
  'GET_AGENT',
]);

function decode<T>(
  json: unknown,
  names: readonly string[],
  subs: Readonly<Record<string, readonly [string, SubReader, boolean]>>,
  plain: ReadonlySet<string>,
): T {
  const parsed = convertApiMessage(json, (r) => {
    const type = r.enum('type', names);
    const found: Record<string, object> = {};
    // Every implemented sub-message present is converted, whatever the type (as stout does).
    for (const [name, [key, read]] of Object.entries(subs)) {
      const v = r.message(key, read);
      if (v !== undefined) found[name] = v;
    }
    return { type, found };
  });
  const { type, found } = parsed;
  if (type === undefined) throw validationFailure('type', "Expecting 'type' to be present");
  const sub = subs[type];
  if (sub !== undefined) {
    const [key, , required] = sub;
    const value = found[type];
    if (value === undefined && required) throw validationFailure(key, `Expecting '${key}' to be present`);
    return build(type, value ?? {}) as T;
  }
  if (plain.has(type)) return { type } as T;
  // Also UNKNOWN: Mesos answers it 501 Not Implemented.
  throw unsupportedType('call', type);
}

function build(type: string, v: object): object {
  const x = v as Record<string, unknown>;
  switch (type) {
    case 'GET_METRICS':
      return { type, getMetrics: v };
    case 'SET_LOGGING_LEVEL':
      return { type, setLoggingLevel: v };
    case 'LIST_FILES':
      return { type, listFiles: v };
    case 'READ_FILE':
      return { type, readFile: v };
    case 'UPDATE_WEIGHTS':
      return { type, updateWeights: v };
    case 'TEARDOWN':
      return { type, frameworkId: x.id };
    case 'MARK_AGENT_GONE':
      return { type, agentId: x.id };
    default:
      // RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES, DESTROY_VOLUMES
      return { type, agentId: x.agentId, resources: x.resources, field: `${type.toLowerCase()}.${String(x.key)}` };
  }
}

/**
 * Decode a master `Call`. Throws an ApiValidationError: stage 'convert' or 'validate' (400), or
 * 'unsupported' (501) for UNKNOWN and the types Corral does not implement.
 */
export function decodeMasterCall(json: unknown): MasterOperatorCall {
  return decode<MasterOperatorCall>(json, MASTER_CALL_TYPES, MASTER_SUBS, MASTER_PLAIN);
}

/** Decode an agent `Call` (as decodeMasterCall). */
export function decodeAgentCall(json: unknown): AgentOperatorCall {
  return decode<AgentOperatorCall>(json, AGENT_CALL_TYPES, COMMON_SUBS, AGENT_PLAIN);
}
