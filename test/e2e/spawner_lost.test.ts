/**
 * The agent's resident spawner of supervisors (docs/architecture.md §3, §4) dies during a burst
 * of launches: no task hangs. Each task of the burst ends up TASK_RUNNING, or TASK_FAILED with a
 * message that names the spawner; a task that was running is still killed and reported when
 * asked; and the next launch starts a new spawner. Which tasks were in flight when the spawner
 * died depends on timing; what is checked holds whichever they were.
 */
import test from 'ava';
import type { SupervisorContainerizer } from '../../lib/agent/containerizer/supervisor_containerizer.ts';
import { type Json, commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';

const BURST = 40;

test('the spawner killed during a burst: every task is RUNNING or FAILED naming the spawner, running ones can be killed, the next launch works', async (t) => {
  const c = await startCluster(t, { agentResources: 'cpus:32;mem:8192;disk:10000;ports:[31000-32000]' });
  const containerizer = c.agents[0]!.agent.options.containerizer as SupervisorContainerizer;
  const fw = await c.framework(frameworkInfo({ name: 'spawner-lost' }), { keepAlive: true });
  await fw.launch([commandTask('first', 'true')]);
  await fw.update('first', 'TASK_FINISHED', 30_000);
  const first = containerizer.spawner.pid;
  t.true(first !== undefined && first > 0, 'the first launch started the spawner');

  const burst = Array.from({ length: BURST }, (_v, i) => commandTask(`burst-${i}`, 'sleep 60'));
  let killed = false;
  fw.onEvent = (e: Json) => {
    // At the burst's first TASK_RUNNING, the others are still being launched.
    if (!killed && e.type === 'UPDATE' && e.update.status.task_id.value.startsWith('burst-') && e.update.status.state === 'TASK_RUNNING') {
      killed = true;
      process.kill(first!, 'SIGKILL');
    }
  };
  await fw.launch(burst); // one ACCEPT
  const ends = await Promise.all(burst.map((b: Json) => fw.update(b.task_id.value, ['TASK_RUNNING', 'TASK_FAILED'], 60_000)));
  t.true(killed);
  const failed = ends.filter((u) => u.state === 'TASK_FAILED');
  for (const u of failed) {
    t.is(u.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    t.regex(u.message, /supervisor spawner \(pid \d+\) was killed by SIGKILL/);
  }
  const running = ends.filter((u) => u.state === 'TASK_RUNNING').map((u) => u.task_id.value as string);
  t.log(`${failed.length} of ${BURST} launches failed with the spawner; ${running.length} were running`);
  t.true(running.length >= 1);

  // A task that was running when its spawner died is still killed and reported.
  await fw.kill(running[0]!);
  await fw.update(running[0]!, 'TASK_KILLED', 30_000);

  // The next launch starts a new spawner.
  await fw.launch([commandTask('after', 'true')]);
  await fw.update('after', 'TASK_FINISHED', 30_000);
  t.not(containerizer.spawner.pid, first);
});
