/**
 * Property-based laws of the Resources algebra over generated collections that mix scalars with
 * 3-decimal values, ranges, sets, several roles, dynamic reservations (with and without labels),
 * revocable resources, persistent volumes and MOUNT disks.
 */
import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { type Resource, type ReservationInfo, formatResource, isExclusive, resource } from '../../../lib/common/resources/resource.ts';
import { Resources } from '../../../lib/common/resources/resources.ts';
import { coalesceRanges } from '../../../lib/common/resources/values.ts';

const RUNS = { numRuns: 300 };

const roleArb = fc.constantFrom('*', 'ads', 'web');
const reservationArb: fc.Arbitrary<ReservationInfo | undefined> = fc.constantFrom(
  undefined,
  undefined,
  {},
  { principal: 'ops' },
  { principal: 'dev', labels: [{ key: 'team', value: 'x' }] },
  { principal: 'dev', labels: [{ key: 'team', value: 'y' }, { key: 'tier' }] },
  // the same labels in another order: the same reservation
  { principal: 'dev', labels: [{ key: 'tier' }, { key: 'team', value: 'y' }] },
  // one label whose value looks like two labels, and the two labels: different reservations
  { principal: 'dev', labels: [{ key: 'a', value: 'b,c=d' }] },
  {
    principal: 'dev',
    labels: [
      { key: 'a', value: 'b' },
      { key: 'c', value: 'd' },
    ],
  },
);
const extraArb = fc
  .record({ role: roleArb, reservation: reservationArb, revocable: fc.integer({ min: 0, max: 4 }).map((x) => x === 0) })
  .map(({ role, reservation, revocable }) => (role === '*' || reservation === undefined ? { role, revocable } : { role, reservation }));

const scalarArb = fc
  .record({ name: fc.constantFrom('cpus', 'mem', 'gpus', 'disk'), milli: fc.integer({ min: 1, max: 20000 }), extra: extraArb })
  .map(({ name, milli, extra }) => resource(name, milli / 1000, extra));

const rangesArb = fc
  .record({
    spans: fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 25 })), { minLength: 1, maxLength: 4 }),
    extra: extraArb,
  })
  .map(({ spans, extra }) =>
    resource(
      'ports',
      coalesceRanges(spans.map(([b, len]) => ({ begin: b, end: b + len }))).map((r) => [r.begin, r.end] as const),
      extra,
    ),
  );

const setArb = fc
  .record({ items: fc.subarray(['a', 'b', 'c', 'd', 'e', 'f'], { minLength: 1 }), extra: extraArb })
  .map(({ items, extra }) => resource('bugs', items, extra));

const volumeArb = fc
  .record({
    id: fc.constantFrom('v1', 'v2'),
    size: fc.constantFrom(1, 2, 10),
    role: fc.constantFrom('ads', 'web'),
    dynamic: fc.boolean(),
    path: fc.constantFrom('data', 'other'),
  })
  .map(({ id, size, role, dynamic, path }) =>
    resource('disk', size, {
      role,
      ...(dynamic ? { reservation: { principal: 'ops' } } : {}),
      disk: { persistence: { id }, volume: { mode: 'RW', containerPath: path } },
    }),
  );

const mountArb = fc
  .record({ root: fc.constantFrom('/m1', '/m2'), size: fc.constantFrom(100, 200) })
  .map(({ root, size }) => resource('disk', size, { disk: { source: { type: 'MOUNT', root } } }));

const resourceArb: fc.Arbitrary<Resource> = fc.oneof(
  { arbitrary: scalarArb, weight: 5 },
  { arbitrary: rangesArb, weight: 3 },
  { arbitrary: setArb, weight: 2 },
  { arbitrary: volumeArb, weight: 1 },
  { arbitrary: mountArb, weight: 1 },
);

const resourcesArb = fc.array(resourceArb, { maxLength: 12 }).map((xs) => Resources.of(xs));

/** Move every port and set item of `r` out of the range the generators use, so that it overlaps nothing. */
function shifted(res: Resources): Resources {
  return Resources.of(
    res.toArray().map((r) => {
      if (r.ranges) return { ...r, ranges: r.ranges.map((x) => ({ begin: x.begin + 100_000, end: x.end + 100_000 })) };
      if (r.set) return { ...r, set: r.set.map((x) => `z-${x}`) };
      return r;
    }),
  );
}

/** An identity computed independently of the library: what Mesos merges. */
function identity(r: Resource): string {
  const labels = (r.reservation?.labels ?? []).map((l) => [l.key, l.value ?? '']).sort();
  return JSON.stringify([
    r.name,
    r.type,
    r.role,
    r.reservation ? [r.reservation.principal ?? null, labels] : null,
    r.disk ? [r.disk.source ?? null, r.disk.persistence?.id ?? null] : null,
    r.revocable === true,
  ]);
}

/** The representation invariants every collection must keep. */
function assertWellFormed(res: Resources): void {
  const seen = new Set<string>();
  for (const r of res) {
    const what = JSON.stringify(r);
    switch (r.type) {
      case 'SCALAR': {
        const v = r.scalar!;
        assert.ok(v > 0, `scalar must be > 0: ${what}`);
        assert.equal(Math.round(v * 1000) / 1000, v, `scalar must have at most 3 decimals: ${what}`);
        break;
      }
      case 'RANGES': {
        const rs = r.ranges!;
        assert.ok(rs.length > 0, `ranges must not be empty: ${what}`);
        rs.forEach((x, i) => {
          assert.ok(Number.isSafeInteger(x.begin) && x.begin >= 0 && x.begin <= x.end, `bad range: ${what}`);
          if (i > 0) assert.ok(rs[i - 1]!.end + 1 < x.begin, `ranges must be sorted, not overlapping, not adjacent: ${what}`);
        });
        break;
      }
      case 'SET': {
        const s = r.set!;
        assert.ok(s.length > 0, `set must not be empty: ${what}`);
        s.forEach((x, i) => {
          if (i > 0) assert.ok(s[i - 1]! < x, `set must be sorted and unique: ${what}`);
        });
        break;
      }
    }
    if (!isExclusive(r)) {
      const key = identity(r);
      assert.ok(!seen.has(key), `two mergeable entries were left apart: ${res.toString()}`);
      seen.add(key);
    }
  }
}

function assertEquals(a: Resources, b: Resources, what: string): void {
  assert.ok(a.equals(b), `${what}\n  left:  ${a.toString()}\n  right: ${b.toString()}`);
}

test('(a + b) − b equals a when b shares no ports or set items with a', (t) => {
  fc.assert(
    fc.property(resourcesArb, resourcesArb, (a, b0) => {
      const b = shifted(b0);
      assertEquals(a.plus(b).minus(b), a, '(a + b) − b');
    }),
    RUNS,
  );
  t.pass();
});

test('a + b contains a and contains b', (t) => {
  fc.assert(
    fc.property(resourcesArb, resourcesArb, (a, b) => {
      const sum = a.plus(b);
      assert.ok(sum.contains(a), `a + b ⊇ a: ${sum} vs ${a}`);
      assert.ok(sum.contains(b), `a + b ⊇ b: ${sum} vs ${b}`);
    }),
    RUNS,
  );
  t.pass();
});

test('plus is commutative and associative', (t) => {
  fc.assert(
    fc.property(resourcesArb, resourcesArb, resourcesArb, (a, b, c) => {
      assertEquals(a.plus(b), b.plus(a), 'a + b = b + a');
      assertEquals(a.plus(b).plus(c), a.plus(b.plus(c)), '(a + b) + c = a + (b + c)');
    }),
    RUNS,
  );
  t.pass();
});

test('a − a is empty and a − b is contained in a', (t) => {
  fc.assert(
    fc.property(resourcesArb, resourcesArb, (a, b) => {
      assert.ok(a.minus(a).isEmpty(), `a − a: ${a.minus(a)}`);
      assert.ok(a.contains(a.minus(b)), `a ⊇ a − b: ${a} vs ${a.minus(b)}`);
      assert.ok(a.plus(b).minus(a.plus(b)).isEmpty());
    }),
    RUNS,
  );
  t.pass();
});

/** Pairs where b is often (but not always) inside a: unrelated, a − c, or some of a's entries. */
const containsPairArb: fc.Arbitrary<[Resources, Resources]> = fc.oneof(
  fc.tuple(resourcesArb, resourcesArb),
  fc.tuple(resourcesArb, resourcesArb).map(([a, c]): [Resources, Resources] => [a, a.minus(c)]),
  resourcesArb.chain((a) => fc.subarray(a.toArray()).map((xs): [Resources, Resources] => [a, Resources.of(xs)])),
  fc.tuple(resourcesArb, resourceArb).map(([a, r]): [Resources, Resources] => [a, a.plus(r)]),
);

test('contains agrees with its cumulative definition and with (a − b) + b = a', (t) => {
  let yes = 0;
  let no = 0;
  fc.assert(
    fc.property(containsPairArb, ([a, b]) => {
      let remaining = a;
      let expected = true;
      for (const r of b) {
        if (!remaining.contains(r)) {
          expected = false;
          break;
        }
        remaining = remaining.minus(r);
      }
      const got = a.contains(b);
      assert.equal(got, expected, `contains(${a}, ${b})`);
      assert.equal(got, a.minus(b).plus(b).equals(a), `contains vs (a − b) + b for ${a} and ${b}`);
      if (!b.isEmpty()) {
        if (got) yes++;
        else no++;
      }
    }),
    RUNS,
  );
  // Both answers must be common for this property to mean something.
  t.true(yes > RUNS.numRuns / 10 && no > RUNS.numRuns / 10, `contains was true ${yes} and false ${no} times`);
});

test('equals is reflexive and symmetric, and agrees with the order of entries not mattering', (t) => {
  fc.assert(
    fc.property(resourcesArb, resourcesArb, fc.array(resourceArb, { maxLength: 10 }), (a, b, xs) => {
      assert.ok(a.equals(a));
      assert.ok(a.equals(Resources.of(a.toArray().reverse())));
      assert.ok(Resources.of(xs).equals(Resources.of(xs.slice().reverse())), 'building in another order');
      assert.equal(a.equals(b), b.equals(a));
    }),
    RUNS,
  );
  t.pass();
});

test('after any sequence of plus and minus, every collection is well formed', (t) => {
  const stepArb = fc.tuple(fc.boolean(), fc.oneof(resourcesArb, resourceArb));
  fc.assert(
    fc.property(resourcesArb, fc.array(stepArb, { maxLength: 12 }), (start, steps) => {
      let cur = start;
      assertWellFormed(cur);
      for (const [add, x] of steps) {
        cur = add ? cur.plus(x) : cur.minus(x);
        assertWellFormed(cur);
      }
      assertWellFormed(cur.flatten());
      assertWellFormed(cur.flatten('ads', { principal: 'ops' }));
      assertWellFormed(cur.nonRevocable());
    }),
    RUNS,
  );
  t.pass();
});

test('flatten keeps every scalar total, port and set item', (t) => {
  fc.assert(
    fc.property(resourcesArb, (a) => {
      const flat = a.flatten();
      for (const name of ['cpus', 'mem', 'gpus', 'disk']) assert.equal(flat.scalar(name), a.scalar(name));
      assert.deepEqual(flat.ranges('ports'), a.ranges('ports'));
      assert.deepEqual(flat.set('bugs'), a.set('bugs'));
      assert.ok(flat.reserved().isEmpty());
    }),
    RUNS,
  );
  t.pass();
});

// A model of a collection by the independent identity: scalar totals in thousandths, ranges as
// sets of ports, sets as sets of items, and exclusive entries as a multiset.
type Model = Map<string, { milli: number; points: Set<number>; items: Set<string>; copies: number }>;

function modelOf(res: Iterable<Resource>): Model {
  const m: Model = new Map();
  for (const r of res) add(m, r);
  return m;
}

function slot(m: Model, key: string) {
  let e = m.get(key);
  if (!e) m.set(key, (e = { milli: 0, points: new Set(), items: new Set(), copies: 0 }));
  return e;
}

function add(m: Model, r: Resource): void {
  if (isExclusive(r)) {
    slot(m, `${identity(r)}#${Math.round(r.scalar! * 1000)}`).copies++;
    return;
  }
  const e = slot(m, identity(r));
  if (r.scalar !== undefined) e.milli += Math.round(r.scalar * 1000);
  for (const x of r.ranges ?? []) for (let p = x.begin; p <= x.end; p++) e.points.add(p);
  for (const x of r.set ?? []) e.items.add(x);
}

function subtract(m: Model, r: Resource): void {
  if (isExclusive(r)) {
    const e = m.get(`${identity(r)}#${Math.round(r.scalar! * 1000)}`);
    if (e && e.copies > 0) e.copies--;
    return;
  }
  const e = m.get(identity(r));
  if (!e) return;
  if (r.scalar !== undefined) e.milli = Math.max(0, e.milli - Math.round(r.scalar * 1000));
  for (const x of r.ranges ?? []) for (let p = x.begin; p <= x.end; p++) e.points.delete(p);
  for (const x of r.set ?? []) e.items.delete(x);
}

function normal(m: Model): string[] {
  const out: string[] = [];
  for (const [k, e] of m) {
    if (e.milli > 0) out.push(`${k} ${e.milli}`);
    if (e.points.size > 0) out.push(`${k} [${[...e.points].sort((x, y) => x - y).join(',')}]`);
    if (e.items.size > 0) out.push(`${k} {${[...e.items].sort().join(',')}}`);
    if (e.copies > 0) out.push(`${k} x${e.copies}`);
  }
  return out.sort();
}

test('plus and minus agree with a per-identity model of the values', (t) => {
  fc.assert(
    fc.property(resourcesArb, resourcesArb, (a, b) => {
      const sum = modelOf(a);
      for (const r of b) add(sum, r);
      assert.deepEqual(normal(modelOf(a.plus(b))), normal(sum), `a + b for ${a} and ${b}`);
      const diff = modelOf(a);
      for (const r of b) subtract(diff, r);
      assert.deepEqual(normal(modelOf(a.minus(b))), normal(diff), `a − b for ${a} and ${b}`);
    }),
    RUNS,
  );
  t.pass();
});

/** Whether model `a` holds everything model `b` holds. */
function modelContains(a: Model, b: Model): boolean {
  for (const [k, e] of b) {
    const have = a.get(k);
    if (e.milli > (have?.milli ?? 0) || e.copies > (have?.copies ?? 0)) return false;
    for (const p of e.points) if (!have?.points.has(p)) return false;
    for (const x of e.items) if (!have?.items.has(x)) return false;
  }
  return true;
}

test('contains and equals agree with the per-identity model', (t) => {
  let yes = 0;
  fc.assert(
    fc.property(containsPairArb, ([a, b]) => {
      const expected = modelContains(modelOf(a), modelOf(b));
      assert.equal(a.contains(b), expected, `contains(${a}, ${b})`);
      assert.equal(a.equals(b), expected && modelContains(modelOf(b), modelOf(a)), `equals(${a}, ${b})`);
      for (const r of b) assert.equal(a.contains(r), modelContains(modelOf(a), modelOf([r])), `contains(${a}, ${formatResource(r)})`);
      if (expected && !b.isEmpty()) yes++;
    }),
    RUNS,
  );
  t.true(yes > RUNS.numRuns / 10, `contains held ${yes} times`);
});
