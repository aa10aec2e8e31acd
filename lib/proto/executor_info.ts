/** v1 JSON of `ExecutorInfo`. */
import { encodeCommandInfo, readCommandInfo } from './command_info.ts';
import { type JsonObject, type JsonReader, decodeMessage, emitObject } from './json.ts';
import {
  type Mutable,
  idJson,
  labelsJson,
  nanosecondsJson,
  passthroughJson,
  readId,
  readLabelsField,
  readNanoseconds,
  readPassthrough,
  readRequiredId,
} from './message_fields.ts';
import type { ExecutorInfo, ExecutorType } from './messages.ts';
import { readSubmittedResource, resourceInputsJson } from './submitted_resources.ts';

/** `ExecutorInfo.Type` without UNKNOWN (which reads as "not set"). */
const EXECUTOR_TYPES: readonly ExecutorType[] = ['DEFAULT', 'CUSTOM'];

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

export const decodeExecutorInfo = (json: unknown, path = 'executor_info'): ExecutorInfo => decodeMessage(json, path, readExecutorInfo);
