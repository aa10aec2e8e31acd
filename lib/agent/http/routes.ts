/**
 * The agent's endpoints: the v1 executor API, /state, /monitor/statistics, /files/* (inside
 * sandboxes only), /health, /metrics/snapshot, /flags — each under `/slave(1)` too, with the
 * `.json` aliases.
 *
 * Authentication realms: the endpoints that read state are in READONLY_REALM (required with
 * `--authenticate_http_readonly`); /health is in none and always open. The executor API is in no
 * Basic realm: with `--authenticate_http_executors` its callers present the token the agent gave
 * each executor (EXECUTOR_REALM, Bearer). The master never calls the agent's port (the agent
 * opens every master↔agent connection, authenticated in the master's realm), so no realm here
 * can lock out the agent's own master. The agent has no endpoint that changes
 * state yet: READWRITE_REALM holds none.
 */
import type { FileHandle } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import type { Logger } from '../../common/log.ts';
import { isTerminal } from '../../proto/messages.ts';
import { attributesSummary, encodeLabels } from '../../proto/resources.ts';
import type { HttpResponse, HttpServer, Request } from '../../transport/index.ts';
import { jsonResponse, textResponse } from '../../transport/responses.ts';
import { prometheusResponse } from '../../transport/metrics_http.ts';
import type { Agent } from '../agent.ts';
import type { AgentFramework, AgentTaskRecord, ExecutorRecord } from '../records.ts';
import type { Statistics } from '../containerizer/isolator.ts';
import type { ExecutorTokens } from '../executor_auth.ts';
import { EXECUTOR_STREAM_OVERFLOWS, executorApiRoutes } from './executor_api.ts';
import { type SandboxEntry, listSandboxDir, openSandboxFile } from '../containerizer/sandbox_files.ts';
import { sandboxRefusalResponse } from './status.ts';

/** `WWW-Authenticate: Basic realm=…` of the agent's read-only endpoints (the Mesos agent's name). */
export const READONLY_REALM = 'mesos-agent-readonly';
/** The realm of endpoints that change the agent's state (none yet; `--authenticate_http_readwrite`). */
export const READWRITE_REALM = 'mesos-agent-readwrite';
export { EXECUTOR_REALM } from './executor_api.ts';

type Json = Record<string, unknown>;
const READ_MAX = 16 * 4096;

function taskJson(agent: Agent, t: AgentTaskRecord): Json {
  const latest = agent.updates.latest(t.frameworkId, t.info.taskId);
  return {
    id: t.info.taskId,
    name: t.info.name,
    framework_id: t.frameworkId,
    executor_id: t.executorId,
    slave_id: agent.id ?? '',
    state: t.state,
    resources: resourcesSummary(t.info.resources),
    statuses: latest ? [{ state: latest.state, timestamp: latest.timestamp ?? 0 }] : [],
    ...(t.info.labels ? { labels: encodeLabels(t.info.labels.labels) } : {}),
  };
}

function resourcesSummary(list: readonly unknown[]): Json {
  const out: Json = { cpus: 0, gpus: 0, mem: 0, disk: 0 };
  for (const r of list as { name?: string; type?: string; scalar?: number }[]) {
    if (r.type === 'SCALAR' && typeof r.name === 'string') out[r.name] = ((out[r.name] as number) ?? 0) + (r.scalar ?? 0);
  }
  return out;
}

function executorJson(agent: Agent, ex: ExecutorRecord): Json {
  return {
    id: ex.id,
    name: ex.name,
    source: ex.source,
    container: ex.containerId,
    directory: ex.sandbox,
    resources: ex.resources.summary(),
    tasks: Array.from(ex.tasks.values())
      .filter((t) => !isTerminal(t.state))
      .map((t) => taskJson(agent, t)),
    queued_tasks: Array.from(ex.queued.values()).map((q) => ({
      id: q.taskId,
      name: q.name,
      slave_id: agent.id ?? '',
      resources: resourcesSummary(q.resources),
      executor_id: ex.id,
    })),
    completed_tasks: [...Array.from(ex.tasks.values()).filter((t) => isTerminal(t.state)), ...ex.completedTasks].map((t) => taskJson(agent, t)),
    ...(ex.info?.labels ? { labels: encodeLabels(ex.info.labels.labels) } : {}),
  };
}

function frameworkJson(agent: Agent, fw: AgentFramework): Json {
  return {
    id: fw.id,
    name: fw.info.name,
    user: fw.info.user,
    failover_timeout: fw.info.failoverTimeout,
    checkpoint: fw.info.checkpoint,
    role: fw.info.role,
    hostname: fw.info.hostname ?? '',
    executors: Array.from(fw.executors.values()).map((e) => executorJson(agent, e)),
    completed_executors: fw.completedExecutors.map((e) => executorJson(agent, e)),
  };
}

export interface AgentHttpContext {
  readonly agent: Agent;
  readonly flags: Readonly<Record<string, string>>;
  /** The Mesos version Corral answers as (`version`), and Corral's own (`corral_version`). */
  readonly version: string;
  readonly corralVersion?: string;
  readonly log: Logger;
  readonly masterHostname: () => string | undefined;
  /** Executor tokens (--authenticate_http_executors): checked on the executor API when required. */
  readonly executorTokens?: ExecutorTokens;
}

export function agentStateJson(ctx: AgentHttpContext): Json {
  const a = ctx.agent;
  const o = a.options;
  return {
    version: ctx.version,
    ...(ctx.corralVersion ? { corral_version: ctx.corralVersion } : {}),
    start_time: a.startTime / 1000,
    id: a.id ?? '',
    pid: a.pid,
    hostname: o.hostname,
    resources: o.resources.summary(),
    attributes: attributesSummary(o.attributes),
    ...(ctx.masterHostname() ? { master_hostname: ctx.masterHostname() } : {}),
    flags: ctx.flags,
    frameworks: Array.from(a.frameworks.values()).map((f) => frameworkJson(a, f)),
    completed_frameworks: a.completedFrameworks.map((f) => frameworkJson(a, f)),
  };
}

// ---------------------------------------------------------------------------------------------
// /files: virtual paths are the sandboxes' host paths; nothing outside a sandbox is served.
// A task can put symlinks in its sandbox and swap directories for them at any time: the files
// are opened below the sandbox in one step (sandbox_files.ts), never by checking a path first
// and opening it after.

/** The sandbox `path` names (lexically) and the path relative to it, or the answer. */
function inSandbox(agent: Agent, path: string | null): { sandbox: string; rel: string; wanted: string } | HttpResponse {
  if (!path) return textResponse(400, "Expecting 'path' query parameter");
  const wanted = resolve('/', path);
  for (const sandbox of agent.sandboxes()) {
    if (wanted === sandbox) return { sandbox, rel: '', wanted };
    if (wanted.startsWith(sandbox + sep)) return { sandbox, rel: wanted.slice(sandbox.length + 1), wanted };
  }
  return textResponse(404, 'No such file or directory');
}

function modeString(mode: number, isDir: boolean): string {
  const bits = 'rwxrwxrwx';
  let s = isDir ? 'd' : '-';
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : '-';
  return s;
}

/** A sandbox directory's entries (browse, LIST_FILES), or the answer that says why not. */
export async function sandboxListing(agent: Agent, path: string | null): Promise<{ wanted: string; entries: readonly SandboxEntry[] } | HttpResponse> {
  const at = inSandbox(agent, path);
  if ('status' in at) return at;
  try {
    return { wanted: at.wanted, entries: await listSandboxDir(at.sandbox, at.rel) };
  } catch (e) {
    return sandboxRefusalResponse(e);
  }
}

async function browse(req: Request, agent: Agent): Promise<HttpResponse> {
  const list = await sandboxListing(agent, req.query.get('path'));
  if ('status' in list) return list;
  const entries = list.entries.map(({ name, stats: s }) => ({
    path: join(list.wanted, name),
    nlink: s.nlink,
    size: s.size,
    mtime: Math.floor(s.mtimeMs / 1000),
    mode: modeString(s.mode, s.isDirectory()),
    uid: String(s.uid),
    gid: String(s.gid),
  }));
  return jsonResponse(req, entries);
}

/**
 * Open a sandbox file for reading without blocking: a task can leave a FIFO there, and opening
 * one waits for a writer, which would hold one of the few I/O threads the whole agent shares.
 * Only regular files are read.
 */
async function openRegular(
  agent: Agent,
  path: string | null,
  what: 'read' | 'download',
): Promise<{ fh: FileHandle; size: number; name: string } | HttpResponse> {
  const at = inSandbox(agent, path);
  if ('status' in at) return at;
  let fh: FileHandle;
  try {
    fh = await openSandboxFile(at.sandbox, at.rel);
  } catch (e) {
    return sandboxRefusalResponse(e);
  }
  const st = await fh.stat().catch(async (e: unknown) => {
    await fh.close();
    throw e;
  });
  if (st.isFile()) return { fh, size: st.size, name: basename(at.wanted) };
  await fh.close();
  return textResponse(400, st.isDirectory() ? `Cannot ${what} a directory` : `Cannot ${what} a file that is not a regular file`);
}

/**
 * Up to READ_MAX bytes of a sandbox file from `offset` (`length` undefined: as many as allowed;
 * 0: none, a size probe), with the file's size; an offset at or past the end reads nothing.
 * Used by /files/read and READ_FILE.
 */
export async function sandboxRead(
  agent: Agent,
  path: string | null,
  offset: number,
  length: number | undefined,
): Promise<{ size: number; data: Buffer } | HttpResponse> {
  const opened = await openRegular(agent, path, 'read');
  if ('status' in opened) return opened;
  const { fh, size } = opened;
  try {
    if (offset >= size) return { size, data: Buffer.alloc(0) };
    const n = Math.min(length ?? READ_MAX, READ_MAX, size - offset);
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, offset);
    return { size, data: buf.subarray(0, bytesRead) };
  } finally {
    await fh.close();
  }
}

async function read(req: Request, agent: Agent): Promise<HttpResponse> {
  const offsetText = req.query.get('offset');
  const lengthText = req.query.get('length');
  const offset = offsetText === null ? 0 : Number(offsetText);
  const length = lengthText === null ? -1 : Number(lengthText);
  if (!Number.isInteger(offset)) return textResponse(400, `Failed to parse offset: '${offsetText}'`);
  if (!Number.isInteger(length) || length < -1) return textResponse(400, `Negative or bad length: '${lengthText}'`);
  if (offset < -1) return textResponse(400, 'Negative offset');
  // offset -1: the size only (the pailer's first probe).
  const got = await sandboxRead(agent, req.query.get('path'), offset === -1 ? Number.MAX_SAFE_INTEGER : offset, length === -1 ? undefined : length);
  if ('status' in got) return got;
  if (offset === -1 || offset >= got.size) return jsonResponse(req, { offset: got.size, data: '' });
  return jsonResponse(req, { offset, data: got.data.toString('utf8') });
}

async function download(req: Request, agent: Agent): Promise<HttpResponse | void> {
  const opened = await openRegular(agent, req.query.get('path'), 'download');
  if ('status' in opened) return opened;
  const input = opened.fh.createReadStream(); // closes the handle when done or destroyed
  try {
    const stream = req.startStream(200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': `attachment; filename=${opened.name}` });
    for await (const chunk of input) {
      if (stream.closed) break;
      if (!stream.write(chunk as Buffer)) await stream.drained();
    }
    stream.end();
  } finally {
    input.destroy();
  }
}

// ---------------------------------------------------------------------------------------------

/** The resource statistics of every live executor's container (/monitor/statistics, GET_CONTAINERS). */
export async function containerStatistics(agent: Agent): Promise<{ fw: AgentFramework; ex: ExecutorRecord; statistics: Statistics }[]> {
  const out = [];
  for (const [fw, ex] of agent.liveExecutors()) {
    const statistics = await agent.options.containerizer.usage(ex.containerId).catch(() => undefined);
    if (statistics) out.push({ fw, ex, statistics });
  }
  return out;
}

/** The agent's /metrics/snapshot (also GET_METRICS). */
export function agentMetrics(agent: Agent): Record<string, number> {
  return agent.metrics.snapshot(agentMetricsExtras(agent));
}

/** The figures the agent's `/metrics/snapshot` and `/metrics` compute when asked (beside its registry's own). */
export function agentMetricsExtras(agent: Agent): Record<string, number> {
  let running = 0;
  let staging = 0;
  for (const [, ex] of agent.liveExecutors()) {
    for (const t of ex.tasks.values()) {
      if (t.state === 'TASK_RUNNING') running++;
      if (t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING') staging++;
    }
    staging += ex.queued.size;
  }
  const r = agent.options.resources;
  // As in Mesos: *_used counts non-revocable resources only; the revocable total is what the
  // agent last told the master (held + estimate).
  const used = agent.allocatedResources();
  const revTotal = agent.oversubscription.lastTotal;
  const resourceFigures: Record<string, number> = {};
  for (const name of ['cpus', 'mem', 'disk']) {
    const t = r.scalar(name);
    const u = used.nonRevocable().scalar(name);
    const rt = revTotal.scalar(name);
    const ru = used.revocable().scalar(name);
    resourceFigures[`slave/${name}_used`] = u;
    resourceFigures[`slave/${name}_percent`] = t > 0 ? u / t : 0;
    resourceFigures[`slave/${name}_revocable_total`] = rt;
    resourceFigures[`slave/${name}_revocable_used`] = ru;
    resourceFigures[`slave/${name}_revocable_percent`] = rt > 0 ? ru / rt : 0;
  }
  return {
    'slave/uptime_secs': (agent.options.clock.now() - agent.startTime) / 1000,
    'slave/registered': agent.id !== undefined && agent.isConnected ? 1 : 0,
    'slave/tasks_running': running,
    'slave/tasks_staging': staging,
    'slave/executors_running': Array.from(agent.liveExecutors()).length,
    'slave/frameworks_active': agent.frameworks.size,
    'slave/cpus_total': r.scalar('cpus'),
    'slave/mem_total': r.scalar('mem'),
    'slave/disk_total': r.scalar('disk'),
    ...resourceFigures,
  };
}

export function agentRoutes(server: HttpServer, ctx: AgentHttpContext, maxBodyBytes: number): void {
  const { agent } = ctx;
  agent.metrics.declare(EXECUTOR_STREAM_OVERFLOWS);
  const paths = (name: string) => [`/${name}`, `/slave(1)/${name}`];
  const get = (names: string[], handler: (req: Request) => HttpResponse | Promise<HttpResponse | void>, realm: string | null = READONLY_REALM) => {
    for (const n of names) for (const p of paths(n)) server.route({ path: p, methods: ['GET'], handler, ...(realm === null ? {} : { realm }) });
  };
  get(['state', 'state.json'], (req) => jsonResponse(req, agentStateJson(ctx)));
  get(['health'], () => ({ status: 200 }), null); // always open
  server.route({
    path: '/version',
    methods: ['GET'],
    handler: (req) => jsonResponse(req, { version: ctx.version, ...(ctx.corralVersion ? { corral_version: ctx.corralVersion } : {}) }),
  });
  get(['flags'], (req) => jsonResponse(req, { flags: ctx.flags }));
  for (const p of ['/monitor/statistics', '/monitor/statistics.json', '/slave(1)/monitor/statistics', '/slave(1)/monitor/statistics.json']) {
    server.route({
      path: p,
      methods: ['GET'],
      realm: READONLY_REALM,
      handler: async (req) =>
        jsonResponse(
          req,
          (await containerStatistics(agent)).map(({ fw, ex, statistics }) => ({
            framework_id: fw.id,
            executor_id: ex.id,
            executor_name: ex.name,
            source: ex.source,
            statistics,
          })),
        ),
    });
  }
  for (const [name, h] of [
    ['browse', browse],
    ['read', read],
    ['download', download],
  ] as const) {
    for (const p of [`/files/${name}`, `/files/${name}.json`])
      server.route({ path: p, methods: ['GET'], realm: READONLY_REALM, handler: (req) => h(req, agent) });
  }
  server.route({
    path: '/metrics/snapshot',
    methods: ['GET'],
    realm: READONLY_REALM,
    handler: (req) => jsonResponse(req, agentMetrics(agent)),
  });
  server.route({ path: '/metrics', methods: ['GET'], realm: READONLY_REALM, handler: () => prometheusResponse(agent.metrics, agentMetricsExtras(agent)) });
  // Readiness: 200 while the agent is registered with a master, else 503.
  get(
    ['ready'],
    (req) => {
      const registered = agent.id !== undefined && agent.isConnected;
      return { ...jsonResponse(req, { registered, agent_id: agent.id ?? null }), status: registered ? 200 : 503 };
    },
    null,
  );

  executorApiRoutes(server, ctx, maxBodyBytes);
  ctx.log.debug({}, 'agent routes installed');
}
