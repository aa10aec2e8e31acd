/**
 * cgroup v1 (also "hybrid", as on this project's test hosts): one hierarchy per controller (or
 * per set of co-mounted controllers) under the hierarchy directory, e.g. /sys/fs/cgroup/memory;
 * a cgroup `P` of controller `c` is the directory <mount of c>/P.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CorralError } from '../../common/errors.ts';
import { clockTicks } from '../proc.ts';
import { CgroupsBase } from './base.ts';
import { checkPath, listenV1, readCgroupFile, readNumber, readOptional, writeCgroupFile } from './io.ts';
import { freezeV1, killPid, thawV1, waitFor } from './kill.ts';
import { countLines, parseKeyValues, readMemoryStats } from './stats.ts';
import {
  MAX_CPU_SHARES,
  MIN_CPU_SHARES,
  type CgroupController,
  type CgroupCpuStats,
  type CgroupMemoryStats,
  type Cgroups,
  type KillOptions,
  type MemoryPressureLevel,
} from './types.ts';

/** Values at or above this are "no limit" (v1 prints PAGE_COUNTER_MAX pages in bytes). */
const UNLIMITED = 2 ** 62;

export class CgroupsV1 extends CgroupsBase implements Cgroups {
  readonly version = 1 as const;
  private readonly hz = clockTicks();

  constructor(
    readonly hierarchy: string,
    private readonly mounts: ReadonlyMap<string, string>,
  ) {
    super();
  }

  has(controller: CgroupController): boolean {
    return this.mounts.has(controller);
  }

  protected dir(path: string, controller: CgroupController): string | undefined {
    const m = this.mounts.get(controller);
    return m === undefined ? undefined : join(m, path);
  }

  private must(path: string, controller: CgroupController): string {
    const d = this.dir(checkPath(path), controller);
    if (!d) throw new CorralError('ENOENT', `the ${controller} controller is not mounted under ${this.hierarchy}`);
    return d;
  }

  dirs(path: string, controllers: readonly CgroupController[]): string[] {
    const p = checkPath(path);
    return [...new Set(controllers.map((c) => this.must(p, c)))];
  }

  counts(path: string, controller: CgroupController): { processes: number; threads: number } {
    const d = this.must(path, controller);
    return { processes: countLines(readCgroupFile(join(d, 'cgroup.procs'))), threads: countLines(readCgroupFile(join(d, 'tasks'))) };
  }

  setCpuShares(path: string, shares: number): void {
    const s = Math.round(Math.min(MAX_CPU_SHARES, Math.max(MIN_CPU_SHARES, shares)));
    writeCgroupFile(join(this.must(path, 'cpu'), 'cpu.shares'), String(s));
  }

  setCpuQuota(path: string, quotaUs: number | undefined, periodUs: number): void {
    const d = this.must(path, 'cpu');
    writeCgroupFile(join(d, 'cpu.cfs_period_us'), String(Math.round(periodUs)));
    writeCgroupFile(join(d, 'cpu.cfs_quota_us'), quotaUs === undefined ? '-1' : String(Math.max(1000, Math.round(quotaUs))));
  }

  setMemoryLimit(path: string, bytes: number): void {
    writeCgroupFile(join(this.must(path, 'memory'), 'memory.limit_in_bytes'), Number.isFinite(bytes) ? String(Math.round(bytes)) : '-1');
  }

  setMemorySoftLimit(path: string, bytes: number): boolean {
    writeCgroupFile(join(this.must(path, 'memory'), 'memory.soft_limit_in_bytes'), Number.isFinite(bytes) ? String(Math.round(bytes)) : '-1');
    return true;
  }

  memoryLimit(path: string): number | undefined {
    const v = readNumber(join(this.must(path, 'memory'), 'memory.limit_in_bytes'));
    return v !== undefined && v >= UNLIMITED ? Infinity : v;
  }

  memoryPeak(path: string): number | undefined {
    return readNumber(join(this.must(path, 'memory'), 'memory.max_usage_in_bytes'));
  }

  cpuStats(path: string): CgroupCpuStats {
    const out: { -readonly [K in keyof CgroupCpuStats]: CgroupCpuStats[K] } = {};
    // ENOENT when there is no such cgroup.
    const acct = this.mounts.has('cpuacct') ? readCgroupFile(join(this.must(path, 'cpuacct'), 'cpuacct.stat')) : undefined;
    if (acct !== undefined) {
      const m = parseKeyValues(acct);
      const user = m.get('user');
      const system = m.get('system');
      if (user !== undefined) out.userSecs = user / this.hz;
      if (system !== undefined) out.systemSecs = system / this.hz;
    }
    const stat = this.mounts.has('cpu') ? readOptional(join(this.must(path, 'cpu'), 'cpu.stat')) : undefined;
    if (stat !== undefined) {
      const m = parseKeyValues(stat);
      const periods = m.get('nr_periods');
      const throttled = m.get('nr_throttled');
      const time = m.get('throttled_time');
      if (periods !== undefined) out.nrPeriods = periods;
      if (throttled !== undefined) out.nrThrottled = throttled;
      if (time !== undefined) out.throttledSecs = time / 1e9;
    }
    return out;
  }

  memoryStats(path: string): CgroupMemoryStats {
    const d = this.must(path, 'memory');
    return readMemoryStats(d, 'memory.usage_in_bytes', {
      rssBytes: 'total_rss',
      cacheBytes: 'total_cache',
      mappedFileBytes: 'total_mapped_file',
      swapBytes: 'total_swap',
      unevictableBytes: 'total_unevictable',
    });
  }

  memoryStatText(path: string): string | undefined {
    return readOptional(join(this.must(path, 'memory'), 'memory.stat'));
  }

  oomKills(path: string): number | undefined {
    const t = readOptional(join(this.must(path, 'memory'), 'memory.oom_control'));
    return t === undefined ? undefined : parseKeyValues(t).get('oom_kill');
  }

  watchOom(path: string, onOom: () => void): () => void {
    return listenV1(this.must(path, 'memory'), 'memory.oom_control', undefined, () => onOom());
  }

  hasSwapAccounting(_path: string): boolean {
    const top = this.mounts.get('memory');
    return top !== undefined && existsSync(join(top, 'memory.memsw.limit_in_bytes'));
  }

  setMemoryLimitWithSwap(path: string, bytes: number): void {
    const d = this.must(path, 'memory');
    const value = Number.isFinite(bytes) ? String(Math.round(bytes)) : '-1';
    const now = readNumber(join(d, 'memory.limit_in_bytes'));
    const raising = now === undefined || !Number.isFinite(bytes) || bytes >= now;
    const files = raising ? ['memory.memsw.limit_in_bytes', 'memory.limit_in_bytes'] : ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes'];
    for (const f of files) writeCgroupFile(join(d, f), value);
  }

  memoryAndSwapUsage(path: string): number | undefined {
    return readNumber(join(this.must(path, 'memory'), 'memory.memsw.usage_in_bytes'));
  }

  hasMemoryPressureLevels(): boolean {
    const top = this.mounts.get('memory');
    return top !== undefined && existsSync(join(top, 'memory.pressure_level'));
  }

  watchMemoryPressure(path: string, level: MemoryPressureLevel, onEvents: (n: number) => void): () => void {
    return listenV1(this.must(path, 'memory'), 'memory.pressure_level', level, onEvents);
  }

  async killAll(path: string, controllers: readonly CgroupController[], opts: KillOptions = {}): Promise<void> {
    const p = checkPath(path);
    const dirs = this.dirs(p, controllers).filter((d) => existsSync(d));
    if (dirs.length === 0) return;
    const freezer = controllers.includes('freezer') ? this.dir(p, 'freezer') : undefined;
    const frozenDir = freezer && existsSync(join(freezer, 'freezer.state')) ? freezer : undefined;
    const end = Date.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      if (this.allPids(dirs).length === 0) return;
      if (frozenDir) await freezeV1(frozenDir);
      // Frozen, nothing in the cgroup can run, so nothing can fork: the list is complete.
      for (const pid of this.allPids(dirs)) killPid(pid);
      if (frozenDir) thawV1(frozenDir);
      if (await waitFor(() => this.allPids(dirs).length === 0, Math.min(500, Math.max(0, end - Date.now())))) return;
      if (Date.now() >= end) {
        throw new CorralError('ETIMEDOUT', `processes ${this.allPids(dirs).slice(0, 10).join(', ')} of cgroup ${p} are still there after SIGKILL`);
      }
    }
  }
}
