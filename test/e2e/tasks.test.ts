/**
 * End to end, over real HTTP on loopback with real task processes: a framework subscribes,
 * launches tasks, acknowledges their updates, reconciles, kills; the operator endpoints, the
 * agent's /state, /monitor/statistics and /files show what a user would look for.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { type Json, USER, commandTask, frameworkInfo, processesUnder, request, startCluster } from '../helpers/cluster.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Every executor (live and completed) of the agent's /state, with its framework id. */
function executorsOf(state: Json): Json[] {
  return [...state.frameworks, ...state.completed_frameworks].flatMap((f: Json) => [...f.executors, ...f.completed_executors]);
}

test('50 tasks: subscribe, launch, acknowledge, finish; sandbox files; reconciliation; operator endpoints', async (t) => {
  const c = await startCluster(t);
  const fw = await c.subscribe(frameworkInfo({ name: 'fifty' }));

  // The subscription as a client library sees it.
  t.is(fw.status, 200);
  t.regex(fw.streamId, UUID_RE, 'Mesos-Stream-Id is a UUID');
  t.is(fw.headers['content-type'], 'application/json');
  t.is(fw.headers['transfer-encoding'], 'chunked');
  const subscribed = await fw.waitFor((e) => e.type === 'SUBSCRIBED', 5000, 'SUBSCRIBED');
  const heartbeat = await fw.waitFor((e) => e.type === 'HEARTBEAT', 5000, 'HEARTBEAT');
  t.is(fw.events[0], subscribed, 'SUBSCRIBED comes first');
  t.is(fw.events[1], heartbeat, 'then a HEARTBEAT');
  t.regex(fw.records[0]!, /"heartbeat_interval_seconds":15\.0[,}]/, 'the interval is written as a double');
  const frameworkId: string = subscribed.subscribed.framework_id.value;
  t.true(frameworkId.startsWith(`${subscribed.subscribed.master_info.id}-`));
  t.is(subscribed.subscribed.master_info.port, c.masterPort);

  // One long task to look at while it runs, then 50 short ones, 10 per ACCEPT as offers come.
  const long = commandTask('long', 'sleep 30');
  await fw.launch([long]);
  const running = await fw.update('long', 'TASK_RUNNING');
  const agentId: string = running.agent_id.value;
  t.is(running.source, 'SOURCE_EXECUTOR');
  t.is(typeof running.uuid, 'string');
  t.is(Buffer.from(running.uuid, 'base64').length, 16);

  const short: Json[] = [];
  for (let i = 0; i < 50; i++) {
    const id = `short-${i}`;
    if (i % 3 === 0) short.push(commandTask(id, 'true'));
    else if (i % 3 === 1)
      short.push(
        commandTask(id, 'echo $MESOS_TASK_ID', {
          command: { value: 'echo $MESOS_TASK_ID', shell: true, environment: { variables: [{ name: 'MESOS_TASK_ID', value: id }] } },
        }),
      );
    else short.push(commandTask(id, `sleep 0.0${i % 10}`));
  }
  // A task may make a link out of its sandbox; /files must not follow it.
  short[49] = commandTask('short-49', 'ln -s /etc/hostname leak && echo linked');
  const placed = await fw.launch(short, { perAccept: 10, timeoutMs: 20_000 });
  t.is(placed.size, 50);

  // While they run, the master shows the used resources.
  const slavesWhileRunning = await c.getJson('/master/slaves');
  t.true(slavesWhileRunning.slaves[0].used_resources.cpus >= 0.1);

  const finished = await Promise.all(short.map((task) => fw.update(task.task_id.value, 'TASK_FINISHED', 30_000)));
  for (const s of finished) {
    t.is(s.message, 'Command exited with status 0');
    t.is(s.agent_id.value, agentId);
  }
  // Every update that carried a uuid was acknowledged, and each acknowledgement accepted.
  const withUuid = fw.events.filter((e) => e.type === 'UPDATE' && e.update.status.uuid !== undefined);
  t.true(withUuid.length >= 101, `${withUuid.length} updates with a uuid`);
  const acks = await Promise.all(fw.acks);
  t.is(acks.length, withUuid.length);
  t.deepEqual([...new Set(acks.map((a) => a.status))], [202]);

  // The sandbox of an echo task: found through the agent's /state, read through /files/read.
  const agentState = await c.agentJson(0, '/state');
  t.is(agentState.id, agentId);
  const echoEx = executorsOf(agentState).find((e) => e.id === 'short-7');
  t.truthy(echoEx, 'short-7 is among the executors');
  const stdout = await c.agentJson(0, `/files/read?path=${encodeURIComponent(`${echoEx.directory}/stdout`)}&offset=0`);
  t.is(stdout.data, 'short-7\n');
  t.is(stdout.offset, 0);
  // Outside the sandbox: by '..', and by a symlink the task made.
  const up = await request(c.agentUrl(0, `/files/read?path=${encodeURIComponent(`${echoEx.directory}/../../../../../../../../etc/hostname`)}&offset=0`), {
    method: 'GET',
  });
  t.true(up.status === 403 || up.status === 404, `'..' answered ${up.status}`);
  t.false(up.text.includes('"data"'));
  const linkEx = executorsOf(agentState).find((e) => e.id === 'short-49');
  t.is((await c.agentJson(0, `/files/read?path=${encodeURIComponent(`${linkEx.directory}/stdout`)}&offset=0`)).data, 'linked\n');
  const viaLink = await request(c.agentUrl(0, `/files/read?path=${encodeURIComponent(`${linkEx.directory}/leak`)}&offset=0`), { method: 'GET' });
  t.true(viaLink.status === 403 || viaLink.status === 404, `the symlink answered ${viaLink.status}`);
  t.false(viaLink.text.includes('"data"'));

  // Reconciliation of the running task, explicit and implicit.
  await fw.reconcile([{ taskId: 'long', agentId }]);
  const explicit = await fw.update('long', undefined, 5000);
  t.like(explicit, { state: 'TASK_RUNNING', reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER' });
  t.is(explicit.uuid, undefined, 'reconciliation answers are not acknowledged');
  await fw.reconcile([]);
  const implicit = await fw.update('long', undefined, 5000);
  t.like(implicit, { state: 'TASK_RUNNING', reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER' });

  // The operator's view.
  const state = await c.getJson('/master/state');
  t.is(state.slaves.length, 1);
  t.is(state.slaves[0].id, agentId);
  t.is(state.slaves[0].hostname, 'agent0');
  t.is(state.slaves[0].used_resources.cpus, 0.1);
  t.is(state.slaves[0].used_resources.mem, 32);
  t.is(state.slaves[0].resources.cpus, 8);
  const fwState = state.frameworks.find((f: Json) => f.id === frameworkId);
  t.is(fwState.name, 'fifty');
  t.is(fwState.user, USER);
  t.true(fwState.active);
  t.deepEqual(
    fwState.tasks.map((x: Json) => [x.id, x.state]),
    [['long', 'TASK_RUNNING']],
  );
  t.is(fwState.completed_tasks.length, 50);
  t.true(fwState.completed_tasks.every((x: Json) => x.state === 'TASK_FINISHED' && x.slave_id === agentId));

  const summary = await c.getJson('/master/state-summary');
  t.like(summary.frameworks[0], { id: frameworkId, TASK_FINISHED: 50, TASK_RUNNING: 1 });
  t.like(summary.slaves[0], { id: agentId, TASK_RUNNING: 1 });

  const tasks = await c.getJson('/master/tasks?limit=100');
  t.is(tasks.tasks.length, 51);
  t.is(tasks.tasks.filter((x: Json) => x.state === 'TASK_FINISHED').length, 50);

  const frameworks = await c.getJson('/master/frameworks');
  t.deepEqual(
    frameworks.frameworks.map((f: Json) => f.id),
    [frameworkId],
  );
  t.is(frameworks.frameworks[0].used_resources.cpus, 0.1);

  const slaves = await c.getJson('/master/slaves');
  t.is(slaves.slaves[0].used_resources.cpus, 0.1);
  t.true(Array.isArray(slaves.slaves[0].used_resources_full));
  t.true(slaves.slaves[0].active);

  const metrics = await c.getJson('/metrics/snapshot');
  t.like(metrics, {
    'master/tasks_finished': 50,
    'master/tasks_running': 1,
    'master/tasks_failed': 0,
    'master/frameworks_active': 1,
    'master/slaves_active': 1,
    'master/cpus_used': 0.1,
    'master/cpus_total': 8,
    'master/elected': 1,
  });

  // The agent's view of the running task and its usage.
  const live = agentState.frameworks.find((f: Json) => f.id === frameworkId).executors;
  t.deepEqual(
    live.map((e: Json) => e.id),
    ['long'],
  );
  t.is(live[0].tasks[0].state, 'TASK_RUNNING');
  t.is(executorsOf(agentState).length, 51);
  const stats = await c.agentJson(0, '/monitor/statistics');
  t.is(stats.length, 1);
  t.like(stats[0], { framework_id: frameworkId, executor_id: 'long', statistics: { cpus_limit: 0.1, mem_limit_bytes: 32 * 1024 * 1024 } });
  t.true(stats[0].statistics.mem_rss_bytes > 0);
  t.is(typeof stats[0].statistics.timestamp, 'number');

  await fw.kill('long');
  await fw.update('long', 'TASK_KILLED', 10_000);
});

test('KILL of a sleeping task: TASK_KILLED, and its processes are gone', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework();
  // The task records its shell's pid, then becomes `sleep 60` (exec keeps the pid).
  await fw.launch([commandTask('sleeper', 'echo $$ > pid; exec sleep 60')]);
  const running = await fw.update('sleeper', 'TASK_RUNNING');
  const ex = executorsOf(await c.agentJson(0, '/state')).find((e) => e.id === 'sleeper');
  let pid = 0;
  await c.until(
    async () => {
      const r = await request(c.agentUrl(0, `/files/read?path=${encodeURIComponent(`${ex.directory}/pid`)}&offset=0`), { method: 'GET' });
      pid = r.status === 200 ? Number(r.json().data.trim()) : 0;
      return pid > 0;
    },
    5000,
    'the pid file',
  );
  await c.until(() => cmdline(pid).startsWith('sleep'), 5000, 'sleep to run');
  t.true(processesUnder(ex.directory).length >= 1, 'the task and its supervisor run');

  await fw.kill('sleeper', running.agent_id.value);
  const killed = await fw.update('sleeper', 'TASK_KILLED', 10_000);
  t.is(killed.source, 'SOURCE_EXECUTOR');
  t.false(isLive(pid), `process ${pid} is gone`);
  t.deepEqual(processesUnder(ex.directory), [], 'nothing runs from the sandbox');
  const metrics = await c.getJson('/metrics/snapshot');
  t.is(metrics['master/tasks_killed'], 1);
  t.is(metrics['master/tasks_running'], 0);
});

test('KILL right after ACCEPT, while containers are being launched: killed tasks end KILLED, the others run', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo({ checkpoint: true }));
  const ids = Array.from({ length: 20 }, (_v, i) => `burst-${i}`);
  await fw.launch(ids.map((id) => commandTask(id, 'sleep 60')));
  // No waiting for anything: the agent is still launching most of them.
  await Promise.all(ids.slice(0, 10).map((id) => fw.kill(id)));
  for (const id of ids.slice(0, 10)) t.is((await fw.update(id, ['TASK_KILLED', 'TASK_FAILED', 'TASK_FINISHED', 'TASK_LOST'], 15_000)).state, 'TASK_KILLED', id);
  for (const id of ids.slice(10)) await fw.update(id, 'TASK_RUNNING', 15_000);
  const state = await c.agentJson(0, '/state');
  const live = state.frameworks[0].executors.map((e: Json) => e.id).sort();
  t.deepEqual(live, ids.slice(10).sort());
  for (const e of executorsOf(state).filter((x) => ids.slice(0, 10).includes(x.id))) {
    await c.until(() => processesUnder(e.directory).length === 0, 5000, `nothing left of ${e.id}`);
  }
  t.is((await c.getJson('/metrics/snapshot'))['master/tasks_running'], 10);
});

test('a task that exits 3 fails with its status; a missing binary fails', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework();
  await fw.launch([
    commandTask('three', 'exit 3'),
    commandTask('nobinary', '/nonexistent/binary', { command: { value: '/nonexistent/binary', shell: false, arguments: ['/nonexistent/binary', '--flag'] } }),
  ]);
  const three = await fw.update('three', 'TASK_FAILED', 10_000);
  t.is(three.message, 'Command exited with status 3');
  const missing = await fw.update('nobinary', ['TASK_FAILED'], 10_000);
  t.regex(missing.message ?? '', /status 127 .*\/nonexistent\/binary.*No such file or directory/, 'the failure says why');
  // Neither ever finished.
  t.false(fw.events.some((e) => e.type === 'UPDATE' && e.update.status.state === 'TASK_FINISHED'));
  const metrics = await c.getJson('/metrics/snapshot');
  t.is(metrics['master/tasks_failed'], 2);
});

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function isLive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
