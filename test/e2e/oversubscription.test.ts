/**
 * End to end with the fixed estimator (`--resource_estimator=fixed --oversubscribed_resources=cpus:2`):
 * a REVOCABLE_RESOURCES framework gets revocable cpus (`revocable: {}` on the wire) and runs a
 * task on them; a framework without the capability never sees revocable resources; the agent's
 * metrics count the revocable total.
 */
import test from 'ava';
import { type Json, commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';

const isRevocable = (o: Json) => (o.resources as Json[]).some((r) => r.revocable !== undefined);

test('fixed estimator: a capable framework runs a task on revocable cpus; an incapable one is never offered them', async (t) => {
  const c = await startCluster(t, { agentArgs: ['--resource_estimator=fixed', '--oversubscribed_resources=cpus:2', '--oversubscribed_resources_interval=100ms'] });
  const plain = await c.subscribe(frameworkInfo({ name: 'plain' }));
  // The incapable framework is offered the regular resources first; it declines them for long,
  // so the capable one gets them (for its task's memory) besides the revocable cpus.
  const plainOffers = await plain.offers(15_000);
  t.false(plainOffers.some(isRevocable));
  await plain.decline(plainOffers.map((o: Json) => o.id.value), 1000);
  const capable = await c.subscribe(frameworkInfo({ name: 'batch', capabilities: [{ type: 'REVOCABLE_RESOURCES' }] }));
  const e = await capable.waitFor((x) => x.type === 'OFFERS' && x.offers.offers.some(isRevocable), 15_000, 'a revocable offer');
  const rev = (e.offers.offers as Json[]).find(isRevocable)!;
  t.deepEqual(rev.resources, [{ name: 'cpus', type: 'SCALAR', scalar: { value: 2 }, role: '*', revocable: {} }]);
  // Revocable resources come in their own offer; take a regular one of the same agent for mem.
  const regularEvent = capable.events.find((x: Json) => x.type === 'OFFERS' && x.offers.offers.some((o: Json) => !isRevocable(o) && o.agent_id.value === rev.agent_id.value));
  const regular = regularEvent?.offers.offers.find((o: Json) => !isRevocable(o) && o.agent_id.value === rev.agent_id.value) ?? (await capable.offers(15_000)).find((o: Json) => !isRevocable(o));
  t.truthy(regular, 'a regular offer for the memory');
  const task = commandTask('on-revocable', 'sleep 30', {
    agent_id: rev.agent_id,
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, revocable: {} },
      { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
    ],
  });
  await capable.accept([rev.offer_id?.value ?? rev.id.value, regular.offer_id?.value ?? regular.id.value], [task]);
  const running = await capable.update('on-revocable', 'TASK_RUNNING', 15_000);
  t.is(running.state, 'TASK_RUNNING');
  const metrics = await c.getJson('/metrics/snapshot');
  t.is(metrics['master/cpus_revocable_total'], 2);
  t.is(metrics['master/cpus_revocable_used'], 1);
  t.false(plain.events.some((x: Json) => x.type === 'OFFERS' && x.offers.offers.some(isRevocable)), 'no revocable offer for the incapable framework');
  await capable.kill('on-revocable');
  await capable.update('on-revocable', 'TASK_KILLED', 15_000);
});
