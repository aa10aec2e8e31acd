/**
 * A task's terminal update does not wait for the launches the agent is busy with (issue 16).
 *
 * One ACCEPT carries a `true` task first and then a burst of `sleep` tasks: the agent launches
 * them one after another for a while. The `true` task runs first and exits at once; its
 * TASK_FINISHED must reach the framework while most of the burst is still being launched. What
 * is checked is the order of the events the framework sees, not how long anything took: when
 * the master's messages were handled one at a time, the acknowledgement of its TASK_RUNNING
 * waited behind every RUN_TASK of the burst, and its TASK_FINISHED (only sent once
 * TASK_RUNNING is acknowledged) came after all but the last few tasks of the burst were running.
 */
import test from 'ava';
import { type Json, commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';

const BURST = 150;

test('a task that exits during a burst of launches is reported TASK_FINISHED before the burst ends', async (t) => {
  const c = await startCluster(t, { agentResources: 'cpus:32;mem:8192;disk:10000;ports:[31000-32000]' });
  const fw = await c.framework(frameworkInfo({ name: 'burst' }), { keepAlive: true });
  const burst = Array.from({ length: BURST }, (_v, i) => commandTask(`burst-${i}`, 'sleep 60'));
  await fw.launch([commandTask('quick', 'true'), ...burst]); // one ACCEPT

  const finished = await fw.update('quick', 'TASK_FINISHED', 60_000);
  t.is(finished.message, 'Command exited with status 0');
  await Promise.all(burst.map((b: Json) => fw.update(b.task_id.value, 'TASK_RUNNING', 60_000)));

  const updates: string[] = fw.events.filter((e) => e.type === 'UPDATE').map((e) => `${e.update.status.task_id.value}:${e.update.status.state}`);
  const at = updates.indexOf('quick:TASK_FINISHED');
  t.true(updates.indexOf('quick:TASK_RUNNING') < at, 'its TASK_RUNNING came first');
  const runningBefore = updates.slice(0, at).filter((u) => u.startsWith('burst-') && u.endsWith(':TASK_RUNNING')).length;
  t.true(
    runningBefore < BURST / 2,
    `TASK_FINISHED of the quick task came after ${runningBefore} of the ${BURST} tasks of the burst were running (expected: before half of them)`,
  );
  t.log(`TASK_FINISHED of the quick task came when ${runningBefore} of the ${BURST} tasks of the burst had reached TASK_RUNNING`);
});
