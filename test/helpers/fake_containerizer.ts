/**
 * A containerizer over a fake host for tier-2 agent tests: containers are records whose end
 * the test decides, with failure injection for launches and kills.
 */
import type { Container, Containerizer, LaunchSpec, RecoveredRun, Termination } from '../../lib/agent/containerizer/containerizer.ts';

interface FakeContainer {
  spec: LaunchSpec;
  pid: number;
  resolve: (t: Termination) => void;
  termination: Promise<Termination>;
  killedWith: number | undefined;
  /** How it ended, once it has (kept for an agent that recovers later). */
  ended: Termination | undefined;
}

function deferred(): { promise: Promise<Termination>; resolve: (t: Termination) => void } {
  let resolve!: (t: Termination) => void;
  const promise = new Promise<Termination>((r) => (resolve = r));
  return { promise, resolve };
}

export class FakeContainerizer implements Containerizer {
  readonly containers = new Map<string, FakeContainer>();
  readonly launched: LaunchSpec[] = [];
  failNextLaunch: string | undefined;
  /** When false, kill() does not end the container (a process that ignores SIGTERM). */
  killEnds = true;
  private pid = 1000;

  /** While set, launches wait for it (a launch that takes long). */
  launchGate: Promise<void> | undefined;

  async launch(spec: LaunchSpec): Promise<Container> {
    if (this.launchGate) await this.launchGate;
    if (this.failNextLaunch) {
      const msg = this.failNextLaunch;
      this.failNextLaunch = undefined;
      throw new Error(msg);
    }
    const d = deferred();
    const termination = d.promise;
    const c: FakeContainer = { spec, pid: this.pid++, resolve: d.resolve, termination, killedWith: undefined, ended: undefined };
    this.containers.set(spec.containerId, c);
    this.launched.push(spec);
    return { containerId: spec.containerId, pid: c.pid, termination };
  }

  private end(containerId: string, t: Termination): void {
    const c = this.containers.get(containerId);
    if (!c || c.ended) return;
    c.ended = t;
    c.resolve(t);
  }

  /** End a container as if its process exited with `code`. */
  exit(containerId: string, code: number): void {
    this.end(containerId, { exitCode: code, status: code << 8 });
  }

  /** End a container as if its process was killed by `signal`. */
  signal(containerId: string, signal: number): void {
    this.end(containerId, { signal, status: signal });
  }

  /** The agent died: nobody hears of its containers until an agent recovers them. */
  abandon(): void {
    for (const c of this.containers.values()) {
      const d = deferred();
      c.termination = d.promise;
      c.resolve = d.resolve;
    }
  }

  async kill(containerId: string, graceMs: number): Promise<Termination | undefined> {
    const c = this.containers.get(containerId);
    if (!c) return undefined;
    c.killedWith = graceMs;
    if (this.killEnds) this.end(containerId, { signal: 15, status: 15, killed: true });
    return c.termination;
  }

  async recover(runs: readonly RecoveredRun[]): Promise<Map<string, Container>> {
    const out = new Map<string, Container>();
    for (const r of runs) {
      const c = this.containers.get(r.containerId);
      if (!c) continue;
      const d = deferred();
      c.termination = d.promise;
      c.resolve = d.resolve;
      if (c.ended) d.resolve(c.ended);
      out.set(r.containerId, { containerId: r.containerId, pid: c.pid, termination: c.termination });
    }
    return out;
  }

  /** Statistics a test sets per container (default: a small fixed figure). */
  readonly stats = new Map<string, Record<string, number>>();

  async usage(containerId?: string): Promise<Record<string, number> | undefined> {
    const s = containerId === undefined ? undefined : this.stats.get(containerId);
    if (s) return s;
    return { cpus_user_time_secs: 0.5, mem_rss_bytes: 1024 };
  }

  readonly isolation: readonly string[] = [];
  readyIsolators(): void {}
  async closeIsolators(): Promise<void> {}
  close(): void {}
}
