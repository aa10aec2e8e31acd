/**
 * `cgroups/cpu` (Mesos's `CgroupsCpushareIsolatorProcess`): the container's
 * cgroup `<cgroups_root>/<container id>` in the cpu and cpuacct controllers.
 *
 *   - cpu.shares = 1024 per cpu (at least 2, the kernel's minimum); on v2 cpu.weight, converted;
 *   - a container with revocable cpus runs at low priority (`--revocable_cpu_low_priority`, on by
 *     default; Mesos 0.24+): 10 shares per cpu, at least 10, so it yields to every other container;
 *   - with CFS enabled (`--cgroups_enable_cfs`): period 100 ms, quota cpus × period (at least
 *     1 ms): a hard cap;
 *   - set when prepared (before the command runs) and on every update.
 *
 * Usage: cpus_user_time_secs and cpus_system_time_secs (cpuacct.stat; v2 cpu.stat), with CFS
 * cpus_nr_periods, cpus_nr_throttled and cpus_throttled_time_secs (cpu.stat), and processes and
 * threads in the cgroup.
 */
import { CorralError } from '../../../common/errors.ts';
import type { Resources } from '../../../common/resources/index.ts';
import type { CgroupController, Cgroups } from '../../../linux/index.ts';
import { containerCgroup, type ContainerConfig, type Isolator, type RecoveredContainer, type Statistics } from '../isolator.ts';

export const CPU_SHARES_PER_CPU = 1024;
export const MIN_CPU_SHARES = 2;
export const CPU_SHARES_PER_CPU_REVOCABLE = 10;
export const MIN_CPU_SHARES_REVOCABLE = 10;
export const CPU_CFS_PERIOD_US = 100_000;
export const MIN_CPU_CFS_QUOTA_US = 1_000;

const CONTROLLERS: readonly CgroupController[] = ['cpu', 'cpuacct'];

export interface CgroupsCpuOptions {
  readonly cgroups: Cgroups;
  /** `--cgroups_root`. */
  readonly root: string;
  /** `--cgroups_enable_cfs`. */
  readonly enableCfs: boolean;
  /** `--revocable_cpu_low_priority` (default true). */
  readonly revocableCpuLowPriority?: boolean;
}

export class CgroupsCpuIsolator implements Isolator {
  readonly name = 'cgroups/cpu';
  private readonly cgroups: Cgroups;
  private readonly root: string;
  private readonly enableCfs: boolean;
  private readonly revocableLow: boolean;
  /** Containers it holds. */
  private readonly known = new Set<string>();

  constructor(opts: CgroupsCpuOptions) {
    this.cgroups = opts.cgroups;
    this.root = opts.root;
    this.enableCfs = opts.enableCfs;
    this.revocableLow = opts.revocableCpuLowPriority ?? true;
    for (const c of CONTROLLERS) {
      if (!opts.cgroups.has(c))
        throw new CorralError('ISOLATION_UNAVAILABLE', `cgroups/cpu needs the ${c} controller, which is not available under ${opts.cgroups.hierarchy}`);
    }
  }

  private path(containerId: string): string {
    return containerCgroup(this.root, containerId);
  }

  async prepare(config: ContainerConfig): Promise<void> {
    const path = this.path(config.containerId);
    this.cgroups.create(path, CONTROLLERS);
    this.known.add(config.containerId);
    this.apply(path, config.resources);
  }

  async isolate(containerId: string, pid: number): Promise<void> {
    this.cgroups.attach(this.path(containerId), CONTROLLERS, pid);
  }

  async update(containerId: string, resources: Resources): Promise<void> {
    this.apply(this.path(containerId), resources);
  }

  private apply(path: string, resources: Resources): void {
    const cpus = resources.scalar('cpus');
    const low = this.revocableLow && resources.revocable().scalar('cpus') > 0;
    this.cgroups.setCpuShares(
      path,
      low
        ? Math.max(MIN_CPU_SHARES_REVOCABLE, Math.round(CPU_SHARES_PER_CPU_REVOCABLE * cpus))
        : Math.max(MIN_CPU_SHARES, Math.round(CPU_SHARES_PER_CPU * cpus)),
    );
    if (this.enableCfs) {
      this.cgroups.setCpuQuota(path, Math.max(MIN_CPU_CFS_QUOTA_US, Math.round(CPU_CFS_PERIOD_US * cpus)), CPU_CFS_PERIOD_US);
    }
  }

  usage(containerId: string): Statistics | undefined {
    if (!this.known.has(containerId)) return undefined;
    const path = this.path(containerId);
    const cpu = this.cgroups.cpuStats(path);
    const out: Statistics = {};
    if (cpu.userSecs !== undefined) out.cpus_user_time_secs = cpu.userSecs;
    if (cpu.systemSecs !== undefined) out.cpus_system_time_secs = cpu.systemSecs;
    if (this.enableCfs) {
      if (cpu.nrPeriods !== undefined) out.cpus_nr_periods = cpu.nrPeriods;
      if (cpu.nrThrottled !== undefined) out.cpus_nr_throttled = cpu.nrThrottled;
      if (cpu.throttledSecs !== undefined) out.cpus_throttled_time_secs = cpu.throttledSecs;
    }
    const n = this.cgroups.counts(path, 'cpu');
    out.processes = n.processes;
    out.threads = n.threads;
    return out;
  }

  async recover(containers: readonly RecoveredContainer[]): Promise<void> {
    for (const c of containers) if (this.cgroups.exists(this.path(c.containerId), 'cpu')) this.known.add(c.containerId);
  }

  async cleanup(containerId: string): Promise<void> {
    this.known.delete(containerId);
    await this.cgroups.remove(this.path(containerId), CONTROLLERS);
  }
}
