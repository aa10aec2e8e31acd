/**
 * `posix/mem` (spec agent-features §7.7): no enforcement; the resident memory of the container's
 * processes, summed from /proc/PID/statm.
 */
import { allProcStats, containedProcesses, residentBytes } from '../../../linux/index.ts';
import type { Isolator, RecoveredContainer, Statistics } from '../isolator.ts';

export class PosixMemIsolator implements Isolator {
  readonly name = 'posix/mem';
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
    const procs = containedProcesses(await allProcStats(), sup);
    const rss = (await Promise.all(procs.map((p) => residentBytes(p.pid)))).reduce<number>((a, b) => a + (b ?? 0), 0);
    return { mem_rss_bytes: rss };
  }

  async cleanup(containerId: string): Promise<void> {
    this.supervisors.delete(containerId);
  }
}
