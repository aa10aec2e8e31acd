/**
 * A 30-day failover timeout on a real master (the real clock, Node's timers), as the attack
 * of issue 13 item 4 ran it: Node fires a timer over 2^31-1 ms after 1 ms, which removed the
 * framework and killed its tasks as soon as its stream closed.
 */
import test from 'ava';
import { commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';

test('a framework with a 30-day failover timeout that disconnects is kept with its running task', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo({ failover_timeout: 30 * 86_400 }));
  await fw.launch([commandTask('long-lived', 'sleep 600')]);
  await fw.update('long-lived', 'TASK_RUNNING');
  const master = c.master!.master;
  fw.close();
  await c.until(() => master.frameworks.get(fw.frameworkId)?.connected !== true, 5000, 'the master to see the framework disconnect (or remove it)');
  // Timers run in order of their due time: a failover timer cut to 1 ms would have run before
  // this 50 ms one.
  await new Promise((r) => setTimeout(r, 50));
  const state = await c.getJson('/master/frameworks');
  t.deepEqual(state.completed_frameworks, [], 'the framework was removed');
  const kept = (state.frameworks as { id: string; active: boolean; tasks: { id: string; state: string }[] }[]).find((f) => f.id === fw.frameworkId);
  t.like(kept, { active: false, tasks: [{ id: 'long-lived', state: 'TASK_RUNNING' }] });
});
