/**
 * network/port_mapping: the port blocks. Each container owns its `ports` resource (inside the
 * agent's `ports` pool) and one block of `--ephemeral_ports_per_container` ephemeral ports, which
 * starts at a multiple of its size inside the agent's `ephemeral_ports` pool.
 */
import { CorralError } from '../../../../common/errors.ts';
import type { Resources } from '../../../../common/resources/index.ts';
import type { PortBlock } from '../../../../linux/index.ts';
import { intervalText, type PortInterval } from './options.ts';

/** The `ports` ranges of a resource set, as intervals. */
export function portsOf(resources: Resources): PortInterval[] {
  return resources.ranges('ports').map((r) => ({ begin: r.begin, end: r.end }));
}

/** The ephemeral blocks in use, and the checks of a container's ports against the pool. */
export class PortBlocks {
  private readonly usedBlocks = new Set<number>();

  constructor(
    private readonly opts: {
      readonly ports: readonly PortInterval[];
      readonly ephemeralPorts: readonly PortInterval[];
      readonly ephemeralPortsPerContainer: number;
    },
  ) {}

  allocateBlock(): PortBlock {
    const size = this.opts.ephemeralPortsPerContainer;
    for (const r of this.opts.ephemeralPorts) {
      for (let base = Math.ceil(r.begin / size) * size; base + size - 1 <= r.end; base += size) {
        if (!this.usedBlocks.has(base)) {
          this.usedBlocks.add(base);
          return { base, size };
        }
      }
    }
    throw new CorralError('RESOURCES_EXHAUSTED', `network/port_mapping: out of ephemeral ports (${this.usedBlocks.size} blocks of ${size} in use)`);
  }

  /** Free the blocks of the current size that `b` covers. */
  release(b: PortBlock): void {
    for (const base of this.blockBases(b)) this.usedBlocks.delete(base);
  }

  /** Mark as used the blocks of the current size that `b` covers (a recovered container's). */
  claim(b: PortBlock): void {
    for (const base of this.blockBases(b)) this.usedBlocks.add(base);
  }

  /**
   * The blocks of the current size that `b` covers: itself, or, for a container recovered from
   * a run with another --ephemeral_ports_per_container, every block it overlaps.
   */
  blockBases(b: PortBlock): number[] {
    const size = this.opts.ephemeralPortsPerContainer;
    const out: number[] = [];
    for (let base = Math.floor(b.base / size) * size; base < b.base + b.size; base += size) out.push(base);
    return out;
  }

  checkPorts(ports: readonly PortInterval[]): void {
    for (const p of ports) {
      if (!this.opts.ports.some((pool) => pool.begin <= p.begin && p.end <= pool.end)) {
        throw new CorralError('INVALID', `network/port_mapping: ports ${intervalText(p)} are not inside the agent's ports resource`, { field: 'resources' });
      }
    }
  }
}
