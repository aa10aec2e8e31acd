/**
 * Ties of share are broken by name (frameworks by id, roles by name), as JavaScript orders
 * strings, whatever order the names were added and removed in. The allocator compares ranks
 * kept by NameOrder (and copied into its heaps); these tests check the ranks and the offers
 * that follow from them.
 */
import test from 'ava';
import fc from 'fast-check';
import { HierarchicalAllocator } from '../../../lib/master/allocator/index.ts';
import { NameOrder } from '../../../lib/master/allocator/name_order.ts';
import { expectAllocations, r } from './helpers.ts';

const FW = (role: string) => ({ role, revocable: false });

test('NameOrder: ranks follow the names in string order through any adds and removes', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.string({ maxLength: 4 })), { maxLength: 80 }), (ops) => {
      let calls = 0;
      let changes = 0;
      const order = new NameOrder<{ name: string; rank: number }>(() => calls++);
      const live = new Map<string, { name: string; rank: number }>();
      for (const [add, name] of ops) {
        const known = live.get(name);
        if (add && !known) {
          const item = { name, rank: -1 };
          order.add(item);
          live.set(name, item);
          changes++;
        } else if (!add && known) {
          order.remove(known);
          live.delete(name);
          changes++;
          if (known.rank !== -1) return false;
        }
      }
      const items = [...live.values()];
      const byName = items.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const byRank = items.slice().sort((a, b) => a.rank - b.rank);
      return byName.every((x, i) => x === byRank[i]) && new Set(items.map((x) => x.rank)).size === items.length && calls === changes;
    }),
  );
  t.pass();
});

test('frameworks with equal shares are offered in id order, also ids added later that sort between', (t) => {
  const a = new HierarchicalAllocator();
  // Added out of order; more agents than frameworks so every framework is offered once.
  for (const id of ['f4', 'f2']) a.addFramework(id, FW('r'));
  for (let i = 0; i < 4; i++) a.addAgent(`a${i}`, r('cpus:1;mem:128'));
  expectAllocations(t, a.allocate(0), [
    ['f2', 'a0', r('cpus:1;mem:128')],
    ['f4', 'a1', r('cpus:1;mem:128')],
    ['f2', 'a2', r('cpus:1;mem:128')],
    ['f4', 'a3', r('cpus:1;mem:128')],
  ]);
  // Each holds two agents (equal shares). Newcomers hold nothing and come first, by id; the
  // old ones keep their tie order among themselves.
  for (const id of ['f3', 'f1', 'f5']) a.addFramework(id, FW('r'));
  for (let i = 4; i < 10; i++) a.addAgent(`a${i}`, r('cpus:1;mem:128'));
  expectAllocations(t, a.allocate(1), [
    ['f1', 'a4', r('cpus:1;mem:128')],
    ['f3', 'a5', r('cpus:1;mem:128')],
    ['f5', 'a6', r('cpus:1;mem:128')],
    ['f1', 'a7', r('cpus:1;mem:128')],
    ['f3', 'a8', r('cpus:1;mem:128')],
    ['f5', 'a9', r('cpus:1;mem:128')],
  ]);
  // Removing one renumbers the others: the order stays by id. f1's agents come back; the new
  // f0 takes them and, tied with the others at two agents each, comes first by id again.
  a.removeFramework('f1');
  for (let i = 10; i < 14; i++) a.addAgent(`a${i}`, r('cpus:1;mem:128'));
  a.addFramework('f0', FW('r'));
  expectAllocations(t, a.allocate(2), [
    ['f0', 'a4', r('cpus:1;mem:128')],
    ['f0', 'a7', r('cpus:1;mem:128')],
    ['f0', 'a10', r('cpus:1;mem:128')],
    ['f2', 'a11', r('cpus:1;mem:128')],
    ['f3', 'a12', r('cpus:1;mem:128')],
    ['f4', 'a13', r('cpus:1;mem:128')],
  ]);
});

test('roles with equal shares are offered in name order, also roles that come, go and come back', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('x', FW('rc'));
  a.addFramework('y', FW('ra'));
  a.addAgent('a0', r('cpus:1;mem:128'));
  a.addAgent('a1', r('cpus:1;mem:128'));
  expectAllocations(t, a.allocate(0), [
    ['y', 'a0', r('cpus:1;mem:128')],
    ['x', 'a1', r('cpus:1;mem:128')],
  ]);
  // Role rb appears (nothing held: first), then ra goes with its framework and comes back empty.
  a.addFramework('z', FW('rb'));
  a.removeFramework('y');
  a.addFramework('w', FW('ra'));
  for (let i = 2; i < 6; i++) a.addAgent(`a${i}`, r('cpus:1;mem:128'));
  expectAllocations(t, a.allocate(1), [
    // a0 came back free when y left: ra and rb hold nothing, ra first by name; then each of
    // the three holds one agent and they take turns in name order.
    ['w', 'a0', r('cpus:1;mem:128')],
    ['z', 'a2', r('cpus:1;mem:128')],
    ['w', 'a3', r('cpus:1;mem:128')],
    ['z', 'a4', r('cpus:1;mem:128')],
    ['x', 'a5', r('cpus:1;mem:128')],
  ]);
});
