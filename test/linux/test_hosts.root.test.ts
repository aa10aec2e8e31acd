/**
 * The test-host helper itself (test/helpers/test_hosts.ts): hosts on a bridge reach each other
 * by ICMP and TCP at their own addresses, the root namespace is left alone, and nothing is left
 * after destroy(), after a failed build, or after a crashed run.
 */
import anyTest from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { rootOnly } from '../helpers/root.ts';
import { clearLeftoverTestHosts, createTestHosts, pidsInNetnsInode, type TestNetwork } from '../helpers/test_hosts.ts';

const test = rootOnly(anyTest);
const networks: TestNetwork[] = [];

const ipOut = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const netnsNames = (): string[] => readdirSync('/run/netns');
/** Running (a zombie waiting for its parent counts as ended). */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const SERVER = `require('net').createServer((s) => s.end('hello from ' + process.argv[1])).listen(7000, '0.0.0.0', () => console.log('listening'))`;
const CLIENT = `const s = require('net').connect(7000, process.argv[1]); let d = ''; s.on('data', (b) => (d += b)); s.on('end', () => console.log(d)); s.on('error', (e) => { console.error(e.message); process.exit(1); })`;

test.before(async () => {
  await clearLeftoverTestHosts();
});

test.after.always(async () => {
  for (const n of networks) await n.destroy();
});

test.serial('two hosts: own addresses on eth0, default route via the bridge, ping and TCP both ways; root namespace untouched', async (t) => {
  const rootLinks = ipOut('-o', 'link', 'show');
  const rootRoutes = ipOut('route', 'show');
  const net = await createTestHosts(2);
  networks.push(net);
  const [a, b] = net.hosts;
  t.truthy(a && b);
  if (!a || !b) return;
  t.is(a.address, '10.77.0.2');
  t.is(b.address, '10.77.0.3');
  t.regex(a.execSync('ip', ['-o', '-4', 'addr', 'show', 'dev', 'eth0']), /inet 10\.77\.0\.2\/24/);
  t.regex(a.execSync('ip', ['route', 'show', 'default']), /^default via 10\.77\.0\.1 dev eth0/);
  t.regex(a.execSync('ip', ['-o', 'link', 'show', 'lo']), /state UNKNOWN|,UP/);
  // Only lo and eth0 in a host.
  t.deepEqual(
    a
      .execSync('ip', ['-o', 'link', 'show'])
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(': ')[1]?.split('@')[0]),
    ['lo', 'eth0'],
  );

  await a.exec('ping', ['-c', '1', '-W', '3', b.address]);
  await b.exec('ping', ['-c', '1', '-W', '3', a.address]);
  await a.exec('ping', ['-c', '1', '-W', '3', a.gateway]);

  for (const [server, client] of [
    [b, a],
    [a, b],
  ] as const) {
    const srv = server.start(process.execPath, ['-e', SERVER, `h${server.index}`]);
    await srv.waitFor(/listening/);
    const r = await client.exec(process.execPath, ['-e', CLIENT, server.address]);
    t.is(r.stdout.trim(), `hello from h${server.index}`);
    await srv.kill();
  }

  t.is(ipOut('-o', 'link', 'show'), rootLinks);
  t.is(ipOut('route', 'show'), rootRoutes);
});

test.serial('destroy kills what runs in the hosts (also what it forked, and processes not started here) and removes every namespace', async (t) => {
  const net = await createTestHosts(3, { subnet: '10.78.1' });
  networks.push(net);
  const [a, b] = net.hosts;
  if (!a || !b) return t.fail('no hosts');
  t.is(a.address, '10.78.1.2');
  // A process that ignores SIGTERM, with a child; and one started outside the helper.
  const stubborn = a.start('sh', ['-c', "trap '' TERM; sleep 600 & echo started; wait"]);
  await stubborn.waitFor(/started/);
  const outsider = spawn('ip', ['netns', 'exec', b.netns, 'sleep', '600'], { stdio: 'ignore', detached: true });
  outsider.unref();
  const ino = Number(/\d+/.exec(execFileSync('stat', ['-L', '-c', '%i', b.netnsPath], { encoding: 'utf8' }))?.[0]);
  for (let i = 0; i < 50 && pidsInNetnsInode(ino).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  const inA = a.pids();
  const inB = b.pids();
  t.true(inA.length >= 2, `processes in a: ${inA}`);
  t.true(inB.length >= 1, `processes in b: ${inB}`);
  for (const ns of net.namespaces) t.true(netnsNames().includes(ns));

  await net.destroy();
  for (const p of [...inA, ...inB]) t.false(alive(p), `pid ${p} is still alive`);
  const left = netnsNames().filter((n) => n.startsWith(net.prefix));
  t.deepEqual(left, []);
  await net.destroy(); // idempotent
});

test.serial('a build that fails half-way undoes itself', async (t) => {
  const before = netnsNames().filter((n) => n.startsWith(`corral-test-${process.pid}-`));
  // Passes the shape check, refused by the kernel when the first address is added.
  await t.throwsAsync(createTestHosts(2, { subnet: '10.77.300' }), { message: /ip -n .* addr add/ });
  t.deepEqual(
    netnsNames().filter((n) => n.startsWith(`corral-test-${process.pid}-`)),
    before,
  );
  await t.throwsAsync(createTestHosts(0), { message: /n must be an integer/ });
  await t.throwsAsync(createTestHosts(1, { subnet: '10.77' }), { message: /subnet must be three octets/ });
});

test.serial("a crashed run's hosts are cleared at start, processes inside included; live runs' are not", async (t) => {
  // A name whose pid cannot be alive (above pid_max): what a crashed run leaves.
  const dead = 'corral-test-99999999-0';
  execFileSync('ip', ['netns', 'add', `${dead}-sw`]);
  execFileSync('ip', ['netns', 'add', `${dead}-h0`]);
  execFileSync('ip', ['-n', `${dead}-sw`, 'link', 'add', 'vh0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', `${dead}-h0`]);
  const sleeper = spawn('ip', ['netns', 'exec', `${dead}-h0`, 'sleep', '600'], { stdio: 'ignore', detached: true });
  sleeper.unref();
  await new Promise((r) => setTimeout(r, 100));
  t.true(alive(sleeper.pid!));
  const mine = await createTestHosts(1, { subnet: '10.79.0' });
  networks.push(mine);

  const cleared = await clearLeftoverTestHosts();
  t.deepEqual(cleared.sort(), [`${dead}-h0`, `${dead}-sw`]);
  t.false(netnsNames().some((n) => n.startsWith(dead)));
  t.false(alive(sleeper.pid!));
  for (const ns of mine.namespaces) t.true(netnsNames().includes(ns));
  await mine.destroy();
});
