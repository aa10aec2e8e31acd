/**
 * Simulated agents for the master's scale harness (bench/scale.bench.ts) and its scaled-down test
 * (test/e2e/scale.test.ts): thousands of agents in one process, each speaking the real agent ↔
 * master protocol (lib/proto/internal.ts) over real HTTP on loopback, with none of an agent's
 * Linux work. What each one does, as `corral agent` does it:
 * - registers with its resources and attributes on a stream of its own (REGISTER, then
 *   REREGISTER with its id and all its tasks when the stream breaks, e.g. a master restart),
 *   after a random wait up to a back-off that starts at --registration_backoff_factor (1 s) and
 *   doubles;
 * - answers every PING with a PONG;
 * - "runs" each task it is given: TASK_RUNNING at once, TASK_FINISHED after `taskMs` (a negative
 *   `taskMs` keeps tasks running; a task whose command is `sleep S` runs S seconds, `sleep inf`
 *   until killed), TASK_KILLED on KILL_TASK; every update carries a fresh uuid,
 *   the updates of a task go one at a time in order, and the head is sent again every
 *   `retryMs` until the master's ACKNOWLEDGE names its uuid (as the agent's status update
 *   manager does), and again on every re-registration;
 * - a SHUTDOWN (the master removed it) is counted: a scale run must see none.
 *
 * The agents of one process share two HTTP agents bound to `localAddress` (127.0.0.0/8 is all
 * loopback; each process takes its own source address so that 50,000 streams do not run out of
 * ephemeral ports towards the one master port): one for the streams, one kept-alive pool for the
 * calls. Run as a script (`--sim-agents=JSON`) it reports its counters to its parent over IPC
 * every `reportMs`.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { AGENT_CALL_PATH, AGENT_ID_HEADER, AGENT_STREAM_HEADER, AGENT_SUBSCRIBE_PATH, type AgentTask, type AgentToMaster } from '../../lib/proto/internal.ts';
import { decodeMasterToAgent, encodeAgentToMaster } from '../../lib/proto/internal_codec.ts';
import { stringifyWire } from '../../lib/proto/json_text.ts';
import { RecordIoDecoder } from '../../lib/proto/recordio.ts';
import type { FrameworkInfo, TaskInfo, TaskState, TaskStatus } from '../../lib/proto/messages.ts';
import { parseResourcesText } from '../../lib/common/resources/index.ts';

export interface SimAgentsOptions {
  /** The master, host:port. */
  readonly master: string;
  readonly count: number;
  /** Hostnames are sim-<first+i>. */
  readonly first: number;
  /** Source address of every connection (default 127.0.0.1). */
  readonly localAddress?: string;
  /** How long a task runs before TASK_FINISHED; < 0: until killed. */
  readonly taskMs: number;
  /** Re-send an unacknowledged update after this long (the agent's first retry is 10 s). */
  readonly retryMs?: number;
  readonly resources?: string;
  readonly backoffFactorMs?: number;
  /** Calls on their way at once per process. */
  readonly callSockets?: number;
  /** Register in waves of this many at once (agents start over time). */
  readonly wave?: number;
}

/** Counters of one process, summed by the harness. */
export interface SimCounters {
  registered: number;
  /** Agents whose stream is up. */
  connected: number;
  registrations: number;
  reregistrations: number;
  /** SHUTDOWN messages: the master removed an agent. */
  shutdowns: number;
  pings: number;
  tasksReceived: number;
  /** Tasks that reached a terminal state whose update was acknowledged. */
  tasksDone: number;
  /** Tasks not terminal, or terminal but not yet acknowledged. */
  tasksLive: number;
  updatesSent: number;
  updatesResent: number;
  acks: number;
  /** ACKNOWLEDGEs of a uuid that is not the head of its task's stream. */
  staleAcks: number;
  /** RUN_TASK of a task id the agent already has. */
  duplicateRuns: number;
  callErrors: number;
  /** From an update's first send to its ACKNOWLEDGE: the longest, and the sum (ms) over `acks`. */
  ackMaxMs: number;
  ackSumMs: number;
}

export const zeroCounters = (): SimCounters => ({
  registered: 0,
  connected: 0,
  registrations: 0,
  reregistrations: 0,
  shutdowns: 0,
  pings: 0,
  tasksReceived: 0,
  tasksDone: 0,
  tasksLive: 0,
  updatesSent: 0,
  updatesResent: 0,
  acks: 0,
  staleAcks: 0,
  duplicateRuns: 0,
  callErrors: 0,
  ackMaxMs: 0,
  ackSumMs: 0,
});

export function addCounters(into: SimCounters, c: SimCounters): SimCounters {
  for (const k of Object.keys(into) as (keyof SimCounters)[]) into[k] = k === 'ackMaxMs' ? Math.max(into[k], c[k]) : into[k] + c[k];
  return into;
}

interface SimTask {
  readonly frameworkId: string;
  readonly info: TaskInfo;
  state: TaskState;
  /** Updates not yet acknowledged, the head first. */
  readonly pending: TaskStatus[];
  latest: TaskStatus | undefined;
  retry: NodeJS.Timeout | undefined;
  finish: NodeJS.Timeout | undefined;
  /** performance.now() of the head's first send. */
  sentAt: number;
}

const TERMINAL = new Set<TaskState>(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE']);

/** How long a task "runs": `sleep S` (seconds, or `inf`) as its command, else the default. */
function runMs(task: TaskInfo, defaultMs: number): number {
  const m = /^sleep (\S+)$/.exec(task.command?.value ?? '');
  if (!m) return defaultMs;
  return m[1] === 'inf' ? -1 : Number(m[1]) * 1000;
}

class Shared {
  readonly counters = zeroCounters();
  readonly streamAgent: http.Agent;
  readonly callAgent: http.Agent;
  readonly host: string;
  readonly port: number;
  readonly resources: ReturnType<typeof parseResourcesText>;
  closed = false;
  saidRefusal = false;

  constructor(readonly o: SimAgentsOptions) {
    const local = o.localAddress ? { localAddress: o.localAddress } : {};
    this.streamAgent = new http.Agent({ keepAlive: false, maxSockets: Infinity, ...local });
    this.callAgent = new http.Agent({ keepAlive: true, maxSockets: o.callSockets ?? 16, ...local });
    const [host, port] = o.master.split(':');
    this.host = host!;
    this.port = Number(port);
    this.resources = parseResourcesText(o.resources ?? 'cpus:16;mem:65536;disk:100000;ports:[31000-32000]');
  }
}

class SimAgent {
  id = '';
  private streamId = '';
  private req: http.ClientRequest | undefined;
  private generation = 0;
  private backoffMs: number;
  private isRegistered = false;
  private onRegistered: (() => void) | undefined;
  private readonly tasks = new Map<string, SimTask>();
  private readonly frameworks = new Map<string, FrameworkInfo>();

  constructor(
    private readonly s: Shared,
    private readonly index: number,
  ) {
    this.backoffMs = s.o.backoffFactorMs ?? 1000;
  }

  private hello(): AgentToMaster {
    const agentInfo = {
      hostname: `sim-${this.index}`,
      port: 5051,
      resources: this.s.resources.toArray(),
      attributes: [{ name: 'rack', type: 'TEXT' as const, text: `r${this.index % 100}` }],
    };
    if (this.id === '') return { type: 'REGISTER', agentInfo, version: 'sim' };
    const tasks: AgentTask[] = [];
    for (const t of this.tasks.values())
      tasks.push({ frameworkId: t.frameworkId, executorId: t.info.taskId, task: t.info, state: t.state, ...(t.latest ? { latestStatus: t.latest } : {}) });
    const frameworks = [...new Set(tasks.map((t) => t.frameworkId))].map((id) => this.frameworks.get(id)!).filter(Boolean);
    return { type: 'REREGISTER', agentId: this.id, agentInfo: { ...agentInfo, id: this.id }, version: 'sim', tasks, executors: [], frameworks };
  }

  /** Registers; resolves at the first (RE)REGISTERED (or when the process closes). */
  start(): Promise<void> {
    return new Promise((resolve) => {
      this.onRegistered = resolve;
      this.attempt();
    });
  }

  /** One attempt at the stream; a break or refusal tries again after the back-off. */
  private attempt(): void {
    if (this.s.closed) return this.onRegistered?.();
    const generation = ++this.generation;
    const again = () => {
      if (generation !== this.generation || this.s.closed) return;
      this.generation++; // later events of this request are not for the agent
      if (this.isRegistered) this.s.counters.connected--;
      this.isRegistered = false;
      const wait = Math.random() * this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, 60_000);
      setTimeout(() => this.attempt(), wait);
    };
    const body = stringifyWire(encodeAgentToMaster(this.hello()));
    const req = http.request({
      host: this.s.host,
      port: this.s.port,
      method: 'POST',
      path: AGENT_SUBSCRIBE_PATH,
      agent: this.s.streamAgent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    });
    this.req = req;
    req.on('error', again);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        // 503 while the master recovers; anything else is a harness bug, said once.
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          if (res.statusCode !== 503 && !this.s.saidRefusal) {
            this.s.saidRefusal = true;
            process.stderr.write(`simulated agent refused: ${res.statusCode} ${text}\n`);
          }
          again();
        });
        return;
      }
      this.streamId = String(res.headers[AGENT_STREAM_HEADER] ?? '');
      const headerId = String(res.headers[AGENT_ID_HEADER] ?? '');
      const decoder = new RecordIoDecoder();
      res.on('data', (chunk: Buffer) => {
        if (generation !== this.generation) return;
        let records: Buffer[];
        try {
          records = decoder.push(chunk);
        } catch {
          req.destroy();
          return;
        }
        for (const r of records) {
          const msg = decodeMasterToAgent(JSON.parse(r.toString('utf8')));
          if (msg.type === 'REGISTERED' || msg.type === 'REREGISTERED') this.registered(headerId || msg.agentId, msg.type);
          else this.onMessage(msg);
        }
      });
      res.on('end', again);
      res.on('error', again);
    });
    req.end(body);
  }

  private registered(id: string, type: 'REGISTERED' | 'REREGISTERED'): void {
    const c = this.s.counters;
    const first = this.id === '';
    this.id = id;
    this.backoffMs = this.s.o.backoffFactorMs ?? 1000;
    if (!this.isRegistered) c.connected++;
    this.isRegistered = true;
    if (first) c.registered++;
    if (type === 'REGISTERED') c.registrations++;
    else c.reregistrations++;
    // Unacknowledged updates go again to the (new) master.
    for (const t of this.tasks.values()) if (t.pending.length > 0) this.sendHead(t, true);
    this.onRegistered?.();
    this.onRegistered = undefined;
  }

  private onMessage(msg: ReturnType<typeof decodeMasterToAgent>): void {
    const c = this.s.counters;
    switch (msg.type) {
      case 'PING':
        c.pings++;
        this.call({ type: 'PONG' });
        return;
      case 'RUN_TASK': {
        c.tasksReceived++;
        const key = `${msg.frameworkId}/${msg.task.taskId}`;
        if (this.tasks.has(key)) {
          c.duplicateRuns++;
          return;
        }
        this.frameworks.set(msg.frameworkId, msg.frameworkInfo);
        const t: SimTask = {
          frameworkId: msg.frameworkId,
          info: msg.task,
          state: 'TASK_STAGING',
          pending: [],
          latest: undefined,
          retry: undefined,
          finish: undefined,
          sentAt: 0,
        };
        this.tasks.set(key, t);
        c.tasksLive++;
        this.update(t, 'TASK_RUNNING');
        const ms = runMs(msg.task, this.s.o.taskMs);
        if (ms >= 0) t.finish = setTimeout(() => this.update(t, 'TASK_FINISHED'), ms);
        return;
      }
      case 'KILL_TASK': {
        const t = this.tasks.get(`${msg.frameworkId}/${msg.taskId}`);
        if (t && !TERMINAL.has(t.state)) {
          clearTimeout(t.finish);
          this.update(t, 'TASK_KILLED');
        }
        return;
      }
      case 'ACKNOWLEDGE': {
        const t = this.tasks.get(`${msg.frameworkId}/${msg.taskId}`);
        if (!t || t.pending[0]?.uuid !== msg.uuid) {
          c.staleAcks++;
          return;
        }
        c.acks++;
        const waited = performance.now() - t.sentAt;
        c.ackSumMs += waited;
        c.ackMaxMs = Math.max(c.ackMaxMs, waited);
        clearTimeout(t.retry);
        t.retry = undefined;
        t.pending.shift();
        if (t.pending.length > 0) this.sendHead(t, false);
        else if (TERMINAL.has(t.state)) {
          this.tasks.delete(`${msg.frameworkId}/${msg.taskId}`);
          c.tasksLive--;
          c.tasksDone++;
        }
        return;
      }
      case 'SHUTDOWN':
        c.shutdowns++;
        return;
      default:
        return; // frameworks' messages, checkpointed resources: nothing to do here
    }
  }

  private update(t: SimTask, state: TaskState): void {
    t.state = state;
    const status: TaskStatus = {
      taskId: t.info.taskId,
      state,
      source: 'SOURCE_EXECUTOR',
      agentId: this.id,
      executorId: t.info.taskId,
      timestamp: Date.now() / 1000,
      uuid: randomBytes(16).toString('base64'),
    };
    t.latest = status;
    t.pending.push(status);
    if (t.pending.length === 1) this.sendHead(t, false);
  }

  private sendHead(t: SimTask, again: boolean): void {
    const head = t.pending[0]!;
    if (again) this.s.counters.updatesResent++;
    else {
      this.s.counters.updatesSent++;
      t.sentAt = performance.now();
    }
    clearTimeout(t.retry);
    t.retry = setTimeout(() => this.sendHead(t, true), this.s.o.retryMs ?? 10_000);
    if (this.isRegistered) this.call({ type: 'STATUS_UPDATE', frameworkId: t.frameworkId, status: head });
  }

  private call(call: AgentToMaster): void {
    if (this.s.closed) return;
    const body = stringifyWire(encodeAgentToMaster(call));
    const req = http.request({
      host: this.s.host,
      port: this.s.port,
      method: 'POST',
      path: AGENT_CALL_PATH,
      agent: this.s.callAgent,
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        [AGENT_ID_HEADER]: this.id,
        [AGENT_STREAM_HEADER]: this.streamId,
      },
    });
    req.on('error', () => this.s.counters.callErrors++);
    req.on('response', (res) => {
      if ((res.statusCode ?? 0) >= 300) this.s.counters.callErrors++;
      res.resume();
    });
    req.end(body);
  }

  close(): void {
    this.generation++;
    this.req?.destroy();
    for (const t of this.tasks.values()) {
      clearTimeout(t.retry);
      clearTimeout(t.finish);
    }
  }
}

/** Starts `o.count` agents in this process, registering in waves; resolves once all registered. */
export async function runSimAgents(o: SimAgentsOptions): Promise<{ counters: SimCounters; close(): void }> {
  const s = new Shared(o);
  const agents = Array.from({ length: o.count }, (_, i) => new SimAgent(s, o.first + i));
  const wave = o.wave ?? 500;
  for (let i = 0; i < agents.length; i += wave) await Promise.all(agents.slice(i, i + wave).map((a) => a.start()));
  return {
    counters: s.counters,
    close() {
      s.closed = true;
      for (const a of agents) a.close();
      s.streamAgent.destroy();
      s.callAgent.destroy();
    },
  };
}

/** Messages of a --sim-agents process to its parent. */
export type SimReport = { readonly ready: SimCounters } | { readonly counters: SimCounters };

const arg = process.argv.find((a) => a.startsWith('--sim-agents='));
if (arg !== undefined && process.send) {
  const o = JSON.parse(arg.slice('--sim-agents='.length)) as SimAgentsOptions & { reportMs?: number };
  const sim = await runSimAgents(o);
  process.send({ ready: sim.counters } satisfies SimReport);
  const timer = setInterval(() => process.send?.({ counters: sim.counters } satisfies SimReport), o.reportMs ?? 1000);
  process.on('message', (m: unknown) => {
    if (m === 'report') process.send?.({ counters: sim.counters } satisfies SimReport);
  });
  process.on('disconnect', () => {
    clearInterval(timer);
    sim.close();
    process.exit(0);
  });
}
