/**
 * Network links, addresses, routes and traffic control through rtnetlink in the addon (built
 * only with the network isolator option; without it every call throws CorralError
 * NATIVE_FEATURE_MISSING saying how to rebuild).
 *
 * A configuration is a list of steps handed to the addon in one call (docs/architecture.md §4: one
 * crossing per operation). Steps with `inNetns` run inside the target namespace (given by a
 * pid), on a private thread of the addon; the others in the caller's namespace.
 *
 * Also here: the pure helpers to build u32 matches (IPv4 fields, port blocks), and readers of
 * the host's interfaces, default route and sysctls.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { requireFeature, type NativeBinding } from './native.ts';
import { encodeNetSteps } from './net_encode.ts';
import type { FilterId, LinkInfo, NetStep, QdiscStats, U32Key } from './net_types.ts';

export type { FilterId, LinkInfo, LinkStats, NetStep, QdiscStats, TcAction, U32Key } from './net_types.ts';

// ---- constants (linux/if_ether.h, pkt_sched.h, pkt_cls.h) ----

export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
/** The parent of an ingress qdisc, and the handle filters on it hang from (ffff:0). */
export const TC_H_INGRESS = 0xfffffff1;
export const INGRESS_HANDLE = 0xffff0000;
export const TC_H_ROOT = 0xffffffff;
/** Control actions after a mirred action. */
export const TC_ACT_CONTINUE = -1;
export const TC_ACT_OK = 0;
export const TC_ACT_PIPE = 3;
export const TC_ACT_STOLEN = 4;

/** A tc handle "major:minor" from its numbers. */
export function tcHandle(major: number, minor: number): number {
  return ((major & 0xffff) * 0x10000 + (minor & 0xffff)) >>> 0;
}

// ---- steps ----

export interface NetnsRef {
  readonly pid?: number;
  readonly netns?: string;
}

/** The namespace `inNetns` steps run in; `host`: where the others run (default: the caller's). */
export interface NetApplyTarget extends NetnsRef {
  readonly host?: NetnsRef;
}

function binding(): NativeBinding &
  Required<Pick<NativeBinding, 'netApply' | 'listLinks' | 'netFilters' | 'netQdiscs' | 'netDeleteLinkGroup' | 'netTcpRtts' | 'netFreshSysctls'>> {
  const b = requireFeature('networkIsolator');
  if (!b.netApply || !b.listLinks || !b.netFilters || !b.netQdiscs || !b.netDeleteLinkGroup || !b.netTcpRtts || !b.netFreshSysctls) {
    throw new Error('unreachable: networkIsolator build without the net functions');
  }
  return b as ReturnType<typeof binding>;
}

/** Apply the steps in order; throws NativeError naming the first failing step ("step N: ..."). */
export function applyNetSteps(target: NetApplyTarget, steps: readonly NetStep[]): void {
  binding().netApply({ ...target, steps: encodeNetSteps(steps) });
}

/** The same off the JS thread (a libuv pool thread; namespace steps on a private thread). */
export function applyNetStepsAsync(target: NetApplyTarget, steps: readonly NetStep[]): Promise<void> {
  const b = binding();
  return new Promise((resolve, reject) => b.netApply({ ...target, steps: encodeNetSteps(steps) }, (e) => (e ? reject(e) : resolve())));
}

/**
 * Delete every link of `group` in the caller's namespace in one request, off the JS thread.
 * Resolves false if there was none (ENODEV: nothing to do), true if links were deleted.
 */
export function deleteLinkGroup(group: number): Promise<boolean> {
  const b = binding();
  return new Promise((resolve, reject) =>
    b.netDeleteLinkGroup(group, (e) => {
      if (!e) resolve(true);
      else if ((e as { code?: string }).code === 'ENODEV') resolve(false);
      else reject(e);
    }),
  );
}

// ---- reading back ----

/** Default: the caller's namespace. */
export type ListLinksOptions = NetnsRef;

/** The links of a network namespace, with their counters, in kernel order. Throws NativeError. */
export function listLinks(options: ListLinksOptions = {}): LinkInfo[] {
  return binding().listLinks(options);
}

/** The filters under `parent` of `link`. Includes per-priority heads (handle 0). */
export function listFilters(link: string, parent: number, ns: NetnsRef = {}): FilterId[] {
  return binding().netFilters(link, parent, ns);
}

/** The qdiscs of `link` with their counters. */
export function listQdiscs(link: string, ns: NetnsRef = {}): QdiscStats[] {
  return binding().netQdiscs(link, ns);
}

/** The same off the JS thread. */
export function listQdiscsAsync(link: string, ns: NetnsRef = {}): Promise<QdiscStats[]> {
  const b = binding();
  return new Promise((resolve, reject) => b.netQdiscs(link, ns, (e, q) => (e ? reject(e) : resolve(q!))));
}

/** Round-trip times (µs) of the IPv4 TCP sockets of a namespace that have one (sock_diag). */
export function tcpRoundTripTimes(ns: NetnsRef = {}): number[] {
  return binding().netTcpRtts(ns);
}

/** The same off the JS thread. */
export function tcpRoundTripTimesAsync(ns: NetnsRef = {}): Promise<number[]> {
  const b = binding();
  return new Promise((resolve, reject) => b.netTcpRtts(ns, (e, r) => (e ? reject(e) : resolve(r!))));
}

// ---- u32 matches ----

/** A block of ports `base`..`base+size-1`; size a power of two, base a multiple of it. */
export interface PortBlock {
  readonly base: number;
  readonly size: number;
}

/**
 * Split [begin, end] (inclusive) into the fewest blocks a u32 mask can match, walking up from
 * the low end: each block is a power of two in size and starts at a multiple of its size.
 */
export function portBlocks(begin: number, end: number): PortBlock[] {
  const out: PortBlock[] = [];
  let p = begin;
  while (p <= end) {
    let size = 1;
    while (size < 0x10000 && p % (size * 2) === 0 && p + size * 2 - 1 <= end) size *= 2;
    out.push({ base: p, size });
    p += size;
  }
  return out;
}

function ipv4Number(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: '${ip}'`);
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export interface Ipv4Match {
  /** Destination MAC (aa:bb:..): two keys at negative offsets into the Ethernet header. */
  readonly dstMac?: string;
  readonly dstIp?: string;
  /** IP protocol number (1 ICMP, 6 TCP, 17 UDP). */
  readonly ipProtocol?: number;
  readonly srcPorts?: PortBlock;
  readonly dstPorts?: PortBlock;
  /** ICMP type (the first byte after a 20-byte IP header): 8 echo request, 0 echo reply. */
  readonly icmpType?: number;
}

/**
 * u32 keys for an IPv4 match. Port and ICMP-type keys assume a 20-byte IP header, so a key on
 * IHL = 5 comes first when they are matched (packets with IP options are not matched).
 */
export function ipv4Keys(m: Ipv4Match): U32Key[] {
  const keys: U32Key[] = [];
  if (m.srcPorts || m.dstPorts || m.icmpType !== undefined) keys.push({ off: 0, mask: 0x0f000000, val: 0x05000000 });
  if (m.dstMac) {
    const b = m.dstMac.split(':').map((h) => parseInt(h, 16));
    keys.push({ off: -16, mask: 0x0000ffff, val: (b[0]! << 8) | b[1]! });
    keys.push({ off: -12, mask: 0xffffffff, val: ((b[2]! << 24) >>> 0) + (b[3]! << 16) + (b[4]! << 8) + b[5]! });
  }
  if (m.ipProtocol !== undefined) keys.push({ off: 8, mask: 0x00ff0000, val: m.ipProtocol << 16 });
  if (m.dstIp) keys.push({ off: 16, mask: 0xffffffff, val: ipv4Number(m.dstIp) });
  if (m.srcPorts || m.dstPorts) {
    let mask = 0;
    let val = 0;
    if (m.srcPorts) {
      mask += ((~(m.srcPorts.size - 1) & 0xffff) * 0x10000) >>> 0;
      val += (m.srcPorts.base * 0x10000) >>> 0;
    }
    if (m.dstPorts) {
      mask += ~(m.dstPorts.size - 1) & 0xffff;
      val += m.dstPorts.base;
    }
    keys.push({ off: 20, mask: mask >>> 0, val: val >>> 0 });
  }
  if (m.icmpType !== undefined) keys.push({ off: 20, mask: 0xff000000, val: ((m.icmpType & 0xff) * 0x1000000) >>> 0 });
  return keys;
}

// ---- the host ----

export interface Ipv4Address {
  readonly address: string;
  readonly prefix: number;
}

/** The IPv4 addresses of `link` in the caller's namespace. */
export function ipv4Addresses(link: string): Ipv4Address[] {
  return (networkInterfaces()[link] ?? []).filter((a) => a.family === 'IPv4').map((a) => ({ address: a.address, prefix: Number(a.cidr?.split('/')[1] ?? 32) }));
}

export interface DefaultRoute {
  readonly link: string;
  /** The gateway, or undefined for an on-link default route. */
  readonly gateway?: string;
}

/** The IPv4 default route of the main table (from /proc/net/route), if any. */
export function defaultRoute(text: string = readFileSync('/proc/net/route', 'utf8')): DefaultRoute | undefined {
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000') continue;
    const g = parseInt(f[2]!, 16);
    // /proc/net/route prints addresses in host (little-endian) byte order.
    const gw = [g & 0xff, (g >>> 8) & 0xff, (g >>> 16) & 0xff, (g >>> 24) & 0xff].join('.');
    return { link: f[0]!, ...(g !== 0 ? { gateway: gw } : {}) };
  }
  return undefined;
}

/** Read /proc/sys/<path> (trimmed), or undefined if the knob does not exist. */
export function readSysctl(path: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${path}`, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The values of /proc/sys/<path> in a brand-new network namespace (undefined: it has no such file). */
export function freshNetnsSysctls(paths: readonly string[]): (string | undefined)[] {
  return binding()
    .netFreshSysctls(paths)
    .map((v) => (v === null ? undefined : v.replace(/\s+/g, ' ')));
}

/** Write /proc/sys/<path> in the caller's namespace. */
export async function writeSysctl(path: string, value: string): Promise<void> {
  await writeFile(`/proc/sys/${path}`, value);
}
