/**
 * One container the supervisor containerizer watches (supervisor_containerizer.ts): its
 * supervisor, how its end is learnt, and how it is signalled and killed.
 *
 * How an end is learnt:
 *   - a container this agent launched: from the supervisor's exit (we are its parent), then
 *     exit.status;
 *   - a recovered one (after an agent restart): fs.watch on the run directory for exit.status,
 *     plus a slow poll that also notices a supervisor that died without recording anything
 *     (pid + start time from pids/forked.pid, so a reused pid is not mistaken for it).
 *
 * The end itself (teardown, then the termination) is the containerizer's: it is told through
 * `WatchHost.end`.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Clock, TimerHandle } from '../../common/clock.ts';
import type { Resources } from '../../common/resources/index.ts';
import { allProcStats, isSameProcess, readPidRecord, SUPERVISOR_STATUS_FILE, type SupervisorExit } from '../../linux/index.ts';
import type { Termination } from './containerizer.ts';
import type { Launcher, Limitation } from './isolator.ts';
import { recordedEnd, vanished } from './supervisor_records.ts';

export interface Limits {
  readonly cpus: number;
  readonly memBytes: number;
}

export function limitsOf(resources: Resources): Limits {
  return { cpus: resources.scalar('cpus'), memBytes: resources.scalar('mem') * 1024 * 1024 };
}

/** What a watched container needs of its containerizer. */
export interface WatchHost {
  readonly launcher: Launcher;
  /** The timer of a kill's grace. */
  readonly clock: Clock;
  /** How often a recovered container is checked besides file events, in ms. */
  readonly pollMs: number;
  /** The command has ended (or its supervisor is gone): tear the container down, then resolve its termination. */
  end(w: WatchedContainer, t: Termination): void;
}

export class WatchedContainer {
  /** The command's pid = its session id, when known. */
  childPid: number | undefined = undefined;
  /** A limit it went over (from an isolator's watch or found at its end). */
  limitation: Limitation | undefined = undefined;
  readonly termination: Promise<Termination>;
  readonly resolve: (t: Termination) => void;
  ended = false;
  killRequested = false;
  private forceAt = Infinity;
  private forceTimer: TimerHandle | undefined;
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;

  constructor(
    readonly containerId: string,
    readonly runDir: string,
    readonly pid: number,
    /** The supervisor's start time, for a container we are not the parent of (recovered, or its spawner died). */
    public startTime: number | undefined,
    public limits: Limits | undefined,
    private readonly host: WatchHost,
  ) {
    let resolve!: (t: Termination) => void;
    this.termination = new Promise<Termination>((r) => (resolve = r));
    this.resolve = resolve;
  }

  /** SIGTERM now, and the end by force after `graceMs` (at once for 0); a shorter grace replaces a longer one. */
  kill(graceMs: number): void {
    this.killRequested = true;
    this.signal('SIGTERM');
    const at = this.host.clock.now() + Math.max(0, graceMs);
    if (!this.ended && at < this.forceAt) {
      this.forceTimer?.cancel();
      this.forceAt = at;
      if (graceMs <= 0) {
        this.forceTimer = undefined;
        this.force();
      } else {
        this.forceTimer = this.host.clock.setTimer(graceMs, () => {
          this.forceTimer = undefined;
          this.force();
        });
      }
    }
  }

  /** End the container now: every process at once through the launcher, and SIGUSR2 to the supervisor. */
  force(): void {
    if (this.ended) return;
    const launcher = this.host.launcher;
    if (launcher.destroy) {
      launcher.destroy(this.containerId).catch(() => this.signal('SIGUSR2'));
    }
    this.signal('SIGUSR2');
  }

  stopWatching(): void {
    this.forceTimer?.cancel();
    if (this.poll) clearInterval(this.poll);
    this.watcher?.close();
    this.forceTimer = this.poll = this.watcher = undefined;
  }

  /** Its parent (the spawner) reported its end, or that it can no longer do so. */
  async supervisorExited(exit: SupervisorExit): Promise<void> {
    if (this.ended) return;
    if (exit.lost) return this.adopt();
    const t = await recordedEnd(this.runDir);
    if (t) return this.host.end(this, t);
    this.killOrphans();
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    const err = exit.stderr.trim();
    this.host.end(this, vanished(`process ${this.pid} ended (${how}) without recording an exit status${err ? `: ${err}` : ''}`));
  }

  /**
   * The spawner that was its parent is gone: watch it as a recovered container, by its run
   * directory and its pid record (pid and start time, so that a reused pid is not taken for it).
   */
  private async adopt(): Promise<void> {
    try {
      const rec = await readPidRecord(this.runDir);
      if (rec && rec.pid === this.pid) this.startTime = rec.startTime;
    } catch {
      // unreadable: the exit record, if any, still tells
    }
    if (this.ended) return;
    // Without a start time it cannot be told from a reused pid: taken as gone unless it recorded its end.
    if (this.startTime === undefined) this.startTime = -1;
    this.watchRunDir();
  }

  /** A recovered container: watch its run directory for exit.status, and poll. */
  watchRunDir(): void {
    try {
      this.watcher = watch(this.runDir, (_event, name) => {
        if (name === null || name === SUPERVISOR_STATUS_FILE) void this.check();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined; // the poll carries on
      });
      this.watcher.unref();
    } catch {
      // no inotify here: the poll alone
    }
    this.poll = setInterval(() => void this.check(), this.host.pollMs);
    this.poll.unref();
    void this.check(); // it may have ended before the watch began
  }

  /** A recovered container: has it recorded its end, or is its supervisor gone? */
  async check(): Promise<void> {
    if (this.ended) return;
    const t = await recordedEnd(this.runDir);
    if (t) return this.host.end(this, t);
    if (this.startTime === undefined || isSameProcess(this.pid, this.startTime)) return;
    // Gone: it writes exit.status before it exits, so look once more.
    const late = await recordedEnd(this.runDir);
    if (late) return this.host.end(this, late);
    this.killOrphans();
    this.host.end(this, vanished(`process ${this.pid} is gone and recorded no exit status`));
  }

  /**
   * The supervisor died without ending its container: end what is left of the command's session
   * (a launcher with destroy does it for the whole container when the run is torn down).
   */
  private killOrphans(): void {
    const sid = this.childPid;
    if (sid === undefined || this.host.launcher.destroy) return;
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

  private signal(sig: NodeJS.Signals): void {
    if (this.ended) return;
    // Not our child: make sure the pid is still the supervisor we recorded.
    if (this.startTime !== undefined && !isSameProcess(this.pid, this.startTime)) {
      void this.check();
      return;
    }
    try {
      process.kill(this.pid, sig);
    } catch {
      // it has just ended: the exit handler or the watch reports it
    }
  }
}
