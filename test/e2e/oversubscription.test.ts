/**
 * End to end with the fixed estimator (`--resource_estimator=fixed --oversubscribed_resources=cpus:2`):
 * a REVOCABLE_RESOURCES framework gets revocable cpus (`revocable: {}` on the wire) and runs a
 * task on them; a framework without the capability never sees revocable resources; the agent's
 * metrics count the revocable total.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type ChildProcess, spawn } from 'node:child_process';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type Json, commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';

const isRevocable = (o: Json) => (o.resources as Json[]).some((r) => r.revocable !== undefined);

test('fixed estimator: a capable framework is offered revocable cpus with the regular resources in one offer, as in Mesos, and runs a task on both; an incapable one is never offered them', async (t) => {
  const c = await startCluster(t, {
    agentArgs: ['--resource_estimator=fixed', '--oversubscribed_resources=cpus:2', '--oversubscribed_resources_interval=100ms'],
  });
  const plain = await c.subscribe(frameworkInfo({ name: 'plain' }));
  // The incapable framework is offered the regular resources first; it declines them for long,
  // so the capable one gets them.
  const plainOffers = await plain.offers(15_000);
  t.false(plainOffers.some(isRevocable));
  await plain.decline(
    plainOffers.map((o: Json) => o.id.value),
    3600,
  );
  const capable = await c.subscribe(frameworkInfo({ name: 'batch', capabilities: [{ type: 'REVOCABLE_RESOURCES' }] }));
  const offer = await combinedOffer(capable);
  // One offer: the agent's regular resources and the revocable cpus.
  t.deepEqual(
    (offer.resources as Json[]).filter((r) => r.revocable !== undefined),
    [{ name: 'cpus', type: 'SCALAR', scalar: { value: 2 }, role: '*', revocable: {} }],
  );
  t.like(Object.fromEntries((offer.resources as Json[]).filter((r) => r.revocable === undefined && r.type === 'SCALAR').map((r) => [r.name, r.scalar.value])), {
    cpus: 8,
    mem: 8192,
  });
  // Revocable cpus with regular memory, from that one offer.
  const task = commandTask('on-revocable', 'sleep 30', {
    agent_id: offer.agent_id,
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, revocable: {} },
      { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
    ],
  });
  await capable.accept([offer.id.value], [task]);
  const running = await capable.update('on-revocable', 'TASK_RUNNING', 15_000);
  t.is(running.state, 'TASK_RUNNING');
  const metrics = await c.getJson('/metrics/snapshot');
  t.is(metrics['master/cpus_revocable_total'], 2);
  t.is(metrics['master/cpus_revocable_used'], 1);
  const agentMetrics = await c.agentJson(0, '/metrics/snapshot');
  t.like(agentMetrics, {
    'slave/cpus_revocable_total': 2,
    'slave/cpus_revocable_used': 1,
    'slave/cpus_revocable_percent': 0.5,
    'slave/cpus_used': 0,
    'slave/mem_used': 32,
  });
  t.false(
    plain.events.some((x: Json) => x.type === 'OFFERS' && x.offers.offers.some(isRevocable)),
    'no revocable offer for the incapable framework',
  );
  await capable.kill('on-revocable');
  await capable.update('on-revocable', 'TASK_KILLED', 15_000);
});

/**
 * Wait for an offer holding both revocable and regular resources of one agent (what Mesos offers
 * a capable framework once both are free); an offer with only one kind (the revocable estimate
 * came after the regular offer) is declined so that both come back together.
 */
async function combinedOffer(fw: Json): Promise<Json> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error('no offer with both revocable and regular resources');
    const offers = await fw.offers(20_000);
    const both = offers.find((o: Json) => isRevocable(o) && (o.resources as Json[]).some((r) => r.revocable === undefined && r.name === 'mem'));
    if (both) return both;
    await fw.decline(
      offers.map((o: Json) => o.id.value),
      0,
    );
  }
}

const task = (id: string, command: string, agentId: Json, cpus: number, rev: boolean) =>
  commandTask(id, command, {
    agent_id: agentId,
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: cpus }, ...(rev ? { revocable: {} } : {}) },
      { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
    ],
  });

test('load controller (load read from --qos_loadavg_file): over the 5-minute threshold the revocable task is LOST with REASON_CONTAINER_PREEMPTED, the regular one keeps running', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'corral-test-loadavg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'loadavg');
  writeFileSync(file, '0.10 0.20 0.30 1/100 1234\n');
  const c = await startCluster(t, {
    agentArgs: [
      '--resource_estimator=fixed',
      '--oversubscribed_resources=cpus:2',
      '--oversubscribed_resources_interval=100ms',
      '--qos_controller=load',
      '--qos_load_threshold_5min=6',
      '--qos_load_threshold_15min=4',
      `--qos_loadavg_file=${file}`,
      '--qos_correction_interval_min=100ms',
    ],
  });
  const fw = await c.subscribe(frameworkInfo({ name: 'batch', capabilities: [{ type: 'REVOCABLE_RESOURCES' }] }));
  const both = await combinedOffer(fw);
  await fw.accept([both.id.value], [task('batch', 'sleep 60', both.agent_id, 1, true), task('web', 'sleep 60', both.agent_id, 0.5, false)]);
  await fw.update('batch', 'TASK_RUNNING', 15_000);
  await fw.update('web', 'TASK_RUNNING', 15_000);
  await new Promise((r) => setTimeout(r, 500));
  t.false(
    fw.events.some((x: Json) => x.type === 'UPDATE' && x.update.status.state === 'TASK_LOST'),
    'under the thresholds nothing is evicted',
  );
  const started = Date.now();
  writeFileSync(file, '1.00 7.50 2.00 3/100 1234\n');
  const lost = await fw.update('batch', 'TASK_LOST', 15_000);
  t.log(`evicted ${Date.now() - started} ms after the load passed the threshold`);
  t.is(lost.reason, 'REASON_CONTAINER_PREEMPTED');
  t.is(lost.source, 'SOURCE_AGENT');
  t.is(lost.message, 'Container preempted by QoS correction');
  await new Promise((r) => setTimeout(r, 500));
  t.false(fw.events.some((x: Json) => x.type === 'UPDATE' && x.update.status.task_id.value === 'web' && x.update.status.state !== 'TASK_RUNNING'));
  const state = await c.getJson('/master/state');
  const web = state.frameworks[0].tasks.find((x: Json) => x.id === 'web');
  t.is(web?.state, 'TASK_RUNNING');
  await fw.kill('web');
  await fw.update('web', 'TASK_KILLED', 15_000);
});

test('usage estimator: an idle allocated task makes revocable cpus that are offered, and rescinded when the task gets busy', async (t) => {
  const c = await startCluster(t, {
    agentArgs: ['--resource_estimator=usage', '--usage_estimator_margin=0.2', '--usage_estimator_window=2', '--oversubscribed_resources_interval=200ms'],
  });
  const fw = await c.subscribe(frameworkInfo({ name: 'batch', capabilities: [{ type: 'REVOCABLE_RESOURCES' }] }));
  const offers = await fw.offers(15_000);
  t.false(offers.some(isRevocable), 'nothing is allocated yet: nothing to oversubscribe');
  const o = offers[0];
  // Idle until the test says go (a file appears), then busy on one cpu. (Not "idle for N
  // seconds": under load the first revocable offer could come after the task got busy.)
  const dir = mkdtempSync(join(tmpdir(), 'corral-test-estimator-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const go = join(dir, 'go');
  await fw.accept([o.id.value], [task('lazy', `while [ ! -e ${go} ]; do sleep 0.2; done; while :; do :; done`, o.agent_id, 1, false)]);
  await fw.update('lazy', 'TASK_RUNNING', 15_000);
  const e = await fw.waitFor((x) => x.type === 'OFFERS' && x.offers.offers.some(isRevocable), 10_000, 'a revocable offer');
  const rev = (e.offers.offers as Json[]).find(isRevocable);
  const cpus = (rev.resources as Json[]).find((r) => r.revocable !== undefined).scalar.value;
  t.log(`revocable offer: ${cpus} cpus`);
  t.true(cpus > 0.5 && cpus <= 0.8, `about (1 − 0.2) × idle 1 cpu, got ${cpus}`);
  writeFileSync(go, '');
  await fw.waitFor((x) => x.type === 'RESCIND' && x.rescind.offer_id.value === rev.id.value, 15_000, 'the rescind once the task is busy');
  t.pass();
  await fw.kill('lazy');
  await fw.update('lazy', 'TASK_KILLED', 15_000);
});

test('load controller with the real load average: busy processes push the 5-minute load over a threshold just above it, and the revocable task is evicted', async (t) => {
  const [l1 = 0, l5 = 0] = loadavg();
  // Just above the 5-minute load now; the busy loops below make it climb. (Not above the 1-minute
  // load: after a burst of other work that one can sit far above, and the 5-minute average, which
  // moves by 1/60 of its gap to the runnable count every 5 s, would not reach it in time.)
  const threshold = l5 + 0.05;
  const c = await startCluster(t, {
    agentArgs: [
      '--resource_estimator=fixed',
      '--oversubscribed_resources=cpus:1',
      '--oversubscribed_resources_interval=100ms',
      '--qos_controller=load',
      `--qos_load_threshold_5min=${threshold.toFixed(2)}`,
      '--qos_correction_interval_min=500ms',
    ],
  });
  const fw = await c.subscribe(frameworkInfo({ name: 'batch', capabilities: [{ type: 'REVOCABLE_RESOURCES' }] }));
  const both = await combinedOffer(fw);
  await fw.accept([both.id.value], [task('batch', 'sleep 120', both.agent_id, 1, true)]);
  await fw.update('batch', 'TASK_RUNNING', 15_000);
  const busy: ChildProcess[] = [];
  t.teardown(() => {
    for (const b of busy) b.kill('SIGKILL');
  });
  // More runnable processes than the load now, so the 5-minute average climbs (≈ 0.07 per 5 s tick
  // for a gap of 4) even when the host was busier a few minutes ago.
  const n = Math.min(64, Math.ceil(Math.max(l1, l5)) + 4);
  for (let i = 0; i < n; i++) busy.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  const started = Date.now();
  const lost = await fw.update('batch', 'TASK_LOST', 90_000);
  t.log(`threshold ${threshold.toFixed(2)}: evicted after ${Date.now() - started} ms of load (5-min load now ${loadavg()[1]!.toFixed(2)})`);
  t.is(lost.reason, 'REASON_CONTAINER_PREEMPTED');
});
