/**
 * network/port_mapping on its own, on a real kernel, inside a test host (so the host it prepares
 * is the test host, never this machine's namespace): a container's filters move when its ports
 * change, ARP/ICMP copies follow the set of containers, cleanup removes its filters, and a new
 * isolator (an agent restart) keeps a live container and removes an orphan's veth; limits;
 * more containers than one filter holds copies for.
 * The agent-level behaviour is in port_mapping.root.test.ts.
 */
import anyTest from 'ava';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeFeatures } from '../../lib/linux/index.ts';
import { rootMode, rootOnly } from '../helpers/root.ts';
import { clearLeftoverTestHosts, createTestHosts, type TestNetwork } from '../helpers/test_hosts.ts';

const test = rootOnly(anyTest, nativeFeatures().networkIsolator ? rootMode() : 'skip');
let net: TestNetwork | undefined;

test.before(async () => {
  await clearLeftoverTestHosts();
});

test.after.always(async () => {
  await net?.destroy();
});

/** A container's eth0/lo priority: by the first port of its ephemeral block / 16, and a slot. */
const PRIO = (base: number, slot: number) => 0x1000 + (base / 16) * 2 + slot;

test("update moves a container's filters, copies follow the containers, cleanup and recovery leave only the living", async (t) => {
  net = await createTestHosts(1, { subnet: '10.81.0' });
  const host = net.hosts[0]!;
  host.execSync('sysctl', ['-w', 'net.ipv4.ip_local_port_range=50000 60999']);
  host.execSync('sysctl', ['-w', 'net.core.somaxconn=1234']);
  const driver = join(fileURLToPath(import.meta.url), '..', 'fixtures', 'port_mapping_driver.ts');
  const r = await host.exec(process.execPath, ['--import', 'tsx', driver], {
    timeoutMs: 90_000,
    cwd: join(fileURLToPath(import.meta.url), '..', '..', '..'),
    env: { ...process.env, CORRAL_TEST_GATEWAY: host.gateway, CORRAL_TEST_SWITCH: net.switchNetns, CORRAL_TEST_HOST_IP: host.address },
  });
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Record<string, unknown>>;
  // c1 has block 32768/256; c2 the next one (33024).
  t.true((o.afterIsolate!.eth0 as number[]).includes(PRIO(32768, 0)));
  t.true((o.afterIsolate!.lo as number[]).includes(PRIO(32768, 0)));
  t.deepEqual(o.afterIsolate!.containerLo, [0x0202, 0x0301, 0x0302]);
  t.like(o.afterIsolate, { portRange: '32768 33023', somaxconn: '1234' });
  t.is((o.afterIsolate!.veths as string[]).length, 1);
  t.regex((o.afterIsolate!.veths as string[])[0]!, /^crlt\d+ corral-container c1 32768\/256$/);
  // After the update: slot 1 only, with filters for [31000-31001], [31500] and the ephemeral block.
  t.true((o.afterUpdate!.eth0 as number[]).includes(PRIO(32768, 1)));
  t.false((o.afterUpdate!.eth0 as number[]).includes(PRIO(32768, 0)));
  t.is(o.afterUpdate!.filtersOnEth0, 3);
  // Two containers: both get the ARP and ICMP copies.
  const mirrors = o.twoContainers!.mirrorsTo as string[];
  t.is(mirrors.length, 4);
  t.is(new Set(mirrors).size, 2);
  t.true((o.twoContainers!.eth0 as number[]).includes(PRIO(33024, 0)));
  t.is(typeof (o.usage as Record<string, unknown>).net_rx_packets, 'number');
  // c1 cleaned up: its filters and its veth are gone, c2's copies stay.
  t.false((o.afterCleanup!.eth0 as number[]).some((p) => p === PRIO(32768, 0) || p === PRIO(32768, 1)));
  t.false((o.afterCleanup!.lo as number[]).some((p) => p === PRIO(32768, 0) || p === PRIO(32768, 1)));
  t.is(new Set(o.afterCleanup!.mirrorsTo as string[]).size, 1);
  t.deepEqual(
    (o.afterCleanup!.veths as string[]).map((v) => v.split(' ')[2]),
    ['c2'],
  );
  // Restart: c2 kept and measured, the ghost's veth removed.
  t.deepEqual(
    (o.afterRecover!.veths as string[]).map((v) => v.split(' ')[2]),
    ['c2'],
  );
  t.true(o.afterRecover!.usage as unknown as boolean);
  t.true((o.afterRecover!.eth0 as number[]).includes(PRIO(33024, 0)));
  // Nothing of any container is left at the end: no veth, no container filter, no copies.
  t.deepEqual(o.afterAll!.veths, []);
  t.deepEqual(
    (o.afterAll!.eth0 as number[]).filter((p) => p !== 0x0300 && p !== 0x00ff),
    [],
  );
  t.deepEqual(o.afterAll!.lo, []);
  // Limits: HTB + pfifo leaf at both ends, at the rates asked (10 and 20 Mbit/s).
  t.like(o.limits, { egressQdiscs: 2, ingressQdiscs: 2, egressRate: '10Mbit', ingressRate: '20Mbit' });
  t.deepEqual(o.limits!.bwLimit, ['bw_limit', 'ingress_bw_limit']);
  t.is(o.limits!.tcpActive, 0, 'socket statistics of a container without connections');
  // 40 containers: ARP copies in two filters (32 + 8), 80 copies in all; the first and the last
  // container both get their ping replies.
  t.like(o.many, { arpFilters: 2, copies: 80, lastPings: true, firstPings: true });
  // A ping to the host's address from outside gets one reply per request: the host's (every
  // container holds that address too, but echo requests are not copied to them).
  t.regex(o.many!.hostPing as string, / 3 received/);
  // A launch into a chunk with an ended (not yet cleaned up) member, next to a cleanup, works.
  t.true(o.many!.lateLaunchPings as unknown as boolean);
  // Namespaces made ahead: the command joins one, gets its block and its network; the stock
  // (2) is made again; closing the isolator leaves nothing pinned, and the veths go with them.
  t.like(o.warm, {
    earlierRemoved: true,
    liveKept: true,
    ownWhenNoneReady: true,
    readyAfterFill: 2,
    joined: true,
    portRange: '32768 33023',
    pings: true,
    pinnedAfterLaunch: 2,
    pinnedAfterClose: 0,
    vethsAfterClose: 0,
  });
  t.regex(o.warm!.veth as string, /^crltw\d+$/);
  t.notRegex(o.many!.hostPing as string, /DUP!/);
});
