/**
 * Leader election and detection on a real 3-server ensemble (mesos-api.md §7.2–7.3): contenders,
 * detectors, a third-party reader written from the spec, the loss of one ZooKeeper server, and
 * leadership lost when the process stalls. Serial tests (run before the concurrent ones) stop a
 * server or stall the event loop.
 */
import anyTest, { type ExecutionContext } from 'ava';
import { createRequire } from 'node:module';
import { type ZkEnsemble as Ensemble, ZkEnsemble, expireSession, stallEventLoop, waitUntil, zookeeperOnly } from '../../helpers/zookeeper.ts';
import type { MasterInfo } from '../../../lib/proto/messages.ts';
import { masterInfoIp } from '../../../lib/proto/common_messages.ts';
import type { LeaderAddress } from '../../../lib/transport/leader.ts';
import { ZkContender, ZkMasterDetector, createMasterDetector } from '../../../lib/transport/zookeeper/group.ts';
import { ZkSession } from '../../../lib/transport/zookeeper/session.ts';
import { encodeMasterInfoProtobuf } from './master_info_pb.ts';

const zookeeper = createRequire(import.meta.url)('node-zookeeper-client');
const test = zookeeperOnly(anyTest);
let zk: Ensemble;
let n = 0;

test.before(async () => {
  zk = await ZkEnsemble.start(3);
});
test.after.always(async () => {
  await zk?.stop();
});

const fresh = (): string => `/e${n++}`;

function info(name: string, port: number): MasterInfo {
  return {
    id: `id-${name}`,
    ip: masterInfoIp('127.0.0.1'),
    port,
    pid: `master@127.0.0.1:${port}`,
    hostname: `${name}.example`,
    version: '1.11.0',
    address: { hostname: `${name}.example`, ip: '127.0.0.1', port },
  };
}

async function session(
  t: ExecutionContext,
  path: string,
  o: { timeoutMs?: number; credentials?: { user: string; password: string } } = {},
): Promise<ZkSession> {
  const s = await ZkSession.open({ url: zk.zkUrl(path, o.credentials), field: '--zk', sessionTimeoutMs: o.timeoutMs ?? 2000 });
  t.teardown(() => s.close());
  return s;
}

/** A contender on a session of its own, contending with `info`. */
async function contender(t: ExecutionContext, path: string, mi: MasterInfo, o: { timeoutMs?: number } = {}) {
  const s = await session(t, path, o);
  const c = new ZkContender(s);
  const state = { elected: false, lost: undefined as string | undefined };
  void c.elected.then(() => (state.elected = true));
  void c.lost.then((r) => (state.lost = r));
  await c.contend(mi);
  return { session: s, contender: c, state };
}

async function detector(t: ExecutionContext, path: string): Promise<{ d: ZkMasterDetector; seen: (LeaderAddress | undefined)[] }> {
  const d = new ZkMasterDetector({ url: zk.zkUrl(path), field: '--master', sessionTimeoutMs: 2000 });
  t.teardown(() => d.stop());
  const seen: (LeaderAddress | undefined)[] = [];
  d.onChange((l) => seen.push(l));
  await d.start();
  return { d, seen };
}

test.serial('losing the ZooKeeper server a leader is connected to keeps its session and its leadership', async (t) => {
  const path = fresh();
  // A long session timeout: nothing here waits for it, and a reconnection under load stays well inside its lease.
  const a = await contender(t, path, info('a', 5050), { timeoutMs: 10_000 });
  await a.contender.elected;
  const { d } = await detector(t, path);
  t.is(d.current()?.id, 'id-a');
  const sessionId = a.session.sessionId;
  const server = a.session.connectedServer;
  t.truthy(server);
  const id = [1, 2, 3].find((i) => server!.endsWith(`:${zk.clientPort(i)}`))!;
  await zk.stopServer(id);
  await waitUntil(() => a.session.connectedServer !== undefined && a.session.connectedServer !== server, 'the session on another server');
  await waitUntil(() => a.contender.mayAct(), 'the leader may act again');
  t.is(a.session.sessionId, sessionId, 'the same session');
  t.is(a.state.lost, undefined, 'leadership kept');
  t.is(a.session.currentState, 'connected');
  t.is(d.current()?.id, 'id-a');
  const b = await contender(t, path, info('b', 5051));
  t.false(b.state.elected);
  await zk.startServer(id);
  t.true(a.contender.mayAct());
});

test.serial('a leader whose process stalls past half the session timeout loses leadership at once; a follower keeps its candidacy', async (t) => {
  const path = fresh();
  const a = await contender(t, path, info('a', 5050));
  await a.contender.elected;
  const b = await contender(t, path, info('b', 5051));
  await waitUntil(() => a.contender.mayAct(), 'the leader may act');
  stallEventLoop(a.session.sessionTimeoutMs * 0.6);
  t.false(a.contender.mayAct(), 'false at once, before any timer or I/O ran');
  const reason = await a.contender.lost;
  t.regex(reason, /^leadership in doubt: the process stalled for/);
  t.false(a.contender.mayAct(), 'and it stays false');
  t.false(b.state.elected);
  t.is(b.state.lost, undefined);
  // The leader steps down as Corral's master does: it closes its session; the follower takes over.
  await a.session.close();
  await b.contender.elected;
  await waitUntil(() => b.contender.mayAct(), 'the new leader may act');
});

test.serial('a leader whose session ZooKeeper expires loses leadership; the next candidacy leads', async (t) => {
  const path = fresh();
  const a = await contender(t, path, info('a', 5050));
  await a.contender.elected;
  const b = await contender(t, path, info('b', 5051));
  const { d } = await detector(t, path);
  t.is(d.current()?.id, 'id-a');
  await expireSession(zk, a.session);
  t.is(await a.contender.lost, 'the ZooKeeper session expired');
  t.false(a.contender.mayAct());
  await b.contender.elected;
  await waitUntil(() => d.current()?.id === 'id-b', 'b detected');
});

test('the lowest candidacy leads; when its session closes the next one is elected and detectors follow', async (t) => {
  const path = fresh();
  const { d, seen } = await detector(t, path);
  t.is(d.current(), undefined, 'no master has contended yet: no leader');
  const a = await contender(t, path, info('a', 5050));
  const b = await contender(t, path, info('b', 5051));
  const c = await contender(t, path, info('c', 5052));
  await a.contender.elected;
  t.regex(a.contender.candidacy ?? '', /^json\.info_\d{10}$/);
  await waitUntil(() => d.current()?.id === 'id-a', 'a detected');
  t.deepEqual(d.current(), { id: 'id-a', hostPort: '127.0.0.1:5050', info: info('a', 5050) });
  t.true(a.contender.mayAct());
  t.false(b.contender.mayAct());
  t.false(b.state.elected || c.state.elected);

  await a.session.close();
  t.is(await a.contender.lost, 'the ZooKeeper session was closed');
  t.false(a.contender.mayAct());
  await b.contender.elected;
  await waitUntil(() => d.current()?.id === 'id-b', 'b detected');
  t.false(c.state.elected);

  await b.contender.withdraw();
  t.is(await b.contender.lost, 'withdrew from the election');
  await c.contender.elected;
  await waitUntil(() => d.current()?.hostPort === '127.0.0.1:5052', 'c detected');

  await c.contender.withdraw();
  await waitUntil(() => d.current() === undefined, 'no leader');
  t.deepEqual(
    seen.map((l) => l?.id),
    ['id-a', 'id-b', 'id-c', undefined],
  );
});

test('a candidacy deleted by someone else is lost', async (t) => {
  const path = fresh();
  const a = await contender(t, path, info('a', 5050));
  await a.contender.elected;
  const other = await session(t, path);
  await other.remove(`/${a.contender.candidacy}`);
  t.regex(await a.contender.lost, /^the candidacy znode \/e\d+\/json\.info_\d{10} was deleted$/);
  t.false(a.contender.mayAct());
  await t.throwsAsync(a.contender.contend(info('a', 5050)), { message: /already contending/ });
});

test('a third-party client written from the spec finds the leader (with ACLs on the znodes)', async (t) => {
  const path = fresh();
  const credentials = { user: 'corral', password: 'secret' };
  for (const [name, port] of [
    ['a', 6050],
    ['b', 6051],
  ] as const) {
    const s = await session(t, path, { credentials });
    await new ZkContender(s).contend(info(name, port));
  }
  // §7.3: list the children of the path, keep names ending in _<digits>, take the lowest, read it, decode by label.
  const client = zookeeper.createClient(zk.connectString());
  t.teardown(() => client.close());
  await new Promise<void>((resolve) => {
    client.once('connected', resolve);
    client.connect();
  });
  const children: string[] = await new Promise((resolve, reject) => client.getChildren(path, (e: unknown, c: string[]) => (e ? reject(e) : resolve(c))));
  const members = children
    .map((name) => ({ name, m: /^(.*)_(\d+)$/.exec(name) }))
    .filter((x) => x.m)
    .sort((x, y) => Number(x.m![2]) - Number(y.m![2]));
  t.is(members[0]!.m![1], 'json.info');
  const data: Buffer = await new Promise((resolve, reject) =>
    client.getData(`${path}/${members[0]!.name}`, (e: unknown, d: Buffer) => (e ? reject(e) : resolve(d))),
  );
  const leader = JSON.parse(data.toString('utf8'));
  t.is(`http://${leader.address.ip}:${leader.address.port}`, 'http://127.0.0.1:6050');
  t.is(leader.pid, 'master@127.0.0.1:6050');
  t.is(leader.id, 'id-a');
  t.is(leader.ip, 16777343);
  t.is(leader.hostname, 'a.example');
});

test('detection reads 0.23 binary candidacies, ignores other children, and reports no leader when the lowest does not decode', async (t) => {
  const path = fresh();
  const s = await session(t, path);
  await s.mkdirp('/');
  await s.create('/log_replicas', '');
  const old = await s.create('/info_', Buffer.from(encodeMasterInfoProtobuf(info('old', 7050))), 'ephemeral_sequential');
  const { d } = await detector(t, path);
  t.deepEqual(d.current(), { id: 'id-old', hostPort: '127.0.0.1:7050', info: info('old', 7050) });
  const garbage = await s.create('/json.info_', '{"id":', 'ephemeral_sequential');
  await contender(t, path, info('new', 7051));
  await s.remove(old);
  await waitUntil(() => d.current() === undefined, 'no leader: the lowest holds garbage');
  await s.remove(garbage);
  await waitUntil(() => d.current()?.id === 'id-new', 'the next candidacy detected');
});

test('createMasterDetector: host:port is a fixed leader, a zk:// URL a ZooKeeper detector', async (t) => {
  const fixed = createMasterDetector('master@10.0.0.5:5050', { field: '--master' });
  await fixed.start();
  t.deepEqual(fixed.current(), { id: '', hostPort: '10.0.0.5:5050' });
  const path = fresh();
  const a = await contender(t, path, info('a', 8050));
  await a.contender.elected;
  const zd = createMasterDetector(zk.zkUrl(path), { field: '--master', sessionTimeoutMs: 2000 });
  t.teardown(() => zd.stop());
  t.true(zd instanceof ZkMasterDetector);
  await zd.start();
  t.is(zd.current()?.hostPort, '127.0.0.1:8050');
  const unreachable = createMasterDetector('zk://127.0.0.1:1/x', { field: '--master', connectTimeoutMs: 300 });
  await t.throwsAsync(unreachable.start(), { message: /^--master: no ZooKeeper server answered within 300 ms/ });
  await unreachable.stop();
});
