/**
 * `posix/mem`: no enforcement; the resident memory of the container's
 * processes, summed from /proc/PID/statm.
 */
import { residentBytes } from '../../../linux/index.ts';
import { ProcessTreeIsolator, type Statistics } from '../isolator.ts';

export class PosixMemIsolator extends ProcessTreeIsolator {
  readonly name = 'posix/mem';

  async usage(containerId: string): Promise<Statistics | undefined> {
    const procs = await this.processes(containerId);
    if (procs === undefined) return undefined;
    const rss = (await Promise.all(procs.map((p) => residentBytes(p.pid)))).reduce<number>((a, b) => a + (b ?? 0), 0);
    return { mem_rss_bytes: rss };
  }
}
