import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import {
  type Range,
  addScalar,
  coalesceRanges,
  formatRanges,
  formatScalar,
  formatSet,
  normalizeSet,
  rangesContain,
  rangesEqual,
  rangesSize,
  roundScalar,
  scalarEquals,
  scalarLessOrEqual,
  setContains,
  subtractRanges,
  subtractScalar,
  subtractSets,
  toMilli,
  unionRanges,
  unionSets,
} from '../../../lib/common/resources/values.ts';

const r = (begin: number, end: number): Range => ({ begin, end });

test('scalars are fixed point with 3 decimals', (t) => {
  t.is(roundScalar(1.5123), 1.512);
  t.is(roundScalar(1.5126), 1.513);
  t.is(roundScalar(0.0004), 0);
  t.is(toMilli(2.5), 2500);
  t.true(scalarEquals(1.5123, 1.512));
  t.false(scalarEquals(1.512, 1.513));
  t.is(addScalar(0.1, 0.2), 0.3);
  t.is(subtractScalar(0.3, 0.1), 0.2);
  t.is(subtractScalar(1, 1.5), -0.5);
  t.true(scalarLessOrEqual(1.0004, 1));
  t.false(scalarLessOrEqual(1.001, 1));
  t.is(formatScalar(1.5123), '1.512');
  t.is(formatScalar(4), '4');
});

test('coalesceRanges sorts and merges overlapping and adjacent intervals', (t) => {
  t.deepEqual(coalesceRanges([]), []);
  t.deepEqual(coalesceRanges([r(1, 10), r(11, 20), r(15, 30)]), [r(1, 30)]);
  t.deepEqual(coalesceRanges([r(20, 30), r(1, 5), r(7, 8)]), [r(1, 5), r(7, 8), r(20, 30)]);
  t.deepEqual(coalesceRanges([r(5, 5), r(4, 4), r(6, 6)]), [r(4, 6)]);
  t.deepEqual(coalesceRanges([r(1, 100), r(3, 4)]), [r(1, 100)]);
  const input = [r(3, 4), r(1, 2)];
  coalesceRanges(input);
  t.deepEqual(input, [r(3, 4), r(1, 2)], 'the input is not mutated');
});

test('subtractRanges splits an interval around the removed part', (t) => {
  t.deepEqual(subtractRanges([r(1, 10)], [r(3, 4), r(6, 7)]), [r(1, 2), r(5, 5), r(8, 10)]);
  t.deepEqual(subtractRanges([r(1, 5), r(8, 12)], [r(4, 9)]), [r(1, 3), r(10, 12)]);
  t.deepEqual(subtractRanges([r(1, 5)], [r(1, 5)]), []);
  t.deepEqual(subtractRanges([r(1, 5)], [r(0, 100)]), []);
  t.deepEqual(subtractRanges([r(1, 5)], [r(6, 9)]), [r(1, 5)]);
  t.deepEqual(subtractRanges([r(10, 20)], [r(1, 2), r(30, 40)]), [r(10, 20)]);
  t.deepEqual(subtractRanges([], [r(1, 2)]), []);
});

test('rangesContain needs every value covered', (t) => {
  t.true(rangesContain([r(1, 10), r(20, 30)], [r(2, 3), r(20, 30)]));
  t.false(rangesContain([r(1, 10), r(20, 30)], [r(9, 21)]));
  t.false(rangesContain([r(1, 10)], [r(0, 1)]));
  t.false(rangesContain([], [r(1, 1)]));
  t.true(rangesContain([r(1, 1)], []));
  t.true(rangesEqual([r(1, 2)], [r(1, 2)]));
  t.false(rangesEqual([r(1, 2)], [r(1, 3)]));
  t.false(rangesEqual([r(1, 2)], [r(1, 2), r(4, 4)]));
  t.is(rangesSize([r(1, 10), r(20, 20)]), 11);
});

test('sets are sorted and distinct', (t) => {
  t.deepEqual(normalizeSet(['b', 'a', 'b']), ['a', 'b']);
  t.deepEqual(unionSets(['a', 'c'], ['b', 'c']), ['a', 'b', 'c']);
  t.deepEqual(subtractSets(['a', 'b', 'c'], ['b', 'x']), ['a', 'c']);
  t.true(setContains(['a', 'b', 'c'], ['c', 'a']));
  t.false(setContains(['a', 'b'], ['a', 'z']));
  t.is(formatSet(['a', 'b']), '{a, b}');
  t.is(formatRanges([r(31000, 31099), r(32000, 32000)]), '[31000-31099, 32000-32000]');
});

// Model-based check of the range functions against plain sets of integers.
const smallRanges = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 8 })), { maxLength: 6 })
  .map((xs) => coalesceRanges(xs.map(([b, len]) => r(b, b + len))));

function points(rs: readonly Range[]): number[] {
  const s = new Set<number>();
  for (const x of rs) for (let i = x.begin; i <= x.end; i++) s.add(i);
  return [...s].sort((x, y) => x - y);
}

const sorted = (xs: Iterable<number>) => [...new Set(xs)].sort((x, y) => x - y);

function wellFormed(rs: readonly Range[]): boolean {
  return rs.every((x, i) => x.begin <= x.end && (i === 0 || rs[i - 1]!.end + 1 < x.begin));
}

test('range union, difference and containment agree with integer sets', (t) => {
  fc.assert(
    fc.property(smallRanges, smallRanges, (a, b) => {
      const pa = points(a);
      const pb = points(b);
      const u = unionRanges(a, b);
      const d = subtractRanges(a, b);
      assert.ok(wellFormed(u), 'union is coalesced');
      assert.ok(wellFormed(d), 'difference is coalesced');
      assert.deepEqual(points(u), sorted([...pa, ...pb]));
      assert.deepEqual(
        points(d),
        pa.filter((x) => !pb.includes(x)),
      );
      assert.equal(
        rangesContain(a, b),
        pb.every((x) => pa.includes(x)),
      );
      assert.equal(rangesSize(u), points(u).length);
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('set union, difference and containment agree with plain sets', (t) => {
  const setArb = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 5 }).map(normalizeSet);
  fc.assert(
    fc.property(setArb, setArb, (a, b) => {
      assert.deepEqual(unionSets(a, b), [...new Set([...a, ...b])].sort());
      assert.deepEqual(
        subtractSets(a, b),
        a.filter((x) => !b.includes(x)),
      );
      assert.equal(
        setContains(a, b),
        b.every((x) => a.includes(x)),
      );
    }),
    { numRuns: 300 },
  );
  t.pass();
});
