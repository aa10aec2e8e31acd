/**
 * Network benchmark (needs root; issue 5, network/port_mapping). Everything happens in test
 * hosts (test/helpers/test_hosts.ts): two network namespaces A and B on a bridge; the root
 * namespace is not touched.
 *
 * 1. Per-container network setup and teardown, COUNT containers one after another in host A.
 *    Peer: what a port-mapping isolator does, done by shelling out to `ip`/`tc`, one process per
 *    command (the way Mesos 0.23's preparation script works), and the same commands batched
 *    (`ip -batch` / `tc -batch`, one process per tool and namespace). Per container:
 *      - a fresh network namespace (made before the clock starts: the supervisor makes it);
 *      - a veth pair, the peer created directly inside the container's namespace, named eth0;
 *        the host end gets A's MAC, an ingress qdisc and comes up;
 *      - container side: lo and eth0 with A's MAC/MTU, A's address on eth0, a default route,
 *        sysctls (ip_local_port_range = its ephemeral block, IPv6 off, accept_local,
 *        route_localnet), ingress qdiscs on lo and eth0 with their filters, and an HTB root
 *        qdisc with one class (the egress limit) and a pfifo leaf;
 *      - host side: u32 filters with mirred redirects by port block on the veth (6), on eth0 (2)
 *        and on lo (2), ARP/ICMP filters on the veth (2), and the ARP/ICMP mirror filters on eth0
 *        rewritten with every container's veth (at most 32 actions a filter: more filters).
 *      This kernel has only the u32 classifier (no basic, matchall, flower), the mirred action
 *      (no gact: "let it pass" is a u32 flowid, i.e. the terminal flag) and the htb, pfifo and
 *      bfifo qdiscs (no fq_codel, tbf, sfq): ARP is matched by u32 on protocol arp.
 *    Teardown, one container at a time: its eth0/lo filters found (`tc filter show`) and
 *    deleted, the mirror filters rewritten, `ip link del` of its veth.
 *    Same run: the same steps through the addon (lib/linux applyNetSteps, one call a container;
 *    teardown of all containers batched: filters by priority and one link-group delete), in
 *    `nativeSetupTeardown` (NATIVE below; switch it to the isolator's own step builder once that
 *    is exported).
 *
 * 2. Throughput, iperf3 from A to an iperf3 server in B: from A's own namespace (the baseline),
 *    from inside a container whose network the `ip`/`tc` peer built (the same packet path as the
 *    isolator's: container eth0 → host veth → redirect → A's eth0), and the egress limit's
 *    accuracy at 10 and 100 Mbit/s (HTB on the container's eth0). The same from a container of
 *    the isolator itself, and its isolate()/cleanup() costs: bench/port_mapping.bench.ts.
 *
 *   npm run bench:network [-- --count=50 --seconds=5 --quick]
 */
import { execFileSync, spawnSync } from 'node:child_process';
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
  ipv4Keys,
  nativeFeatures,
  tcHandle,
  type NetStep,
  type TcAction,
  type U32Key,
} from '../lib/linux/index.ts';
import { arg, loadLine, ms, pct } from './common.ts';
import { clearLeftoverTestHosts, createTestHosts, type TestHost, type TestNetwork } from '../test/helpers/test_hosts.ts';

const QUICK = process.argv.includes('--quick');
const COUNT = arg('count', QUICK ? 10 : 50);
const SECONDS = arg('seconds', QUICK ? 2 : 5);
/** Ports: container i gets [31000+8i, 31000+8i+7] and the ephemeral block 32768+512i (512 ports). */
const PORTS_BASE = 31000;
const PORTS_PER = 8;
const EPH_BASE = 32768;
const EPH_PER = 512;
const MAX_ACTIONS = 32; // TCA_ACT_MAX_PRIO: actions one filter may hold
const IPERF_PORT = 5201;

// Filter priorities as Mesos sets them: primary type in the high byte, order in the low byte.
const PRIO = { ARP: 0x0102, ICMP: 0x0202, IP_HIGH: 0x0301, IP_NORMAL: 0x0302, IP_LOW: 0x0303 } as const;
// ARP/ICMP mirror filters on eth0: one per group of MAX_ACTIONS veths, at PRIO + 0x10 + group.
const MIRROR_ARP = 0x0110;
const MIRROR_ICMP = 0x0210;

interface Block {
  readonly start: number;
  readonly mask: number; // for `match ip sport|dport START MASK`
}

interface HostFacts {
  readonly address: string;
  readonly gateway: string;
  readonly mac: string;
  readonly mtu: number;
}

interface Cmd {
  readonly tool: 'ip' | 'tc' | 'sysctl';
  /** The namespace it runs in. */
  readonly ns: string;
  readonly args: readonly string[];
}

const hex = (n: number) => `0x${n.toString(16)}`;
const blockOf = (start: number, size: number): Block => ({ start, mask: 0xffff & ~(size - 1) });

function run(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout;
}

/** One process per command (sysctls: one `sh` writing them all, inside the namespace). */
function runEach(cmds: readonly Cmd[]): number {
  for (const c of cmds) {
    if (c.tool === 'sysctl')
      run('ip', [
        'netns',
        'exec',
        c.ns,
        'sh',
        '-c',
        c.args.map((kv) => `printf '%s' '${kv.slice(kv.indexOf('=') + 1)}' > /proc/sys/${kv.slice(0, kv.indexOf('='))}`).join(' && '),
      ]);
    else run(c.tool, ['-n', c.ns, ...c.args]);
  }
  return cmds.length;
}

/** Consecutive commands of one tool and namespace in one `-batch` process. */
function runBatched(cmds: readonly Cmd[]): number {
  let procs = 0;
  for (let i = 0; i < cmds.length;) {
    let j = i;
    while (j < cmds.length && cmds[j]!.tool === cmds[i]!.tool && cmds[j]!.ns === cmds[i]!.ns) j++;
    const group = cmds.slice(i, j);
    const first = group[0]!;
    if (first.tool === 'sysctl') runEach([{ ...first, args: group.flatMap((g) => g.args) }]);
    else {
      const r = spawnSync(first.tool, ['-n', first.ns, '-batch', '-'], { input: group.map((g) => g.args.join(' ')).join('\n') + '\n', encoding: 'utf8' });
      if (r.error || r.status !== 0) throw new Error(`${first.tool} -batch in ${first.ns}: ${r.error?.message ?? r.stderr.trim()}`);
    }
    procs++;
    i = j;
  }
  return procs;
}

function hostFacts(h: TestHost): HostFacts {
  const link = JSON.parse(run('ip', ['-n', h.netns, '-j', 'link', 'show', 'eth0'])) as { address: string; mtu: number }[];
  return { address: h.address, gateway: h.gateway, mac: link[0]!.address, mtu: link[0]!.mtu };
}

/** Once per host, like the isolator's start-up (not timed). */
function prepareHost(ns: string, f: HostFacts): void {
  runEach([
    { tool: 'ip', ns, args: ['link', 'set', 'lo', 'address', f.mac, 'mtu', String(f.mtu)] },
    { tool: 'tc', ns, args: ['qdisc', 'add', 'dev', 'eth0', 'ingress'] },
    { tool: 'tc', ns, args: ['qdisc', 'add', 'dev', 'lo', 'ingress'] },
    {
      tool: 'sysctl',
      ns,
      args: [
        'net/ipv4/conf/lo/route_localnet=1',
        'net/ipv4/conf/all/rp_filter=0',
        'net/ipv4/conf/lo/rp_filter=0',
        'net/ipv4/conf/all/send_redirects=0',
        'net/ipv4/conf/lo/send_redirects=0',
        'net/ipv4/conf/lo/accept_local=1',
      ],
    },
  ]);
}

const u32 = (dev: string, prio: number, matches: string, action: string): string[] => [
  'filter',
  'add',
  'dev',
  dev,
  'parent',
  'ffff:',
  'protocol',
  'ip',
  'prio',
  String(prio),
  'u32',
  'match',
  'u8',
  '5',
  '0x0f',
  'at',
  '0',
  ...matches.split(' '),
  ...action.split(' '),
];
const redirect = (dev: string) => `action mirred egress redirect dev ${dev}`;

interface Container {
  readonly i: number;
  readonly netns: string;
  readonly veth: string;
  readonly blocks: readonly Block[];
  readonly ephemeral: readonly [number, number];
  /** Egress limit in bytes/s (0: none). */
  readonly egress: number;
}

function container(prefix: string, i: number, egress: number): Container {
  const eph = EPH_BASE + EPH_PER * i;
  return {
    i,
    netns: `${prefix}-c${i}`,
    veth: `veth${i}`,
    blocks: [blockOf(PORTS_BASE + PORTS_PER * i, PORTS_PER), blockOf(eph, EPH_PER)],
    ephemeral: [eph, eph + EPH_PER - 1],
    egress,
  };
}

/**
 * The ARP/ICMP mirror filters on eth0 for the given veths (`tc` has no "replace the action
 * list" for a u32 filter by prio alone: delete the old filters, add the new ones).
 */
function mirrorCmds(hostNs: string, f: HostFacts, veths: readonly string[], groupsBefore: number): Cmd[] {
  const cmds: Cmd[] = [];
  const groups = Math.ceil(veths.length / MAX_ACTIONS);
  for (let g = 0; g < Math.max(groups, groupsBefore); g++) {
    const part = veths.slice(g * MAX_ACTIONS, (g + 1) * MAX_ACTIONS);
    // The last action of a group but the last `continue`s, so the next group's filter sees the
    // packet too; the host keeps every packet (mirror, not redirect).
    const actions = (last: string) => part.flatMap((v, k) => ['action', 'mirred', 'egress', 'mirror', 'dev', v, k === part.length - 1 ? last : 'pipe']);
    for (const [prio, proto, match] of [
      [MIRROR_ARP + g, 'arp', ['u32', 'match', 'u32', '0', '0']],
      [MIRROR_ICMP + g, 'ip', ['u32', 'match', 'ip', 'protocol', '1', '0xff', 'match', 'ip', 'dst', `${f.address}/32`]],
    ] as const) {
      const at = ['dev', 'eth0', 'parent', 'ffff:', 'protocol', proto, 'prio', String(prio)];
      if (g < groupsBefore) cmds.push({ tool: 'tc', ns: hostNs, args: ['filter', 'del', ...at] });
      if (g < groups) cmds.push({ tool: 'tc', ns: hostNs, args: ['filter', 'add', ...at, ...match, ...actions(g === groups - 1 ? 'pipe' : 'continue')] });
    }
  }
  return cmds;
}

/** Every command that sets up a container's network (host side in `hostNs`). */
function setupCmds(hostNs: string, f: HostFacts, c: Container): Cmd[] {
  const ns = c.netns;
  const cmds: Cmd[] = [
    { tool: 'ip', ns: hostNs, args: ['link', 'add', c.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns] },
    { tool: 'ip', ns: hostNs, args: ['link', 'set', c.veth, 'address', f.mac] },
    { tool: 'tc', ns: hostNs, args: ['qdisc', 'add', 'dev', c.veth, 'ingress'] },
    // Container side.
    { tool: 'ip', ns, args: ['link', 'set', 'lo', 'address', f.mac, 'mtu', String(f.mtu), 'up'] },
    { tool: 'ip', ns, args: ['link', 'set', 'eth0', 'address', f.mac, 'mtu', String(f.mtu), 'up'] },
    { tool: 'ip', ns, args: ['addr', 'add', `${f.address}/24`, 'dev', 'eth0'] },
    { tool: 'ip', ns, args: ['route', 'add', 'default', 'via', f.gateway, 'dev', 'eth0'] },
    {
      tool: 'sysctl',
      ns,
      args: [
        'net/ipv6/conf/all/disable_ipv6=1',
        `net/ipv4/ip_local_port_range=${c.ephemeral.join(' ')}`,
        'net/ipv4/conf/eth0/accept_local=1',
        'net/ipv4/conf/lo/accept_local=1',
        'net/ipv4/conf/lo/route_localnet=1',
      ],
    },
    { tool: 'tc', ns, args: ['qdisc', 'add', 'dev', 'lo', 'ingress'] },
    { tool: 'tc', ns, args: ['qdisc', 'add', 'dev', 'eth0', 'ingress'] },
    ...c.blocks.flatMap((b): Cmd[] => [
      { tool: 'tc', ns, args: u32('lo', PRIO.IP_HIGH, `match ip dport ${b.start} ${hex(b.mask)}`, 'flowid ffff:1') },
      { tool: 'tc', ns, args: u32('eth0', PRIO.IP_NORMAL, `match ip dst 127.0.0.1/32 match ip dport ${b.start} ${hex(b.mask)}`, redirect('lo')) },
    ]),
    { tool: 'tc', ns, args: u32('lo', PRIO.IP_NORMAL, `match ip dst ${f.address}/32`, redirect('eth0')) },
    { tool: 'tc', ns, args: u32('lo', PRIO.IP_NORMAL, 'match ip dst 127.0.0.1/32', redirect('eth0')) },
    // lo: the ICMP filters for the container's address and for 127.0.0.1.
    ...[`${f.address}/32`, '127.0.0.1/32'].map((dst): Cmd => ({
      tool: 'tc',
      ns,
      args: [
        'filter',
        'add',
        'dev',
        'lo',
        'parent',
        'ffff:',
        'protocol',
        'ip',
        'prio',
        String(PRIO.ICMP),
        'u32',
        'match',
        'ip',
        'protocol',
        '1',
        '0xff',
        'match',
        'ip',
        'dst',
        dst,
        'flowid',
        'ffff:1',
      ],
    })),
    ...(c.egress > 0
      ? ([
          { tool: 'tc', ns, args: ['qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'htb', 'default', '1'] },
          { tool: 'tc', ns, args: ['class', 'add', 'dev', 'eth0', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', `${c.egress * 8}bit`] },
          { tool: 'tc', ns, args: ['qdisc', 'add', 'dev', 'eth0', 'parent', '1:1', 'handle', '2:', 'pfifo', 'limit', '1000'] },
        ] as Cmd[])
      : []),
    // Host side: the veth's filters first, then eth0 and lo (crash safety).
    ...c.blocks.flatMap((b): Cmd[] => [
      { tool: 'tc', ns: hostNs, args: u32(c.veth, PRIO.IP_LOW, `match ip sport ${b.start} ${hex(b.mask)}`, redirect('eth0')) },
      { tool: 'tc', ns: hostNs, args: u32(c.veth, PRIO.IP_NORMAL, `match ip dst ${f.address}/32 match ip sport ${b.start} ${hex(b.mask)}`, redirect('lo')) },
      { tool: 'tc', ns: hostNs, args: u32(c.veth, PRIO.IP_NORMAL, `match ip dst 127.0.0.1/32 match ip sport ${b.start} ${hex(b.mask)}`, redirect('lo')) },
    ]),
    {
      tool: 'tc',
      ns: hostNs,
      args: [
        'filter',
        'add',
        'dev',
        c.veth,
        'parent',
        'ffff:',
        'protocol',
        'ip',
        'prio',
        String(PRIO.ICMP),
        'u32',
        'match',
        'ip',
        'protocol',
        '1',
        '0xff',
        ...redirect('eth0').split(' '),
      ],
    },
    {
      tool: 'tc',
      ns: hostNs,
      args: [
        'filter',
        'add',
        'dev',
        c.veth,
        'parent',
        'ffff:',
        'protocol',
        'arp',
        'prio',
        String(PRIO.ARP),
        'u32',
        'match',
        'u32',
        '0',
        '0',
        ...redirect('eth0').split(' '),
      ],
    },
    ...c.blocks.flatMap((b): Cmd[] => [
      { tool: 'tc', ns: hostNs, args: u32('eth0', PRIO.IP_NORMAL, `match ip dst ${f.address}/32 match ip dport ${b.start} ${hex(b.mask)}`, redirect(c.veth)) },
      { tool: 'tc', ns: hostNs, args: u32('lo', PRIO.IP_NORMAL, `match ip dport ${b.start} ${hex(b.mask)}`, redirect(c.veth)) },
    ]),
    { tool: 'ip', ns: hostNs, args: ['link', 'set', c.veth, 'up'] },
  ];
  return cmds;
}

/** `tc filter show` on dev (ingress) → the ids of the filters whose actions name `veth`. */
function filtersTo(hostNs: string, dev: string, veth: string): { prio: string; handle: string }[] {
  const out = run('tc', ['-n', hostNs, 'filter', 'show', 'dev', dev, 'ingress']);
  const found: { prio: string; handle: string }[] = [];
  let current: { prio: string; handle: string } | undefined;
  for (const line of out.split('\n')) {
    const m = /^filter .* pref (\d+) u32 .*fh (\w+::\w+)/.exec(line);
    if (m) current = { prio: m[1]!, handle: m[2]! };
    else if (line.startsWith('filter')) current = undefined;
    if (current && line.includes(`(Egress Redirect to device ${veth})`)) {
      found.push(current);
      current = undefined;
    }
  }
  return found;
}

function teardownCmds(hostNs: string, c: Container): Cmd[] {
  const cmds: Cmd[] = [];
  for (const dev of ['eth0', 'lo']) {
    for (const id of filtersTo(hostNs, dev, c.veth))
      cmds.push({
        tool: 'tc',
        ns: hostNs,
        args: ['filter', 'del', 'dev', dev, 'parent', 'ffff:', 'protocol', 'ip', 'prio', id.prio, 'handle', id.handle, 'u32'],
      });
  }
  return cmds;
}

interface Timing {
  readonly setup: number[];
  readonly teardown: number[];
  readonly procsSetup: number;
  readonly procsTeardown: number;
}

/** The ip/tc peer: COUNT containers set up one after another, then torn down one at a time. */
function peerSetupTeardown(net: TestNetwork, a: TestHost, f: HostFacts, batched: boolean): Timing {
  const exec = batched ? runBatched : runEach;
  const cs = Array.from({ length: COUNT }, (_, i) => container(`${net.prefix}-${batched ? 'b' : 'e'}`, i, 12_500_000));
  const live: string[] = [];
  const setup: number[] = [];
  const teardown: number[] = [];
  let procsSetup = 0;
  let procsTeardown = 0;
  try {
    for (const c of cs) {
      run('ip', ['netns', 'add', c.netns]); // the supervisor's clone makes it: not timed
      const t0 = performance.now();
      procsSetup += exec([...setupCmds(a.netns, f, c), ...mirrorCmds(a.netns, f, [...live, c.veth], Math.ceil(live.length / MAX_ACTIONS))]);
      setup.push(performance.now() - t0);
      live.push(c.veth);
    }
    for (const c of cs) {
      const t0 = performance.now();
      const before = Math.ceil(live.length / MAX_ACTIONS);
      live.splice(live.indexOf(c.veth), 1);
      procsTeardown += 2; // the two `tc filter show`
      procsTeardown += exec([...teardownCmds(a.netns, c), ...mirrorCmds(a.netns, f, live, before), { tool: 'ip', ns: a.netns, args: ['link', 'del', c.veth] }]);
      teardown.push(performance.now() - t0);
      run('ip', ['netns', 'del', c.netns]);
    }
  } finally {
    for (const c of cs) spawnSync('ip', ['netns', 'del', c.netns]);
  }
  // Nothing left: no veth, no filter on eth0 or lo (an emptied u32 priority stays as a bare
  // hash table, `fh 800:`, with no node `fh 800::NNN` in it).
  const links = run('ip', ['-n', a.netns, '-o', 'link', 'show']);
  const filters = run('tc', ['-n', a.netns, 'filter', 'show', 'dev', 'eth0', 'ingress']) + run('tc', ['-n', a.netns, 'filter', 'show', 'dev', 'lo', 'ingress']);
  if (/veth/.test(links) || /fh \w+::\w+/.test(filters)) throw new Error(`peer teardown left something:\n${links}\n${filters}`);
  return { setup, teardown, procsSetup: procsSetup / COUNT, procsTeardown: procsTeardown / COUNT };
}

// =============================================================================================
// NATIVE — the same container network through the addon (lib/linux applyNetSteps: one call a
// container, the host-side steps in host A, the rest inside the container's namespace), and
// teardown batched: the eth0/lo filters of all containers by priority and every veth in one
// link-group delete (run in a child inside A: the group delete works in its caller's namespace).
// When the isolator exports its own step builder, time that here instead of `nativeSteps`.
// =============================================================================================
const BENCH_GROUP = 0x5e11;

function nativeSteps(f: HostFacts, c: Container, veths: readonly string[], groupsBefore: number): NetStep[] {
  const ingress = { parent: TC_H_INGRESS, handle: INGRESS_HANDLE } as const; // the qdisc
  const onIngress = { parent: INGRESS_HANDLE } as const; // its filters
  const redir = (dev: string): TcAction[] => [{ kind: 'redirect', dev, control: TC_ACT_STOLEN }];
  const ip = (link: string, prio: number, keys: U32Key[], extra: { actions?: TcAction[]; terminal?: boolean; inNetns?: boolean }): NetStep => ({
    kind: 'filterAdd',
    link,
    ...onIngress,
    prio,
    protocol: ETH_P_IP,
    keys,
    ...extra,
  });
  const blocks = c.blocks.map((b) => ({ base: b.start, size: 0x10000 - b.mask }));
  const steps: NetStep[] = [
    { kind: 'vethAdd', link: c.veth, peer: 'eth0', peerInNetns: true, mac: f.mac, peerMac: f.mac, mtu: f.mtu, group: BENCH_GROUP },
    { kind: 'qdiscAdd', link: c.veth, qdiscKind: 'ingress', ...ingress },
    { kind: 'linkSet', link: 'lo', mac: f.mac, mtu: f.mtu, up: true, inNetns: true },
    { kind: 'linkSet', link: 'eth0', up: true, inNetns: true },
    { kind: 'addrAdd', link: 'eth0', address: f.address, prefix: 24, inNetns: true },
    { kind: 'routeAdd', link: 'eth0', gateway: f.gateway, inNetns: true },
    { kind: 'sysctl', path: 'net/ipv6/conf/all/disable_ipv6', value: '1', inNetns: true },
    { kind: 'sysctl', path: 'net/ipv4/ip_local_port_range', value: c.ephemeral.join(' '), inNetns: true },
    { kind: 'sysctl', path: 'net/ipv4/conf/eth0/accept_local', value: '1', inNetns: true },
    { kind: 'sysctl', path: 'net/ipv4/conf/lo/accept_local', value: '1', inNetns: true },
    { kind: 'sysctl', path: 'net/ipv4/conf/lo/route_localnet', value: '1', inNetns: true },
    { kind: 'qdiscAdd', link: 'lo', qdiscKind: 'ingress', ...ingress, inNetns: true },
    { kind: 'qdiscAdd', link: 'eth0', qdiscKind: 'ingress', ...ingress, inNetns: true },
    ...blocks.flatMap((b): NetStep[] => [
      ip('lo', PRIO.IP_HIGH, ipv4Keys({ dstPorts: b }), { terminal: true, inNetns: true }),
      ip('eth0', PRIO.IP_NORMAL, ipv4Keys({ dstIp: '127.0.0.1', dstPorts: b }), { actions: redir('lo'), inNetns: true }),
    ]),
    ip('lo', PRIO.IP_NORMAL, ipv4Keys({ dstIp: f.address }), { actions: redir('eth0'), inNetns: true }),
    ip('lo', PRIO.IP_NORMAL, ipv4Keys({ dstIp: '127.0.0.1' }), { actions: redir('eth0'), inNetns: true }),
    ip('lo', PRIO.ICMP, ipv4Keys({ ipProtocol: 1, dstIp: f.address }), { terminal: true, inNetns: true }),
    ip('lo', PRIO.ICMP, ipv4Keys({ ipProtocol: 1, dstIp: '127.0.0.1' }), { terminal: true, inNetns: true }),
    ...(c.egress > 0
      ? ([
          { kind: 'qdiscAdd', link: 'eth0', qdiscKind: 'htb', parent: TC_H_ROOT, handle: tcHandle(1, 0), htbDefault: 1, inNetns: true },
          { kind: 'classAdd', link: 'eth0', parent: tcHandle(1, 0), handle: tcHandle(1, 1), rate: c.egress, burst: 16 * 1024, inNetns: true },
          { kind: 'qdiscAdd', link: 'eth0', qdiscKind: 'pfifo', parent: tcHandle(1, 1), handle: tcHandle(2, 0), limit: 1000, inNetns: true },
        ] as NetStep[])
      : []),
    ...blocks.flatMap((b): NetStep[] => [
      ip(c.veth, PRIO.IP_LOW, ipv4Keys({ srcPorts: b }), { actions: redir('eth0') }),
      ip(c.veth, PRIO.IP_NORMAL, ipv4Keys({ dstIp: f.address, srcPorts: b }), { actions: redir('lo') }),
      ip(c.veth, PRIO.IP_NORMAL, ipv4Keys({ dstIp: '127.0.0.1', srcPorts: b }), { actions: redir('lo') }),
    ]),
    ip(c.veth, PRIO.ICMP, ipv4Keys({ ipProtocol: 1 }), { actions: redir('eth0') }),
    { kind: 'filterAdd', link: c.veth, ...onIngress, prio: PRIO.ARP, protocol: ETH_P_ARP, keys: [{ off: 0, mask: 0, val: 0 }], actions: redir('eth0') },
    ...blocks.flatMap((b): NetStep[] => [
      ip('eth0', PRIO.IP_NORMAL, ipv4Keys({ dstIp: f.address, dstPorts: b }), { actions: redir(c.veth) }),
      ip('lo', PRIO.IP_NORMAL, ipv4Keys({ dstPorts: b }), { actions: redir(c.veth) }),
    ]),
  ];
  const groups = Math.ceil(veths.length / MAX_ACTIONS);
  for (let g = 0; g < Math.max(groups, groupsBefore); g++) {
    const part = veths.slice(g * MAX_ACTIONS, (g + 1) * MAX_ACTIONS);
    const actions = part.map((dev, k): TcAction => ({ kind: 'mirror', dev, control: k === part.length - 1 && g < groups - 1 ? TC_ACT_CONTINUE : TC_ACT_PIPE }));
    for (const [prio, protocol, keys] of [
      [MIRROR_ARP + g, ETH_P_ARP, [{ off: 0, mask: 0, val: 0 }]],
      [MIRROR_ICMP + g, ETH_P_IP, ipv4Keys({ ipProtocol: 1, dstIp: f.address })],
    ] as const) {
      if (g < groupsBefore) steps.push({ kind: 'filtersDelete', link: 'eth0', ...onIngress, prio, protocol, ignoreMissing: true });
      if (g < groups) steps.push({ kind: 'filterAdd', link: 'eth0', ...onIngress, prio, protocol, keys, actions });
    }
  }
  steps.push({ kind: 'linkSet', link: c.veth, up: true });
  return steps;
}

/** Run `script` (ESM, may import lib/ .ts files) in a child inside host `h`; returns its stdout. */
async function nodeIn(h: TestHost, script: string): Promise<string> {
  const p = h.start(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { via: 'nsenter', cwd: process.cwd() });
  const x = await p.exited;
  if (x.code !== 0) throw new Error(`node in ${h.netns}: exit ${x.code ?? x.signal}: ${p.stderr()}`);
  return p.stdout();
}

async function nativeSetupTeardown(net: TestNetwork, a: TestHost, f: HostFacts): Promise<{ setup: number[]; teardown: number[]; note?: string } | undefined> {
  if (!nativeFeatures().networkIsolator) return undefined;
  const cs = Array.from({ length: COUNT }, (_, i) => container(`${net.prefix}-n`, i, 12_500_000));
  const setup: number[] = [];
  const live: string[] = [];
  try {
    for (const c of cs) {
      run('ip', ['netns', 'add', c.netns]);
      const steps = nativeSteps(f, c, [...live, c.veth], Math.ceil(live.length / MAX_ACTIONS));
      const t0 = performance.now();
      applyNetSteps({ netns: c.netns, host: { netns: a.netns } }, steps);
      setup.push(performance.now() - t0);
      live.push(c.veth);
    }
    // Batched teardown of all: filters on eth0/lo by priority, then one link-group delete.
    const groups = Math.ceil(live.length / MAX_ACTIONS);
    const ingress = { parent: INGRESS_HANDLE } as const;
    const del: NetStep[] = [
      { kind: 'filtersDelete', link: 'eth0', ...ingress, prio: PRIO.IP_NORMAL, protocol: ETH_P_IP, ignoreMissing: true },
      { kind: 'filtersDelete', link: 'lo', ...ingress, prio: PRIO.IP_NORMAL, protocol: ETH_P_IP, ignoreMissing: true },
      ...Array.from({ length: groups }, (_, g): NetStep[] => [
        { kind: 'filtersDelete', link: 'eth0', ...ingress, prio: MIRROR_ARP + g, protocol: ETH_P_ARP, ignoreMissing: true },
        { kind: 'filtersDelete', link: 'eth0', ...ingress, prio: MIRROR_ICMP + g, protocol: ETH_P_IP, ignoreMissing: true },
      ]).flat(),
    ];
    const t0 = performance.now();
    applyNetSteps({ host: { netns: a.netns } }, del);
    const filtersMs = performance.now() - t0;
    const out = await nodeIn(
      a,
      `const { deleteLinkGroup } = await import(${JSON.stringify(new URL('../lib/linux/index.ts', import.meta.url).pathname)});` +
        `const t0 = performance.now(); await deleteLinkGroup(${BENCH_GROUP}); console.log(performance.now() - t0);`,
    );
    const groupMs = Number(out.trim());
    const links = run('ip', ['-n', a.netns, '-o', 'link', 'show']);
    const filters =
      run('tc', ['-n', a.netns, 'filter', 'show', 'dev', 'eth0', 'ingress']) + run('tc', ['-n', a.netns, 'filter', 'show', 'dev', 'lo', 'ingress']);
    if (/veth/.test(links) || /fh \w+::\w+/.test(filters)) throw new Error(`native teardown left something:\n${links}\n${filters}`);
    const each = (filtersMs + groupMs) / COUNT;
    return {
      setup,
      teardown: cs.map(() => each),
      note: `(all ${COUNT} at once: filters ${ms(filtersMs)} + link-group delete ${ms(groupMs)}, amortised)`,
    };
  } finally {
    for (const c of cs) spawnSync('ip', ['netns', 'del', c.netns]);
  }
}

// =============================================================================================
// Throughput

interface Iperf {
  readonly bps: number;
  readonly bytes: number;
}

/** iperf3 client in `ns` (a host or container namespace) to B; the receiver's figure. */
function iperf(ns: string, server: string, seconds: number): Iperf {
  const out = run('ip', ['netns', 'exec', ns, 'iperf3', '-c', server, '-p', String(IPERF_PORT), '-t', String(seconds), '-O', '1', '-J']);
  const j = JSON.parse(out) as { error?: string; end: { sum_received?: { bits_per_second: number; bytes: number } } };
  if (j.error !== undefined || !j.end.sum_received) throw new Error(`iperf3 from ${ns} to ${server}: ${j.error ?? 'no result'}`);
  return { bps: j.end.sum_received.bits_per_second, bytes: j.end.sum_received.bytes };
}

const mbit = (bps: number) => `${(bps / 1e6).toFixed(1)} Mbit/s`;

async function throughput(net: TestNetwork, a: TestHost, b: TestHost, f: HostFacts): Promise<void> {
  const server = b.start('iperf3', ['-s', '-p', String(IPERF_PORT), '--forceflush']);
  try {
    await server.waitFor(/Server listening/);
    const host = iperf(a.netns, b.address, SECONDS);
    console.log(`  host namespace A → B:                 ${mbit(host.bps)}  (baseline)`);
    // A container built by the ip/tc peer: unlimited, then 10 and 100 Mbit/s.
    for (const limit of [0, 1_250_000, 12_500_000]) {
      const c = container(`${net.prefix}-t`, 0, limit);
      run('ip', ['netns', 'add', c.netns]);
      try {
        runEach([...setupCmds(a.netns, f, c), ...mirrorCmds(a.netns, f, [c.veth], 0)]);
        const r = iperf(c.netns, b.address, SECONDS);
        if (limit === 0)
          console.log(`  container (ip/tc peer) → B:           ${mbit(r.bps)}  (${((100 * r.bps) / host.bps).toFixed(0)}% of the host namespace)`);
        else
          console.log(`  egress limit ${mbit(limit * 8).padEnd(14)} (ip/tc peer): ${mbit(r.bps)}  (${((100 * r.bps) / (limit * 8)).toFixed(1)}% of the limit)`);
        runEach([...teardownCmds(a.netns, c), ...mirrorCmds(a.netns, f, [], 1), { tool: 'ip', ns: a.netns, args: ['link', 'del', c.veth] }]);
      } finally {
        spawnSync('ip', ['netns', 'del', c.netns]);
      }
    }
    console.log('  (a container of the isolator itself, same path: npm run bench:port_mapping)');
  } finally {
    await server.kill();
  }
}

// =============================================================================================

function summary(label: string, xs: readonly number[]): string {
  const total = xs.reduce((s, x) => s + x, 0);
  return `${label.padEnd(44)} p50 ${ms(pct(xs, 50))}  p95 ${ms(pct(xs, 95))}  mean ${ms(total / xs.length)}`;
}

async function main(): Promise<void> {
  console.log(loadLine());
  if (process.getuid?.() !== 0) throw new Error('bench/network needs root (network namespaces, veths, tc)');
  for (const tool of ['ip', 'tc', 'iperf3']) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) throw new Error(`bench/network needs '${tool}' (apt-get install iproute2 iperf3)`);
  }
  await clearLeftoverTestHosts();
  const net = await createTestHosts(2, { subnet: '10.88.0' });
  try {
    const [a, b] = net.hosts as [TestHost, TestHost];
    const f = hostFacts(a);
    prepareHost(a.netns, f);
    console.log(
      `network setup/teardown per container, ${COUNT} containers one after another, in test host A (${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()})`,
    );
    for (const batched of [false, true]) {
      const r = peerSetupTeardown(net, a, f, batched);
      const what = batched ? 'ip/tc peer, -batch' : 'ip/tc peer, a process a command';
      console.log(`  ${summary(`${what}: setup (${r.procsSetup.toFixed(1)} processes)`, r.setup)}`);
      console.log(`  ${summary(`${what}: teardown (${r.procsTeardown.toFixed(1)} processes)`, r.teardown)}`);
    }
    const native = await nativeSetupTeardown(net, a, f);
    if (native === undefined) console.log('  addon: not measured (a build without the network isolator option)');
    else {
      console.log(`  ${summary('addon, the same steps in one call: setup', native.setup)}`);
      console.log(`  ${summary('addon: teardown', native.teardown)}${native.note ? `  ${native.note}` : ''}`);
    }
    console.log(`\nthroughput, iperf3 ${SECONDS} s (first second omitted), A → B over the test bridge`);
    await throughput(net, a, b, f);
  } finally {
    await net.destroy();
  }
}

await main();
