/**
 * network/port_mapping: every container gets a network namespace of its
 * own that shares the host's IP address. Traffic is steered between the host and the containers
 * by port: each container owns its `ports` resource and one block of ephemeral ports, and u32
 * filters with mirred redirects on the host's public link, on its loopback and on the
 * container's veth send each packet to the namespace that owns its port. ARP, and ICMP to the
 * host's address, are copied to every container.
 *
 * Layout of the filters (priorities; the high byte orders the kinds):
 *   host eth0 ingress  0x0100 + 2·k + s  ARP → mirror to the containers of chunk k (32 at most)
 *                      0x0200 + 2·k + s  ICMP to the host IP → mirror to the containers of chunk k
 *                      0x00ff         ICMP echo requests to the host IP → pass (the host answers, no container)
 *                      0x0300         ICMP to the host IP → pass (ends classification)
 *                      0x1000 + 2·b + s  a container's ports (dst MAC, dst IP, dst port) → its veth
 *   host lo ingress    0x1000 + 2·b + s  a container's ports (dst port) → its veth
 *   host veth ingress  0x0102 ARP → eth0, 0x0202 ICMP → eth0,
 *                      0x0302 src port of the container and dst the host IP or 127.0.0.1 → lo,
 *                      0x0303 src port of the container → eth0
 *   container lo       0x0202 ICMP to the host IP / 127.0.0.1 → stays, 0x0301 its own ports → stays,
 *                      0x0302 to the host IP / 127.0.0.1 → its eth0 (towards the host and the others)
 *   container eth0     0x0302 to 127.0.0.1 and its own ports → its lo
 * where b is the first port of the container's ephemeral block / 16 (unique while it lives) and s a slot
 * that flips on update, so that a container's filters are replaced by adding the new set
 * before deleting the old one, and removed with one request per link.
 *
 * State lives in the kernel: the host end of the veth is `<prefix><pid>` and carries the
 * container id and its ephemeral block in its alias, so recovery after an agent restart reads
 * the links. Teardown: a container's filters are deleted at cleanup; its veth goes with its
 * namespace, and any host end still there is moved to a link group that is deleted in batches.
 *
 * Egress limit: HTB (class 1:1 at the limit) with a pfifo leaf on the container's eth0 (this
 * kernel has no fq_codel). Ingress limit (beyond Mesos 0.23): the same on the host veth.
 */
import { readFile } from 'node:fs/promises';
import { CorralError, describeError } from '../../../common/errors.ts';
import type { Logger } from '../../../common/log.ts';
import type { Resources } from '../../../common/resources/index.ts';
import {
  ETH_P_ARP,
  ETH_P_IP,
  INGRESS_HANDLE,
  TC_ACT_CONTINUE,
  TC_ACT_PIPE,
  TC_ACT_STOLEN,
  TC_H_INGRESS,
  TC_H_ROOT,
  applyNetSteps,
  applyNetStepsAsync,
  createNetnsAsync,
  listNetns,
  netnsPath,
  removeNetns,
  defaultRoute,
  deleteLinkGroup,
  freshNetnsSysctls,
  ipv4Addresses,
  ipv4Keys,
  isSameProcess,
  listFilters,
  listLinks,
  listQdiscsAsync,
  portBlocks,
  readProcStat,
  readSysctl,
  requireFeature,
  tcHandle,
  tcpRoundTripTimesAsync,
  type LinkInfo,
  type NetStep,
  type PortBlock,
  type TcAction,
} from '../../../linux/index.ts';
import type { ContainerConfig, Isolator, LaunchRequirements, RecoveredContainer, Statistics, TrafficControlStatistics } from '../isolator.ts';

/** An inclusive port interval. */
export interface PortInterval {
  readonly begin: number;
  readonly end: number;
}

export interface PortMappingOptions {
  /** `--eth0_name` (default: the link of the default route). */
  readonly eth0Name?: string;
  /** `--lo_name` (default: the loopback link). */
  readonly loName?: string;
  /** The agent's `ports` resource: the non-ephemeral pool. */
  readonly ports: readonly PortInterval[];
  /** The agent's `ephemeral_ports` resource: the pool split between containers. */
  readonly ephemeralPorts: readonly PortInterval[];
  /** `--ephemeral_ports_per_container`: a power of two, at least 16. */
  readonly ephemeralPortsPerContainer: number;
  /** `--egress_rate_limit_per_container`, bytes/s (absent or 0: none). */
  readonly egressRateLimit?: number;
  /** `--ingress_rate_limit_per_container`, bytes/s (absent or 0: none). */
  readonly ingressRateLimit?: number;
  /** `--network_enable_socket_statistics_summary`. */
  readonly socketStatisticsSummary?: boolean;
  /** `--network_enable_socket_statistics_details`: TCP round-trip-time percentiles. */
  readonly socketStatisticsDetails?: boolean;
  /** Host ends of the veths are `<vethPrefix><pid>` (default `corral`). */
  readonly vethPrefix?: string;
  /** The link group host ends wait in to be deleted together (default 0x636f7272). */
  readonly doomedGroup?: number;
  /**
   * `--network_warm_namespaces` (not in Mesos; default 0): network namespaces kept ready, made
   * ahead with their veth and everything that does not depend on a container's ports, so that
   * a launch only adds its port filters. Their veths (`<prefix>w<n>`, down) stay on the host
   * while they wait.
   */
  readonly warmNamespaces?: number;
  readonly logger?: Logger;
}

const ALIAS_PREFIX = 'corral-container';
/** ICMP echo requests to the host's address: the host's alone (every container holds that address too). */
const PRIO_ECHO_HOST = 0x00ff;
const PRIO_ARP = 0x0100;
const PRIO_ICMP = 0x0200;
const PRIO_ICMP_PASS = 0x0300;
const PRIO_VETH_ARP = 0x0102;
const PRIO_VETH_ICMP = 0x0202;
const PRIO_HIGH = 0x0301;
const PRIO_NORMAL = 0x0302;
const PRIO_LOW = 0x0303;
const PRIO_CONTAINERS = 0x1000;
const ICMP = 1;
const LOCALHOST = '127.0.0.1';
/** Most actions the kernel takes in one filter (TCA_ACT_MAX_PRIO). */
const ACTIONS_PER_FILTER = 32;
/** Chunks of copies: two priorities each (slots), within 0x0100-0x01ff and 0x0200-0x02ff. */
const MAX_CHUNKS = 64;
/**
 * Sysctls a container copies from the host (as in Mesos): those a network namespace has
 * its own copy of. Mesos's list also names net.core.{netdev_max_backlog,rmem_max,wmem_max} and
 * the neighbour-table thresholds, which are global on current kernels (a namespace cannot set
 * them), so they are left out.
 */
const COPIED_SYSCTLS = [
  'net/core/somaxconn',
  'net/ipv4/tcp_keepalive_time',
  'net/ipv4/tcp_keepalive_intvl',
  'net/ipv4/tcp_keepalive_probes',
  'net/ipv4/tcp_max_syn_backlog',
  'net/ipv4/tcp_rmem',
  'net/ipv4/tcp_wmem',
  'net/ipv4/tcp_retries2',
  'net/ipv4/tcp_synack_retries',
  'net/ipv4/tcp_ecn',
];

interface Host {
  readonly eth0: string;
  readonly lo: string;
  readonly mac: string;
  readonly mtu: number;
  readonly ip: string;
  readonly prefix: number;
  readonly gateway?: string;
  readonly ipv6: boolean;
  readonly sysctls: readonly (readonly [string, string])[];
}

interface NetContainer {
  readonly containerId: string;
  readonly pid: number;
  readonly veth: string;
  readonly ephemeral: PortBlock;
  ports: PortInterval[];
  slot: 0 | 1;
  /** Its namespace's pin (a warm one), until the command holds it. */
  warm?: Warm | undefined;
}

/** A network namespace made ahead: pinned at /run/netns/<name>, its veth's host end `veth`. */
interface Warm {
  readonly name: string;
  readonly veth: string;
}

interface Pending {
  readonly ephemeral: PortBlock;
  readonly ports: PortInterval[];
  readonly warm?: Warm;
}

function overlaps(a: PortInterval, b: PortInterval): boolean {
  return a.begin <= b.end && b.begin <= a.end;
}

function intervalText(r: PortInterval): string {
  return `[${r.begin}-${r.end}]`;
}

function invalid(field: string, message: string): CorralError {
  return new CorralError('INVALID', `${field}: ${message}`, { field });
}

/**
 * Check the options against each other and against the host's own ephemeral range
 * (`net.ipv4.ip_local_port_range`, "low high"). Throws CorralError INVALID naming the flag.
 */
export function validatePortMappingOptions(o: PortMappingOptions, hostLocalPortRange?: string): void {
  const n = o.ephemeralPortsPerContainer;
  if (!Number.isInteger(n) || n < 16 || (n & (n - 1)) !== 0) {
    throw invalid('--ephemeral_ports_per_container', `${n} is not a power of 2 of at least 16`);
  }
  if (o.ephemeralPorts.length === 0) {
    throw invalid('--resources', 'network/port_mapping needs an ephemeral_ports resource, e.g. ephemeral_ports:[32768-57343]');
  }
  const pool = o.ephemeralPorts.reduce((s, r) => s + r.end - r.begin + 1, 0);
  if (n > pool) throw invalid('--ephemeral_ports_per_container', `${n} is more than the ${pool} ports of ephemeral_ports`);
  const blocks = o.ephemeralPorts.reduce((s, r) => s + Math.max(0, Math.floor((r.end + 1) / n) - Math.ceil(r.begin / n)), 0);
  if (blocks === 0) {
    throw invalid('--ephemeral_ports_per_container', `no block of ${n} ports starting at a multiple of ${n} fits in ephemeral_ports`);
  }
  for (const e of o.ephemeralPorts) {
    if (e.begin < 1024) throw invalid('--resources', `ephemeral_ports ${intervalText(e)} overlaps the well-known ports [0-1023]`);
    for (const p of o.ports) {
      if (overlaps(e, p)) throw invalid('--resources', `ephemeral_ports ${intervalText(e)} overlaps ports ${intervalText(p)}`);
    }
    if (hostLocalPortRange) {
      const [lo, hi] = hostLocalPortRange.trim().split(/\s+/).map(Number);
      if (lo !== undefined && hi !== undefined && overlaps(e, { begin: lo, end: hi })) {
        throw invalid(
          '--resources',
          `ephemeral_ports ${intervalText(e)} overlaps the host's own ephemeral ports [${lo}-${hi}] (net.ipv4.ip_local_port_range): shrink one of them`,
        );
      }
    }
  }
  for (const [flag, v] of [['--egress_rate_limit_per_container', o.egressRateLimit], ['--ingress_rate_limit_per_container', o.ingressRateLimit]] as const) {
    if (v !== undefined && (!Number.isFinite(v) || v < 0)) throw invalid(flag, `${v} is not a rate in bytes/s`);
    if (v !== undefined && v > 2 ** 38) throw invalid(flag, `${v} bytes/s is more than a link can carry`);
  }
}

/** The `ports` ranges of a resource set, as intervals. */
function portsOf(resources: Resources): PortInterval[] {
  return resources.ranges('ports').map((r) => ({ begin: r.begin, end: r.end }));
}

export class PortMappingIsolator implements Isolator {
  readonly name = 'network/port_mapping';
  private readonly prefix: string;
  private readonly doomedGroup: number;
  private host: Host | undefined;
  private readonly containers = new Map<string, NetContainer>();
  private readonly pending = new Map<string, Pending>();
  private readonly usedBlocks = new Set<number>();
  /** The containers' veths in chunks of at most ACTIONS_PER_FILTER, each with its own filters. */
  private readonly chunks: string[][] = [];
  /** Each chunk's filter slot (0/1), or absent when it has no filters. */
  private readonly chunkSlot = new Map<number, 0 | 1>();
  /** Rewrites of the ARP/ICMP copies, one at a time. */
  private mirrorChain: Promise<void> = Promise.resolve();
  private linkCache: { at: number; links: Map<string, LinkInfo> } | undefined;
  private deleteTimer: NodeJS.Timeout | undefined;
  private readonly warm: Warm[] = [];
  private warmSeq = 0;
  private refilling: Promise<void> | undefined;
  /** close() was called: no namespace is made ahead any more. */
  private closed = false;
  private deleting: Promise<void> = Promise.resolve();

  constructor(private readonly opts: PortMappingOptions) {
    requireFeature('networkIsolator');
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new CorralError('ISOLATION_UNAVAILABLE', 'network/port_mapping needs root (network namespaces, veths, traffic control)', { field: '--isolation' });
    }
    this.prefix = opts.vethPrefix ?? 'corral';
    this.doomedGroup = opts.doomedGroup ?? 0x636f7272;
    this.host = this.prepareHost();
    this.removeStaleWarm();
  }

  // ---- namespaces made ahead (--network_warm_namespaces) ----

  /**
   * Namespaces made ahead are named `<prefix>-warm-<pid>-<start time>-<n>`: the agent's pid and
   * its start time (clock ticks since boot), so that neither an agent that is pid 1 of its own
   * pid namespace at every start nor a later process given a dead agent's pid keeps a dead
   * agent's namespaces alive.
   */
  private readonly warmTag = `${process.pid}-${readProcStat(process.pid)?.startTime ?? 0}`;

  /** Warm namespaces of agents that are gone (their veths go with them). */
  private removeStaleWarm(): void {
    const re = new RegExp(`^${this.prefix}-warm-(\\d+)-(\\d+)-\\d+$`);
    for (const name of listNetns()) {
      const m = re.exec(name);
      if (!m) continue;
      const [pid, start] = [Number(m[1]), Number(m[2])];
      if (`${pid}-${start}` === this.warmTag || (pid !== process.pid && isSameProcess(pid, start))) continue; // ours, or a live agent's
      this.unpinName(name);
    }
  }

  private unpinName(name: string): void {
    try {
      removeNetns(name);
    } catch (e) {
      this.opts.logger?.warn({ netns: name, err: describeError(e) }, 'network/port_mapping: unpinning a namespace failed');
    }
  }

  /** Make one namespace with everything that does not depend on a container's ports. */
  private async makeWarm(): Promise<Warm> {
    const h = this.init();
    const taken = this.links(); // a container of an earlier run may hold a name (a dump at most 100 ms old)
    while (taken.has(`${this.prefix}w${this.warmSeq}`)) this.warmSeq++;
    let seq = this.warmSeq++;
    let w: Warm = { name: `${this.prefix}-warm-${this.warmTag}-${seq}`, veth: `${this.prefix}w${seq}` };
    // A name already pinned is somebody's: never configure a namespace this run did not make.
    while (!(await createNetnsAsync(w.name))) {
      while (taken.has(`${this.prefix}w${this.warmSeq}`)) this.warmSeq++;
      seq = this.warmSeq++;
      w = { name: `${this.prefix}-warm-${this.warmTag}-${seq}`, veth: `${this.prefix}w${seq}` };
    }
    try {
      await applyNetStepsAsync({ netns: w.name }, this.staticSteps(h, w.veth));
    } catch (e) {
      this.unpinName(w.name);
      throw e;
    }
    return w;
  }

  /**
   * Make the namespaces kept ready (--network_warm_namespaces), in the background; resolves
   * once they are there. The agent starts this (ready()) once recovery is done and it goes on
   * serving; each container, once isolated, and each cleanup top them up.
   */
  fillWarm(): Promise<void> {
    this.refill();
    return this.refilling ?? Promise.resolve();
  }

  ready(): void {
    void this.fillWarm();
  }

  private refill(): void {
    const target = this.opts.warmNamespaces ?? 0;
    if (this.closed || this.refilling || this.warm.length >= target) return;
    this.refilling = (async () => {
      try {
        while (!this.closed && this.warm.length < target) this.warm.push(await this.makeWarm());
      } catch (e) {
        this.opts.logger?.warn({ err: describeError(e) }, 'network/port_mapping: making a network namespace ahead failed');
      } finally {
        this.refilling = undefined;
      }
    })();
  }

  /** Unpin the namespaces kept ready (their veths go with them): agent shutdown, tests. */
  async close(): Promise<void> {
    // A refill queued by a launch just before (it runs after the launch) must not make more.
    this.closed = true;
    await this.refilling;
    for (const w of this.warm.splice(0)) this.unpinName(w.name);
  }

  private init(): Host {
    return this.host!;
  }

  /** Learn the host's links and addresses and prepare them, once, at start-up. */
  private prepareHost(): Host {
    validatePortMappingOptions(this.opts, readSysctl('net/ipv4/ip_local_port_range'));
    const links = listLinks();
    const route = defaultRoute();
    const eth0 = this.opts.eth0Name ?? route?.link;
    if (!eth0) throw invalid('--eth0_name', 'no default route to guess the public interface from: give --eth0_name');
    const eth0Link = links.find((l) => l.name === eth0);
    if (!eth0Link) throw invalid('--eth0_name', `no link named '${eth0}'`);
    const lo = this.opts.loName ?? links.find((l) => l.loopback)?.name;
    if (!lo || !links.some((l) => l.name === lo)) throw invalid('--lo_name', `no loopback link${lo ? ` named '${lo}'` : ''}`);
    const addr = ipv4Addresses(eth0)[0];
    if (!addr) throw invalid('--eth0_name', `'${eth0}' has no IPv4 address`);
    if (readSysctl(`net/ipv4/conf/${lo}/route_localnet`) === undefined) {
      throw new CorralError('ISOLATION_UNAVAILABLE', 'network/port_mapping needs net.ipv4.conf.<lo>.route_localnet (Linux 3.6 or later)');
    }
    // Copied only where a new namespace would start with something else.
    const fresh = freshNetnsSysctls(COPIED_SYSCTLS);
    const sysctls: [string, string][] = [];
    COPIED_SYSCTLS.forEach((path, i) => {
      const v = readSysctl(path)?.replace(/\s+/g, ' ');
      if (v !== undefined && fresh[i] !== undefined && v !== fresh[i]) sysctls.push([path, v]);
    });
    const host: Host = {
      eth0,
      lo,
      mac: eth0Link.mac,
      mtu: eth0Link.mtu,
      ip: addr.address,
      prefix: addr.prefix,
      ...(route?.link === eth0 && route.gateway ? { gateway: route.gateway } : {}),
      ipv6: readSysctl('net/ipv6/conf/all/disable_ipv6') !== undefined,
      sysctls,
    };
    applyNetSteps({}, [
      { kind: 'linkSet', link: lo, mac: host.mac, mtu: host.mtu },
      { kind: 'qdiscAdd', link: eth0, qdiscKind: 'ingress', parent: TC_H_INGRESS, handle: INGRESS_HANDLE, ignoreExists: true },
      { kind: 'qdiscAdd', link: lo, qdiscKind: 'ingress', parent: TC_H_INGRESS, handle: INGRESS_HANDLE, ignoreExists: true },
      { kind: 'sysctl', path: `net/ipv4/conf/${lo}/route_localnet`, value: '1' },
      { kind: 'sysctl', path: 'net/ipv4/conf/all/rp_filter', value: '0' },
      { kind: 'sysctl', path: `net/ipv4/conf/${lo}/rp_filter`, value: '0' },
      { kind: 'sysctl', path: 'net/ipv4/conf/all/send_redirects', value: '0' },
      { kind: 'sysctl', path: `net/ipv4/conf/${lo}/send_redirects`, value: '0' },
      { kind: 'sysctl', path: `net/ipv4/conf/${lo}/accept_local`, value: '1' },
      // Echo requests to the host are answered by the host alone (made afresh).
      { kind: 'filtersDelete', link: eth0, parent: INGRESS_HANDLE, prio: PRIO_ECHO_HOST, protocol: ETH_P_IP, ignoreMissing: true },
      { kind: 'filterAdd', link: eth0, parent: INGRESS_HANDLE, prio: PRIO_ECHO_HOST, protocol: ETH_P_IP, keys: ipv4Keys({ ipProtocol: ICMP, dstIp: addr.address, icmpType: 8 }), terminal: true },
      // The pass filter that ends ICMP classification after the mirrors (made afresh).
      { kind: 'filtersDelete', link: eth0, parent: INGRESS_HANDLE, prio: PRIO_ICMP_PASS, protocol: ETH_P_IP, ignoreMissing: true },
      { kind: 'filterAdd', link: eth0, parent: INGRESS_HANDLE, prio: PRIO_ICMP_PASS, protocol: ETH_P_IP, keys: ipv4Keys({ ipProtocol: ICMP, dstIp: addr.address }), terminal: true },
    ]);
    return host;
  }

  private allocateBlock(): PortBlock {
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

  /**
   * The blocks of the current size that `b` covers: itself, or, for a container recovered from
   * a run with another --ephemeral_ports_per_container, every block it overlaps.
   */
  private blockBases(b: PortBlock): number[] {
    const size = this.opts.ephemeralPortsPerContainer;
    const out: number[] = [];
    for (let base = Math.floor(b.base / size) * size; base < b.base + b.size; base += size) out.push(base);
    return out;
  }

  private checkPorts(ports: readonly PortInterval[]): void {
    for (const p of ports) {
      if (!this.opts.ports.some((pool) => pool.begin <= p.begin && p.end <= pool.end)) {
        throw new CorralError('INVALID', `network/port_mapping: ports ${intervalText(p)} are not inside the agent's ports resource`, { field: 'resources' });
      }
    }
  }

  async prepare(config: ContainerConfig): Promise<LaunchRequirements> {
    this.init();
    const ports = portsOf(config.resources);
    this.checkPorts(ports);
    const ephemeral = this.allocateBlock();
    // A namespace made ahead if one is ready; else the command gets a new one as it starts (a
    // namespace made now, on the launch's path, would cost more than that).
    const warm = this.warm.shift();
    if (!warm) {
      this.pending.set(config.containerId, { ephemeral, ports });
      return { namespaces: ['net'] };
    }
    this.pending.set(config.containerId, { ephemeral, ports, warm });
    return { netns: netnsPath(warm.name) };
  }

  private prio(c: { ephemeral: PortBlock }, slot: 0 | 1): number {
    return PRIO_CONTAINERS + Math.floor(c.ephemeral.base / 16) * 2 + slot;
  }

  private blocks(c: { ephemeral: PortBlock; ports: readonly PortInterval[] }): PortBlock[] {
    return [c.ephemeral, ...c.ports.flatMap((p) => portBlocks(p.begin, p.end))];
  }

  /** Host eth0 and lo filters of a container, at priority slot `slot`. */
  private hostPortFilters(h: Host, c: NetContainer, slot: 0 | 1): NetStep[] {
    const prio = this.prio(c, slot);
    const to: TcAction[] = [{ kind: 'redirect', dev: c.veth, control: TC_ACT_STOLEN }];
    return this.blocks(c).flatMap((b): NetStep[] => [
      { kind: 'filterAdd', link: h.eth0, parent: INGRESS_HANDLE, prio, protocol: ETH_P_IP, keys: ipv4Keys({ dstMac: h.mac, dstIp: h.ip, dstPorts: b }), terminal: true, actions: to },
      { kind: 'filterAdd', link: h.lo, parent: INGRESS_HANDLE, prio, protocol: ETH_P_IP, keys: ipv4Keys({ dstPorts: b }), terminal: true, actions: to },
    ]);
  }

  private deleteHostPortFilters(h: Host, c: NetContainer, slot: 0 | 1): NetStep[] {
    const prio = this.prio(c, slot);
    return [h.eth0, h.lo].map((link): NetStep => ({ kind: 'filtersDelete', link, parent: INGRESS_HANDLE, prio, protocol: ETH_P_IP, ignoreMissing: true }));
  }

  /** Source-port filters on the host veth: to lo (the host and the other containers) or out. */
  private vethPortFilters(h: Host, c: NetContainer): NetStep[] {
    const toLo: TcAction[] = [{ kind: 'redirect', dev: h.lo, control: TC_ACT_STOLEN }];
    const toEth0: TcAction[] = [{ kind: 'redirect', dev: h.eth0, control: TC_ACT_STOLEN }];
    return this.blocks(c).flatMap((b): NetStep[] => [
      { kind: 'filterAdd', link: c.veth, parent: INGRESS_HANDLE, prio: PRIO_NORMAL, protocol: ETH_P_IP, keys: ipv4Keys({ dstIp: h.ip, srcPorts: b }), terminal: true, actions: toLo },
      { kind: 'filterAdd', link: c.veth, parent: INGRESS_HANDLE, prio: PRIO_NORMAL, protocol: ETH_P_IP, keys: ipv4Keys({ dstIp: LOCALHOST, srcPorts: b }), terminal: true, actions: toLo },
      { kind: 'filterAdd', link: c.veth, parent: INGRESS_HANDLE, prio: PRIO_LOW, protocol: ETH_P_IP, keys: ipv4Keys({ srcPorts: b }), terminal: true, actions: toEth0 },
    ]);
  }

  /** Inside the container: its own ports stay local; the rest of localhost goes to the host. */
  private containerPortFilters(h: Host, c: NetContainer): NetStep[] {
    return this.blocks(c).flatMap((b): NetStep[] => [
      { kind: 'filterAdd', inNetns: true, link: h.lo, parent: INGRESS_HANDLE, prio: PRIO_HIGH, protocol: ETH_P_IP, keys: ipv4Keys({ dstPorts: b }), terminal: true },
      { kind: 'filterAdd', inNetns: true, link: h.eth0, parent: INGRESS_HANDLE, prio: PRIO_NORMAL, protocol: ETH_P_IP, keys: ipv4Keys({ dstIp: LOCALHOST, dstPorts: b }), terminal: true,
        actions: [{ kind: 'redirect', dev: h.lo, control: TC_ACT_STOLEN }] },
    ]);
  }

  /** HTB at `rate` bytes/s with a pfifo leaf at the root of `link`. */
  private limitSteps(link: string, rate: number, inNetns: boolean): NetStep[] {
    // A burst of at least 64 KiB (one GSO packet) or 10 ms; a queue of about 100 ms.
    const burst = Math.max(64 * 1024, Math.round(rate / 100));
    const limit = Math.max(64, Math.round((rate / 10) / Math.max(this.host?.mtu ?? 1500, 576)));
    return [
      { kind: 'qdiscAdd', inNetns, link, qdiscKind: 'htb', parent: TC_H_ROOT, handle: tcHandle(1, 0), htbDefault: 1 },
      { kind: 'classAdd', inNetns, link, parent: tcHandle(1, 0), handle: tcHandle(1, 1), rate, burst },
      { kind: 'qdiscAdd', inNetns, link, qdiscKind: 'pfifo', parent: tcHandle(1, 1), handle: tcHandle(2, 0), limit },
    ];
  }

  /**
   * What a container's network needs whatever its ports, with the veth's peer made directly in
   * the container's namespace, named like the host's public link. The host end stays down.
   * `portNs` (the port steps inside the container) joins the one run of steps in the namespace;
   * qdiscs go on before the links come up (a qdisc grafted on a link that is up waits for the
   * link's traffic to stop).
   */
  private staticSteps(h: Host, veth: string, portNs: readonly NetStep[] = []): NetStep[] {
    const inNs = (s: NetStep): NetStep => ({ ...s, inNetns: true });
    return [
      { kind: 'vethAdd', link: veth, peer: h.eth0, peerInNetns: true, mac: h.mac, peerMac: h.mac, mtu: h.mtu },
      // Inside the container.
      ...(h.ipv6 ? [inNs({ kind: 'sysctl', path: 'net/ipv6/conf/all/disable_ipv6', value: '1' })] : []),
      inNs({ kind: 'sysctl', path: `net/ipv4/conf/${h.eth0}/accept_local`, value: '1' }),
      inNs({ kind: 'sysctl', path: `net/ipv4/conf/${h.lo}/accept_local`, value: '1' }),
      inNs({ kind: 'sysctl', path: `net/ipv4/conf/${h.lo}/route_localnet`, value: '1' }),
      // Copies of the host's values, where the namespace has its own (the global ones are refused).
      ...h.sysctls.map(([path, value]) => inNs({ kind: 'sysctl', path, value, ignoreMissing: true })),
      inNs({ kind: 'qdiscAdd', link: h.lo, qdiscKind: 'ingress', parent: TC_H_INGRESS, handle: INGRESS_HANDLE }),
      inNs({ kind: 'qdiscAdd', link: h.eth0, qdiscKind: 'ingress', parent: TC_H_INGRESS, handle: INGRESS_HANDLE }),
      ...(this.opts.egressRateLimit ? this.limitSteps(h.eth0, this.opts.egressRateLimit, true) : []),
      ...[h.ip, LOCALHOST].map((dstIp) =>
        inNs({ kind: 'filterAdd', link: h.lo, parent: INGRESS_HANDLE, prio: PRIO_VETH_ICMP, protocol: ETH_P_IP, keys: ipv4Keys({ ipProtocol: ICMP, dstIp }), terminal: true }),
      ),
      ...[h.ip, LOCALHOST].map((dstIp) =>
        inNs({ kind: 'filterAdd', link: h.lo, parent: INGRESS_HANDLE, prio: PRIO_NORMAL, protocol: ETH_P_IP, keys: ipv4Keys({ dstIp }), terminal: true,
          actions: [{ kind: 'redirect', dev: h.eth0, control: TC_ACT_STOLEN }] }),
      ),
      ...portNs,
      inNs({ kind: 'linkSet', link: h.lo, mac: h.mac, mtu: h.mtu, up: true }),
      inNs({ kind: 'linkSet', link: h.eth0, up: true }),
      inNs({ kind: 'addrAdd', link: h.eth0, address: h.ip, prefix: h.prefix }),
      ...(h.gateway ? [inNs({ kind: 'routeAdd', link: h.eth0, gateway: h.gateway })] : []),
      // The host side.
      ...(h.ipv6 ? [{ kind: 'sysctl', path: `net/ipv6/conf/${veth}/disable_ipv6`, value: '1', ignoreMissing: true } as NetStep] : []),
      { kind: 'qdiscAdd', link: veth, qdiscKind: 'ingress', parent: TC_H_INGRESS, handle: INGRESS_HANDLE },
      ...(this.opts.ingressRateLimit ? this.limitSteps(veth, this.opts.ingressRateLimit, false) : []),
      { kind: 'filterAdd', link: veth, parent: INGRESS_HANDLE, prio: PRIO_VETH_ARP, protocol: ETH_P_ARP, keys: [], terminal: true,
        actions: [{ kind: 'redirect', dev: h.eth0, control: TC_ACT_STOLEN }] },
      { kind: 'filterAdd', link: veth, parent: INGRESS_HANDLE, prio: PRIO_VETH_ICMP, protocol: ETH_P_IP, keys: ipv4Keys({ ipProtocol: ICMP }), terminal: true,
        actions: [{ kind: 'redirect', dev: h.eth0, control: TC_ACT_STOLEN }] },
    ];
  }

  /** The port steps inside the container: its ephemeral range and its port filters. */
  private portNsSteps(h: Host, c: NetContainer): NetStep[] {
    const e = c.ephemeral;
    return [
      { kind: 'sysctl', inNetns: true, path: 'net/ipv4/ip_local_port_range', value: `${e.base} ${e.base + e.size - 1}` },
      ...this.containerPortFilters(h, c),
    ];
  }

  /** The port steps on the host, ending with the container's veth brought up. */
  private portHostSteps(h: Host, c: NetContainer): NetStep[] {
    const e = c.ephemeral;
    return [
      // The veth carries the container's id and block: recovery reads them back from the kernel.
      { kind: 'linkSet', link: c.veth, alias: `${ALIAS_PREFIX} ${c.containerId} ${e.base}/${e.size}` },
      // The veth's filters first, then eth0 and lo (recovery finds containers by their veth).
      ...this.vethPortFilters(h, c),
      ...this.hostPortFilters(h, c, 0),
      { kind: 'linkSet', link: c.veth, up: true },
    ];
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
      ...this.deleteHostPortFilters(h, c, 0),
      ...this.deleteHostPortFilters(h, c, 1),
      // One run of steps inside the container's namespace (a run costs a thread).
      ...(c.warm ? this.portNsSteps(h, c) : this.staticSteps(h, c.veth, this.portNsSteps(h, c))),
      ...this.portHostSteps(h, c),
    ];
    // One crossing: the container's network and its chunk of copies rewritten to include it.
    await this.refreshMirrors(h, () => this.joinChunk(c.veth), c.warm ? { netns: c.warm.name } : { pid }, steps);
    // The command's processes hold a warm namespace from now on: unpin it; and make the next
    // one; both off the launch's path (a namespace made during it would hold up its steps).
    setImmediate(() => {
      if (c.warm) this.unpin(c);
      this.refill();
    });
  }

  private unpin(c: NetContainer): void {
    const w = c.warm;
    if (!w) return;
    c.warm = undefined;
    this.unpinName(w.name);
  }

  /** The chunk a new veth goes in: the first with room. */
  private joinChunk(veth: string): number {
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

  private leaveChunk(veth: string): number | undefined {
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
  private refreshMirrors(h: Host, pick: () => number | undefined, target: { pid?: number; netns?: string } = {}, before: readonly NetStep[] = []): Promise<void> {
    const run = this.mirrorChain.then(async () => {
      const k = pick();
      if (k === undefined) {
        if (before.length > 0) await applyNetStepsAsync(target, before);
        return;
      }
      await this.installChunk(h, k, target, before);
    });
    this.mirrorChain = run.catch(() => undefined);
    return run;
  }

  /**
   * A chunk's ARP and ICMP copies: the new set is added in the chunk's other slot before the
   * old one goes (no moment without them). Each copy lets the packet go on (PIPE); the last of a
   * filter lets classification go on to the next chunk (CONTINUE), so the host keeps its own
   * copy in the end. A member whose veth is already gone (its container ended, not cleaned up
   * yet) is left out. A failed rewrite changes nothing recorded: the next one clears the slot it
   * writes first.
   */
  private async installChunk(h: Host, k: number, target: { pid?: number; netns?: string }, before: readonly NetStep[]): Promise<void> {
    const members = this.chunks[k] ?? [];
    const old = this.chunkSlot.get(k);
    const next: 0 | 1 = old === 0 ? 1 : 0;
    const steps: NetStep[] = [...before, ...this.dropChunk(h, 2 * k + next)];
    if (members.length > 0) {
      const actions = members.map((dev, j): TcAction => ({ kind: 'mirror', dev, control: j === members.length - 1 ? TC_ACT_CONTINUE : TC_ACT_PIPE }));
      steps.push(
        { kind: 'filterAdd', link: h.eth0, parent: INGRESS_HANDLE, prio: PRIO_ARP + 2 * k + next, protocol: ETH_P_ARP, keys: [], terminal: true, actions, skipMissingTargets: true },
        { kind: 'filterAdd', link: h.eth0, parent: INGRESS_HANDLE, prio: PRIO_ICMP + 2 * k + next, protocol: ETH_P_IP, keys: ipv4Keys({ ipProtocol: ICMP, dstIp: h.ip }), terminal: true, actions, skipMissingTargets: true },
      );
    }
    if (old !== undefined) steps.push(...this.dropChunk(h, 2 * k + old));
    await applyNetStepsAsync(target, steps);
    if (members.length > 0) this.chunkSlot.set(k, next);
    else this.chunkSlot.delete(k);
  }

  private dropChunk(h: Host, offset: number): NetStep[] {
    return [
      { kind: 'filtersDelete', link: h.eth0, parent: INGRESS_HANDLE, prio: PRIO_ARP + offset, protocol: ETH_P_ARP, ignoreMissing: true },
      { kind: 'filtersDelete', link: h.eth0, parent: INGRESS_HANDLE, prio: PRIO_ICMP + offset, protocol: ETH_P_IP, ignoreMissing: true },
    ];
  }

  async update(containerId: string, resources: Resources): Promise<void> {
    const c = this.containers.get(containerId);
    if (!c) return;
    const ports = portsOf(resources);
    this.checkPorts(ports);
    if (JSON.stringify(ports) === JSON.stringify(c.ports)) return;
    const h = this.init();
    // Queued with the other rewrites; the record changes only once the kernel has the new set.
    const run = this.mirrorChain.then(async () => {
      const next: NetContainer = { ...c, ports };
      const newSlot: 0 | 1 = c.slot === 0 ? 1 : 0;
      await applyNetStepsAsync({ pid: c.pid }, [
        ...this.deleteHostPortFilters(h, next, newSlot), // left by an earlier failed attempt
        ...this.hostPortFilters(h, next, newSlot),
        ...this.deleteHostPortFilters(h, c, c.slot),
        ...[PRIO_NORMAL, PRIO_LOW].map((prio): NetStep => ({ kind: 'filtersDelete', link: c.veth, parent: INGRESS_HANDLE, prio, protocol: ETH_P_IP, ignoreMissing: true })),
        ...this.vethPortFilters(h, next),
        { kind: 'filtersDelete', inNetns: true, link: h.lo, parent: INGRESS_HANDLE, prio: PRIO_HIGH, protocol: ETH_P_IP, ignoreMissing: true },
        { kind: 'filtersDelete', inNetns: true, link: h.eth0, parent: INGRESS_HANDLE, prio: PRIO_NORMAL, protocol: ETH_P_IP, ignoreMissing: true },
        ...this.containerPortFilters(h, next),
      ]);
      c.ports = ports;
      c.slot = newSlot;
    });
    this.mirrorChain = run.catch(() => undefined);
    return run;
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
      if (q) tc.push({ id, backlog: q.backlog, bytes: q.bytes, drops: q.drops, overlimits: q.overlimits, packets: q.packets, qlen: q.qlen, ratebps: 0, ratepps: 0, requeues: q.requeues });
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
      this.usedBlocks.delete(p.ephemeral.base);
      if (p.warm) {
        this.unpinName(p.warm.name); // its veth goes with it
        setImmediate(() => this.refill()); // a launch that failed before isolate took one
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
    await attempt('removing its eth0/lo filters', () => applyNetStepsAsync({}, [...this.deleteHostPortFilters(h, c, 0), ...this.deleteHostPortFilters(h, c, 1)]));
    // (A later holder of the block clears its priorities first, should this have failed.)
    for (const base of this.blockBases(c.ephemeral)) this.usedBlocks.delete(base);
    await attempt('rewriting the ARP/ICMP copies', () => this.refreshMirrors(h, () => this.leaveChunk(c.veth)));
    // The veth goes with the namespace; a host end still here waits in the doomed group.
    await attempt('moving its veth to the deletion group', () =>
      applyNetStepsAsync({}, [{ kind: 'linkSet', link: c.veth, up: false, group: this.doomedGroup, ignoreMissing: true }]),
    );
    this.linkCache = undefined;
    this.scheduleDeletion();
    if (errors.length > 0) {
      throw new CorralError('ISOLATOR_FAILED', `network/port_mapping: cleanup of ${c.containerId}: ${errors.join('; ')}`);
    }
  }

  /** Delete the doomed group soon, once for all the cleanups of the next few milliseconds. */
  private scheduleDeletion(): void {
    if (this.deleteTimer) return;
    this.deleteTimer = setTimeout(() => {
      this.deleteTimer = undefined;
      this.deleting = this.deleting
        .then(async () => {
          // Usually nothing is left: a veth goes with its namespace when the container's last process ends.
          await deleteLinkGroup(this.doomedGroup);
        })
        .catch((e) => this.opts.logger?.warn({ err: describeError(e) }, 'network/port_mapping: deleting veths failed'));
    }, 10);
    this.deleteTimer.unref();
  }

  /** Resolves when the veths of cleaned-up containers are deleted (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.deleteTimer) await new Promise((r) => setTimeout(r, 5));
    await this.deleting;
  }

  async recover(recovered: readonly RecoveredContainer[]): Promise<void> {
    const h = this.init();
    // A namespace being made ahead has a veth without an alias yet: let it finish, so that it is
    // kept rather than taken for a leftover.
    await this.refilling;
    const byId = new Map(recovered.map((r) => [r.containerId, r]));
    const kept = new Set(this.warm.map((w) => w.veth));
    const ours = listLinks().filter((l) => new RegExp(`^${this.prefix}w?\\d+$`).test(l.name) && !kept.has(l.name));
    const orphans: NetContainer[] = [];
    for (const l of ours) {
      const m = new RegExp(`^${ALIAS_PREFIX} (\\S+) (\\d+)/(\\d+)$`).exec(l.alias);
      const warmVeth = l.name.startsWith(`${this.prefix}w`);
      const pid = warmVeth ? (byId.get(m?.[1] ?? '')?.pid ?? 0) : Number(l.name.slice(this.prefix.length));
      if (!m) {
        // Made by a run that died before it named it: nothing else refers to it.
        orphans.push({ containerId: `unknown-${l.name}`, pid, veth: l.name, ephemeral: { base: 0, size: 0 }, ports: [], slot: 0 });
        continue;
      }
      const c: NetContainer = { containerId: m[1]!, pid, veth: l.name, ephemeral: { base: Number(m[2]), size: Number(m[3]) }, ports: [], slot: 0 };
      const r = byId.get(c.containerId);
      if (r && (r.pid === undefined || r.pid === pid || warmVeth)) {
        if (r.resources) c.ports = portsOf(r.resources);
        this.containers.set(c.containerId, c);
        for (const base of this.blockBases(c.ephemeral)) this.usedBlocks.add(base);
      } else {
        orphans.push(c);
      }
    }
    // Which slot each live container's filters are in; and filters of nobody's.
    const live = new Map<number, NetContainer>();
    for (const c of this.containers.values()) {
      live.set(this.prio(c, 0), c);
      live.set(this.prio(c, 1), c);
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
    for (const o of orphans) steps.push({ kind: 'linkSet', link: o.veth, up: false, group: this.doomedGroup, ignoreMissing: true });
    await applyNetStepsAsync({}, steps);
    this.chunks.length = 0;
    this.chunkSlot.clear();
    const touched = new Set([...this.containers.values()].map((c) => this.joinChunk(c.veth)));
    const errors: string[] = [];
    for (const k of touched) {
      await this.refreshMirrors(h, () => k).catch((e) => errors.push(`chunk ${k}: ${describeError(e)}`));
    }

    if (orphans.length > 0) {
      this.opts.logger?.info({ veths: orphans.map((o) => o.veth) }, 'network/port_mapping: removing the networks of containers that are gone');
      this.scheduleDeletion();
    }
    if (errors.length > 0) throw new CorralError('ISOLATOR_FAILED', `network/port_mapping: rebuilding the ARP/ICMP copies: ${errors.join('; ')}`);
  }
}
