import test from 'ava';
import { testAgentOptions } from '../helpers/agent_options.ts';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../lib/agent/agent.ts';
import type { AgentOptions } from '../../lib/agent/options.ts';
import type { RecoveredRun } from '../../lib/agent/containerizer/containerizer.ts';
import { AgentPaths } from '../../lib/agent/paths.ts';
import type { CorralError } from '../../lib/common/errors.ts';
import { parseResourcesText } from '../../lib/common/resources/index.ts';
import type { AgentToMaster } from '../../lib/proto/internal.ts';
import type { FrameworkInfo, TaskInfo, TaskStatus } from '../../lib/proto/messages.ts';
import { FakeContainerizer } from '../helpers/fake_containerizer.ts';

const fwInfo = (checkpoint: boolean, id = 'F1'): FrameworkInfo => ({
  user: 'nobody',
  name: 'fw',
  id,
  failoverTimeout: 0,
  checkpoint,
  role: '*',
  capabilities: [],
});
const task = (id: string): TaskInfo => ({
  name: id,
  taskId: id,
  agentId: 'S0',
  resources: parseResourcesText('cpus:1;mem:64').toArray(),
  command: { uris: [], shell: true, value: 'sleep 100', arguments: [] },
});

async function setup(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'corral-recover-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const containerizer = new FakeContainerizer();
  const make = (extra: Partial<AgentOptions> = {}) => {
    const sent: AgentToMaster[] = [];
    const agent = new Agent(testAgentOptions(dir, containerizer, { executorEnvironment: {}, ...extra }));
    agent.connected((m) => sent.push(m));
    const updates = () => sent.filter((m): m is Extract<AgentToMaster, { type: 'STATUS_UPDATE' }> => m.type === 'STATUS_UPDATE').map((m) => m.status);
    return { agent, sent, updates };
  };
  return { dir, containerizer, make };
}

/** A first agent run: registered as S0, the tasks launched, then the agent dies (its containers go on). */
async function firstRun(
  s: Awaited<ReturnType<typeof setup>>,
  tasks: readonly (readonly [string, FrameworkInfo])[],
  extra: Partial<AgentOptions> = {},
): Promise<void> {
  const first = s.make(extra);
  await first.agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  for (const [id, fw] of tasks) await first.agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: fw.id!, frameworkInfo: fw, task: task(id) });
  await first.agent.stop();
  s.containerizer.abandon();
}

test('a restarted agent keeps its id, re-attaches to running tasks, resends what was not acknowledged, and stops orphans', async (t) => {
  const { containerizer, make } = await setup(t);
  const first = make();
  await first.agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  await first.agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(true), task: task('kept') });
  await first.agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(true), task: task('ends') });
  await first.agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F2', frameworkInfo: fwInfo(false, 'F2'), task: task('orphan') });
  const running = first.updates().filter((u) => u.state === 'TASK_RUNNING');
  // The 'kept' task's RUNNING is acknowledged; the others are not.
  const kept = running.find((u) => u.taskId === 'kept')!;
  await first.agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: 'kept', uuid: kept.uuid! });
  await first.agent.stop(); // the agent dies; its containers (the fake's) go on
  containerizer.abandon();

  const [keptC, endsC, orphanC] = containerizer.launched;
  // 'ends' finishes while the agent is down.
  containerizer.exit(endsC!.containerId, 0);

  const second = make();
  const report = await second.agent.recover();
  t.like(report, { agentId: 'S0', executors: 2, orphans: 1 });
  t.is(containerizer.containers.get(orphanC!.containerId)!.killedWith, 0, 'the non-checkpointing run is stopped');
  t.is(containerizer.containers.get(keptC!.containerId)!.killedWith, undefined);
  const hello = second.agent.registrationMessage();
  t.is(hello.type, 'REREGISTER');
  if (hello.type === 'REREGISTER') t.deepEqual(hello.tasks.map((x) => x.task.taskId).sort(), ['ends', 'kept']);
  await second.agent.onMasterMessage({ type: 'REREGISTERED', agentId: 'S0', masterId: 'M2' });
  await second.agent.frameworks.get('F1')!.executors.get('ends')?.done;
  // The unacknowledged RUNNING of 'ends' is resent first; its FINISHED follows its acknowledgement.
  const resent = second.updates();
  t.deepEqual(
    resent.map((u: TaskStatus) => `${u.taskId}:${u.state}`),
    ['ends:TASK_RUNNING'],
  );
  await second.agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: 'ends', uuid: resent[0]!.uuid! });
  t.deepEqual(
    second.updates().map((u) => `${u.taskId}:${u.state}`),
    ['ends:TASK_RUNNING', 'ends:TASK_FINISHED'],
  );
  // The kept task is still tracked and can be killed.
  await second.agent.onMasterMessage({ type: 'KILL_TASK', frameworkId: 'F1', taskId: 'kept' });
  t.is(containerizer.containers.get(keptC!.containerId)!.killedWith, 3000);
  await second.agent.stop();
});

test('an agent whose resources changed refuses to recover, naming the checkpoint to remove', async (t) => {
  const { make, dir, containerizer } = await setup(t);
  const first = make();
  await first.agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  await first.agent.stop();
  containerizer.abandon();
  const second = make({ resources: parseResourcesText('cpus:8;mem:1024') });
  const e = await t.throwsAsync(second.agent.recover());
  t.regex(e!.message, /differ from the checkpointed ones/);
  t.true(e!.message.includes(join(dir, 'meta/slaves/latest')));
});

test('with --strict=false a damaged checkpoint is reported with its path and skipped', async (t) => {
  const s = await setup(t);
  const { make, dir } = s;
  await firstRun(s, [['t1', fwInfo(true)]]);
  const p = new AgentPaths(dir).frameworkInfoFile('S0', 'F1');
  await writeFile(p, '{"user": "nob');
  const second = make({ strict: false });
  const report = await second.agent.recover();
  t.is(report.problems.length, 1);
  t.true(report.problems[0]!.startsWith(p));
  t.is(report.orphans, 1, 'its run cannot be recovered and is stopped');
  t.is(second.agent.metrics.snapshot()['slave/recovery_errors'], 1);
});

test('under --strict (the default) a damaged checkpoint stops the recovery, naming it, before any container is touched', async (t) => {
  const s = await setup(t);
  const { make, dir, containerizer } = s;
  await firstRun(s, [['t1', fwInfo(true)]]);
  const paths = new AgentPaths(dir);
  const c = containerizer.launched[0]!;
  const updates = paths.taskUpdatesFile('S0', 'F1', 't1', c.containerId, 't1');
  // Damage before the end of the update stream: not a torn tail, so not repaired silently.
  await writeFile(updates, 'garbage\n' + (await readFile(updates, 'latin1')), 'latin1');
  const second = make();
  const e = await t.throwsAsync(second.agent.recover());
  t.is((e as CorralError).code, 'RECOVERY_FAILED');
  t.true(e!.message.includes(updates), e!.message);
  t.regex(e!.message, /--strict=false/);
  t.is(containerizer.containers.get(c.containerId)!.killedWith, undefined, 'nothing was killed');
  // --strict=false: reported, moved aside, the task is still tracked and its container re-attached.
  const third = make({ strict: false });
  const report = await third.agent.recover();
  t.is(report.problems.length, 1);
  t.true(report.problems[0]!.startsWith(updates));
  t.true(existsSync(`${updates}.damaged`));
  t.is(report.executors, 1);
  t.is(containerizer.containers.get(c.containerId)!.killedWith, undefined);
  await third.agent.stop();
});

test('--recover=cleanup kills every container of the last run, waits for them, and forgets the agent id', async (t) => {
  const s = await setup(t);
  const { make, dir, containerizer } = s;
  await firstRun(s, [
    ['a', fwInfo(true)],
    ['orphan', fwInfo(false, 'F2')],
  ]);
  const [a, orphan] = containerizer.launched;
  const second = make({ recoverMode: 'cleanup', bootId: 'boot-1' });
  const report = await second.agent.recover();
  t.like(report, { agentId: undefined, killed: 2, rebooted: false });
  t.is(containerizer.containers.get(a!.containerId)!.killedWith, 3000);
  t.is(containerizer.containers.get(orphan!.containerId)!.killedWith, 3000);
  t.false(existsSync(new AgentPaths(dir).latestAgentLink()));
  t.deepEqual(second.sent, [], 'nothing is said to a master');
  // The next start is a new agent.
  const third = make({ bootId: 'boot-1' });
  t.like(await third.agent.recover(), { agentId: undefined });
  t.is(third.agent.registrationMessage().type, 'REGISTER');
});

test('after a reboot (a new boot id) nothing of the last run is recovered and the agent registers as a new one', async (t) => {
  const { make, dir, containerizer } = await setup(t);
  const paths = new AgentPaths(dir);
  const first = make({ bootId: 'boot-1' });
  t.like(await first.agent.recover(), { agentId: undefined, rebooted: false });
  t.is((await readFile(paths.bootIdFile(), 'utf8')).trim(), 'boot-1', 'the boot id is checkpointed at start');
  await first.agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  await first.agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(true), task: task('t1') });
  await first.agent.stop();
  containerizer.abandon();
  // Same boot: reconnect.
  const same = make({ bootId: 'boot-1' });
  t.like(await same.agent.recover(), { agentId: 'S0', rebooted: false, executors: 1 });
  await same.agent.stop();
  containerizer.abandon();
  // New boot: a new agent; whatever of the last run might still run is destroyed at once.
  const rebooted = make({ bootId: 'boot-2' });
  const report = await rebooted.agent.recover();
  t.like(report, { agentId: undefined, rebooted: true, executors: 0 });
  t.is(containerizer.containers.get(containerizer.launched[0]!.containerId)!.killedWith, 0);
  t.is(rebooted.agent.registrationMessage().type, 'REGISTER');
  t.is((await readFile(paths.bootIdFile(), 'utf8')).trim(), 'boot-2');
  t.false(existsSync(paths.latestAgentLink()));
  // Reservations and volumes would still be recovered (resources.info is read before the boot check).
});

test('a recovered container is handed its resources, so its limits can be reported', async (t) => {
  const s = await setup(t);
  const { make, containerizer } = s;
  await firstRun(s, [['t1', fwInfo(true)]]);
  const seen: RecoveredRun[] = [];
  const recover = containerizer.recover.bind(containerizer);
  containerizer.recover = (runs) => {
    seen.push(...runs);
    return recover(runs);
  };
  const second = make();
  await second.agent.recover();
  t.is(seen.length, 1);
  t.is(seen[0]!.resources?.scalar('cpus'), 1);
  t.is(seen[0]!.resources?.scalar('mem'), 64);
  await second.agent.stop();
});

test('a task that ended while the agent was down is in the re-registration until its updates are acknowledged', async (t) => {
  const s = await setup(t);
  await firstRun(s, [['ends', fwInfo(true)]]);
  s.containerizer.exit(s.containerizer.launched[0]!.containerId, 0);
  const second = s.make();
  await second.agent.recover();
  await second.agent.frameworks.get('F1')!.executors.get('ends')!.done;
  const ex = second.agent.frameworks.get('F1')!.completedExecutors.find((e) => e.id === 'ends');
  t.truthy(ex, 'its executor has ended');
  const names = (m: ReturnType<Agent['registrationMessage']>) => (m.type === 'REREGISTER' ? m.tasks.map((x) => `${x.task.taskId}:${x.state}`) : []);
  t.deepEqual(names(second.agent.registrationMessage()), ['ends:TASK_FINISHED']);
  // Both updates acknowledged: it is no longer reported.
  await second.agent.onMasterMessage({ type: 'REREGISTERED', agentId: 'S0', masterId: 'M2' });
  for (;;) {
    const u = second.updates().at(-1)!;
    await second.agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: 'ends', uuid: u.uuid! });
    if (u.state === 'TASK_FINISHED') break;
  }
  t.deepEqual(names(second.agent.registrationMessage()), []);
  await second.agent.stop();
});
