/**
 * `cgroups/mem` (spec agent-features §7.7): the container's cgroup `<cgroups_root>/<container id>`
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
 * Usage: mem_total_bytes, mem_rss_bytes (anonymous), mem_cache_bytes, mem_mapped_file_bytes,
 * mem_swap_bytes, and the deprecated 0.23 names mem_anon_bytes / mem_file_bytes.
 */
import { CorralError } from '../../../common/errors.ts';
import type { Resources } from '../../../common/resources/index.ts';
import type { CgroupController, Cgroups } from '../../../linux/index.ts';
import { containerCgroup, type ContainerConfig, type Isolator, type Limitation, type RecoveredContainer, type Statistics } from '../isolator.ts';

const MB = 1024 * 1024;
export const MIN_MEMORY_BYTES = 32 * MB;

const CONTROLLERS: readonly CgroupController[] = ['memory'];

export interface CgroupsMemOptions {
  readonly cgroups: Cgroups;
  /** `--cgroups_root`. */
  readonly root: string;
}

interface State {
  /** The hard limit now set. */
  limit: number;
  stopWatch: (() => void) | undefined;
  resolve: ((l: Limitation) => void) | undefined;
  watched: Promise<Limitation> | undefined;
}

/** The hard limit for `resources`. */
export function memoryLimitOf(resources: Resources): number {
  return Math.max(MIN_MEMORY_BYTES, Math.round(resources.scalar('mem') * MB));
}

export class CgroupsMemIsolator implements Isolator {
  readonly name = 'cgroups/mem';
  private readonly cgroups: Cgroups;
  private readonly root: string;
  private readonly state = new Map<string, State>();

  constructor(opts: CgroupsMemOptions) {
    this.cgroups = opts.cgroups;
    this.root = opts.root;
    if (!opts.cgroups.has('memory')) throw new CorralError('ISOLATION_UNAVAILABLE', `cgroups/mem needs the memory controller, which is not available under ${opts.cgroups.hierarchy}`);
  }

  private path(containerId: string): string {
    return containerCgroup(this.root, containerId);
  }

  async prepare(config: ContainerConfig): Promise<void> {
    const path = this.path(config.containerId);
    this.cgroups.create(path, CONTROLLERS);
    const limit = memoryLimitOf(config.resources);
    this.state.set(config.containerId, { limit, stopWatch: undefined, resolve: undefined, watched: undefined });
    this.cgroups.setMemorySoftLimit(path, limit);
    this.cgroups.setMemoryLimit(path, limit);
  }

  async isolate(containerId: string, pid: number): Promise<void> {
    this.cgroups.attach(this.path(containerId), CONTROLLERS, pid);
  }

  async update(containerId: string, resources: Resources): Promise<void> {
    const s = this.state.get(containerId);
    if (!s) throw new CorralError('CONTAINER_NOT_FOUND', `cgroups/mem holds no container ${containerId}`);
    const path = this.path(containerId);
    const limit = memoryLimitOf(resources);
    this.cgroups.setMemorySoftLimit(path, limit);
    if (limit > s.limit) {
      this.cgroups.setMemoryLimit(path, limit);
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
    const m = this.cgroups.memoryStats(this.path(containerId));
    const out: Statistics = {};
    if (m.totalBytes !== undefined) out.mem_total_bytes = m.totalBytes;
    if (m.rssBytes !== undefined) out.mem_rss_bytes = out.mem_anon_bytes = m.rssBytes;
    if (m.cacheBytes !== undefined) out.mem_cache_bytes = out.mem_file_bytes = m.cacheBytes;
    if (m.mappedFileBytes !== undefined) out.mem_mapped_file_bytes = m.mappedFileBytes;
    if (m.swapBytes !== undefined) out.mem_swap_bytes = m.swapBytes;
    return out;
  }

  async recover(containers: readonly RecoveredContainer[]): Promise<void> {
    for (const c of containers) {
      const path = this.path(c.containerId);
      if (!this.cgroups.exists(path, 'memory')) continue;
      const set = this.cgroups.memoryLimit(path);
      const limit = set !== undefined && Number.isFinite(set) ? set : c.resources ? memoryLimitOf(c.resources) : Infinity;
      this.state.set(c.containerId, { limit, stopWatch: undefined, resolve: undefined, watched: undefined });
    }
  }

  async cleanup(containerId: string): Promise<void> {
    const s = this.state.get(containerId);
    this.state.delete(containerId);
    // Stop listening first: v1 signals the eventfd when the cgroup is removed.
    s?.stopWatch?.();
    await this.cgroups.remove(this.path(containerId), CONTROLLERS);
  }
}
