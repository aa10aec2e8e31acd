/**
 * `posix/cpu`: no enforcement; CPU time of the container's processes
 * sampled from /proc (the supervisor's process tree and the command's session, dead children
 * included through cutime/cstime).
 */
import { clockTicks } from '../../../linux/index.ts';
import { ProcessTreeIsolator, type Statistics } from '../isolator.ts';

export class PosixCpuIsolator extends ProcessTreeIsolator {
  readonly name = 'posix/cpu';

  async usage(containerId: string): Promise<Statistics | undefined> {
    const procs = await this.processes(containerId);
    if (procs === undefined) return undefined;
    const hz = clockTicks();
    let user = 0;
    let system = 0;
    for (const p of procs) {
      user += p.utime + p.cutime;
      system += p.stime + p.cstime;
    }
    return { cpus_user_time_secs: user / hz, cpus_system_time_secs: system / hz };
  }
}
