/**
 * The `Cgroups` interface (one for v1 and v2) and the types and bounds it shares with its
 * callers. Paths given to the methods are relative to the hierarchy (`corral/abc`); controllers
 * are named as v1 names them (see index.ts).
 */
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
  { readonly version: 1; readonly hierarchy: string; readonly mounts: ReadonlyMap<string, string> } | { readonly version: 2; readonly hierarchy: string };

/** cpu.shares bounds of the kernel (v1). */
export const MIN_CPU_SHARES = 2;
export const MAX_CPU_SHARES = 262_144;

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
