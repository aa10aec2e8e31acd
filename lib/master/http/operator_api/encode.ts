/**
 * The master's records as the v1 operator API writes them (mesos.v1.master.Response and Event
 * payloads): GetAgents.Agent, GetFrameworks.Framework, Task, executors, roles, weights. Every
 * list answer is filtered by what the asking principal may see (a `Viewer`): objects it may not
 * see are left out, silently, as Mesos leaves them out.
 */
import { Resources } from '../../../common/resources/index.ts';
import { type JsonObject, emitObject } from '../../../proto/json.ts';
import { double } from '../../../proto/json_text.ts';
import { encodeAgentInfo, encodeExecutorInfo, encodeFrameworkInfo, idJson } from '../../../proto/common_messages.ts';
import { encodeResourceInput } from '../../../proto/submitted_resources.ts';
import { encodeLabels, encodeResource } from '../../../proto/resources.ts';
import type { AclAction } from '../../authorization.ts';
import type { AgentRecord, Framework, MasterExecutorRecord, OfferRecord, StatusEntry, Task } from '../../records.ts';
import { type MasterView, agentOffered, agentUsed, frameworkOffered, frameworkUsed } from '../../state_view.ts';

/** What one principal may see: asked for every object a list answer or an event holds. */
export interface Viewer {
  readonly principal: string | undefined;
  framework(fw: Framework): boolean;
  task(task: Task, fw: Framework | undefined): boolean;
  executor(fw: Framework | undefined): boolean;
  role(role: string): boolean;
}

/** The Viewer of `principal`, by the ACLs (`permits`: no log line per object). */
export function viewerOf(
  principal: string | undefined,
  permits: (action: AclAction, subject: string | undefined, object: string | undefined) => boolean,
): Viewer {
  const cache = new Map<string, boolean>();
  const ask = (action: AclAction, object: string | undefined): boolean => {
    const key = `${action}\u0000${object ?? '\u0001'}`;
    let ok = cache.get(key);
    if (ok === undefined) cache.set(key, (ok = permits(action, principal, object)));
    return ok;
  };
  return {
    principal,
    framework: (fw) => ask('view_frameworks', fw.info.user),
    task: (task, fw) => (fw === undefined || ask('view_frameworks', fw.info.user)) && ask('view_tasks', task.user ?? fw?.info.user),
    executor: (fw) => fw === undefined || (ask('view_frameworks', fw.info.user) && ask('view_executors', fw.info.user)),
    role: (role) => ask('view_roles', role),
  };
}

const ns = (ms: number | undefined): JsonObject | undefined => (ms === undefined ? undefined : { nanoseconds: Math.round(ms * 1e6) });
const nsFromSecs = (s: number): JsonObject => ({ nanoseconds: Math.round(s * 1e9) });

/** Resources, without the ones of roles `viewer` may not see (unreserved ones are always seen). */
function resourcesJson(r: Resources, viewer?: Viewer): JsonObject[] {
  const out: JsonObject[] = [];
  for (const x of r) if (viewer === undefined || x.role === undefined || x.role === '*' || viewer.role(x.role)) out.push(encodeResource(x));
  return out;
}

function statusJson(task: Task, s: StatusEntry): JsonObject {
  return emitObject({
    task_id: idJson(task.id),
    state: s.state,
    message: s.message,
    source: s.source,
    reason: s.reason,
    agent_id: idJson(task.agentId),
    executor_id: idJson(task.executorId),
    timestamp: double(s.timestamp),
    healthy: s.healthy,
  });
}

/** A `Task`. */
export function taskJson(t: Task): JsonObject {
  const latest = t.latest;
  const statuses = t.statuses.map((s) => statusJson(t, s));
  // The newest status as the agent sent it (uuid, container status) in place of the summary.
  if (latest !== undefined && statuses.length > 0 && t.statuses.at(-1)!.state === latest.state) {
    statuses[statuses.length - 1] = emitObject({
      ...statuses[statuses.length - 1],
      uuid: latest.uuid,
      container_status: latest.containerStatus as JsonObject | undefined,
      labels: latest.labels && encodeLabels(latest.labels.labels),
    });
  }
  return emitObject({
    name: t.info.name,
    task_id: idJson(t.id),
    framework_id: idJson(t.frameworkId),
    executor_id: idJson(t.executorId),
    agent_id: idJson(t.agentId),
    state: t.state,
    resources: t.info.resources.map(encodeResourceInput),
    statuses,
    status_update_state: t.statusUpdateState,
    status_update_uuid: t.statusUpdateUuid,
    labels: t.info.labels && encodeLabels(t.info.labels.labels),
    discovery: t.info.discovery as JsonObject | undefined,
    container: t.info.container as JsonObject | undefined,
    health_check: t.info.healthCheck as JsonObject | undefined,
    user: t.user,
  });
}

function offerJson(view: MasterView, o: OfferRecord): JsonObject {
  const agent = view.agents.get(o.agentId);
  return emitObject({
    id: idJson(o.id),
    framework_id: idJson(o.frameworkId),
    agent_id: idJson(o.agentId),
    hostname: agent?.info.hostname ?? '',
    resources: resourcesJson(o.resources),
  });
}

/** A `GetFrameworks.Framework`; `event`: as the event stream writes it (no offers, every time field). */
export function frameworkJson(view: MasterView, fw: Framework, viewer: Viewer | undefined, event = false): JsonObject {
  const registered = ns(fw.registeredTime);
  const reregistered = ns(fw.reregisteredTime);
  const unregistered = ns(fw.unregisteredTime);
  const zero = { nanoseconds: 0 };
  return emitObject({
    framework_info: encodeFrameworkInfo(fw.info),
    active: fw.active,
    connected: fw.connected,
    recovered: false,
    registered_time: event ? (registered ?? zero) : registered,
    reregistered_time: event ? (reregistered ?? zero) : reregistered,
    unregistered_time: event ? (unregistered ?? zero) : unregistered,
    offers: event ? undefined : Array.from(fw.offers.values(), (o) => offerJson(view, o)),
    inverse_offers: event ? undefined : [],
    allocated_resources: event ? [] : resourcesJson(frameworkUsed(fw), viewer),
    offered_resources: event ? [] : resourcesJson(frameworkOffered(fw), viewer),
  });
}

/** A `GetAgents.Agent`. */
export function agentJson(view: MasterView, a: AgentRecord, viewer: Viewer | undefined): JsonObject {
  const info = encodeAgentInfo({ ...a.info, resources: [] });
  return emitObject({
    agent_info: { ...info, resources: resourcesJson(a.total, viewer) },
    active: a.active,
    deactivated: !a.active,
    version: view.version,
    pid: a.pid,
    registered_time: ns(a.registeredTime),
    reregistered_time: ns(a.reregisteredTime),
    total_resources: resourcesJson(a.total, viewer),
    allocated_resources: resourcesJson(agentUsed(a), viewer),
    offered_resources: resourcesJson(agentOffered(view, a), viewer),
  });
}

export function getAgents(view: MasterView, viewer: Viewer): JsonObject {
  return {
    agents: Array.from(view.agents.values(), (a) => agentJson(view, a, viewer)),
    recovered_agents: Array.from(view.recoveredAgents.values(), (a) => encodeAgentInfo(a.info)),
  };
}

export function getFrameworks(view: MasterView, viewer: Viewer): JsonObject {
  return {
    frameworks: Array.from(view.frameworks.values())
      .filter((fw) => viewer.framework(fw))
      .map((fw) => frameworkJson(view, fw, viewer)),
    completed_frameworks: view.completedFrameworks.filter((fw) => viewer.framework(fw)).map((fw) => frameworkJson(view, fw, viewer)),
  };
}

function executorJson(agentId: string, e: MasterExecutorRecord): JsonObject {
  return { executor_info: encodeExecutorInfo(e.info), agent_id: { value: agentId } };
}

export function getExecutors(view: MasterView, viewer: Viewer): JsonObject {
  const executors: JsonObject[] = [];
  for (const agent of view.agents.values()) {
    for (const [fwId, byId] of agent.executors) {
      if (!viewer.executor(view.frameworks.get(fwId))) continue;
      for (const e of byId.values()) executors.push(executorJson(agent.id, e));
    }
  }
  return { executors };
}

export function getTasks(view: MasterView, viewer: Viewer): JsonObject {
  const tasks: JsonObject[] = [];
  const completed: JsonObject[] = [];
  for (const fw of [...view.frameworks.values(), ...view.completedFrameworks]) {
    if (!viewer.framework(fw)) continue;
    for (const t of fw.tasks.values()) if (viewer.task(t, fw)) tasks.push(taskJson(t));
    for (const t of fw.completedTasks) if (viewer.task(t, fw)) completed.push(taskJson(t));
  }
  return { tasks, unreachable_tasks: [], completed_tasks: completed };
}

export function getState(view: MasterView, viewer: Viewer): JsonObject {
  return {
    get_tasks: getTasks(view, viewer),
    get_executors: getExecutors(view, viewer),
    get_frameworks: getFrameworks(view, viewer),
    get_agents: getAgents(view, viewer),
  };
}

/** The roles the master knows: of frameworks, of reservations on agents, with a weight, and `--roles`. */
export function getRoles(view: MasterView, viewer: Viewer, whitelist: readonly string[] | undefined): JsonObject {
  const roles = new Map<string, { frameworks: string[]; resources: Resources }>();
  const role = (name: string) => {
    let r = roles.get(name);
    if (!r) roles.set(name, (r = { frameworks: [], resources: Resources.EMPTY }));
    return r;
  };
  for (const name of whitelist ?? []) role(name);
  for (const fw of view.frameworks.values()) {
    const r = role(fw.info.role);
    r.frameworks.push(fw.id);
    r.resources = r.resources.plus(frameworkUsed(fw)).plus(frameworkOffered(fw));
  }
  for (const a of view.agents.values()) for (const name of a.total.roles()) if (name !== '*') role(name);
  for (const name of view.weights.keys()) role(name);
  const out: JsonObject[] = [];
  for (const [name, r] of [...roles].sort(([a], [b]) => a.localeCompare(b))) {
    if (!viewer.role(name)) continue;
    const quantities: JsonObject[] = [];
    for (const res of ['cpus', 'mem', 'disk', 'gpus']) {
      const v = r.resources.scalar(res);
      if (v > 0) quantities.push({ name: res, type: 'SCALAR', scalar: { value: double(v) } });
    }
    out.push({ name, weight: double(view.weights.get(name) ?? 1), frameworks: r.frameworks.map((id) => ({ value: id })), resources: quantities });
  }
  return { roles: out };
}

export function getWeights(view: MasterView, viewer: Viewer): JsonObject {
  return {
    weight_infos: Array.from(view.weights)
      .filter(([role]) => viewer.role(role))
      .map(([role, weight]) => ({ weight: double(weight), role })),
  };
}

export { nsFromSecs };
