/**
 * Scenario tests of the hierarchical DRF allocator, in the shape of Mesos's
 * hierarchical_allocator_tests: a small cluster, explicit allocation runs at explicit times, and
 * the exact allocations and DRF shares that must follow.
 */
import test from 'ava';
import { Resources, resource } from '../../../lib/common/resources/index.ts';
import { AllocatorError, HierarchicalAllocator } from '../../../lib/master/allocator/index.ts';
import { dyn, expectAllocations, expectResources, r, rev } from './helpers.ts';

const FW = (role: string, revocable = false) => ({ role, revocable });

// ---------------------------------------------------------------------------------------------
// DRF

test('two frameworks in one role on two agents get one agent each', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.addAgent('a2', r('cpus:2;mem:1024'));

  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', r('cpus:2;mem:1024')],
    ['f2', 'a2', r('cpus:2;mem:1024')],
  ]);
  t.is(a.frameworkShare('f1'), 0.5);
  t.is(a.frameworkShare('f2'), 0.5);
  t.is(a.roleShare('r'), 1);
  expectResources(t, a.allocation('f1', 'a1'), r('cpus:2;mem:1024'));
  expectResources(t, a.allocation('f1', 'a2'), Resources.EMPTY);
  expectResources(t, a.free('a1'), Resources.EMPTY);
  // Nothing is left: the next run offers nothing.
  expectAllocations(t, a.allocate(1), []);
  t.is(a.stats().allocationRuns, 2);
});

test('the dominant share is the largest fraction over scalar names; revocable resources count under their name, as in Mesos', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r', true));
  a.addFramework('f2', FW('r', true));
  a.addAgent('a1', r('cpus:10;mem:1000;disk:100;ports:[1-100]', rev('cpus', 30)), new Map([['f1', r('cpus:1;mem:100;disk:50;ports:[1-90]')]]));
  // cpus 1/40 (the revocable 30 are in the total), mem 100/1000, disk 50/100: disk dominates; ports do not count.
  t.is(a.frameworkShare('f1'), 0.5);
  t.is(a.roleShare('r'), 0.5);
  // f2 is offered the rest, the revocable cpus with it: cpus 39/40 dominates.
  expectAllocations(t, a.allocate(0), [
    ['f2', 'a1', r('cpus:9;mem:900;disk:50;ports:[91-100]')],
    ['f2', 'a1', Resources.of([rev('cpus', 30)]), true],
  ]);
  t.is(a.frameworkShare('f2'), 39 / 40);
});

test('DRF: the framework holding more gets the next agent second', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  // a0 is fully used: f1 holds three quarters of it, f2 one quarter.
  a.addAgent(
    'a0',
    r('cpus:4;mem:4096'),
    new Map([
      ['f1', r('cpus:3;mem:3072')],
      ['f2', r('cpus:1;mem:1024')],
    ]),
  );
  a.addAgent('a1', r('cpus:2;mem:2048'));
  a.addAgent('a2', r('cpus:2;mem:2048'));
  // Cluster: cpus 8, mem 8192.
  t.is(a.frameworkShare('f1'), 3 / 8);
  t.is(a.frameworkShare('f2'), 1 / 8);

  // a1: f2 (1/8) before f1 (3/8). a2: both at 3/8, the tie goes to the lower id, f1.
  expectAllocations(t, a.allocate(0), [
    ['f2', 'a1', r('cpus:2;mem:2048')],
    ['f1', 'a2', r('cpus:2;mem:2048')],
  ]);
  t.is(a.frameworkShare('f1'), 5 / 8);
  t.is(a.frameworkShare('f2'), 3 / 8);

  // f2 gives its a1 resources back; f1 gives a2 back: f2 (1/8) is offered first again.
  a.recoverResources('f2', 'a1', r('cpus:2;mem:2048'), 1);
  a.recoverResources('f1', 'a2', r('cpus:2;mem:2048'), 1);
  expectAllocations(t, a.allocate(2), [
    ['f2', 'a1', r('cpus:2;mem:2048')],
    ['f1', 'a2', r('cpus:2;mem:2048')],
  ]);
});

test('DRF compares different dominant resources', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('cpu-heavy', FW('r'));
  a.addFramework('mem-heavy', FW('r'));
  a.addAgent(
    'a0',
    r('cpus:10;mem:10000'),
    new Map([
      ['cpu-heavy', r('cpus:6;mem:1000')], // cpus 6/20 = 0.3
      ['mem-heavy', r('cpus:1;mem:5000')], // mem 5000/20000 = 0.25
    ]),
  );
  a.addAgent('a1', r('cpus:10;mem:10000'));
  t.is(a.frameworkShare('cpu-heavy'), 0.3);
  t.is(a.frameworkShare('mem-heavy'), 0.25);
  // Free on a0: cpus 3, mem 4000 goes to mem-heavy (lower share);
  // then mem-heavy holds cpus 4/20, mem 9000/20000 = 0.45 > 0.3, so a1 goes to cpu-heavy.
  expectAllocations(t, a.allocate(0), [
    ['mem-heavy', 'a0', r('cpus:3;mem:4000')],
    ['cpu-heavy', 'a1', r('cpus:10;mem:10000')],
  ]);
  t.is(a.frameworkShare('mem-heavy'), 0.45);
  t.is(a.frameworkShare('cpu-heavy'), 0.8);
});

test('role weights: a role with weight 2 gets twice the share of a role with weight 1', (t) => {
  const a = new HierarchicalAllocator({ weights: new Map([['a', 2]]) });
  a.addFramework('fa', FW('a'));
  a.addFramework('fb', FW('b'));
  for (let i = 1; i <= 6; i++) a.addAgent(`a${i}`, r('cpus:1;mem:512'));
  // Weighted shares before each agent (a, b): a1 0,0 (tie: a) · a2 1/12,0 · a3 1/12,1/6 ·
  // a4 1/6,1/6 (tie: a) · a5 1/4,1/6 · a6 1/4,1/3.
  const one = r('cpus:1;mem:512');
  expectAllocations(t, a.allocate(0), [
    ['fa', 'a1', one],
    ['fb', 'a2', one],
    ['fa', 'a3', one],
    ['fa', 'a4', one],
    ['fb', 'a5', one],
    ['fa', 'a6', one],
  ]);
  t.is(a.frameworkShare('fa'), 4 / 6);
  t.is(a.frameworkShare('fb'), 2 / 6);
  t.is(a.roleShare('a'), 4 / 6 / 2);
  t.is(a.roleShare('b'), 2 / 6);

  // A weight set later applies at once.
  a.setWeight('b', 4);
  t.is(a.roleShare('b'), 2 / 6 / 4);
  a.recoverResources('fa', 'a1', one, 1);
  a.recoverResources('fb', 'a2', one, 1);
  expectAllocations(t, a.allocate(2), [
    ['fb', 'a1', one], // b: 1/24 < a: 3/12
    ['fb', 'a2', one], // b: 2/24 < a: 3/12
  ]);
});

test('weights must be positive finite numbers', (t) => {
  const a = new HierarchicalAllocator();
  for (const w of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    const e = t.throws<AllocatorError>(() => a.setWeight('r', w), { instanceOf: AllocatorError });
    t.is(e?.code, 'INVALID');
    t.regex(e?.message ?? '', /weight of role 'r'/);
  }
  const e = t.throws<AllocatorError>(() => new HierarchicalAllocator({ weights: new Map([['x', -2]]) }), { instanceOf: AllocatorError });
  t.is(e?.code, 'INVALID');
  a.setWeight('r', 0.5);
  a.addFramework('f', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:100'), new Map([['f', r('cpus:1')]]));
  t.is(a.roleShare('r'), 1);
});

// ---------------------------------------------------------------------------------------------
// Reservations

test('static reservation: offered only to its role; the unreserved part to whoever is first', (t) => {
  const a = new HierarchicalAllocator();
  // 'other' sorts before 'web' on a tie.
  a.addFramework('f-other', FW('other'));
  a.addFramework('f-web', FW('web'));
  a.addAgent('a1', r('cpus:4;mem:2048;cpus(web):2;mem(web):512'));
  expectAllocations(t, a.allocate(0), [
    ['f-other', 'a1', r('cpus:4;mem:2048')],
    ['f-web', 'a1', r('cpus(web):2;mem(web):512')],
  ]);
  // Total: cpus 6, mem 2560. f-other: cpus 4/6, mem 2048/2560 = 0.8; f-web: cpus 2/6, mem 0.2.
  t.is(a.frameworkShare('f-other'), 0.8);
  t.is(a.frameworkShare('f-web'), 2 / 6);
});

test('static reservation: the first role, if it owns the reservation, gets both parts in one allocation', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f-ads', FW('ads'));
  a.addFramework('f-web', FW('web'));
  a.addAgent('a1', r('cpus:4;mem:2048;cpus(ads):2;mem(ads):512'));
  expectAllocations(t, a.allocate(0), [['f-ads', 'a1', r('cpus:4;mem:2048;cpus(ads):2;mem(ads):512')]]);
});

test('static reservation: stays free when its role has no framework', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('other'));
  a.addAgent('a1', r('cpus:4;mem:2048;cpus(web):2;mem(web):512'));
  expectAllocations(t, a.allocate(0), [['f1', 'a1', r('cpus:4;mem:2048')]]);
  expectResources(t, a.free('a1'), r('cpus(web):2;mem(web):512'));
  // A framework of the role arrives: only the reservation is left, and it gets it.
  a.addFramework('f-web', FW('web'));
  expectAllocations(t, a.allocate(1), [['f-web', 'a1', r('cpus(web):2;mem(web):512')]]);
  expectResources(t, a.free('a1'), Resources.EMPTY);
});

test('static reservation: an agent with only reserved resources is offered to its role alone', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('aaa'));
  a.addFramework('f2', FW('web'));
  a.addAgent('a1', r('cpus(web):2;mem(web):512'));
  expectAllocations(t, a.allocate(0), [['f2', 'a1', r('cpus(web):2;mem(web):512')]]);
});

test('dynamic reservation: offered only to its role; the unreserved part to whoever is first', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f-other', FW('other'));
  a.addFramework('f-web', FW('web'));
  const reserved = Resources.of([dyn('cpus', 2, 'web'), dyn('mem', 512, 'web')]);
  a.addAgent('a1', r('cpus:4;mem:2048').plus(reserved));
  expectAllocations(t, a.allocate(0), [
    ['f-other', 'a1', r('cpus:4;mem:2048')],
    ['f-web', 'a1', reserved],
  ]);
  // The reservation comes back: offered to 'web' again, not to 'other'.
  a.recoverResources('f-web', 'a1', reserved, 1);
  a.recoverResources('f-other', 'a1', r('cpus:4;mem:2048'), 1);
  a.suppress('f-web');
  expectAllocations(t, a.allocate(2), [['f-other', 'a1', r('cpus:4;mem:2048')]]);
  expectResources(t, a.free('a1'), reserved);
});

test('reservations of several roles go to each role in share order after the unreserved part', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r1'));
  a.addFramework('f2', FW('r2'));
  a.addFramework('f3', FW('r3'));
  // r1 already holds a lot elsewhere, so r2 comes first, then r3, then r1.
  a.addAgent('a0', r('cpus:8;mem:8192'), new Map([['f1', r('cpus:8;mem:8192')]]));
  a.addAgent('a1', r('cpus:2;mem:1024;cpus(r1):1;mem(r1):128;cpus(r3):1;mem(r3):128'));
  expectAllocations(t, a.allocate(0), [
    ['f2', 'a1', r('cpus:2;mem:1024')],
    ['f3', 'a1', r('cpus(r3):1;mem(r3):128')],
    ['f1', 'a1', r('cpus(r1):1;mem(r1):128')],
  ]);
});

test('RESERVE flow: a framework reserves part of its offer; once recovered, the part goes only to its role', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f-web', FW('web'));
  a.addAgent('a1', r('cpus:4;mem:1024'));
  expectAllocations(t, a.allocate(0), [['f-web', 'a1', r('cpus:4;mem:1024')]]);

  const from = r('cpus:2;mem:512');
  const to = Resources.of([dyn('cpus', 2, 'web'), dyn('mem', 512, 'web')]);
  a.updateAllocation('f-web', 'a1', from, to);
  expectResources(t, a.allocation('f-web', 'a1'), r('cpus:2;mem:512').plus(to));
  expectResources(t, a.free('a1'), Resources.EMPTY);
  t.is(a.frameworkShare('f-web'), 1); // relabelling changes no amount

  a.recoverResources('f-web', 'a1', a.allocation('f-web', 'a1'), 1);
  expectResources(t, a.free('a1'), r('cpus:2;mem:512').plus(to));
  // 'aaa' sorts first on a tie: it gets the unreserved half only.
  a.addFramework('f-aaa', FW('aaa'));
  expectAllocations(t, a.allocate(2), [
    ['f-aaa', 'a1', r('cpus:2;mem:512')],
    ['f-web', 'a1', to],
  ]);

  // UNRESERVE: the reservation becomes unreserved again in the allocation and the total.
  a.updateAllocation('f-web', 'a1', to, from);
  a.recoverResources('f-web', 'a1', from, 3);
  a.recoverResources('f-aaa', 'a1', from, 3);
  expectResources(t, a.free('a1'), r('cpus:4;mem:1024'));
  expectAllocations(t, a.allocate(4), [['f-aaa', 'a1', r('cpus:4;mem:1024')]]);
});

test('CREATE and DESTROY of persistent volumes: the volume stays with its role and is offered as itself', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f-web', FW('web'));
  a.addAgent('a1', r('cpus:1;mem:128;disk:100'));
  a.allocate(0);
  const reservedDisk = Resources.of([dyn('disk', 100, 'web')]);
  const volume = (id: string, size: number) =>
    resource('disk', size, { role: 'web', reservation: { principal: 'ops' }, disk: { persistence: { id }, volume: { mode: 'RW', containerPath: id } } });
  const volumes = Resources.of([volume('v1', 50), volume('v2', 50)]);
  a.updateAllocation('f-web', 'a1', r('disk:100'), reservedDisk); // RESERVE
  a.updateAllocation('f-web', 'a1', reservedDisk, volumes); // CREATE two volumes of one size
  expectResources(t, a.allocation('f-web', 'a1'), r('cpus:1;mem:128').plus(volumes));
  t.is(a.frameworkShare('f-web'), 1);

  // One volume comes back: it is offered as itself, to its role only.
  a.recoverResources('f-web', 'a1', Resources.of([volume('v2', 50)]), 1);
  a.addFramework('f-aaa', FW('aaa'));
  expectResources(t, a.free('a1'), Resources.of([volume('v2', 50)]));
  expectAllocations(t, a.allocate(2), []); // a volume alone is below the minimum (no cpus, no mem)
  a.recoverResources('f-web', 'a1', r('cpus:1;mem:128'), 3);
  expectAllocations(t, a.allocate(4), [['f-aaa', 'a1', r('cpus:1;mem:128')]]);
  a.recoverResources('f-aaa', 'a1', r('cpus:1;mem:128'), 5);
  a.suppress('f-aaa');
  expectAllocations(t, a.allocate(6), [['f-web', 'a1', r('cpus:1;mem:128').plus(Resources.of([volume('v2', 50)]))]]);

  // DESTROY v1: the reserved disk is back in the allocation and the total.
  a.updateAllocation('f-web', 'a1', Resources.of([volume('v1', 50)]), Resources.of([dyn('disk', 50, 'web')]));
  expectResources(t, a.allocation('f-web', 'a1'), r('cpus:1;mem:128').plus(Resources.of([volume('v2', 50), dyn('disk', 50, 'web')])));
});

test('updateAllocation refuses resources the framework does not hold', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('web'));
  a.addAgent('a1', r('cpus:4;mem:1024'));
  a.allocate(0);
  const e = t.throws<AllocatorError>(() => a.updateAllocation('f1', 'a1', r('cpus:5'), Resources.of([dyn('cpus', 5, 'web')])), { instanceOf: AllocatorError });
  t.is(e?.code, 'NOT_ALLOCATED');
  expectResources(t, a.allocation('f1', 'a1'), r('cpus:4;mem:1024'));
  t.is(t.throws<AllocatorError>(() => a.updateAllocation('f1', 'nope', r('cpus:1'), r('cpus:1')))?.code, 'UNKNOWN_AGENT');
});

// ---------------------------------------------------------------------------------------------
// Revocable resources

test('revocable resources go only to capable frameworks, in a separate allocation', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r')); // not capable, first on a tie
  a.addFramework('f2', FW('r', true));
  a.addAgent('a1', r('cpus:4;mem:1024', rev('cpus', 2)));
  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', r('cpus:4;mem:1024')],
    ['f2', 'a1', Resources.of([rev('cpus', 2)]), true],
  ]);
  // Revocable resources count in shares (cpus: 4 + 2 in the total), as in Mesos's DRF sorter.
  t.is(a.frameworkShare('f1'), 1);
  t.is(a.frameworkShare('f2'), 2 / 6);
});

test('a capable framework first in order gets both kinds, as two allocations', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r', true));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:4;mem:1024', rev('cpus', 2), rev('mem', 512)));
  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', r('cpus:4;mem:1024')],
    ['f1', 'a1', Resources.of([rev('cpus', 2), rev('mem', 512)]), true],
  ]);
  expectResources(t, a.allocation('f1', 'a1'), r('cpus:4;mem:1024', rev('cpus', 2), rev('mem', 512)));
});

test('revocable resources stay free when no framework is capable', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addAgent('a1', r('cpus:4;mem:1024', rev('cpus', 2)));
  expectAllocations(t, a.allocate(0), [['f1', 'a1', r('cpus:4;mem:1024')]]);
  expectResources(t, a.free('a1'), Resources.of([rev('cpus', 2)]));
  // A framework gaining the capability is offered them.
  a.updateFramework('f1', FW('r', true));
  expectAllocations(t, a.allocate(1), [['f1', 'a1', Resources.of([rev('cpus', 2)]), true]]);
});

test('revocable resources reserved for a role go only to a capable framework of that role', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f-aaa', FW('aaa', true)); // first, capable, but not of the role
  a.addFramework('f-web', FW('web', true));
  a.addAgent('a1', r('cpus:1;mem:256', rev('cpus', 2), rev('cpus', 3, 'web')));
  expectAllocations(t, a.allocate(0), [
    ['f-aaa', 'a1', r('cpus:1;mem:256')],
    ['f-aaa', 'a1', Resources.of([rev('cpus', 2)]), true],
    ['f-web', 'a1', Resources.of([rev('cpus', 3, 'web')]), true],
  ]);
});

// ---------------------------------------------------------------------------------------------
// Minimum allocatable resources

test('an agent whose free resources are below cpus 0.01 and mem 32 is not offered', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addAgent('tiny', r('cpus:0.005;mem:10'));
  a.addAgent('cpus-only', r('cpus:0.01'));
  a.addAgent('mem-only', r('mem:32'));
  a.addAgent('disk-only', r('disk:1000;ports:[1-10]'));
  expectAllocations(t, a.allocate(0), [
    ['f1', 'cpus-only', r('cpus:0.01')],
    ['f1', 'mem-only', r('mem:32')],
  ]);
  expectResources(t, a.free('tiny'), r('cpus:0.005;mem:10'));
});

test('an agent used down to a remainder below the minimum is not offered', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addAgent('a1', r('cpus:1;mem:64'), new Map([['f1', r('cpus:0.995;mem:40')]]));
  expectAllocations(t, a.allocate(0), []);
  expectResources(t, a.free('a1'), r('cpus:0.005;mem:24'));
});

test('minAllocatable {} offers anything non-empty', (t) => {
  const a = new HierarchicalAllocator({ minAllocatable: {} });
  a.addFramework('f1', FW('r'));
  a.addAgent('tiny', r('cpus:0.005;mem:10'));
  a.addAgent('disk-only', r('disk:1000'));
  expectAllocations(t, a.allocate(0), [
    ['f1', 'tiny', r('cpus:0.005;mem:10')],
    ['f1', 'disk-only', r('disk:1000')],
  ]);
});

test('a custom minimum: gpus 1', (t) => {
  const a = new HierarchicalAllocator({ minAllocatable: { gpus: 1 } });
  a.addFramework('f1', FW('r'));
  a.addAgent('cpu-box', r('cpus:32;mem:65536'));
  a.addAgent('gpu-box', r('cpus:8;mem:1024;gpus:2'));
  expectAllocations(t, a.allocate(0), [['f1', 'gpu-box', r('cpus:8;mem:1024;gpus:2')]]);
});

test('a reservation can make an unallocatable unreserved remainder allocatable for its role', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f-aaa', FW('aaa'));
  a.addFramework('f-web', FW('web'));
  a.addAgent('a1', r('cpus:0.005;ports:[1-10];mem(web):64'));
  // f-aaa is first but cpus 0.005 and ports are below the minimum; f-web's candidate includes its
  // reservation.
  expectAllocations(t, a.allocate(0), [['f-web', 'a1', r('cpus:0.005;ports:[1-10];mem(web):64')]]);
});

// ---------------------------------------------------------------------------------------------
// Filters

test('declined with a filter: not re-offered to that framework until the filter expires', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  expectAllocations(t, a.allocate(0), [['f1', 'a1', r('cpus:2;mem:1024')]]);
  a.recoverResources('f1', 'a1', r('cpus:2;mem:1024'), 1000, 5000);
  t.true(a.hasFilter('f1', 'a1', 1000));
  t.is(a.stats().filters, 1);
  expectAllocations(t, a.allocate(1000), []);
  expectAllocations(t, a.allocate(5999), []);
  t.true(a.hasFilter('f1', 'a1', 5999));
  t.false(a.hasFilter('f1', 'a1', 6000));
  expectAllocations(t, a.allocate(6000), [['f1', 'a1', r('cpus:2;mem:1024')]]);
  t.is(a.stats().filters, 0);
});

test('declined without a filter: offered again at the next run', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.allocate(0);
  a.recoverResources('f1', 'a1', r('cpus:2;mem:1024'), 1000);
  t.false(a.hasFilter('f1', 'a1', 1000));
  expectAllocations(t, a.allocate(1000), [['f1', 'a1', r('cpus:2;mem:1024')]]);
});

test('a filtered framework is skipped: another framework gets the resources meanwhile', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  expectAllocations(t, a.allocate(0), [['f1', 'a1', r('cpus:2;mem:1024')]]);
  a.recoverResources('f1', 'a1', r('cpus:2;mem:1024'), 100, 1000);
  expectAllocations(t, a.allocate(200), [['f2', 'a1', r('cpus:2;mem:1024')]]);
  // f2 declines without a filter; f1 is still filtered, so f2 again.
  a.recoverResources('f2', 'a1', r('cpus:2;mem:1024'), 300);
  expectAllocations(t, a.allocate(400), [['f2', 'a1', r('cpus:2;mem:1024')]]);
  a.recoverResources('f2', 'a1', r('cpus:2;mem:1024'), 500);
  // f1's filter is over: f1 and f2 both hold 0, f1 wins the tie.
  expectAllocations(t, a.allocate(1100), [['f1', 'a1', r('cpus:2;mem:1024')]]);
});

test('a framework that becomes eligible is offered an agent that every other framework had refused', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'), false);
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.allocate(0);
  a.recoverResources('f1', 'a1', r('cpus:2;mem:1024'), 0, 60_000);
  expectAllocations(t, a.allocate(10), []);
  expectAllocations(t, a.allocate(20), []);
  a.activateFramework('f2');
  expectAllocations(t, a.allocate(30), [['f2', 'a1', r('cpus:2;mem:1024')]]);
});

test("a role's reservation refused by its first framework goes to the next one, also after the unreserved pool is gone", (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r', true));
  a.addFramework('f2', FW('r'));
  const reserved = r('cpus(r):1;mem(r):128');
  const revocable = Resources.of([rev('cpus', 2)]);
  a.addAgent('a1', reserved.plus(revocable));
  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', reserved],
    ['f1', 'a1', revocable, true],
  ]);
  a.recoverResources('f1', 'a1', reserved, 1, 60_000);
  a.recoverResources('f1', 'a1', revocable, 1);
  // f1 (first on the tie) takes the revocable pool but refuses the reservation: f2 gets it.
  expectAllocations(t, a.allocate(10), [
    ['f1', 'a1', revocable, true],
    ['f2', 'a1', reserved],
  ]);
});

test('a filter does not apply when more resources become free (the candidate is larger)', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addAgent('a1', r('cpus:4;mem:2048'));
  a.allocate(0);
  // A task ends and f1 declines what came back, for a long time.
  a.recoverResources('f1', 'a1', r('cpus:2;mem:1024'), 10, 1_000_000);
  expectAllocations(t, a.allocate(20), []);
  // Another task ends: the candidate cpus:3;mem:1024 is not inside the refused
  // cpus:2;mem:1024, so it is offered.
  a.recoverResources('f1', 'a1', r('cpus:1'), 30);
  expectAllocations(t, a.allocate(40), [['f1', 'a1', r('cpus:3;mem:1024')]]);
});

test('a filter applies to a smaller candidate on the same agent and only on that agent', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:4;mem:2048'));
  a.addAgent('a2', r('cpus:4;mem:2048'));
  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', r('cpus:4;mem:2048')],
    ['f2', 'a2', r('cpus:4;mem:2048')],
  ]);
  a.recoverResources('f1', 'a1', r('cpus:4;mem:2048'), 10, 10_000);
  a.recoverResources('f2', 'a2', r('cpus:4;mem:2048'), 10);
  // a1 is filtered for f1, so f2 (share 0 now) gets it; f1 (0, before f2 by id) gets a2.
  expectAllocations(t, a.allocate(20), [
    ['f2', 'a1', r('cpus:4;mem:2048')],
    ['f1', 'a2', r('cpus:4;mem:2048')],
  ]);
  // f2 keeps half of a1: the smaller candidate cpus:2;mem:1024 is inside f1's refused set.
  a.recoverResources('f2', 'a1', r('cpus:2;mem:1024'), 30);
  a.suppress('f2');
  expectAllocations(t, a.allocate(40), []);
  t.true(a.hasFilter('f1', 'a1', 40));
  t.false(a.hasFilter('f1', 'a2', 40));
});

test('filters are capped at maxFilterMs', (t) => {
  const a = new HierarchicalAllocator({ maxFilterMs: 1000 });
  a.addFramework('f1', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.allocate(0);
  a.recoverResources('f1', 'a1', r('cpus:2;mem:1024'), 0, 365 * 24 * 3600 * 1000);
  expectAllocations(t, a.allocate(999), []);
  expectAllocations(t, a.allocate(1000), [['f1', 'a1', r('cpus:2;mem:1024')]]);
});

test('revive clears filters and suppression', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.addAgent('a2', r('cpus:2;mem:1024'));
  a.allocate(0);
  a.recoverResources('f1', 'a1', r('cpus:2;mem:1024'), 10, 60_000);
  a.recoverResources('f1', 'a2', r('cpus:2;mem:1024'), 10, 60_000);
  expectAllocations(t, a.allocate(20), []);
  a.revive('f1');
  t.false(a.hasFilter('f1', 'a1', 30));
  t.is(a.stats().filters, 0);
  expectAllocations(t, a.allocate(30), [
    ['f1', 'a1', r('cpus:2;mem:1024')],
    ['f1', 'a2', r('cpus:2;mem:1024')],
  ]);
});

test('recovering resources a framework does not hold throws NOT_ALLOCATED and changes nothing', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024;ports:[1-10]'));
  a.allocate(0);
  for (const [fw, res] of [
    ['f1', r('cpus:3')],
    ['f1', r('ports:[5-11]')],
    ['f1', r('cpus(web):1')],
    ['f2', r('cpus:1')],
    ['nobody', r('cpus:1')],
  ] as const) {
    const e = t.throws<AllocatorError>(() => a.recoverResources(fw, 'a1', res, 1, 1000), { instanceOf: AllocatorError });
    t.is(e?.code, 'NOT_ALLOCATED');
  }
  expectResources(t, a.allocation('f1', 'a1'), r('cpus:2;mem:1024;ports:[1-10]'));
  t.false(a.hasFilter('f1', 'a1', 1));
  // An agent that is gone or nothing to recover: nothing to do.
  t.notThrows(() => a.recoverResources('f1', 'gone', r('cpus:1'), 1));
  t.notThrows(() => a.recoverResources('f2', 'a1', Resources.EMPTY, 1));
});

// ---------------------------------------------------------------------------------------------
// Suppression, activation

test('a suppressed framework gets nothing until it revives; others still do', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.suppress('f1');
  expectAllocations(t, a.allocate(0), [['f2', 'a1', r('cpus:2;mem:1024')]]);
  a.recoverResources('f2', 'a1', r('cpus:2;mem:1024'), 1);
  a.suppress('f2');
  expectAllocations(t, a.allocate(2), []);
  a.revive('f1');
  expectAllocations(t, a.allocate(3), [['f1', 'a1', r('cpus:2;mem:1024')]]);
});

test('a deactivated framework gets nothing but keeps its allocations; activated again, it is offered', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.addAgent('a2', r('cpus:2;mem:1024'));
  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', r('cpus:2;mem:1024')],
    ['f2', 'a2', r('cpus:2;mem:1024')],
  ]);
  a.deactivateFramework('f1');
  expectResources(t, a.allocation('f1', 'a1'), r('cpus:2;mem:1024'));
  t.is(a.frameworkShare('f1'), 0.5);
  a.recoverResources('f1', 'a1', r('cpus:2;mem:1024'), 1);
  expectAllocations(t, a.allocate(2), [['f2', 'a1', r('cpus:2;mem:1024')]]);
  a.recoverResources('f2', 'a1', r('cpus:2;mem:1024'), 3);
  a.deactivateFramework('f2');
  expectAllocations(t, a.allocate(4), []);
  a.activateFramework('f1');
  expectAllocations(t, a.allocate(5), [['f1', 'a1', r('cpus:2;mem:1024')]]);
});

test('a framework added inactive is not offered until activated', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'), false);
  a.addAgent('a1', r('cpus:2;mem:1024'));
  expectAllocations(t, a.allocate(0), []);
  a.activateFramework('f1');
  expectAllocations(t, a.allocate(1), [['f1', 'a1', r('cpus:2;mem:1024')]]);
});

test('a deactivated agent is not offered and keeps its allocations; activated again, it is offered', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addAgent('a1', r('cpus:4;mem:1024'));
  a.addAgent('a2', r('cpus:4;mem:1024'));
  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', r('cpus:4;mem:1024')],
    ['f1', 'a2', r('cpus:4;mem:1024')],
  ]);
  a.deactivateAgent('a1');
  expectResources(t, a.allocation('f1', 'a1'), r('cpus:4;mem:1024'));
  t.is(a.frameworkShare('f1'), 1); // its total still counts
  a.recoverResources('f1', 'a1', r('cpus:2;mem:512'), 1);
  a.recoverResources('f1', 'a2', r('cpus:2;mem:512'), 1);
  expectAllocations(t, a.allocate(2), [['f1', 'a2', r('cpus:2;mem:512')]]);
  expectAllocations(t, a.allocate(3, 'changed'), []);
  a.activateAgent('a1');
  expectAllocations(t, a.allocate(4, 'changed'), [['f1', 'a1', r('cpus:2;mem:512')]]);
});

test('unknown ids are reported with their own codes', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addAgent('a1', r('cpus:1;mem:64'));
  t.is(t.throws<AllocatorError>(() => a.addFramework('f1', FW('r')))?.code, 'EXISTS');
  t.is(t.throws<AllocatorError>(() => a.addAgent('a1', r('cpus:1')))?.code, 'EXISTS');
  for (const f of [() => a.suppress('x'), () => a.revive('x'), () => a.activateFramework('x'), () => a.deactivateFramework('x')]) {
    t.is(t.throws<AllocatorError>(f)?.code, 'UNKNOWN_FRAMEWORK');
  }
  for (const f of [() => a.activateAgent('x'), () => a.deactivateAgent('x'), () => a.updateAgent('x', r('cpus:1')), () => a.free('x')]) {
    t.is(t.throws<AllocatorError>(f)?.code, 'UNKNOWN_AGENT');
  }
  // Removing what is not there is not an error.
  t.notThrows(() => a.removeFramework('x'));
  t.notThrows(() => a.removeAgent('x'));
});

// ---------------------------------------------------------------------------------------------
// Removal, agents re-registering, failover

test('removeFramework returns what it held to the agents; it is re-offered', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.addAgent('a2', r('cpus:2;mem:1024'));
  a.allocate(0);
  a.recoverResources('f2', 'a2', r('cpus:2;mem:1024'), 1, 60_000); // f2 filters a2
  expectAllocations(t, a.allocate(2), [['f1', 'a2', r('cpus:2;mem:1024')]]);
  t.deepEqual(a.stats(), { agents: 2, frameworks: 2, roles: 1, filters: 1, allocationRuns: 2 });

  a.removeFramework('f1');
  expectResources(t, a.free('a1'), r('cpus:2;mem:1024'));
  expectResources(t, a.free('a2'), r('cpus:2;mem:1024'));
  expectResources(t, a.allocation('f1', 'a1'), Resources.EMPTY);
  t.is(a.stats().frameworks, 1);
  // f2 gets a1; a2 is still filtered for f2.
  expectAllocations(t, a.allocate(3), [['f2', 'a1', r('cpus:2;mem:1024')]]);
  a.removeFramework('f2');
  t.deepEqual(a.stats(), { agents: 2, frameworks: 0, roles: 0, filters: 0, allocationRuns: 3 });
  // The same id may come back; it starts with nothing and no filters.
  a.addFramework('f2', FW('r'));
  t.is(a.frameworkShare('f2'), 0);
  expectAllocations(t, a.allocate(4), [
    ['f2', 'a1', r('cpus:2;mem:1024')],
    ['f2', 'a2', r('cpus:2;mem:1024')],
  ]);
});

test('removeAgent drops its allocations and its part of the cluster total', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.addAgent('a2', r('cpus:2;mem:1024'));
  a.addAgent('a3', r('cpus:4;mem:2048'));
  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', r('cpus:2;mem:1024')],
    ['f2', 'a2', r('cpus:2;mem:1024')],
    ['f1', 'a3', r('cpus:4;mem:2048')], // tie at 1/4 each: f1
  ]);
  a.recoverResources('f1', 'a1', r('cpus:2;mem:1024'), 1, 10_000);
  a.removeAgent('a3');
  expectResources(t, a.allocation('f1', 'a3'), Resources.EMPTY);
  t.is(a.frameworkShare('f1'), 0);
  t.is(a.frameworkShare('f2'), 0.5);
  t.is(a.stats().agents, 2);
  t.is(a.stats().filters, 1);
  // a1 is filtered for f1: it goes to f2.
  expectAllocations(t, a.allocate(2), [['f2', 'a1', r('cpus:2;mem:1024')]]);
  a.removeAgent('a1');
  t.is(a.stats().filters, 0);
  t.is(a.frameworkShare('f2'), 1);
  t.is(t.throws<AllocatorError>(() => a.free('a1'))?.code, 'UNKNOWN_AGENT');
});

test('agents are walked in the order they were added, also after one in the middle is removed', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  for (const id of ['a1', 'a2', 'a3', 'a4']) a.addAgent(id, r('cpus:1;mem:512'));
  a.removeAgent('a2');
  a.addAgent('a0', r('cpus:1;mem:512'));
  const one = r('cpus:1;mem:512');
  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', one],
    ['f2', 'a3', one],
    ['f1', 'a4', one],
    ['f2', 'a0', one],
  ]);
});

test('an agent re-registering with used resources: they are counted and the rest is offered', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:4;mem:4096'), new Map([['f1', r('cpus:1;mem:256')]]));
  a.addAgent('a2', r('cpus:4;mem:4096'));
  expectResources(t, a.allocation('f1', 'a1'), r('cpus:1;mem:256'));
  t.is(a.frameworkShare('f1'), 1 / 8);
  expectAllocations(t, a.allocate(0), [
    ['f2', 'a1', r('cpus:3;mem:3840')], // f2 at 0 is before f1 at 1/8
    ['f1', 'a2', r('cpus:4;mem:4096')], // then f1 at 1/8 is before f2 at 3/8
  ]);
  t.is(a.frameworkShare('f1'), 5 / 8);

  // The agent goes away and comes back with what is still running (f1's task only).
  a.removeAgent('a1');
  t.is(a.frameworkShare('f2'), 0);
  a.addAgent('a1', r('cpus:4;mem:4096'), new Map([['f1', r('cpus:1;mem:256')]]));
  t.is(a.frameworkShare('f1'), 5 / 8);
  expectAllocations(t, a.allocate(1), [['f2', 'a1', r('cpus:3;mem:3840')]]);
});

test('orphan allocations: used resources of a framework not yet added count once it is added', (t) => {
  const a = new HierarchicalAllocator();
  // After a master failover the agent re-registers before framework fx does.
  a.addFramework('fy', FW('b'));
  a.addAgent('a1', r('cpus:4;mem:1024'), new Map([['fx', r('cpus:3;mem:768')]]));
  expectResources(t, a.allocation('fx', 'a1'), r('cpus:3;mem:768'));
  expectAllocations(t, a.allocate(0), [['fy', 'a1', r('cpus:1;mem:256')]]);

  a.addFramework('fx', FW('a'));
  a.addAgent('a2', r('cpus:4;mem:1024'));
  // Cluster: cpus 8, mem 2048. fx holds 3/8 (its role too), fy 1/8.
  t.is(a.frameworkShare('fx'), 3 / 8);
  t.is(a.roleShare('a'), 3 / 8);
  t.is(a.roleShare('b'), 1 / 8);
  // Role b is below role a, although 'a' sorts first on a tie.
  expectAllocations(t, a.allocate(1), [['fy', 'a2', r('cpus:4;mem:1024')]]);

  // fx may recover and be removed like any framework.
  a.recoverResources('fx', 'a1', r('cpus:1;mem:256'), 2);
  t.is(a.frameworkShare('fx'), 2 / 8);
  t.is(a.roleShare('a'), 2 / 8);
  a.removeFramework('fx');
  expectResources(t, a.free('a1'), r('cpus:3;mem:768'));
  t.is(a.roleShare('a'), 0);
});

test('orphan allocations may be recovered before their framework is added', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('fy', FW('b'));
  a.addAgent('a1', r('cpus:4;mem:1024'), new Map([['fx', r('cpus:3;mem:768')]]));
  a.recoverResources('fx', 'a1', r('cpus:2;mem:512'), 0, 60_000); // no filter for an unknown framework
  expectAllocations(t, a.allocate(1), [['fy', 'a1', r('cpus:3;mem:768')]]);
  a.addFramework('fx', FW('a'));
  t.is(a.frameworkShare('fx'), 1 / 4);
  t.is(a.roleShare('a'), 1 / 4);
  t.is(a.stats().filters, 0);
});

test("'changed' runs only visit agents whose resources changed since the last run", (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.addAgent('a2', r('cpus:2;mem:1024'));
  expectAllocations(t, a.allocate(0, 'changed'), [
    ['f1', 'a1', r('cpus:2;mem:1024')],
    ['f1', 'a2', r('cpus:2;mem:1024')],
  ]);
  // Both declined with a short filter; a 'changed' run while filtered visits them and clears
  // the changed set.
  a.recoverResources('f1', 'a1', r('cpus:2;mem:1024'), 100, 100);
  a.recoverResources('f1', 'a2', r('cpus:2;mem:1024'), 100, 100);
  expectAllocations(t, a.allocate(150, 'changed'), []);
  // The filters are over but nothing changed: a 'changed' run offers nothing, a full run does.
  expectAllocations(t, a.allocate(300, 'changed'), []);
  expectAllocations(t, a.allocate(300, 'all'), [
    ['f1', 'a1', r('cpus:2;mem:1024')],
    ['f1', 'a2', r('cpus:2;mem:1024')],
  ]);
  // a1 and a2 get resources back (a1 with a filter that a revive then clears), a3 comes.
  a.recoverResources('f1', 'a1', r('cpus:1'), 400, 1_000_000);
  a.recoverResources('f1', 'a2', r('cpus:1'), 400);
  a.addAgent('a3', r('cpus:1;mem:512'));
  a.revive('f1');
  expectAllocations(t, a.allocate(500, 'changed'), [
    ['f1', 'a1', r('cpus:1')],
    ['f1', 'a2', r('cpus:1')],
    ['f1', 'a3', r('cpus:1;mem:512')],
  ]);
  // Nothing changed since.
  a.recoverResources('f1', 'a3', r('cpus:1;mem:512'), 600, 1000);
  expectAllocations(t, a.allocate(700, 'changed'), []);
  a.addAgent('a4', r('cpus:1;mem:512'));
  expectAllocations(t, a.allocate(800, 'changed'), [['f1', 'a4', r('cpus:1;mem:512')]]);
});

test("agents added while no framework can be offered are still 'changed' when one comes", (t) => {
  const a = new HierarchicalAllocator();
  a.addAgent('a1', r('cpus:2;mem:1024'));
  expectAllocations(t, a.allocate(0, 'changed'), []);
  a.addFramework('f1', FW('r'));
  expectAllocations(t, a.allocate(1, 'changed'), [['f1', 'a1', r('cpus:2;mem:1024')]]);
});

test('updateAgent replaces the total: more is offered, shares follow', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r', true));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.addAgent('a2', r('cpus:2;mem:1024'));
  a.allocate(0);
  t.is(a.frameworkShare('f1'), 1);
  a.updateAgent('a2', r('cpus:6;mem:3072', rev('cpus', 2)));
  t.is(a.frameworkShare('f1'), 0.5);
  expectAllocations(t, a.allocate(1, 'changed'), [
    ['f1', 'a2', r('cpus:4;mem:2048')],
    ['f1', 'a2', Resources.of([rev('cpus', 2)]), true],
  ]);
});

test('updateFramework changes the role: shares move and the new role reservations are offered', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('a'));
  a.addFramework('f2', FW('c'));
  a.addAgent('a1', r('cpus:2;mem:1024'));
  a.addAgent('a2', r('cpus(a):1;mem(a):128;cpus(b):1;mem(b):128'));
  // Total: cpus 4, mem 1280.
  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', r('cpus:2;mem:1024')],
    ['f1', 'a2', r('cpus(a):1;mem(a):128')],
  ]);
  t.is(a.roleShare('a'), 1152 / 1280);
  a.recoverResources('f1', 'a2', r('cpus(a):1;mem(a):128'), 1);

  a.updateFramework('f1', FW('b'));
  t.is(a.roleShare('a'), 0);
  t.is(a.roleShare('b'), 1024 / 1280);
  t.is(a.stats().roles, 2);
  expectAllocations(t, a.allocate(2), [['f1', 'a2', r('cpus(b):1;mem(b):128')]]);
  expectResources(t, a.free('a2'), r('cpus(a):1;mem(a):128'));
});

test('a filter that refused all of an agent stops filtering once the agent has more free, or once the framework changes role', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:4;mem:1024;mem(s):512'));
  // f1 is first: it gets a1's unreserved resources; f2 keeps what it is given later.
  expectAllocations(t, a.allocate(0), [['f1', 'a1', r('cpus:4;mem:1024')]]);
  a.recoverResources('f1', 'a1', r('cpus:4;mem:1024'), 0, 60_000);
  expectAllocations(t, a.allocate(1), [['f2', 'a1', r('cpus:4;mem:1024')]]);
  // f2 declines half with a filter: f1's filter refuses all that is free (cpus:2;mem:512), walk after walk.
  a.recoverResources('f2', 'a1', r('cpus:2;mem:512'), 1, 60_000);
  expectAllocations(t, a.allocate(2), []);
  expectAllocations(t, a.allocate(3), []);
  // f2 gives the rest back without a filter: cpus:4;mem:1024 is free again, which f1 refused and f2 did not.
  a.recoverResources('f2', 'a1', r('cpus:2;mem:512'), 4, 0);
  expectAllocations(t, a.allocate(5), [['f2', 'a1', r('cpus:4;mem:1024')]]);
  // f2 declines all of it: nothing is offered to either.
  a.recoverResources('f2', 'a1', r('cpus:4;mem:1024'), 6, 60_000);
  expectAllocations(t, a.allocate(7), []);
  // f1 moves to role s: it may have s's reservation too, which it never refused.
  a.updateFramework('f1', FW('s'));
  expectAllocations(t, a.allocate(8), [['f1', 'a1', r('cpus:4;mem:1024;mem(s):512')]]);
  // f2's filter expires: a1's unreserved part is f2's again once f1 gives it back.
  a.recoverResources('f1', 'a1', r('cpus:4;mem:1024'), 9, 0);
  expectAllocations(t, a.allocate(60_006), [['f2', 'a1', r('cpus:4;mem:1024')]]);
});
