/** Shared helpers for the allocator tests: resource shorthands and exact offer assertions. */
import type { ExecutionContext } from 'ava';
import { type Resource, Resources, parseResourcesText, resource } from '../../../lib/common/resources/index.ts';
import type { Allocation } from '../../../lib/master/allocator/index.ts';

/** Resources from the text form plus any extra resources (dynamic reservations, revocable). */
export function r(text: string, ...extra: Resource[]): Resources {
  return parseResourcesText(text).plus(Resources.of(extra));
}

/** A dynamically reserved scalar. */
export function dyn(name: string, value: number, role: string, principal = 'ops'): Resource {
  return resource(name, value, { role, reservation: { principal } });
}

/** A revocable scalar (unreserved unless a role is given). */
export function rev(name: string, value: number, role?: string): Resource {
  return resource(name, value, role === undefined ? { revocable: true } : { role, revocable: true });
}

export type Expected = readonly [frameworkId: string, agentId: string, resources: Resources, revocable?: boolean];

function show(a: { frameworkId: string; agentId: string; resources: Resources; revocable: boolean }): string {
  return `${a.frameworkId}@${a.agentId}${a.revocable ? ' (revocable)' : ''}: ${a.resources.toString()}`;
}

/** The allocations, in order, are exactly these (resources compared as collections). */
export function expectAllocations(t: ExecutionContext, got: readonly Allocation[], expected: readonly Expected[], what = 'allocations'): void {
  const want = expected.map(([frameworkId, agentId, resources, revocable]) => ({ frameworkId, agentId, resources, revocable: revocable ?? false }));
  const same =
    got.length === want.length &&
    got.every(
      (g, i) =>
        g.frameworkId === want[i]!.frameworkId &&
        g.agentId === want[i]!.agentId &&
        g.revocable === want[i]!.revocable &&
        g.resources.equals(want[i]!.resources),
    );
  t.true(same, `${what}:\n  got      [${got.map(show).join(' | ')}]\n  expected [${want.map(show).join(' | ')}]`);
}

export function expectResources(t: ExecutionContext, got: Resources, expected: Resources, what = 'resources'): void {
  t.true(got.equals(expected), `${what}: got ${got.toString() || '(none)'}, expected ${expected.toString() || '(none)'}`);
}
