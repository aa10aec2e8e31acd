/**
 * A framework's life as a scheduler sees it: failing over while its old stream is open,
 * tearing itself down, going away for good (failover_timeout 0), and asking about tasks the
 * master does not know. Tasks are real processes; what ends them is checked in /proc.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { type Json, Scheduler, commandTask, frameworkInfo, processesUnder, startCluster } from '../helpers/cluster.ts';

async function sandboxOf(c: { agentJson: (i: number, p: string) => Promise<Json> }, taskId: string): Promise<string> {
  const s = await c.agentJson(0, '/state');
  const all = [...s.frameworks, ...s.completed_frameworks].flatMap((f: Json) => [...f.executors, ...f.completed_executors]);
  return all.find((e: Json) => e.id === taskId).directory;
}

function running(dir: string): boolean {
  return processesUnder(dir).some((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep');
    } catch {
      return false;
    }
  });
}

test('re-subscribing while the old stream is open: ERROR "Framework failed over" on the old one, same id', async (t) => {
  const c = await startCluster(t);
  const info = frameworkInfo({ name: 'twice', failover_timeout: 60 });
  const first = await c.framework(info);
  // The other path a Mesos client library uses.
  const second = await Scheduler.subscribe(c.masterAddress, info, { frameworkId: first.frameworkId, path: '/master/api/v1/scheduler' });
  c.schedulers.push(second);
  t.is(second.status, 200);
  const sub = await second.waitFor((e) => e.type === 'SUBSCRIBED', 5000);
  t.is(sub.subscribed.framework_id.value, first.frameworkId);
  const err = await first.waitFor((e) => e.type === 'ERROR', 5000, 'ERROR on the old stream');
  t.is(err.error.message, 'Framework failed over');
  await first.whenClosed();
  // The old stream id is refused, the new one works.
  t.is((await first.call({ type: 'REVIVE' })).status, 400);
  t.is((await second.call({ type: 'REVIVE' })).status, 202);
});

test('TEARDOWN ends the framework and kills its tasks', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework();
  await fw.launch([commandTask('a', 'sleep 60'), commandTask('b', 'sleep 60')]);
  await fw.update('a', 'TASK_RUNNING');
  await fw.update('b', 'TASK_RUNNING');
  const dirs = [await sandboxOf(c, 'a'), await sandboxOf(c, 'b')];
  await c.until(() => dirs.every(running), 5000, 'the tasks to run');
  await fw.teardown();
  await fw.whenClosed();
  await c.until(() => !dirs.some(running), 10_000, 'the tasks to be killed');
  const state = await c.getJson('/master/state');
  t.is(state.frameworks.length, 0);
  t.deepEqual(
    state.completed_frameworks.map((f: Json) => f.id),
    [fw.frameworkId],
  );
  t.is(state.slaves[0].used_resources.cpus, 0);
  // A removed framework cannot come back.
  const back = await c.subscribe(frameworkInfo(), { frameworkId: fw.frameworkId });
  await back.whenClosed();
  t.is(back.events[0]?.type, 'ERROR');
});

test('a framework with failover_timeout 0 is removed when its stream closes; its tasks are killed', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo({ failover_timeout: 0 }));
  await fw.launch([commandTask('orphan', 'sleep 60')]);
  await fw.update('orphan', 'TASK_RUNNING');
  const dir = await sandboxOf(c, 'orphan');
  await c.until(() => running(dir), 5000, 'the task to run');
  fw.close();
  await c.until(async () => (await c.getJson('/master/frameworks')).completed_frameworks.length === 1, 5000, 'the framework to be removed');
  await c.until(() => !running(dir), 10_000, 'the task to be killed');
  t.pass();
});

test('KILL and RECONCILE of tasks the master does not know answer TASK_LOST, changing nothing', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework();
  const agentId = (await c.getJson('/master/slaves')).slaves[0].id;
  await fw.kill('nobody');
  t.like(await fw.update('nobody'), { state: 'TASK_LOST', reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER' });
  await fw.reconcile([{ taskId: 'ghost', agentId }]);
  const ghost = await fw.update('ghost');
  t.like(ghost, { state: 'TASK_LOST', reason: 'REASON_RECONCILIATION' });
  t.is(ghost.uuid, undefined);
  const state = await c.getJson('/master/state');
  t.deepEqual(state.frameworks[0].tasks, []);
  t.deepEqual(state.frameworks[0].completed_tasks, []);
});
