/**
 * ZkSession against a real 3-server ensemble: the promise API under the URL path, multi(), ACLs,
 * watches, ephemeral znodes, close, expiry, an unreachable ensemble, and the lease.
 * The serial tests (run first, before the concurrent ones) stall the event loop or end sessions.
 */
import anyTest, { type ExecutionContext } from 'ava';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { type ZkEnsemble as Ensemble, ZkEnsemble, expireSession, stallEventLoop, waitUntil, zookeeperOnly } from '../../helpers/zookeeper.ts';
import { CorralError } from '../../../lib/common/errors.ts';
import { type ZkWatchEvent, ZkError, ZkSession } from '../../../lib/transport/zookeeper/session.ts';

const test = zookeeperOnly(anyTest);
let zk: Ensemble;
let n = 0;

test.before(async () => {
  zk = await ZkEnsemble.start(3);
});
test.after.always(async () => {
  await zk?.stop();
});

type Creds = { user: string; password: string };

/** A session; each test uses a path of its own (tests run concurrently on one ensemble). */
async function open(t: ExecutionContext, path: string, credentials?: Creds): Promise<ZkSession> {
  const s = await ZkSession.open({ url: zk.zkUrl(path, credentials), field: '--zk', sessionTimeoutMs: 2000 });
  t.teardown(() => s.close());
  return s;
}

const fresh = (): string => `/s${n++}`;

test.serial('a stalled event loop ends the lease at once; a probe after the stall renews it', async (t) => {
  const s = await open(t, fresh());
  await waitUntil(() => s.mayAct(), 'the first lease');
  const lost: string[] = [];
  s.onLeaseLost((reason) => lost.push(reason));
  stallEventLoop(s.sessionTimeoutMs * 0.6); // more than half the session timeout, less than all of it
  t.false(s.mayAct(), 'false before any timer ran');
  await waitUntil(() => lost.length > 0, 'the lease lost');
  t.regex(lost[0]!, /stalled for \d+\.\d s \(more than half the ZooKeeper session timeout of 2\.0 s\)/);
  await waitUntil(() => s.mayAct(), 'the lease renewed (the session did not expire)');
  t.is(s.currentState, 'connected');
});

test.serial('a session ZooKeeper expires: expired and ended resolve, mayAct is false, operations fail with SESSION_EXPIRED', async (t) => {
  const s = await open(t, fresh());
  await s.mkdirp('/');
  await s.create('/mine', 'x', 'ephemeral');
  const states: string[] = [];
  s.onState((st) => states.push(st));
  await expireSession(zk, s);
  await s.expired;
  t.is(await s.ended, 'the ZooKeeper session expired');
  t.false(s.mayAct());
  t.true(states.includes('expired'));
  const e = await t.throwsAsync(s.getData('/mine'), { instanceOf: ZkError });
  t.is(e?.zk, 'SESSION_EXPIRED');
  const other = await open(t, s.url.path);
  // Another session's server may lag the leader for a moment (ZooKeeper orders reads per session only).
  await waitUntil(async () => (await other.exists('/mine')) === undefined, 'its ephemeral znode gone, as another session sees it');
});

test.serial('no server answering: open() fails naming the flag and the servers', async (t) => {
  const started = Date.now();
  const e = await t.throwsAsync(ZkSession.open({ url: 'zk://127.0.0.1:1,127.0.0.1:2/corral', field: '--zk', sessionTimeoutMs: 2000, connectTimeoutMs: 500 }), {
    instanceOf: CorralError,
  });
  t.is(e?.code, 'ZOOKEEPER_UNREACHABLE');
  t.is(e?.field, '--zk');
  t.regex(e?.message ?? '', /^--zk: no ZooKeeper server answered within 500 ms \(servers 127\.0\.0\.1:1, 127\.0\.0\.1:2, path \/corral\)$/);
  t.true(Date.now() - started < 10_000);
  const bad = await t.throwsAsync(ZkSession.open({ url: 'zk://h1:2181', field: '--zk', sessionTimeoutMs: 2000 }));
  t.regex(bad?.message ?? '', /^--zk: needs a znode path/);
});

test('create, read, update and delete under the URL path', async (t) => {
  const s = await open(t, fresh());
  await s.mkdirp('/');
  t.is(await s.exists('/a'), undefined);
  t.is(await s.create('/a', 'one', 'persistent'), '/a');
  t.is(await s.exists('/a'), 0);
  const got = await s.getData('/a');
  t.is(got?.data.toString(), 'one');
  t.is(got?.version, 0);
  t.is(await s.setData('/a', 'two', 0), 1);
  const bad = await t.throwsAsync(s.setData('/a', 'three', 0), { instanceOf: ZkError });
  t.is(bad?.zk, 'BAD_VERSION');
  t.is(bad?.path, `${s.url.path}/a`);
  t.regex(bad?.message ?? '', new RegExp(`setData ${s.url.path}/a failed: BAD_VERSION`));
  await s.mkdirp('/b/c/d');
  await s.mkdirp('/b/c/d');
  t.deepEqual((await s.getChildren('/')).sort(), ['a', 'b']);
  t.is(await s.getData('/missing'), undefined);
  t.is((await t.throwsAsync(s.getChildren('/missing'), { instanceOf: ZkError }))?.zk, 'NO_NODE');
  t.is((await t.throwsAsync(s.create('/a', 'again'), { instanceOf: ZkError }))?.zk, 'NODE_EXISTS');
  t.is((await t.throwsAsync(s.remove('/b'), { instanceOf: ZkError }))?.zk, 'NOT_EMPTY');
  await s.remove('/a', 1);
  t.is(await s.exists('/a'), undefined);
  t.regex((await t.throwsAsync(s.create('a', 'x'), { instanceOf: ZkError }))?.message ?? '', /must start with '\/'/);
  t.true(s.mayAct());
  t.regex(s.sessionId, /^0x[0-9a-f]+$/);
  t.is(s.sessionTimeoutMs, 2000);
});

test('sequential znodes: the path returned carries the sequence', async (t) => {
  const s = await open(t, fresh());
  await s.mkdirp('/');
  const a = await s.create('/x_', 'a', 'ephemeral_sequential');
  const b = await s.create('/x_', 'b', 'ephemeral_sequential');
  t.regex(a, /^\/x_\d{10}$/);
  t.true(Number(b.slice(3)) > Number(a.slice(3)));
});

test('multi applies all or nothing; versions are exact, 0 included', async (t) => {
  const s = await open(t, fresh());
  await s.mkdirp('/');
  await s.create('/epoch', '0');
  const ok = await s.multi([
    { op: 'check', path: '/epoch', version: 0 },
    { op: 'create', path: '/agents', data: '' },
    { op: 'create', path: '/agents/a1', data: '{"id":"a1"}' },
    { op: 'set', path: '/epoch', data: '1', version: 0 },
  ]);
  t.deepEqual(ok, [{ op: 'check' }, { op: 'create', path: '/agents' }, { op: 'create', path: '/agents/a1' }, { op: 'set', version: 1 }]);
  // /epoch is at version 1 now: a check at version 0 fails (the npm client alone would send "any version" for 0).
  const e = await t.throwsAsync(
    s.multi([
      { op: 'create', path: '/agents/a2', data: 'x' },
      { op: 'check', path: '/epoch', version: 0 },
      { op: 'remove', path: '/agents/a1' },
    ]),
    { instanceOf: ZkError },
  );
  t.is(e?.zk, 'BAD_VERSION');
  t.is(e?.opIndex, 1);
  t.is(e?.path, `${s.url.path}/epoch`);
  t.regex(e?.message ?? '', /multi of 3 operations failed at operation 2 \(check .*\/epoch at version 0\): BAD_VERSION/);
  t.is(await s.exists('/agents/a2'), undefined, 'nothing applied');
  t.is(await s.exists('/agents/a1'), 0);
  const removed = await s.multi([
    { op: 'check', path: '/epoch', version: 1 },
    { op: 'remove', path: '/agents/a1', version: 0 },
  ]);
  t.deepEqual(removed, [{ op: 'check' }, { op: 'remove' }]);
  t.deepEqual(await s.multi([]), []);
});

test('digest credentials: what a session creates is private unless world-readable', async (t) => {
  const path = fresh();
  const owner = await open(t, path, { user: 'corral', password: 'pw1' });
  await owner.mkdirp('/', { worldReadable: true });
  await owner.create('/public', 'leader', 'persistent', { worldReadable: true });
  await owner.create('/private', 'registry');
  await owner.multi([{ op: 'create', path: '/private2', data: 'x' }]);
  const anonymous = await open(t, path);
  t.deepEqual((await anonymous.getChildren('/')).sort(), ['private', 'private2', 'public'], 'the path itself is readable');
  t.is((await anonymous.getData('/public'))?.data.toString(), 'leader');
  t.is((await t.throwsAsync(anonymous.getData('/private'), { instanceOf: ZkError }))?.zk, 'NO_AUTH');
  t.is((await t.throwsAsync(anonymous.getData('/private2'), { instanceOf: ZkError }))?.zk, 'NO_AUTH');
  t.is((await t.throwsAsync(anonymous.setData('/public', 'me'), { instanceOf: ZkError }))?.zk, 'NO_AUTH');
  t.is((await t.throwsAsync(anonymous.create('/mine', 'x'), { instanceOf: ZkError }))?.zk, 'NO_AUTH');
  const stranger = await open(t, path, { user: 'corral', password: 'wrong' });
  t.is((await t.throwsAsync(stranger.getData('/private'), { instanceOf: ZkError }))?.zk, 'NO_AUTH');
  const twin = await open(t, path, { user: 'corral', password: 'pw1' });
  t.is((await twin.getData('/private'))?.data.toString(), 'registry');
  t.is(await twin.setData('/private', 'changed'), 1);
});

test('watches fire once, with paths relative to the URL path', async (t) => {
  const s = await open(t, fresh());
  await s.mkdirp('/');
  const events: ZkWatchEvent[] = [];
  const watcher = (e: ZkWatchEvent): void => void events.push(e);
  t.is(await s.exists('/w', watcher), undefined);
  await s.create('/w', 'a');
  await waitUntil(() => events.length === 1, 'the created event');
  t.deepEqual(events[0], { type: 'created', path: '/w' });
  await s.getData('/w', watcher);
  await s.getData('/w', watcher); // the same watcher twice: one notification
  await s.getChildren('/', watcher);
  await s.setData('/w', 'b');
  await s.create('/v', '');
  await waitUntil(() => events.length === 3, 'the data and children events');
  t.deepEqual(
    events.slice(1).sort((a, b) => a.type.localeCompare(b.type)),
    [
      { type: 'children_changed', path: '/' },
      { type: 'data_changed', path: '/w' },
    ],
  );
  await s.setData('/w', 'c');
  await s.remove('/v');
  await s.exists('/w'); // a round trip after the changes: a notification would have come before its answer
  t.is(events.length, 3, 'watches fire once');
});

test('ephemeral znodes go with their session; a closed session refuses further calls', async (t) => {
  const path = fresh();
  const a = await open(t, path);
  const b = await open(t, path);
  await a.mkdirp('/');
  await a.create('/e', 'x', 'ephemeral');
  // b may be connected to a server that has not yet applied a's create: ZooKeeper orders reads per
  // session, not across sessions; what a user sees is that b finds the znode soon after.
  await waitUntil(async () => (await b.exists('/e')) === 0, "a's ephemeral znode, as b sees it");
  let gone = false;
  await b.exists('/e', (e) => (gone = e.type === 'deleted'));
  await a.close();
  await a.close();
  t.is(await a.ended, 'the ZooKeeper session was closed');
  t.false(a.mayAct());
  await waitUntil(() => gone, 'the ephemeral znode deleted');
  t.is((await t.throwsAsync(a.getData('/e'), { instanceOf: ZkError }))?.zk, 'SESSION_CLOSED');
});

/**
 * A TCP relay on 127.0.0.1 to one ensemble server that can be cut (every connection dropped,
 * new ones refused at once) and mended: ZooKeeper unreachable for one client only.
 */
async function relay(t: ExecutionContext, port: number): Promise<{ port: number; cut(): void; mend(): void }> {
  let cut = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    if (cut) return void down.destroy();
    const up = connect({ host: '127.0.0.1', port });
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up).pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    mend() {
      cut = false;
    },
  };
}

/** Whether `p` has settled within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

test('calls waiting while ZooKeeper is unreachable: close() rejects them with SESSION_CLOSED, an expiry with SESSION_EXPIRED', async (t) => {
  const path = fresh();
  const r = await relay(t, zk.clientPort(1));
  const url = `zk://127.0.0.1:${r.port}${path}`;

  // close(): every call waiting for an answer fails at once, naming the call and the znode.
  const s = await ZkSession.open({ url, field: '--zk', sessionTimeoutMs: 2000 });
  t.teardown(() => s.close());
  await s.mkdirp('/');
  r.cut();
  await waitUntil(() => s.currentState === 'disconnected', 'the session disconnected');
  const read = s.getData('/a');
  const write = s.multi([{ op: 'create', path: '/b', data: 'x' }]);
  const removal = s.remove('/c');
  t.false(await settlesWithin(Promise.race([read, write, removal]), 300), 'nothing settles while ZooKeeper is unreachable');
  const closing = s.close();
  for (const [p, what] of [
    [read, /^ZooKeeper getData \/s\d+\/a: the session was closed before ZooKeeper answered \(whether it was applied is unknown\)$/],
    [write, /^ZooKeeper multi of 1 operations \/s\d+\/b: the session was closed before ZooKeeper answered/],
    [removal, /^ZooKeeper remove \/s\d+\/c: the session was closed before ZooKeeper answered/],
  ] as const) {
    const e = await t.throwsAsync(p, { instanceOf: ZkError, message: what });
    t.is(e?.zk, 'SESSION_CLOSED');
    t.is(e?.field, '--zk');
  }
  await closing;

  // Expiry: ZooKeeper ends the session while this client cannot reach it; it learns so when it
  // reconnects, and the calls it kept fail with SESSION_EXPIRED.
  r.mend();
  const s2 = await ZkSession.open({ url, field: '--zk', sessionTimeoutMs: 2000 });
  t.teardown(() => s2.close());
  r.cut();
  await waitUntil(() => s2.currentState === 'disconnected', 'the second session disconnected');
  const kept = s2.create('/d', 'x');
  t.false(await settlesWithin(kept, 300));
  await expireSession(zk, s2);
  r.mend();
  const e = await t.throwsAsync(kept, { instanceOf: ZkError });
  t.is(e?.zk, 'SESSION_EXPIRED');
  t.regex(e?.message ?? '', /^ZooKeeper create \/s\d+\/d: the session expired before ZooKeeper answered/);
  t.is(await s2.ended, 'the ZooKeeper session expired');
  // Nothing of the calls was applied.
  const check = await open(t, path);
  t.is(await check.exists('/b'), undefined);
  t.is(await check.exists('/d'), undefined);
});
