/**
 * --advertise_ip / --advertise_port behind NAT, with real processes: two `corral master --zk`
 * and one `corral agent`, each bound to 127.0.0.1 and reached only through a TCP relay on
 * another address and port (127.0.0.2 for the masters, 127.0.0.3 for the agent), as a NAT would
 * forward them. What the leader publishes in ZooKeeper (json.info_*), /master/state, the
 * follower's redirect, and the agent's address in the master's state (the one the web UI
 * reaches it at) are the advertised ones, and each works through its relay. Bad values: one
 * line naming the flag, exit 2.
 */
import anyTest from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentProcess, freePort } from '../helpers/agent_process.ts';
import { type Json, getJson, killEverythingUnder, request } from '../helpers/cluster.ts';
import { type CorralRun, runNodeScript } from '../helpers/corral_run.ts';
import { MasterProcess } from '../helpers/master_process.ts';
import { ZkEnsemble, waitUntil, zookeeperOnly } from '../helpers/zookeeper.ts';

const zookeeper = createRequire(import.meta.url)('node-zookeeper-client');
const test = zookeeperOnly(anyTest);
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'corral.js');

/** A TCP relay: connections to host:port are piped to 127.0.0.1:to (a NAT's port forward). */
async function relay(host: string, to: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = createConnection({ host: '127.0.0.1', port: to });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The `json.info_*` children of the group at `url` and their JSON, read by one client that is always closed. */
function zkInfos(url: string): Promise<Json[]> {
  const m = /^zk:\/\/([^/]+)(\/.*)$/.exec(url)!;
  const client = zookeeper.createClient(m[1]);
  client.connect();
  const node = m[2]!;
  const data = (name: string) =>
    new Promise<Json>((res, rej) =>
      client.getData(`${node}/${name}`, (err: Error | null, d: Buffer) => (err ? rej(err) : res(JSON.parse(d.toString()) as Json))),
    );
  return new Promise<Json[]>((resolve, reject) =>
    client.getChildren(node, (e: Error | null, children: string[]) => {
      if (e) return reject(e);
      Promise.all(children.filter((c) => c.startsWith('json.info_')).map(data)).then(resolve, reject);
    }),
  ).finally(() => client.close());
}

test('masters and an agent behind a relay publish and register with their advertised address', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-advertise-`));
  const closers: (() => Promise<unknown>)[] = [];
  t.teardown(async () => {
    // Each step is bounded: one of them once never settled (with nothing left to wait on), which
    // held the test file open for ever. Which one is said when it happens.
    for (const [i, c] of closers.reverse().entries()) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 20_000)));
      const r = await Promise.race([c().catch(() => undefined), late]);
      clearTimeout(timer);
      if (r === 'late') t.log(`teardown step ${i} (${String(c).slice(0, 60)}) did not settle within 20 s`);
    }
    killEverythingUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  const zk = await ZkEnsemble.start(1);
  closers.push(() => zk.stop());
  const zkUrl = zk.zkUrl('/corral');

  // Two masters, each reached only at 127.0.0.2:<its relay>; no --hostname: the advertised address is the hostname.
  const masters: { m: MasterProcess; relay: number }[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const r = await relay('127.0.0.2', port);
    closers.push(() => r.close());
    const m = await MasterProcess.start([`--port=${port}`, `--zk=${zkUrl}`, '--advertise_ip=127.0.0.2', `--advertise_port=${r.port}`], { hostname: null });
    closers.push(() => m.stop());
    masters.push({ m, relay: r.port });
  }
  // The leader: the master whose /master/state (through its relay) names itself.
  let leader: (typeof masters)[number] | undefined;
  await waitUntil(
    async () => {
      for (const x of masters) {
        const s = await getJson(`http://127.0.0.2:${x.relay}/master/state`).catch(() => undefined);
        if (s && s.leader === s.pid && s.elected_time !== undefined) leader = x;
      }
      return leader !== undefined;
    },
    'a leading master through its relay',
    60_000,
  );
  const follower = masters.find((x) => x !== leader)!;
  const state = await getJson(`http://127.0.0.2:${leader!.relay}/master/state`);
  t.is(state.pid, `master@127.0.0.2:${leader!.relay}`);
  t.is(state.hostname, '127.0.0.2');
  t.is((state.leader_info as Json).port, leader!.relay);
  t.is((state.leader_info as Json).pid, state.pid);
  t.is((state.leader_info as Json).hostname, '127.0.0.2');
  // What ZooKeeper holds for each master (what agents and schedulers with zk:// read).
  let infos: Json[] = [];
  await waitUntil(async () => (infos = await zkInfos(zkUrl).catch(() => [])).length === 2, 'both candidacies in ZooKeeper', 30_000);
  t.deepEqual(infos.map((i) => i.port as number).sort(), masters.map((x) => x.relay).sort());
  for (const i of infos) t.is((i.address as Json).ip, '127.0.0.2');
  // The follower names the leader at its advertised address, and redirects there; the redirects work.
  t.is((await getJson(`http://127.0.0.2:${follower.relay}/master/state`)).leader, state.pid);
  const redirect = await request(`http://127.0.0.2:${follower.relay}/master/state-summary`, { method: 'GET', timeoutMs: 5000 });
  t.is(redirect.status, 307);
  t.is(redirect.headers.location, `//127.0.0.2:${leader!.relay}/master/state-summary`);
  t.is((await getJson(`http:${redirect.headers.location}`)).hostname, '127.0.0.2');
  for (const x of masters) {
    const r = await request(`http://127.0.0.2:${x.relay}/master/redirect`, { method: 'GET', timeoutMs: 5000 });
    t.is(r.headers.location, `//127.0.0.2:${leader!.relay}`);
  }

  // An agent bound to 127.0.0.1, reached at 127.0.0.3:<relay>, following the masters through ZooKeeper.
  const agentPort = await freePort();
  const agentRelay = await relay('127.0.0.3', agentPort);
  closers.push(() => agentRelay.close());
  const agent = AgentProcess.start([
    `--master=${zkUrl}`,
    '--ip=127.0.0.1',
    `--port=${agentPort}`,
    '--advertise_ip=127.0.0.3',
    `--advertise_port=${agentRelay.port}`,
    `--work_dir=${join(dir, 'agent')}`,
    '--resources=cpus:1;mem:256;disk:100;ports:[31000-31010]',
    '--registration_backoff_factor=100ms',
  ]);
  closers.push(() => agent.stop());
  let slave: Json | undefined;
  await waitUntil(
    async () => {
      const s = await getJson(`http://127.0.0.2:${leader!.relay}/master/slaves`).catch(() => ({ slaves: [] }));
      slave = (s.slaves as Json[]).find((a) => a.active);
      return slave !== undefined;
    },
    'the agent registered',
    60_000,
  );
  t.is(slave!.pid, `slave(1)@127.0.0.3:${agentRelay.port}`);
  t.is(slave!.hostname, '127.0.0.3');
  t.is(slave!.port, agentRelay.port);
  // The web UI reaches an agent at its pid's address: through the relay, it is this agent.
  const agentState = await getJson(`http://127.0.0.3:${agentRelay.port}/state`);
  t.is(agentState.id, slave!.id);
  t.is(agentState.pid, slave!.pid);
});

test('bad --advertise_ip / --advertise_port: one line naming the flag, exit 2', async (t) => {
  const corral = (args: string[]): Promise<CorralRun> => runNodeScript(BIN, args, { timeoutMs: 30_000 });
  const cases: [string[], RegExp][] = [
    [['master', '--registry=in_memory', '--advertise_ip=0.0.0.0'], /^corral master: --advertise_ip: '0\.0\.0\.0' is the unspecified address/],
    [['master', '--registry=in_memory', '--advertise_ip=example.org'], /^corral master: --advertise_ip: 'example\.org' is not an IP address$/],
    [['master', '--registry=in_memory', '--advertise_port=0'], /^corral master: --advertise_port: '0' is not a port peers can reach \(1-65535\)$/],
    [
      ['agent', '--master=127.0.0.1:1', '--work_dir=/nonexistent-corral/wd', '--advertise_port=70000'],
      /^corral agent: --advertise_port: '70000' is not a port number/,
    ],
    [
      ['agent', '--master=127.0.0.1:1', '--work_dir=/nonexistent-corral/wd', '--advertise_ip=::'],
      /^corral agent: --advertise_ip: '::' is the unspecified address/,
    ],
  ];
  for (const [args, line] of cases) {
    const r = await corral(args);
    t.is(r.code, 2, args.join(' ') + '\n' + r.stderr);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr.trim(), line);
  }
});
