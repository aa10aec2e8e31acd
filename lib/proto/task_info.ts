/** v1 JSON of `TaskInfo`. */
import { encodeCommandInfo, readCommandInfo } from './command_info.ts';
import { encodeExecutorInfo, readExecutorInfo } from './executor_info.ts';
import { type JsonObject, type JsonReader, decodeMessage, emitObject } from './json.ts';
import {
  type Mutable,
  encodeKillPolicy,
  idJson,
  labelsJson,
  passthroughJson,
  readKillPolicy,
  readLabelsField,
  readPassthrough,
  readRequiredId,
} from './message_fields.ts';
import type { TaskInfo } from './messages.ts';
import { readSubmittedResource, resourceInputsJson } from './submitted_resources.ts';

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

export const decodeTaskInfo = (json: unknown, path = 'task'): TaskInfo => decodeMessage(json, path, readTaskInfo);
