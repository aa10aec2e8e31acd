/**
 * `corral agent` as a child process, for tests and benchmarks that kill it for real (SIGKILL)
 * and start it again on the same work dir and port. Its JSON log lines are kept (the last
 * ones, for failure messages; every one for `waitForLog`). A crash (crash_guard.ts: an
 * unhandled rejection, a cut timer) or an exit it was not asked for with a non-zero status
 * makes `kill` and `stop` throw, so the test that owns it fails even from its teardown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getJson, type Json } from './cluster.ts';
import { crashIn } from './crash_guard.ts';

import { freePort } from '../../lib/transport/free_port.ts';

export { freePort };

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `corral` run from the sources, whatever dist/ holds. */
const CORRAL = ['--import', 'tsx', join(ROOT, 'test', 'helpers', 'corral_src.ts')];

/** The flags of a `corral agent` child on loopback under `master`, with a free port chosen once (it comes back on it). */
export async function agentProcessArgs(o: {
  master: string;
  workDir: string;
  resources: string;
  isolation: string;
  cgroupsRoot: string;
  extra?: readonly string[];
}): Promise<string[]> {
  return [
    `--master=${o.master}`,
    '--ip=127.0.0.1',
    `--port=${await freePort()}`,
    `--work_dir=${o.workDir}`,
    '--hostname=agent0',
    `--resources=${o.resources}`,
    '--registration_backoff_factor=10ms',
    `--isolation=${o.isolation}`,
    `--cgroups_root=${o.cgroupsRoot}`,
    ...(o.extra ?? []),
  ];
}

/** The --port of agentProcessArgs. */
export function portOf(args: readonly string[]): number {
  return Number(args.find((a) => a.startsWith('--port='))!.slice('--port='.length));
}

/** A daemon's JSON log line, its ISO `time` as epoch milliseconds (throws on a line that is not one). */
export function parseLogLine(line: string): LogLine {
  const rec = JSON.parse(line) as Record<string, unknown>;
  return { ...rec, time: Date.parse(String(rec.time)) } as LogLine;
}

export interface LogLine {
  readonly level: string;
  readonly time: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export class AgentProcess {
  readonly logs: LogLine[] = [];
  private stderrTail = '';
  /** The first line that showed a crash. */
  crash: string | undefined;
  /** Set once the test asked it to end (kill, stop). */
  private ending = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Date.now() when it was spawned. */
  readonly spawnedAt: number;

  private constructor(readonly child: ChildProcess) {
    this.spawnedAt = Date.now();
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    let partial = '';
    child.stderr!.on('data', (d: Buffer) => {
      const text = partial + d.toString();
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        this.stderrTail = (this.stderrTail + line + '\n').slice(-6000);
        this.crash ??= crashIn(line);
        try {
          this.logs.push(parseLogLine(line));
        } catch {
          // not a log line (a crash's stack trace): kept in the tail only
        }
      }
    });
  }

  /** `corral agent <args>`, with no CORRAL_/MESOS_ variables of ours leaking in; `nodeArgs` go to node (e.g. --cpu-prof). */
  static start(args: readonly string[], nodeArgs: readonly string[] = []): AgentProcess {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS)_/.test(k)));
    const child = spawn(process.execPath, [...nodeArgs, ...CORRAL, 'agent', ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    return new AgentProcess(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines it wrote to stderr. */
  get tail(): string {
    return this.stderrTail;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) {
      this.ending = true;
      this.child.kill(signal);
      await this.exited;
    }
    this.checkNoCrash();
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) {
      this.ending = true;
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(t);
    }
    this.checkNoCrash();
    return this.exited;
  }

  /** Throws when it crashed, or exited with a failure without being asked to end. */
  checkNoCrash(): void {
    const { exitCode, signalCode } = this.child;
    const unasked = !this.ending && (signalCode !== null || (exitCode !== null && exitCode !== 0));
    if (this.crash !== undefined || unasked) {
      throw new Error(
        `the agent (pid ${this.pid}) crashed: ${this.crash ?? `it exited with ${signalCode ?? `status ${exitCode}`}`}\n--- its stderr (end) ---\n${this.tail}`,
      );
    }
  }

  /** The first log line whose message matches, waiting up to `timeoutMs`. */
  async waitForLog(msg: string | RegExp, timeoutMs = 30_000): Promise<LogLine> {
    const match = (l: LogLine) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg));
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(match);
      if (found) return found;
      if (!this.running) throw new Error(`the agent exited before logging '${msg}': ${this.tail}`);
      if (Date.now() > end) throw new Error(`no '${msg}' from the agent within ${timeoutMs} ms: ${this.tail}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** The master's view of agent `agentId` (/master/slaves), once it is active; polls every 10 ms. */
export async function untilAgentActive(master: string, timeoutMs = 30_000, want?: (agent: Json) => boolean): Promise<Json> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const s = await getJson(`http://${master}/master/slaves`);
      const a = (s.slaves as Json[]).find((x) => x.active && (want === undefined || want(x)));
      if (a) return a;
    } catch {
      // the master is not answering yet
    }
    if (Date.now() > end) throw new Error(`no active agent at ${master} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
