/**
 * The addon's rtnetlink steps on a real kernel (network isolator build only): three fresh
 * namespaces — a "host" H, a "container" C sharing H's address, and a peer P on H's link — wired
 * with a veth made directly inside C, u32 filters with mirred redirects and mirrors, and an HTB
 * limit. Traffic is real TCP between processes started in the namespaces.
 */
import anyTest from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  ETH_P_ARP,
  ETH_P_IP,
  INGRESS_HANDLE,
  NativeError,
  TC_ACT_PIPE,
  TC_ACT_STOLEN,
  TC_H_INGRESS,
  TC_H_ROOT,
  applyNetSteps,
  createNetns,
  ipv4Keys,
  listFilters,
  listLinks,
  listQdiscs,
  listQdiscsAsync,
  nativeFeatures,
  portBlocks,
  removeNetns,
  tcHandle,
  tcpRoundTripTimes,
  tcpRoundTripTimesAsync,
  freshNetnsSysctls,
  type NetStep,
} from '../../lib/linux/index.ts';
import { rootMode, rootOnly } from '../helpers/root.ts';
import { clearLeftoverNetns, uniqueName } from '../helpers/tmp_names.ts';

const test = rootOnly(anyTest, nativeFeatures().networkIsolator ? rootMode() : 'skip');
const made: string[] = [];
const procs: ChildProcess[] = [];

test.before(() => {
  clearLeftoverNetns();
});

test.after.always(() => {
  for (const p of procs) p.kill('SIGKILL');
  for (const name of made) removeNetns(name);
});

function ns(): string {
  const n = uniqueName();
  made.push(n);
  createNetns(n);
  return n;
}

/** A node one-liner inside a namespace; resolves with its stdout when it exits. */
async function runIn(netns: string, script: string): Promise<string> {
  const p = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const [code] = await once(p, 'exit');
  if (code !== 0) throw new Error(`in ${netns}: exit ${code}: ${err}`);
  return out;
}

/** A TCP server in a namespace answering `reply`; resolves once it listens. */
async function serveIn(netns: string, port: number, reply: string): Promise<void> {
  const p = spawn(
    'ip',
    ['netns', 'exec', netns, process.execPath, '-e', `require('net').createServer((s)=>s.end(${JSON.stringify(reply)})).listen(${port},()=>console.log('up'))`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  procs.push(p);
  await once(p.stdout, 'data');
}

const fetchScript = (host: string, port: number) =>
  `const s=require('net').connect(${port},'${host}');let d='';s.setTimeout(3000,()=>{console.log('TIMEOUT');process.exit(0)});` +
  `s.on('data',(x)=>d+=x);s.on('end',()=>{console.log(d);process.exit(0)});s.on('error',(e)=>{console.log('ERR '+e.code);process.exit(0)})`;

function ip(netns: string, ...args: string[]): void {
  const r = spawnSync('ip', ['-n', netns, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip -n ${netns} ${args.join(' ')}: ${r.stderr}`);
}

test('a container namespace sharing the host address serves its port, the host keeps the others', async (t) => {
  const H = ns();
  const C = ns();
  const P = ns();
  // H <-> P: a plain link (made with ip here: this is the test bed, not the code under test).
  ip(H, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', P);
  ip(H, 'addr', 'add', '10.77.0.1/24', 'dev', 'eth0');
  ip(H, 'link', 'set', 'eth0', 'up');
  ip(H, 'link', 'set', 'lo', 'up');
  ip(P, 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0');
  ip(P, 'link', 'set', 'eth0', 'up');
  ip(P, 'link', 'set', 'lo', 'up');
  const hostMac = listLinks({ netns: H }).find((l) => l.name === 'eth0')!.mac;

  const block = { base: 5000, size: 8 }; // ports 5000-5007 belong to the container
  const steps: NetStep[] = [
    { kind: 'vethAdd', link: 'veth0', peer: 'eth0', peerInNetns: true, mac: hostMac, peerMac: hostMac, mtu: 1500 },
    { kind: 'linkSet', link: 'lo', up: true, inNetns: true },
    { kind: 'linkSet', link: 'eth0', up: true, inNetns: true },
    { kind: 'addrAdd', link: 'eth0', address: '10.77.0.1', prefix: 24, inNetns: true },
    { kind: 'sysctl', path: 'net/ipv4/ip_local_port_range', value: '5000 5007', inNetns: true },
    { kind: 'qdiscAdd', link: 'eth0', qdiscKind: 'ingress', parent: TC_H_INGRESS, handle: INGRESS_HANDLE, ignoreExists: true },
    { kind: 'qdiscAdd', link: 'veth0', qdiscKind: 'ingress', parent: TC_H_INGRESS, handle: INGRESS_HANDLE },
    // Container -> out: its source ports go to the host's link; ARP too.
    {
      kind: 'filterAdd',
      link: 'veth0',
      parent: INGRESS_HANDLE,
      prio: 0x0303,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ srcPorts: block }),
      terminal: true,
      actions: [{ kind: 'redirect', dev: 'eth0', control: TC_ACT_STOLEN }],
    },
    {
      kind: 'filterAdd',
      link: 'veth0',
      parent: INGRESS_HANDLE,
      prio: 0x0102,
      protocol: ETH_P_ARP,
      keys: [],
      terminal: true,
      actions: [{ kind: 'redirect', dev: 'eth0', control: TC_ACT_STOLEN }],
    },
    // Out -> container: its destination ports; ARP copied to it, the host keeps its copy.
    {
      kind: 'filterAdd',
      link: 'eth0',
      parent: INGRESS_HANDLE,
      prio: 0x1000,
      protocol: ETH_P_IP,
      keys: ipv4Keys({ dstMac: hostMac, dstIp: '10.77.0.1', dstPorts: block }),
      terminal: true,
      actions: [{ kind: 'redirect', dev: 'veth0', control: TC_ACT_STOLEN }],
    },
    {
      kind: 'filterAdd',
      link: 'eth0',
      parent: INGRESS_HANDLE,
      prio: 0x0100,
      protocol: ETH_P_ARP,
      keys: [],
      terminal: true,
      actions: [{ kind: 'mirror', dev: 'veth0', control: TC_ACT_PIPE }],
    },
    { kind: 'linkSet', link: 'veth0', up: true },
  ];
  applyNetSteps({ netns: C, host: { netns: H } }, steps);

  const cLinks = listLinks({ netns: C });
  t.like(
    cLinks.find((l) => l.name === 'eth0'),
    { kind: 'veth', up: true, mac: hostMac, mtu: 1500 },
  );
  t.like(
    listLinks({ netns: H }).find((l) => l.name === 'veth0'),
    { kind: 'veth', up: true },
  );
  t.true(listFilters('eth0', INGRESS_HANDLE, { netns: H }).some((f) => f.prio === 0x1000 && f.protocol === ETH_P_IP));

  await serveIn(C, 5003, 'from the container');
  await serveIn(H, 6000, 'from the host');
  t.is((await runIn(P, fetchScript('10.77.0.1', 5003))).trim(), 'from the container');
  t.is((await runIn(P, fetchScript('10.77.0.1', 6000))).trim(), 'from the host');
  // Outbound from the container: its ephemeral port is inside its block, so replies come back.
  await serveIn(P, 7000, 'from the peer');
  t.is((await runIn(C, fetchScript('10.77.0.2', 7000))).trim(), 'from the peer');
  // The host veth's counters saw the container's traffic.
  const veth = listLinks({ netns: H }).find((l) => l.name === 'veth0')!;
  t.true(veth.stats.rxPackets > 0 && veth.stats.txPackets > 0);
});

test('HTB limit on a link, read back with its counters; a bad step is named and stops the list', async (t) => {
  const H = ns();
  ip(H, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0');
  applyNetSteps({ netns: H, host: { netns: H } }, [
    { kind: 'qdiscAdd', link: 'a0', qdiscKind: 'htb', parent: TC_H_ROOT, handle: tcHandle(1, 0), htbDefault: 1 },
    { kind: 'classAdd', link: 'a0', parent: tcHandle(1, 0), handle: tcHandle(1, 1), rate: 1_250_000, burst: 64 * 1024 },
    { kind: 'qdiscAdd', link: 'a0', qdiscKind: 'pfifo', parent: tcHandle(1, 1), handle: tcHandle(2, 0), limit: 100 },
  ]);
  const q = listQdiscs('a0', { netns: H });
  t.truthy(q.find((x) => x.kind === 'htb' && x.handle === tcHandle(1, 0) && x.parent === TC_H_ROOT));
  t.deepEqual(
    (await listQdiscsAsync('a0', { netns: H })).map((x) => [x.kind, x.handle, x.parent]),
    q.map((x) => [x.kind, x.handle, x.parent]),
    'the same off the JS thread',
  );
  await t.throwsAsync(listQdiscsAsync('nosuchlink', { netns: H }), { instanceOf: NativeError, code: 'ENODEV' });
  t.truthy(q.find((x) => x.kind === 'pfifo' && x.parent === tcHandle(1, 1)));
  const tcOut = spawnSync('tc', ['-n', H, 'class', 'show', 'dev', 'a0'], { encoding: 'utf8' }).stdout;
  t.regex(tcOut, /rate 10Mbit/);

  const e = t.throws(() =>
    applyNetSteps({ host: { netns: H } }, [
      { kind: 'linkSet', link: 'b0', mtu: 1400 },
      { kind: 'linkSet', link: 'nosuchlink', up: true },
      { kind: 'linkSet', link: 'b0', mtu: 1300 },
    ]),
  ) as NativeError;
  t.is(e.code as string, 'ENODEV');
  t.regex(e.message, /step 1: link nosuchlink/);
  t.is(listLinks({ netns: H }).find((l) => l.name === 'b0')?.mtu, 1400);
});

test('a link dump interrupted by links changing meanwhile is read again, never half', async (t) => {
  const N = ns();
  const batch = Array.from({ length: 150 }, (_, i) => `link add a${i} type veth peer name b${i}`).join('\n') + '\n';
  const r = spawnSync('ip', ['-n', N, '-batch', '-'], { input: batch, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  // Another process adds and deletes a link without pause while this one dumps.
  const churn = spawn('sh', ['-c', `while :; do ip -n ${N} link add churn type veth peer name churnp; ip -n ${N} link del churn; done`], { stdio: 'ignore' });
  procs.push(churn);
  try {
    await new Promise((res) => setTimeout(res, 100));
    for (let i = 0; i < 300; i++) {
      const names = new Set(listLinks({ netns: N }).map((l) => l.name));
      for (const want of ['lo', 'a0', 'b75', 'a149']) if (!names.has(want)) t.fail(`dump ${i} lacks ${want}`);
      t.true(names.size >= 301);
    }
  } finally {
    churn.kill('SIGKILL');
  }
});

test('port blocks: the fewest aligned power-of-two blocks, each matchable by one u32 mask', (t) => {
  t.deepEqual(
    portBlocks(31000, 32000).map((b) => [b.base, b.base + b.size - 1]),
    [
      [31000, 31007],
      [31008, 31039],
      [31040, 31103],
      [31104, 31231],
      [31232, 31743],
      [31744, 31999],
      [32000, 32000],
    ],
  );
  t.deepEqual(portBlocks(32768, 33791), [{ base: 32768, size: 1024 }]);
  t.deepEqual(portBlocks(0, 65535), [{ base: 0, size: 65536 }]);
  const k = ipv4Keys({ dstPorts: { base: 32768, size: 1024 } });
  t.deepEqual(k.at(-1), { off: 20, mask: 0xfc00, val: 32768 });
});

test("TCP round-trip times of a namespace's sockets, through sock_diag inside it", async (t) => {
  const N = ns();
  ip(N, 'link', 'set', 'lo', 'up');
  t.deepEqual(tcpRoundTripTimes({ netns: N }), []);
  // A server and a client that exchange data and stay connected (established sockets keep an RTT).
  const server = spawn(
    'ip',
    [
      'netns',
      'exec',
      N,
      process.execPath,
      '-e',
      "require('net').createServer((s)=>{s.write('x'.repeat(100000));s.on('data',()=>{})}).listen(9000,()=>console.log('up'))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  procs.push(server);
  await once(server.stdout, 'data');
  const p = spawn(
    'ip',
    [
      'netns',
      'exec',
      N,
      process.execPath,
      '-e',
      "const s=require('net').connect(9000,'127.0.0.1');let n=0;s.on('data',(d)=>{n+=d.length;if(n>=100000){s.write('thanks');console.log('got it')}})",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  procs.push(p);
  await once(p.stdout, 'data');
  const rtts = tcpRoundTripTimes({ netns: N });
  t.true(rtts.length >= 1, `sockets with an RTT: ${rtts.length}`);
  t.true(rtts.every((r) => r > 0 && r < 1_000_000));
  // Off the JS thread: the same sockets; a namespace that is not there is an error, not a crash.
  t.is((await tcpRoundTripTimesAsync({ netns: N })).length, rtts.length);
  await t.throwsAsync(tcpRoundTripTimesAsync({ netns: `${N}-absent` }), { instanceOf: NativeError, code: 'ENOENT' });
});

test('the sysctls a brand-new network namespace starts with', (t) => {
  const [somaxconn, range, missing] = freshNetnsSysctls(['net/core/somaxconn', 'net/ipv4/ip_local_port_range', 'net/ipv4/no_such_knob']);
  t.regex(somaxconn ?? '', /^\d+$/);
  t.regex(range ?? '', /^\d+ \d+$/);
  t.is(missing, undefined);
});
