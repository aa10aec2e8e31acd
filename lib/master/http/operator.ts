/**
 * The master's operator endpoints: state, state-summary, frameworks, slaves, tasks,
 * roles, flags, teardown, redirect, health, and /metrics/snapshot, each also under the
 * `/master` prefix and with the `.json` aliases operators and the web UI still use.
 */
import { Resources } from '../../common/resources/index.ts';
import { describeError } from '../../common/errors.ts';
import { attributesSummary, decodeResourceInputs, encodeLabels, encodeResources } from '../../proto/resources.ts';
import type { TaskState } from '../../proto/messages.ts';
import { checkJsonDepth } from '../../proto/json.ts';
import type { HttpResponse, HttpServer, Request } from '../../transport/index.ts';
import { jsonResponse, textResponse } from '../../transport/responses.ts';
import { prometheusResponse } from '../../transport/metrics_http.ts';
import type { Master } from '../master.ts';
import type { AgentRecord, Framework, MasterExecutorRecord, OfferRecord, Task } from '../records.ts';
import { type MasterView, agentOffered, agentUsed, allTasks, frameworkOffered, frameworkUsed } from '../state_view.ts';
import { Leadership, leaderInfo } from '../leadership.ts';
import { NO_LEADER, leaderGate, redirectToLeader } from './leadership.ts';
import { refusalResponse } from './status.ts';

type Json = Record<string, unknown>;

/**
 * The authentication realms of the operator endpoints: reading state (`--authenticate_http_readonly`)
 * and changing it (`--authenticate_http_readwrite`); `--authenticate_http` is both. /health,
 * /version and /redirect are never authenticated.
 */
export const READONLY_REALM = 'mesos-master-readonly';
export const READWRITE_REALM = 'mesos-master-readwrite';

/** The states state-summary counts (the 1.0 set). */
const SUMMARY_STATES: TaskState[] = [
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_FINISHED',
  'TASK_KILLED',
  'TASK_FAILED',
  'TASK_LOST',
  'TASK_ERROR',
];

const secs = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

function taskJson(t: Task): Json {
  return {
    id: t.id,
    name: t.info.name,
    framework_id: t.frameworkId,
    executor_id: t.executorId ?? '',
    slave_id: t.agentId,
    state: t.state,
    resources: t.resources.summary(),
    statuses: t.statuses.map((s) => ({ state: s.state, timestamp: s.timestamp, ...(s.healthy === undefined ? {} : { healthy: s.healthy }) })),
    ...(t.user === undefined ? {} : { user: t.user }),
    ...(t.info.labels ? { labels: encodeLabels(t.info.labels.labels) } : {}),
    ...(t.info.discovery ? { discovery: t.info.discovery } : {}),
    ...(t.info.container ? { container: t.info.container } : {}),
  };
}

function executorJson(e: MasterExecutorRecord, agentId?: string): Json {
  const cmd = e.info.command;
  return {
    executor_id: e.info.executorId,
    name: e.info.name ?? '',
    framework_id: e.info.frameworkId ?? '',
    command: cmd
      ? {
          shell: cmd.shell,
          ...(cmd.value === undefined ? {} : { value: cmd.value }),
          argv: cmd.arguments,
          uris: cmd.uris.map((u) => ({ value: u.value, executable: u.executable ?? false })),
        }
      : {},
    resources: e.resources.summary(),
    ...(agentId === undefined ? {} : { slave_id: agentId }),
  };
}

function offerJson(o: OfferRecord): Json {
  return { id: o.id, framework_id: o.frameworkId, slave_id: o.agentId, resources: o.resources.summary() };
}

function frameworkSummary(fw: Framework): Json {
  return {
    id: fw.id,
    name: fw.info.name,
    used_resources: frameworkUsed(fw).summary(),
    offered_resources: frameworkOffered(fw).summary(),
    capabilities: fw.info.capabilities,
    hostname: fw.info.hostname ?? '',
    webui_url: fw.info.webuiUrl ?? '',
    active: fw.active,
  };
}

function frameworkJson(fw: Framework): Json {
  const u = frameworkUsed(fw);
  const o = frameworkOffered(fw);
  return {
    ...frameworkSummary(fw),
    user: fw.info.user,
    failover_timeout: fw.info.failoverTimeout,
    checkpoint: fw.info.checkpoint,
    role: fw.info.role,
    registered_time: secs(fw.registeredTime),
    unregistered_time: secs(fw.unregisteredTime) ?? 0,
    ...(fw.reregisteredTime !== undefined && fw.reregisteredTime !== fw.registeredTime ? { reregistered_time: secs(fw.reregisteredTime) } : {}),
    ...(fw.info.principal === undefined ? {} : { principal: fw.info.principal }),
    connected: fw.connected,
    resources: u.plus(o).summary(),
    tasks: Array.from(fw.tasks.values()).map(taskJson),
    completed_tasks: fw.completedTasks.map(taskJson),
    offers: Array.from(fw.offers.values()).map(offerJson),
    executors: Array.from(fw.executors).flatMap(([agentId, byId]) => Array.from(byId.values()).map((e) => executorJson(e, agentId))),
    ...(fw.info.labels ? { labels: encodeLabels(fw.info.labels.labels) } : {}),
  };
}

function agentJson(view: MasterView, agent: AgentRecord, full: boolean): Json {
  const reserved: Json = {};
  const reservedFull: Json = {};
  for (const role of agent.total.roles()) {
    reserved[role] = agent.total.reserved(role).summary();
    reservedFull[role] = encodeResources(agent.total.reserved(role));
  }
  const u = agentUsed(agent);
  const o = agentOffered(view, agent);
  return {
    id: agent.id,
    pid: agent.pid,
    hostname: agent.info.hostname,
    port: agent.port,
    registered_time: secs(agent.registeredTime),
    ...(agent.reregisteredTime === undefined ? {} : { reregistered_time: secs(agent.reregisteredTime) }),
    resources: agent.total.summary(),
    used_resources: u.summary(),
    offered_resources: o.summary(),
    reserved_resources: reserved,
    unreserved_resources: agent.total.unreserved().summary(),
    attributes: attributesSummary(agent.info.attributes),
    active: agent.active,
    version: view.version,
    ...(full
      ? {
          reserved_resources_full: reservedFull,
          unreserved_resources_full: encodeResources(agent.total.unreserved()),
          used_resources_full: encodeResources(u),
          offered_resources_full: encodeResources(o),
        }
      : {}),
  };
}

function stateCounts(tasks: Iterable<Task>): Json {
  const counts: Record<string, number> = Object.fromEntries(SUMMARY_STATES.map((s) => [s, 0]));
  for (const t of tasks) if (t.state in counts) counts[t.state]! += 1;
  return counts;
}

export interface OperatorContext {
  readonly master: Master;
  /** The flags as text, for /master/flags and /master/state. */
  readonly flags: Readonly<Record<string, string>>;
  /** `version` is the Mesos version Corral answers as (MESOS_VERSION), `corralVersion` Corral's own. */
  readonly buildInfo: { version: string; corralVersion?: string; gitSha?: string; buildDate?: string };
  /** Extra numbers for /metrics/snapshot (system/…, allocator/…). */
  readonly extraMetrics: () => Record<string, number>;
  /** Where this master stands among several (default: it runs alone, and leads). */
  readonly leadership?: Leadership;
}

/** /version: `version` as Mesos's (the Mesos version Corral answers as), Corral's own beside it. */
export function versionJson(b: OperatorContext['buildInfo']): Json {
  return { version: b.version, ...(b.corralVersion ? { corral_version: b.corralVersion } : {}), ...(b.gitSha ? { git_sha: b.gitSha } : {}) };
}

export function stateJson(ctx: OperatorContext): Json {
  const m = ctx.master.view;
  const agents = Array.from(m.agents.values());
  // A master that follows shows its own identity and the leader's (its lists are empty).
  const follows = ctx.leadership?.leader();
  const leader = follows === undefined ? m.info : leaderInfo(follows);
  return {
    version: ctx.buildInfo.version,
    ...(ctx.buildInfo.corralVersion ? { corral_version: ctx.buildInfo.corralVersion } : {}),
    ...(ctx.buildInfo.gitSha ? { git_sha: ctx.buildInfo.gitSha } : {}),
    ...(ctx.buildInfo.buildDate ? { build_date: ctx.buildInfo.buildDate } : {}),
    start_time: m.startTime / 1000,
    ...(m.electedTime === undefined ? {} : { elected_time: m.electedTime / 1000 }),
    id: m.id,
    pid: m.info.pid,
    hostname: m.info.hostname,
    activated_slaves: agents.filter((a) => a.active).length,
    deactivated_slaves: agents.filter((a) => !a.active).length,
    leader: leader.pid,
    leader_info: {
      id: leader.id,
      ip: leader.ip,
      port: leader.port,
      pid: leader.pid,
      hostname: leader.hostname,
      version: leader.version,
      ...(follows === undefined || leader.address === undefined ? {} : { address: leader.address }),
    },
    ...(ctx.flags.cluster ? { cluster: ctx.flags.cluster } : {}),
    flags: ctx.flags,
    slaves: agents.map((a) => agentJson(m, a, false)),
    recovered_slaves: Array.from(m.recoveredAgents.values()).map((a) => ({
      id: a.id,
      hostname: a.info.hostname,
      resources: Resources.of(a.info.resources).summary(),
    })),
    frameworks: Array.from(m.frameworks.values()).map(frameworkJson),
    completed_frameworks: m.completedFrameworks.map(frameworkJson),
    orphan_tasks: [],
    unregistered_frameworks: [],
  };
}

function stateSummaryJson(ctx: OperatorContext): Json {
  const m = ctx.master.view;
  return {
    hostname: m.info.hostname,
    ...(ctx.flags.cluster ? { cluster: ctx.flags.cluster } : {}),
    slaves: Array.from(m.agents.values()).map((a) => {
      const tasks = Array.from(a.tasks.values()).flatMap((byFw) => Array.from(byFw.values()));
      return { ...agentJson(m, a, false), ...stateCounts(tasks), framework_ids: Array.from(a.tasks.keys()) };
    }),
    frameworks: Array.from(m.frameworks.values()).map((fw) => ({
      ...frameworkSummary(fw),
      ...stateCounts([...fw.tasks.values(), ...fw.completedTasks]),
      slave_ids: Array.from(new Set(Array.from(fw.tasks.values()).map((t) => t.agentId))),
    })),
  };
}

function rolesJson(m: MasterView): Json {
  const roles = new Map<string, { frameworks: string[]; resources: Resources }>();
  roles.set('*', { frameworks: [], resources: Resources.EMPTY });
  for (const fw of m.frameworks.values()) {
    const r = roles.get(fw.info.role) ?? { frameworks: [], resources: Resources.EMPTY };
    r.frameworks.push(fw.id);
    r.resources = r.resources.plus(frameworkUsed(fw));
    roles.set(fw.info.role, r);
  }
  const weights = m.weights;
  return {
    roles: Array.from(roles, ([name, r]) => ({ name, weight: weights.get(name) ?? 1, frameworks: r.frameworks, resources: r.resources.summary() })),
  };
}

function tasksJson(req: Request, m: MasterView): HttpResponse {
  const limit = req.query.has('limit') ? Number(req.query.get('limit')) : 100;
  const offset = req.query.has('offset') ? Number(req.query.get('offset')) : 0;
  const order = req.query.get('order') ?? 'desc';
  if (!Number.isInteger(limit) || limit < 0) return textResponse(400, `Failed to parse limit: '${req.query.get('limit')}'`);
  if (!Number.isInteger(offset) || offset < 0) return textResponse(400, `Failed to parse offset: '${req.query.get('offset')}'`);
  if (order !== 'asc' && order !== 'desc') return textResponse(400, "Failed to parse order: 'order' must be 'asc' or 'desc'");
  const all = allTasks(m);
  const first = (t: Task) => t.statuses[0]?.timestamp ?? 0;
  all.sort((a, b) => (order === 'asc' ? first(a) - first(b) : first(b) - first(a)));
  return jsonResponse(req, { tasks: all.slice(offset, offset + limit).map(taskJson) });
}

/** The figures `/metrics/snapshot` and `/metrics` compute when asked (beside the registry's own). */
function metricsExtras(ctx: OperatorContext): Record<string, number> {
  const m = ctx.master.view;
  const agents = Array.from(m.agents.values());
  const fws = Array.from(m.frameworks.values());
  const live: Record<string, number> = { TASK_STAGING: 0, TASK_STARTING: 0, TASK_RUNNING: 0, TASK_KILLING: 0 };
  for (const fw of fws) for (const t of fw.tasks.values()) if (t.state in live) live[t.state]! += 1;
  let total = Resources.EMPTY;
  let usedAll = Resources.EMPTY;
  for (const a of agents) {
    total = total.plus(a.total);
    usedAll = usedAll.plus(agentUsed(a));
  }
  const res: Record<string, number> = {};
  for (const r of ['cpus', 'gpus', 'mem', 'disk']) {
    const t = total.nonRevocable().scalar(r);
    const u = usedAll.nonRevocable().scalar(r);
    const rt = total.revocable().scalar(r);
    const ru = usedAll.revocable().scalar(r);
    Object.assign(res, {
      [`master/${r}_total`]: t,
      [`master/${r}_used`]: u,
      [`master/${r}_percent`]: t > 0 ? u / t : 0,
      [`master/${r}_revocable_total`]: rt,
      [`master/${r}_revocable_used`]: ru,
      [`master/${r}_revocable_percent`]: rt > 0 ? ru / rt : 0,
    });
  }
  return {
    'master/uptime_secs': m.uptimeSecs(),
    'master/elected': m.electedTime === undefined ? 0 : 1,
    'master/slaves_connected': agents.filter((a) => a.connected).length,
    'master/slaves_disconnected': agents.filter((a) => !a.connected).length,
    'master/slaves_active': agents.filter((a) => a.active).length,
    'master/slaves_inactive': agents.filter((a) => !a.active).length,
    'master/frameworks_connected': fws.filter((f) => f.connected).length,
    'master/frameworks_disconnected': fws.filter((f) => !f.connected).length,
    'master/frameworks_active': fws.filter((f) => f.active).length,
    'master/frameworks_inactive': fws.filter((f) => !f.active).length,
    'master/outstanding_offers': m.offers.size,
    'master/tasks_staging': live.TASK_STAGING!,
    'master/tasks_starting': live.TASK_STARTING!,
    'master/tasks_running': live.TASK_RUNNING!,
    'master/tasks_killing': live.TASK_KILLING!,
    'master/tasks_finished': m.metrics.get('master/tasks_finished'),
    'master/tasks_failed': m.metrics.get('master/tasks_failed'),
    'master/tasks_killed': m.metrics.get('master/tasks_killed'),
    'master/tasks_lost': m.metrics.get('master/tasks_lost'),
    'master/tasks_error': m.metrics.get('master/tasks_error'),
    'master/slave_registrations': m.metrics.get('master/slave_registrations'),
    'master/slave_reregistrations': m.metrics.get('master/slave_reregistrations'),
    'master/slave_removals': m.metrics.get('master/slave_removals'),
    'master/dropped_messages': m.metrics.get('master/dropped_messages'),
    'master/event_queue_messages': 0,
    'master/event_queue_dispatches': 0,
    'master/event_queue_http_requests': 0,
    'allocator/mesos/allocation_runs': m.allocationRuns(),
    ...res,
    ...ctx.extraMetrics(),
  };
}

/** Every metric of the master as `/metrics/snapshot` answers it (Mesos's JSON). */
export function metricsJson(ctx: OperatorContext): Record<string, number> {
  return ctx.master.view.metrics.snapshot(metricsExtras(ctx));
}

/** Every metric of the master in the Prometheus text format, as `/metrics` answers it. */
export function metricsPrometheus(ctx: OperatorContext): HttpResponse {
  return prometheusResponse(ctx.master.view.metrics, metricsExtras(ctx));
}

export function operatorRoutes(server: HttpServer, ctx: OperatorContext): void {
  const m = ctx.master;
  const v = m.view;
  const leadership = ctx.leadership ?? Leadership.alone(m.id);
  const get = (paths: string[], handler: (req: Request) => HttpResponse) => {
    for (const p of paths) server.route({ path: p, methods: ['GET'], handler, realm: READONLY_REALM });
  };
  const open = (paths: string[], handler: (req: Request) => HttpResponse) => {
    for (const p of paths) server.route({ path: p, methods: ['GET'], handler });
  };
  const both = (name: string) => [`/master/${name}`, `/${name}`];
  const withJson = (name: string) => [...both(name), ...both(`${name}.json`)];
  // The leader's state: a master that follows redirects to the leader (as Mesos 1.x does).
  const leaderOnly = (handler: (req: Request) => HttpResponse) => (req: Request) => leaderGate(req, m, leadership, { withQuery: true }) ?? handler(req);

  // /state is answered by a master that follows too: its own identity, and who leads.
  get(withJson('state'), (req) =>
    !leadership.leading && leadership.leader() !== undefined
      ? jsonResponse(req, stateJson(ctx))
      : (leaderGate(req, m, leadership) ?? jsonResponse(req, stateJson(ctx))),
  );
  get(
    both('state-summary'),
    leaderOnly((req) => jsonResponse(req, stateSummaryJson(ctx))),
  );
  get(
    both('frameworks'),
    leaderOnly((req) => {
      const id = req.query.get('framework_id');
      const pick = (fw: Framework) => id === null || fw.id === id;
      return jsonResponse(req, {
        frameworks: Array.from(v.frameworks.values()).filter(pick).map(frameworkJson),
        completed_frameworks: v.completedFrameworks.filter(pick).map(frameworkJson),
        unregistered_frameworks: [],
      });
    }),
  );
  get(
    both('slaves'),
    leaderOnly((req) => {
      const id = req.query.get('slave_id');
      return jsonResponse(req, {
        slaves: Array.from(v.agents.values())
          .filter((a) => id === null || a.id === id)
          .map((a) => agentJson(v, a, true)),
        recovered_slaves: Array.from(v.recoveredAgents.values()).map((a) => ({ id: a.id, hostname: a.info.hostname })),
      });
    }),
  );
  get(
    withJson('tasks'),
    leaderOnly((req) => tasksJson(req, v)),
  );
  get(
    withJson('roles'),
    leaderOnly((req) => jsonResponse(req, rolesJson(v))),
  );
  get(both('flags'), (req) => jsonResponse(req, { flags: ctx.flags }));
  open(both('health'), () => ({ status: 200 }));
  // Readiness: 200 once this master leads and has recovered its registry, else 503 (a follower, or recovering).
  open(both('ready'), (req) => {
    const ready = { leading: leadership.leading, recovered: m.isRecovered, leader: leadership.leader()?.hostPort ?? null };
    return { ...jsonResponse(req, ready), status: ready.leading && ready.recovered ? 200 : 503 };
  });
  get(['/metrics/snapshot'], (req) => jsonResponse(req, metricsJson(ctx)));
  get(['/metrics'], () => metricsPrometheus(ctx));
  open(['/version'], (req) => jsonResponse(req, versionJson(ctx.buildInfo)));
  for (const p of both('redirect')) {
    server.route({
      path: p,
      methods: '*',
      // The leader's base URL (itself when it leads), whatever its state.
      handler: () => {
        if (leadership.leading) return { status: 307, headers: { Location: `//${v.info.hostname}:${v.info.port}` } };
        const leader = leadership.leader();
        return leader === undefined ? textResponse(503, NO_LEADER) : redirectToLeader(leader, '');
      },
    });
  }
  // Reservations and volumes (Mesos 1.0+ semantics: 202 Accepted once the operation is
  // applied by the master and sent to the agent to checkpoint).
  const operations = [
    ['reserve', 'RESERVE', 'resources'],
    ['unreserve', 'UNRESERVE', 'resources'],
    ['create-volumes', 'CREATE', 'volumes'],
    ['destroy-volumes', 'DESTROY', 'volumes'],
  ] as const;
  for (const [name, type, field] of operations) {
    for (const p of both(name)) {
      server.route({
        path: p,
        methods: ['POST'],
        realm: READWRITE_REALM,
        handler: async (req) => {
          const gate = leaderGate(req, m, leadership);
          if (gate) return gate;
          const form = new URLSearchParams((await req.readBody()).toString('utf8'));
          const agentId = form.get('slaveId');
          if (!agentId) return textResponse(400, "Missing 'slaveId' query parameter in the request body");
          const text = form.get(field);
          if (text === null) return textResponse(400, `Missing '${field}' query parameter in the request body`);
          let list;
          try {
            const parsed: unknown = JSON.parse(text);
            checkJsonDepth(parsed, field);
            list = decodeResourceInputs(parsed, field);
          } catch (e) {
            return textResponse(400, `Error in parsing '${field}' query parameter in the request body: ${describeError(e)}`);
          }
          try {
            m.operatorOperation(agentId, type, list, req.principal);
          } catch (e) {
            return refusalResponse(e);
          }
          return { status: 202 };
        },
      });
    }
  }
  for (const p of both('teardown')) {
    server.route({
      path: p,
      methods: ['POST'],
      realm: READWRITE_REALM,
      handler: async (req) => {
        const gate = leaderGate(req, m, leadership);
        if (gate) return gate;
        const body = (await req.readBody()).toString('utf8');
        const form = new URLSearchParams(body);
        const id = form.get('frameworkId') ?? req.query.get('frameworkId');
        if (!id) return textResponse(400, "Missing 'frameworkId' query parameter in the request body");
        try {
          m.teardown(id, req.principal);
        } catch (e) {
          return refusalResponse(e);
        }
        return { status: 200 };
      },
    });
  }
}
