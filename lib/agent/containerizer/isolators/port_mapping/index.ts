/**
 * network/port_mapping: every container gets a network namespace of its
 * own that shares the host's IP address. Traffic is steered between the host and the containers
 * by port: each container owns its `ports` resource and one block of ephemeral ports, and u32
 * filters with mirred redirects on the host's public link, on its loopback and on the
 * container's veth send each packet to the namespace that owns its port. ARP, and ICMP to the
 * host's address, are copied to every container.
 *
 * The filters' layout: filters.ts; the ARP/ICMP copies: mirrors.ts; the port blocks: ports.ts;
 * the namespaces made ahead: pool.ts; the host's side: host.ts; recovery: recovery.ts.
 *
 * State lives in the kernel: the host end of the veth is `<prefix><pid>` and carries the
 * container id and its ephemeral block in its alias, so recovery after an agent restart reads
 * the links. Teardown: a container's filters are deleted at cleanup; its veth goes with its
 * namespace, and any host end still there is moved to a link group that is deleted in batches.
 */
import { readFile } from 'node:fs/promises';
import { CorralError, describeError } from '../../../../common/errors.ts';
import type { Resources } from '../../../../common/resources/index.ts';
import {
  ETH_P_IP,
  INGRESS_HANDLE,
  TC_H_ROOT,
  applyNetStepsAsync,
  listLinks,
  listQdiscsAsync,
  netnsPath,
  requireFeature,
  tcpRoundTripTimesAsync,
  type LinkInfo,
  type NetStep,
} from '../../../../linux/index.ts';
import type { ContainerConfig, Isolator, LaunchRequirements, RecoveredContainer, Statistics, TrafficControlStatistics } from '../../isolator.ts';
import {
  PRIO_HIGH,
  PRIO_LOW,
  PRIO_NORMAL,
  containerPortFilters,
  deleteHostPortFilters,
  hostPortFilters,
  portHostSteps,
  portNsSteps,
  staticSteps,
  vethPortFilters,
} from './filters.ts';
import { prepareHost } from './host.ts';
import { MirrorChunks } from './mirrors.ts';
import type { PortMappingOptions } from './options.ts';
import { WarmPool } from './pool.ts';
import { PortBlocks, portsOf } from './ports.ts';
import { DoomedLinks, readBack } from './recovery.ts';
import type { Host, NetContainer, Pending } from './types.ts';

export { validatePortMappingOptions, type PortInterval, type PortMappingOptions } from './options.ts';

export class PortMappingIsolator implements Isolator {
  readonly name = 'network/port_mapping';
  private readonly prefix: string;
  private host: Host | undefined;
  private readonly containers = new Map<string, NetContainer>();
  private readonly pending = new Map<string, Pending>();
  private readonly blocks: PortBlocks;
  /** The ARP/ICMP copies, in chunks; their queue orders every rewrite of filters. */
  private readonly mirrors = new MirrorChunks();
  private linkCache: { at: number; links: Map<string, LinkInfo> } | undefined;
  private readonly pool: WarmPool;
  private readonly doomed: DoomedLinks;

  constructor(private readonly opts: PortMappingOptions) {
    requireFeature('networkIsolator');
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new CorralError('ISOLATION_UNAVAILABLE', 'network/port_mapping needs root (network namespaces, veths, traffic control)', { field: '--isolation' });
    }
    this.prefix = opts.vethPrefix ?? 'corral';
    this.doomed = new DoomedLinks(opts.doomedGroup ?? 0x636f7272, opts.logger);
    this.blocks = new PortBlocks(opts);
    this.pool = new WarmPool({
      prefix: this.prefix,
      target: opts.warmNamespaces ?? 0,
      logger: opts.logger,
      steps: (veth) => staticSteps(this.init(), veth, this.opts),
      links: () => this.links(),
    });
    this.host = prepareHost(this.opts);
    this.pool.removeStaleWarm();
  }

  // ---- namespaces made ahead (--network_warm_namespaces) ----

  /**
   * Make the namespaces kept ready (--network_warm_namespaces), in the background; resolves
   * once they are there. The agent starts this (ready()) once recovery is done and it goes on
   * serving; each container, once isolated, and each cleanup top them up.
   */
  fillWarm(): Promise<void> {
    return this.pool.fillWarm();
  }

  ready(): void {
    void this.fillWarm();
  }

  /** Unpin the namespaces kept ready (their veths go with them): agent shutdown, tests. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  private init(): Host {
    return this.host!;
  }

  async prepare(config: ContainerConfig): Promise<LaunchRequirements> {
    this.init();
    const ports = portsOf(config.resources);
    this.blocks.checkPorts(ports);
    const ephemeral = this.blocks.allocateBlock();
    // A namespace made ahead if one is ready; else the command gets a new one as it starts (a
    // namespace made now, on the launch's path, would cost more than that).
    const warm = this.pool.take();
    if (!warm) {
      this.pending.set(config.containerId, { ephemeral, ports });
      return { namespaces: ['net'] };
    }
    this.pending.set(config.containerId, { ephemeral, ports, warm });
    return { netns: netnsPath(warm.name) };
  }

  async isolate(containerId: string, pid: number): Promise<void> {
    const p = this.pending.get(containerId);
    if (!p) return; // prepared without this isolator (cannot happen) or already cleaned up
    const h = this.init();
    const c: NetContainer = { containerId, pid, veth: p.warm?.veth ?? `${this.prefix}${pid}`, ephemeral: p.ephemeral, ports: p.ports, slot: 0, warm: p.warm };
    this.pending.delete(containerId);
    this.containers.set(containerId, c);
    const steps: NetStep[] = [
      // Whatever an earlier holder of this block may have left at its priorities.
      ...deleteHostPortFilters(h, c, 0),
      ...deleteHostPortFilters(h, c, 1),
      // One run of steps inside the container's namespace (a run costs a thread).
      ...(c.warm ? portNsSteps(h, c) : staticSteps(h, c.veth, this.opts, portNsSteps(h, c))),
      ...portHostSteps(h, c),
    ];
    // One crossing: the container's network and its chunk of copies rewritten to include it.
    await this.mirrors.refreshMirrors(h, () => this.mirrors.joinChunk(c.veth), c.warm ? { netns: c.warm.name } : { pid }, steps);
    // The command's processes hold a warm namespace from now on: unpin it; and make the next
    // one; both off the launch's path (a namespace made during it would hold up its steps).
    setImmediate(() => {
      if (c.warm) this.unpin(c);
      this.pool.refill();
    });
  }

  private unpin(c: NetContainer): void {
    const w = c.warm;
    if (!w) return;
    c.warm = undefined;
    this.pool.unpinName(w.name);
  }

  async update(containerId: string, resources: Resources): Promise<void> {
    const c = this.containers.get(containerId);
    if (!c) return;
    const ports = portsOf(resources);
    this.blocks.checkPorts(ports);
    if (JSON.stringify(ports) === JSON.stringify(c.ports)) return;
    const h = this.init();
    // Queued with the other rewrites; the record changes only once the kernel has the new set.
    return this.mirrors.enqueue(async () => {
      const next: NetContainer = { ...c, ports };
      const newSlot: 0 | 1 = c.slot === 0 ? 1 : 0;
      await applyNetStepsAsync({ pid: c.pid }, [
        ...deleteHostPortFilters(h, next, newSlot), // left by an earlier failed attempt
        ...hostPortFilters(h, next, newSlot),
        ...deleteHostPortFilters(h, c, c.slot),
        ...[PRIO_NORMAL, PRIO_LOW].map((prio): NetStep => ({
          kind: 'filtersDelete',
          link: c.veth,
          parent: INGRESS_HANDLE,
          prio,
          protocol: ETH_P_IP,
          ignoreMissing: true,
        })),
        ...vethPortFilters(h, next),
        { kind: 'filtersDelete', inNetns: true, link: h.lo, parent: INGRESS_HANDLE, prio: PRIO_HIGH, protocol: ETH_P_IP, ignoreMissing: true },
        { kind: 'filtersDelete', inNetns: true, link: h.eth0, parent: INGRESS_HANDLE, prio: PRIO_NORMAL, protocol: ETH_P_IP, ignoreMissing: true },
        ...containerPortFilters(h, next),
      ]);
      c.ports = ports;
      c.slot = newSlot;
    });
  }

  private links(): Map<string, LinkInfo> {
    const now = Date.now();
    if (!this.linkCache || now - this.linkCache.at > 100) {
      this.linkCache = { at: now, links: new Map(listLinks().map((l) => [l.name, l])) };
    }
    return this.linkCache.links;
  }

  async usage(containerId: string): Promise<Statistics | undefined> {
    const c = this.containers.get(containerId);
    const h = this.host;
    if (!c || !h) return undefined;
    const veth = this.links().get(c.veth);
    if (!veth) return undefined;
    // What the host end sends, the container receives, and the other way round.
    const s: Record<string, number | TrafficControlStatistics[]> = {
      net_rx_packets: veth.stats.txPackets,
      net_rx_bytes: veth.stats.txBytes,
      net_rx_errors: veth.stats.txErrors,
      net_rx_dropped: veth.stats.txDropped,
      net_tx_packets: veth.stats.rxPackets,
      net_tx_bytes: veth.stats.rxBytes,
      net_tx_errors: veth.stats.rxErrors,
      net_tx_dropped: veth.stats.rxDropped,
    };
    // Read off the JS thread (a dump inside the container's namespace costs a thread of its
    // own): statistics of many containers do not hold up the agent.
    const tc: TrafficControlStatistics[] = [];
    const htb = async (id: string, link: string, pid?: number): Promise<void> => {
      const q = (await listQdiscsAsync(link, pid === undefined ? {} : { pid })).find((x) => x.kind === 'htb' && x.parent === TC_H_ROOT);
      if (q)
        tc.push({
          id,
          backlog: q.backlog,
          bytes: q.bytes,
          drops: q.drops,
          overlimits: q.overlimits,
          packets: q.packets,
          qlen: q.qlen,
          ratebps: 0,
          ratepps: 0,
          requeues: q.requeues,
        });
    };
    try {
      if (this.opts.egressRateLimit) await htb('bw_limit', h.eth0, c.pid);
      if (this.opts.ingressRateLimit) await htb('ingress_bw_limit', c.veth);
    } catch {
      // the container is ending: its namespace is gone
    }
    if (tc.length > 0) s.net_traffic_control_statistics = tc;
    if (this.opts.socketStatisticsSummary) {
      try {
        const text = await readFile(`/proc/${c.pid}/net/sockstat`, 'utf8');
        const m = /^TCP: inuse (\d+) orphan \d+ tw (\d+)/m.exec(text);
        if (m) {
          s.net_tcp_active_connections = Number(m[1]);
          s.net_tcp_time_wait_connections = Number(m[2]);
        }
      } catch {
        // gone
      }
    }
    if (this.opts.socketStatisticsDetails) {
      try {
        const rtts = (await tcpRoundTripTimesAsync({ pid: c.pid })).sort((a, b) => a - b);
        if (rtts.length > 0) {
          // Nearest rank, as Mesos: the value at index n·p/100.
          for (const p of [50, 90, 95, 99]) s[`net_tcp_rtt_microsecs_p${p}`] = rtts[Math.min(rtts.length - 1, Math.floor((rtts.length * p) / 100))]!;
        }
      } catch {
        // gone
      }
    }
    return s;
  }

  async cleanup(containerId: string): Promise<void> {
    const p = this.pending.get(containerId);
    if (p) {
      this.pending.delete(containerId);
      this.blocks.release(p.ephemeral);
      if (p.warm) {
        this.pool.unpinName(p.warm.name); // its veth goes with it
        setImmediate(() => this.pool.refill()); // a launch that failed before isolate took one
      }
    }
    const c = this.containers.get(containerId);
    if (!c) return;
    this.unpin(c);
    await this.removeContainer(this.init(), c);
  }

  /** Every step attempted; failures reported together at the end. */
  private async removeContainer(h: Host, c: NetContainer): Promise<void> {
    const errors: string[] = [];
    const attempt = async (what: string, run: () => Promise<void>): Promise<void> => {
      try {
        await run();
      } catch (e) {
        errors.push(`${what}: ${describeError(e)}`);
      }
    };
    this.containers.delete(c.containerId);
    await attempt('removing its eth0/lo filters', () => applyNetStepsAsync({}, [...deleteHostPortFilters(h, c, 0), ...deleteHostPortFilters(h, c, 1)]));
    // (A later holder of the block clears its priorities first, should this have failed.)
    this.blocks.release(c.ephemeral);
    await attempt('rewriting the ARP/ICMP copies', () => this.mirrors.refreshMirrors(h, () => this.mirrors.leaveChunk(c.veth)));
    // The veth goes with the namespace; a host end still here waits in the doomed group.
    await attempt('moving its veth to the deletion group', () =>
      applyNetStepsAsync({}, [{ kind: 'linkSet', link: c.veth, up: false, group: this.doomed.doomedGroup, ignoreMissing: true }]),
    );
    this.linkCache = undefined;
    this.doomed.scheduleDeletion();
    if (errors.length > 0) {
      throw new CorralError('ISOLATOR_FAILED', `network/port_mapping: cleanup of ${c.containerId}: ${errors.join('; ')}`);
    }
  }

  /** Resolves when the veths of cleaned-up containers are deleted (tests, shutdown). */
  async settled(): Promise<void> {
    await this.doomed.settled();
  }

  async recover(recovered: readonly RecoveredContainer[]): Promise<void> {
    const h = this.init();
    // A namespace being made ahead has a veth without an alias yet: let it finish, so that it is
    // kept rather than taken for a leftover.
    await this.pool.idle();
    const { orphans, steps } = readBack(h, {
      prefix: this.prefix,
      doomedGroup: this.doomed.doomedGroup,
      kept: new Set(this.pool.veths()),
      recovered,
      containers: this.containers,
      blocks: this.blocks,
    });
    await applyNetStepsAsync({}, steps);
    this.mirrors.reset();
    const touched = new Set([...this.containers.values()].map((c) => this.mirrors.joinChunk(c.veth)));
    const errors: string[] = [];
    for (const k of touched) {
      await this.mirrors.refreshMirrors(h, () => k).catch((e) => errors.push(`chunk ${k}: ${describeError(e)}`));
    }

    if (orphans.length > 0) {
      this.opts.logger?.info({ veths: orphans.map((o) => o.veth) }, 'network/port_mapping: removing the networks of containers that are gone');
      this.doomed.scheduleDeletion();
    }
    if (errors.length > 0) throw new CorralError('ISOLATOR_FAILED', `network/port_mapping: rebuilding the ARP/ICMP copies: ${errors.join('; ')}`);
  }
}
