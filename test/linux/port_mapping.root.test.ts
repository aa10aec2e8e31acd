/**
 * network/port_mapping end to end (issue 5), on the real kernel, in test hosts
 * (test/helpers/test_hosts.ts) — three network namespaces on a bridge:
 *   A  10.77.5.2  a `corral master` and a `corral agent` with the isolator, egress 10 Mbit/s
 *   B  10.77.5.3  the outside world: `corral execute` (the frameworks), curl, iperf3 servers,
 *                 a TCP server for the containers' outbound connections
 *   C  10.77.5.4  a second agent with the isolator, egress 100 Mbit/s
 * Daemons run from the sources (test/helpers/corral_src.ts) with only their network namespace
 * changed (nsenter), so they share this machine's mounts: the namespace handles an agent bind
 * mounts are the ones it finds again after a restart. Tasks are launched by `corral execute`
 * (one framework a task, --checkpoint) from B; the test reads what a user would: replies at A's
 * address from B, files the tasks write, /monitor/statistics, and `ip`/`tc` in A afterwards.
 *
 * The tests share one cluster and run in order. Leftovers of a crashed run (namespaces with
 * the processes inside them, the work dir and every process working in it) are removed first.
 */
import anyTest from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSameProcess, listNetns, nativeFeatures, removeNetns } from '../../lib/linux/index.ts';
import { processesUnder, type Json } from '../helpers/cluster.ts';
import { rootMode, rootOnly } from '../helpers/root.ts';
import { clearLeftoverTestHosts, createTestHosts, type HostProcess, type TestHost, type TestNetwork } from '../helpers/test_hosts.ts';
import { clearLeftoverCgroups, removeRoot, testRoot } from './cgroups_fixture.ts';
import { isLeftover, uniqueName, unmountUnder } from '../helpers/tmp_names.ts';
import { killProcessesUnder } from './containerizer_fixture.ts';

// Only in a build with the network isolator option (CI runs test/linux/** with it); elsewhere
// skipped like a root test off-root.
const test = rootOnly(anyTest, nativeFeatures().networkIsolator ? rootMode() : 'skip');

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CORRAL = ['--import', 'tsx', join(ROOT, 'test', 'helpers', 'corral_src.ts')];
const NODE = process.execPath;
const TAG = '-pm-';

const EPHEMERAL = [32768, 49151] as const; // 16 blocks of 1024
const PER_CONTAINER = 1024;
const HOST_EPHEMERAL = '49152 60999'; // the hosts' own range, outside the pool
const LIMIT_A = 1_250_000; // bytes/s = 10 Mbit/s
const LIMIT_C = 12_500_000; // 100 Mbit/s

// The programs tasks run (written to the test's directory).
const SERVE = `// serve.cjs NAME OUT PORT...: answer NAME on every port; write the ephemeral range to OUT
const net = require('net'), fs = require('fs');
const [name, out, ...ports] = process.argv.slice(2);
let up = 0;
for (const p of ports) net.createServer((s) => s.end(name + '\\n')).listen(Number(p), '0.0.0.0', () => {
  if (++up === ports.length) fs.writeFileSync(out, JSON.stringify({ range: fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim() }));
});
`;
const PORT0 = `// port0.cjs NAME OUT: listen on port 0, answer NAME, write the port and the range to OUT
const net = require('net'), fs = require('fs');
const [name, out] = process.argv.slice(2);
const s = net.createServer((c) => c.end(name + '\\n')).listen(0, '0.0.0.0', () => {
  fs.writeFileSync(out, JSON.stringify({ port: s.address().port, range: fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim() }));
});
`;
const CONNECT = `// connect.cjs HOST PORT OUT: connect out, write what came back and our local port to OUT
const net = require('net'), fs = require('fs');
const [host, port, out] = process.argv.slice(2);
const c = net.connect(Number(port), host);
let d = '';
c.setTimeout(5000, () => { fs.writeFileSync(out, JSON.stringify({ error: 'TIMEOUT' })); process.exit(1); });
c.on('data', (b) => (d += b));
c.on('end', () => { fs.writeFileSync(out, JSON.stringify({ reply: d.trim(), localPort: c.localPort, range: fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim() })); process.exit(0); });
c.on('error', (e) => { fs.writeFileSync(out, JSON.stringify({ error: e.code })); process.exit(1); });
`;
// Run in B: one TCP request; prints the reply, or ERR <code>, or TIMEOUT.
const PROBE = `const s=require('net').connect(Number(process.argv[2]),process.argv[1]);let d='';s.setTimeout(2000,()=>{console.log('TIMEOUT');process.exit(0)});s.on('data',(x)=>d+=x);s.on('end',()=>{console.log(d.trim());process.exit(0)});s.on('error',(e)=>{console.log('ERR '+e.code);process.exit(0)})`;
// Run in B: answer 'outside' and print the peer's address and port.
const OUTSIDE = `require('net').createServer((s)=>{console.log('peer '+s.remoteAddress+':'+s.remotePort);s.end('outside\\n')}).listen(9000,'0.0.0.0',()=>console.log('listening'))`;

interface Launched {
  readonly name: string;
  readonly proc: HostProcess;
  readonly frameworkId: string;
  readonly taskId: string;
}

interface World {
  net: TestNetwork;
  a: TestHost;
  b: TestHost;
  c: TestHost;
  dir: string;
  master: HostProcess;
  agentA: HostProcess;
  agentC: HostProcess;
  agentArgsA: string[];
  outside: HostProcess;
  launched: Launched[];
  /** Numeric handles in /run/netns before the test (the isolator's would be named by pid). */
  handlesBefore: Set<string>;
  /** The filters on eth0 and lo of A and C once the agents are up, before any container. */
  hostFilters: Map<string, string[]>;
}

let w: World | undefined;
const world = (): World => {
  if (!w) throw new Error('the cluster did not start (see the before hook)');
  return w;
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const masterAddr = () => `${world().a.address}:5050`;

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

/** GET from host B (curl), parsed as JSON. */
async function getJson(url: string): Promise<Json> {
  const r = await world().b.exec('curl', ['-sS', '--fail', '--max-time', '10', url]);
  return JSON.parse(r.stdout);
}

/** One TCP request from host B. */
async function probe(host: string, port: number): Promise<string> {
  const r = await world().b.exec(NODE, ['-e', PROBE, host, String(port)]);
  return r.stdout.trim();
}

function daemon(h: TestHost, args: string[]): HostProcess {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS)_/.test(k)));
  return h.start(NODE, [...CORRAL, ...args], { via: 'nsenter', env, cwd: ROOT });
}

function agentArgs(h: TestHost, dir: string, ports: string, limit: number): string[] {
  return [
    'agent',
    `--master=${world().a.address}:5050`,
    `--ip=${h.address}`,
    '--port=5051',
    `--hostname=host${h.index}`,
    `--work_dir=${join(dir, `agent${h.index}`)}`,
    '--isolation=posix/cpu,posix/mem,network/port_mapping',
    // Its own cgroup root (the Linux launcher holds each container in a freezer cgroup).
    `--cgroups_root=${CGROUP_ROOT}-${h.index}`,
    `--resources=cpus:8;mem:4096;disk:1000;ports:${ports};ephemeral_ports:[${EPHEMERAL[0]}-${EPHEMERAL[1]}]`,
    `--ephemeral_ports_per_container=${PER_CONTAINER}`,
    `--egress_rate_limit_per_container=${limit}B`,
    '--network_enable_socket_statistics_summary',
    '--registration_backoff_factor=20ms',
    '--executor_shutdown_grace_period=1secs',
  ];
}

async function activeAgents(): Promise<Json[]> {
  const s = await getJson(`http://${masterAddr()}/master/slaves`);
  return (s.slaves as Json[]).filter((x) => x.active);
}

/** A task through `corral execute` run in B; resolves once it is TASK_RUNNING. */
async function launch(name: string, command: string, resources: string): Promise<Launched> {
  const proc = world().b.start(
    NODE,
    [...CORRAL, 'execute', `--master=${masterAddr()}`, `--name=${name}`, `--command=${command}`, `--resources=${resources}`, '--checkpoint'],
    { cwd: ROOT },
  );
  const sub = await proc.waitFor(/Subscribed with ID (\S+)/, 60_000);
  const sent = await proc.waitFor(/Submitting task (\S+) to agent/, 60_000);
  await proc.waitFor(new RegExp(`status update TASK_RUNNING for task ${sent[1]}`), 60_000);
  const l = { name, proc, frameworkId: sub[1]!, taskId: sent[1]! };
  world().launched.push(l);
  return l;
}

async function teardown(l: Launched): Promise<void> {
  await world().b.exec('curl', ['-sS', '--max-time', '10', '-X', 'POST', '--data', `frameworkId=${l.frameworkId}`, `http://${masterAddr()}/master/teardown`], {
    allowFailure: true,
  });
  await l.proc.kill('SIGTERM', 5000);
}

const out = (file: string) => join(world().dir, 'out', file);

/** A JSON file a task writes, once it is complete. */
function readResult(file: string, timeoutMs = 20_000): Promise<Json> {
  return until(
    `${file} written by the task`,
    () => {
      if (!existsSync(out(file))) return undefined;
      return JSON.parse(readFileSync(out(file), 'utf8'));
    },
    timeoutMs,
  );
}

const parseRange = (text: string): [number, number] => {
  const [lo, hi] = text.split(/\s+/).map(Number);
  return [lo!, hi!];
};

/** /monitor/statistics of the agent at `h`, the entry of executor `taskId`. */
async function statsOf(h: TestHost, taskId: string): Promise<Json> {
  const all = (await getJson(`http://${h.address}:5051/monitor/statistics`)) as Json[];
  return all.find((e) => e.executor_id === taskId)?.statistics;
}

/**
 * The filters (u32 nodes, `fh X::Y`) on ingress of `dev` in host `h`, each as its priority,
 * protocol, matches and actions, without the handles and counters the kernel picks; sorted.
 */
function filterNodes(h: TestHost, dev: string): string[] {
  const text = h.execSync('tc', ['filter', 'show', 'dev', dev, 'ingress']);
  const nodes: string[] = [];
  let cur: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('filter ')) {
      if (cur) nodes.push(cur.join(' | '));
      const m = /protocol (\w+) pref (\d+) u32 .*fh \w+::\w+/.exec(line);
      cur = m ? [`${m[1]} pref ${m[2]}`] : undefined;
    } else if (cur && /^\s+(match|action order)/.test(line)) {
      cur.push(line.trim().replace(/^action order \d+: /, ''));
    }
  }
  if (cur) nodes.push(cur.join(' | '));
  return nodes.sort();
}

/** Links and ingress filters of host `h` (for failure messages). */
function netDump(h: TestHost): string {
  return [h.execSync('ip', ['-o', 'link', 'show']), ...['eth0', 'lo'].map((d) => `${d}:\n${h.execSync('tc', ['filter', 'show', 'dev', d, 'ingress'])}`)].join(
    '\n',
  );
}

function linkNames(h: TestHost): string[] {
  return h
    .execSync('ip', ['-o', 'link', 'show'])
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(': ')[1]!.split('@')[0]!);
}

/** Namespaces made ahead by agents that are gone (a crashed run's; a live agent's are its own). */
function clearDeadAgentsWarm(): void {
  for (const name of listNetns()) {
    const m = /^corral-warm-(\d+)-(\d+)-\d+$/.exec(name);
    if (m && !isSameProcess(Number(m[1]), Number(m[2]))) removeNetns(name);
  }
}

const numericHandles = (): string[] => {
  try {
    return readdirSync('/run/netns').filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
};

function clearLeftoverDirs(): void {
  for (const d of readdirSync(tmpdir())) {
    if (!d.includes(TAG) || !isLeftover(d)) continue;
    const base = join(tmpdir(), d);
    killProcessesUnder(base);
    unmountUnder(base);
    rmSync(base, { recursive: true, force: true });
  }
}

const CGROUP_ROOT = testRoot();

test.before(async () => {
  await clearLeftoverCgroups();
  clearLeftoverDirs();
  await clearLeftoverTestHosts();
  clearDeadAgentsWarm();
  const handlesBefore = new Set(numericHandles());
  const net = await createTestHosts(3, { subnet: '10.77.5' });
  const [a, b, c] = net.hosts as [TestHost, TestHost, TestHost];
  const dir = mkdtempSync(join(tmpdir(), `${uniqueName()}${TAG}`));
  w = { net, a, b, c, dir, launched: [], handlesBefore } as unknown as World;
  for (const [f, text] of [
    ['serve.cjs', SERVE],
    ['port0.cjs', PORT0],
    ['connect.cjs', CONNECT],
  ] as const)
    writeFileSync(join(dir, f), text);
  mkdirSync(join(dir, 'out'));
  // The hosts' own ephemeral range must not overlap the agents' ephemeral_ports pool.
  for (const h of [a, c]) await h.exec('sh', ['-c', `echo '${HOST_EPHEMERAL}' > /proc/sys/net/ipv4/ip_local_port_range`]);

  w.master = daemon(a, ['master', `--ip=${a.address}`, '--port=5050', '--registry=in_memory', '--hostname=hostA']);
  await until('the master answers', async () => ((await getJson(`http://${masterAddr()}/master/state`)) ? true : undefined), 60_000, 200).catch((e) => {
    throw new Error(`${(e as Error).message}\nmaster output:\n${w!.master.stdout()}${w!.master.stderr().slice(-4000)}`);
  });
  w.agentArgsA = agentArgs(a, dir, '[31000-31099]', LIMIT_A);
  w.agentA = daemon(a, w.agentArgsA);
  // A keeps the default stock of namespaces made ahead; C makes each container's as it starts.
  w.agentC = daemon(c, [...agentArgs(c, dir, '[31100-31199]', LIMIT_C), '--network_warm_namespaces=0']);
  await until('two active agents', async () => ((await activeAgents()).length === 2 ? true : undefined), 60_000, 200).catch((e) => {
    throw new Error(`${(e as Error).message}\nagent A:\n${w!.agentA.stderr().slice(-4000)}\nagent C:\n${w!.agentC.stderr().slice(-4000)}`);
  });
  w.hostFilters = new Map([a, c].flatMap((h) => ['eth0', 'lo'].map((dev): [string, string[]] => [`${h.netns} ${dev}`, filterNodes(h, dev)])));
  w.outside = b.start(NODE, ['-e', OUTSIDE]);
  await w.outside.waitFor(/listening/);
});

test.after.always(async () => {
  if (!w) return;
  for (const l of w.launched) await teardown(l).catch(() => {});
  await w.agentA?.kill('SIGTERM', 10_000).catch(() => {});
  await w.agentC?.kill('SIGTERM', 10_000).catch(() => {});
  await w.master?.kill('SIGTERM', 5000).catch(() => {});
  killProcessesUnder(w.dir);
  for (const h of [w.a, w.c]) await removeRoot(`${CGROUP_ROOT}-${h.index}`).catch(() => {});
  await w.net.destroy();
  clearDeadAgentsWarm();
  unmountUnder(w.dir);
  rmSync(w.dir, { recursive: true, force: true });
});

let c1: Launched;
let c2: Launched;

test.serial("two containers each serve on their own port at A's address; neither gets the other's traffic nor a port it was not given", async (t) => {
  const { a, dir } = world();
  const res = 'cpus:0.1;mem:64';
  // c2 also listens on c1's port and on a port of the pool that nobody was given.
  [c1, c2] = await Promise.all([
    launch('c1', `exec ${NODE} ${dir}/serve.cjs c1 ${out('c1.json')} 31001`, `${res};ports:[31001-31001]`),
    launch('c2', `exec ${NODE} ${dir}/serve.cjs c2 ${out('c2.json')} 31002 31001 31050`, `${res};ports:[31002-31002]`),
  ]);
  await Promise.all([readResult('c1.json'), readResult('c2.json')]);
  t.is(await until('c1 answers from B', async () => ((await probe(a.address, 31001)) === 'c1' ? 'c1' : undefined)), 'c1');
  t.is(await until('c2 answers from B', async () => ((await probe(a.address, 31002)) === 'c2' ? 'c2' : undefined)), 'c2');
  const replies31001 = await Promise.all(Array.from({ length: 8 }, () => probe(a.address, 31001)));
  t.deepEqual(replies31001, Array(8).fill('c1'), 'A:31001 belongs to c1 only');
  const r31050 = await probe(a.address, 31050);
  t.not(r31050, 'c2', 'a port of the pool nobody was given does not reach the container listening on it');
  t.regex(r31050, /^(ERR ECONNREFUSED|TIMEOUT|ERR ECONNRESET)$/);
});

test.serial('each container has its own aligned ephemeral block from the pool; a task binding port 0 gets a port in it and is reachable there', async (t) => {
  const { a, dir } = world();
  // (a port of A's pool only to land on A; the task binds port 0)
  const p0 = await launch('p0', `exec ${NODE} ${dir}/port0.cjs p0 ${out('p0.json')}`, 'cpus:0.1;mem:64;ports:[31003-31003]');
  const r = await readResult('p0.json');
  const [lo, hi] = parseRange(r.range);
  t.is(hi - lo + 1, PER_CONTAINER, `range ${r.range}`);
  t.is(lo % PER_CONTAINER, 0, `range ${r.range} is aligned`);
  t.true(lo >= EPHEMERAL[0] && hi <= EPHEMERAL[1], `range ${r.range} inside the pool`);
  t.true(r.port >= lo && r.port <= hi, `port ${r.port} in ${r.range}`);
  t.is(await until('the port-0 task answers from B', async () => ((await probe(a.address, r.port)) === 'p0' ? 'p0' : undefined)), 'p0');
  // Every container's block is its own.
  const blocks = [r.range, (await readResult('c1.json')).range, (await readResult('c2.json')).range].map(parseRange);
  t.is(new Set(blocks.map((b) => b[0])).size, 3, `blocks ${JSON.stringify(blocks)}`);
  await teardown(p0);
});

test.serial(
  "outbound connections from a container work, from a port of the container's own block; ICMP too; and to another container at the host's address or 127.0.0.1",
  async (t) => {
    const { b, dir } = world();
    const ping = `ping -c 1 -W 5 ${b.address} > ${out('ping.tmp')} 2>&1; echo "exit $?" >> ${out('ping.tmp')}; mv ${out('ping.tmp')} ${out('ping.txt')}`;
    const peers = `${NODE} ${dir}/connect.cjs ${world().a.address} 31002 ${out('to-c2-host.json')}; ${NODE} ${dir}/connect.cjs 127.0.0.1 31002 ${out('to-c2-lo.json')}`;
    const o = await launch(
      'out',
      `${NODE} ${dir}/connect.cjs ${b.address} 9000 ${out('out.json')}; ${ping}; ${peers}; sleep 600`,
      'cpus:0.1;mem:64;ports:[31004-31004]',
    );
    const r = await readResult('out.json');
    t.is(r.reply, 'outside', JSON.stringify(r));
    const [lo, hi] = parseRange(r.range);
    t.true(r.localPort >= lo && r.localPort <= hi, `local port ${r.localPort} in the container's block ${r.range}`);
    t.true(lo >= EPHEMERAL[0] && hi <= EPHEMERAL[1], `block ${r.range} inside the pool`);
    // B saw the connection come from A's address and that port.
    t.truthy(await world().outside.waitFor(new RegExp(`peer (?:::ffff:)?${world().a.address.replace(/\./g, '\\.')}:${r.localPort}\\b`)));
    // An echo request out and its reply back (copied to every container by the host's eth0).
    const pinged = await until('ping.txt written by the task', () => (existsSync(out('ping.txt')) ? readFileSync(out('ping.txt'), 'utf8') : undefined));
    t.regex(pinged, /1 received/);
    t.regex(pinged, /exit 0/);
    // Another container of the same host, at the host's address and at 127.0.0.1 (as in
    // Mesos: through the host's lo, steered by destination port).
    t.is((await readResult('to-c2-host.json')).reply, 'c2');
    t.is((await readResult('to-c2-lo.json')).reply, 'c2');
    await teardown(o);
  },
);

test.serial('the egress limit holds (iperf3 to B: within ±10% of 10 and 100 Mbit/s) and the statistics count the bytes sent', async (t) => {
  const { a, b, c } = world();
  const servers = [5201, 5202].map((p) => b.start('iperf3', ['-s', '-p', String(p), '--forceflush']));
  try {
    await Promise.all(servers.map((s) => s.waitFor(/Server listening/)));
    const run = (name: string, port: number, ports: string) =>
      launch(
        name,
        `iperf3 -c ${b.address} -p ${port} -t 4 -J > ${out(`${name}.tmp`)}; mv ${out(`${name}.tmp`)} ${out(`${name}.json`)}; sleep 600`,
        `cpus:0.1;mem:64;ports:${ports}`,
      );
    // ports pin each task to its agent: A's pool is 31000-31099, C's 31100-31199.
    const [ia, ic] = await Promise.all([run('iperf-a', 5201, '[31090-31090]'), run('iperf-c', 5202, '[31190-31190]')]);
    const [ra, rc] = await Promise.all([readResult('iperf-a.json', 30_000), readResult('iperf-c.json', 30_000)]);
    for (const [r, limit, h, l] of [
      [ra, LIMIT_A, a, ia],
      [rc, LIMIT_C, c, ic],
    ] as const) {
      t.is(r.error, undefined, `iperf3 in ${l.name}: ${r.error}`);
      const bps = r.end.sum_received.bits_per_second as number;
      const want = limit * 8;
      t.true(Math.abs(bps - want) <= 0.1 * want, `${l.name}: ${(bps / 1e6).toFixed(2)} Mbit/s against a limit of ${want / 1e6} Mbit/s`);
      // What reached B (the sender's count includes what still sat in its socket buffer).
      const sent = r.end.sum_received.bytes as number;
      const s = await until(`statistics of ${l.taskId}`, () => statsOf(h, l.taskId));
      t.log(`${l.name}: ${(bps / 1e6).toFixed(2)} Mbit/s (limit ${want / 1e6}); received ${sent} B, net_tx_bytes ${s.net_tx_bytes}`);
      // The container's eth0 sent the payload plus headers (and the control connection).
      t.true(s.net_tx_bytes >= sent, `net_tx_bytes ${s.net_tx_bytes} >= iperf3's ${sent}`);
      t.true(s.net_tx_bytes <= sent * 1.1 + 300_000, `net_tx_bytes ${s.net_tx_bytes} not far above iperf3's ${sent}`);
      t.true(s.net_tx_packets > 0 && s.net_rx_packets > 0 && s.net_rx_bytes > 0, JSON.stringify(s));
      const bw = (s.net_traffic_control_statistics as Json[] | undefined)?.find((x) => x.id === 'bw_limit');
      t.truthy(bw, `bw_limit in ${JSON.stringify(s.net_traffic_control_statistics)}`);
      t.true(bw?.bytes >= sent, `bw_limit bytes ${bw?.bytes} >= ${sent}`);
      t.true(typeof s.net_tcp_active_connections === 'number', 'socket statistics summary enabled');
    }
    await Promise.all([teardown(ia), teardown(ic)]);
  } finally {
    for (const s of servers) await s.kill();
  }
});

test.serial('after the agent is killed with SIGKILL and started again, the containers still serve and are tracked', async (t) => {
  const wd = world();
  const before = await probe(wd.a.address, 31001);
  if (before !== 'c1') t.log(`before the kill:\n${netDump(wd.a)}`);
  t.is(before, 'c1', 'served before the agent is killed');
  await wd.agentA.signalAlone('SIGKILL');
  // Still served while the agent is down.
  const down = await probe(wd.a.address, 31001);
  if (down !== 'c1') t.log(`after the kill:\n${netDump(wd.a)}`);
  t.is(down, 'c1', 'served while the agent is down');
  wd.agentA = daemon(wd.a, wd.agentArgsA);
  await until('agent A active again', async () => ((await activeAgents()).length === 2 ? true : undefined), 60_000, 200).catch((e) => {
    throw new Error(`${(e as Error).message}\nagent A:\n${wd.agentA.stderr().slice(-4000)}`);
  });
  t.is(await probe(wd.a.address, 31001), 'c1');
  t.is(await probe(wd.a.address, 31002), 'c2');
  const s1 = await until('statistics of c1 after the restart', () => statsOf(wd.a, c1.taskId));
  t.true(s1.net_rx_bytes > 0, JSON.stringify(s1));
  t.truthy(await statsOf(wd.a, c2.taskId));
  t.is(wd.agentA.child.exitCode, null, 'the restarted agent keeps running');
});

test.serial('HTTP and TCP health checks reach a task inside its own network namespace: they pass, then fail and kill it', async (t) => {
  const wd = world();
  // Each task serves on 127.0.0.1 of its own namespace (unreachable from the host's) until the
  // test makes its stop file, then stays up without the server.
  const serving = (port: number, stop: string) =>
    `python3 -m http.server ${port} --bind 127.0.0.1 & while [ ! -e ${stop} ]; do sleep 0.2; done; kill $!; exec sleep 60`;
  const check = { delay_seconds: 0, interval_seconds: 0.5, timeout_seconds: 2, grace_period_seconds: 30, consecutive_failures: 2 };
  const stopHttp = out('stop-http');
  const stopTcp = out('stop-tcp');
  const checks = [
    { taskId: 'hc-http', port: 31060, command: serving(31060, stopHttp), healthCheck: { ...check, type: 'HTTP', http: { port: 31060, path: '/' } } },
    { taskId: 'hc-tcp', port: 31061, command: serving(31061, stopTcp), healthCheck: { ...check, type: 'TCP', tcp: { port: 31061 } } },
  ];
  const fw = wd.b.start(
    NODE,
    ['--import', 'tsx', join(ROOT, 'test', 'linux', 'fixtures', 'health_check_framework.ts'), masterAddr(), `host${wd.a.index}`, JSON.stringify(checks)],
    {
      cwd: ROOT,
    },
  );
  try {
    for (const id of ['hc-http', 'hc-tcp'])
      await fw.waitFor(new RegExp(`UPDATE ${id} TASK_RUNNING healthy=true reason=REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`), 60_000);
    writeFileSync(stopHttp, '');
    writeFileSync(stopTcp, '');
    for (const id of ['hc-http', 'hc-tcp']) await fw.waitFor(new RegExp(`UPDATE ${id} TASK_KILLED healthy=false`), 30_000);
    await fw.waitFor(/DONE/, 30_000);
  } catch (e) {
    throw new Error(
      `${(e as Error).message}\nframework:\n${fw.stdout().slice(-3000)}\n${fw.stderr().slice(-3000)}\nagent A:\n${wd.agentA.stderr().slice(-3000)}`,
    );
  } finally {
    await fw.kill('SIGTERM', 5000);
  }
  for (const id of ['hc-http', 'hc-tcp']) {
    const lines = fw
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith(`UPDATE ${id} `));
    const health = lines.filter((l) => l.includes('REASON_TASK_HEALTH_CHECK_STATUS_UPDATED')).map((l) => (l.includes('healthy=true') ? 'H' : 'U'));
    t.is(health.join(''), 'HUU', `${id}: healthy, then two failures in a row and the kill`);
  }
});

test.serial('nothing is left after the containers end: no veth, no filters on eth0/lo, no namespace handle, no process', async (t) => {
  const wd = world();
  await Promise.all([teardown(c1), teardown(c2)]);
  for (const h of [wd.a, wd.c]) {
    let live: Json[] = [];
    const gone = await until(
      `containers gone on ${h.netns}`,
      async () => {
        const st = await getJson(`http://${h.address}:5051/state`);
        live = (st.frameworks as Json[]).flatMap((f) => f.executors as Json[]);
        return live.length === 0 ? true : undefined;
      },
      30_000,
      200,
    ).catch((e) => {
      throw new Error(
        `${(e as Error).message}; still there: ${JSON.stringify(live.map((x) => ({ id: x.id, tasks: x.tasks.map((k: Json) => k.state) })))}\n${wd.agentA.stderr().slice(-3000)}`,
      );
    });
    t.true(gone);
    // Besides lo and eth0, only A's namespaces made ahead: their veths, down, at most the stock of 4.
    const containerLinks = () => linkNames(h).filter((n) => !/^corralw\d+$/.test(n));
    await until(`links of ${h.netns} back to lo and eth0`, () => (containerLinks().join(',') === 'lo,eth0' ? true : undefined), 10_000).catch(() => undefined);
    t.deepEqual(containerLinks(), ['lo', 'eth0'], `links in ${h.netns}`);
    const warm = linkNames(h).filter((n) => /^corralw\d+$/.test(n));
    if (h === wd.a) {
      t.true(warm.length >= 1 && warm.length <= 4, `A's namespaces made ahead: ${warm.join(',')}`);
      t.notRegex(
        h
          .execSync('ip', ['-o', 'link', 'show'])
          .split('\n')
          .filter((l) => /corralw\d+/.test(l))
          .join('\n'),
        /[<,]UP[,>]/,
        'their veths are down',
      );
    } else {
      t.deepEqual(warm, [], 'C keeps none ready');
    }
    // Only the agent's own host filters (made at its start) remain.
    for (const dev of ['eth0', 'lo']) t.deepEqual(filterNodes(h, dev), wd.hostFilters.get(`${h.netns} ${dev}`), `filters on ${dev} in ${h.netns}`);
  }
  const leftHandles = numericHandles().filter((n) => !wd.handlesBefore.has(n));
  t.deepEqual(leftHandles, [], 'namespace handles the isolator made are gone');
  const agentPids = new Set([wd.agentA.pid, wd.agentC.pid]);
  const procs = processesUnder(wd.dir).filter((p) => !agentPids.has(p));
  t.deepEqual(procs, [], 'no process left in the work dirs');
  // The agents are still up and healthy.
  t.is((await activeAgents()).length, 2);
  // What they complained about (shown, not judged).
  for (const [name, ag] of [
    ['A', wd.agentA],
    ['C', wd.agentC],
  ] as const) {
    const noisy = ag
      .stderr()
      .split('\n')
      .filter((l) => /"level":"(warn|error|fatal)"/.test(l));
    if (noisy.length > 0) t.log(`agent ${name} warnings/errors:\n${noisy.slice(0, 10).join('\n')}`);
  }
});
