/**
 * `posix/cpu` (spec agent-features §7.7): no enforcement; CPU time of the container's processes
 * sampled from /proc (the supervisor's process tree and the command's session, dead children
 * included through cutime/cstime).
 */
import { allProcStats, clockTicks, containedProcesses } from '../../../linux/index.ts';
import type { Isolator, RecoveredContainer, Statistics } from '../isolator.ts';

export class PosixCpuIsolator implements Isolator {
  readonly name = 'posix/cpu';
  private readonly supervisors = new Map<string, number>();

  async isolate(containerId: string, _pid: number, supervisorPid: number): Promise<void> {
    this.supervisors.set(containerId, supervisorPid);
  }

  async recover(containers: readonly RecoveredContainer[]): Promise<void> {
    for (const c of containers) this.supervisors.set(c.containerId, c.supervisorPid);
  }

  async usage(containerId: string): Promise<Statistics | undefined> {
    const sup = this.supervisors.get(containerId);
    if (sup === undefined) return undefined;
    const hz = clockTicks();
    let user = 0;
    let system = 0;
    for (const p of containedProcesses(await allProcStats(), sup)) {
      user += p.utime + p.cutime;
      system += p.stime + p.cstime;
    }
    return { cpus_user_time_secs: user / hz, cpus_system_time_secs: system / hz };
  }

  async cleanup(containerId: string): Promise<void> {
    this.supervisors.delete(containerId);
  }
}
