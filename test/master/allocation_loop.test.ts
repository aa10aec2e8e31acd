import test from 'ava';
import { FakeClock } from '../../lib/common/clock.ts';
import { parseResourcesText } from '../../lib/common/resources/index.ts';
import { HierarchicalAllocator, type Allocation } from '../../lib/master/allocator/index.ts';
import { AllocationLoop } from '../../lib/master/allocation_loop.ts';

function setup() {
  const clock = new FakeClock();
  const allocator = new HierarchicalAllocator();
  const runs: Allocation[][] = [];
  const loop = new AllocationLoop(allocator, clock, 1000, (a) => runs.push(a));
  allocator.addFramework('f1', { role: '*', revocable: false });
  return { clock, allocator, runs, loop };
}

test('periodic runs happen every interval and offer what is free', (t) => {
  const { clock, allocator, runs, loop } = setup();
  allocator.addAgent('a1', parseResourcesText('cpus:2;mem:1024'));
  loop.start();
  clock.advance(999);
  t.is(runs.length, 0);
  clock.advance(1);
  t.is(runs.length, 1);
  t.is(runs[0]![0]!.resources.scalar('cpus'), 2);
  // Declined without a filter: offered again on the next tick.
  allocator.recoverResources('f1', 'a1', runs[0]![0]!.resources, clock.now());
  clock.advance(1000);
  t.is(runs.length, 2);
  loop.stop();
  clock.advance(5000);
  t.is(runs.length, 2);
  t.is(clock.pending(), 0);
});

test('requests made at one moment lead to one run over changed agents only', (t) => {
  const { clock, allocator, runs, loop } = setup();
  loop.start();
  allocator.addAgent('a1', parseResourcesText('cpus:1;mem:512'));
  loop.request();
  allocator.addAgent('a2', parseResourcesText('cpus:1;mem:512'));
  loop.request();
  clock.advance(0);
  t.is(runs.length, 1);
  t.deepEqual(runs[0]!.map((a) => a.agentId).sort(), ['a1', 'a2']);
  // Nothing changed since: a request runs but finds nothing new to offer.
  loop.request();
  clock.advance(0);
  t.is(runs.length, 1);
  loop.stop();
});

test("a request for 'all' walks every agent even if none changed (revive after a filter)", (t) => {
  const { clock, allocator, runs, loop } = setup();
  allocator.addAgent('a1', parseResourcesText('cpus:1;mem:512'));
  loop.start();
  loop.request();
  clock.advance(0);
  t.is(runs.length, 1);
  allocator.recoverResources('f1', 'a1', runs[0]![0]!.resources, clock.now(), 60_000);
  loop.request();
  clock.advance(0);
  t.is(runs.length, 1, 'filtered');
  allocator.revive('f1');
  loop.request('all');
  loop.request();
  clock.advance(0);
  t.is(runs.length, 2);
  loop.stop();
});
