import test from 'ava';
import { type Resource, type ReservationInfo, resource, validateResource } from '../../../lib/common/resources/resource.ts';
import { Resources } from '../../../lib/common/resources/resources.ts';
import { parseResourcesText } from '../../../lib/common/resources/text.ts';

const R = (...items: Resource[]) => Resources.of(items);
const P = (text: string) => parseResourcesText(text);
const ops: ReservationInfo = { principal: 'ops' };
const dyn = (name: string, v: number, role = 'ads', reservation: ReservationInfo = ops) => resource(name, v, { role, reservation });
const vol = (id: string, size: number, containerPath = 'data', role = 'ads') =>
  resource('disk', size, { role, reservation: ops, disk: { persistence: { id }, volume: { mode: 'RW', containerPath } } });
const mount = (root: string, size: number) => resource('disk', size, { disk: { source: { type: 'MOUNT', root } } });

// ---------------------------------------------------------------------------------------------
// Building and adding

test('entries with the same identity merge; values add as fixed point', (t) => {
  const r = R(resource('cpus', 0.1), resource('cpus', 0.2), resource('mem', 512), resource('mem', 512));
  t.is(r.size, 2);
  t.is(r.scalar('cpus'), 0.3);
  t.is(r.toArray()[0]!.scalar, 0.3, '0.1 + 0.2 is exactly 0.3');
  t.is(r.scalar('mem'), 1024);
  t.true(R(resource('cpus', 1.5123)).equals(R(resource('cpus', 1.512))));
});

test('ranges union and coalesce, sets union', (t) => {
  const r = R(
    resource('ports', [[1, 10]]),
    resource('ports', [[11, 20]]),
    resource('ports', [
      [15, 30],
      [40, 40],
    ]),
  );
  t.deepEqual(r.toArray()[0]!.ranges, [
    { begin: 1, end: 30 },
    { begin: 40, end: 40 },
  ]);
  const s = R(resource('bugs', ['b', 'c']), resource('bugs', ['a', 'b']));
  t.deepEqual(s.toArray()[0]!.set, ['a', 'b', 'c']);
});

test('entries that differ in role, reservation, labels, disk or revocability stay apart', (t) => {
  const r = R(
    resource('cpus', 1),
    resource('cpus', 1, { role: 'ads' }),
    dyn('cpus', 1),
    dyn('cpus', 1, 'ads', { principal: 'other' }),
    dyn('cpus', 1, 'ads', { principal: 'ops', labels: [{ key: 'k', value: 'v' }] }),
    resource('cpus', 1, { revocable: true }),
  );
  t.is(r.size, 6);
  t.is(r.scalar('cpus'), 6);
});

test('the disk volume is not part of the identity: plain disks with different volumes merge', (t) => {
  // (only persistent volumes and MOUNT disks are exclusive; a PATH source merges by its root)
  const path = (root: string, n: number) => resource('disk', n, { disk: { source: { type: 'PATH', root } } });
  t.is(R(path('/a', 1), path('/a', 2)).size, 1);
  t.is(R(path('/a', 1), path('/b', 2)).size, 2);
});

test('persistent volumes and MOUNT disks never merge, even when identical', (t) => {
  const r = R(vol('v1', 10), vol('v1', 10), vol('v2', 5), mount('/m', 100), mount('/m', 100));
  t.is(r.size, 5);
  t.is(r.scalar('disk'), 225);
  t.is(r.persistentVolumes().size, 3);
});

test('empty values are dropped when building, adding and subtracting', (t) => {
  const empty = validateResource({ name: 'ports', type: 'RANGES', ranges: [] });
  t.true(R(resource('cpus', 0), empty, validateResource({ name: 'bugs', type: 'SET', set: [] })).isEmpty());
  t.is(R(resource('cpus', 1)).plus(resource('mem', 0)).size, 1);
  t.true(
    R(resource('cpus', 1))
      .minus(resource('cpus', 0))
      .equals(R(resource('cpus', 1))),
  );
  t.is(Resources.of([]), Resources.EMPTY);
});

test('plus and minus never mutate their inputs', (t) => {
  const a = P('cpus:2;ports:[1-10]');
  const b = P('cpus:1;ports:[5-5]');
  const before = [a.toString(), b.toString()];
  a.plus(b);
  a.minus(b);
  b.minus(a);
  t.deepEqual([a.toString(), b.toString()], before);
});

// ---------------------------------------------------------------------------------------------
// Subtracting

test('scalar subtraction; going to zero or below removes the entry', (t) => {
  t.is(P('cpus:2;mem:10').minus(P('cpus:0.5')).scalar('cpus'), 1.5);
  t.deepEqual(P('cpus:2;mem:10').minus(P('cpus:2')).names(), ['mem']);
  t.deepEqual(P('cpus:2;mem:10').minus(P('cpus:3')).names(), ['mem']);
  t.is(P('cpus:0.3').minus(P('cpus:0.1')).scalar('cpus'), 0.2);
  t.is(P('cpus:1').minus(P('cpus:0.9995')).scalar('cpus'), 0, '0.9995 rounds to 1');
});

test('range subtraction splits ranges; set subtraction removes items', (t) => {
  const left = P('ports:[1-100]').minus(P('ports:[10-19,50-50]'));
  t.deepEqual(left.ranges('ports'), [
    { begin: 1, end: 9 },
    { begin: 20, end: 49 },
    { begin: 51, end: 100 },
  ]);
  t.true(P('ports:[1-10]').minus(P('ports:[1-10]')).isEmpty());
  t.deepEqual(P('bugs:{a,b,c}').minus(P('bugs:{b,z}')).set('bugs'), ['a', 'c']);
  t.true(P('bugs:{a}').minus(P('bugs:{a}')).isEmpty());
});

test('subtraction only touches the entry with the same identity', (t) => {
  const pool = R(resource('cpus', 4), resource('cpus', 4, { role: 'ads' }), dyn('cpus', 4));
  const after = pool.minus(resource('cpus', 1, { role: 'ads' }));
  t.is(after.reserved('ads').staticallyReserved().scalar('cpus'), 3);
  t.is(after.unreserved().scalar('cpus'), 4);
  t.is(after.dynamicallyReserved().scalar('cpus'), 4);
  t.true(pool.minus(resource('cpus', 1, { role: 'web' })).equals(pool), 'nothing to subtract from: unchanged');
  t.true(pool.minus(resource('cpus', 1, { revocable: true })).equals(pool));
});

test('a persistent volume is subtracted only by an exactly equal resource (volume path ignored)', (t) => {
  const pool = R(vol('v1', 10), resource('disk', 100, { role: 'ads', reservation: ops }));
  t.true(pool.minus(vol('v1', 5)).equals(pool), 'part of a volume cannot be taken');
  t.true(pool.minus(vol('v2', 10)).equals(pool), 'another id is another volume');
  const taken = pool.minus(vol('v1', 10, 'elsewhere'));
  t.is(taken.persistentVolumes().size, 0, 'the container path does not matter');
  t.is(taken.scalar('disk'), 100, 'the reserved plain disk is untouched');
  const twice = R(vol('v1', 10), vol('v1', 10));
  t.is(twice.minus(vol('v1', 10)).size, 1, 'one equal resource removes one copy');
  t.true(
    R(mount('/m', 100))
      .minus(mount('/m', 50))
      .equals(R(mount('/m', 100))),
    'MOUNT disks are taken whole',
  );
  t.true(R(mount('/m', 100)).minus(mount('/m', 100)).isEmpty());
});

// ---------------------------------------------------------------------------------------------
// contains and equals

test('contains: values must be covered per identity', (t) => {
  const pool = P('cpus:4;mem:1024;ports:[31000-32000];bugs:{a,b}');
  t.true(pool.contains(P('cpus:4;mem:1;ports:[31000-31000,32000-32000];bugs:{b}')));
  t.false(pool.contains(P('cpus:4.001')));
  t.false(pool.contains(P('ports:[30999-31000]')));
  t.false(pool.contains(P('bugs:{c}')));
  t.false(pool.contains(P('gpus:1')));
  t.false(pool.contains(P('cpus(ads):1')), 'reserved resources are not in an unreserved pool');
  t.true(pool.contains(Resources.EMPTY));
  t.true(Resources.EMPTY.contains(Resources.EMPTY));
  t.false(Resources.EMPTY.contains(resource('cpus', 0.001)));
  t.true(pool.contains(resource('cpus', 3.9996)), 'compared at 3 decimals');
  t.true(pool.contains(resource('cpus', 0)), 'an empty resource is always contained');
});

test('contains is cumulative over repeated names', (t) => {
  const two = R(resource('cpus', 2));
  t.false(two.contains(R(resource('cpus', 1), resource('cpus', 1.5))));
  t.true(two.contains(R(resource('cpus', 1), resource('cpus', 1))));
  t.false(R(resource('ports', [[1, 10]])).contains(R(resource('ports', [[1, 5]]), resource('ports', [[8, 11]]))));
  t.true(R(vol('v1', 10), vol('v1', 10)).contains(R(vol('v1', 10), vol('v1', 10))));
  t.false(R(vol('v1', 10)).contains(R(vol('v1', 10), vol('v1', 10))), 'each copy of a volume needs its own match');
});

test('contains for persistent volumes needs an exactly equal volume', (t) => {
  const pool = R(vol('v1', 10), dyn('disk', 100));
  t.true(pool.contains(vol('v1', 10)));
  t.true(pool.contains(vol('v1', 10, 'other-path')));
  t.false(pool.contains(vol('v1', 5)));
  t.false(pool.contains(vol('v2', 10)));
  t.false(R(dyn('disk', 100)).contains(vol('v1', 10)), 'reserved plain disk is not a volume');
  t.false(R(vol('v1', 10)).contains(dyn('disk', 10)), 'a volume is not plain reserved disk');
});

test('equals is mutual containment and ignores order', (t) => {
  t.true(P('cpus:1;mem:2').equals(P('mem:2;cpus:1')));
  t.false(P('cpus:1;mem:2').equals(P('cpus:1')));
  t.false(P('cpus:1').equals(P('cpus:1;mem:2')));
  t.false(P('cpus:1').equals(P('cpus(ads):1')));
  t.false(R(vol('v1', 10), vol('v1', 10)).equals(R(vol('v1', 10))));
});

// ---------------------------------------------------------------------------------------------
// Filters and views

const mixed = R(
  resource('cpus', 8),
  resource('mem', 1024, { role: 'ads' }),
  dyn('cpus', 2),
  dyn('mem', 64, 'web'),
  resource('cpus', 1.5, { revocable: true }),
  vol('v1', 32),
  resource('ports', [[31000, 32000]]),
);

test('reserved(role), unreserved, static and dynamic reservations', (t) => {
  t.is(mixed.reserved().toString(), 'mem(ads):1024; cpus(ads, ops):2; mem(web, ops):64; disk(ads, ops)[v1:data]:32');
  t.is(mixed.reserved('ads').toString(), 'mem(ads):1024; cpus(ads, ops):2; disk(ads, ops)[v1:data]:32');
  t.is(mixed.reserved('web').toString(), 'mem(web, ops):64');
  t.true(mixed.reserved('*').isEmpty());
  t.true(mixed.reserved('nobody').isEmpty());
  t.is(mixed.unreserved().toString(), 'cpus(*):8; cpus(*){REV}:1.5; ports(*):[31000-32000]');
  t.is(mixed.staticallyReserved().toString(), 'mem(ads):1024');
  t.is(mixed.dynamicallyReserved().toString(), 'cpus(ads, ops):2; mem(web, ops):64; disk(ads, ops)[v1:data]:32');
});

test('revocable, nonRevocable, persistentVolumes, named', (t) => {
  t.is(mixed.revocable().toString(), 'cpus(*){REV}:1.5');
  t.is(mixed.nonRevocable().size, mixed.size - 1);
  t.false(
    mixed
      .nonRevocable()
      .toArray()
      .some((r) => r.revocable),
  );
  t.is(mixed.persistentVolumes().toString(), 'disk(ads, ops)[v1:data]:32');
  t.is(mixed.named('mem').scalar('mem'), 1088);
  t.deepEqual(mixed.names(), ['cpus', 'mem', 'disk', 'ports']);
  t.deepEqual(mixed.roles(), ['ads', 'web']);
  t.true(mixed.revocable().plus(mixed.nonRevocable()).equals(mixed));
  t.true(mixed.reserved().plus(mixed.unreserved()).equals(mixed));
});

test('flatten relabels every entry and merges what becomes identical', (t) => {
  const r = R(resource('cpus', 1), resource('cpus', 2, { role: 'ads' }), dyn('cpus', 3), dyn('mem', 4, 'web'));
  const flat = r.flatten();
  t.is(flat.toString(), 'cpus(*):6; mem(*):4');
  t.true(flat.dynamicallyReserved().isEmpty());
  const toAds = r.flatten('ads', ops);
  t.is(toAds.toString(), 'cpus(ads, ops):6; mem(ads, ops):4');
  t.is(r.flatten('ads').toString(), 'cpus(ads):6; mem(ads):4', 'a role without reservation is a static reservation');
  t.is(r.toString(), 'cpus(*):1; cpus(ads):2; cpus(ads, ops):3; mem(web, ops):4', 'flatten does not mutate');
  t.true(P('cpus:4;mem:10').contains(R(dyn('cpus', 4), dyn('mem', 10)).flatten()), 'the RESERVE check');
});

test('scalar, ranges and set totals across all entries', (t) => {
  const r = R(resource('ports', [[1, 5]]), resource('ports', [[6, 9]], { role: 'ads' }), resource('bugs', ['a']), resource('bugs', ['b'], { revocable: true }));
  t.deepEqual(r.ranges('ports'), [{ begin: 1, end: 9 }]);
  t.deepEqual(r.set('bugs'), ['a', 'b']);
  t.is(mixed.scalar('cpus'), 11.5);
  t.is(mixed.scalar('gpus'), 0);
  t.deepEqual(mixed.ranges('nope'), []);
});

// ---------------------------------------------------------------------------------------------
// Summary JSON and human form

test('summary: cpus, gpus, mem, disk always present', (t) => {
  t.deepEqual(Resources.EMPTY.summary(), { cpus: 0, gpus: 0, mem: 0, disk: 0 });
});

test('summary: totals over roles; ranges and sets as strings; revocable apart', (t) => {
  const s = R(
    resource('cpus', 4),
    resource('cpus', 0.5, { role: 'ads' }),
    dyn('mem', 100),
    resource('ports', [[31000, 31099]]),
    resource('ports', [[32000, 32000]], { role: 'ads' }),
    resource('bugs', ['b', 'a']),
    resource('cpus', 2, { revocable: true }),
    resource('mem', 0.1, { revocable: true }),
    resource('mem', 0.2, { revocable: true, role: 'ads' }),
    vol('v1', 10),
    dyn('disk', 5),
  ).summary();
  t.deepEqual(s, {
    cpus: 4.5,
    gpus: 0,
    mem: 100,
    disk: 15,
    ports: '[31000-31099, 32000-32000]',
    bugs: '{a, b}',
    cpus_revocable: 2,
    mem_revocable: 0.3,
  });
});

test('toString is the human form joined by "; "', (t) => {
  t.is(P('cpus(role):4;mem:1024;ports:[31000-32000]').toString(), 'cpus(role):4; mem(*):1024; ports(*):[31000-32000]');
  t.is(Resources.EMPTY.toString(), '');
  t.is(R(dyn('mem', 1024, 'ads', { principal: 'principal' }), vol('vol-1', 512)).toString(), 'mem(ads, principal):1024; disk(ads, ops)[vol-1:data]:512');
});

test('iteration yields the entries; toArray is a copy', (t) => {
  const r = P('cpus:1;mem:2');
  t.deepEqual(
    [...r].map((x) => x.name),
    ['cpus', 'mem'],
  );
  const arr = r.toArray();
  arr.pop();
  t.is(r.size, 2);
});
