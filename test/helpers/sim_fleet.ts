/**
 * A fleet of simulated agents (test/helpers/sim_agents.ts) in several child processes, each with
 * its own loopback source address (127.0.0.<10+i>), for the master's scale harness and its test.
 * The processes' open-file limit is raised with util-linux's `prlimit` when the fleet needs more
 * than the default (root may raise it). `stop()` ends them all; a process that dies early fails
 * `ready`.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import { addCounters, zeroCounters, type SimAgentsOptions, type SimCounters, type SimReport } from './sim_agents.ts';

const SIM = join(dirname(fileURLToPath(import.meta.url)), 'sim_agents.ts');

/** This process's hard limit of open files. */
export function hardFileLimit(): number {
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 1024);
}

/**
 * Raise `pid`'s open-file limit to `n` (soft and hard); past this process's hard limit that
 * needs CAP_SYS_RESOURCE (a root without it, as in some containers, cannot).
 */
export function raiseFileLimit(pid: number, n: number): void {
  execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${n}:${n}`], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface FleetOptions extends Omit<SimAgentsOptions, 'count' | 'first' | 'localAddress'> {
  readonly agents: number;
  readonly processes: number;
}

export class SimFleet {
  private readonly children: ChildProcess[] = [];
  private readonly latest: SimCounters[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly o: FleetOptions) {}

  /** Starts the processes; resolves once every agent has registered. */
  static async start(o: FleetOptions): Promise<SimFleet> {
    const fleet = new SimFleet(o);
    try {
      await fleet.spawnAll();
    } catch (e) {
      fleet.stop();
      throw e;
    }
    return fleet;
  }

  private async spawnAll(): Promise<void> {
    const per = Math.ceil(this.o.agents / this.o.processes);
    const ready: Promise<void>[] = [];
    for (let p = 0; p < this.o.processes; p++) {
      const count = Math.min(per, this.o.agents - p * per);
      if (count <= 0) break;
      const opts: SimAgentsOptions & { reportMs: number } = { ...this.o, count, first: p * per, localAddress: `127.0.0.${10 + p}`, reportMs: 1000 };
      const child = fork(SIM, [`--sim-agents=${JSON.stringify(opts)}`], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      if (count + 4096 > 20_000) raiseFileLimit(child.pid!, count + 4096);
      this.children.push(child);
      this.latest.push(zeroCounters());
      const i = this.latest.length - 1;
      ready.push(
        new Promise<void>((resolve, reject) => {
          child.on('message', (m: SimReport) => {
            if ('ready' in m) {
              this.latest[i] = m.ready;
              resolve();
            } else this.latest[i] = m.counters;
            for (const w of this.waiters) w();
          });
          child.once('exit', (code, signal) => reject(new Error(`simulated agents process ${p} exited (${signal ?? code}) before all its agents registered`)));
        }),
      );
    }
    await Promise.all(ready);
  }

  /** The counters summed over the processes, as last reported (each reports every second). */
  counters(): SimCounters {
    return this.latest.reduce((a, c) => addCounters(a, c), zeroCounters());
  }

  /** Waits until `pred` holds for the summed counters (checked at each report), up to `timeoutMs`. */
  async until(what: string, pred: (c: SimCounters) => boolean, timeoutMs: number): Promise<SimCounters> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const c = this.counters();
      if (pred(c)) return c;
      if (Date.now() > end) throw new Error(`the simulated agents: ${what} not reached within ${timeoutMs} ms: ${JSON.stringify(c)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 1500);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.waiters.add(done);
      }).finally(() => this.waiters.clear());
    }
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid!).filter(Boolean);
  }

  stop(): void {
    for (const c of this.children) {
      if (c.connected) c.disconnect();
      setTimeout(() => c.kill('SIGKILL'), 3000).unref();
    }
  }
}
