/**
 * Control groups, v1 and v2, behind one interface (`Cgroups`), with the layout found at start-up
 * from /proc/self/mountinfo and /proc/cgroups.
 *
 *   - v1 (also "hybrid", as on this project's test hosts): one hierarchy per controller (or per
 *     set of co-mounted controllers) under the hierarchy directory, e.g. /sys/fs/cgroup/memory;
 *     a cgroup `P` of controller `c` is the directory <mount of c>/P.
 *   - v2 (unified): one tree at the hierarchy directory; a cgroup is one directory, the
 *     controllers it may use are those enabled in every ancestor's cgroup.subtree_control.
 *
 * Paths given to the methods are relative to the hierarchy (`corral/abc`). Callers name the
 * controllers as v1 does: `cpu` (weight, CFS quota, throttling), `cpuacct` (user/system time),
 * `memory`, `freezer`, `pids`. On v2 `cpuacct` is served by `cpu`, and `freezer` by the core
 * files every cgroup has (cgroup.freeze, cgroup.kill).
 *
 * Everything that does not wait is synchronous: a cgroup file is read or written with a few
 * system calls (open, read/write, close) into one reused buffer, which costs microseconds; the
 * steps that wait (freezing, killing, removing) are async and poll with short timers.
 *
 * Errors are CorralErrors whose code is the errno name (`ENOENT`, `EBUSY`, `EINVAL`...) and whose
 * message names the file; CGROUPS_NOT_FOUND when discovery finds no usable hierarchy.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmdirSync, rmSync, watch, writeSync, constants as fsc, type FSWatcher } from 'node:fs';
import { join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CorralError } from '../common/errors.ts';
import { native } from './native.ts';
import { clockTicks } from './proc.ts';

export type CgroupController = 'cpu' | 'cpuacct' | 'memory' | 'freezer' | 'pids';

/** CPU accounting and throttling of a cgroup; fields the kernel does not offer are absent. */
export interface CgroupCpuStats {
  readonly userSecs?: number;
  readonly systemSecs?: number;
  readonly nrPeriods?: number;
  readonly nrThrottled?: number;
  readonly throttledSecs?: number;
}

/** Memory accounting of a cgroup (bytes); fields the kernel does not offer are absent. */
export interface CgroupMemoryStats {
  /** v1 memory.usage_in_bytes, v2 memory.current. */
  readonly totalBytes?: number;
  /** Anonymous memory: v1 total_rss, v2 anon. */
  readonly rssBytes?: number;
  /** Page cache: v1 total_cache, v2 file. */
  readonly cacheBytes?: number;
  /** v1 total_mapped_file, v2 file_mapped. */
  readonly mappedFileBytes?: number;
  /** v1 total_swap, v2 memory.swap.current. */
  readonly swapBytes?: number;
  /** v1 total_unevictable, v2 unevictable. */
  readonly unevictableBytes?: number;
}

/** The levels of v1 memory.pressure_level notifications. */
export type MemoryPressureLevel = 'low' | 'medium' | 'critical';

/** The layout discovery found. */
export type CgroupsLayout =
  | { readonly version: 1; readonly hierarchy: string; readonly mounts: ReadonlyMap<string, string> }
  | { readonly version: 2; readonly hierarchy: string };

/** Values at or above this are "no limit" (v1 prints PAGE_COUNTER_MAX pages in bytes). */
const UNLIMITED = 2 ** 62;
/** cpu.shares bounds of the kernel (v1). */
export const MIN_CPU_SHARES = 2;
export const MAX_CPU_SHARES = 262_144;

// ---------------------------------------------------------------------------------------------
// File access

function fail(op: string, path: string, e: unknown, value?: string): CorralError {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err.code === 'string' ? err.code : 'EIO';
  const what = value === undefined ? path : `${path} (${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)})`;
  return new CorralError(code, `${op} ${what}: ${err.message ?? String(e)}`, { cause: e });
}

const BUF = Buffer.allocUnsafe(64 * 1024);

/** The text of a (small) control file: open, one read (more only if the buffer fills), close. */
export function readCgroupFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY);
  } catch (e) {
    throw fail('read', path, e);
  }
  try {
    const n = readSync(fd, BUF, 0, BUF.length, null);
    if (n < BUF.length) return BUF.toString('latin1', 0, n);
    // Larger than the buffer (a big cgroup.procs): read the rest the ordinary way.
    const parts = [Buffer.from(BUF)];
    for (;;) {
      const more = Buffer.allocUnsafe(BUF.length);
      const m = readSync(fd, more, 0, more.length, null);
      if (m === 0) break;
      parts.push(more.subarray(0, m));
    }
    return Buffer.concat(parts).toString('latin1');
  } catch (e) {
    throw fail('read', path, e);
  } finally {
    closeSync(fd);
  }
}

/** undefined when the file does not exist (a controller or kernel feature that is not there). */
function readOptional(path: string): string | undefined {
  try {
    return readCgroupFile(path);
  } catch (e) {
    if ((e as CorralError).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Write `value` to a control file in one write(2). Opened write-only (O_TRUNC, as a shell
 * redirection opens it) without O_CREAT: the file
 * must exist (cgroupfs makes them; a misspelt name fails instead of creating a file).
 */
export function writeCgroupFile(path: string, value: string): void {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_TRUNC);
  } catch (e) {
    throw fail('write', path, e, value);
  }
  try {
    writeSync(fd, value);
  } catch (e) {
    throw fail('write', path, e, value);
  } finally {
    closeSync(fd);
  }
}

type MutableMemoryStats = { -readonly [K in keyof CgroupMemoryStats]: CgroupMemoryStats[K] };

/**
 * Memory statistics of a cgroup directory: usage from `usageFile` (ENOENT: no such cgroup), the
 * rest from memory.stat under the names each version uses.
 */
function readMemoryStats(dir: string, usageFile: string, names: Partial<Record<keyof CgroupMemoryStats, string>>): MutableMemoryStats {
  const out: MutableMemoryStats = {};
  out.totalBytes = Number(readCgroupFile(join(dir, usageFile)).trim());
  const stat = readOptional(join(dir, 'memory.stat'));
  if (stat !== undefined) {
    const m = parseKeyValues(stat);
    for (const [key, name] of Object.entries(names) as [keyof CgroupMemoryStats, string][]) {
      const v = m.get(name);
      if (v !== undefined) out[key] = v;
    }
  }
  return out;
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat, memory.events) as a map. */
export function parseKeyValues(text: string): Map<string, number> {
  const m = new Map<string, number>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const sp = text.indexOf(' ', start);
    if (sp > start && sp < end) m.set(text.slice(start, sp), Number(text.slice(sp + 1, end)));
    start = end + 1;
  }
  return m;
}

function parsePids(text: string): number[] {
  const out: number[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) out.push(Number(text.slice(start, end)));
    start = end + 1;
  }
  return out;
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  if (text.length > 0 && !text.endsWith('\n')) n++;
  return n;
}

function readNumber(path: string): number | undefined {
  const t = readOptional(path);
  if (t === undefined) return undefined;
  const v = t.trim();
  if (v === 'max') return Infinity;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

function checkPath(path: string, allowTop = false): string {
  const p = posix.normalize(path === '' ? '.' : path);
  if (allowTop && p === '.') return p;
  if (p.startsWith('/') || p === '..' || p.startsWith('../') || p === '.') {
    throw new CorralError('EINVAL', `cgroup path ${JSON.stringify(path)}: must be relative to the hierarchy and below it`);
  }
  return p;
}

/** Wait until `done()` holds, polling 1 ms, then longer; false after `ms`. */
async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  let step = 1;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= end) return false;
    await sleep(step);
    step = Math.min(step * 2, 20);
  }
}

// ---------------------------------------------------------------------------------------------
// Discovery

/** One line of /proc/self/mountinfo: its mount point, file system type and super options. */
function parseMountinfo(text: string): { mountPoint: string; fsType: string; superOptions: string }[] {
  const out: { mountPoint: string; fsType: string; superOptions: string }[] = [];
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of text.split('\n')) {
    if (!line) continue;
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    if (left.length < 5 || right.length < 3) continue;
    out.push({ mountPoint: unescape(left[4]!), fsType: right[0]!, superOptions: right[2]! });
  }
  return out;
}

/** Enabled controllers of /proc/cgroups (name → enabled). */
function parseProcCgroups(text: string): Map<string, boolean> {
  const m = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    if (f.length >= 4) m.set(f[0]!, f[3] === '1');
  }
  return m;
}

/**
 * Where the cgroups of `hierarchy` are, from the text of /proc/self/mountinfo and /proc/cgroups
 * (pure: tests give it fake text). v2 when `hierarchy` itself is a cgroup2 mount; otherwise v1,
 * with every cgroup (v1) mount at or directly below `hierarchy` whose controllers are enabled.
 */
export function findCgroups(hierarchy: string, mountinfo: string, procCgroups: string): CgroupsLayout {
  const h = posix.normalize(hierarchy).replace(/\/+$/, '') || '/';
  const mounts = parseMountinfo(mountinfo);
  // The last mount on a point is the visible one.
  const at = (p: string) => [...mounts].reverse().find((m) => m.mountPoint === p);
  const top = at(h);
  if (top?.fsType === 'cgroup2') return { version: 2, hierarchy: h };
  const enabled = parseProcCgroups(procCgroups);
  const found = new Map<string, string>();
  for (const m of mounts) {
    if (m.fsType !== 'cgroup') continue;
    if (m.mountPoint !== h && posix.dirname(m.mountPoint) !== h) continue;
    if (at(m.mountPoint) !== m) continue;
    for (const opt of m.superOptions.split(',')) {
      if (enabled.get(opt) === true) found.set(opt, m.mountPoint);
    }
  }
  if (found.size === 0) {
    throw new CorralError(
      'CGROUPS_NOT_FOUND',
      `no cgroup hierarchy at ${h}: it is neither a cgroup2 mount nor holds cgroup v1 mounts of enabled controllers (see /proc/self/mountinfo, /proc/cgroups)`,
    );
  }
  return { version: 1, hierarchy: h, mounts: found };
}

/**
 * The cgroups of `hierarchy` on this host (default /sys/fs/cgroup): reads /proc/self/mountinfo
 * and /proc/cgroups once.
 */
export function openCgroups(hierarchy = '/sys/fs/cgroup'): Cgroups {
  const layout = findCgroups(hierarchy, readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/cgroups', 'utf8'));
  return cgroupsOf(layout);
}

/** A Cgroups over a known layout (a fake tree in tests). */
export function cgroupsOf(layout: CgroupsLayout): Cgroups {
  return layout.version === 1 ? new CgroupsV1(layout.hierarchy, layout.mounts) : new CgroupsV2(layout.hierarchy);
}

// ---------------------------------------------------------------------------------------------
// The interface

export interface KillOptions {
  /** Give up (CorralError ETIMEDOUT) when processes are still there after this long (default 10 s). */
  readonly timeoutMs?: number;
}

export interface Cgroups {
  readonly version: 1 | 2;
  /** The hierarchy directory (e.g. /sys/fs/cgroup). */
  readonly hierarchy: string;
  /** Whether this controller can be used. */
  has(controller: CgroupController): boolean;
  /** The directories of cgroup `path` for these controllers (one per distinct hierarchy on v1; one on v2). */
  dirs(path: string, controllers: readonly CgroupController[]): string[];
  /** Make cgroup `path` for these controllers (parents too). Idempotent: true if it made a directory. */
  create(path: string, controllers: readonly CgroupController[]): boolean;
  /** Whether cgroup `path` exists (for `controller`'s hierarchy on v1). */
  exists(path: string, controller: CgroupController): boolean;
  /** Move process `pid` (and its threads) into cgroup `path` of each controller. */
  attach(path: string, controllers: readonly CgroupController[], pid: number): void;
  /** Names of the child cgroups of `path` ('' for the top of the hierarchy; [] if it does not exist). */
  children(path: string, controller: CgroupController): string[];
  /** Pids of the processes in `path` itself (not its children; [] if it does not exist). */
  pids(path: string, controller: CgroupController): number[];
  /** Number of processes and of threads in `path`. */
  counts(path: string, controller: CgroupController): { processes: number; threads: number };
  /** CPU weight in v1 shares (2..262144); v2 maps it onto cpu.weight (1..10000). */
  setCpuShares(path: string, shares: number): void;
  /** CFS bandwidth: `quotaUs` of CPU time per `periodUs`; undefined = no limit. */
  setCpuQuota(path: string, quotaUs: number | undefined, periodUs: number): void;
  /** The hard memory limit in bytes (Infinity = none). */
  setMemoryLimit(path: string, bytes: number): void;
  /** The soft limit (v1 memory.soft_limit_in_bytes); false where there is no such knob (v2). */
  setMemorySoftLimit(path: string, bytes: number): boolean;
  /** The hard memory limit (Infinity = none), undefined if the cgroup or file is not there. */
  memoryLimit(path: string): number | undefined;
  /** The highest memory use recorded (v1 max_usage_in_bytes, v2 memory.peak), if known. */
  memoryPeak(path: string): number | undefined;
  /** Throws ENOENT when the cgroup is not there. */
  cpuStats(path: string): CgroupCpuStats;
  /** Throws ENOENT when the cgroup is not there. */
  memoryStats(path: string): CgroupMemoryStats;
  /** The memory.stat file as text (for limitation messages). */
  memoryStatText(path: string): string | undefined;
  /** How many processes the OOM killer killed in the cgroup (undefined: the kernel does not say). */
  oomKills(path: string): number | undefined;
  /**
   * Call `onOom` when the OOM killer acts in cgroup `path` (v1: an eventfd on memory.oom_control;
   * v2: changes of memory.events). Returns the function that stops listening.
   */
  watchOom(path: string, onOom: () => void): () => void;
  /**
   * Whether the kernel accounts swap per cgroup. v1: memory.memsw.* at the top of the memory
   * hierarchy; v2: memory.swap.max in cgroup `path`, which must exist and not be the root (the
   * root cgroup has no memory.swap.* files).
   */
  hasSwapAccounting(path: string): boolean;
  /**
   * The hard memory limit with swap limited too (`bytes`, Infinity = none). v1: memory.limit_in_bytes
   * and memory.memsw.limit_in_bytes (memory + swap) both `bytes`, so swap adds nothing to what the
   * cgroup may use; the kernel wants memsw >= memory at every step, so memsw is written first when
   * raising and last when lowering. v2 limits swap on its own: memory.max = `bytes` and
   * memory.swap.max = 0 (no swap at all).
   */
  setMemoryLimitWithSwap(path: string, bytes: number): void;
  /** Memory + swap in use (v1 memory.memsw.usage_in_bytes; v2 memory.current + memory.swap.current); undefined without swap accounting. */
  memoryAndSwapUsage(path: string): number | undefined;
  /** Whether memory pressure is notified by level (v1 memory.pressure_level; v2 has no such file). */
  hasMemoryPressureLevels(): boolean;
  /**
   * Call `onEvents(n)` for every `n` memory pressure events at `level` or above in cgroup `path`
   * (v1: an eventfd on memory.pressure_level; a 'low' listener hears medium and critical too).
   * Returns the function that stops listening. Throws ENOTSUP where there are no levels (v2).
   */
  watchMemoryPressure(path: string, level: MemoryPressureLevel, onEvents: (n: number) => void): () => void;
  /**
   * Kill every process of cgroup `path` (and of its children) at once, so that none can fork
   * away meanwhile, and wait until none is left. v1: freeze (freezer), SIGKILL all, thaw, wait;
   * v2: cgroup.kill (or freeze, kill, thaw where the kernel has no cgroup.kill).
   */
  killAll(path: string, controllers: readonly CgroupController[], opts?: KillOptions): Promise<void>;
  /** Remove cgroup `path` (children first) of each controller; missing = done. */
  remove(path: string, controllers: readonly CgroupController[]): Promise<void>;
}

abstract class CgroupsBase {
  abstract readonly version: 1 | 2;
  abstract dirs(path: string, controllers: readonly CgroupController[]): string[];
  protected abstract dir(path: string, controller: CgroupController): string | undefined;

  exists(path: string, controller: CgroupController): boolean {
    const d = this.dir(checkPath(path), controller);
    return d !== undefined && existsSync(d);
  }

  children(path: string, controller: CgroupController): string[] {
    const d = this.dir(checkPath(path, true), controller);
    if (!d) return [];
    try {
      return readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fail('list', d, e);
    }
  }

  pids(path: string, controller: CgroupController): number[] {
    const d = this.dir(checkPath(path), controller);
    if (!d) return [];
    const t = readOptional(join(d, 'cgroup.procs'));
    return t === undefined ? [] : parsePids(t);
  }

  attach(path: string, controllers: readonly CgroupController[], pid: number): void {
    for (const d of this.dirs(path, controllers)) writeCgroupFile(join(d, 'cgroup.procs'), String(pid));
  }

  create(path: string, controllers: readonly CgroupController[]): boolean {
    let made = false;
    for (const d of this.dirs(path, controllers)) {
      try {
        made = mkdirSync(d, { recursive: true }) !== undefined || made;
      } catch (e) {
        throw fail('mkdir', d, e);
      }
    }
    return made;
  }

  /** Pids in `path` and below it, for every directory of `controllers`. */
  protected allPids(dirs: readonly string[]): number[] {
    const out = new Set<number>();
    const visit = (d: string, depth: number): void => {
      const t = readOptional(join(d, 'cgroup.procs'));
      if (t === undefined) return;
      for (const p of parsePids(t)) out.add(p);
      if (depth > 8) return;
      let names: string[] = [];
      try {
        names = readdirSync(d, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => e.name);
      } catch {
        return;
      }
      for (const n of names) visit(join(d, n), depth + 1);
    };
    for (const d of dirs) visit(d, 0);
    return [...out];
  }

  async remove(path: string, controllers: readonly CgroupController[]): Promise<void> {
    const errors: string[] = [];
    for (const d of this.dirs(path, controllers)) {
      try {
        await removeTree(d);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (errors.length > 0) throw new CorralError('EBUSY', errors.join('; '));
  }
}

/** rmdir `dir` after its child cgroups; ENOENT = done; EBUSY (processes leaving) is retried for 1 s. */
async function removeTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fail('list', dir, e);
  }
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  const end = Date.now() + 1000;
  for (let step = 1; ; step = Math.min(step * 2, 50)) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code === 'ENOTEMPTY' && isPlainDirectory(dir)) {
        // cgroupfs never answers ENOTEMPTY (its control files go with the directory): this is a
        // directory that imitates one (a fake tree in tests). Remove it as a directory.
        rmSync(dir, { recursive: true, force: true });
        return;
      }
      if (code !== 'EBUSY' || Date.now() >= end) throw fail('rmdir', dir, e);
    }
    await sleep(step);
  }
}

/** True if `dir` holds only regular files (no child directories). */
function isPlainDirectory(dir: string): boolean {
  try {
    return readdirSync(dir, { withFileTypes: true }).every((e) => e.isFile());
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// v1

const FREEZE_WAIT_MS = 250;
const FREEZE_ATTEMPTS = 4;

class CgroupsV1 extends CgroupsBase implements Cgroups {
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

/** An eventfd listener on control file `file` of v1 cgroup directory `dir`; returns its stop function (idempotent). */
function listenV1(dir: string, file: string, args: string | undefined, onEvents: (n: number) => void): () => void {
  const id = native().cgroupEventListen(dir, file, args, onEvents);
  let open = true;
  return () => {
    if (open) native().cgroupEventClose(id);
    open = false;
  };
}

function freezerState(dir: string): string {
  return readCgroupFile(join(dir, 'freezer.state')).trim();
}

/** Freeze (v1 freezer). A freeze that hangs (MESOS-1689) is undone and tried again; after that, go on. */
async function freezeV1(dir: string): Promise<void> {
  for (let attempt = 0; attempt < FREEZE_ATTEMPTS; attempt++) {
    writeCgroupFile(join(dir, 'freezer.state'), 'FROZEN');
    if (await waitFor(() => freezerState(dir) === 'FROZEN', FREEZE_WAIT_MS)) return;
    thawV1(dir);
  }
}

function thawV1(dir: string): void {
  try {
    writeCgroupFile(join(dir, 'freezer.state'), 'THAWED');
  } catch (e) {
    if ((e as CorralError).code !== 'ENOENT') throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// v2

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
class CgroupsV2 extends CgroupsBase implements Cgroups {
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
        const on = new Set(readCgroupFile(file).split(/\s+/).filter(Boolean).map((s) => s.replace(/^\+/, '')));
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
      if (Date.now() >= end) throw new CorralError('ETIMEDOUT', `processes ${this.allPids([d]).slice(0, 10).join(', ')} of cgroup ${p} are still there after SIGKILL`);
      for (const pid of this.allPids([d])) killPid(pid);
    }
  }
}
