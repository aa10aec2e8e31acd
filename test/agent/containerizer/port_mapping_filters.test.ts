/**
 * network/port_mapping: what the pure builders produce for a container, without root (no kernel
 * call): its port filters on the host's eth0/lo and on its veth, by port block and priority slot;
 * the filters inside its namespace; the ARP/ICMP copies in chunks of 32 veths; the ephemeral
 * blocks, aligned to their size. The same layout is checked on a real kernel by
 * test/linux/port_mapping_isolator.root.test.ts.
 */
import test from 'ava';
import { CorralError } from '../../../lib/common/errors.ts';
import { ETH_P_ARP, ETH_P_IP, INGRESS_HANDLE, TC_ACT_CONTINUE, TC_ACT_PIPE, TC_ACT_STOLEN, ipv4Keys, type NetStep } from '../../../lib/linux/index.ts';
import {
  containerPrio,
  deleteHostPortFilters,
  hostPortFilters,
  portHostSteps,
  portNsSteps,
  staticSteps,
  vethPortFilters,
} from '../../../lib/agent/containerizer/isolators/port_mapping/filters.ts';
import { ACTIONS_PER_FILTER, MAX_CHUNKS, MirrorChunks, chunkSteps } from '../../../lib/agent/containerizer/isolators/port_mapping/mirrors.ts';
import { PortBlocks } from '../../../lib/agent/containerizer/isolators/port_mapping/ports.ts';
import type { Host, NetContainer } from '../../../lib/agent/containerizer/isolators/port_mapping/types.ts';

const host: Host = { eth0: 'eth0', lo: 'lo', mac: '02:00:0a:00:00:05', mtu: 1500, ip: '10.0.0.5', prefix: 24, ipv6: false, sysctls: [] };

/** c1: ephemeral block 32768/256, task ports [31000-31001] and [31500-31500]. */
function container(): NetContainer {
  return {
    containerId: 'c1',
    pid: 1234,
    veth: 'corral1234',
    ephemeral: { base: 32768, size: 256 },
    ports: [
      { begin: 31000, end: 31001 },
      { begin: 31500, end: 31500 },
    ],
    slot: 0,
  };
}

/** The blocks a u32 mask matches for c1: its ephemeral block, then its ports. */
const BLOCKS = [
  { base: 32768, size: 256 },
  { base: 31000, size: 2 },
  { base: 31500, size: 1 },
];

type Loose = NetStep & {
  link?: string;
  parent?: number;
  protocol?: number;
  prio?: number;
  keys?: unknown;
  actions?: readonly { kind: string; dev: string; control: number }[];
  inNetns?: boolean;
  path?: string;
  value?: string;
  alias?: string;
  up?: boolean;
};
const loose = (s: readonly NetStep[]): Loose[] => s as Loose[];

test("a container's host filters: one per port block on eth0 and on lo, at 0x1000 + 2·(block base / 16) + slot, redirected to its veth", (t) => {
  const c = container();
  t.is(containerPrio(c, 0), 0x1000 + (32768 / 16) * 2);
  t.is(containerPrio(c, 1), containerPrio(c, 0) + 1);
  // The next block of 16 ports gets the next pair of priorities: no two living containers share one.
  t.is(containerPrio({ ephemeral: { base: 32784, size: 16 } }, 0), containerPrio(c, 1) + 1);

  for (const slot of [0, 1] as const) {
    const steps = loose(hostPortFilters(host, c, slot));
    t.is(steps.length, BLOCKS.length * 2);
    t.true(steps.every((s) => s.kind === 'filterAdd' && s.parent === INGRESS_HANDLE && s.protocol === ETH_P_IP && s.prio === containerPrio(c, slot)));
    t.true(steps.every((s) => s.kind === 'filterAdd' && s.terminal === true));
    t.true(steps.every((s) => JSON.stringify(s.actions) === JSON.stringify([{ kind: 'redirect', dev: 'corral1234', control: TC_ACT_STOLEN }])));
    const onEth0 = steps.filter((s) => s.link === 'eth0');
    const onLo = steps.filter((s) => s.link === 'lo');
    // eth0: to the host's MAC and address, on the block's ports; lo: the block's ports only.
    t.deepEqual(
      onEth0.map((s) => s.keys),
      BLOCKS.map((b) => ipv4Keys({ dstMac: host.mac, dstIp: host.ip, dstPorts: b })),
    );
    t.deepEqual(
      onLo.map((s) => s.keys),
      BLOCKS.map((b) => ipv4Keys({ dstPorts: b })),
    );
  }

  // Removal: one request per link at the slot's priority.
  t.deepEqual(
    loose(deleteHostPortFilters(host, c, 1)).map((s) => [s.kind, s.link, s.prio, s.protocol]),
    [
      ['filtersDelete', 'eth0', containerPrio(c, 1), ETH_P_IP],
      ['filtersDelete', 'lo', containerPrio(c, 1), ETH_P_IP],
    ],
  );
});

test("a container's veth filters: by source port, to the host's address or 127.0.0.1 → lo (0x0302), the rest → eth0 (0x0303)", (t) => {
  const steps = loose(vethPortFilters(host, container()));
  t.is(steps.length, BLOCKS.length * 3);
  t.true(steps.every((s) => s.link === 'corral1234' && s.kind === 'filterAdd' && s.protocol === ETH_P_IP));
  const toLo = steps.filter((s) => s.prio === 0x0302);
  const out = steps.filter((s) => s.prio === 0x0303);
  t.deepEqual(
    toLo.map((s) => s.keys),
    BLOCKS.flatMap((b) => [ipv4Keys({ dstIp: host.ip, srcPorts: b }), ipv4Keys({ dstIp: '127.0.0.1', srcPorts: b })]),
  );
  t.true(toLo.every((s) => s.actions?.[0]?.dev === 'lo' && s.actions[0].control === TC_ACT_STOLEN));
  t.deepEqual(
    out.map((s) => s.keys),
    BLOCKS.map((b) => ipv4Keys({ srcPorts: b })),
  );
  t.true(out.every((s) => s.actions?.[0]?.dev === 'eth0' && s.actions[0].control === TC_ACT_STOLEN));
});

test('inside the container: its ephemeral range, ICMP kept (0x0202), its own ports kept on lo (0x0301), the rest of localhost to the host (0x0302)', (t) => {
  const c = container();
  const ns = loose(portNsSteps(host, c));
  t.like(ns[0], { kind: 'sysctl', inNetns: true, path: 'net/ipv4/ip_local_port_range', value: '32768 33023' });
  t.true(ns.every((s) => s.inNetns === true));

  // A container made on the launch's path: the static steps with the port steps inside.
  const all = loose(staticSteps(host, c.veth, { egressRateLimit: 1_250_000, ingressRateLimit: 2_500_000 }, portNsSteps(host, c)));
  t.like(all[0], { kind: 'vethAdd', link: 'corral1234', peer: 'eth0', peerInNetns: true, mac: host.mac, peerMac: host.mac, mtu: 1500 });
  const loPrios = [...new Set(all.filter((s) => s.kind === 'filterAdd' && s.inNetns && s.link === 'lo').map((s) => s.prio))].sort();
  t.deepEqual(loPrios, [0x0202, 0x0301, 0x0302]);
  const ownPorts = all.filter((s) => s.kind === 'filterAdd' && s.inNetns && s.link === 'lo' && s.prio === 0x0301);
  t.deepEqual(
    ownPorts.map((s) => s.keys),
    BLOCKS.map((b) => ipv4Keys({ dstPorts: b })),
  );
  t.true(
    ownPorts.every((s) => s.actions === undefined),
    'its own ports stay in the container',
  );
  const ethToLo = all.filter((s) => s.kind === 'filterAdd' && s.inNetns && s.link === 'eth0');
  t.true(ethToLo.every((s) => s.prio === 0x0302 && s.actions?.[0]?.dev === 'lo'));
  t.deepEqual(
    ethToLo.map((s) => s.keys),
    BLOCKS.map((b) => ipv4Keys({ dstIp: '127.0.0.1', dstPorts: b })),
  );
  // Limits: HTB with a pfifo leaf on the container's eth0 (egress) and on the host veth (ingress),
  // grafted before the links come up.
  const htb = all.filter((s) => s.kind === 'qdiscAdd' && s.qdiscKind === 'htb');
  t.deepEqual(
    htb.map((s) => [s.link, s.inNetns === true]),
    [
      ['eth0', true],
      ['corral1234', false],
    ],
  );
  t.deepEqual(
    all.filter((s) => s.kind === 'classAdd').map((s) => s.kind === 'classAdd' && s.rate),
    [1_250_000, 2_500_000],
  );
  const up = all.findIndex((s) => s.kind === 'linkSet' && s.inNetns && s.up);
  t.true(all.findIndex((s) => s.kind === 'qdiscAdd' && s.qdiscKind === 'htb' && s.inNetns) < up);
  // Without limits, no HTB.
  t.false(loose(staticSteps(host, c.veth, {})).some((s) => s.kind === 'qdiscAdd' && s.qdiscKind === 'htb'));
});

test('the host steps of a launch: the veth named for recovery first, its filters, then eth0/lo at slot 0, then the veth up', (t) => {
  const c = container();
  const steps = loose(portHostSteps(host, c));
  t.like(steps[0], { kind: 'linkSet', link: 'corral1234', alias: 'corral-container c1 32768/256' });
  t.like(steps.at(-1), { kind: 'linkSet', link: 'corral1234', up: true });
  const middle = steps.slice(1, -1);
  t.deepEqual(middle, [...vethPortFilters(host, c), ...hostPortFilters(host, c, 0)]);
});

test('ARP/ICMP copies of 33 containers: two chunks, 32 copies then 1, each chunk at its own priorities, the new slot added before the old goes', (t) => {
  const m = new MirrorChunks();
  const veths = Array.from({ length: 33 }, (_, i) => `corral${100 + i}`);
  const chunks = veths.map((v) => m.joinChunk(v));
  t.deepEqual(chunks, [...Array<number>(32).fill(0), 1]);
  t.is(ACTIONS_PER_FILTER, 32);
  t.deepEqual(m.members(0), veths.slice(0, 32));
  t.deepEqual(m.members(1), [veths[32]]);

  // Chunk 0, no filters yet: its slot 0 cleared, then ARP at 0x0100 and ICMP to the host at 0x0200.
  const first = chunkSteps(host, 0, m.members(0), undefined);
  t.is(first.next, 0);
  const s0 = loose(first.steps);
  t.deepEqual(
    s0.map((s) => [s.kind, s.prio, s.protocol]),
    [
      ['filtersDelete', 0x0100, ETH_P_ARP],
      ['filtersDelete', 0x0200, ETH_P_IP],
      ['filterAdd', 0x0100, ETH_P_ARP],
      ['filterAdd', 0x0200, ETH_P_IP],
    ],
  );
  t.true(s0.every((s) => s.link === 'eth0' && s.parent === INGRESS_HANDLE));
  const [arp, icmp] = s0.slice(2);
  t.deepEqual(arp!.keys, []);
  t.deepEqual(icmp!.keys, ipv4Keys({ ipProtocol: 1, dstIp: host.ip }));
  for (const f of [arp!, icmp!]) {
    t.is(f.actions?.length, 32);
    t.deepEqual(
      f.actions?.map((a) => a.dev),
      veths.slice(0, 32),
    );
    t.true(f.actions!.every((a) => a.kind === 'mirror'));
    // Each copy lets the packet go on; the last lets classification go on to the next chunk.
    t.true(f.actions!.slice(0, -1).every((a) => a.control === TC_ACT_PIPE));
    t.is(f.actions!.at(-1)!.control, TC_ACT_CONTINUE);
    t.like(f, { skipMissingTargets: true, terminal: true });
  }

  // Chunk 1: priorities 0x0102 and 0x0202, one copy that continues.
  const second = loose(chunkSteps(host, 1, m.members(1), undefined).steps).filter((s) => s.kind === 'filterAdd');
  t.deepEqual(
    second.map((s) => s.prio),
    [0x0102, 0x0202],
  );
  t.deepEqual(
    second.map((s) => s.actions),
    [1, 2].map(() => [{ kind: 'mirror', dev: veths[32], control: TC_ACT_CONTINUE }]),
  );

  // A rewrite of chunk 0 (in slot 0): slot 1 cleared, the new set added there, then slot 0 deleted.
  const rewrite = chunkSteps(host, 0, m.members(0), 0);
  t.is(rewrite.next, 1);
  t.deepEqual(
    loose(rewrite.steps).map((s) => [s.kind, s.prio]),
    [
      ['filtersDelete', 0x0101],
      ['filtersDelete', 0x0201],
      ['filterAdd', 0x0101],
      ['filterAdd', 0x0201],
      ['filtersDelete', 0x0100],
      ['filtersDelete', 0x0200],
    ],
  );

  // A chunk left empty: its filters go, none are added.
  t.is(m.leaveChunk(veths[32]!), 1);
  t.deepEqual(
    loose(chunkSteps(host, 1, m.members(1), 0).steps).map((s) => [s.kind, s.prio]),
    [
      ['filtersDelete', 0x0103],
      ['filtersDelete', 0x0203],
      ['filtersDelete', 0x0102],
      ['filtersDelete', 0x0202],
    ],
  );
  // A place freed in chunk 0 is taken by the next veth, before chunk 1.
  t.is(m.leaveChunk(veths[5]!), 0);
  t.is(m.joinChunk('corral999'), 0);
  t.is(m.leaveChunk('corral-none'), undefined);
});

test('at most 64 chunks of 32 copies: the 2049th container is refused', (t) => {
  const m = new MirrorChunks();
  for (let i = 0; i < MAX_CHUNKS * ACTIONS_PER_FILTER; i++) m.joinChunk(`v${i}`);
  const e = t.throws(() => m.joinChunk('one-more'), { instanceOf: CorralError });
  t.is(e?.code, 'RESOURCES_EXHAUSTED');
  t.regex(e?.message ?? '', /at most 2048 containers per agent/);
});

test('ephemeral blocks start at a multiple of their size inside the pool; a freed block is used again; the pool runs out plainly', (t) => {
  const blocks = new PortBlocks({ ports: [{ begin: 31000, end: 31999 }], ephemeralPorts: [{ begin: 32000, end: 33999 }], ephemeralPortsPerContainer: 512 });
  // 32000 is not a multiple of 512: the first block starts at 32256; 33792 + 511 is past the pool.
  const got = [blocks.allocateBlock(), blocks.allocateBlock(), blocks.allocateBlock()];
  t.deepEqual(got, [
    { base: 32256, size: 512 },
    { base: 32768, size: 512 },
    { base: 33280, size: 512 },
  ]);
  const e = t.throws(() => blocks.allocateBlock(), { instanceOf: CorralError });
  t.is(e?.code, 'RESOURCES_EXHAUSTED');
  t.regex(e?.message ?? '', /out of ephemeral ports \(3 blocks of 512 in use\)/);
  blocks.release(got[1]!);
  t.deepEqual(blocks.allocateBlock(), { base: 32768, size: 512 });

  // A container recovered from a run with another block size holds every block it overlaps.
  t.deepEqual(blocks.blockBases({ base: 32768, size: 1024 }), [32768, 33280]);
  t.deepEqual(blocks.blockBases({ base: 32896, size: 128 }), [32768]);

  // Task ports must lie inside the agent's ports resource.
  t.notThrows(() => blocks.checkPorts([{ begin: 31000, end: 31999 }]));
  const bad = t.throws(() => blocks.checkPorts([{ begin: 31900, end: 32100 }]), { instanceOf: CorralError });
  t.is(bad?.code, 'INVALID');
  t.regex(bad?.message ?? '', /ports \[31900-32100\] are not inside the agent's ports resource/);
});
