import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseResourcesText } from '../../lib/common/resources/index.ts';
import { MasterRefusal } from '../../lib/master/errors.ts';
import { refusalStatus } from '../../lib/master/http/status.ts';
import { FileRegistry, MemoryRegistry } from '../../lib/master/registry/index.ts';
import type { MasterToAgent } from '../../lib/proto/internal.ts';
import { ArraySink, Harness, TestAgent, commandTask, frameworkInfo, uuid } from '../helpers/master_harness.ts';

test('a framework subscribes: SUBSCRIBED then HEARTBEAT, ids in Mesos form, heartbeats every 15 s', async (t) => {
  const h = await Harness.start();
  const fw = h.framework();
  const [first, second] = fw.sink.events;
  t.is(first?.type, 'SUBSCRIBED');
  t.is(second?.type, 'HEARTBEAT');
  t.is(fw.id, `${h.master.id}-0000`);
  t.regex(fw.streamId, /^[0-9a-f-]{36}$/);
  const sub = fw.sink.of('SUBSCRIBED')[0]!;
  t.is(sub.subscribed.heartbeatIntervalSeconds, 15);
  t.is(sub.subscribed.masterInfo?.id, h.master.id);
  fw.sink.take();
  h.tick(15_000);
  t.deepEqual(
    fw.sink.take().map((e) => e.type),
    ['HEARTBEAT'],
  );
  h.tick(15_000);
  t.deepEqual(
    fw.sink.take().map((e) => e.type),
    ['HEARTBEAT'],
  );
  h.master.stop();
});

test('offers: one per agent with url, all free resources, then launch, run, finish, acknowledge', async (t) => {
  const h = await Harness.start();
  const agent = await h.agent();
  const fw = h.framework();
  h.tick(0);
  const [offer] = fw.offers();
  t.truthy(offer);
  t.is(offer!.agentId, agent.id);
  t.is(offer!.hostname, 'host1');
  t.deepEqual(offer!.url, { scheme: 'http', address: { hostname: 'host1', ip: '127.0.0.1', port: 5051 }, path: '/slave(1)' });
  t.regex(offer!.id, new RegExp(`^${h.master.id}-O\\d+$`));
  t.true(
    parseResourcesText('cpus:4;mem:4096;disk:10000;ports:[31000-32000]').equals(
      parseResourcesText('').plus(
        // The offer carries every free resource of the agent.
        (await import('../../lib/common/resources/index.ts')).Resources.of(offer!.resources),
      ),
    ),
  );

  fw.launch(offer!, [commandTask(offer!, 't1')]);
  const [run] = agent.runTasks();
  t.is(run?.task.taskId, 't1');
  t.is(run?.frameworkId, fw.id);
  t.is(h.master.frameworks.get(fw.id)!.tasks.get('t1')!.state, 'TASK_STAGING');

  const running = agent.update(fw.id, 't1', 'TASK_RUNNING');
  t.deepEqual(
    fw.updates().map((s) => s.state),
    ['TASK_RUNNING'],
  );
  t.is(fw.updates()[0]!.uuid, running.uuid);
  const done = agent.update(fw.id, 't1', 'TASK_FINISHED');
  t.is(h.master.frameworks.get(fw.id)!.tasks.get('t1')!.state, 'TASK_FINISHED');
  // Resources come back when the terminal update arrives; the task leaves when acknowledged.
  t.true(h.allocator.allocation(fw.id, agent.id).isEmpty() || !h.allocator.allocation(fw.id, agent.id).contains(parseResourcesText('cpus:4')));
  fw.call({ type: 'ACKNOWLEDGE', frameworkId: fw.id, acknowledge: { agentId: agent.id, taskId: 't1', uuid: done.uuid! } });
  t.deepEqual(
    agent.sink.of('ACKNOWLEDGE').map((a) => a.uuid),
    [done.uuid],
  );
  t.false(h.master.frameworks.get(fw.id)!.tasks.has('t1'));
  t.is(h.master.frameworks.get(fw.id)!.completedTasks[0]!.id, 't1');
  h.master.stop();
});

test('unused offer resources are declined with the call filter; DECLINE with a filter; REVIVE clears it', async (t) => {
  const h = await Harness.start();
  await h.agent('cpus:4;mem:4096');
  const fw = h.framework();
  h.tick(0);
  const offer = fw.offers()[0]!;
  fw.sink.take();
  fw.launch(offer, [commandTask(offer, 't1', 'cpus:1;mem:1024')], 10);
  h.tick(1000);
  t.is(fw.offers().length, 0, 'the leftover is filtered for 10 s');
  h.tick(9000);
  const again = fw.offers();
  t.is(again.length, 1);
  t.is(again[0]!.resources.find((r) => r.name === 'cpus')?.scalar, 3);
  fw.sink.take();
  fw.call({ type: 'DECLINE', frameworkId: fw.id, decline: { offerIds: [again[0]!.id], filters: { refuseSeconds: 3600 } } });
  h.tick(5000);
  t.is(fw.offers().length, 0);
  fw.call({ type: 'REVIVE', frameworkId: fw.id });
  h.tick(0);
  t.is(fw.offers().length, 1);
  h.master.stop();
});

test('ACCEPT with an invalid offer: tasks get TASK_LOST REASON_INVALID_OFFERS without uuid, nothing launches', async (t) => {
  const h = await Harness.start();
  const agent = await h.agent();
  const fw = h.framework();
  h.tick(0);
  const offer = fw.offers()[0]!;
  fw.call({
    type: 'ACCEPT',
    frameworkId: fw.id,
    accept: { offerIds: [offer.id, 'bogus'], operations: [{ type: 'LAUNCH', launch: { taskInfos: [commandTask(offer, 't1')] } }] },
  });
  const [u] = fw.updates();
  t.is(u?.state, 'TASK_LOST');
  t.is(u?.reason, 'REASON_INVALID_OFFERS');
  t.is(u?.source, 'SOURCE_MASTER');
  t.is(u?.uuid, undefined);
  t.regex(u!.message!, /Offer bogus is no longer valid/);
  t.is(agent.runTasks().length, 0);
  t.is(h.master.offers.size, 0, 'the valid offer was consumed');
  // Its resources came back (without a filter): offered again.
  fw.sink.take();
  h.tick(0);
  t.is(fw.offers().length, 1);
  h.master.stop();
});

test('invalid tasks get TASK_ERROR and do not consume resources; valid ones in the same ACCEPT launch', async (t) => {
  const h = await Harness.start();
  const agent = await h.agent('cpus:2;mem:1024');
  const fw = h.framework();
  h.tick(0);
  const offer = fw.offers()[0]!;
  const noCommand = { ...commandTask(offer, 'bad1'), command: undefined };
  const tooBig = commandTask(offer, 'bad2', 'cpus:3;mem:10');
  const badResource = { ...commandTask(offer, 'bad3'), resources: [{ name: 'cpus', type: 'SCALAR', scalar: -1 }] };
  const noResources = { ...commandTask(offer, 'bad4'), resources: [] };
  const badId = commandTask(offer, 'bad/5');
  const ok = commandTask(offer, 'ok', 'cpus:2;mem:1024');
  const dup = commandTask(offer, 'ok', 'cpus:0.1;mem:1');
  fw.launch(offer, [noCommand, tooBig, badResource, noResources, badId, ok, dup]);
  const errors = fw.updates();
  t.deepEqual(
    errors.map((s) => [s.taskId, s.state, s.reason]),
    [
      ['bad1', 'TASK_ERROR', 'REASON_TASK_INVALID'],
      ['bad2', 'TASK_ERROR', 'REASON_TASK_INVALID'],
      ['bad3', 'TASK_ERROR', 'REASON_TASK_INVALID'],
      ['bad4', 'TASK_ERROR', 'REASON_TASK_INVALID'],
      ['bad/5', 'TASK_ERROR', 'REASON_TASK_INVALID'],
      ['ok', 'TASK_ERROR', 'REASON_TASK_INVALID'],
    ],
  );
  t.regex(errors[0]!.message!, /CommandInfo or ExecutorInfo/);
  t.regex(errors[1]!.message!, /more resources/);
  t.regex(errors[2]!.message!, /invalid resources/);
  t.regex(errors[3]!.message!, /no resources/);
  t.regex(errors[5]!.message!, /duplicate ID/);
  t.deepEqual(
    agent.runTasks().map((r) => r.task.taskId),
    ['ok'],
  );
  h.master.stop();
});

test('a framework that disconnects keeps its tasks until failover_timeout, then is removed', async (t) => {
  const h = await Harness.start();
  const agent = await h.agent();
  const fw = h.framework(frameworkInfo({ failoverTimeout: 60 }));
  h.tick(0);
  const offer = fw.offers()[0]!;
  fw.launch(offer, [commandTask(offer, 't1')]);
  agent.update(fw.id, 't1', 'TASK_RUNNING');
  fw.disconnect();
  const refused = t.throws(() => h.master.checkCall(fw.id, fw.streamId), { instanceOf: MasterRefusal });
  t.is(refusalStatus(refused!), 403);
  h.tick(59_000);
  t.true(h.master.frameworks.has(fw.id));
  t.is(agent.sink.of('SHUTDOWN_FRAMEWORK').length, 0);
  h.tick(1000);
  t.false(h.master.frameworks.has(fw.id));
  t.deepEqual(
    agent.sink.of('SHUTDOWN_FRAMEWORK').map((m) => m.frameworkId),
    [fw.id],
  );
  t.is(h.master.completedFrameworks[0]!.id, fw.id);
  // A removed framework cannot come back.
  const again = new ArraySink<any>();
  h.master.subscribe({ type: 'SUBSCRIBE', frameworkId: fw.id, subscribe: { frameworkInfo: frameworkInfo({ id: fw.id }) } }, again);
  t.deepEqual(again.events, [{ type: 'ERROR', error: { message: 'Framework has been removed' } }]);
  t.true(again.closed);
  h.master.stop();
});

test('re-subscribing fails over: the old stream gets ERROR and closes, the new one gets a new stream id', async (t) => {
  const h = await Harness.start();
  const fw = h.framework(frameworkInfo({ failoverTimeout: 60 }));
  const old = fw.sink;
  const oldStream = fw.streamId;
  const fw2 = h.framework(frameworkInfo({ failoverTimeout: 60, id: fw.id }));
  t.is(fw2.id, fw.id);
  t.not(fw2.streamId, oldStream);
  t.deepEqual(old.events.at(-1), { type: 'ERROR', error: { message: 'Framework failed over' } });
  t.true(old.closed);
  // The old stream closing afterwards does not disconnect the new subscription.
  h.master.disconnected(fw.id, old);
  t.notThrows(() => h.master.checkCall(fw.id, fw2.streamId));
  t.throws(() => h.master.checkCall(fw.id, oldStream), { instanceOf: MasterRefusal, message: /didn't match/ });
  h.master.stop();
});

test('invalid FrameworkInfo is answered with ERROR on the stream', async (t) => {
  const h = await Harness.start(undefined, { roles: ['a'] });
  const s1 = new ArraySink<any>();
  h.master.subscribe({ type: 'SUBSCRIBE', subscribe: { frameworkInfo: frameworkInfo({ role: '-bad' }) } }, s1);
  t.is(s1.events[0].type, 'ERROR');
  t.regex(s1.events[0].error.message, /Invalid role/);
  const s2 = new ArraySink<any>();
  h.master.subscribe({ type: 'SUBSCRIBE', subscribe: { frameworkInfo: frameworkInfo({ role: 'b' }) } }, s2);
  t.regex(s2.events[0].error.message, /--roles/);
  t.is(h.master.frameworks.size, 0);
  h.master.stop();
});

test('reconciliation: implicit lists known tasks; explicit answers unknown tasks TASK_LOST', async (t) => {
  const h = await Harness.start();
  const agent = await h.agent();
  const fw = h.framework();
  h.tick(0);
  const offer = fw.offers()[0]!;
  fw.launch(offer, [commandTask(offer, 't1')]);
  agent.update(fw.id, 't1', 'TASK_RUNNING');
  fw.sink.take();
  fw.call({ type: 'RECONCILE', frameworkId: fw.id, reconcile: { tasks: [] } });
  const [implicit] = fw.updates();
  t.like(implicit, {
    taskId: 't1',
    state: 'TASK_RUNNING',
    source: 'SOURCE_MASTER',
    reason: 'REASON_RECONCILIATION',
    message: 'Reconciliation: Latest task state',
  });
  t.is(implicit!.uuid, undefined);
  fw.sink.take();
  fw.call({ type: 'RECONCILE', frameworkId: fw.id, reconcile: { tasks: [{ taskId: 't1' }, { taskId: 'nope', agentId: agent.id }] } });
  t.deepEqual(
    fw.updates().map((s) => [s.taskId, s.state]),
    [
      ['t1', 'TASK_RUNNING'],
      ['nope', 'TASK_LOST'],
    ],
  );
  h.master.stop();
});

test('KILL goes to the agent; killing an unknown task reconciles it', async (t) => {
  const h = await Harness.start();
  const agent = await h.agent();
  const fw = h.framework();
  h.tick(0);
  const offer = fw.offers()[0]!;
  fw.launch(offer, [commandTask(offer, 't1')]);
  fw.call({ type: 'KILL', frameworkId: fw.id, kill: { taskId: 't1' } });
  t.deepEqual(
    agent.sink.of('KILL_TASK').map((k) => k.taskId),
    ['t1'],
  );
  fw.sink.take();
  fw.call({ type: 'KILL', frameworkId: fw.id, kill: { taskId: 'ghost' } });
  t.deepEqual(
    fw.updates().map((s) => [s.taskId, s.state, s.reason]),
    [['ghost', 'TASK_LOST', 'REASON_RECONCILIATION']],
  );
  h.master.stop();
});

test('an agent that stops answering pings is removed after 5 timeouts; its tasks are LOST', async (t) => {
  const h = await Harness.start();
  const agent = await h.agent();
  const fw = h.framework();
  h.tick(0);
  const offer = fw.offers()[0]!;
  fw.launch(offer, [commandTask(offer, 't1')]);
  agent.update(fw.id, 't1', 'TASK_RUNNING');
  // Answering pings keeps it.
  for (let i = 0; i < 10; i++) {
    h.tick(15_000);
    agent.pong();
  }
  t.true(h.master.agents.has(agent.id));
  fw.sink.take();
  agent.disconnect();
  // The last pong answered the ping before the disconnection; the next five go unanswered,
  // and the agent is removed when the fifth times out: 6 intervals after the last pong.
  h.tick(15_000 * 5);
  t.true(h.master.agents.has(agent.id));
  h.tick(15_000);
  t.false(h.master.agents.has(agent.id));
  const lost = fw.updates().find((s) => s.taskId === 't1');
  t.like(lost, { state: 'TASK_LOST', reason: 'REASON_AGENT_REMOVED', source: 'SOURCE_MASTER' });
  t.deepEqual(
    fw.sink.of('FAILURE').map((f) => f.failure.agentId),
    [agent.id],
  );
  t.is(h.master.metrics.get('master/slave_removals/reason_unhealthy'), 1);
  h.master.stop();
});

test('an agent disconnecting rescinds its offers', async (t) => {
  const h = await Harness.start();
  const agent = await h.agent();
  const fw = h.framework();
  h.tick(0);
  const offer = fw.offers()[0]!;
  agent.disconnect();
  t.deepEqual(
    fw.sink.of('RESCIND').map((r) => r.rescind.offerId),
    [offer.id],
  );
  t.is(h.master.offers.size, 0);
  h.master.stop();
});

test('a new leader removes the recovered agents that do not re-register within --agent_reregister_timeout; one that comes back later is told to shut down', async (t) => {
  const registry = new MemoryRegistry();
  const h1 = await Harness.start(registry);
  const back = await h1.agent(undefined, 'back');
  const gone = await h1.agent(undefined, 'gone');
  h1.master.stop();

  const h2 = await Harness.start(registry, { agentReregisterTimeoutMs: 60_000 });
  t.deepEqual([...h2.master.recoveredAgents.keys()].sort(), [back.id, gone.id].sort());
  const reregister = (id: string, hostname: string, sink: ArraySink<MasterToAgent>) =>
    h2.master.reregisterAgent(
      {
        type: 'REREGISTER',
        agentId: id,
        agentInfo: { hostname, port: 5051, resources: back.resourceList, attributes: [] },
        version: 't',
        tasks: [],
        executors: [],
        frameworks: [],
      },
      sink,
      '127.0.0.1',
    );
  const early = new TestAgent(h2);
  t.is((await reregister(back.id, 'back', early.sink))?.agentId, back.id);
  h2.tick(59_999);
  t.true(h2.master.recoveredAgents.has(gone.id));
  h2.tick(1);
  t.is(h2.master.recoveredAgents.size, 0);
  t.is(h2.master.metrics.get('master/recovery_slave_removals'), 1);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(
    (await registry.recover()).agents.map((a) => a.id),
    [back.id],
  );
  t.true(h2.master.agents.has(back.id));
  const late = new TestAgent(h2);
  t.is(await reregister(gone.id, 'gone', late.sink), undefined);
  t.deepEqual(
    late.sink.events.map((e) => e.type),
    ['SHUTDOWN'],
  );
});

test('a restarted master recovers agents from its file registry and accepts their re-registration with tasks', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-registry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const h1 = await Harness.start(new FileRegistry(dir));
  const agent = await h1.agent();
  const fw = h1.framework(frameworkInfo({ failoverTimeout: 3600 }));
  h1.tick(0);
  const offer = fw.offers()[0]!;
  fw.launch(offer, [commandTask(offer, 't1', 'cpus:1;mem:128')]);
  const run = agent.runTasks()[0]!;
  const running = agent.update(fw.id, 't1', 'TASK_RUNNING');
  h1.master.stop();

  const h2 = await Harness.start(new FileRegistry(dir));
  t.true(h2.master.recoveredAgents.has(agent.id));
  const again = new TestAgent(h2);
  const r = await h2.master.reregisterAgent(
    {
      type: 'REREGISTER',
      agentId: agent.id,
      agentInfo: { hostname: 'host1', port: 5051, resources: agent.resourceList, attributes: [] },
      version: 'test',
      tasks: [{ frameworkId: fw.id, task: run.task, state: 'TASK_RUNNING', latestStatus: running }],
      executors: [],
      frameworks: [run.frameworkInfo],
    },
    again.sink,
    '127.0.0.1',
  );
  t.is(r?.agentId, agent.id);
  t.deepEqual(
    again.sink.events.map((e) => e.type),
    ['REREGISTERED'],
  );
  // The framework comes back and finds its task; only 3 cpus are offered.
  const fw2 = h2.framework(frameworkInfo({ failoverTimeout: 3600, id: fw.id }));
  h2.tick(0);
  t.is(h2.master.frameworks.get(fw.id)!.tasks.get('t1')?.state, 'TASK_RUNNING');
  t.is(fw2.offers()[0]!.resources.find((x) => x.name === 'cpus')?.scalar, 3);
  // An agent the registry does not know is told to shut down.
  const stranger = new TestAgent(h2);
  const no = await h2.master.reregisterAgent(
    {
      type: 'REREGISTER',
      agentId: 'nobody-S9',
      agentInfo: { hostname: 'x', resources: [], attributes: [] },
      version: 't',
      tasks: [],
      executors: [],
      frameworks: [],
    },
    stranger.sink,
    '127.0.0.1',
  );
  t.is(no, undefined);
  t.is(stranger.sink.events[0]?.type, 'SHUTDOWN');
  h2.master.stop();
});

test('acknowledging a non-terminal update keeps the task; stale uuids do not remove it', async (t) => {
  const h = await Harness.start();
  const agent = await h.agent();
  const fw = h.framework();
  h.tick(0);
  const offer = fw.offers()[0]!;
  fw.launch(offer, [commandTask(offer, 't1')]);
  const running = agent.update(fw.id, 't1', 'TASK_RUNNING');
  fw.call({ type: 'ACKNOWLEDGE', frameworkId: fw.id, acknowledge: { agentId: agent.id, taskId: 't1', uuid: running.uuid! } });
  t.true(h.master.frameworks.get(fw.id)!.tasks.has('t1'));
  agent.update(fw.id, 't1', 'TASK_FAILED');
  fw.call({ type: 'ACKNOWLEDGE', frameworkId: fw.id, acknowledge: { agentId: agent.id, taskId: 't1', uuid: uuid() } });
  t.true(h.master.frameworks.get(fw.id)!.tasks.has('t1'));
  h.master.stop();
});

test('re-subscribing clears suppression and decline filters; suppressed_roles keeps a role suppressed', async (t) => {
  const h = await Harness.start();
  await h.agent();
  const fw = h.framework(frameworkInfo({ failoverTimeout: 60 }));
  h.tick(0);
  const offer = fw.offers()[0]!;
  fw.call({ type: 'DECLINE', frameworkId: fw.id, decline: { offerIds: [offer.id], filters: { refuseSeconds: 3600 } } });
  fw.call({ type: 'SUPPRESS', frameworkId: fw.id });
  fw.disconnect();
  const again = h.framework(frameworkInfo({ failoverTimeout: 60, id: fw.id }));
  h.tick(0);
  t.is(again.offers().length, 1, 'offered at once after re-subscribing');
  again.disconnect();
  const sink = new ArraySink<any>();
  h.master.subscribe(
    { type: 'SUBSCRIBE', frameworkId: fw.id, subscribe: { frameworkInfo: frameworkInfo({ failoverTimeout: 60, id: fw.id }), suppressedRoles: ['*'] } },
    sink,
  );
  h.tick(1000);
  t.is(sink.of('OFFERS').length, 0, 'suppressed_roles keeps the role suppressed');
  h.master.stop();
});

test("an agent's ephemeral_ports (the network isolator's pool) are offered to no one", async (t) => {
  const h = await Harness.start();
  await h.agent('cpus:2;mem:1024;ports:[31000-32000];ephemeral_ports:[32768-57343]');
  const fw = h.framework();
  h.tick(0);
  const [offer] = fw.offers();
  t.truthy(offer);
  const names = offer!.resources.map((r) => r.name);
  t.true(names.includes('ports'));
  t.false(names.includes('ephemeral_ports'));
});

test('a user that is not a name (a uid such as "0", white space, empty) is refused: TASK_ERROR naming the field, ERROR on SUBSCRIBE', async (t) => {
  const h = await Harness.start();
  await h.agent('cpus:2;mem:1024');
  const fw = h.framework();
  h.tick(0);
  const offer = fw.offers()[0]!;
  const withUser = (id: string, user: string) => {
    const task = commandTask(offer, id, 'cpus:0.1;mem:8');
    return { ...task, command: { ...task.command!, user } };
  };
  fw.launch(offer, [withUser('u0', '0'), withUser('u1', ' 0'), withUser('u2', ''), withUser('u3', 'a:b'), withUser('ok', 'daemon')]);
  const updates = fw.updates();
  t.deepEqual(
    updates.map((s) => [s.taskId, s.state, s.reason]),
    [
      ['u0', 'TASK_ERROR', 'REASON_TASK_INVALID'],
      ['u1', 'TASK_ERROR', 'REASON_TASK_INVALID'],
      ['u2', 'TASK_ERROR', 'REASON_TASK_INVALID'],
      ['u3', 'TASK_ERROR', 'REASON_TASK_INVALID'],
    ],
  );
  t.is(updates[0]!.message, "Invalid command.user '0': a user name cannot be all digits (it is not a uid)");
  t.regex(updates[1]!.message!, /^Invalid command\.user ' 0': .*white space/);
  t.regex(updates[2]!.message!, /^Invalid command\.user '': .*empty/);
  for (const user of ['0', ' 0', '']) {
    const s = new ArraySink<any>();
    h.master.subscribe({ type: 'SUBSCRIBE', subscribe: { frameworkInfo: frameworkInfo({ user }) } }, s);
    t.is(s.events[0].type, 'ERROR');
    t.regex(s.events[0].error.message, new RegExp(`^Invalid FrameworkInfo\\.user '${user}': `));
  }
  t.is(h.master.frameworks.size, 1);
  h.master.stop();
});
