/**
 * network/port_mapping: the host's side, learnt and prepared once at start-up: its public link,
 * its loopback, its address and the sysctls a container copies from it.
 */
import { CorralError } from '../../../../common/errors.ts';
import {
  ETH_P_IP,
  INGRESS_HANDLE,
  TC_H_INGRESS,
  applyNetSteps,
  defaultRoute,
  freshNetnsSysctls,
  ipv4Addresses,
  ipv4Keys,
  listLinks,
  readSysctl,
} from '../../../../linux/index.ts';
import { ICMP, PRIO_ECHO_HOST, PRIO_ICMP_PASS } from './filters.ts';
import { invalid, validatePortMappingOptions, type PortMappingOptions } from './options.ts';
import type { Host } from './types.ts';

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

/** Learn the host's links and addresses and prepare them, once, at start-up. */
export function prepareHost(opts: PortMappingOptions): Host {
  validatePortMappingOptions(opts, readSysctl('net/ipv4/ip_local_port_range'));
  const links = listLinks();
  const route = defaultRoute();
  const eth0 = opts.eth0Name ?? route?.link;
  if (!eth0) throw invalid('--eth0_name', 'no default route to guess the public interface from: give --eth0_name');
  const eth0Link = links.find((l) => l.name === eth0);
  if (!eth0Link) throw invalid('--eth0_name', `no link named '${eth0}'`);
  const lo = opts.loName ?? links.find((l) => l.loopback)?.name;
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
    {
      kind: 'filterAdd',
      link: eth0,
      parent: INGRESS_HANDLE,
      prio: PRIO_ECHO_HOST,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ ipProtocol: ICMP, dstIp: addr.address, icmpType: 8 }),
      terminal: true,
    },
    // The pass filter that ends ICMP classification after the mirrors (made afresh).
    { kind: 'filtersDelete', link: eth0, parent: INGRESS_HANDLE, prio: PRIO_ICMP_PASS, protocol: ETH_P_IP, ignoreMissing: true },
    {
      kind: 'filterAdd',
      link: eth0,
      parent: INGRESS_HANDLE,
      prio: PRIO_ICMP_PASS,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ ipProtocol: ICMP, dstIp: addr.address }),
      terminal: true,
    },
  ]);
  return host;
}
