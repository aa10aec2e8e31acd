/**
 * What frameworks hold on an agent, as the walk records it: a holder added by a grant is told
 * apart from the others by its framework object, one recorded otherwise (an agent re-registering
 * with tasks, a framework not known yet) by its id. Either way one framework has one holding.
 */
import test from 'ava';
import { Resources } from '../../../lib/common/resources/index.ts';
import { HierarchicalAllocator } from '../../../lib/master/allocator/index.ts';
import { dyn, expectAllocations, expectResources, r } from './helpers.ts';

const FW = (role: string) => ({ role, revocable: false });

test('two holders of one agent (the unreserved part, a reservation); one removed and added again with its id holds its grant once', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r1'));
  a.addFramework('f2', FW('r2'));
  const total = r('cpus:4;mem:1024', dyn('cpus', 1, 'r2'), dyn('mem', 128, 'r2'));
  a.addAgent('a1', total);
  expectAllocations(t, a.allocate(0), [
    ['f1', 'a1', r('cpus:4;mem:1024')],
    ['f2', 'a1', r('', dyn('cpus', 1, 'r2'), dyn('mem', 128, 'r2'))],
  ]);

  a.removeFramework('f2');
  expectResources(t, a.free('a1'), r('', dyn('cpus', 1, 'r2'), dyn('mem', 128, 'r2')), 'free after f2 left');
  a.addFramework('f2', FW('r2'));
  expectAllocations(t, a.allocate(1), [['f2', 'a1', r('', dyn('cpus', 1, 'r2'), dyn('mem', 128, 'r2'))]]);
  expectResources(t, a.allocation('f2', 'a1'), r('', dyn('cpus', 1, 'r2'), dyn('mem', 128, 'r2')), 'f2 holds its reservation once');
  expectResources(t, a.allocation('f1', 'a1'), r('cpus:4;mem:1024'));

  // A second grant to a holder adds to its holding: f1 gives back part, which goes to the
  // role with the smaller share, r2, whose f2 (added again) then holds both parts as one.
  a.recoverResources('f1', 'a1', r('cpus:1;mem:256'), 2);
  expectAllocations(t, a.allocate(3), [['f2', 'a1', r('cpus:1;mem:256')]]);
  const f2holds = r('cpus:1;mem:256', dyn('cpus', 1, 'r2'), dyn('mem', 128, 'r2'));
  expectResources(t, a.allocation('f2', 'a1'), f2holds);
  expectResources(t, a.allocation('f1', 'a1'), r('cpus:3;mem:768'));

  a.recoverResources('f1', 'a1', r('cpus:3;mem:768'), 4);
  a.recoverResources('f2', 'a1', f2holds, 4);
  expectResources(t, a.free('a1'), total, 'everything free again');
  expectResources(t, a.allocation('f2', 'a1'), Resources.EMPTY);
});

test('an agent re-registering with a framework using part of it: a grant to that framework joins the same holding', (t) => {
  const a = new HierarchicalAllocator();
  a.addFramework('f1', FW('r'));
  a.addFramework('f2', FW('r'));
  a.addAgent('a1', r('cpus:4;mem:1024'), new Map([['f1', r('cpus:1;mem:256')]]));
  // f2 holds nothing and comes first; then f1's holding grows by the next grant on a1.
  expectAllocations(t, a.allocate(0), [['f2', 'a1', r('cpus:3;mem:768')]]);
  a.recoverResources('f2', 'a1', r('cpus:3;mem:768'), 1, 10_000);
  expectAllocations(t, a.allocate(2), [['f1', 'a1', r('cpus:3;mem:768')]]);
  expectResources(t, a.allocation('f1', 'a1'), r('cpus:4;mem:1024'));
  // One holding: all of it can be given back at once.
  a.recoverResources('f1', 'a1', r('cpus:4;mem:1024'), 3);
  expectResources(t, a.free('a1'), r('cpus:4;mem:1024'));
});
