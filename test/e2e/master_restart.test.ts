/**
 * A master restart on the same port and work dir, with a framework and an agent that outlive
 * it: the agent re-registers by itself and its task keeps running, the framework re-subscribes
 * with its id and gets it back, reconciliation and KILL still work, and a status update made
 * while the master was away reaches the framework afterwards.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { type Json, commandTask, frameworkInfo, request, startCluster } from '../helpers/cluster.ts';

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

test('master restart: agent re-registers, framework fails over with its id, tasks and updates survive', async (t) => {
  const c = await startCluster(t);
  const info = frameworkInfo({ name: 'survivor-fw', failover_timeout: 3600 });
  const fw = await c.framework(info);
  const frameworkId = fw.frameworkId;
  const port = c.masterPort;

  // One task that runs through the restart, one that ends while the master is away.
  await fw.launch([commandTask('survivor', 'echo $$ > pid; exec sleep 60'), commandTask('during', 'sleep 0.7; echo done')]);
  const running = await fw.update('survivor', 'TASK_RUNNING');
  await fw.update('during', 'TASK_RUNNING');
  const agentId: string = running.agent_id.value;
  const agentState = await c.agentJson(0, '/state');
  const sandbox: string = agentState.frameworks[0].executors.find((e: Json) => e.id === 'survivor').directory;
  let pid = 0;
  await c.until(
    () => {
      try {
        pid = Number(readFileSync(`${sandbox}/pid`, 'utf8').trim());
      } catch {
        pid = 0;
      }
      return pid > 0 && cmdline(pid).startsWith('sleep');
    },
    5000,
    'the survivor to run',
  );
  await Promise.all(fw.acks);

  // The master goes away: the framework's stream ends, the agent loses its link.
  await c.stopMaster();
  await fw.whenClosed();
  await c.until(() => !c.agents[0]!.agent.isConnected, 5000, 'the agent to notice');
  // While it is away, 'during' finishes on the agent.
  await c.until(
    async () => {
      const s = await c.agentJson(0, '/state');
      const ex = s.frameworks[0]?.completed_executors.find((e: Json) => e.id === 'during');
      return ex !== undefined && ex.completed_tasks.some((x: Json) => x.id === 'during' && x.state === 'TASK_FINISHED');
    },
    5000,
    "'during' to finish on the agent",
  );

  // A new master on the same port and work dir.
  await c.startMaster(port);
  t.is(c.masterPort, port);
  // The agent comes back by itself, with its id.
  await c.until(
    async () => {
      const s = await c.getJson('/master/slaves');
      return s.slaves.length === 1 && s.slaves[0].id === agentId && s.slaves[0].active === true;
    },
    10_000,
    'the agent to re-register',
  );
  t.is(cmdline(pid), 'sleep 60', 'the task kept running');

  // The framework fails over to the new master with its id.
  const again = await c.framework(info, { frameworkId });
  t.is(again.frameworkId, frameworkId, 'the same framework id');
  t.not(again.streamId, fw.streamId, 'a new stream id');

  // The update made while the master was away arrives (reliably, with a uuid to acknowledge).
  const late = await again.update('during', 'TASK_FINISHED', 5000);
  t.is(typeof late.uuid, 'string');
  t.is(late.agent_id.value, agentId);

  // Reconciliation knows the running task.
  await again.reconcile([{ taskId: 'survivor', agentId }]);
  t.like(await again.update('survivor', undefined, 5000), { state: 'TASK_RUNNING', reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER' });
  await again.reconcile([]);
  t.like(await again.update('survivor', undefined, 5000), { state: 'TASK_RUNNING', reason: 'REASON_RECONCILIATION' });

  const state = await c.getJson('/master/state');
  const fwState = state.frameworks.find((f: Json) => f.id === frameworkId);
  t.truthy(fwState);
  t.true(fwState.tasks.some((x: Json) => x.id === 'survivor' && x.state === 'TASK_RUNNING'));
  t.is(state.slaves[0].used_resources.cpus, 0.1);

  // Killing still works, and really ends the process.
  await again.kill('survivor');
  await again.update('survivor', 'TASK_KILLED', 10_000);
  await c.until(() => cmdline(pid) === '', 5000, 'the process to be gone');
  await Promise.all(again.acks);
  t.deepEqual([...new Set((await Promise.all(again.acks)).map((a) => a.status))], [202]);

  // The old stream id is dead for good.
  const stale = await request(c.url('/api/v1/scheduler'), {
    headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': fw.streamId },
    body: { framework_id: { value: frameworkId }, type: 'REVIVE' },
  });
  t.is(stale.status, 400);
});
