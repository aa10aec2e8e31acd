/**
 * Oversubscription over a real master (tier-1 harness, fake clock) and a real agent
 * on a fake containerizer: the agent's estimate reaches the master, revocable offers go only to
 * REVOCABLE_RESOURCES frameworks, shrinking estimates rescind revocable offers, invalid mixes
 * are refused, and QoS corrections evict only revocable containers.
 */
import test from 'ava';
import { testAgentOptions } from '../helpers/agent_options.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../lib/agent/agent.ts';
import type { AgentOptions } from '../../lib/agent/options.ts';
import {
  FixedResourceEstimator,
  LoadQoSController,
  type ResourceEstimator,
  type ResourceUsage,
  UsageResourceEstimator,
  createQoSController,
  createResourceEstimator,
} from '../../lib/agent/oversubscription/index.ts';
import { CgroupsCpuIsolator } from '../../lib/agent/containerizer/isolators/cgroups_cpu.ts';
import { agentFlags } from '../../lib/agent/flags.ts';
import { FakeClock } from '../../lib/common/clock.ts';
import { parseFlags } from '../../lib/common/flags.ts';
import type { Cgroups } from '../../lib/linux/index.ts';
import { Resources, parseResourcesText } from '../../lib/common/resources/index.ts';
import type { AgentToMaster } from '../../lib/proto/internal.ts';
import type { Offer, TaskInfo } from '../../lib/proto/messages.ts';
import { encodeResources } from '../../lib/proto/resources.ts';
import { FakeContainerizer } from '../helpers/fake_containerizer.ts';
import { Harness, type TestAgent, frameworkInfo } from '../helpers/master_harness.ts';

const settle = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const revocable = (text: string) =>
  Resources.of(
    parseResourcesText(text)
      .toArray()
      .map((r) => ({ ...r, revocable: true })),
  );

/** An estimator a test steers. */
class SteeredEstimator implements ResourceEstimator {
  constructor(public value: Resources) {}
  initialize(): void {}
  async oversubscribable(): Promise<Resources> {
    return this.value;
  }
}

async function makeAgent(t: { teardown(fn: () => Promise<void>): void }, clock: FakeClock, extra: Partial<AgentOptions> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'corral-oversub-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const containerizer = new FakeContainerizer();
  const agent = new Agent(testAgentOptions(dir, containerizer, { clock, hostname: 'host1', ...extra }));
  t.teardown(() => agent.stop());
  return { agent, containerizer };
}

/** A master with one real agent wired to it both ways (RUN_TASK etc. forwarded by pump()). */
async function cluster(t: { teardown(fn: () => Promise<void>): void }, estimator: ResourceEstimator) {
  const h = await Harness.start();
  const ta: TestAgent = await h.agent('cpus:4;mem:1024');
  const { agent, containerizer } = await makeAgent(t, h.clock, { resourceEstimator: estimator });
  const toMaster: AgentToMaster[] = [];
  agent.connected((m) => {
    toMaster.push(m);
    h.master.agentCall(ta.id, m);
  });
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: ta.id, masterId: 'M' });
  await settle();
  const pump = async () => {
    for (const m of ta.sink.take()) if (m.type !== 'PING' && m.type !== 'REGISTERED') await agent.onMasterMessage(m);
    await settle();
  };
  return { h, ta, agent, containerizer, toMaster, pump };
}

const isRevocableOffer = (o: Offer) => o.resources.length > 0 && o.resources.every((r) => r.revocable);
const hasRevocable = (o: Offer) => o.resources.some((r) => r.revocable);

function task(offers: Offer[], id: string, resources: Resources): TaskInfo {
  return {
    name: id,
    taskId: id,
    agentId: offers[0]!.agentId,
    resources: resources.toArray(),
    command: { uris: [], shell: true, value: 'sleep 100', arguments: [] },
  };
}

test('fixed estimator: the estimate reaches the master; only a REVOCABLE_RESOURCES framework is offered it, as revocable: {} on the wire', async (t) => {
  const { h, toMaster } = await cluster(t, new FixedResourceEstimator('cpus:2'));
  const sent = toMaster.filter((m) => m.type === 'UPDATE_OVERSUBSCRIBED');
  t.is(sent.length, 1);
  t.true(Resources.of((sent[0] as Extract<AgentToMaster, { type: 'UPDATE_OVERSUBSCRIBED' }>).oversubscribed).equals(revocable('cpus:2')));
  const plain = h.framework(frameworkInfo({ name: 'plain' }));
  const capable = h.framework(frameworkInfo({ name: 'capable', capabilities: ['REVOCABLE_RESOURCES'] }));
  for (let i = 0; i < 5; i++) h.tick(1000);
  const rev = capable.offers().filter(isRevocableOffer);
  t.is(rev.length, 1, 'the revocable resources (the regular ones went to the plain framework, first by name)');
  t.true(Resources.of(rev[0]!.resources).equals(revocable('cpus:2')));
  t.like(encodeResources(rev[0]!.resources)[0], { name: 'cpus', type: 'SCALAR', role: '*', revocable: {} });
  t.false(plain.offers().some(hasRevocable), 'an incapable framework never sees revocable resources');
  // The plain framework declines everything for a while: still nothing revocable for it.
  for (const o of plain.offers()) plain.call({ type: 'DECLINE', frameworkId: plain.id, decline: { offerIds: [o.id], filters: { refuseSeconds: 0 } } });
  for (const o of capable.offers())
    if (!isRevocableOffer(o)) capable.call({ type: 'DECLINE', frameworkId: capable.id, decline: { offerIds: [o.id], filters: { refuseSeconds: 1000 } } });
  plain.sink.take();
  for (let i = 0; i < 5; i++) h.tick(1000);
  t.true(plain.offers().length > 0);
  t.false(plain.offers().some(hasRevocable));
});

test('a task on revocable cpus runs; the fixed estimate keeps counting it (estimate = fixed − revocable held), so nothing new is sent', async (t) => {
  const { h, ta, agent, containerizer, toMaster, pump } = await cluster(t, new FixedResourceEstimator('cpus:2'));
  const fw = h.framework(frameworkInfo({ capabilities: ['REVOCABLE_RESOURCES'] }));
  h.tick(1000);
  // One offer holds the regular resources and the revocable cpus, as in Mesos.
  const offers = fw.offers();
  t.is(offers.length, 1);
  t.true(Resources.of(offers[0]!.resources).revocable().equals(revocable('cpus:2')));
  t.true(Resources.of(offers[0]!.resources).nonRevocable().equals(parseResourcesText('cpus:4;mem:1024')));
  fw.call({
    type: 'ACCEPT',
    frameworkId: fw.id,
    accept: {
      offerIds: [offers[0]!.id],
      operations: [{ type: 'LAUNCH', launch: { taskInfos: [task(offers, 'batch', revocable('cpus:1').plus(parseResourcesText('mem:64')))] } }],
    },
  });
  await pump();
  t.is(containerizer.launched.length, 1);
  t.true(containerizer.launched[0]!.resources.revocable().equals(revocable('cpus:1')));
  t.deepEqual(
    fw.updates().map((s) => s.state),
    ['TASK_RUNNING'],
  );
  const usage = await agent.usage();
  t.true(usage.executors[0]!.revocable);
  h.tick(15_000);
  await settle();
  t.is(toMaster.filter((m) => m.type === 'UPDATE_OVERSUBSCRIBED').length, 1, 'total (held 1 + estimate 1) unchanged');
  t.truthy(ta);
});

test('a task mixing revocable and non-revocable cpus is refused with TASK_ERROR', async (t) => {
  const { h, containerizer, pump } = await cluster(t, new FixedResourceEstimator('cpus:2'));
  const fw = h.framework(frameworkInfo({ capabilities: ['REVOCABLE_RESOURCES'] }));
  h.tick(1000);
  const offers = fw.offers();
  const mixed = revocable('cpus:1').plus(parseResourcesText('cpus:1;mem:64'));
  fw.call({
    type: 'ACCEPT',
    frameworkId: fw.id,
    accept: { offerIds: offers.map((o) => o.id), operations: [{ type: 'LAUNCH', launch: { taskInfos: [task(offers, 'mixed', mixed)] } }] },
  });
  await pump();
  const u = fw.updates();
  t.is(u.length, 1);
  t.is(u[0]!.state, 'TASK_ERROR');
  t.regex(u[0]!.message ?? '', /revocable/);
  t.is(containerizer.launched.length, 0);
});

test('a shrinking estimate rescinds the outstanding offers holding revocable resources and the next offer holds the new estimate', async (t) => {
  const est = new SteeredEstimator(parseResourcesText('cpus:3'));
  const { h, toMaster } = await cluster(t, est);
  const fw = h.framework(frameworkInfo({ capabilities: ['REVOCABLE_RESOURCES'] }));
  h.tick(1000);
  const rev = fw.offers().find(hasRevocable)!;
  t.true(Resources.of(rev.resources).revocable().equals(revocable('cpus:3')));
  fw.sink.take();
  est.value = parseResourcesText('cpus:1');
  h.tick(15_000);
  await settle();
  t.is(toMaster.filter((m) => m.type === 'UPDATE_OVERSUBSCRIBED').length, 2);
  const rescinded = fw.sink.of('RESCIND').map((e) => e.rescind.offerId);
  t.deepEqual(rescinded, [rev.id]);
  h.tick(1000);
  const next = fw.offers().filter(hasRevocable);
  t.is(next.length, 1);
  t.true(Resources.of(next[0]!.resources).revocable().equals(revocable('cpus:1')));
  // Down to nothing: the revocable offer goes and no revocable offer follows.
  fw.sink.take();
  est.value = Resources.EMPTY;
  h.tick(15_000);
  await settle();
  t.deepEqual(
    fw.sink.of('RESCIND').map((e) => e.rescind.offerId),
    [next[0]!.id],
  );
  h.tick(1000);
  t.false(fw.offers().some(hasRevocable));
});

test('the noop estimator sends nothing; the last total is sent again on re-registration', async (t) => {
  const clock = new FakeClock();
  const { agent } = await makeAgent(t, clock);
  const sent: AgentToMaster[] = [];
  agent.connected((m) => sent.push(m));
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  await settle();
  clock.advance(60_000);
  await settle();
  t.false(sent.some((m) => m.type === 'UPDATE_OVERSUBSCRIBED'));

  const clock2 = new FakeClock();
  const { agent: a2 } = await makeAgent(t, clock2, { resourceEstimator: new FixedResourceEstimator('cpus:1') });
  const sent2: AgentToMaster[] = [];
  a2.connected((m) => sent2.push(m));
  await a2.onMasterMessage({ type: 'REGISTERED', agentId: 'S1', masterId: 'M' });
  await settle();
  await a2.onMasterMessage({ type: 'REREGISTERED', agentId: 'S1', masterId: 'M2' });
  await settle();
  t.is(sent2.filter((m) => m.type === 'UPDATE_OVERSUBSCRIBED').length, 2);
});

test('QoS (load controller): above the 5-minute threshold only revocable containers are destroyed; their tasks go TASK_LOST / REASON_CONTAINER_PREEMPTED', async (t) => {
  const clock = new FakeClock();
  let load = [0.5, 0.5, 0.5];
  const controller = new LoadQoSController({ threshold5min: 6, threshold15min: 4, loadavg: () => load });
  const { agent, containerizer } = await makeAgent(t, clock, { qosController: controller, qosCorrectionIntervalMinMs: 20_000 });
  const sent: AgentToMaster[] = [];
  agent.connected((m) => sent.push(m));
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  const fwi = frameworkInfo({ id: 'F1', capabilities: ['REVOCABLE_RESOURCES'] });
  const mk = (id: string, res: Resources): TaskInfo => ({
    name: id,
    taskId: id,
    agentId: 'S0',
    resources: res.toArray(),
    command: { uris: [], shell: true, value: 'sleep 100', arguments: [] },
  });
  await agent.onMasterMessage({
    type: 'RUN_TASK',
    frameworkId: 'F1',
    frameworkInfo: fwi,
    task: mk('batch', revocable('cpus:1').plus(parseResourcesText('mem:64'))),
  });
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwi, task: mk('web', parseResourcesText('cpus:1;mem:64')) });
  await settle();
  clock.advance(20_000);
  await settle();
  t.is(containerizer.launched.length, 2);
  t.true(
    Array.from(containerizer.containers.values()).every((c) => c.killedWith === undefined),
    'load under the thresholds: nothing evicted',
  );
  load = [20, 7, 1]; // 5-min over 6
  clock.advance(20_000);
  await settle();
  const batch = containerizer.launched.find((s) => s.resources.revocable().scalar('cpus') === 1)!;
  const web = containerizer.launched.find((s) => s !== batch)!;
  t.is(containerizer.containers.get(batch.containerId)!.killedWith, 0, 'destroyed at once');
  t.is(containerizer.containers.get(web.containerId)!.killedWith, undefined);
  await agent.frameworks.get('F1')?.completedExecutors[0]?.done;
  const statuses = sent.filter((m): m is Extract<AgentToMaster, { type: 'STATUS_UPDATE' }> => m.type === 'STATUS_UPDATE').map((m) => m.status);
  const lost = statuses.filter((s) => s.taskId === 'batch' && s.state === 'TASK_LOST');
  // The RUNNING update waits for its acknowledgement; acknowledge it to see the LOST one.
  if (lost.length === 0) {
    const running = statuses.find((s) => s.taskId === 'batch' && s.state === 'TASK_RUNNING')!;
    await agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: 'batch', uuid: running.uuid! });
  }
  const all = sent.filter((m): m is Extract<AgentToMaster, { type: 'STATUS_UPDATE' }> => m.type === 'STATUS_UPDATE').map((m) => m.status);
  const l = all.find((s) => s.taskId === 'batch' && s.state === 'TASK_LOST');
  t.like(l, { reason: 'REASON_CONTAINER_PREEMPTED', source: 'SOURCE_AGENT', message: 'Container preempted by QoS correction' });
  t.false(all.some((s) => s.taskId === 'web' && s.state !== 'TASK_RUNNING'));
  t.is(agent.metrics.get('slave/executors_preempted'), 1);
  // Over the 15-minute threshold alone also counts; no revocable containers left: nothing more.
  load = [0, 0, 5];
  clock.advance(20_000);
  await settle();
  t.is(containerizer.containers.get(web.containerId)!.killedWith, undefined);
});

test('usage estimator: idle allocated cpus × (1 − margin), minimum over the window, capped, minus revocable held', async (t) => {
  const clock = new FakeClock();
  let cpuSecs = 0;
  let revHeld = 0;
  const usage = async (): Promise<ResourceUsage> => ({
    total: parseResourcesText('cpus:4;mem:1024'),
    executors: [
      {
        frameworkId: 'F',
        executorId: 'e',
        containerId: 'c',
        allocated: parseResourcesText('cpus:3;mem:64'),
        revocable: false,
        tasks: [],
        statistics: { cpus_user_time_secs: cpuSecs, timestamp: clock.now() / 1000 },
      },
      ...(revHeld > 0 ? [{ frameworkId: 'F', executorId: 'r', containerId: 'r', allocated: revocable(`cpus:${revHeld}`), revocable: true, tasks: [] }] : []),
    ],
  });
  const est = new UsageResourceEstimator({ clock, margin: 0.2, window: 2 });
  est.initialize(usage);
  t.true((await est.oversubscribable()).isEmpty(), 'first sample: counted busy');
  clock.advance(10_000);
  cpuSecs += 10; // 1 cpu busy of 3: 2 idle → 1.6
  t.true((await est.oversubscribable()).isEmpty(), 'the window still holds the first (0)');
  clock.advance(10_000);
  cpuSecs += 10;
  t.true((await est.oversubscribable()).equals(revocable('cpus:1.6')));
  clock.advance(10_000);
  cpuSecs += 30; // all 3 busy: shrinks at once
  t.true((await est.oversubscribable()).isEmpty());
  clock.advance(10_000);
  cpuSecs += 0; // idle: 3 × 0.8 = 2.4, but the window keeps 0 one more poll
  t.true((await est.oversubscribable()).isEmpty());
  clock.advance(10_000);
  revHeld = 1;
  t.true((await est.oversubscribable()).equals(revocable('cpus:1.4')));
});

test('estimators and controllers by name; Mesos module names; bad configurations are refused', (t) => {
  const clock = new FakeClock();
  t.true(
    createResourceEstimator({ name: 'org_apache_mesos_FixedResourceEstimator', resources: 'cpus:2', margin: 0.2, window: 4, clock }) instanceof
      FixedResourceEstimator,
  );
  t.throws(() => createResourceEstimator({ name: 'fixed', margin: 0.2, window: 4, clock }), { message: /oversubscribed_resources/ });
  t.throws(() => createResourceEstimator({ name: 'magic', margin: 0.2, window: 4, clock }), { message: /unknown resource estimator/ });
  t.true(createQoSController({ name: 'org_apache_mesos_LoadQoSController', threshold5min: 6 }) instanceof LoadQoSController);
  t.throws(() => createQoSController({ name: 'load' }), { message: /qos_load_threshold/ });
});

test('cgroups/cpu: revocable cpus get 10 shares per cpu (at least 10) with --revocable_cpu_low_priority, 1024 without', async (t) => {
  const shares = new Map<string, number>();
  const cgroups = {
    hierarchy: '/fake',
    has: () => true,
    create() {},
    setCpuShares: (p: string, s: number) => shares.set(p, s),
    setCpuQuota() {},
  } as unknown as Cgroups;
  const low = new CgroupsCpuIsolator({ cgroups, root: 'corral', enableCfs: false });
  const cfg = (containerId: string, r: Resources) => ({ containerId, sandbox: '/nonexistent', resources: r });
  await low.prepare(cfg('rev', revocable('cpus:2').plus(parseResourcesText('mem:64'))));
  await low.prepare(cfg('tiny', revocable('cpus:0.1')));
  await low.prepare(cfg('plain', parseResourcesText('cpus:2;mem:64')));
  t.is(shares.get('corral/rev'), 20);
  t.is(shares.get('corral/tiny'), 10);
  t.is(shares.get('corral/plain'), 2048);
  const off = new CgroupsCpuIsolator({ cgroups, root: 'other', enableCfs: false, revocableCpuLowPriority: false });
  await off.prepare(cfg('rev', revocable('cpus:2')));
  t.is(shares.get('other/rev'), 2048);
});

test('agent flags: oversubscription defaults as Mesos (15secs, 0, low priority on), names checked, bad values refused', (t) => {
  const f = parseFlags(agentFlags, { argv: ['--master=127.0.0.1:5050', '--work_dir=/tmp/x'], env: {} }).values;
  t.is(f.oversubscribed_resources_interval, 15_000);
  t.is(f.qos_correction_interval_min, 0);
  t.true(f.revocable_cpu_low_priority);
  t.is(f.resource_estimator, undefined);
  const g = parseFlags(agentFlags, {
    argv: [
      '--master=127.0.0.1:5050',
      '--work_dir=/tmp/x',
      '--resource_estimator=org_apache_mesos_FixedResourceEstimator',
      '--oversubscribed_resources=cpus:2',
      '--qos_controller=load',
      '--qos_load_threshold_5min=6',
      '--qos_correction_interval_min=20secs',
    ],
    env: {},
  }).values;
  t.is(g.resource_estimator, 'fixed');
  t.is(g.qos_controller, 'load');
  t.is(g.qos_load_threshold_5min, 6);
  t.is(g.qos_correction_interval_min, 20_000);
  t.throws(() => parseFlags(agentFlags, { argv: ['--master=127.0.0.1:5050', '--work_dir=/tmp/x', '--resource_estimator=magic'], env: {} }), {
    message: /resource_estimator/,
  });
  t.throws(() => parseFlags(agentFlags, { argv: ['--master=127.0.0.1:5050', '--work_dir=/tmp/x', '--usage_estimator_margin=1.5'], env: {} }), {
    message: /usage_estimator_margin/,
  });
});

test('a task launched while the estimator runs does not make a spurious change (one usage snapshot per poll)', async (t) => {
  class GatedFixed extends FixedResourceEstimator {
    gate: Promise<void> = Promise.resolve();
    override async oversubscribable(): Promise<Resources> {
      const r = await super.oversubscribable();
      await this.gate;
      return r;
    }
  }
  const clock = new FakeClock();
  const est = new GatedFixed('cpus:2');
  const { agent } = await makeAgent(t, clock, { resourceEstimator: est });
  const sent: AgentToMaster[] = [];
  agent.connected((m) => sent.push(m));
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  await settle();
  let release!: () => void;
  est.gate = new Promise((r) => (release = r));
  clock.advance(15_000);
  await settle();
  const fwi = frameworkInfo({ id: 'F1', capabilities: ['REVOCABLE_RESOURCES'] });
  await agent.onMasterMessage({
    type: 'RUN_TASK',
    frameworkId: 'F1',
    frameworkInfo: fwi,
    task: {
      name: 'b',
      taskId: 'b',
      agentId: 'S0',
      resources: revocable('cpus:1').plus(parseResourcesText('mem:64')).toArray(),
      command: { uris: [], shell: true, value: 'sleep 100', arguments: [] },
    },
  });
  release();
  await settle();
  clock.advance(15_000);
  await settle();
  const updates = sent.filter((m): m is Extract<AgentToMaster, { type: 'UPDATE_OVERSUBSCRIBED' }> => m.type === 'UPDATE_OVERSUBSCRIBED');
  t.is(updates.length, 1, 'the total stays cpus:2 (held + estimate)');
  t.true(agent.oversubscription.lastTotal.equals(revocable('cpus:2')));
});

test('the estimate drops below what tasks in flight use: the master keeps them, offers nothing revocable, and recovers when the agent counts them', async (t) => {
  const est = new SteeredEstimator(parseResourcesText('cpus:2'));
  const { h, pump } = await cluster(t, est);
  const fw = h.framework(frameworkInfo({ capabilities: ['REVOCABLE_RESOURCES'] }));
  h.tick(1000);
  // One offer holds the regular resources and the revocable cpus, as in Mesos.
  const offers = fw.offers();
  t.is(offers.length, 1);
  t.true(Resources.of(offers[0]!.resources).revocable().equals(revocable('cpus:2')));
  t.true(Resources.of(offers[0]!.resources).nonRevocable().equals(parseResourcesText('cpus:4;mem:1024')));
  fw.call({
    type: 'ACCEPT',
    frameworkId: fw.id,
    accept: {
      offerIds: [offers[0]!.id],
      operations: [{ type: 'LAUNCH', launch: { taskInfos: [task(offers, 'inflight', revocable('cpus:2').plus(parseResourcesText('mem:64')))] } }],
    },
  });
  // The agent has not seen the task yet and its estimator says 0.
  est.value = Resources.EMPTY;
  fw.sink.take();
  h.tick(15_000);
  await settle();
  for (let i = 0; i < 3; i++) h.tick(1000);
  t.false(fw.offers().some(hasRevocable));
  await pump();
  t.deepEqual(
    fw.updates().map((s) => `${s.taskId}:${s.state}`),
    ['inflight:TASK_RUNNING'],
  );
  // The agent now counts the task's revocable cpus as held: total = 2 + 0.
  fw.sink.take();
  h.tick(15_000);
  await settle();
  for (let i = 0; i < 3; i++) h.tick(1000);
  t.false(fw.offers().some(hasRevocable), 'all of it is in use');
  const state = h.master.agents.values().next().value!;
  t.true(state.total.revocable().equals(revocable('cpus:2')));
});
