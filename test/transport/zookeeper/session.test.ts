/** ZkSession against a real 3-server ensemble: the promise API, multi(), ACLs, watches, close, the lease. */
import anyTest from 'ava';
import { type ZkEnsemble as Ensemble, ZkEnsemble, zookeeperOnly } from '../../helpers/zookeeper.ts';
import { ZkError, ZkSession } from '../../../lib/transport/zookeeper/session.ts';

const test = zookeeperOnly(anyTest);
let zk: Ensemble;
let n = 0;

test.before(async () => {
  zk = await ZkEnsemble.start(3);
});
test.after.always(async () => {
  await zk?.stop();
});

/** A session on a path of its own (tests run concurrently on one ensemble). */
async function open(t: { teardown(f: () => Promise<void>): void }, options: { credentials?: { user: string; password: string }; path?: string } = {}) {
  const path = options.path ?? `/t${n++}`;
  const s = await ZkSession.open({ url: zk.zkUrl(path, options.credentials), field: '--zk', sessionTimeoutMs: 2000 });
  t.teardown(() => s.close());
  return s;
}

test('create, read, update and delete under the URL path', async (t) => {
  const s = await open(t);
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
  t.regex(bad?.message ?? '', new RegExp(`${s.url.path}/a`));
  await s.mkdirp('/b/c/d');
  t.deepEqual((await s.getChildren('/')).sort(), ['a', 'b']);
  t.is(await s.getData('/missing'), undefined);
  t.is((await t.throwsAsync(s.getChildren('/missing'), { instanceOf: ZkError }))?.zk, 'NO_NODE');
  await s.remove('/a', 1);
  t.is(await s.exists('/a'), undefined);
  t.true(s.mayAct());
});
