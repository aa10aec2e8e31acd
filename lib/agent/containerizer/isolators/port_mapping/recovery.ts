/**
 * network/port_mapping: state read back from the kernel after an agent restart, and the removal
 * of what is left over. A container's host veth is `<prefix><pid>` (or a warm one's
 * `<prefix>w<n>`) and carries the container's id and ephemeral block in its alias; its eth0/lo
 * filters' priority says which slot they are in. Host ends of veths no container owns wait in
 * a link group that is deleted in batches.
 */
import { describeError } from '../../../../common/errors.ts';
import type { Logger } from '../../../../common/log.ts';
import { ETH_P_ARP, ETH_P_IP, INGRESS_HANDLE, deleteLinkGroup, listFilters, listLinks, type NetStep } from '../../../../linux/index.ts';
import type { RecoveredContainer } from '../../isolator.ts';
import { ALIAS_PREFIX, PRIO_ARP, PRIO_CONTAINERS, PRIO_ICMP_PASS, containerPrio } from './filters.ts';
import { portsOf, type PortBlocks } from './ports.ts';
import type { Host, NetContainer } from './types.ts';

export interface ReadBack {
  /** Veths of containers that are gone (or of runs that died before naming them). */
  readonly orphans: NetContainer[];
  /** Deletes the filters nobody owns and the ARP/ICMP copies; moves the orphans' veths to the doomed group. */
  readonly steps: NetStep[];
}

/**
 * Read the containers back from the host's links and filters: each live one (in `recovered`) is
 * put in `containers`, its block claimed in `blocks`, and its filters' slot learnt. The veths
 * in `kept` (namespaces made ahead by this run) are left alone.
 */
export function readBack(
  h: Host,
  ctx: {
    readonly prefix: string;
    readonly doomedGroup: number;
    readonly kept: ReadonlySet<string>;
    readonly recovered: readonly RecoveredContainer[];
    readonly containers: Map<string, NetContainer>;
    readonly blocks: PortBlocks;
  },
): ReadBack {
  const byId = new Map(ctx.recovered.map((r) => [r.containerId, r]));
  const kept = ctx.kept;
  const ours = listLinks().filter((l) => new RegExp(`^${ctx.prefix}w?\\d+$`).test(l.name) && !kept.has(l.name));
  const orphans: NetContainer[] = [];
  for (const l of ours) {
    const m = new RegExp(`^${ALIAS_PREFIX} (\\S+) (\\d+)/(\\d+)$`).exec(l.alias);
    const warmVeth = l.name.startsWith(`${ctx.prefix}w`);
    const pid = warmVeth ? (byId.get(m?.[1] ?? '')?.pid ?? 0) : Number(l.name.slice(ctx.prefix.length));
    if (!m) {
      // Made by a run that died before it named it: nothing else refers to it.
      orphans.push({ containerId: `unknown-${l.name}`, pid, veth: l.name, ephemeral: { base: 0, size: 0 }, ports: [], slot: 0 });
      continue;
    }
    const c: NetContainer = { containerId: m[1]!, pid, veth: l.name, ephemeral: { base: Number(m[2]), size: Number(m[3]) }, ports: [], slot: 0 };
    const r = byId.get(c.containerId);
    if (r && (r.pid === undefined || r.pid === pid || warmVeth)) {
      if (r.resources) c.ports = portsOf(r.resources);
      ctx.containers.set(c.containerId, c);
      ctx.blocks.claim(c.ephemeral);
    } else {
      orphans.push(c);
    }
  }
  // Which slot each live container's filters are in; and filters of nobody's.
  const live = new Map<number, NetContainer>();
  for (const c of ctx.containers.values()) {
    live.set(containerPrio(c, 0), c);
    live.set(containerPrio(c, 1), c);
  }
  const stale = new Set<string>();
  for (const link of [h.eth0, h.lo]) {
    for (const f of listFilters(link, INGRESS_HANDLE)) {
      if (f.prio < PRIO_CONTAINERS) continue;
      const c = live.get(f.prio);
      if (c) c.slot = ((f.prio - PRIO_CONTAINERS) % 2) as 0 | 1;
      else stale.add(`${link} ${f.prio}`);
    }
  }
  const steps: NetStep[] = [...stale].map((k): NetStep => {
    const [link, prio] = k.split(' ');
    return { kind: 'filtersDelete', link: link!, parent: INGRESS_HANDLE, prio: Number(prio), protocol: ETH_P_IP, ignoreMissing: true };
  });
  // The ARP/ICMP copies are made again from scratch, in chunks of the containers there are.
  const copies = new Set<string>();
  for (const f of listFilters(h.eth0, INGRESS_HANDLE)) {
    if (f.prio >= PRIO_ARP && f.prio < PRIO_ICMP_PASS && (f.protocol === ETH_P_ARP || f.protocol === ETH_P_IP)) copies.add(`${f.prio} ${f.protocol}`);
  }
  for (const key of copies) {
    const [prio, protocol] = key.split(' ').map(Number);
    steps.push({ kind: 'filtersDelete', link: h.eth0, parent: INGRESS_HANDLE, prio: prio!, protocol: protocol!, ignoreMissing: true });
  }
  for (const o of orphans) steps.push({ kind: 'linkSet', link: o.veth, up: false, group: ctx.doomedGroup, ignoreMissing: true });
  return { orphans, steps };
}

/** The doomed link group: host ends of veths wait there and are deleted together, in batches. */
export class DoomedLinks {
  private deleteTimer: NodeJS.Timeout | undefined;
  private deleting: Promise<void> = Promise.resolve();

  constructor(
    readonly doomedGroup: number,
    private readonly logger?: Logger,
  ) {}

  /** Delete the doomed group soon, once for all the cleanups of the next few milliseconds. */
  scheduleDeletion(): void {
    if (this.deleteTimer) return;
    this.deleteTimer = setTimeout(() => {
      this.deleteTimer = undefined;
      this.deleting = this.deleting
        .then(async () => {
          // Usually nothing is left: a veth goes with its namespace when the container's last process ends.
          await deleteLinkGroup(this.doomedGroup);
        })
        .catch((e) => this.logger?.warn({ err: describeError(e) }, 'network/port_mapping: deleting veths failed'));
    }, 10);
    this.deleteTimer.unref();
  }

  /** Resolves when the veths of cleaned-up containers are deleted (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.deleteTimer) await new Promise((r) => setTimeout(r, 5));
    await this.deleting;
  }
}
