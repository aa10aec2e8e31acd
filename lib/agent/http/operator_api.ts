/**
 * `POST /api/v1` (and `/slave(1)/api/v1`) on the agent: the v1 operator API's agent calls,
 * JSON only, in the realm `mesos-agent-readwrite`: GET_HEALTH, GET_FLAGS, GET_VERSION,
 * GET_METRICS, GET/SET_LOGGING_LEVEL, LIST_FILES and READ_FILE (the sandboxes, as /files
 * serves them), GET_STATE, GET_CONTAINERS (with the containers' resource statistics, as
 * /monitor/statistics has them), GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_AGENT. Other
 * calls (nested and standalone containers, resource providers…) are answered 501.
 *
 * While the agent recovers its checkpoints after a restart every call is answered 503 (after
 * authentication), as Mesos's agent does in its RECOVERING state.
 *
 * The agent has no ACLs: what it shows is decided by authentication alone.
 */
import { join } from 'node:path';
import type { LogLevelControl } from '../../common/log_level.ts';
import { encodeAgentInfo, encodeExecutorInfo, encodeFrameworkInfo, encodeTaskStatus, idJson } from '../../proto/common_messages.ts';
import { type JsonObject, emitObject } from '../../proto/json.ts';
import { double } from '../../proto/json_text.ts';
import { type AgentOperatorCall, decodeAgentCall } from '../../proto/operator.ts';
import { encodeLabels } from '../../proto/resources.ts';
import { encodeResourceInput } from '../../proto/submitted_resources.ts';
import { isTerminal } from '../../proto/messages.ts';
import type { HttpResponse, HttpServer, Request } from '../../transport/index.ts';
import { operatorAnswer as answer, readOperatorCall } from '../../transport/operator_call.ts';
import { textResponse } from '../../transport/responses.ts';
import type { Agent } from '../agent.ts';
import type { AgentFramework, AgentTaskRecord, ExecutorRecord } from '../records.ts';
import { type AgentHttpContext, READWRITE_REALM, agentMetrics, containerStatistics, sandboxListing, sandboxRead } from './routes.ts';

export interface AgentApiContext extends AgentHttpContext {
  readonly logLevel: LogLevelControl;
  readonly maxBodyBytes: number;
}

function taskJson(agent: Agent, t: AgentTaskRecord): JsonObject {
  const latest = agent.updates.latest(t.frameworkId, t.info.taskId);
  return emitObject({
    name: t.info.name,
    task_id: idJson(t.info.taskId),
    framework_id: idJson(t.frameworkId),
    executor_id: idJson(t.executorId),
    agent_id: idJson(agent.id ?? ''),
    state: t.state,
    resources: t.info.resources.map(encodeResourceInput),
    statuses: latest ? [encodeTaskStatus(latest)] : [],
    labels: t.info.labels && encodeLabels(t.info.labels.labels),
  });
}

function queuedJson(agent: Agent, ex: ExecutorRecord, info: AgentTaskRecord['info']): JsonObject {
  return emitObject({
    name: info.name,
    task_id: idJson(info.taskId),
    framework_id: idJson(ex.frameworkId),
    executor_id: idJson(ex.id),
    agent_id: idJson(agent.id ?? ''),
    state: 'TASK_STAGING',
    resources: info.resources.map(encodeResourceInput),
    statuses: [],
  });
}

/** An executor's ExecutorInfo: as given, or as the agent made it for a command task. */
function executorInfoJson(ex: ExecutorRecord): JsonObject {
  if (ex.info) return encodeExecutorInfo(ex.info);
  return emitObject({
    type: 'DEFAULT',
    executor_id: idJson(ex.id),
    framework_id: idJson(ex.frameworkId),
    resources: ex.resources.toArray().map(encodeResourceInput),
    name: ex.name,
    source: ex.source,
  });
}

function allFrameworks(a: Agent): AgentFramework[] {
  return [...a.frameworks.values(), ...a.completedFrameworks];
}

function getFrameworks(a: Agent): JsonObject {
  return {
    frameworks: Array.from(a.frameworks.values(), (f) => ({ framework_info: encodeFrameworkInfo(f.info) })),
    completed_frameworks: a.completedFrameworks.map((f) => ({ framework_info: encodeFrameworkInfo(f.info) })),
  };
}

function getExecutors(a: Agent): JsonObject {
  const executors: JsonObject[] = [];
  const completed: JsonObject[] = [];
  for (const fw of allFrameworks(a)) {
    for (const ex of fw.executors.values()) (ex.state === 'TERMINATED' ? completed : executors).push({ executor_info: executorInfoJson(ex) });
    for (const ex of fw.completedExecutors) completed.push({ executor_info: executorInfoJson(ex) });
  }
  return { executors, completed_executors: completed };
}

/** Tasks by where they are: queued (executor not registered yet), launched, terminated (not acknowledged), completed. */
function getTasks(a: Agent): JsonObject {
  const out: Record<'pending_tasks' | 'queued_tasks' | 'launched_tasks' | 'terminated_tasks' | 'completed_tasks', JsonObject[]> = {
    pending_tasks: [],
    queued_tasks: [],
    launched_tasks: [],
    terminated_tasks: [],
    completed_tasks: [],
  };
  for (const fw of allFrameworks(a)) {
    for (const ex of [...fw.executors.values(), ...fw.completedExecutors]) {
      for (const info of ex.queued.values()) out.queued_tasks.push(queuedJson(a, ex, info));
      for (const t of ex.tasks.values()) (isTerminal(t.state) ? out.terminated_tasks : out.launched_tasks).push(taskJson(a, t));
      for (const t of ex.completedTasks) out.completed_tasks.push(taskJson(a, t));
    }
  }
  return out;
}

function fileInfo(path: string, s: import('node:fs').Stats): JsonObject {
  return {
    path,
    nlink: s.nlink,
    size: s.size,
    mtime: { nanoseconds: Math.round(s.mtimeMs * 1e6) },
    mode: s.mode,
    uid: String(s.uid),
    gid: String(s.gid),
  };
}

export function agentApiRoutes(server: HttpServer, ctx: AgentApiContext): void {
  const a = ctx.agent;
  const handler = async (req: Request): Promise<HttpResponse> => {
    // After authentication (the route's realm), before anything of the call is read.
    if (a.recovering) return textResponse(503, 'Agent has not finished recovery');
    const call = await readOperatorCall(req, decodeAgentCall, 'agent::Call', ctx.maxBodyBytes);
    if ('status' in call) return call;
    return handle(call);
  };
  for (const path of ['/api/v1', '/slave(1)/api/v1']) server.route({ path, methods: ['POST'], handler, realm: READWRITE_REALM });

  const handle = async (call: AgentOperatorCall): Promise<HttpResponse> => {
    switch (call.type) {
      case 'GET_HEALTH':
        return answer('GET_HEALTH', { healthy: true });
      case 'GET_FLAGS':
        return answer('GET_FLAGS', {
          flags: Object.entries(ctx.flags)
            .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
            .map(([name, value]) => ({ name, value })),
        });
      case 'GET_VERSION':
        return answer('GET_VERSION', { version_info: { version: ctx.version } });
      case 'GET_METRICS':
        return answer('GET_METRICS', { metrics: Object.entries(agentMetrics(a)).map(([name, value]) => ({ name, value: double(value) })) });
      case 'GET_LOGGING_LEVEL':
        return answer('GET_LOGGING_LEVEL', { level: ctx.logLevel.level() });
      case 'SET_LOGGING_LEVEL':
        ctx.logLevel.set(call.setLoggingLevel.level, call.setLoggingLevel.durationNs / 1e6);
        return { status: 200 };
      case 'LIST_FILES': {
        const list = await sandboxListing(a, call.listFiles.path);
        if ('status' in list) return list;
        const infos = list.entries
          .map(({ name, stats }) => fileInfo(join(list.wanted, name), stats))
          .sort((x, y) => (String(x.path) < String(y.path) ? -1 : 1));
        return answer('LIST_FILES', { file_infos: infos });
      }
      case 'READ_FILE': {
        const { path, offset, length } = call.readFile;
        const got = await sandboxRead(a, path, offset, length);
        if ('status' in got) return got;
        return answer('READ_FILE', { size: got.size, data: got.data.toString('base64') });
      }
      case 'GET_STATE':
        return answer('GET_STATE', { get_tasks: getTasks(a), get_executors: getExecutors(a), get_frameworks: getFrameworks(a) });
      case 'GET_CONTAINERS': {
        const containers = (await containerStatistics(a)).map(({ fw, ex, statistics }) =>
          emitObject({
            framework_id: idJson(fw.id),
            executor_id: idJson(ex.id),
            executor_name: ex.name,
            container_id: idJson(ex.containerId),
            resource_statistics: statistics as JsonObject,
          }),
        );
        return answer('GET_CONTAINERS', { containers });
      }
      case 'GET_FRAMEWORKS':
        return answer('GET_FRAMEWORKS', getFrameworks(a));
      case 'GET_EXECUTORS':
        return answer('GET_EXECUTORS', getExecutors(a));
      case 'GET_TASKS':
        return answer('GET_TASKS', getTasks(a));
      case 'GET_AGENT':
        return answer('GET_AGENT', { agent_info: encodeAgentInfo({ ...a.agentInfo(), resources: a.totalResources().toArray() }) });
      case 'UNSUPPORTED':
        return textResponse(501, `Received an unsupported call type: ${call.name}`);
    }
  };
}
