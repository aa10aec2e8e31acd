/**
 * The posix containerizer (spec agent-features §7.5-7.6, posix launcher): every container is a
 * corral-containerizer supervisor in its own session, which starts the command in a new session,
 * stays its parent (and, as a child subreaper, the parent of every orphan of the container),
 * records its exit status in the run's checkpoint directory and outlives the agent. No cgroups,
 * no namespaces: the container is the supervisor's process tree; it ends as a whole.
 *
 * How an end is learnt:
 *   - a container this agent launched: from the supervisor's exit (we are its parent), then
 *     exit.status;
 *   - a recovered one (after an agent restart): fs.watch on the run directory for exit.status,
 *     plus a slow poll that also notices a supervisor that died without recording anything
 *     (pid + start time from pids/forked.pid, so a reused pid is not mistaken for it).
 */
import { watch, type FSWatcher } from 'node:fs';
import { CorralError, describeError } from '../../common/errors.ts';
import type { Resources } from '../../common/resources/index.ts';
import {
  allProcStats,
  clockTicks,
  containedProcesses,
  isSameProcess,
  readExitRecord,
  readPidRecord,
  residentBytes,
  startSupervisor,
  SUPERVISOR_STATUS_FILE,
  type SupervisorExit,
  type SupervisorExitRecord,
} from '../../linux/index.ts';
import type { Container, Containerizer, LaunchSpec, RecoveredRun, Termination } from './containerizer.ts';

export interface PosixContainerizerOptions {
  /** The supervisor executable (default: the built corral-containerizer). */
  readonly supervisor?: string;
  /** How often a recovered container is checked besides file events, in ms (default 1000). */
  readonly pollMs?: number;
  /**
   * Keep the Node process alive while a container is watched, as a server socket does (default
   * true). With false the process may exit while its containers run on; recover them later.
   */
  readonly ref?: boolean;
}

interface Limits {
  readonly cpus: number;
  readonly memBytes: number;
}

interface Watched {
  readonly containerId: string;
  readonly runDir: string;
  readonly pid: number;
  /** The supervisor's start time, for a container we are not the parent of (recovered). */
  readonly startTime: number | undefined;
  /** The command's pid = its session id, when known. */
  childPid: number | undefined;
  readonly limits: Limits | undefined;
  readonly termination: Promise<Termination>;
  resolve: (t: Termination) => void;
  ended: boolean;
  killRequested: boolean;
  forceAt: number;
  forceTimer: NodeJS.Timeout | undefined;
  watcher: FSWatcher | undefined;
  poll: NodeJS.Timeout | undefined;
}

const NO_STATUS = -1;

/** A Termination from the supervisor's record. */
export function terminationOf(r: SupervisorExitRecord): Termination {
  switch (r.status) {
    case 'exited':
      return { exitCode: r.code, status: r.wstatus };
    case 'signaled':
      return { signal: r.signal, status: r.wstatus };
    case 'failed':
      return { exitCode: r.code, status: r.wstatus, message: `Failed to start the command: ${r.error}` };
    case 'aborted':
      return { status: NO_STATUS, message: 'The launch was aborted before the command started' };
  }
}

function vanished(detail: string): Termination {
  return { status: NO_STATUS, message: `supervisor vanished: ${detail}` };
}

export class PosixContainerizer implements Containerizer {
  private readonly containers = new Map<string, Watched>();
  private readonly supervisor: string | undefined;
  private readonly pollMs: number;
  private readonly ref: boolean;
  private keepAlive: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: PosixContainerizerOptions = {}) {
    this.supervisor = opts.supervisor;
    this.pollMs = opts.pollMs ?? 1000;
    this.ref = opts.ref ?? true;
  }

  async launch(spec: LaunchSpec): Promise<Container> {
    if (this.closed) throw new CorralError('CONTAINERIZER_CLOSED', 'the containerizer is closed');
    if (this.containers.has(spec.containerId)) {
      throw new CorralError('CONTAINER_EXISTS', `container ${spec.containerId} is already running`, { field: 'containerId' });
    }
    let sup;
    try {
      sup = await startSupervisor({
        sandbox: spec.sandbox,
        runDir: spec.runDir,
        argv: spec.argv,
        env: spec.env,
        ...(spec.user === undefined ? {} : { user: spec.user }),
        ...(this.supervisor === undefined ? {} : { executable: this.supervisor }),
      });
    } catch (e) {
      throw new CorralError('CONTAINER_LAUNCH_FAILED', `container ${spec.containerId}: ${describeError(e)}`, { cause: e });
    }
    const w = this.track(spec.containerId, spec.runDir, sup.pid, undefined, limitsOf(spec.resources));
    w.childPid = sup.childPid;
    void sup.exited.then((exit) => this.supervisorExited(w, exit));
    // Isolators would act on sup.childPid here, before the release.
    await sup.release();
    sup.unref();
    return { containerId: spec.containerId, pid: sup.pid, termination: w.termination };
  }

  async kill(containerId: string, graceMs: number): Promise<Termination | undefined> {
    const w = this.containers.get(containerId);
    if (!w) return undefined;
    w.killRequested = true;
    this.signal(w, 'SIGTERM');
    const at = Date.now() + Math.max(0, graceMs);
    if (!w.ended && at < w.forceAt) {
      if (w.forceTimer) clearTimeout(w.forceTimer);
      w.forceAt = at;
      if (graceMs <= 0) {
        w.forceTimer = undefined;
        this.signal(w, 'SIGUSR2');
      } else {
        w.forceTimer = setTimeout(() => {
          w.forceTimer = undefined;
          this.signal(w, 'SIGUSR2');
        }, graceMs);
        w.forceTimer.unref();
      }
    }
    return w.termination;
  }

  async recover(runs: readonly RecoveredRun[]): Promise<Map<string, Container>> {
    const out = new Map<string, Container>();
    let stats: Awaited<ReturnType<typeof allProcStats>> | undefined;
    for (const run of runs) {
      const known = this.containers.get(run.containerId);
      if (known) {
        out.set(run.containerId, { containerId: run.containerId, pid: known.pid, termination: known.termination });
        continue;
      }
      const ended = await this.recordedEnd(run.runDir);
      if (ended) {
        out.set(run.containerId, { containerId: run.containerId, pid: 0, termination: Promise.resolve(ended) });
        continue;
      }
      let rec;
      try {
        rec = await readPidRecord(run.runDir);
      } catch (e) {
        out.set(run.containerId, { containerId: run.containerId, pid: 0, termination: Promise.resolve(vanished(describeError(e))) });
        continue;
      }
      if (!rec) {
        out.set(run.containerId, {
          containerId: run.containerId,
          pid: 0,
          termination: Promise.resolve(vanished(`no supervisor was recorded in ${run.runDir} and no exit status`)),
        });
        continue;
      }
      const w = this.track(run.containerId, run.runDir, rec.pid, rec.startTime, run.resources && limitsOf(run.resources));
      out.set(run.containerId, { containerId: run.containerId, pid: rec.pid, termination: w.termination });
      if (!isSameProcess(rec.pid, rec.startTime)) {
        await this.check(w);
        continue;
      }
      stats ??= await allProcStats();
      w.childPid = stats.find((s) => s.ppid === rec.pid)?.pid;
      this.watchRunDir(w);
    }
    return out;
  }

  async usage(containerId: string): Promise<Record<string, number> | undefined> {
    const w = this.containers.get(containerId);
    if (!w || w.ended) return undefined;
    const procs = containedProcesses(await allProcStats(), w.pid);
    const hz = clockTicks();
    let user = 0;
    let system = 0;
    for (const p of procs) {
      user += p.utime + p.cutime;
      system += p.stime + p.cstime;
    }
    const rss = (await Promise.all(procs.map((p) => residentBytes(p.pid)))).reduce<number>((a, b) => a + (b ?? 0), 0);
    const stats: Record<string, number> = {
      timestamp: Date.now() / 1000,
      cpus_user_time_secs: user / hz,
      cpus_system_time_secs: system / hz,
      mem_rss_bytes: rss,
    };
    if (w.limits && w.limits.cpus > 0) stats.cpus_limit = w.limits.cpus;
    if (w.limits && w.limits.memBytes > 0) stats.mem_limit_bytes = w.limits.memBytes;
    return stats;
  }

  /** Containers being watched. */
  get size(): number {
    return this.containers.size;
  }

  /**
   * Stop watching every container (they run on; another containerizer can recover them).
   * Their terminations stay pending.
   */
  close(): void {
    this.closed = true;
    for (const w of this.containers.values()) this.stopWatching(w);
    this.containers.clear();
    this.updateKeepAlive();
  }

  // -------------------------------------------------------------------------------------------

  private track(containerId: string, runDir: string, pid: number, startTime: number | undefined, limits: Limits | undefined): Watched {
    let resolve!: (t: Termination) => void;
    const termination = new Promise<Termination>((r) => (resolve = r));
    const w: Watched = {
      containerId,
      runDir,
      pid,
      startTime,
      childPid: undefined,
      limits,
      termination,
      resolve,
      ended: false,
      killRequested: false,
      forceAt: Infinity,
      forceTimer: undefined,
      watcher: undefined,
      poll: undefined,
    };
    this.containers.set(containerId, w);
    this.updateKeepAlive();
    return w;
  }

  private finish(w: Watched, t: Termination): void {
    if (w.ended) return;
    w.ended = true;
    this.stopWatching(w);
    if (this.containers.get(w.containerId) === w) this.containers.delete(w.containerId);
    this.updateKeepAlive();
    w.resolve(w.killRequested ? { ...t, killed: true } : t);
  }

  private stopWatching(w: Watched): void {
    if (w.forceTimer) clearTimeout(w.forceTimer);
    if (w.poll) clearInterval(w.poll);
    w.watcher?.close();
    w.forceTimer = w.poll = w.watcher = undefined;
  }

  /** One ref'd timer holds the process open while anything is watched (option `ref`). */
  private updateKeepAlive(): void {
    const want = this.ref && this.containers.size > 0;
    if (want && !this.keepAlive) this.keepAlive = setInterval(() => {}, 2 ** 30);
    else if (!want && this.keepAlive) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  /** The termination recorded in `runDir`, if any (a bad record is a termination too). */
  private async recordedEnd(runDir: string): Promise<Termination | undefined> {
    try {
      const r = await readExitRecord(runDir);
      return r && terminationOf(r);
    } catch (e) {
      return { status: NO_STATUS, message: describeError(e) };
    }
  }

  /** We were its parent and it ended. */
  private async supervisorExited(w: Watched, exit: SupervisorExit): Promise<void> {
    if (w.ended) return;
    const t = await this.recordedEnd(w.runDir);
    if (t) return this.finish(w, t);
    this.killOrphans(w);
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    const err = exit.stderr.trim();
    this.finish(w, vanished(`process ${w.pid} ended (${how}) without recording an exit status${err ? `: ${err}` : ''}`));
  }

  private watchRunDir(w: Watched): void {
    try {
      w.watcher = watch(w.runDir, (_event, name) => {
        if (name === null || name === SUPERVISOR_STATUS_FILE) void this.check(w);
      });
      w.watcher.on('error', () => {
        w.watcher?.close();
        w.watcher = undefined; // the poll carries on
      });
      w.watcher.unref();
    } catch {
      // no inotify here: the poll alone
    }
    w.poll = setInterval(() => void this.check(w), this.pollMs);
    w.poll.unref();
    void this.check(w); // it may have ended before the watch began
  }

  /** A recovered container: has it recorded its end, or is its supervisor gone? */
  private async check(w: Watched): Promise<void> {
    if (w.ended) return;
    const t = await this.recordedEnd(w.runDir);
    if (t) return this.finish(w, t);
    if (w.startTime === undefined || isSameProcess(w.pid, w.startTime)) return;
    // Gone: it writes exit.status before it exits, so look once more.
    const late = await this.recordedEnd(w.runDir);
    if (late) return this.finish(w, late);
    this.killOrphans(w);
    this.finish(w, vanished(`process ${w.pid} is gone and recorded no exit status`));
  }

  /** The supervisor died without ending its container: end what is left of the command's session. */
  private killOrphans(w: Watched): void {
    const sid = w.childPid;
    if (sid === undefined) return;
    void allProcStats().then((stats) => {
      for (const s of stats) {
        if (s.session !== sid) continue;
        try {
          process.kill(s.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    });
  }

  private signal(w: Watched, sig: NodeJS.Signals): void {
    if (w.ended) return;
    // Not our child: make sure the pid is still the supervisor we recorded.
    if (w.startTime !== undefined && !isSameProcess(w.pid, w.startTime)) {
      void this.check(w);
      return;
    }
    try {
      process.kill(w.pid, sig);
    } catch {
      // it has just ended: the exit handler or the watch reports it
    }
  }
}

function limitsOf(resources: Resources): Limits {
  return { cpus: resources.scalar('cpus'), memBytes: resources.scalar('mem') * 1024 * 1024 };
}
