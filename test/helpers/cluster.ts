/**
 * End-to-end test framework: a real cluster in this process (a master and N agents started by
 * the same composition roots as `corral master|agent`, on loopback, with temporary work dirs)
 * and a scheduler client that is nothing but an HTTP client speaking the v1 wire JSON
 * (snake_case), as an existing Mesos client library does: it POSTs SUBSCRIBE, reads the
 * RecordIO stream into a queue of decoded events, and sends every other call on its own
 * connection with the `Mesos-Stream-Id` header. It uses no Corral code to encode or decode.
 *
 * Clean-up is the caller's duty through `startCluster(t, …)`, which registers `t.teardown`:
 * frameworks are torn down (their tasks killed), agents and master stopped, any process still
 * running from the work dir killed (tasks outlive agents by design), and the work dir removed.
 * `clearLeftoverClusters()` does the same for the work dirs of an earlier test process that
 * crashed (`corral-test-<pid>-e2e-*` whose pid is gone).
 */
import http from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { agentFlags } from '../../lib/agent/flags.ts';
import { startAgent, startMaster, type RunningAgent, type RunningMaster } from '../../lib/cli/daemons.ts';
import { createLogger } from '../../lib/cli/logger.ts';
import { parseFlags } from '../../lib/common/flags.ts';
import { silentLogger, type Logger } from '../../lib/common/log.ts';
import { masterFlags } from '../../lib/master/flags.ts';
import { killProcessesUnder } from '../linux/containerizer_fixture.ts';
import { isLeftover } from './tmp_names.ts';

// Wire JSON is untyped by nature: events and calls are plain objects as a client sees them.

export type Json = any;

export const DEFAULT_AGENT_RESOURCES = 'cpus:8;mem:8192;disk:10000;ports:[31000-32000]';
export const USER = userInfo().username;

/** Logs go nowhere unless CORRAL_E2E_LOG is set (then to stderr, at that level). */
function testLogger(role: string): Logger {
  const level = process.env.CORRAL_E2E_LOG;
  if (!level) return silentLogger;
  const known = ['debug', 'info', 'warn', 'error'] as const;
  return createLogger({ level: known.find((l) => l === level) ?? 'info' }).child({ role });
}

// =============================================================================================
// Plain HTTP

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  json(): Json;
}

export interface RawRequest {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** A string or object (sent as JSON) body. */
  readonly body?: string | Buffer | object;
  /**
   * Send the body with Transfer-Encoding: chunked and no Content-Length, as Node's
   * http.request().write() does, in pieces of this many bytes.
   */
  readonly chunkBytes?: number;
  readonly timeoutMs?: number;
  /** A keep-alive agent to reuse connections (default: a fresh connection per request). */
  readonly agent?: http.Agent;
}

/** One HTTP request (on a fresh connection unless an agent is given); resolves with the whole response. */
export function request(url: string, r: RawRequest = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body =
      r.body === undefined ? undefined : typeof r.body === 'string' || Buffer.isBuffer(r.body) ? Buffer.from(r.body) : Buffer.from(JSON.stringify(r.body));
    const headers: Record<string, string> = { ...(r.headers ?? {}) };
    if (body !== undefined && r.chunkBytes === undefined) headers['Content-Length'] = String(body.length);
    const req = http.request(url, { method: r.method ?? 'POST', headers, agent: r.agent ?? false, timeout: r.timeoutMs ?? 15_000 });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Json });
      });
      res.on('error', reject);
    });
    // A server may answer (413) and stop reading before the body is all sent.
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    req.on('timeout', () => req.destroy(new Error(`${r.method ?? 'POST'} ${url}: no answer in time`)));
    if (body !== undefined && r.chunkBytes !== undefined) {
      const step = r.chunkBytes;
      let at = 0;
      const pump = (): void => {
        while (at < body.length) {
          const piece = body.subarray(at, at + step);
          at += step;
          if (!req.write(piece)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    } else {
      req.end(body);
    }
  });
}

export async function getJson(url: string): Promise<Json> {
  const r = await request(url, { method: 'GET' });
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.text}`);
  return r.json();
}

// =============================================================================================
// RecordIO

/** Splits a byte stream into RecordIO records (`<decimal byte count>\n<bytes>`). */
export class RecordIoDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) break;
      const header = this.buf.subarray(0, nl).toString('latin1');
      if (!/^[0-9]+$/.test(header)) throw new Error(`bad RecordIO header '${header}'`);
      const n = Number(header);
      if (this.buf.length < nl + 1 + n) break;
      out.push(this.buf.subarray(nl + 1, nl + 1 + n));
      this.buf = this.buf.subarray(nl + 1 + n);
    }
    return out;
  }

  get pending(): number {
    return this.buf.length;
  }
}

// =============================================================================================
// The scheduler client

export interface SubscribeOptions {
  /** Re-subscribe with this framework id (sets framework_id and framework_info.id). */
  readonly frameworkId?: string;
  /** Acknowledge every update that carries a uuid (default true). */
  readonly autoAck?: boolean;
  /** Extra keys of the `subscribe` message. */
  readonly subscribe?: object;
  /** Extra request headers. */
  readonly headers?: Record<string, string>;
  /** The endpoint (default /api/v1/scheduler; Mesos's C++ library uses /master/api/v1/scheduler). */
  readonly path?: string;
  /** Make calls over kept-alive connections (default: a fresh connection per call). */
  readonly keepAlive?: boolean;
  /** Headers for every call after SUBSCRIBE (e.g. Authorization with --authenticate_frameworks). */
  readonly callHeaders?: Record<string, string>;
}

interface Waiter {
  pred: (e: Json) => boolean;
  resolve: (e: Json) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export function frameworkInfo(extra: object = {}): Json {
  return { user: USER, name: 'e2e', failover_timeout: 0, ...extra };
}

/**
 * A framework over the v1 scheduler API. `events` holds every event in order; `waitFor`
 * hands out events matching a predicate, each at most once, waiting for new ones if needed.
 */
export class Scheduler {
  readonly events: Json[] = [];
  /** The raw text of every record, in order. */
  readonly records: string[] = [];
  /** When each event arrived (wall-clock ms, performance.timeOrigin + performance.now()), in order. */
  readonly receivedAt: number[] = [];
  /** Responses to the acknowledgements sent by autoAck. */
  readonly acks: Promise<RawResponse>[] = [];
  frameworkId = '';
  /** Called with every event as it is decoded (before waitFor sees it); benchmarks time here. */
  onEvent: ((e: Json) => void) | undefined;
  private readonly unclaimed: Json[] = [];
  private waiters: Waiter[] = [];
  private res: http.IncomingMessage | undefined;
  private req: http.ClientRequest | undefined;
  private ended = false;
  private endWaiters: (() => void)[] = [];
  private failure: Error | undefined;
  private callAgent: http.Agent | undefined;
  private callHeaders: Record<string, string> = {};

  private constructor(
    readonly master: string,
    readonly status: number,
    readonly headers: http.IncomingHttpHeaders,
    readonly autoAck: boolean,
    readonly path: string,
  ) {}

  /** The Mesos-Stream-Id of this subscription. */
  get streamId(): string {
    return String(this.headers['mesos-stream-id'] ?? '');
  }

  get closed(): boolean {
    return this.ended;
  }

  /**
   * POST SUBSCRIBE to `master` (host:port) and start reading the stream. Resolves once the
   * response headers are in (any status: a refusal is for the caller to check).
   */
  static subscribe(master: string, info: Json = frameworkInfo(), o: SubscribeOptions = {}): Promise<Scheduler> {
    const fi = o.frameworkId === undefined ? info : { ...info, id: { value: o.frameworkId } };
    const body = JSON.stringify({
      type: 'SUBSCRIBE',
      ...(o.frameworkId === undefined ? {} : { framework_id: { value: o.frameworkId } }),
      subscribe: { framework_info: fi, ...(o.subscribe ?? {}) },
    });
    return new Promise((resolve, reject) => {
      const path = o.path ?? '/api/v1/scheduler';
      const req = http.request(`http://${master}${path}`, {
        method: 'POST',
        agent: false,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': String(Buffer.byteLength(body)), ...(o.headers ?? {}) },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        const s = new Scheduler(master, res.statusCode ?? 0, res.headers, o.autoAck ?? true, path);
        if (o.keepAlive) s.callAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
        s.callHeaders = o.callHeaders ?? {};
        s.req = req;
        s.res = res;
        if (s.status !== 200) {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => {
            s.records.push(Buffer.concat(parts).toString('utf8'));
            s.finish();
          });
          res.on('error', () => s.finish());
          resolve(s);
          return;
        }
        const decoder = new RecordIoDecoder();
        res.on('data', (chunk: Buffer) => {
          let records: Buffer[];
          try {
            records = decoder.push(chunk);
          } catch (e) {
            s.finish(e as Error);
            res.destroy();
            return;
          }
          for (const r of records) s.onRecord(r.toString('utf8'));
        });
        res.on('end', () => s.finish());
        res.on('error', () => s.finish());
        res.on('close', () => s.finish());
        resolve(s);
      });
      req.end(body);
    });
  }

  private onRecord(text: string): void {
    this.records.push(text);
    const e = JSON.parse(text) as Json;
    this.events.push(e);
    this.receivedAt.push(performance.timeOrigin + performance.now());
    if (e.type === 'SUBSCRIBED') this.frameworkId = e.subscribed.framework_id.value;
    this.onEvent?.(e);
    if (this.autoAck && e.type === 'UPDATE' && e.update.status.uuid !== undefined) {
      const st = e.update.status;
      const ack = this.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: st.agent_id, task_id: st.task_id, uuid: st.uuid } });
      ack.catch(() => {}); // a test that cares awaits `acks`
      this.acks.push(ack);
    }
    const w = this.waiters.find((x) => x.pred(e));
    if (w) {
      this.waiters = this.waiters.filter((x) => x !== w);
      clearTimeout(w.timer);
      w.resolve(e);
    } else {
      this.unclaimed.push(e);
    }
  }

  private finish(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    for (const w of this.endWaiters.splice(0)) w();
  }

  /** Resolves when the stream has ended (server closed it, or close()). */
  whenClosed(timeoutMs = 5000): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the stream did not close within ${timeoutMs} ms`)), timeoutMs);
      this.endWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * The first event matching `pred` that no earlier waitFor returned, waiting up to
   * `timeoutMs` for it to arrive.
   */
  waitFor(pred: (e: Json) => boolean, timeoutMs = 10_000, what = 'an event'): Promise<Json> {
    const i = this.unclaimed.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.unclaimed.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        pred,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          const seen = this.events.map((e) => (e.type === 'UPDATE' ? `UPDATE(${e.update.status.task_id.value}:${e.update.status.state})` : e.type)).slice(-30);
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${what}${this.failure ? ` (stream failed: ${this.failure.message})` : ''}${this.ended ? ' (stream closed)' : ''}; last events: ${seen.join(' ')}`,
            ),
          );
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** The next OFFERS event's offers. */
  async offers(timeoutMs = 10_000): Promise<Json[]> {
    const e = await this.waitFor((x) => x.type === 'OFFERS', timeoutMs, 'offers');
    return e.offers.offers as Json[];
  }

  /** The next UPDATE for `taskId` (in `states`, if given); resolves with its status. */
  async update(taskId: string, states?: string | readonly string[], timeoutMs = 10_000): Promise<Json> {
    const want = states === undefined ? undefined : typeof states === 'string' ? [states] : states;
    const e = await this.waitFor(
      (x) => x.type === 'UPDATE' && x.update.status.task_id.value === taskId && (want === undefined || want.includes(x.update.status.state)),
      timeoutMs,
      `an update of ${taskId}${want ? ` to ${want.join('|')}` : ''}`,
    );
    return e.update.status;
  }

  /** A call on its own connection, with this subscription's framework id and stream id. */
  call(body: Json, headers: Record<string, string> = {}): Promise<RawResponse> {
    return request(`http://${this.master}${this.path}`, {
      headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': this.streamId, ...this.callHeaders, ...headers },
      body: { framework_id: { value: this.frameworkId }, ...body },
      ...(this.callAgent ? { agent: this.callAgent } : {}),
    });
  }

  /** A call that must be accepted (202). */
  async must(body: Json): Promise<void> {
    const r = await this.call(body);
    if (r.status !== 202) throw new Error(`${body.type} refused: ${r.status} ${r.text}`);
  }

  accept(offerIds: readonly string[], tasks: readonly Json[], filters: Json = { refuse_seconds: 0 }): Promise<void> {
    return this.must({
      type: 'ACCEPT',
      accept: { offer_ids: offerIds.map((value) => ({ value })), operations: [{ type: 'LAUNCH', launch: { task_infos: tasks } }], filters },
    });
  }

  decline(offerIds: readonly string[], refuseSeconds = 0): Promise<void> {
    return this.must({ type: 'DECLINE', decline: { offer_ids: offerIds.map((value) => ({ value })), filters: { refuse_seconds: refuseSeconds } } });
  }

  kill(taskId: string, agentId?: string): Promise<void> {
    return this.must({ type: 'KILL', kill: { task_id: { value: taskId }, ...(agentId ? { agent_id: { value: agentId } } : {}) } });
  }

  reconcile(tasks: readonly { taskId: string; agentId?: string }[]): Promise<void> {
    return this.must({
      type: 'RECONCILE',
      reconcile: { tasks: tasks.map((t) => ({ task_id: { value: t.taskId }, ...(t.agentId ? { agent_id: { value: t.agentId } } : {}) })) },
    });
  }

  teardown(): Promise<void> {
    return this.must({ type: 'TEARDOWN' });
  }

  /**
   * Launch `tasks` (TaskInfos without agent_id) on offers as they come, at most `perAccept` per
   * ACCEPT, each offer used once; declines nothing (unused resources go back unfiltered).
   * Resolves with the agent id each task went to.
   */
  async launch(tasks: readonly Json[], o: { perAccept?: number; timeoutMs?: number } = {}): Promise<Map<string, string>> {
    const per = o.perAccept ?? tasks.length;
    const placed = new Map<string, string>();
    let next = 0;
    const end = Date.now() + (o.timeoutMs ?? 20_000);
    while (next < tasks.length) {
      const offers = await this.offers(Math.max(1, end - Date.now()));
      for (const offer of offers) {
        if (next >= tasks.length) {
          await this.decline([offer.id.value], 0);
          continue;
        }
        const batch = tasks.slice(next, next + per).map((t) => ({ ...t, agent_id: offer.agent_id }));
        next += batch.length;
        for (const t of batch) placed.set(t.task_id.value, offer.agent_id.value);
        await this.accept([offer.id.value], batch);
      }
    }
    return placed;
  }

  /** Close the stream from this side (the master sees the framework disconnect). */
  close(): void {
    this.res?.destroy();
    this.req?.destroy();
    this.callAgent?.destroy();
    this.finish();
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error('the scheduler was closed'));
    }
  }
}

/** A command TaskInfo without agent_id (Scheduler.launch fills it in). */
export function commandTask(id: string, command: string, extra: Json = {}): Json {
  return {
    name: id,
    task_id: { value: id },
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
      { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
    ],
    command: { value: command, shell: true },
    ...extra,
  };
}

// =============================================================================================
// The cluster

export interface ClusterOptions {
  readonly agents?: number;
  readonly agentResources?: string;
  /** Extra master flags (`--name=value`). */
  readonly masterArgs?: readonly string[];
  readonly agentArgs?: readonly string[];
  /** Where the master and agents log (each a child with its `role`), everything down to DEBUG; default: testLogger. */
  readonly logger?: Logger;
}

const E2E_TAG = '-e2e-';

export class Cluster {
  master: RunningMaster | undefined;
  readonly agents: RunningAgent[] = [];
  readonly schedulers: Scheduler[] = [];
  masterPort = 0;

  private constructor(
    readonly workDir: string,
    private readonly o: ClusterOptions,
  ) {}

  static async start(o: ClusterOptions = {}): Promise<Cluster> {
    const c = new Cluster(mkdtempSync(join(tmpdir(), `corral-test-${process.pid}${E2E_TAG}`)), o);
    try {
      await c.startMaster(0);
      for (let i = 0; i < (o.agents ?? 1); i++) await c.startAgent(i);
      await Promise.all(c.agents.map((a) => a.registered));
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  get masterAddress(): string {
    return `127.0.0.1:${this.masterPort}`;
  }

  url(path: string): string {
    return `http://${this.masterAddress}${path}`;
  }

  agentUrl(i: number, path: string): string {
    return `http://127.0.0.1:${this.agents[i]!.port}${path}`;
  }

  /** Start the master on `port` (0: any) with the cluster's master work dir. */
  async startMaster(port = this.masterPort): Promise<RunningMaster> {
    const argv = [
      '--ip=127.0.0.1',
      `--port=${port}`,
      `--work_dir=${join(this.workDir, 'master')}`,
      '--registry=replicated_log',
      '--allocation_interval=20ms',
      // A logger of the test's own records everything: the daemon's --logging_level gate lets it all through.
      ...(this.o.logger ? ['--logging_level=DEBUG'] : []),
      ...(this.o.masterArgs ?? []),
    ];
    const parsed = parseFlags(masterFlags, { argv, env: {} });
    this.master = await startMaster(parsed.values, parsed.text, this.o.logger?.child({ role: 'master' }) ?? testLogger('master'));
    this.masterPort = this.master.port;
    return this.master;
  }

  async stopMaster(): Promise<void> {
    const m = this.master;
    this.master = undefined;
    await m?.stop();
  }

  private readonly stoppedAgents = new WeakSet<RunningAgent>();

  /** Stop agent `i` (its work dir stays); restartAgent(i) brings it back. */
  async stopAgent(i: number): Promise<void> {
    const a = this.agents[i]!;
    if (this.stoppedAgents.has(a)) return;
    this.stoppedAgents.add(a);
    await a.stop();
  }

  /**
   * Stop agent `i` and start it again on its work dir and port (where its executors reach it):
   * it recovers and re-registers.
   */
  async restartAgent(i: number): Promise<RunningAgent> {
    const port = this.agents[i]!.port;
    await this.stopAgent(i);
    this.agents.splice(i, 1);
    const a = await this.startAgent(i, port);
    this.agents.splice(this.agents.indexOf(a), 1);
    this.agents.splice(i, 0, a);
    await a.registered;
    return a;
  }

  private async startAgent(i: number, port = 0): Promise<RunningAgent> {
    const argv = [
      `--master=${this.masterAddress}`,
      '--ip=127.0.0.1',
      `--port=${port}`,
      `--work_dir=${join(this.workDir, `agent${i}`)}`,
      `--hostname=agent${i}`,
      `--resources=${this.o.agentResources ?? DEFAULT_AGENT_RESOURCES}`,
      '--registration_backoff_factor=20ms',
      ...(this.o.logger ? ['--logging_level=DEBUG'] : []),
      ...(this.o.agentArgs ?? []),
    ];
    const parsed = parseFlags(agentFlags, { argv, env: {} });
    const a = await startAgent(parsed.values, parsed.text, this.o.logger?.child({ role: `agent${i}` }) ?? testLogger(`agent${i}`));
    this.agents.push(a);
    return a;
  }

  /** Subscribe a framework (tracked: torn down by stop()). */
  async subscribe(info: Json = frameworkInfo(), o: SubscribeOptions = {}): Promise<Scheduler> {
    const s = await Scheduler.subscribe(this.masterAddress, info, o);
    this.schedulers.push(s);
    return s;
  }

  /** Subscribe and check the first record: the framework's SUBSCRIBED. */
  async framework(info: Json = frameworkInfo(), o: SubscribeOptions = {}): Promise<Scheduler> {
    const s = await this.subscribe(info, o);
    if (s.status !== 200) throw new Error(`SUBSCRIBE refused: ${s.status} ${s.records.join('')}`);
    await s.waitFor((e) => e.type === 'SUBSCRIBED', 5000, 'SUBSCRIBED');
    return s;
  }

  getJson(path: string): Promise<Json> {
    return getJson(this.url(path));
  }

  agentJson(i: number, path: string): Promise<Json> {
    return getJson(this.agentUrl(i, path));
  }

  /** Wait until `cond` holds (polled every 20 ms). */
  async until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'the condition'): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Everything down, also after a failure: frameworks torn down (the agents kill their tasks),
   * agents and master stopped, streams closed, leftover processes killed, work dir removed.
   */
  async stop(): Promise<void> {
    const problems: string[] = [];
    const step = async (what: string, f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        problems.push(`${what}: ${(e as Error).message}`);
      }
    };
    const master = this.master?.master;
    if (master) {
      for (const id of Array.from(master.frameworks.keys())) await step(`teardown ${id}`, () => master.teardown(id));
      // The agents kill what they run; give them a moment before the hard stop.
      await step('agents draining', () =>
        this.until(() => this.agents.every((a) => Array.from(a.agent.liveExecutors()).length === 0), 5000, 'the agents to end their tasks'),
      );
    }
    for (const s of this.schedulers) s.close();
    for (const a of this.agents.splice(0).reverse()) if (!this.stoppedAgents.has(a)) await step('agent stop', () => a.stop());
    await step('master stop', () => this.stopMaster());
    killEverythingUnder(this.workDir);
    rmSync(this.workDir, { recursive: true, force: true });
    if (problems.length > 0 && process.env.CORRAL_E2E_LOG) console.error(`cluster clean-up: ${problems.join('; ')}`);
  }
}

/** Kill every process working in `dir` or naming it on its command line (supervisors). */
export function killEverythingUnder(dir: string): number {
  let n = killProcessesUnder(dir);
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes(dir + '/')) {
      try {
        process.kill(Number(name), 'SIGKILL');
        n++;
      } catch {
        // gone
      }
    }
  }
  return n;
}

/** Processes whose cwd is inside `dir` or whose command line names it (live ones only). */
export function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') continue;
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cwd === dir || cwd.startsWith(dir + '/') || cmd.includes(dir)) out.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/** Remove the work dirs (and processes) of e2e test processes that are gone. */
export function clearLeftoverClusters(): string[] {
  const base = tmpdir();
  const dirs = readdirSync(base)
    .filter((d) => d.includes(E2E_TAG) && isLeftover(d))
    .map((d) => join(base, d));
  for (const d of dirs) {
    killEverythingUnder(d);
    rmSync(d, { recursive: true, force: true });
  }
  return dirs;
}

/** A cluster torn down when the test ends, pass or fail. */
export async function startCluster(t: ExecutionContext, o: ClusterOptions = {}): Promise<Cluster> {
  clearLeftoverClusters();
  const c = await Cluster.start(o);
  t.teardown(() => c.stop());
  return c;
}
