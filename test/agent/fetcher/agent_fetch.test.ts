/**
 * The fetcher inside the agent (tier 2: the agent over a FakeContainerizer, a real HTTP server on
 * loopback): a task's URIs are in its sandbox before its container is launched; a fetch failure
 * is TASK_FAILED with the URI and the reason; a kill during the fetch is TASK_KILLED; the
 * master's messages are not held up by a long fetch; concurrent tasks share one cached download.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from '../../../lib/agent/agent.ts';
import { Fetcher } from '../../../lib/agent/fetcher/fetcher.ts';
import { AgentPaths } from '../../../lib/agent/paths.ts';
import { FakeClock } from '../../../lib/common/clock.ts';
import { silentLogger } from '../../../lib/common/log.ts';
import { parseResourcesText } from '../../../lib/common/resources/index.ts';
import type { AgentToMaster } from '../../../lib/proto/internal.ts';
import type { ExecutorEvent, FrameworkInfo, TaskInfo, TaskStatus, Uri } from '../../../lib/proto/messages.ts';
import { FakeContainerizer } from '../../helpers/fake_containerizer.ts';
import { ArraySink } from '../../helpers/master_harness.ts';
import { type Teardown, fileServer, makeArchive, pattern, tempDir } from './helpers.ts';

const fwInfo: FrameworkInfo = { user: 'nobody', name: 'fw', id: 'F1', failoverTimeout: 0, checkpoint: true, role: '*', capabilities: [] };
const u = (value: string, extra: Partial<Uri> = {}): Uri => ({ value, extract: true, ...extra });

function task(id: string, uris: Uri[], value = './run.sh'): TaskInfo {
  return {
    name: id,
    taskId: id,
    agentId: 'S0',
    resources: parseResourcesText('cpus:0.1;mem:32').toArray(),
    command: { uris, shell: true, value, arguments: [] },
  };
}

async function setup(t: Teardown) {
  const dir = tempDir(t, 'corral-agent-fetch-');
  const containerizer = new FakeContainerizer();
  const sent: AgentToMaster[] = [];
  const paths = new AgentPaths(dir);
  const fetcher = new Fetcher({ cacheDir: paths.fetcherCacheDir(), logger: silentLogger });
  const agent = new Agent({
    clock: new FakeClock(),
    logger: silentLogger,
    paths,
    containerizer,
    hostname: 'h1',
    ip: '127.0.0.1',
    port: 5051,
    resources: parseResourcesText('cpus:4;mem:4096'),
    attributes: [],
    version: 'test',
    executorRegistrationTimeoutMs: 60_000,
    executorShutdownGracePeriodMs: 5000,
    defaultKillGraceMs: 3000,
    executorEnvironment: { PATH: '/usr/bin:/bin' },
    switchUser: false,
    fetcher,
  });
  t.teardown(() => agent.stop());
  agent.connected((m) => sent.push(m));
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  const updates = (): TaskStatus[] =>
    sent.filter((m): m is Extract<AgentToMaster, { type: 'STATUS_UPDATE' }> => m.type === 'STATUS_UPDATE').map((m) => m.status);
  const run = async (tk: TaskInfo) => {
    await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo, task: tk });
    return agent.frameworks.get('F1')!.executors.get(tk.executor?.executorId ?? tk.taskId)!;
  };
  return { dir, agent, containerizer, sent, paths, fetcher, updates, run };
}

test('a task with URIs gets its files in the sandbox before its container is launched; the master link is not held up meanwhile', async (t) => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const tgz = makeArchive(tempDir(t), 'app.tgz', { 'app/conf': 'c' });
  const srv = await fileServer(t, { '/run.sh': { body: '#!/bin/sh\necho hi\n', gate }, '/app.tgz': tgz });
  const { agent, containerizer, updates, sent, run } = await setup(t);
  const ex = await run(task('t1', [u(`${srv.base}/run.sh`, { executable: true }), u(`${srv.base}/app.tgz`)]));
  // The download is held: nothing launched, nothing reported, and the agent still answers.
  t.is(containerizer.launched.length, 0);
  t.deepEqual(updates(), []);
  await agent.onMasterMessage({ type: 'PING' });
  t.like(sent.at(-1), { type: 'PONG' });
  open();
  await ex.starting;
  const spec = containerizer.launched[0]!;
  t.is(spec.sandbox, ex.sandbox);
  t.is(readFileSync(join(ex.sandbox, 'run.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
  t.is(readFileSync(join(ex.sandbox, 'app/conf'), 'utf8'), 'c');
  t.like(updates()[0], { taskId: 't1', state: 'TASK_RUNNING' });
  t.regex(readFileSync(join(ex.sandbox, 'stderr'), 'utf8'), /fetcher: Fetched 2 URI\(s\)/);
  t.like(agent.metrics.snapshot(), { 'containerizer/fetcher/task_fetches_succeeded': 1, 'containerizer/fetcher/task_fetches_failed': 0 });
});

test('a URI that cannot be fetched fails the task (TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED) naming the URI and the reason', async (t) => {
  const srv = await fileServer(t, { '/ok.txt': 'ok' });
  const { agent, containerizer, updates, run } = await setup(t);
  const ex = await run(task('t1', [u(`${srv.base}/ok.txt`), u(`${srv.base}/missing.tgz`)]));
  await ex.starting;
  t.is(containerizer.launched.length, 0);
  t.is(updates().length, 1);
  t.like(updates()[0], { taskId: 't1', state: 'TASK_FAILED', source: 'SOURCE_AGENT', reason: 'REASON_CONTAINER_LAUNCH_FAILED', executorId: 't1' });
  t.is(updates()[0]!.message, `Failed to launch container: Failed to fetch '${srv.base}/missing.tgz': HTTP 404 Not Found`);
  t.regex(readFileSync(join(ex.sandbox, 'stderr'), 'utf8'), /fetcher: Failed to fetch '.*\/missing\.tgz': HTTP 404 Not Found/);
  const fw = agent.frameworks.get('F1')!;
  t.false(fw.executors.has('t1'));
  t.is(fw.completedExecutors.at(-1), ex);
  t.is(ex.completedTasks[0]!.state, 'TASK_FAILED');
  t.like(agent.metrics.snapshot(), { 'slave/container_launch_errors': 1, 'slave/tasks_failed': 1, 'containerizer/fetcher/task_fetches_failed': 1 });
  // An unsupported scheme is refused the same way, before anything is downloaded.
  const ex2 = await run(task('t2', [u(`${srv.base}/ok.txt`), u('hdfs://nn/x.jar')]));
  await ex2.starting;
  t.is(
    updates()[1]!.message,
    "Failed to launch container: Failed to fetch 'hdfs://nn/x.jar': the scheme 'hdfs' is not supported (http, https, file and local paths are)",
  );
  t.is(srv.hits('/ok.txt'), 1);
});

test('a kill while the URIs are being fetched stops the fetch: TASK_KILLED, no container', async (t) => {
  const srv = await fileServer(t, { '/slow.bin': { body: pattern(100_000), pieces: 100, pieceDelayMs: 50 } });
  const { agent, containerizer, updates, run } = await setup(t);
  const ex = await run(task('t1', [u(`${srv.base}/slow.bin`, { cache: true })]));
  await new Promise((r) => setTimeout(r, 100));
  await agent.onMasterMessage({ type: 'KILL_TASK', frameworkId: 'F1', taskId: 't1' });
  await ex.starting;
  t.is(containerizer.launched.length, 0);
  t.like(updates()[0], { taskId: 't1', state: 'TASK_KILLED', reason: 'REASON_TASK_KILLED_DURING_LAUNCH' });
  t.is(agent.fetcher.cache.size, 0);
  t.is(agent.metrics.get('slave/container_launch_errors'), 0);
  t.is(agent.metrics.get('slave/tasks_killed'), 1);
});

test('20 tasks asking for the same cached URI at once cause one download, and all of them run', async (t) => {
  const body = pattern(1_000_000);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const srv = await fileServer(t, { '/pkg.bin': { body, gate } });
  const { agent, containerizer, updates, run } = await setup(t);
  const executors = [];
  for (let i = 0; i < 20; i++) executors.push(await run(task(`t${i}`, [u(`${srv.base}/pkg.bin`, { cache: true })])));
  // All twenty wait on the one pending download before the server answers.
  for (let i = 0; agent.fetcher.cache.get(undefined, `${srv.base}/pkg.bin`)?.refs !== 20; i++) {
    if (i > 1000) throw new Error('the tasks did not all reach the cache');
    await new Promise((r) => setTimeout(r, 10));
  }
  open();
  await Promise.all(executors.map((e) => e.starting));
  t.is(srv.hits('/pkg.bin'), 1);
  t.is(containerizer.launched.length, 20);
  for (const ex of executors) t.true(readFileSync(join(ex.sandbox, 'pkg.bin')).equals(body));
  t.is(updates().filter((s) => s.state === 'TASK_RUNNING').length, 20);
  t.like(agent.metrics.snapshot(), {
    'containerizer/fetcher/cache_misses': 1,
    'containerizer/fetcher/cache_hits': 19,
    'containerizer/fetcher/bytes_downloaded': 1_000_000,
  });
});

test("a custom executor's URIs are fetched before it is launched; if they fail, its queued tasks fail", async (t) => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const srv = await fileServer(t, { '/executor.sh': 'exec', '/nope.sh': { status: 404, gate } });
  const { containerizer, updates, run, agent } = await setup(t);
  const executor = (id: string, path: string) => ({
    executorId: id,
    resources: [],
    command: { uris: [u(`${srv.base}${path}`, { executable: true })], shell: true, value: './executor.sh', arguments: [] },
  });
  const good = await run({ ...task('t1', []), command: undefined, executor: executor('e1', '/executor.sh') });
  await good.starting;
  t.is(readFileSync(join(good.sandbox, 'executor.sh'), 'utf8'), 'exec');
  t.is(containerizer.launched.length, 1);
  const sink = new ArraySink<ExecutorEvent>();
  await agent.executorSubscribe(
    { type: 'SUBSCRIBE', executorId: 'e1', frameworkId: 'F1', subscribe: { unacknowledgedTasks: [], unacknowledgedUpdates: [] } },
    sink,
  );
  t.deepEqual(
    sink.events.map((e) => e.type),
    ['SUBSCRIBED', 'LAUNCH'],
  );

  const bad = await run({ ...task('t2', []), command: undefined, executor: executor('e2', '/nope.sh') });
  await agent.onMasterMessage({
    type: 'RUN_TASK',
    frameworkId: 'F1',
    frameworkInfo: fwInfo,
    task: { ...task('t3', []), command: undefined, executor: executor('e2', '/nope.sh') },
  });
  t.deepEqual(Array.from(bad.queued.keys()), ['t2', 't3']);
  open();
  await bad.starting;
  t.is(containerizer.launched.length, 1);
  t.deepEqual(
    updates().map((s) => [s.taskId, s.state, s.reason]),
    [
      ['t2', 'TASK_FAILED', 'REASON_CONTAINER_LAUNCH_FAILED'],
      ['t3', 'TASK_FAILED', 'REASON_CONTAINER_LAUNCH_FAILED'],
    ],
  );
  t.regex(updates()[0]!.message!, /nope\.sh': HTTP 404 Not Found$/);
});

test('the fetcher cache survives an agent restart (Mesos wipes it): the restarted agent gets a hit; damaged files are dropped', async (t) => {
  const srv = await fileServer(t, { '/f.txt': 'x' });
  const { agent, fetcher, run } = await setup(t);
  await (
    await run(task('t1', [u(`${srv.base}/f.txt`, { cache: true })]))
  ).starting;
  t.deepEqual(readdirSync(fetcher.cache.dir).sort(), ['c1-f.txt', 'c1-f.txt.meta']);
  writeFileSync(join(fetcher.cache.dir, 'c7-left-over'), 'x');
  writeFileSync(join(fetcher.cache.dir, 'c8-cut.partial'), 'x');
  // The agent restarts on the same work_dir.
  await agent.stop();
  const again = new Agent({ ...agent.options, fetcher: new Fetcher({ cacheDir: fetcher.cache.dir }) });
  t.teardown(() => again.stop());
  await again.recover();
  t.deepEqual(readdirSync(fetcher.cache.dir).sort(), ['c1-f.txt', 'c1-f.txt.meta']);
  t.is(again.fetcher.cache.size, 1);
  t.is(again.fetcher.cache.used, 1);
  const sent: AgentToMaster[] = [];
  again.connected((m) => sent.push(m));
  await again.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  await again.onMasterMessage({
    type: 'RUN_TASK',
    frameworkId: 'F2',
    frameworkInfo: { ...fwInfo, id: 'F2' },
    task: task('t2', [u(`${srv.base}/f.txt`, { cache: true })]),
  });
  await again.frameworks.get('F2')!.executors.get('t2')!.starting;
  t.is(readFileSync(join(again.frameworks.get('F2')!.executors.get('t2')!.sandbox, 'f.txt'), 'utf8'), 'x');
  t.is(srv.hits('/f.txt'), 1, 'the server is not asked again');
  t.is(again.fetcher.counts.hits, 1);
});

test('a URI whose sha256 does not match fails the task (TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED) naming the URI and both digests; nothing is cached', async (t) => {
  const srv = await fileServer(t, { '/f.txt': 'hello' });
  const { fetcher, updates, run } = await setup(t);
  const wrong = 'f'.repeat(64);
  const actual = createHash('sha256').update('hello').digest('hex');
  const ex = await run(task('t1', [u(`${srv.base}/f.txt`, { cache: true, sha256: wrong })]));
  await ex.starting;
  t.like(updates()[0], { taskId: 't1', state: 'TASK_FAILED', reason: 'REASON_CONTAINER_LAUNCH_FAILED' });
  t.true(updates()[0]!.message!.includes(`Failed to fetch '${srv.base}/f.txt': sha256 mismatch: expected ${wrong}, got ${actual}`), updates()[0]!.message);
  t.is(fetcher.cache.size, 0);
  t.deepEqual(readdirSync(fetcher.cache.dir), []);
});
