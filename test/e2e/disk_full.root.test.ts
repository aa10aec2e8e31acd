/**
 * A full disk under a real agent process (issue 13 item 3): `corral agent` with its --work_dir
 * on a 20 MiB tmpfs, under a master in this process, and a checkpointing framework. A task
 * fills the disk; then:
 *   - the agent stays up (a crash fails the test: AgentProcess, crash_guard.ts);
 *   - the fill task's terminal state reaches the framework though it could not be checkpointed
 *     (forwarded from memory); it is FINISHED, as its command exited 0: its supervisor had
 *     reserved the space of the exit status before the command ran;
 *   - tasks launched while the disk is full end TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED,
 *     saying the disk is full, and slave/checkpoint_failures counts the failed writes;
 *   - once the file is deleted, new tasks run normally, and a restarted agent (SIGKILL, start
 *     again, --strict) recovers: no checkpoint is corrupt.
 * The tmpfs is unmounted at the end, pass or fail; leftovers of a crashed run are cleared first.
 */
import anyTest from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess, agentProcessArgs, untilAgentActive } from '../helpers/agent_process.ts';
import { type Json, commandTask, frameworkInfo, getJson, killEverythingUnder, startCluster } from '../helpers/cluster.ts';
import { rootOnly } from '../helpers/root.ts';
import { smallTmpfs } from '../helpers/tmpfs.ts';

const test = rootOnly(anyTest);

test("a task fills the agent's disk: the agent stays up, launches that cannot checkpoint fail alone, terminal states reach the master, and all is well once space returns", async (t) => {
  const dir = smallTmpfs(t, 20);
  const c = await startCluster(t, { agents: 0 });
  const workDir = join(dir, 'agent');
  const args = await agentProcessArgs({
    master: c.masterAddress,
    workDir,
    resources: 'cpus:4;mem:4096;disk:10000;ports:[31000-32000]',
    isolation: 'posix/cpu,posix/mem',
    cgroupsRoot: 'unused',
  });
  const agents: AgentProcess[] = [];
  t.teardown(async () => {
    try {
      for (const a of agents) await a.kill('SIGKILL');
    } finally {
      killEverythingUnder(dir);
    }
  });
  const start = (): AgentProcess => {
    const a = AgentProcess.start(args);
    agents.push(a);
    return a;
  };
  let agent = start();
  const first = await untilAgentActive(c.masterAddress, 60_000);
  const metric = async (name: string): Promise<number> => (await getJson(`http://127.0.0.1:${first.port}/metrics/snapshot`))[name] as number;

  const s = await c.framework(frameworkInfo({ checkpoint: true }));
  const fill = join(dir, 'fill');
  await s.launch([commandTask('fill', `cat /dev/zero > ${fill} 2>/dev/null; exit 0`)]);
  // Its command exits 0 on the full disk, and its supervisor records that in the space it
  // reserved at the start: the task FINISHED (its update could not be checkpointed: sent from memory).
  const filled = await s.update('fill', ['TASK_FINISHED', 'TASK_FAILED'], 60_000);
  t.is(filled.state, 'TASK_FINISHED', JSON.stringify(filled));

  // The disk is full: launches fail alone, each with a clear reason, and the agent stays up.
  const full = ['full-1', 'full-2', 'full-3'];
  await s.launch(
    full.map((id) => commandTask(id, 'echo hi')),
    { perAccept: 1 },
  );
  for (const id of full) {
    const st: Json = await s.update(id, ['TASK_FAILED', 'TASK_FINISHED', 'TASK_LOST', 'TASK_ERROR'], 30_000);
    t.is(st.state, 'TASK_FAILED', id);
    t.is(st.reason, 'REASON_CONTAINER_LAUNCH_FAILED', id);
    t.is(st.source, 'SOURCE_AGENT', id);
    t.regex(st.message, /no space left on the device/, id);
  }
  agent.checkNoCrash();
  t.true(agent.running, 'the agent is up');
  t.true((await metric('slave/checkpoint_failures')) >= full.length, 'slave/checkpoint_failures counts the failed writes');
  const tasks = (await c.getJson('/master/tasks')).tasks as Json[];
  t.deepEqual(
    Object.fromEntries(tasks.map((x) => [x.id, x.state])),
    { fill: 'TASK_FINISHED', 'full-1': 'TASK_FAILED', 'full-2': 'TASK_FAILED', 'full-3': 'TASK_FAILED' },
    'the master knows every task ended',
  );

  // Space returns: tasks run normally.
  rmSync(fill);
  const after = ['after-1', 'after-2'];
  await s.launch(
    after.map((id) => commandTask(id, 'echo ok')),
    { perAccept: 1 },
  );
  for (const id of after) t.is((await s.update(id, ['TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST'], 30_000)).state, 'TASK_FINISHED', id);

  // A restarted agent (--strict: a damaged checkpoint would stop it) recovers and runs tasks.
  await agent.kill('SIGKILL');
  agent = start();
  const recovered = await agent.waitForLog('recovered from checkpoints', 60_000);
  t.is(recovered.problems, 0, 'no damaged checkpoint');
  await untilAgentActive(c.masterAddress, 60_000, (a) => a.id === first.id && a.reregistered_time !== undefined);
  // An offer made before the restart was rescinded when the agent went: take a later one.
  const rescinded = (): Set<string> => new Set(s.events.filter((e) => e.type === 'RESCIND').map((e) => e.rescind.offer_id.value as string));
  let offer: Json;
  do [offer] = await s.offers(30_000);
  while (rescinded().has(offer.id.value));
  await s.accept([offer.id.value], [{ ...commandTask('after-restart', 'echo ok'), agent_id: offer.agent_id }]);
  const last = await s.update('after-restart', ['TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST'], 30_000);
  t.is(last.state, 'TASK_FINISHED', JSON.stringify(last));
  agent.checkNoCrash();
});
