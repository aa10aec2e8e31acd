/**
 * The agent's /files endpoints against what a task can leave in its sandbox.
 */
import test from 'ava';
import { type Json, commandTask, frameworkInfo, request, startCluster } from '../helpers/cluster.ts';

test('a FIFO in a sandbox: /files/download and /files/read refuse it at once, and the agent keeps serving', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo());
  await fw.launch([commandTask('fifo', 'mkfifo pipe && echo ready && sleep 30')]);
  await fw.update('fifo', 'TASK_RUNNING');
  const dir: string = (await c.agentJson(0, '/state')).frameworks[0].executors[0].directory;
  const file = (name: string) => encodeURIComponent(`${dir}/${name}`);
  await c.until(async () => (await c.agentJson(0, `/files/read?path=${file('stdout')}&offset=0`)).data === 'ready\n', 5000, 'the FIFO');

  // Opening a FIFO blocks until a writer comes: more such reads than the agent has I/O
  // threads must not wedge it.
  const tries = await Promise.all(
    Array.from({ length: 6 }, (_v, i) =>
      request(c.agentUrl(0, i % 2 === 0 ? `/files/download?path=${file('pipe')}` : `/files/read?path=${file('pipe')}&offset=0&length=10`), {
        method: 'GET',
        timeoutMs: 3000,
      }).then(
        (r) => r.status,
        (e: Error) => e.message,
      ),
    ),
  );
  t.deepEqual(tries, [400, 400, 400, 400, 400, 400], 'refused at once: not a regular file');
  const browse = await c.agentJson(0, `/files/browse?path=${encodeURIComponent(dir)}`);
  t.true(
    browse.some((e: Json) => e.path.endsWith('/pipe')),
    'browse lists it',
  );
  t.is((await c.agentJson(0, `/files/read?path=${file('stdout')}&offset=0`)).data, 'ready\n');
  const download = await request(c.agentUrl(0, `/files/download?path=${file('stdout')}`), { method: 'GET' });
  t.is(download.status, 200);
  t.is(download.text, 'ready\n');
  t.is(download.headers['content-disposition'], 'attachment; filename=stdout');
  await fw.launch([commandTask('after', 'true')]);
  t.is((await fw.update('after', ['TASK_FINISHED', 'TASK_FAILED'], 5000)).state, 'TASK_FINISHED');
});
