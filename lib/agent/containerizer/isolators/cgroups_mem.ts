/**
 * `cgroups/mem` (cgroups v1 memory): the container's cgroup `<cgroups_root>/<container id>`
 * in the memory controller.
 *
 *   - limit = max(mem, 32 MB); the hard limit (v1 memory.limit_in_bytes, v2 memory.max) is set
 *     before the command runs and afterwards only raised, never lowered (lowering it under the
 *     use would set off the OOM killer); v1's soft limit follows the limit every time;
 *   - the kernel's OOM killer stays on. When it acts in the cgroup (v1: eventfd on
 *     memory.oom_control; v2: memory.events), watch() raises a Limitation and the containerizer
 *     destroys the container; the agent fails its tasks with REASON_CONTAINER_LIMITATION_MEMORY.
 *     A container that ended before the event arrived is caught at its end from the OOM kill
 *     count (v1 memory.oom_control oom_kill, Linux 4.13+; v2 memory.events oom_kill).
 *
 *   - `--cgroups_limit_swap`: swap is limited with the memory (v1 memory.memsw.limit_in_bytes =
 *     the limit, i.e. memory + swap; v2 memory.swap.max = 0, i.e. no swap), set and raised with
 *     the hard limit. A host that does not account swap per cgroup is refused at start.
 *   - memory pressure (v1 only; v2 has no memory.pressure_level): from isolate() to cleanup() an
 *     eventfd listener per level counts the kernel's low / medium / critical notifications. A
 *     low listener hears every event (medium and critical ones too), so low >= medium >=
 *     critical. Counts live in memory: after an agent restart they start again at 0 (the
 *     containers recover() finds are listened to again, in batches once recovery is done).
 *
 * Usage: mem_total_bytes, mem_rss_bytes (anonymous), mem_cache_bytes, mem_mapped_file_bytes,
 * mem_swap_bytes, and the deprecated 0.23 names mem_anon_bytes / mem_file_bytes; with
 * `--cgroups_limit_swap` mem_total_memsw_bytes; on v1 mem_low/medium/critical_pressure_counter.
 */
import { CorralError } from '../../../common/errors.ts';
import type { Resources } from '../../../common/resources/index.ts';
import type { CgroupController, Cgroups } from '../../../linux/index.ts';
import { containerCgroup, type ContainerConfig, type Isolator, type Limitation, type RecoveredContainer, type Statistics } from '../isolator.ts';

const MB = 1024 * 1024;
export const MIN_MEMORY_BYTES = 32 * MB;

const CONTROLLERS: readonly CgroupController[] = ['memory'];
const PRESSURE_LEVELS = ['low', 'medium', 'critical'] as const;
type PressureLevel = (typeof PRESSURE_LEVELS)[number];
/** Recovered containers given their pressure listeners per turn of the event loop. */
const PRESSURE_BATCH = 100;

export interface CgroupsMemOptions {
  readonly cgroups: Cgroups;
  /** `--cgroups_root`. */
  readonly root: string;
  /** `--cgroups_limit_swap` (default false). */
  readonly limitSwap?: boolean;
}

interface State {
  /** The hard limit now set. */
  limit: number;
  stopWatch: (() => void) | undefined;
  resolve: ((l: Limitation) => void) | undefined;
  watched: Promise<Limitation> | undefined;
  /** Pressure events counted since isolate() (or since this agent recovered the container); undefined when not listening. */
  pressure: Record<PressureLevel, number> | undefined;
  stopPressure: (() => void)[];
}

function newState(limit: number): State {
  return { limit, stopWatch: undefined, resolve: undefined, watched: undefined, pressure: undefined, stopPressure: [] };
}

/** The hard limit for `resources`. */
export function memoryLimitOf(resources: Resources): number {
  return Math.max(MIN_MEMORY_BYTES, Math.round(resources.scalar('mem') * MB));
}

export class CgroupsMemIsolator implements Isolator {
  readonly name = 'cgroups/mem';
  private readonly cgroups: Cgroups;
  private readonly root: string;
  private readonly limitSwap: boolean;
  private readonly pressureLevels: boolean;
  private readonly state = new Map<string, State>();

  constructor(opts: CgroupsMemOptions) {
    this.cgroups = opts.cgroups;
    this.root = opts.root;
    this.limitSwap = opts.limitSwap ?? false;
    if (!opts.cgroups.has('memory'))
      throw new CorralError('ISOLATION_UNAVAILABLE', `cgroups/mem needs the memory controller, which is not available under ${opts.cgroups.hierarchy}`);
    if (this.limitSwap) {
      // v2 shows memory.swap.* only below the root cgroup: look in --cgroups_root, made here.
      if (opts.cgroups.version === 2) opts.cgroups.create(this.root, CONTROLLERS);
      if (!opts.cgroups.hasSwapAccounting(this.root)) {
        const where =
          opts.cgroups.version === 1
            ? `no memory.memsw.limit_in_bytes in the memory hierarchy under ${opts.cgroups.hierarchy}`
            : `no memory.swap.max in ${opts.cgroups.hierarchy}/${this.root}`;
        throw new CorralError(
          'ISOLATION_UNAVAILABLE',
          `--cgroups_limit_swap: this kernel does not account swap per cgroup (${where}; the kernel needs CONFIG_MEMCG_SWAP and must not be booted with swapaccount=0); leave the flag off`,
          { field: '--cgroups_limit_swap' },
        );
      }
    }
    this.pressureLevels = opts.cgroups.hasMemoryPressureLevels();
  }

  private setLimit(path: string, limit: number): void {
    if (this.limitSwap) this.cgroups.setMemoryLimitWithSwap(path, limit);
    else this.cgroups.setMemoryLimit(path, limit);
  }

  /** Count pressure events of the container from now on (v1). All levels or none: a failure stops those started. */
  private listenPressure(containerId: string, s: State): void {
    if (!this.pressureLevels || s.pressure) return;
    const counts: Record<PressureLevel, number> = { low: 0, medium: 0, critical: 0 };
    const path = this.path(containerId);
    try {
      for (const level of PRESSURE_LEVELS) {
        s.stopPressure.push(
          this.cgroups.watchMemoryPressure(path, level, (n) => {
            counts[level] += n;
          }),
        );
      }
    } catch (e) {
      this.stopPressure(s);
      throw e;
    }
    s.pressure = counts;
  }

  private stopPressure(s: State): void {
    for (const stop of s.stopPressure.splice(0)) stop();
  }

  private path(containerId: string): string {
    return containerCgroup(this.root, containerId);
  }

  async prepare(config: ContainerConfig): Promise<void> {
    const path = this.path(config.containerId);
    this.cgroups.create(path, CONTROLLERS);
    const limit = memoryLimitOf(config.resources);
    this.state.set(config.containerId, newState(limit));
    this.cgroups.setMemorySoftLimit(path, limit);
    this.setLimit(path, limit);
  }

  async isolate(containerId: string, pid: number): Promise<void> {
    this.cgroups.attach(this.path(containerId), CONTROLLERS, pid);
    const s = this.state.get(containerId);
    if (s) this.listenPressure(containerId, s);
  }

  async update(containerId: string, resources: Resources): Promise<void> {
    const s = this.state.get(containerId);
    if (!s) throw new CorralError('CONTAINER_NOT_FOUND', `cgroups/mem holds no container ${containerId}`);
    const path = this.path(containerId);
    const limit = memoryLimitOf(resources);
    this.cgroups.setMemorySoftLimit(path, limit);
    if (limit > s.limit) {
      this.setLimit(path, limit);
      s.limit = limit;
    }
  }

  watch(containerId: string): Promise<Limitation> {
    const s = this.state.get(containerId);
    if (!s) return new Promise<Limitation>(() => {});
    if (s.watched) return s.watched;
    s.watched = new Promise<Limitation>((resolve) => {
      s.resolve = resolve;
    });
    s.stopWatch = this.cgroups.watchOom(this.path(containerId), () => {
      if (this.state.get(containerId) === s) s.resolve?.(this.limitation(containerId, s));
    });
    return s.watched;
  }

  async limitationAtEnd(containerId: string): Promise<Limitation | undefined> {
    const s = this.state.get(containerId);
    if (!s) return undefined;
    const kills = this.cgroups.oomKills(this.path(containerId));
    return kills !== undefined && kills > 0 ? this.limitation(containerId, s) : undefined;
  }

  /** Mesos's text: the limit, the peak, and memory.stat. */
  private limitation(containerId: string, s: State): Limitation {
    const path = this.path(containerId);
    let peak: number | undefined;
    let stat: string | undefined;
    try {
      peak = this.cgroups.memoryPeak(path);
      stat = this.cgroups.memoryStatText(path);
    } catch {
      // gone: the message says less
    }
    const mb = (b: number): string => `${Math.round(b / MB)}MB`;
    const message =
      `Memory limit exceeded: Requested: ${mb(s.limit)}` +
      (peak !== undefined ? ` Maximum Used: ${mb(peak)}` : '') +
      (stat ? `\n\nMEMORY STATISTICS: \n${stat}` : '');
    return { resource: 'mem', reason: 'REASON_CONTAINER_LIMITATION_MEMORY', message };
  }

  usage(containerId: string): Statistics | undefined {
    if (!this.state.has(containerId)) return undefined;
    const path = this.path(containerId);
    const m = this.cgroups.memoryStats(path);
    const out: Statistics = {};
    if (m.totalBytes !== undefined) out.mem_total_bytes = m.totalBytes;
    if (m.rssBytes !== undefined) out.mem_rss_bytes = out.mem_anon_bytes = m.rssBytes;
    if (m.cacheBytes !== undefined) out.mem_cache_bytes = out.mem_file_bytes = m.cacheBytes;
    if (m.mappedFileBytes !== undefined) out.mem_mapped_file_bytes = m.mappedFileBytes;
    if (m.swapBytes !== undefined) out.mem_swap_bytes = m.swapBytes;
    if (this.limitSwap) {
      const memsw = this.cgroups.memoryAndSwapUsage(path);
      if (memsw !== undefined) out.mem_total_memsw_bytes = memsw;
    }
    const p = this.state.get(containerId)?.pressure;
    if (p) {
      out.mem_low_pressure_counter = p.low;
      out.mem_medium_pressure_counter = p.medium;
      out.mem_critical_pressure_counter = p.critical;
    }
    return out;
  }

  async recover(containers: readonly RecoveredContainer[]): Promise<void> {
    const found: [string, State][] = [];
    for (const c of containers) {
      const path = this.path(c.containerId);
      if (!this.cgroups.exists(path, 'memory')) continue;
      const set = this.cgroups.memoryLimit(path);
      const limit = set !== undefined && Number.isFinite(set) ? set : c.resources ? memoryLimitOf(c.resources) : Infinity;
      const s = newState(limit);
      this.state.set(c.containerId, s);
      found.push([c.containerId, s]);
    }
    this.listenLater(found);
  }

  /**
   * Listen for the pressure of recovered containers after recovery, PRESSURE_BATCH containers per
   * turn of the event loop: three listeners cost ~0.07 ms per container (more while the fd table
   * grows), 65-140 ms for 1,000 containers measured here, which would delay re-registration.
   * Counters appear in a container's statistics once it is listened to. A container cleaned up
   * meanwhile is skipped; one whose listeners fail goes without counters (recovery goes on).
   */
  private listenLater(list: readonly (readonly [string, State])[]): void {
    if (!this.pressureLevels || list.length === 0) return;
    let i = 0;
    const batch = (): void => {
      for (const end = Math.min(i + PRESSURE_BATCH, list.length); i < end; i++) {
        const [id, s] = list[i]!;
        if (this.state.get(id) !== s) continue;
        try {
          this.listenPressure(id, s);
        } catch {
          // no counters for this one
        }
      }
      if (i < list.length) setImmediate(batch);
    };
    setImmediate(batch);
  }

  async cleanup(containerId: string): Promise<void> {
    const s = this.state.get(containerId);
    this.state.delete(containerId);
    // Stop listening first: v1 signals the eventfd when the cgroup is removed.
    s?.stopWatch?.();
    if (s) this.stopPressure(s);
    await this.cgroups.remove(this.path(containerId), CONTROLLERS);
  }
}
