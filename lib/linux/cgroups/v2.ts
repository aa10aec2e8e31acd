/**
 * cgroup v2 (unified): one tree at the hierarchy directory; a cgroup is one directory, the
 * controllers it may use are those enabled in every ancestor's cgroup.subtree_control. `cpuacct`
 * is served by `cpu`, and `freezer` by the core files every cgroup has (cgroup.freeze,
 * cgroup.kill).
 */
import { existsSync, mkdirSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { CorralError } from '../../common/errors.ts';
import { CgroupsBase } from './base.ts';
import { checkPath, fail, readCgroupFile, readNumber, readOptional, writeCgroupFile } from './io.ts';
import { FREEZE_ATTEMPTS, FREEZE_WAIT_MS, killPid, waitFor } from './kill.ts';
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

/** v1 shares → v2 cpu.weight, as runc and crun convert them: 2..262144 onto 1..10000. */
export function sharesToWeight(shares: number): number {
  const s = Math.min(MAX_CPU_SHARES, Math.max(MIN_CPU_SHARES, shares));
  return 1 + Math.floor(((Math.round(s) - 2) * 9999) / 262_142);
}

/** Controllers as v2 names them. */
function v2Name(c: CgroupController): string | undefined {
  switch (c) {
    case 'cpu':
    case 'cpuacct':
      return 'cpu';
    case 'memory':
      return 'memory';
    case 'pids':
      return 'pids';
    case 'freezer':
      return undefined; // core: cgroup.freeze / cgroup.kill
  }
}

/**
 * cgroup v2. Tested here only against a fake tree (a directory with the v2 files) because the
 * test hosts run v1; the file names and formats are those of Documentation/admin-guide/cgroup-v2.rst.
 */
export class CgroupsV2 extends CgroupsBase implements Cgroups {
  readonly version = 2 as const;
  private available: Set<string> | undefined;

  constructor(readonly hierarchy: string) {
    super();
  }

  private controllers(): Set<string> {
    if (!this.available) {
      const t = readOptional(join(this.hierarchy, 'cgroup.controllers')) ?? '';
      this.available = new Set(t.split(/\s+/).filter(Boolean));
    }
    return this.available;
  }

  has(controller: CgroupController): boolean {
    const n = v2Name(controller);
    return n === undefined || this.controllers().has(n);
  }

  protected dir(path: string, _controller: CgroupController): string {
    return join(this.hierarchy, path);
  }

  dirs(path: string, _controllers: readonly CgroupController[]): string[] {
    return [join(this.hierarchy, checkPath(path))];
  }

  /**
   * mkdir every level of `path`, enabling the controllers in each ancestor's
   * cgroup.subtree_control first (only those not enabled yet, in one write per level).
   */
  override create(path: string, controllers: readonly CgroupController[]): boolean {
    const p = checkPath(path);
    const wanted = [...new Set(controllers.map(v2Name).filter((n): n is string => n !== undefined))];
    for (const n of wanted) {
      if (!this.controllers().has(n)) throw new CorralError('ENOENT', `the ${n} controller is not available in ${this.hierarchy}/cgroup.controllers`);
    }
    let made = false;
    let dir = this.hierarchy;
    for (const part of p.split('/')) {
      if (wanted.length > 0) {
        const file = join(dir, 'cgroup.subtree_control');
        const on = new Set(
          readCgroupFile(file)
            .split(/\s+/)
            .filter(Boolean)
            .map((s) => s.replace(/^\+/, '')),
        );
        const missing = wanted.filter((n) => !on.has(n));
        if (missing.length > 0) writeCgroupFile(file, missing.map((n) => `+${n}`).join(' '));
      }
      dir = join(dir, part);
      try {
        mkdirSync(dir);
        made = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fail('mkdir', dir, e);
      }
    }
    return made;
  }

  counts(path: string, _controller: CgroupController): { processes: number; threads: number } {
    const d = this.dir(checkPath(path), 'cpu');
    const procs = countLines(readCgroupFile(join(d, 'cgroup.procs')));
    const threads = readOptional(join(d, 'cgroup.threads'));
    return { processes: procs, threads: threads === undefined ? procs : countLines(threads) };
  }

  setCpuShares(path: string, shares: number): void {
    writeCgroupFile(join(this.dir(checkPath(path), 'cpu'), 'cpu.weight'), String(sharesToWeight(shares)));
  }

  setCpuQuota(path: string, quotaUs: number | undefined, periodUs: number): void {
    const q = quotaUs === undefined ? 'max' : String(Math.max(1000, Math.round(quotaUs)));
    writeCgroupFile(join(this.dir(checkPath(path), 'cpu'), 'cpu.max'), `${q} ${Math.round(periodUs)}`);
  }

  setMemoryLimit(path: string, bytes: number): void {
    writeCgroupFile(join(this.dir(checkPath(path), 'memory'), 'memory.max'), Number.isFinite(bytes) ? String(Math.round(bytes)) : 'max');
  }

  setMemorySoftLimit(_path: string, _bytes: number): boolean {
    // v2 has no soft limit in the v1 sense (memory.high throttles, memory.low protects).
    return false;
  }

  memoryLimit(path: string): number | undefined {
    return readNumber(join(this.dir(checkPath(path), 'memory'), 'memory.max'));
  }

  memoryPeak(path: string): number | undefined {
    return readNumber(join(this.dir(checkPath(path), 'memory'), 'memory.peak'));
  }

  cpuStats(path: string): CgroupCpuStats {
    const m = parseKeyValues(readCgroupFile(join(this.dir(checkPath(path), 'cpu'), 'cpu.stat')));
    const out: { -readonly [K in keyof CgroupCpuStats]: CgroupCpuStats[K] } = {};
    const user = m.get('user_usec');
    const system = m.get('system_usec');
    const periods = m.get('nr_periods');
    const throttled = m.get('nr_throttled');
    const time = m.get('throttled_usec');
    if (user !== undefined) out.userSecs = user / 1e6;
    if (system !== undefined) out.systemSecs = system / 1e6;
    if (periods !== undefined) out.nrPeriods = periods;
    if (throttled !== undefined) out.nrThrottled = throttled;
    if (time !== undefined) out.throttledSecs = time / 1e6;
    return out;
  }

  memoryStats(path: string): CgroupMemoryStats {
    const d = this.dir(checkPath(path), 'memory');
    const out = readMemoryStats(d, 'memory.current', {
      rssBytes: 'anon',
      cacheBytes: 'file',
      mappedFileBytes: 'file_mapped',
      unevictableBytes: 'unevictable',
    });
    const swap = readNumber(join(d, 'memory.swap.current'));
    if (swap !== undefined) out.swapBytes = swap;
    return out;
  }

  memoryStatText(path: string): string | undefined {
    return readOptional(join(this.dir(checkPath(path), 'memory'), 'memory.stat'));
  }

  oomKills(path: string): number | undefined {
    const t = readOptional(join(this.dir(checkPath(path), 'memory'), 'memory.events'));
    return t === undefined ? undefined : parseKeyValues(t).get('oom_kill');
  }

  /** memory.events raises a file-modified event (inotify) when a counter changes. */
  watchOom(path: string, onOom: () => void): () => void {
    const file = join(this.dir(checkPath(path), 'memory'), 'memory.events');
    let seen = this.oomKills(path) ?? 0;
    let w: FSWatcher | undefined;
    const check = (): void => {
      let now: number | undefined;
      try {
        now = this.oomKills(path);
      } catch {
        return; // removed meanwhile
      }
      if (now !== undefined && now > seen) {
        seen = now;
        onOom();
      }
    };
    try {
      w = watch(file, { persistent: false }, check);
      w.on('error', () => w?.close());
    } catch (e) {
      throw fail('watch', file, e);
    }
    return () => w?.close();
  }

  hasSwapAccounting(path: string): boolean {
    return existsSync(join(this.dir(checkPath(path), 'memory'), 'memory.swap.max'));
  }

  setMemoryLimitWithSwap(path: string, bytes: number): void {
    this.setMemoryLimit(path, bytes);
    writeCgroupFile(join(this.dir(checkPath(path), 'memory'), 'memory.swap.max'), '0');
  }

  memoryAndSwapUsage(path: string): number | undefined {
    const d = this.dir(checkPath(path), 'memory');
    const swap = readNumber(join(d, 'memory.swap.current'));
    return swap === undefined ? undefined : Number(readCgroupFile(join(d, 'memory.current')).trim()) + swap;
  }

  hasMemoryPressureLevels(): boolean {
    // v2 reports pressure as stall time (memory.pressure, PSI), not as events by level.
    return false;
  }

  watchMemoryPressure(path: string, _level: MemoryPressureLevel, _onEvents: (n: number) => void): () => void {
    throw new CorralError('ENOTSUP', `memory pressure levels of cgroup ${checkPath(path)}: cgroup v2 has no memory.pressure_level`);
  }

  async killAll(path: string, _controllers: readonly CgroupController[], opts: KillOptions = {}): Promise<void> {
    const p = checkPath(path);
    const d = this.dir(p, 'cpu');
    if (!existsSync(d)) return;
    const end = Date.now() + (opts.timeoutMs ?? 10_000);
    const empty = (): boolean => this.allPids([d]).length === 0;
    if (empty()) return;
    const killFile = join(d, 'cgroup.kill');
    if (existsSync(killFile)) {
      // One write kills the whole subtree; the kernel makes sure no new process escapes.
      writeCgroupFile(killFile, '1');
    } else {
      // Kernels before 5.14: freeze, kill what is listed, thaw.
      const freeze = join(d, 'cgroup.freeze');
      const canFreeze = existsSync(freeze);
      if (canFreeze) {
        writeCgroupFile(freeze, '1');
        await waitFor(() => /^frozen 1$/m.test(readOptional(join(d, 'cgroup.events')) ?? 'frozen 1'), FREEZE_WAIT_MS * FREEZE_ATTEMPTS);
      }
      for (const pid of this.allPids([d])) killPid(pid);
      if (canFreeze) writeCgroupFile(freeze, '0');
    }
    for (;;) {
      if (await waitFor(empty, Math.min(500, Math.max(0, end - Date.now())))) return;
      if (Date.now() >= end)
        throw new CorralError('ETIMEDOUT', `processes ${this.allPids([d]).slice(0, 10).join(', ')} of cgroup ${p} are still there after SIGKILL`);
      for (const pid of this.allPids([d])) killPid(pid);
    }
  }
}
