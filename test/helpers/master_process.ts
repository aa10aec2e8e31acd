/**
 * `corral master` as a child process, for tests and benchmarks of several masters on ZooKeeper
 * that kill one for real (SIGKILL), pause it (SIGSTOP/SIGCONT) or cut its ZooKeeper off. On a
 * port chosen once, so that it comes back on it. With `supervise`, an exit the test did not ask
 * for is followed by a new start after `restartDelayMs`, as systemd's Restart=always does (a
 * master that lost the lead exits 1 to be started again as a contender). Its JSON log lines are
 * kept across restarts, each with the run (`run`, from 1) that wrote it. A crash (crash_guard.ts)
 * makes `stop` throw, so the test that owns it fails even from its teardown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, parseLogLine, type LogLine } from './agent_process.ts';
import { type Json, getJson, request } from './cluster.ts';
import { crashIn } from './crash_guard.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CORRAL = ['--import', 'tsx', join(ROOT, 'test', 'helpers', 'corral_src.ts')];

export interface Exit {
  readonly run: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface MasterProcessOptions {
  /** Start it again after an exit the test did not ask for. */
  readonly supervise?: boolean;
  readonly restartDelayMs?: number;
  /** Arguments for node itself (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** Its --hostname (default 127.0.0.1); null: none given. */
  readonly hostname?: string | null;
}

export class MasterProcess {
  readonly logs: (LogLine & { run: number })[] = [];
  readonly exits: Exit[] = [];
  /** The first line that showed a crash. */
  crash: string | undefined;
  private child: ChildProcess | undefined;
  private runs = 0;
  private tailText = '';
  private ending = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private exitWaiters: (() => void)[] = [];

  private constructor(
    readonly port: number,
    readonly args: readonly string[],
    private readonly o: MasterProcessOptions,
  ) {}

  /** `corral master --ip=127.0.0.1 --hostname=127.0.0.1 --port=<free> <args>`. */
  static async start(args: readonly string[], o: MasterProcessOptions = {}): Promise<MasterProcess> {
    const m = new MasterProcess(await freePort(), args, o);
    m.spawn();
    return m;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The current run (1 for the first start). */
  get run(): number {
    return this.runs;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get tail(): string {
    return this.tailText;
  }

  private spawn(): void {
    this.runs += 1;
    const run = this.runs;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS|LIBPROCESS|SSL)_/.test(k)));
    const child = spawn(
      process.execPath,
      [
        ...(this.o.nodeArgs ?? []),
        ...CORRAL,
        'master',
        '--ip=127.0.0.1',
        ...(this.o.hostname === null ? [] : [`--hostname=${this.o.hostname ?? '127.0.0.1'}`]),
        `--port=${this.port}`,
        ...this.args,
      ],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    this.child = child;
    let partial = '';
    child.stderr!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        this.tailText = (this.tailText + `[run ${run}] ${line}\n`).slice(-8000);
        this.crash ??= crashIn(line);
        try {
          this.logs.push({ ...parseLogLine(line), run });
        } catch {
          // not a log line: kept in the tail only
        }
      }
    });
    child.once('exit', (code, signal) => {
      this.exits.push({ run, code, signal });
      for (const w of this.exitWaiters.splice(0)) w();
      if (this.o.supervise && !this.ending) this.restartTimer = setTimeout(() => this.spawn(), this.o.restartDelayMs ?? 500);
    });
  }

  /** Resolves with the exit of run `run` (default: the current one). */
  async exitOf(run = this.runs, timeoutMs = 60_000): Promise<Exit> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const e = this.exits.find((x) => x.run === run);
      if (e) return e;
      if (Date.now() > end) throw new Error(`master on ${this.port}: run ${run} did not exit within ${timeoutMs} ms\n${this.tail}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.exitWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Send `signal` to the current run (SIGKILL: a crash the supervisor does not see as asked). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** SIGKILL the current run and wait for its end; with `supervise` it is started again. */
  async kill(): Promise<Exit> {
    const run = this.runs;
    this.signal('SIGKILL');
    return this.exitOf(run);
  }

  /** Start it again after the test stopped it (same port and flags). */
  restart(): void {
    if (this.running) throw new Error(`master on ${this.port} is running`);
    this.ending = false;
    this.spawn();
  }

  /** Stop for good: SIGCONT (if paused), SIGTERM, SIGKILL after `graceMs`; throws if it crashed. */
  async stop(graceMs = 10_000): Promise<void> {
    this.ending = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    }
    if (this.crash !== undefined) throw new Error(`the master on ${this.port} crashed: ${this.crash}\n--- its stderr (end) ---\n${this.tail}`);
  }

  /** The first log line (of run `run`, or any) whose message matches, waiting up to `timeoutMs`. */
  async waitForLog(msg: RegExp, timeoutMs = 30_000, run?: number): Promise<LogLine> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find((l) => (run === undefined || l.run === run) && msg.test(l.msg));
      if (found) return found;
      if (Date.now() > end) throw new Error(`no log matching ${msg} from the master on ${this.port} within ${timeoutMs} ms\n${this.tail}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** GET `path` on this master (undefined when it does not answer). */
  async get(path: string): Promise<{ status: number; location: string | undefined; text: string; json(): Json } | undefined> {
    try {
      const r = await request(`http://${this.address}${path}`, { method: 'GET', timeoutMs: 3000 });
      return { status: r.status, location: r.headers.location, text: r.text, json: () => r.json() };
    } catch {
      return undefined;
    }
  }
}

/**
 * The master among `masters` that leads and has recovered its registry (it answers /master/state
 * naming itself as leader), waiting up to `timeoutMs`; polls every 50 ms. `not` excludes one
 * (the old leader, still answering while it has not noticed).
 */
export async function leaderOf(masters: readonly MasterProcess[], timeoutMs = 60_000, not?: MasterProcess): Promise<MasterProcess> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (const m of masters) {
      if (m === not || !m.running) continue;
      try {
        const state = await getJson(`http://${m.address}/master/state`);
        if (state.leader === `master@127.0.0.1:${m.port}` && state.elected_time !== undefined) return m;
      } catch {
        // not leading, not recovered, or not answering
      }
    }
    if (Date.now() > end) throw new Error(`no master led within ${timeoutMs} ms:\n${masters.map((m) => m.tail.slice(-1500)).join('\n----\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
