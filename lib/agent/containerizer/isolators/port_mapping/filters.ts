/**
 * network/port_mapping: the filters and steps of a container's network, as pure builders (no
 * kernel call: the isolator applies what they return).
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
 * Egress limit: HTB (class 1:1 at the limit) with a pfifo leaf on the container's eth0 (this
 * kernel has no fq_codel). Ingress limit (beyond Mesos 0.23): the same on the host veth.
 */
import {
  ETH_P_ARP,
  ETH_P_IP,
  INGRESS_HANDLE,
  TC_ACT_STOLEN,
  TC_H_INGRESS,
  TC_H_ROOT,
  ipv4Keys,
  portBlocks,
  tcHandle,
  type NetStep,
  type PortBlock,
  type TcAction,
} from '../../../../linux/index.ts';
import type { PortInterval } from './options.ts';
import type { Host, NetContainer } from './types.ts';

/** The alias of a container's host veth starts with this, then its id and its block. */
export const ALIAS_PREFIX = 'corral-container';
/** ICMP echo requests to the host's address: the host's alone (every container holds that address too). */
export const PRIO_ECHO_HOST = 0x00ff;
export const PRIO_ARP = 0x0100;
export const PRIO_ICMP = 0x0200;
export const PRIO_ICMP_PASS = 0x0300;
export const PRIO_VETH_ARP = 0x0102;
export const PRIO_VETH_ICMP = 0x0202;
export const PRIO_HIGH = 0x0301;
export const PRIO_NORMAL = 0x0302;
export const PRIO_LOW = 0x0303;
export const PRIO_CONTAINERS = 0x1000;
export const ICMP = 1;
export const LOCALHOST = '127.0.0.1';

/** The rate limits of every container (bytes/s; absent or 0: none). */
export interface Limits {
  readonly egressRateLimit?: number | undefined;
  readonly ingressRateLimit?: number | undefined;
}

/** A container's eth0/lo priority at `slot`: by the first port of its ephemeral block / 16. */
export function containerPrio(c: { ephemeral: PortBlock }, slot: 0 | 1): number {
  return PRIO_CONTAINERS + Math.floor(c.ephemeral.base / 16) * 2 + slot;
}

/** Its ephemeral block, then its ports as blocks a u32 mask can match. */
export function containerBlocks(c: { ephemeral: PortBlock; ports: readonly PortInterval[] }): PortBlock[] {
  return [c.ephemeral, ...c.ports.flatMap((p) => portBlocks(p.begin, p.end))];
}

/** Host eth0 and lo filters of a container, at priority slot `slot`. */
export function hostPortFilters(h: Host, c: NetContainer, slot: 0 | 1): NetStep[] {
  const prio = containerPrio(c, slot);
  const to: TcAction[] = [{ kind: 'redirect', dev: c.veth, control: TC_ACT_STOLEN }];
  return containerBlocks(c).flatMap((b): NetStep[] => [
    {
      kind: 'filterAdd',
      link: h.eth0,
      parent: INGRESS_HANDLE,
      prio,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ dstMac: h.mac, dstIp: h.ip, dstPorts: b }),
      terminal: true,
      actions: to,
    },
    { kind: 'filterAdd', link: h.lo, parent: INGRESS_HANDLE, prio, protocol: ETH_P_IP, keys: ipv4Keys({ dstPorts: b }), terminal: true, actions: to },
  ]);
}

export function deleteHostPortFilters(h: Host, c: NetContainer, slot: 0 | 1): NetStep[] {
  const prio = containerPrio(c, slot);
  return [h.eth0, h.lo].map((link): NetStep => ({ kind: 'filtersDelete', link, parent: INGRESS_HANDLE, prio, protocol: ETH_P_IP, ignoreMissing: true }));
}

/** Source-port filters on the host veth: to lo (the host and the other containers) or out. */
export function vethPortFilters(h: Host, c: NetContainer): NetStep[] {
  const toLo: TcAction[] = [{ kind: 'redirect', dev: h.lo, control: TC_ACT_STOLEN }];
  const toEth0: TcAction[] = [{ kind: 'redirect', dev: h.eth0, control: TC_ACT_STOLEN }];
  return containerBlocks(c).flatMap((b): NetStep[] => [
    {
      kind: 'filterAdd',
      link: c.veth,
      parent: INGRESS_HANDLE,
      prio: PRIO_NORMAL,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ dstIp: h.ip, srcPorts: b }),
      terminal: true,
      actions: toLo,
    },
    {
      kind: 'filterAdd',
      link: c.veth,
      parent: INGRESS_HANDLE,
      prio: PRIO_NORMAL,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ dstIp: LOCALHOST, srcPorts: b }),
      terminal: true,
      actions: toLo,
    },
    {
      kind: 'filterAdd',
      link: c.veth,
      parent: INGRESS_HANDLE,
      prio: PRIO_LOW,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ srcPorts: b }),
      terminal: true,
      actions: toEth0,
    },
  ]);
}

/** Inside the container: its own ports stay local; the rest of localhost goes to the host. */
export function containerPortFilters(h: Host, c: NetContainer): NetStep[] {
  return containerBlocks(c).flatMap((b): NetStep[] => [
    {
      kind: 'filterAdd',
      inNetns: true,
      link: h.lo,
      parent: INGRESS_HANDLE,
      prio: PRIO_HIGH,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ dstPorts: b }),
      terminal: true,
    },
    {
      kind: 'filterAdd',
      inNetns: true,
      link: h.eth0,
      parent: INGRESS_HANDLE,
      prio: PRIO_NORMAL,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ dstIp: LOCALHOST, dstPorts: b }),
      terminal: true,
      actions: [{ kind: 'redirect', dev: h.lo, control: TC_ACT_STOLEN }],
    },
  ]);
}

/** HTB at `rate` bytes/s with a pfifo leaf at the root of `link`. */
export function limitSteps(link: string, rate: number, inNetns: boolean, mtu: number | undefined): NetStep[] {
  // A burst of at least 64 KiB (one GSO packet) or 10 ms; a queue of about 100 ms.
  const burst = Math.max(64 * 1024, Math.round(rate / 100));
  const limit = Math.max(64, Math.round(rate / 10 / Math.max(mtu ?? 1500, 576)));
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
export function staticSteps(h: Host, veth: string, limits: Limits, portNs: readonly NetStep[] = []): NetStep[] {
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
    ...(limits.egressRateLimit ? limitSteps(h.eth0, limits.egressRateLimit, true, h.mtu) : []),
    ...[h.ip, LOCALHOST].map((dstIp) =>
      inNs({
        kind: 'filterAdd',
        link: h.lo,
        parent: INGRESS_HANDLE,
        prio: PRIO_VETH_ICMP,
        protocol: ETH_P_IP,
        keys: ipv4Keys({ ipProtocol: ICMP, dstIp }),
        terminal: true,
      }),
    ),
    ...[h.ip, LOCALHOST].map((dstIp) =>
      inNs({
        kind: 'filterAdd',
        link: h.lo,
        parent: INGRESS_HANDLE,
        prio: PRIO_NORMAL,
        protocol: ETH_P_IP,
        keys: ipv4Keys({ dstIp }),
        terminal: true,
        actions: [{ kind: 'redirect', dev: h.eth0, control: TC_ACT_STOLEN }],
      }),
    ),
    ...portNs,
    inNs({ kind: 'linkSet', link: h.lo, mac: h.mac, mtu: h.mtu, up: true }),
    inNs({ kind: 'linkSet', link: h.eth0, up: true }),
    inNs({ kind: 'addrAdd', link: h.eth0, address: h.ip, prefix: h.prefix }),
    ...(h.gateway ? [inNs({ kind: 'routeAdd', link: h.eth0, gateway: h.gateway })] : []),
    // The host side.
    ...(h.ipv6 ? [{ kind: 'sysctl', path: `net/ipv6/conf/${veth}/disable_ipv6`, value: '1', ignoreMissing: true } as NetStep] : []),
    { kind: 'qdiscAdd', link: veth, qdiscKind: 'ingress', parent: TC_H_INGRESS, handle: INGRESS_HANDLE },
    ...(limits.ingressRateLimit ? limitSteps(veth, limits.ingressRateLimit, false, h.mtu) : []),
    {
      kind: 'filterAdd',
      link: veth,
      parent: INGRESS_HANDLE,
      prio: PRIO_VETH_ARP,
      protocol: ETH_P_ARP,
      keys: [],
      terminal: true,
      actions: [{ kind: 'redirect', dev: h.eth0, control: TC_ACT_STOLEN }],
    },
    {
      kind: 'filterAdd',
      link: veth,
      parent: INGRESS_HANDLE,
      prio: PRIO_VETH_ICMP,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ ipProtocol: ICMP }),
      terminal: true,
      actions: [{ kind: 'redirect', dev: h.eth0, control: TC_ACT_STOLEN }],
    },
  ];
}

/** The port steps inside the container: its ephemeral range and its port filters. */
export function portNsSteps(h: Host, c: NetContainer): NetStep[] {
  const e = c.ephemeral;
  return [{ kind: 'sysctl', inNetns: true, path: 'net/ipv4/ip_local_port_range', value: `${e.base} ${e.base + e.size - 1}` }, ...containerPortFilters(h, c)];
}

/** The port steps on the host, ending with the container's veth brought up. */
export function portHostSteps(h: Host, c: NetContainer): NetStep[] {
  const e = c.ephemeral;
  return [
    // The veth carries the container's id and block: recovery reads them back from the kernel.
    { kind: 'linkSet', link: c.veth, alias: `${ALIAS_PREFIX} ${c.containerId} ${e.base}/${e.size}` },
    // The veth's filters first, then eth0 and lo (recovery finds containers by their veth).
    ...vethPortFilters(h, c),
    ...hostPortFilters(h, c, 0),
    { kind: 'linkSet', link: c.veth, up: true },
  ];
}
