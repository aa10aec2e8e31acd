/** v1 JSON of `TaskStatus`, and the names of its state, source and reason enums. */
import { type JsonObject, type JsonReader, decodeMessage, emitObject } from './json.ts';
import { double } from './json_text.ts';
import { type Mutable, idJson, labelsJson, passthroughJson, readId, readLabelsField, readPassthrough, readRequiredId } from './message_fields.ts';
import type { TaskSource, TaskStatus } from './messages.ts';
import { TASK_REASONS, TASK_STATES } from './messages.ts';

// The full v1 lists: a name the proto knows is read even if Corral never emits it.
export { TASK_REASONS, TASK_STATES };

export const TASK_SOURCES: readonly TaskSource[] = ['SOURCE_MASTER', 'SOURCE_AGENT', 'SOURCE_EXECUTOR'];

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

export const decodeTaskStatus = (json: unknown, path = 'status'): TaskStatus => decodeMessage(json, path, readTaskStatus);
