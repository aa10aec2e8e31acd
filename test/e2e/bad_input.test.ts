/**
 * Bad input of every kind to the scheduler API, over real HTTP: each gets the status code
 * Mesos answers and changes nothing; the master keeps serving afterwards.
 */
import test from 'ava';
import { type Cluster, type Json, type RawRequest, type RawResponse, commandTask, frameworkInfo, request, startCluster } from '../helpers/cluster.ts';

/** What must not change: frameworks, their tasks, agents and the task counters. */
async function digest(c: Cluster): Promise<string> {
  const s = await c.getJson('/master/state');
  const m = await c.getJson('/metrics/snapshot');
  return JSON.stringify({
    frameworks: s.frameworks.map((f: Json) => ({
      id: f.id,
      name: f.name,
      active: f.active,
      tasks: f.tasks.map((x: Json) => [x.id, x.state]),
      done: f.completed_tasks.length,
    })),
    completed: s.completed_frameworks.map((f: Json) => f.id),
    slaves: s.slaves.map((a: Json) => [a.id, a.active, a.used_resources]),
    counters: Object.fromEntries(Object.entries(m).filter(([k]) => /^master\/(tasks_|frameworks_|slaves_)/.test(k))),
  });
}

test('bad input of every kind is refused with the right status and changes nothing', async (t) => {
  const c = await startCluster(t);
  const api = c.url('/api/v1/scheduler');
  const fw = await c.framework(frameworkInfo({ name: 'good' }));
  // A framework whose stream closed but which the master keeps (failover_timeout large).
  const gone = await c.framework(frameworkInfo({ name: 'gone', failover_timeout: 3600 }));
  gone.close();
  await c.until(
    async () => (await c.getJson('/master/frameworks')).frameworks.some((f: Json) => f.id === gone.frameworkId && f.active === false),
    5000,
    'the master to see the framework gone',
  );
  const before = await digest(c);

  const json = { 'Content-Type': 'application/json' };
  const withStream = { ...json, 'Mesos-Stream-Id': fw.streamId };
  const mine = (body: Json) => ({ framework_id: { value: fw.frameworkId }, ...body });
  const subscribeBody = { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo({ name: 'x' }) } };
  const expect = async (what: string, r: RawRequest, status: number, text?: RegExp): Promise<RawResponse> => {
    const res = await request(api, r);
    t.is(res.status, status, `${what}: ${res.status} ${res.text}`);
    if (text) t.regex(res.text, text, what);
    return res;
  };

  const get = await expect('GET', { method: 'GET' }, 405);
  t.is(get.headers.allow, 'POST');
  await expect('no Content-Type', { body: subscribeBody }, 400, /Content-Type/);
  await expect('text/plain', { headers: { 'Content-Type': 'text/plain' }, body: subscribeBody }, 415);
  await expect('charset suffix', { headers: { 'Content-Type': 'application/json; charset=utf-8' }, body: subscribeBody }, 415);
  await expect('bad JSON', { headers: json, body: '{"type": "SUBSCRIBE",' }, 400);
  // Over the 4 MiB limit, chunked with no Content-Length, as http.request().write() sends it.
  const big = `{"type":"SUBSCRIBE","padding":"${'x'.repeat(4.5 * 1024 * 1024)}"}`;
  const tooBig = await expect('body over the limit', { headers: json, body: big, chunkBytes: 64 * 1024 }, 413);
  t.is(tooBig.headers['content-length'] !== undefined, true);
  await expect(
    'missing user',
    { headers: json, body: { type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'x' } } } },
    400,
    /subscribe\.framework_info\.user/,
  );
  await expect('missing kill.task_id', { headers: withStream, body: mine({ type: 'KILL', kill: {} }) }, 400, /task_id/);
  await expect('SUBSCRIBE with a stream id', { headers: withStream, body: subscribeBody }, 400, /Mesos-Stream-Id/);
  await expect('Accept: text/plain on SUBSCRIBE', { headers: { ...json, Accept: 'text/plain' }, body: subscribeBody }, 406);
  await expect('no stream id', { headers: json, body: mine({ type: 'REVIVE' }) }, 400, /Mesos-Stream-Id/);
  await expect('wrong stream id', { headers: { ...json, 'Mesos-Stream-Id': gone.streamId }, body: mine({ type: 'REVIVE' }) }, 400, /stream ID/);
  await expect(
    'unknown framework',
    { headers: withStream, body: { framework_id: { value: 'no-such-framework' }, type: 'REVIVE' } },
    400,
    /Framework cannot be found/,
  );
  await expect(
    'not subscribed',
    { headers: { ...json, 'Mesos-Stream-Id': gone.streamId }, body: { framework_id: { value: gone.frameworkId }, type: 'REVIVE' } },
    403,
    /not subscribed/,
  );
  await expect('UNKNOWN call', { headers: withStream, body: mine({ type: 'UNKNOWN' }) }, 501);
  await expect(
    '15-byte uuid',
    {
      headers: withStream,
      body: mine({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: 'a' }, task_id: { value: 't' }, uuid: Buffer.alloc(15, 7).toString('base64') } }),
    },
    400,
  );
  t.is(await digest(c), before, 'none of these changed anything');

  // An invalid role is not an HTTP error: a stream whose first record is an ERROR, then closed.
  const badRole = await c.subscribe(frameworkInfo({ name: 'bad-role', role: 'bad role' }));
  t.is(badRole.status, 200);
  await badRole.whenClosed(5000);
  t.is(badRole.events.length, 1);
  t.is(badRole.events[0].type, 'ERROR');
  t.regex(badRole.events[0].error.message, /role/i);
  t.is(await digest(c), before, 'the refused subscription left nothing');

  // A stale offer: TASK_LOST with REASON_INVALID_OFFERS; invalid resources: TASK_ERROR.
  const offers = await fw.offers();
  const offer = offers[0];
  const task = (id: string, extra: Json = {}) => ({ ...commandTask(id, 'true'), agent_id: offer.agent_id, ...extra });
  await fw.accept([offer.id.value], [task('used')]);
  await fw.update('used', 'TASK_FINISHED');
  await fw.accept([offer.id.value], [task('stale')]);
  t.like(await fw.update('stale'), { state: 'TASK_LOST', reason: 'REASON_INVALID_OFFERS', source: 'SOURCE_MASTER' });
  const next = (await fw.offers())[0];
  await fw.accept([next.id.value], [{ ...task('negative'), resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: -1 } }] }]);
  const error = await fw.update('negative');
  t.like(error, { state: 'TASK_ERROR', reason: 'REASON_TASK_INVALID', source: 'SOURCE_MASTER' });
  t.is(error.uuid, undefined);
  const state = await c.getJson('/master/state');
  const good = state.frameworks.find((f: Json) => f.id === fw.frameworkId);
  t.deepEqual(good.tasks, [], 'neither invalid task exists');
  t.is(state.slaves[0].used_resources.cpus, 0);

  // The master still serves: a valid call is accepted and a task runs to the end.
  await fw.must({ type: 'REVIVE' });
  await fw.launch([commandTask('after', 'true')]);
  t.is((await fw.update('after', ['TASK_FINISHED', 'TASK_FAILED'])).state, 'TASK_FINISHED');
});
