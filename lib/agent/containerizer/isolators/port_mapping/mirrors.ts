/**
 * network/port_mapping: the copies of ARP, and of ICMP to the host's address, that every
 * container gets. One u32 filter holds at most ACTIONS_PER_FILTER actions, so the containers'
 * veths are kept in chunks, each with an ARP and an ICMP filter of its own on the host's eth0
 * (priorities 0x0100 + 2·k + s and 0x0200 + 2·k + s, s a slot that flips on each rewrite).
 * Rewrites run one at a time: other rewrites of a container's filters queue behind them too.
 */
import { CorralError } from '../../../../common/errors.ts';
import {
  ETH_P_ARP,
  ETH_P_IP,
  INGRESS_HANDLE,
  TC_ACT_CONTINUE,
  TC_ACT_PIPE,
  applyNetStepsAsync,
  ipv4Keys,
  type NetStep,
  type TcAction,
} from '../../../../linux/index.ts';
import { ICMP, PRIO_ARP, PRIO_ICMP } from './filters.ts';
import type { Host } from './types.ts';

/** Most actions the kernel takes in one filter (TCA_ACT_MAX_PRIO). */
export const ACTIONS_PER_FILTER = 32;
/** Chunks of copies: two priorities each (slots), within 0x0100-0x01ff and 0x0200-0x02ff. */
export const MAX_CHUNKS = 64;

/** Where a run of steps goes: the namespace of a process or a pinned one (none: the host's). */
export interface StepsTarget {
  pid?: number;
  netns?: string;
}

/** The deletion of chunk filters at priority offset `offset` (2·k + slot). */
export function dropChunk(h: Host, offset: number): NetStep[] {
  return [
    { kind: 'filtersDelete', link: h.eth0, parent: INGRESS_HANDLE, prio: PRIO_ARP + offset, protocol: ETH_P_ARP, ignoreMissing: true },
    { kind: 'filtersDelete', link: h.eth0, parent: INGRESS_HANDLE, prio: PRIO_ICMP + offset, protocol: ETH_P_IP, ignoreMissing: true },
  ];
}

/**
 * The steps that rewrite chunk `k` (its veths `members`, its filters now in slot `old`, or none):
 * `before`, the other slot cleared, the new set added there, the old slot deleted. Each copy lets
 * the packet go on (PIPE); the last of a filter lets classification go on to the next chunk
 * (CONTINUE), so the host keeps its own copy in the end. `next` is the slot the new set is in.
 */
export function chunkSteps(
  h: Host,
  k: number,
  members: readonly string[],
  old: 0 | 1 | undefined,
  before: readonly NetStep[] = [],
): { steps: NetStep[]; next: 0 | 1 } {
  const next: 0 | 1 = old === 0 ? 1 : 0;
  const steps: NetStep[] = [...before, ...dropChunk(h, 2 * k + next)];
  if (members.length > 0) {
    const actions = members.map((dev, j): TcAction => ({ kind: 'mirror', dev, control: j === members.length - 1 ? TC_ACT_CONTINUE : TC_ACT_PIPE }));
    steps.push(
      {
        kind: 'filterAdd',
        link: h.eth0,
        parent: INGRESS_HANDLE,
        prio: PRIO_ARP + 2 * k + next,
        protocol: ETH_P_ARP,
        keys: [],
        terminal: true,
        actions,
        skipMissingTargets: true,
      },
      {
        kind: 'filterAdd',
        link: h.eth0,
        parent: INGRESS_HANDLE,
        prio: PRIO_ICMP + 2 * k + next,
        protocol: ETH_P_IP,
        keys: ipv4Keys({ ipProtocol: ICMP, dstIp: h.ip }),
        terminal: true,
        actions,
        skipMissingTargets: true,
      },
    );
  }
  if (old !== undefined) steps.push(...dropChunk(h, 2 * k + old));
  return { steps, next };
}

/** The containers' veths in chunks, each chunk's filter slot, and the queue of rewrites. */
export class MirrorChunks {
  /** The containers' veths in chunks of at most ACTIONS_PER_FILTER, each with its own filters. */
  private readonly chunks: string[][] = [];
  /** Each chunk's filter slot (0/1), or absent when it has no filters. */
  private readonly chunkSlot = new Map<number, 0 | 1>();
  /** Rewrites of the ARP/ICMP copies, one at a time. */
  private mirrorChain: Promise<void> = Promise.resolve();

  /** The veths of chunk `k`. */
  members(k: number): readonly string[] {
    return this.chunks[k] ?? [];
  }

  /** Forget every chunk (recovery makes them again from scratch). */
  reset(): void {
    this.chunks.length = 0;
    this.chunkSlot.clear();
  }

  /** Run `fn` after every rewrite under way, before any queued later. */
  enqueue(fn: () => Promise<void>): Promise<void> {
    const run = this.mirrorChain.then(fn);
    this.mirrorChain = run.catch(() => undefined);
    return run;
  }

  /** The chunk a new veth goes in: the first with room. */
  joinChunk(veth: string): number {
    let k = this.chunks.findIndex((members) => members.length < ACTIONS_PER_FILTER);
    if (k < 0) {
      if (this.chunks.length >= MAX_CHUNKS) {
        throw new CorralError('RESOURCES_EXHAUSTED', `network/port_mapping: at most ${MAX_CHUNKS * ACTIONS_PER_FILTER} containers per agent`);
      }
      k = this.chunks.push([]) - 1;
    }
    this.chunks[k]!.push(veth);
    return k;
  }

  leaveChunk(veth: string): number | undefined {
    const k = this.chunks.findIndex((members) => members.includes(veth));
    if (k < 0) return undefined;
    this.chunks[k] = this.chunks[k]!.filter((v) => v !== veth);
    return k;
  }

  /**
   * Rewrite a chunk's ARP/ICMP copies, after any rewrite under way. `pick` names the chunk when
   * the rewrite's turn comes (joining or leaving it then, so that a chunk never names a veth
   * before the crossing that makes it); `before` runs first in the same call (in the namespace
   * of `target`).
   */
  refreshMirrors(h: Host, pick: () => number | undefined, target: StepsTarget = {}, before: readonly NetStep[] = []): Promise<void> {
    return this.enqueue(async () => {
      const k = pick();
      if (k === undefined) {
        if (before.length > 0) await applyNetStepsAsync(target, before);
        return;
      }
      await this.installChunk(h, k, target, before);
    });
  }

  /**
   * A chunk's ARP and ICMP copies: the new set is added in the chunk's other slot before the
   * old one goes (no moment without them). A member whose veth is already gone (its container
   * ended, not cleaned up yet) is left out. A failed rewrite changes nothing recorded: the next
   * one clears the slot it writes first.
   */
  private async installChunk(h: Host, k: number, target: StepsTarget, before: readonly NetStep[]): Promise<void> {
    const members = this.chunks[k] ?? [];
    const { steps, next } = chunkSteps(h, k, members, this.chunkSlot.get(k), before);
    await applyNetStepsAsync(target, steps);
    if (members.length > 0) this.chunkSlot.set(k, next);
    else this.chunkSlot.delete(k);
  }
}
