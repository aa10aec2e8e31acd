/**
 * IndexedHeap.increased (the allocator's walk: shares only grow): after any items' keys grow
 * and each is reported, the heap is in order and walk visits items in ascending order.
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

/** The heap's order: ascending share, ties by rank. */
const less = (a: Item, b: Item): boolean => a.share < b.share || (a.share === b.share && a.rank < b.rank);

test('keys that grow, each reported with increased(): order and positions hold; walk is ascending', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 60 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 10 })), { maxLength: 100 }),
      (keys, grows) => {
        const heap = new IndexedHeap<Item>();
        const items = keys.map((share, i) => ({ heapIndex: -1, share, rank: i, name: `i${String(i).padStart(3, '0')}` }));
        for (const it of items) heap.push(it);
        for (const [pick, by] of grows) {
          const it = items[pick % items.length]!;
          it.share += by;
          heap.increased(it);
        }
        const xs = heap.values();
        xs.forEach((x, i) => {
          if (x.heapIndex !== i) throw new Error(`${x.name} at ${i} says ${x.heapIndex}`);
          if (i > 0 && less(x, xs[(i - 1) >> 1]!)) throw new Error(`${x.name} is less than its parent`);
        });
        const seen: Item[] = [];
        heap.walk(undefined, (_, x) => {
          seen.push(x);
          return false;
        });
        const sorted = [...items].sort((a, b) => (less(a, b) ? -1 : less(b, a) ? 1 : 0));
        if (seen.map((x) => x.name).join() !== sorted.map((x) => x.name).join()) throw new Error('walk order');
      },
    ),
  );
  t.pass();
});
