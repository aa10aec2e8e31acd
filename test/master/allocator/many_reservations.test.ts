/**
 * An agent with reservations for more roles than the allocator keeps taken marks for in one
 * integer (30), two frameworks per role: every reservation is offered once, to its role, and
 * one given back is offered to its role again.
 */
import test from 'ava';
import { Resources, resource } from '../../../lib/common/resources/index.ts';
import { HierarchicalAllocator } from '../../../lib/master/allocator/index.ts';
import { expectResources, r } from './helpers.ts';

const ROLES = 40;
const role = (i: number): string => `role${i}`;
const reserved = (i: number): Resources =>
  Resources.of([
    resource('cpus', 1, { role: role(i), reservation: { principal: 'ops' } }),
    resource('mem', 64, { role: role(i), reservation: { principal: 'ops' } }),
  ]);

test(`an agent with reservations for ${ROLES} roles: each role's framework gets its reservation once; one given back is offered again`, (t) => {
  const a = new HierarchicalAllocator();
  let total = r('cpus:1;mem:64');
  for (let i = 0; i < ROLES; i++) {
    a.addFramework(`f${i}`, { role: role(i), revocable: false });
    a.addFramework(`g${i}`, { role: role(i), revocable: false });
    total = total.plus(reserved(i));
  }
  a.addAgent('a1', total);
  const first = a.allocate(0);
  // The unreserved part goes with the reservation of the first role in share order (all 0: by name).
  t.is(first.length, ROLES);
  for (let i = 0; i < ROLES; i++) {
    // Equal shares: the first by name, f<i>, gets it; g<i> nothing.
    const got = first.filter((x) => x.frameworkId === `f${i}` || x.frameworkId === `g${i}`);
    t.is(got.length, 1, `${role(i)}'s reservation is offered once`);
    t.is(got[0]!.frameworkId, `f${i}`);
    t.true(got[0]!.resources.contains(reserved(i)), `f${i} gets ${role(i)}'s reservation`);
    expectResources(t, a.allocation(`f${i}`, 'a1'), got[0]!.resources);
  }
  expectResources(t, a.free('a1'), Resources.EMPTY);
  t.deepEqual(a.allocate(1), []);

  // Give back role35's and role3's reservations: offered again, each once, to f<i> again (it
  // holds nothing now, as g<i>: the first by name).
  for (const i of [35, 3]) a.recoverResources(`f${i}`, 'a1', reserved(i), 1);
  const again = a.allocate(2);
  t.deepEqual(again.map((x) => x.frameworkId).sort(), ['f3', 'f35']);
  for (const x of again) expectResources(t, x.resources, reserved(Number(x.frameworkId.slice(1))));
  t.deepEqual(a.allocate(3), []);
});
