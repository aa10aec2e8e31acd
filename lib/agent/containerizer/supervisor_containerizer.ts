/**
 * The supervisor containerizer (docs/architecture.md §1, §3): every container is a supervisor
 * (the corral-containerizer executable) in its own session, which starts the command in a new
 * session, stays its parent (and, as a child subreaper, the parent of every orphan of the container),
 * records its exit status in the run's checkpoint directory and outlives the agent.
 *
 * Around the supervisor run the isolators (isolator.ts), in `--isolation` order:
 *   prepare each → start the supervisor (--wait-go, in the namespaces the isolators asked for)
 *   → launcher.attach + isolate each with the command's pid → watch for limitations → "go".
 * A failure on the way aborts the supervisor (the command never runs) and cleans up every step
 * taken, in reverse. When the container ends: launcher.destroy (nothing of it survives), a last
 * look for a limitation, cleanup of every isolator in reverse order, then the termination.
 *
 * The steps around the supervisor are in supervisor_launch.ts, what it records in its run
 * directory is read in supervisor_records.ts, and each container's watch (how its end is learnt,
 * its signals and kill) is in supervisor_watch.ts.
 *
 * SupervisorContainerizer is this with the posix launcher: no cgroups, the container is the
 * supervisor's process tree and it ends as a whole; by default its isolators are posix/cpu and
 * posix/mem (usage only). LinuxContainerizer (linux.ts) holds each container in a cgroup.
 */
import type { HealthCheck } from '../../proto/health_check.ts';
import { type ProbeTarget, type TaskFacts, runProbe, taskFacts } from './health_probes.ts';
import type { Clock } from '../../common/clock.ts';
import { CorralError, describeError } from '../../common/errors.ts';
import type { Resources } from '../../common/resources/index.ts';
import { SupervisorSpawner, supervisorPath, systemClock } from '../../linux/index.ts';
import type { Container, Containerizer, LaunchSpec, RecoveredRun, Termination } from './containerizer.ts';
import type { Isolator, Launcher, RecoveredContainer, Statistics } from './isolator.ts';
import { PosixCpuIsolator } from './isolators/posix_cpu.ts';
import { PosixMemIsolator } from './isolators/posix_mem.ts';
import { startContainer, tearDown, type ContainerSteps } from './supervisor_launch.ts';
import { readRunRecords } from './supervisor_records.ts';
import { type Limits, type WatchHost, WatchedContainer, limitsOf } from './supervisor_watch.ts';

export interface SupervisorContainerizerOptions {
  /** The supervisor executable (default: the built corral-containerizer). */
  readonly supervisor?: string;
  /** How often a recovered container is checked besides file events, in ms (default 1000). */
  readonly pollMs?: number;
  /**
   * Keep the Node process alive while a container is watched, as a server socket does (default
   * true). With false the process may exit while its containers run on; recover them later.
   */
  readonly ref?: boolean;
  /**
   * Persistent volumes as bind mounts in the container's own mount namespace (default: when the
   * agent is root, the only case where one can be made); false: symlinks in the sandbox.
   */
  readonly mountVolumes?: boolean;
  /** The isolators, in `--isolation` order (default: posix/cpu, posix/mem). */
  readonly isolators?: readonly Isolator[];
  /** How containers are held and killed (default: the posix launcher, which has no steps). */
  readonly launcher?: Launcher;
  /**
   * Told about the steps that failed when a container was cleaned up (the container is left
   * half-destroyed, as Mesos counts in container_destroy_errors).
   */
  readonly onCleanupError?: (containerId: string, errors: readonly string[]) => void;
  /** The time of usage statistics and the timer of a kill's grace (default: the real clock, whose timers do not keep the process up). */
  readonly clock?: Clock;
  /**
   * Told when the resident spawner of supervisors ended unasked (`inFlight` launches failed
   * with it; the next launch starts a new one).
   */
  readonly onSpawnerLost?: (how: string, inFlight: number) => void;
}

/** The posix launcher: the supervisor's session and child subreaper hold the container. */
export const POSIX_LAUNCHER: Launcher = { name: 'posix' };

export class SupervisorContainerizer implements Containerizer {
  private readonly containers = new Map<string, WatchedContainer>();
  /** Containers between the start of launch() and their tracking. */
  private readonly launching = new Set<string>();
  private readonly supervisor: string | undefined;
  private readonly ref: boolean;
  private readonly mountVolumes: boolean;
  protected readonly isolators: readonly Isolator[];
  protected readonly launcher: Launcher;
  private readonly onCleanupError: ((containerId: string, errors: readonly string[]) => void) | undefined;
  private readonly clock: Clock;
  /** What each watched container uses of this containerizer. */
  private readonly watchHost: WatchHost;
  private keepAlive: NodeJS.Timeout | undefined;
  private closed = false;
  /** Cleanups that failed (containerizer/mesos/container_destroy_errors). */
  destroyErrors = 0;
  /** The orphans' teardowns started by recover(). */
  private sweeping: Promise<void> = Promise.resolve();
  /** The launcher's and isolators' steps around each supervisor. */
  private readonly steps: ContainerSteps;
  /** The resident process that starts the supervisors (started at the first launch). */
  readonly spawner: SupervisorSpawner;
  /** What health checks need of each container's task, looked up at its first check. */
  private readonly taskFacts = new WeakMap<WatchedContainer, TaskFacts>();

  constructor(opts: SupervisorContainerizerOptions = {}) {
    this.supervisor = opts.supervisor;
    this.ref = opts.ref ?? true;
    this.mountVolumes = opts.mountVolumes ?? process.geteuid?.() === 0;
    this.isolators = opts.isolators ?? [new PosixCpuIsolator(), new PosixMemIsolator()];
    this.launcher = opts.launcher ?? POSIX_LAUNCHER;
    this.onCleanupError = opts.onCleanupError;
    this.clock = opts.clock ?? systemClock;
    const lost = opts.onSpawnerLost;
    this.spawner = new SupervisorSpawner(lost ? { onLost: (pid, how, inFlight) => lost(`pid ${pid ?? '?'} ${how}`, inFlight) } : {});
    this.steps = { launcher: this.launcher, isolators: this.isolators, mountVolumes: this.mountVolumes, supervisor: this.supervisor, spawner: this.spawner };
    this.watchHost = { launcher: this.launcher, clock: this.clock, pollMs: opts.pollMs ?? 1000, end: (w, t) => this.finish(w, t) };
  }

  /** The isolators' names, in order. */
  get isolation(): string[] {
    return this.isolators.map((i) => i.name);
  }

  async launch(spec: LaunchSpec): Promise<Container> {
    const id = spec.containerId;
    if (this.closed) throw new CorralError('CONTAINERIZER_CLOSED', 'the containerizer is closed');
    if (this.containers.has(id) || this.launching.has(id)) {
      throw new CorralError('CONTAINER_EXISTS', `container ${id} is already running`, { field: 'containerId' });
    }
    this.launching.add(id);
    try {
      return await this.launchSteps(spec);
    } finally {
      this.launching.delete(id);
    }
  }

  private async launchSteps(spec: LaunchSpec): Promise<Container> {
    const id = spec.containerId;
    const sup = await startContainer(this.steps, spec);

    const w = this.track(id, spec.runDir, sup.pid, undefined, limitsOf(spec.resources));
    w.childPid = sup.childPid;
    void sup.exited.then((exit) => w.supervisorExited(exit));
    this.watchLimits(w);
    try {
      await sup.release();
    } catch (e) {
      // The spawner died first: the supervisor aborts the launch, and the watch of its run
      // directory (which `exited` started) tears the container down.
      throw new CorralError('CONTAINER_LAUNCH_FAILED', `container ${id}: ${describeError(e)}`, { cause: e });
    }
    sup.unref();
    return { containerId: id, pid: sup.pid, termination: w.termination };
  }

  async probe(containerId: string, check: HealthCheck, target: ProbeTarget, timeoutMs: number): Promise<boolean> {
    const w = this.containers.get(containerId);
    if (!w || this.closed) return false;
    let facts = this.taskFacts.get(w);
    if (!facts) {
      facts = taskFacts(w.pid, w.childPid);
      // Not kept before the command has been released (its pid is still the supervisor's).
      if (facts.pid !== w.pid) this.taskFacts.set(w, facts);
    }
    const run = (argv: readonly string[], env: Readonly<Record<string, string>>): ReturnType<SupervisorSpawner['run']> => this.spawner.run(argv, env);
    return runProbe(check, { facts, executable: this.supervisor ?? supervisorPath(), run }, target, timeoutMs);
  }

  async kill(containerId: string, graceMs: number): Promise<Termination | undefined> {
    const w = this.containers.get(containerId);
    if (!w) return undefined;
    w.kill(graceMs);
    return w.termination;
  }

  /**
   * Re-attach to runs recorded before a restart. A run that ended meanwhile, or whose supervisor
   * vanished, is torn down (launcher.destroy, isolators' cleanup) before its termination
   * resolves. Containers the launcher holds that are in none of `runs` are orphans: destroyed
   * and cleaned up (as the Mesos launchers treat containers missing from the checkpoint).
   */
  async recover(runs: readonly RecoveredRun[]): Promise<Map<string, Container>> {
    const out = new Map<string, Container>();
    const live: { w: WatchedContainer; rec: RecoveredContainer }[] = [];
    const ended = (run: RecoveredRun, t: Termination): void => {
      out.set(run.containerId, { containerId: run.containerId, pid: 0, termination: this.tearDownEnded(run.containerId, t) });
    };
    // Every run's records read at once (one after another they cost most of a 1,000-container
    // recovery), then the process table once, to find each supervisor's command (read with
    // synchronous calls: through the thread pool, its thousands of small reads cost ten times
    // as much and held up the records).
    const fresh = runs.filter((r) => !this.containers.has(r.containerId));
    // A live supervisor's exit status is not looked for here: the watch of its run directory
    // starts with a look (watchRunDir), which also catches one written meanwhile.
    const { records, childOf } = await readRunRecords(fresh);
    const recordOf = new Map(fresh.map((r, i) => [r.containerId, records[i]!]));
    for (const run of runs) {
      const known = this.containers.get(run.containerId);
      const rec = recordOf.get(run.containerId);
      if (known || !rec) {
        if (known) out.set(run.containerId, { containerId: run.containerId, pid: known.pid, termination: known.termination });
        continue;
      }
      if ('end' in rec) {
        ended(run, rec.end);
        continue;
      }
      const w = this.track(run.containerId, run.runDir, rec.pid, rec.startTime, run.resources && limitsOf(run.resources));
      out.set(run.containerId, { containerId: run.containerId, pid: rec.pid, termination: w.termination });
      if (!rec.alive) {
        await w.check();
        continue;
      }
      w.childPid = childOf.get(rec.pid);
      live.push({
        w,
        rec: {
          containerId: run.containerId,
          supervisorPid: rec.pid,
          ...(w.childPid === undefined ? {} : { pid: w.childPid }),
          ...(run.resources === undefined ? {} : { resources: run.resources }),
        },
      });
    }
    const recovered = live.map((l) => l.rec);
    for (const iso of this.isolators) {
      try {
        await iso.recover?.(recovered);
      } catch (e) {
        this.reportCleanupErrors('(recovery)', [`${iso.name}: recover: ${describeError(e)}`]);
      }
    }
    for (const { w } of live) {
      this.watchLimits(w);
      w.watchRunDir();
    }
    // Orphans: held by the launcher, known to nobody.
    let held: string[] = [];
    try {
      held = (await this.launcher.list?.()) ?? [];
    } catch (e) {
      this.reportCleanupErrors('(recovery)', [`${this.launcher.name} launcher: list: ${describeError(e)}`]);
    }
    const wanted = new Set(runs.map((r) => r.containerId));
    const sweeps: Promise<void>[] = [];
    for (const id of held) {
      if (wanted.has(id) || this.containers.has(id) || this.launching.has(id)) continue;
      sweeps.push(tearDown(this.steps, id, this.isolators, true, true).then((errors) => this.reportCleanupErrors(id, errors)));
    }
    this.sweeping = Promise.all([this.sweeping, ...sweeps]).then(() => undefined);
    return out;
  }

  orphansCleaned(): Promise<void> {
    return this.sweeping;
  }

  /** Resource statistics: every isolator's usage (partial results allowed), merged, with the limits. */
  async usage(containerId: string): Promise<Statistics | undefined> {
    const w = this.containers.get(containerId);
    if (!w || w.ended) return undefined;
    const stats: Statistics = { timestamp: this.clock.now() / 1000 };
    for (const iso of this.isolators) {
      if (!iso.usage) continue;
      try {
        const s = await iso.usage(containerId);
        if (s) Object.assign(stats, s);
      } catch {
        // partial results: a container ending meanwhile, a file gone
      }
    }
    if (w.ended) return undefined;
    if (w.limits && w.limits.cpus > 0) stats.cpus_limit = w.limits.cpus;
    if (w.limits && w.limits.memBytes > 0) stats.mem_limit_bytes = w.limits.memBytes;
    return stats;
  }

  /** New resources for a running container: every isolator's update, in order. */
  async update(containerId: string, resources: Resources): Promise<void> {
    const w = this.containers.get(containerId);
    if (!w || w.ended) throw new CorralError('CONTAINER_NOT_FOUND', `container ${containerId} is not running`, { field: 'containerId' });
    for (const iso of this.isolators) {
      try {
        await iso.update?.(containerId, resources);
      } catch (e) {
        throw new CorralError('ISOLATOR_FAILED', `${iso.name}: update: ${describeError(e)}`, { cause: e });
      }
    }
    w.limits = limitsOf(resources);
  }

  /** Containers being watched. */
  get size(): number {
    return this.containers.size;
  }

  /** Recovery is done and the agent goes on: every isolator starts making what it keeps ready. */
  readyIsolators(): void {
    for (const iso of this.isolators) iso.ready?.();
  }

  /** The agent is stopping: the spawner ends, then every isolator and the launcher release what they keep for future containers. */
  async closeIsolators(): Promise<void> {
    await this.spawner.close();
    for (const iso of this.isolators) await iso.close?.().catch(() => undefined);
    await this.launcher.close?.().catch(() => undefined);
  }

  /**
   * Stop watching every container (they run on; another containerizer can recover them).
   * Their terminations stay pending.
   */
  close(): void {
    this.closed = true;
    void this.spawner.close();
    for (const w of this.containers.values()) w.stopWatching();
    this.containers.clear();
    this.updateKeepAlive();
  }

  // -------------------------------------------------------------------------------------------

  private track(containerId: string, runDir: string, pid: number, startTime: number | undefined, limits: Limits | undefined): WatchedContainer {
    const w = new WatchedContainer(containerId, runDir, pid, startTime, limits, this.watchHost);
    this.containers.set(containerId, w);
    this.updateKeepAlive();
    return w;
  }

  /**
   * The command has ended (or its supervisor is gone): tear the container down, then resolve.
   * It stays in the table (usage says undefined) until its cleanup is over, so that a new
   * container with its id cannot meet its leftovers.
   */
  private finish(w: WatchedContainer, t: Termination): void {
    if (w.ended) return;
    w.ended = true;
    w.stopWatching();
    void this.endSteps(w, t).then((end) => {
      if (this.containers.get(w.containerId) === w) this.containers.delete(w.containerId);
      this.updateKeepAlive();
      w.resolve(end);
    });
  }

  private async endSteps(w: WatchedContainer, t: Termination): Promise<Termination> {
    const id = w.containerId;
    const errors: string[] = [];
    try {
      await this.launcher.destroy?.(id);
    } catch (e) {
      errors.push(`${this.launcher.name} launcher: destroy: ${describeError(e)}`);
    }
    if (!w.limitation && t.exitCode !== 0) {
      for (const iso of this.isolators) {
        try {
          const l = await iso.limitationAtEnd?.(id);
          if (l) {
            w.limitation = l;
            break;
          }
        } catch (e) {
          errors.push(`${iso.name}: ${describeError(e)}`);
        }
      }
    }
    errors.push(...(await tearDown(this.steps, id, this.isolators, true, false)));
    this.reportCleanupErrors(id, errors);
    if (w.limitation) return { ...t, killed: true, message: w.limitation.message, limitation: w.limitation };
    return w.killRequested ? { ...t, killed: true } : t;
  }

  /** A recovered run that had ended: tear down what is left of it, then its termination. */
  private async tearDownEnded(containerId: string, t: Termination): Promise<Termination> {
    const errors = await tearDown(this.steps, containerId, this.isolators, true, true);
    this.reportCleanupErrors(containerId, errors);
    return t;
  }

  private reportCleanupErrors(containerId: string, errors: readonly string[]): void {
    if (errors.length === 0) return;
    this.destroyErrors++;
    this.onCleanupError?.(containerId, errors);
  }

  /** Every isolator's watch: the first limitation destroys the container. */
  private watchLimits(w: WatchedContainer): void {
    for (const iso of this.isolators) {
      if (!iso.watch) continue;
      iso.watch(w.containerId).then(
        (l) => {
          if (w.ended || w.limitation) return;
          w.limitation = l;
          w.force();
        },
        () => {}, // a watch that fails reports nothing
      );
    }
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
}
