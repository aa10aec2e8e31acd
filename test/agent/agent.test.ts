import test from 'ava';
import { testAgentOptions } from '../helpers/agent_options.ts';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../lib/agent/agent.ts';
import { AgentPaths } from '../../lib/agent/paths.ts';
import { ExecutorRefusal } from '../../lib/agent/errors.ts';
import { executorRefusalStatus } from '../../lib/agent/http/status.ts';
import { FakeClock } from '../../lib/common/clock.ts';
import { parseResourcesText } from '../../lib/common/resources/index.ts';
import type { AgentToMaster } from '../../lib/proto/internal.ts';
import type { ExecutorEvent, FrameworkInfo, TaskInfo, TaskStatus } from '../../lib/proto/messages.ts';
import { FakeContainerizer } from '../helpers/fake_containerizer.ts';
import { ArraySink } from '../helpers/master_harness.ts';

const fwInfo = (extra: Partial<FrameworkInfo> = {}): FrameworkInfo => ({
  user: 'nobody',
  name: 'fw',
  id: 'F1',
  failoverTimeout: 0,
  checkpoint: true,
  role: '*',
  capabilities: [],
  ...extra,
});

function task(id: string, extra: Partial<TaskInfo> = {}): TaskInfo {
  return {
    name: id,
    taskId: id,
    agentId: 'S0',
    resources: parseResourcesText('cpus:1;mem:64').toArray(),
    command: { uris: [], shell: true, value: 'echo hi', arguments: [] },
    ...extra,
  };
}

async function setup(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'corral-agent-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const clock = new FakeClock();
  const containerizer = new FakeContainerizer();
  const sent: AgentToMaster[] = [];
  const paths = new AgentPaths(dir);
  const agent = new Agent(testAgentOptions(dir, containerizer, { clock, paths }));
  agent.connected((m) => sent.push(m));
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  const updates = () => sent.filter((m): m is Extract<AgentToMaster, { type: 'STATUS_UPDATE' }> => m.type === 'STATUS_UPDATE').map((m) => m.status);
  const settle = () => new Promise((r) => setImmediate(r));
  return { dir, clock, containerizer, sent, paths, agent, updates, settle };
}

const states = (xs: TaskStatus[]) => xs.map((s) => `${s.taskId}:${s.state}`);

test('a command task runs in a container with the Mesos environment and reports RUNNING then FINISHED', async (t) => {
  const { agent, containerizer, updates, paths, dir } = await setup(t);
  t.is(await readFile(paths.latestAgentLink().replace(/latest$/, 'S0/slave.info'), 'utf8').then((x) => JSON.parse(x).hostname), 'h1');
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: task('t1') });
  const spec = containerizer.launched[0]!;
  const ex = agent.frameworks.get('F1')!.executors.get('t1')!;
  t.deepEqual(spec.argv, ['/bin/sh', '-c', 'echo hi']);
  t.true(spec.sandbox.startsWith(join(dir, 'slaves/S0/frameworks/F1/executors/t1/runs/')));
  t.true((await stat(spec.sandbox)).isDirectory());
  t.like(spec.env, {
    MESOS_FRAMEWORK_ID: 'F1',
    MESOS_EXECUTOR_ID: 't1',
    MESOS_SLAVE_ID: 'S0',
    MESOS_DIRECTORY: spec.sandbox,
    MESOS_CHECKPOINT: '1',
    MESOS_AGENT_ENDPOINT: '127.0.0.1:5051',
    PATH: '/usr/bin:/bin',
  });
  t.deepEqual(states(updates()), ['t1:TASK_RUNNING']);
  // Only the head is in flight until it is acknowledged.
  containerizer.exit(spec.containerId, 0);
  await ex.done;
  t.deepEqual(states(updates()), ['t1:TASK_RUNNING']);
  await agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: 't1', uuid: updates()[0]!.uuid! });
  t.deepEqual(states(updates()), ['t1:TASK_RUNNING', 't1:TASK_FINISHED']);
  const finished = updates()[1]!;
  t.like(finished, { source: 'SOURCE_EXECUTOR', executorId: 't1', agentId: 'S0', message: 'Command exited with status 0' });
  t.is(Buffer.from(finished.uuid!, 'base64').length, 16);
  await agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: 't1', uuid: finished.uuid! });
  t.is(agent.updates.streamCount, 0);
});

test('non-zero exit is FAILED; a kill is KILLED with the kill policy grace; EXECUTOR_EXITED carries the wait status', async (t) => {
  const { agent, containerizer, updates, sent } = await setup(t);
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo({ checkpoint: false }), task: task('a') });
  await agent.onMasterMessage({
    type: 'RUN_TASK',
    frameworkId: 'F1',
    frameworkInfo: fwInfo({ checkpoint: false }),
    task: task('b', { killPolicy: { gracePeriodNs: 2e9 } }),
  });
  const [a, b] = containerizer.launched;
  const [ea, eb] = [agent.frameworks.get('F1')!.executors.get('a')!, agent.frameworks.get('F1')!.executors.get('b')!];
  containerizer.exit(a!.containerId, 3);
  await ea.done;
  await agent.onMasterMessage({ type: 'KILL_TASK', frameworkId: 'F1', taskId: 'b' });
  await eb.done;
  t.is(containerizer.containers.get(b!.containerId)!.killedWith, 2000);
  for (const s of updates().filter((u) => u.state === 'TASK_RUNNING'))
    await agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: s.taskId, uuid: s.uuid! });
  const terminal = updates().filter((u) => u.state !== 'TASK_RUNNING');
  t.deepEqual(
    terminal.map((s) => [s.taskId, s.state, s.message]),
    [
      ['a', 'TASK_FAILED', 'Command exited with status 3'],
      ['b', 'TASK_KILLED', 'Command terminated with signal Terminated'],
    ],
  );
  const exited = sent.filter((m) => m.type === 'EXECUTOR_EXITED');
  t.deepEqual(
    exited.map((m) => (m as { status: number }).status),
    [3 << 8, 15],
  );
});

test('a failed container launch is TASK_FAILED with REASON_CONTAINER_LAUNCH_FAILED from the agent', async (t) => {
  const { agent, containerizer, updates } = await setup(t);
  containerizer.failNextLaunch = 'no such binary';
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: task('t1') });
  t.like(updates()[0], { taskId: 't1', state: 'TASK_FAILED', source: 'SOURCE_AGENT', reason: 'REASON_CONTAINER_LAUNCH_FAILED' });
  t.regex(updates()[0]!.message!, /no such binary/);
});

test('a custom executor subscribes, gets its queued task, and its updates are acknowledged to it', async (t) => {
  const { agent, containerizer, updates, sent } = await setup(t);
  const executor = {
    executorId: 'e1',
    resources: parseResourcesText('cpus:0.1;mem:32').toArray(),
    command: { uris: [], shell: true, value: './my-executor', arguments: [] },
  };
  const tk = task('t1', { command: undefined, executor });
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: tk });
  t.is(containerizer.launched[0]!.argv[2], './my-executor');
  t.deepEqual(updates(), [], 'no update before the executor says anything');
  const call = {
    type: 'UPDATE' as const,
    executorId: 'e1',
    frameworkId: 'F1',
    update: { status: { taskId: 't1', state: 'TASK_RUNNING' as const, source: 'SOURCE_EXECUTOR' as const, uuid: Buffer.alloc(16, 1).toString('base64') } },
  };
  // The agent refuses with a code; the executor API answers it with the status.
  const refusal = (c: typeof call) => {
    const e = t.throws(() => agent.checkExecutorCall(c), { instanceOf: ExecutorRefusal })!;
    return { code: e.code, message: e.message, status: executorRefusalStatus(e) };
  };
  t.like(refusal(call), { code: 'EXECUTOR_NOT_SUBSCRIBED', status: 403 });
  t.like(refusal({ ...call, executorId: 'nope' }), { code: 'EXECUTOR_NOT_FOUND', status: 400, message: 'Executor cannot be found' });
  const sink = new ArraySink<ExecutorEvent>();
  await agent.executorSubscribe(
    { type: 'SUBSCRIBE', executorId: 'e1', frameworkId: 'F1', subscribe: { unacknowledgedTasks: [], unacknowledgedUpdates: [] } },
    sink,
  );
  t.deepEqual(
    sink.events.map((e) => e.type),
    ['SUBSCRIBED', 'LAUNCH'],
  );
  const sub = sink.of('SUBSCRIBED')[0]!;
  t.is(sub.subscribed.agentInfo.id, 'S0');
  t.is(sub.subscribed.executorInfo.executorId, 'e1');
  t.notThrows(() => agent.checkExecutorCall(call));
  await t.notThrowsAsync(agent.executorCall(call));
  t.like(sink.events.at(-1), { type: 'ACKNOWLEDGED', acknowledged: { taskId: 't1' } });
  t.deepEqual(states(updates()), ['t1:TASK_RUNNING']);
  const staging = await t.throwsAsync(agent.executorCall({ ...call, update: { status: { ...call.update.status, state: 'TASK_STAGING' } } }), {
    instanceOf: ExecutorRefusal,
    message: 'Received TASK_STAGING from executor which is not allowed',
  });
  t.is(executorRefusalStatus(staging!), 400);
  // MESSAGE goes to the master.
  await agent.executorCall({ type: 'MESSAGE', executorId: 'e1', frameworkId: 'F1', message: { data: 'aGk=' } });
  t.like(sent.at(-1), { type: 'EXECUTOR_MESSAGE', executorId: 'e1', data: 'aGk=' });
  // The executor dies: its live task is LOST.
  const e1 = agent.frameworks.get('F1')!.executors.get('e1')!;
  containerizer.exit(containerizer.launched[0]!.containerId, 1);
  await e1.done;
  await agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: 't1', uuid: updates()[0]!.uuid! });
  t.like(updates().at(-1), { taskId: 't1', state: 'TASK_LOST', reason: 'REASON_EXECUTOR_TERMINATED', source: 'SOURCE_AGENT' });
});

test('an executor that never subscribes is destroyed after the registration timeout; its task is LOST', async (t) => {
  const { agent, containerizer, updates, clock, settle } = await setup(t);
  const executor = { executorId: 'e1', resources: [], command: { uris: [], shell: true, value: 'sleep 100', arguments: [] } };
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: task('t1', { command: undefined, executor }) });
  clock.advance(59_000);
  await settle();
  t.is(containerizer.containers.get(containerizer.launched[0]!.containerId)!.killedWith, undefined);
  clock.advance(1000);
  await settle();
  t.is(containerizer.containers.get(containerizer.launched[0]!.containerId)!.killedWith, 0);
  await agent.frameworks.get('F1')?.completedExecutors.at(-1)?.done;
  await Promise.all(Array.from(agent.frameworks.get('F1')?.executors.values() ?? []).map((e) => e.done));
  t.like(updates()[0], { taskId: 't1', state: 'TASK_LOST', reason: 'REASON_EXECUTOR_REGISTRATION_TIMEOUT' });
});

test('PING is answered; updates wait while disconnected and are resent on re-registration; re-registration reports tasks', async (t) => {
  const { agent, updates, sent } = await setup(t);
  await agent.onMasterMessage({ type: 'PING' });
  t.like(sent.at(-1), { type: 'PONG' });
  agent.disconnected();
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: task('t1') });
  t.deepEqual(updates(), []);
  const msg = agent.registrationMessage();
  t.is(msg.type, 'REREGISTER');
  if (msg.type === 'REREGISTER') {
    t.deepEqual(
      msg.tasks.map((x) => [x.task.taskId, x.state, x.latestStatus?.state]),
      [['t1', 'TASK_RUNNING', 'TASK_RUNNING']],
    );
    t.is(msg.agentId, 'S0');
  }
  agent.connected((m) => sent.push(m));
  await agent.onMasterMessage({ type: 'REREGISTERED', agentId: 'S0', masterId: 'M2' });
  t.deepEqual(states(updates()), ['t1:TASK_RUNNING']);
});

test("the master's messages: an acknowledgement does not wait behind other tasks' launches; a kill waits for its task's RUN_TASK", async (t) => {
  const { agent, containerizer, updates } = await setup(t);
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: task('t1') });
  const ex1 = agent.frameworks.get('F1')!.executors.get('t1')!;
  containerizer.exit(containerizer.launched[0]!.containerId, 0);
  await ex1.done;
  t.deepEqual(states(updates()), ['t1:TASK_RUNNING'], 'TASK_FINISHED waits for the acknowledgement of TASK_RUNNING');

  // Launches that take long: t2's RUN_TASK is under way, t3's waits for it, and so does the KILL_TASK of t3.
  let open!: () => void;
  containerizer.launchGate = new Promise((r) => (open = r));
  const handled: string[] = [];
  const run2 = agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: task('t2') }).then(() => handled.push('run t2'));
  const run3 = agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: task('t3') }).then(() => handled.push('run t3'));
  const kill3 = agent.onMasterMessage({ type: 'KILL_TASK', frameworkId: 'F1', taskId: 't3' }).then(() => handled.push('kill t3'));
  await agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: 't1', uuid: updates()[0]!.uuid! });
  t.deepEqual(states(updates()), ['t1:TASK_RUNNING', 't1:TASK_FINISHED'], 'sent while the other launches wait');
  t.deepEqual(handled, []);

  containerizer.launchGate = undefined;
  open();
  await Promise.all([run2, run3, kill3]);
  t.deepEqual(handled, ['run t2', 'run t3', 'kill t3']);
  const c3 = containerizer.launched.find((s) => s.env.MESOS_EXECUTOR_ID === 't3')!;
  t.is(containerizer.containers.get(c3.containerId)!.killedWith, 3000, 'the kill found the task its RUN_TASK had launched');
  t.deepEqual(states(updates()).slice(2).sort(), ['t2:TASK_RUNNING', 't3:TASK_RUNNING']);
});

test("a framework's info is checkpointed when it changes, not at every launch", async (t) => {
  const { agent, paths } = await setup(t);
  const file = paths.frameworkInfoFile('S0', 'F1');
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: task('t1') });
  const first = await stat(file);
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: task('t2') });
  t.is((await stat(file)).ino, first.ino, 'the same info is not written again');
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo({ name: 'renamed' }), task: task('t3') });
  t.not((await stat(file)).ino, first.ino);
  t.is(JSON.parse(await readFile(file, 'utf8')).name, 'renamed');
});

test('SHUTDOWN_FRAMEWORK kills its tasks', async (t) => {
  const { agent, containerizer, updates, settle } = await setup(t);
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo(), task: task('t1') });
  await agent.onMasterMessage({ type: 'SHUTDOWN_FRAMEWORK', frameworkId: 'F1' });
  await settle();
  t.is(containerizer.containers.get(containerizer.launched[0]!.containerId)!.killedWith, 3000);
  t.false(agent.frameworks.has('F1'));
  t.is(agent.completedFrameworks[0]?.id, 'F1');
  t.true(updates().length >= 1);
});
