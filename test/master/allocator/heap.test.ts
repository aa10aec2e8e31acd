/**
 * IndexedHeap: push/remove/update/rebuild keep heap order and every item's index; walk visits
 * items in ascending order and stops when asked. Checked on random operation sequences against
 * a sorted array.
 */
import test from 'ava';
import fc from 'fast-check';
import { IndexedHeap } from '../../../lib/master/allocator/heap.ts';

interface Item {
  heapIndex: number;
  share: number;
  rank: number;
  name: string;
}

/** The heap's order: ascending share, ties by rank (each item's rank is its creation number). */
function less(a: Item, b: Item): boolean {
  return a.share < b.share || (a.share === b.share && a.rank < b.rank);
}

function cmp(a: Item, b: Item): number {
  return less(a, b) ? -1 : less(b, a) ? 1 : 0;
}

let created = 0;

function item(name: string, share: number): Item {
  return { heapIndex: -1, share, rank: created++, name };
}

/** Heap order holds at every node and every item knows its own position. */
function checkHeap(heap: IndexedHeap<Item>): string | undefined {
  const xs = heap.values();
  for (let i = 0; i < xs.length; i++) {
    if (xs[i]!.heapIndex !== i) return `item ${xs[i]!.name} at ${i} says ${xs[i]!.heapIndex}`;
    if (i > 0 && less(xs[i]!, xs[(i - 1) >> 1]!)) return `item at ${i} is less than its parent`;
  }
  return undefined;
}

function walked(heap: IndexedHeap<Item>, stopAfter = Infinity): Item[] {
  const seen: Item[] = [];
  heap.walk(undefined, (_, x) => {
    seen.push(x);
    return seen.length >= stopAfter;
  });
  return seen;
}

test('an empty heap: size 0, no peek, walk visits nothing', (t) => {
  const heap = new IndexedHeap<Item>();
  t.is(heap.size, 0);
  t.is(heap.peek(), undefined);
  t.deepEqual(walked(heap), []);
  const x = item('x', 1);
  t.false(heap.has(x));
  heap.remove(x); // not there: nothing happens
  heap.update(x);
  t.is(heap.size, 0);
});

test('push keeps the least item on top; remove from the middle; update re-sifts', (t) => {
  const heap = new IndexedHeap<Item>();
  const items = [item('a', 5), item('b', 3), item('c', 8), item('d', 1), item('e', 3)];
  for (const x of items) heap.push(x);
  t.is(checkHeap(heap), undefined);
  t.is(heap.peek()!.name, 'd');
  t.deepEqual(
    walked(heap).map((x) => x.name),
    ['d', 'b', 'e', 'a', 'c'],
  );

  heap.remove(items[1]!); // b
  t.false(heap.has(items[1]!));
  t.is(items[1]!.heapIndex, -1);
  t.is(checkHeap(heap), undefined);
  t.deepEqual(
    walked(heap).map((x) => x.name),
    ['d', 'e', 'a', 'c'],
  );

  items[2]!.share = 0; // c becomes the least
  heap.update(items[2]!);
  t.is(heap.peek()!.name, 'c');
  items[3]!.share = 100; // d becomes the greatest
  heap.update(items[3]!);
  t.is(checkHeap(heap), undefined);
  t.deepEqual(
    walked(heap).map((x) => x.name),
    ['c', 'e', 'a', 'd'],
  );
});

test('walk stops as soon as the visitor says so and leaves the heap unchanged', (t) => {
  const heap = new IndexedHeap<Item>();
  for (let i = 0; i < 20; i++) heap.push(item(`i${String(i).padStart(2, '0')}`, (i * 7) % 20));
  const before = heap.values().slice();
  t.deepEqual(
    walked(heap, 3).map((x) => x.share),
    [0, 1, 2],
  );
  t.deepEqual(heap.values(), before);
  t.deepEqual(
    walked(heap, 1).map((x) => x.share),
    [0],
  );
  t.is(walked(heap).length, 20);
});

test('walks of different heaps may nest', (t) => {
  const outer = new IndexedHeap<Item>();
  const inner = new IndexedHeap<Item>();
  for (const k of [3, 1, 2]) outer.push(item(`o${k}`, k));
  for (const k of [9, 7, 8, 6]) inner.push(item(`i${k}`, k));
  const seen: string[] = [];
  outer.walk(undefined, (_, o) => {
    seen.push(o.name);
    inner.walk(undefined, (_, i) => {
      seen.push(i.name);
      return i.share >= 7;
    });
    return false;
  });
  t.deepEqual(seen, ['o1', 'i6', 'i7', 'o2', 'i6', 'i7', 'o3', 'i6', 'i7']);
});

type Op =
  | { op: 'push'; key: number }
  | { op: 'remove'; pick: number }
  | { op: 'update'; pick: number; key: number }
  | { op: 'rebuild'; keys: number[] }
  | { op: 'walk'; stopAfter: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('push' as const), key: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('update' as const), pick: fc.nat(), key: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rebuild' as const), keys: fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 40 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('walk' as const), stopAfter: fc.integer({ min: 1, max: 50 }) }) },
);

test('random push/remove/update/rebuild sequences keep order; walk visits in ascending order', (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
      const heap = new IndexedHeap<Item>();
      const live: Item[] = [];
      let seq = 0;
      for (const o of ops) {
        switch (o.op) {
          case 'push': {
            const x = item(`n${seq++}`, o.key);
            heap.push(x);
            live.push(x);
            break;
          }
          case 'remove': {
            if (live.length === 0) break;
            const [x] = live.splice(o.pick % live.length, 1);
            heap.remove(x!);
            if (heap.has(x!)) return false;
            break;
          }
          case 'update': {
            if (live.length === 0) break;
            const x = live[o.pick % live.length]!;
            x.share = o.key;
            heap.update(x);
            break;
          }
          case 'rebuild': {
            // Many keys change at once, then one rebuild.
            live.forEach((x, i) => {
              if (i < o.keys.length) x.share = o.keys[i]!;
            });
            heap.rebuild();
            break;
          }
          case 'walk': {
            const expected = live.slice().sort(cmp).slice(0, o.stopAfter);
            const got = walked(heap, o.stopAfter);
            if (got.length !== expected.length || got.some((x, i) => x !== expected[i])) {
              throw new Error(`walk ${got.map((x) => x.name)} != ${expected.map((x) => x.name)}`);
            }
            break;
          }
        }
        const bad = checkHeap(heap);
        if (bad) throw new Error(bad);
        if (heap.size !== live.length) throw new Error(`size ${heap.size} != ${live.length}`);
        for (const x of live) if (!heap.has(x)) throw new Error(`${x.name} lost`);
        const top = live.slice().sort(cmp)[0];
        if (heap.peek() !== top) throw new Error('peek is not the least item');
      }
      // A full walk visits every item once, in ascending order.
      const all = walked(heap);
      const sorted = live.slice().sort(cmp);
      return all.length === sorted.length && all.every((x, i) => x === sorted[i]);
    }),
    { numRuns: 300, includeErrorInReport: true },
  );
  t.pass();
});
