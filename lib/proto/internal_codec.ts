/**
 * JSON for Corral's own master ↔ agent protocol (lib/proto/internal.ts). Each message is one
 * flat object: `{"type": "<TYPE>", <snake_case fields>}`. Ids are wrapped as in v1
 * (`{"value": …}`), except `master_id`, a plain string as in MasterInfo. Embedded Mesos messages
 * use the v1 codecs (TaskInfo, FrameworkInfo, TaskStatus, ExecutorInfo, AgentInfo, Resource),
 * so the same stout reading rules apply; AgentInfo additionally carries `checkpoint`, which v1
 * dropped from AgentInfo but Corral's agents still report.
 *
 * Decoding validates: wrong JSON kinds, unknown types and missing required fields throw a
 * ValidationError naming the field (`tasks[0].task.task_id`, `Missing required fields: …`).
 * Agent-reported resources (AgentInfo, UPDATE_OVERSUBSCRIBED, CHECKPOINT_RESOURCES) are
 * validated Resources; task and executor resources stay ResourceInput, as in v1.
 */
import type { Resource } from '../common/resources/index.ts';
import { TASK_STATES, encodeTaskStatus, readTaskStatus } from './task_status.ts';
import { encodeAgentInfo, readAgentInfo } from './master_agent_info.ts';
import { encodeExecutorInfo, readExecutorInfo } from './executor_info.ts';
import { encodeFrameworkInfo, readFrameworkInfo } from './framework_info.ts';
import { encodeKillPolicy, idJson, readId, readKillPolicy, readRequiredId } from './message_fields.ts';
import { encodeTaskInfo, readTaskInfo } from './task_info.ts';
import { readValidatedResources } from './submitted_resources.ts';
import type { AgentExecutor, AgentTask, AgentToMaster, MasterToAgent } from './internal.ts';
import { type JsonObject, type JsonReader, decodeMessage, emitObject } from './json.ts';
import type { AgentInfo } from './messages.ts';
import { encodeResource } from './resources.ts';

export const AGENT_TO_MASTER_TYPES = [
  'REGISTER',
  'REREGISTER',
  'STATUS_UPDATE',
  'EXECUTOR_EXITED',
  'EXECUTOR_MESSAGE',
  'PONG',
  'UPDATE_OVERSUBSCRIBED',
] as const satisfies readonly AgentToMaster['type'][];

export const MASTER_TO_AGENT_TYPES = [
  'REGISTERED',
  'REREGISTERED',
  'RUN_TASK',
  'KILL_TASK',
  'ACKNOWLEDGE',
  'SHUTDOWN_FRAMEWORK',
  'SHUTDOWN_EXECUTOR',
  'FRAMEWORK_MESSAGE',
  'UPDATE_FRAMEWORK',
  'CHECKPOINT_RESOURCES',
  'PING',
  'SHUTDOWN',
] as const satisfies readonly MasterToAgent['type'][];

// ---------------------------------------------------------------------------------------------
// Shared pieces

function resourcesJson(rs: readonly Resource[]): JsonObject[] {
  return rs.map(encodeResource);
}

/** v1 AgentInfo plus `checkpoint`. */
function readInternalAgentInfo(r: JsonReader): AgentInfo {
  const info = readAgentInfo(r);
  const checkpoint = r.bool('checkpoint');
  return checkpoint === undefined ? info : { ...info, checkpoint };
}

function agentInfoJson(a: AgentInfo): JsonObject {
  const out = encodeAgentInfo(a);
  if (a.checkpoint !== undefined) out.checkpoint = a.checkpoint;
  return out;
}

function readAgentTask(r: JsonReader): AgentTask {
  const out: { -readonly [K in keyof AgentTask]: AgentTask[K] } = {
    frameworkId: readRequiredId(r, 'framework_id'),
    task: r.requiredMessage('task', readTaskInfo),
    state: r.requiredEnum('state', TASK_STATES),
  };
  const executorId = readId(r, 'executor_id');
  if (executorId !== undefined) out.executorId = executorId;
  const latestStatus = r.message('latest_status', readTaskStatus);
  if (latestStatus !== undefined) out.latestStatus = latestStatus;
  return out;
}

function agentTaskJson(t: AgentTask): JsonObject {
  return emitObject({
    framework_id: idJson(t.frameworkId),
    executor_id: idJson(t.executorId),
    task: encodeTaskInfo(t.task),
    state: t.state,
    latest_status: t.latestStatus && encodeTaskStatus(t.latestStatus),
  });
}

function readAgentExecutor(r: JsonReader): AgentExecutor {
  return { frameworkId: readRequiredId(r, 'framework_id'), executorInfo: r.requiredMessage('executor_info', readExecutorInfo) };
}

// ---------------------------------------------------------------------------------------------
// Agent → master

export function encodeAgentToMaster(m: AgentToMaster): JsonObject {
  switch (m.type) {
    case 'REGISTER':
      return emitObject({ type: m.type, agent_info: agentInfoJson(m.agentInfo), version: m.version, ip: m.ip });
    case 'REREGISTER':
      return emitObject({
        type: m.type,
        agent_id: idJson(m.agentId),
        agent_info: agentInfoJson(m.agentInfo),
        version: m.version,
        ip: m.ip,
        tasks: m.tasks.map(agentTaskJson),
        executors: m.executors.map((e) => ({ framework_id: idJson(e.frameworkId), executor_info: encodeExecutorInfo(e.executorInfo) })),
        frameworks: m.frameworks.map(encodeFrameworkInfo),
      });
    case 'STATUS_UPDATE':
      return { type: m.type, framework_id: idJson(m.frameworkId), status: encodeTaskStatus(m.status) };
    case 'EXECUTOR_EXITED':
      return { type: m.type, framework_id: idJson(m.frameworkId), executor_id: idJson(m.executorId), status: m.status };
    case 'EXECUTOR_MESSAGE':
      return { type: m.type, framework_id: idJson(m.frameworkId), executor_id: idJson(m.executorId), data: m.data };
    case 'PONG':
      return { type: m.type };
    case 'UPDATE_OVERSUBSCRIBED':
      return emitObject({ type: m.type, oversubscribed: resourcesJson(m.oversubscribed) });
  }
}

function readAgentToMaster(r: JsonReader): AgentToMaster {
  const type = r.requiredEnum('type', AGENT_TO_MASTER_TYPES);
  if (!r.has('type')) return { type: 'PONG' }; // placeholder: decodeMessage reports `type` missing
  switch (type) {
    case 'REGISTER':
      return { type, agentInfo: r.requiredMessage('agent_info', readInternalAgentInfo), version: r.requiredString('version'), ...advertisedIp(r) };
    case 'REREGISTER':
      return {
        type,
        agentId: readRequiredId(r, 'agent_id'),
        agentInfo: r.requiredMessage('agent_info', readInternalAgentInfo),
        version: r.requiredString('version'),
        ...advertisedIp(r),
        tasks: r.repeatedMessage('tasks', readAgentTask),
        executors: r.repeatedMessage('executors', readAgentExecutor),
        frameworks: r.repeatedMessage('frameworks', readFrameworkInfo),
      };
    case 'STATUS_UPDATE':
      return { type, frameworkId: readRequiredId(r, 'framework_id'), status: r.requiredMessage('status', readTaskStatus) };
    case 'EXECUTOR_EXITED':
      return {
        type,
        frameworkId: readRequiredId(r, 'framework_id'),
        executorId: readRequiredId(r, 'executor_id'),
        status: r.requiredInteger('status', 'int32'),
      };
    case 'EXECUTOR_MESSAGE':
      return { type, frameworkId: readRequiredId(r, 'framework_id'), executorId: readRequiredId(r, 'executor_id'), data: r.requiredBytes('data') };
    case 'PONG':
      return { type };
    case 'UPDATE_OVERSUBSCRIBED':
      return { type, oversubscribed: readValidatedResources(r, 'oversubscribed') };
  }
}

/** Decode an agent's message to the master (parsed JSON); throws a ValidationError naming the field. */
export function decodeAgentToMaster(json: unknown): AgentToMaster {
  return decodeMessage(json, '', readAgentToMaster);
}

// ---------------------------------------------------------------------------------------------
// Master → agent

export function encodeMasterToAgent(m: MasterToAgent): JsonObject {
  switch (m.type) {
    case 'REGISTERED':
    case 'REREGISTERED':
      return { type: m.type, agent_id: idJson(m.agentId), master_id: m.masterId };
    case 'RUN_TASK':
      return { type: m.type, framework_id: idJson(m.frameworkId), framework_info: encodeFrameworkInfo(m.frameworkInfo), task: encodeTaskInfo(m.task) };
    case 'KILL_TASK':
      return emitObject({
        type: m.type,
        framework_id: idJson(m.frameworkId),
        task_id: idJson(m.taskId),
        kill_policy: m.killPolicy && encodeKillPolicy(m.killPolicy),
      });
    case 'ACKNOWLEDGE':
      return { type: m.type, framework_id: idJson(m.frameworkId), task_id: idJson(m.taskId), uuid: m.uuid };
    case 'SHUTDOWN_FRAMEWORK':
      return { type: m.type, framework_id: idJson(m.frameworkId) };
    case 'SHUTDOWN_EXECUTOR':
      return { type: m.type, framework_id: idJson(m.frameworkId), executor_id: idJson(m.executorId) };
    case 'FRAMEWORK_MESSAGE':
      return { type: m.type, framework_id: idJson(m.frameworkId), executor_id: idJson(m.executorId), data: m.data };
    case 'UPDATE_FRAMEWORK':
      return { type: m.type, framework_id: idJson(m.frameworkId), framework_info: encodeFrameworkInfo(m.frameworkInfo) };
    case 'CHECKPOINT_RESOURCES':
      // Always written, even empty: an empty list is the news that nothing is checkpointed.
      return { type: m.type, resources: resourcesJson(m.resources) };
    case 'PING':
      return { type: m.type };
    case 'SHUTDOWN':
      return { type: m.type, message: m.message };
  }
}

function readMasterToAgent(r: JsonReader): MasterToAgent {
  const type = r.requiredEnum('type', MASTER_TO_AGENT_TYPES);
  if (!r.has('type')) return { type: 'PING' }; // placeholder: decodeMessage reports `type` missing
  switch (type) {
    case 'REGISTERED':
    case 'REREGISTERED':
      return { type, agentId: readRequiredId(r, 'agent_id'), masterId: r.requiredString('master_id') };
    case 'RUN_TASK':
      return {
        type,
        frameworkId: readRequiredId(r, 'framework_id'),
        frameworkInfo: r.requiredMessage('framework_info', readFrameworkInfo),
        task: r.requiredMessage('task', readTaskInfo),
      };
    case 'KILL_TASK': {
      const frameworkId = readRequiredId(r, 'framework_id');
      const taskId = readRequiredId(r, 'task_id');
      const killPolicy = r.message('kill_policy', readKillPolicy);
      return killPolicy === undefined ? { type, frameworkId, taskId } : { type, frameworkId, taskId, killPolicy };
    }
    case 'ACKNOWLEDGE':
      return { type, frameworkId: readRequiredId(r, 'framework_id'), taskId: readRequiredId(r, 'task_id'), uuid: r.requiredBytes('uuid') };
    case 'SHUTDOWN_FRAMEWORK':
      return { type, frameworkId: readRequiredId(r, 'framework_id') };
    case 'SHUTDOWN_EXECUTOR':
      return { type, frameworkId: readRequiredId(r, 'framework_id'), executorId: readRequiredId(r, 'executor_id') };
    case 'FRAMEWORK_MESSAGE':
      return { type, frameworkId: readRequiredId(r, 'framework_id'), executorId: readRequiredId(r, 'executor_id'), data: r.requiredBytes('data') };
    case 'UPDATE_FRAMEWORK':
      return { type, frameworkId: readRequiredId(r, 'framework_id'), frameworkInfo: r.requiredMessage('framework_info', readFrameworkInfo) };
    case 'CHECKPOINT_RESOURCES':
      return { type, resources: readValidatedResources(r, 'resources') };
    case 'PING':
      return { type };
    case 'SHUTDOWN':
      return { type, message: r.requiredString('message') };
  }
}

/** Decode a master's message to an agent (parsed JSON); throws a ValidationError naming the field. */
export function decodeMasterToAgent(json: unknown): MasterToAgent {
  return decodeMessage(json, '', readMasterToAgent);
}

/** A registration's `ip` (--advertise_ip), when the agent gave one. */
function advertisedIp(r: JsonReader): { ip?: string } {
  const ip = r.string('ip');
  return ip === undefined ? {} : { ip };
}
