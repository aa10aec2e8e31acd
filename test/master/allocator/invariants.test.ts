/**
 * The allocator under random command sequences (fast-check): agents and frameworks come and go,
 * allocation runs at increasing times over all or changed agents, frameworks give back all or
 * part of what they hold with and without filters, suppress, revive, change role, reserve and
 * unreserve, agents and frameworks are (de)activated, weights change.
 *
 * A model tracks what the allocator was told and what it handed out. After every run:
 * - the safety invariants hold, checked directly: nothing beyond what was free, nothing twice,
 *   reservations only to their role, revocable only to capable frameworks and never mixed,
 *   filters honoured until they expire (unless revived), nothing to suppressed or inactive
 *   frameworks or to inactive agents, every allocation allocatable, 'changed' runs only on
 *   agents that changed;
 * - the run equals a plain reference walk of the stated semantics (agents in order; roles by
 *   weighted share, then name; frameworks by share, then id; shares sorted once per agent), so
 *   DRF order, work conservation and the skipping of filtered agents are checked as well;
 * - holdings, free resources and shares the allocator reports match the model.
 */
import test from 'ava';
import fc from 'fast-check';
import { type Resource, Resources, UNRESERVED, identityKey, rangesSize, resource, subtractRanges, toMilli } from '../../../lib/common/resources/index.ts';
import { type Allocation, HierarchicalAllocator } from '../../../lib/master/allocator/index.ts';
import { dyn, r, rev } from './helpers.ts';

const ROLES = ['*', 'r1', 'r2', 'r3'] as const;
const FW_IDS = ['f0', 'f1', 'f2', 'f3', 'f4', 'g0', 'g1'] as const; // g*: often seen first as orphans
const AGENT_IDS = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5'] as const;
const MAX_FILTER_MS = 3000;

const SHAPES: readonly Resources[] = [
  r('cpus:4;mem:2048;ports:[31000-31009]'),
  r('cpus:2;mem:1024;cpus(r1):1;mem(r1):256'),
  r('cpus:1;mem:512', dyn('cpus', 1, 'r2'), dyn('mem', 128, 'r2')),
  r('cpus:2;mem:1024', rev('cpus', 2)),
  r('cpus:0.005;mem:10'),
  r('disk:100;ports:[1-5]'),
  r('cpus(r2):2;mem(r2):512'),
  r('cpus:1;mem:256;bugs:{a,b,c}', rev('cpus', 1, 'r1'), rev('mem', 64)),
  r('cpus:8;mem:8192;disk:1000;cpus(r3):2;ports(r3):[100-199]'),
  r('cpus(r1):1;mem(r1):128', rev('cpus', 2)),
];

type Cmd =
  | { k: 'addAgent'; id: number; shape: number; usedBy: number }
  | { k: 'removeAgent'; pick: number }
  | { k: 'updateAgent'; pick: number }
  | { k: 'activateAgent' | 'deactivateAgent'; pick: number }
  | { k: 'addFramework'; id: number; role: number; revocable: boolean; active: boolean }
  | { k: 'removeFramework' | 'suppress' | 'revive' | 'activate' | 'deactivate'; pick: number }
  | { k: 'updateFramework'; pick: number; role: number; revocable: boolean }
  | { k: 'setWeight'; role: number; weight: number }
  | { k: 'allocate'; dt: number; scope: 'all' | 'changed' }
  | { k: 'recover'; pick: number; part: number; refuse: number }
  | { k: 'reserve'; pick: number };

const nat = fc.nat({ max: 1000 });
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('addAgent' as const), id: nat, shape: nat, usedBy: fc.integer({ min: -3, max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('removeAgent' as const), pick: nat }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('updateAgent' as const), pick: nat }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('activateAgent' as const, 'deactivateAgent' as const), pick: nat }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('addFramework' as const),
      id: nat,
      role: nat,
      revocable: fc.boolean(),
      active: fc.nat({ max: 4 }).map((x) => x > 0),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constantFrom('removeFramework' as const, 'suppress' as const, 'revive' as const, 'activate' as const, 'deactivate' as const),
      pick: nat,
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('updateFramework' as const), pick: nat, role: nat, revocable: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('setWeight' as const), role: nat, weight: fc.constantFrom(0.5, 1, 2, 3) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('allocate' as const),
      dt: fc.constantFrom(0, 1, 100, 500, 1000, 2500, 4000),
      scope: fc.constantFrom('all' as const, 'all' as const, 'changed' as const),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({ k: fc.constant('recover' as const), pick: nat, part: fc.nat({ max: 2 }), refuse: fc.constantFrom(0, 0, 500, 2000, 10_000) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reserve' as const), pick: nat }) },
);

// ---------------------------------------------------------------------------------------------
// The model

interface MFramework {
  role: string;
  revocable: boolean;
  active: boolean;
  suppressed: boolean;
}

interface MFilter {
  readonly refused: Resources;
  readonly expiresAt: number;
}

function allocatable(res: Resources): boolean {
  return res.scalar('cpus') >= 0.01 || res.scalar('mem') >= 32;
}

/** Scalars in thousandths, by name (revocable ones count under their name, as in Mesos's DRF). */
function scalars(res: Resources, into = new Map<string, number>()): Map<string, number> {
  for (const x of res) {
    if (x.type !== 'SCALAR') continue;
    into.set(x.name, (into.get(x.name) ?? 0) + toMilli(x.scalar ?? 0));
  }
  return into;
}

class Model {
  readonly agents = new Map<string, { total: Resources; active: boolean }>();
  readonly fws = new Map<string, MFramework>();
  /** agent → framework → resources held (frameworks may be unknown: orphans). */
  readonly hold = new Map<string, Map<string, Resources>>();
  readonly filters = new Map<string, MFilter[]>();
  readonly weights = new Map<string, number>();
  /** Agents whose resources may have grown since the last run, in the order they changed. */
  readonly changed = new Set<string>();
  now = 0;

  held(agent: string, fw: string): Resources {
    return this.hold.get(agent)?.get(fw) ?? Resources.EMPTY;
  }

  setHeld(agent: string, fw: string, res: Resources): void {
    const m = this.hold.get(agent)!;
    if (res.isEmpty()) m.delete(fw);
    else m.set(fw, res);
  }

  free(agent: string): Resources {
    let free = this.agents.get(agent)!.total;
    for (const h of this.hold.get(agent)!.values()) free = free.minus(h);
    return free;
  }

  touch(agent: string): void {
    this.changed.add(agent);
  }

  filterKey(fw: string, agent: string): string {
    return `${fw} ${agent}`;
  }

  isFiltered(fw: string, agent: string, candidate: Resources, now: number): boolean {
    return (this.filters.get(this.filterKey(fw, agent)) ?? []).some((f) => f.expiresAt > now && f.refused.contains(candidate));
  }

  dropFilters(pred: (fw: string, agent: string) => boolean): void {
    for (const key of Array.from(this.filters.keys())) {
      const [fw, agent] = key.split(' ') as [string, string];
      if (pred(fw, agent)) this.filters.delete(key);
    }
  }

  eligible(fw: MFramework): boolean {
    return fw.active && !fw.suppressed;
  }

  private dominant(alloc: Map<string, number>, total: Map<string, number>): number {
    let share = 0;
    for (const [name, a] of alloc) {
      const t = total.get(name) ?? 0;
      if (t > 0 && a > 0 && a / t > share) share = a / t;
    }
    return share;
  }

  totalVec(): Map<string, number> {
    const total = new Map<string, number>();
    for (const a of this.agents.values()) scalars(a.total, total);
    return total;
  }

  fwVec(id: string): Map<string, number> {
    const v = new Map<string, number>();
    for (const m of this.hold.values()) {
      const h = m.get(id);
      if (h) scalars(h, v);
    }
    return v;
  }

  shares(): { fw: Map<string, number>; role: Map<string, number> } {
    const total = this.totalVec();
    const fw = new Map<string, number>();
    const roleVec = new Map<string, Map<string, number>>();
    for (const [id, f] of this.fws) {
      const v = this.fwVec(id);
      fw.set(id, this.dominant(v, total));
      const rv = roleVec.get(f.role) ?? new Map<string, number>();
      for (const [k, x] of v) rv.set(k, (rv.get(k) ?? 0) + x);
      roleVec.set(f.role, rv);
    }
    const role = new Map<string, number>();
    for (const [name, v] of roleVec) role.set(name, this.dominant(v, total) / (this.weights.get(name) ?? 1));
    return { fw, role };
  }

  /** The stated semantics, walked plainly. Updates the holdings. */
  allocate(now: number, scope: 'all' | 'changed'): Allocation[] {
    const out: Allocation[] = [];
    const eligible = Array.from(this.fws).filter(([, f]) => this.eligible(f));
    if (eligible.length === 0) return out; // the changed set is kept for the next run
    const walk = scope === 'all' ? Array.from(this.agents.keys()) : Array.from(this.changed);
    this.changed.clear();
    for (const agentId of walk) {
      const agent = this.agents.get(agentId)!;
      if (!agent.active) continue;
      // Sorted once per agent.
      const { fw: fwShare, role: roleShare } = this.shares();
      const byShare = (share: Map<string, number>) => (a: string, b: string) => share.get(a)! - share.get(b)! || (a < b ? -1 : a > b ? 1 : 0);
      const roles = Array.from(new Set(eligible.map(([, f]) => f.role))).sort(byShare(roleShare));
      const free = this.free(agentId);
      let unreserved = free.filter((x) => !x.revocable && x.role === UNRESERVED);
      let revocable = free.revocable();
      const reserved = new Map<string, Resources>();
      for (const role of roles) {
        const mine = free.filter((x) => !x.revocable && x.role === role && role !== UNRESERVED);
        if (!mine.isEmpty()) reserved.set(role, mine);
      }
      for (const role of roles) {
        const members = eligible
          .filter(([, f]) => f.role === role)
          .map(([id]) => id)
          .sort(byShare(fwShare));
        for (const id of members) {
          const f = this.fws.get(id)!;
          let main = unreserved.plus(reserved.get(role) ?? Resources.EMPTY);
          let rv = f.revocable ? revocable.filter((x) => x.role === UNRESERVED || x.role === role) : Resources.EMPTY;
          if (!allocatable(main) || this.isFiltered(id, agentId, main, now)) main = Resources.EMPTY;
          if (!allocatable(rv) || this.isFiltered(id, agentId, rv, now)) rv = Resources.EMPTY;
          if (!main.isEmpty()) {
            out.push({ frameworkId: id, agentId, resources: main, revocable: false });
            this.setHeld(agentId, id, this.held(agentId, id).plus(main));
            unreserved = Resources.EMPTY;
            reserved.delete(role);
          }
          if (!rv.isEmpty()) {
            out.push({ frameworkId: id, agentId, resources: rv, revocable: true });
            this.setHeld(agentId, id, this.held(agentId, id).plus(rv));
            revocable = revocable.minus(rv);
          }
        }
      }
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Checks

function show(a: Allocation): string {
  return `${a.frameworkId}@${a.agentId}${a.revocable ? '(rev)' : ''}: ${a.resources.toString()}`;
}

/** Whether two collections share part of a range or set value (scalars are summed instead). */
function overlap(a: Resources, b: Resources): boolean {
  for (const x of a) {
    if (x.type === 'SCALAR') continue;
    const key = identityKey(x);
    for (const y of b) {
      if (identityKey(y) !== key) continue;
      if (x.type === 'RANGES' && rangesSize(subtractRanges(x.ranges ?? [], y.ranges ?? [])) !== rangesSize(x.ranges ?? [])) return true;
      if (x.type === 'SET' && (x.set ?? []).some((s) => (y.set ?? []).includes(s))) return true;
    }
  }
  return false;
}

function fail(msg: string): never {
  throw new Error(msg);
}

/** The safety invariants of one run, from the model's state before the run. */
function checkSafety(m: Model, got: readonly Allocation[], now: number, scope: 'all' | 'changed', changedBefore: ReadonlySet<string>): void {
  const byAgent = new Map<string, Allocation[]>();
  for (const a of got) {
    const fw = m.fws.get(a.frameworkId) ?? fail(`${show(a)}: unknown framework`);
    const agent = m.agents.get(a.agentId) ?? fail(`${show(a)}: unknown agent`);
    if (!fw.active) fail(`${show(a)}: framework inactive`);
    if (fw.suppressed) fail(`${show(a)}: framework suppressed`);
    if (!agent.active) fail(`${show(a)}: agent inactive`);
    if (a.resources.isEmpty()) fail(`${show(a)}: empty allocation`);
    if (!allocatable(a.resources)) fail(`${show(a)}: below the minimum allocatable`);
    for (const x of a.resources) {
      if (x.role !== UNRESERVED && x.role !== fw.role) fail(`${show(a)}: reserved for ${x.role}, framework role ${fw.role}`);
      if ((x.revocable === true) !== a.revocable) fail(`${show(a)}: revocable and non-revocable mixed or mislabelled`);
    }
    if (a.revocable && !fw.revocable) fail(`${show(a)}: revocable to an incapable framework`);
    if (m.isFiltered(a.frameworkId, a.agentId, a.resources, now)) fail(`${show(a)}: inside an unexpired filter`);
    if (scope === 'changed' && !changedBefore.has(a.agentId)) fail(`${show(a)}: agent did not change`);
    const list = byAgent.get(a.agentId) ?? [];
    list.push(a);
    byAgent.set(a.agentId, list);
  }
  for (const [agentId, list] of byAgent) {
    const free = m.free(agentId);
    let sum = Resources.EMPTY;
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        if (overlap(list[i]!.resources, list[j]!.resources)) fail(`${show(list[i]!)} and ${show(list[j]!)} overlap`);
      }
      sum = sum.plus(list[i]!.resources);
    }
    if (!free.contains(sum)) fail(`agent ${agentId}: allocated ${sum.toString()} but only ${free.toString()} was free`);
  }
}

function checkState(m: Model, a: HierarchicalAllocator): void {
  for (const agentId of m.agents.keys()) {
    if (!a.free(agentId).equals(m.free(agentId))) fail(`free(${agentId}) = ${a.free(agentId).toString()}, model ${m.free(agentId).toString()}`);
    const ids = new Set([...m.hold.get(agentId)!.keys(), ...m.fws.keys()]);
    for (const fw of ids) {
      const got = a.allocation(fw, agentId);
      const want = m.held(agentId, fw);
      if (!got.equals(want)) fail(`allocation(${fw}, ${agentId}) = ${got.toString()}, model ${want.toString()}`);
    }
  }
  const { fw, role } = m.shares();
  for (const [id, s] of fw) if (Math.abs(a.frameworkShare(id) - s) > 1e-12) fail(`frameworkShare(${id}) = ${a.frameworkShare(id)}, model ${s}`);
  for (const [name, s] of role) if (Math.abs(a.roleShare(name) - s) > 1e-12) fail(`roleShare(${name}) = ${a.roleShare(name)}, model ${s}`);
  const s = a.stats();
  if (s.agents !== m.agents.size || s.frameworks !== m.fws.size) fail(`stats ${JSON.stringify(s)}`);
}

// ---------------------------------------------------------------------------------------------
// Running a sequence

function pickOf<T>(xs: readonly T[], n: number): T | undefined {
  return xs.length === 0 ? undefined : xs[n % xs.length];
}

function part(held: Resources, how: number): Resources {
  if (how === 1) return Resources.of([held.toArray()[0]!]);
  if (how === 2) {
    const halves: Resource[] = [];
    for (const x of held) {
      if (x.type !== 'SCALAR') continue;
      const half = Math.floor(toMilli(x.scalar ?? 0) / 2);
      if (half > 0) halves.push({ ...x, scalar: half / 1000 });
    }
    if (halves.length > 0) return Resources.of(halves);
  }
  return held;
}

/** How much the generated sequences exercised, so a generator that stops producing offers shows. */
const coverage = { runs: 0, offers: 0, changedRunsWithOffers: 0 };

function run(cmds: readonly Cmd[]): void {
  coverage.runs++;
  const a = new HierarchicalAllocator({ maxFilterMs: MAX_FILTER_MS });
  const m = new Model();
  const trace: string[] = [];
  const step = (c: Cmd) => {
    switch (c.k) {
      case 'addAgent': {
        const id = AGENT_IDS[c.id % AGENT_IDS.length]!;
        if (m.agents.has(id)) return;
        const total = SHAPES[c.shape % SHAPES.length]!;
        const used = new Map<string, Resources>();
        if (c.usedBy >= 0 && c.usedBy < FW_IDS.length) used.set(FW_IDS[c.usedBy]!, Resources.of([total.toArray()[0]!]));
        trace.push(`addAgent ${id} ${total.toString()} used ${[...used].map(([f, x]) => `${f}=${x.toString()}`).join(',')}`);
        a.addAgent(id, total, used);
        m.agents.set(id, { total, active: true });
        m.hold.set(id, new Map(used));
        m.touch(id);
        return;
      }
      case 'removeAgent': {
        const id = pickOf([...m.agents.keys()], c.pick);
        if (!id) return;
        trace.push(`removeAgent ${id}`);
        a.removeAgent(id);
        m.agents.delete(id);
        m.hold.delete(id);
        m.changed.delete(id);
        m.dropFilters((_, agent) => agent === id);
        return;
      }
      case 'updateAgent': {
        const id = pickOf([...m.agents.keys()], c.pick);
        if (!id) return;
        const agent = m.agents.get(id)!;
        agent.total = agent.total.plus(rev('cpus', 1));
        trace.push(`updateAgent ${id} ${agent.total.toString()}`);
        a.updateAgent(id, agent.total);
        m.touch(id);
        return;
      }
      case 'activateAgent':
      case 'deactivateAgent': {
        const id = pickOf([...m.agents.keys()], c.pick);
        if (!id) return;
        trace.push(`${c.k} ${id}`);
        if (c.k === 'activateAgent') {
          a.activateAgent(id);
          m.touch(id);
        } else {
          a.deactivateAgent(id);
        }
        m.agents.get(id)!.active = c.k === 'activateAgent';
        return;
      }
      case 'addFramework': {
        const id = FW_IDS[c.id % FW_IDS.length]!;
        if (m.fws.has(id)) return;
        const role = ROLES[c.role % ROLES.length]!;
        trace.push(`addFramework ${id} ${role} rev=${c.revocable} active=${c.active}`);
        a.addFramework(id, { role, revocable: c.revocable }, c.active);
        m.fws.set(id, { role, revocable: c.revocable, active: c.active, suppressed: false });
        return;
      }
      case 'removeFramework':
      case 'suppress':
      case 'revive':
      case 'activate':
      case 'deactivate': {
        const id = pickOf([...m.fws.keys()], c.pick);
        if (!id) return;
        trace.push(`${c.k} ${id}`);
        const fw = m.fws.get(id)!;
        switch (c.k) {
          case 'removeFramework':
            a.removeFramework(id);
            m.fws.delete(id);
            for (const [agentId, h] of m.hold) {
              if (h.has(id)) {
                h.delete(id);
                m.touch(agentId);
              }
            }
            m.dropFilters((f) => f === id);
            return;
          case 'suppress':
            a.suppress(id);
            fw.suppressed = true;
            return;
          case 'revive':
            a.revive(id);
            fw.suppressed = false;
            m.dropFilters((f) => f === id);
            return;
          case 'activate':
            a.activateFramework(id);
            fw.active = true;
            return;
          case 'deactivate':
            a.deactivateFramework(id);
            fw.active = false;
            return;
        }
        return;
      }
      case 'updateFramework': {
        const id = pickOf([...m.fws.keys()], c.pick);
        if (!id) return;
        const role = ROLES[c.role % ROLES.length]!;
        trace.push(`updateFramework ${id} ${role} rev=${c.revocable}`);
        a.updateFramework(id, { role, revocable: c.revocable });
        Object.assign(m.fws.get(id)!, { role, revocable: c.revocable });
        return;
      }
      case 'setWeight': {
        const role = ROLES[c.role % ROLES.length]!;
        trace.push(`setWeight ${role} ${c.weight}`);
        a.setWeight(role, c.weight);
        m.weights.set(role, c.weight);
        return;
      }
      case 'recover': {
        const pairs: [string, string][] = [];
        for (const [agentId, h] of m.hold) for (const fw of h.keys()) pairs.push([agentId, fw]);
        const pair = pickOf(pairs, c.pick);
        if (!pair) return;
        const [agentId, fw] = pair;
        const res = part(m.held(agentId, fw), c.part);
        trace.push(`recover ${fw}@${agentId} ${res.toString()} at ${m.now} refuse ${c.refuse}`);
        a.recoverResources(fw, agentId, res, m.now, c.refuse);
        m.setHeld(agentId, fw, m.held(agentId, fw).minus(res));
        m.touch(agentId);
        if (c.refuse > 0 && m.fws.has(fw)) {
          const key = m.filterKey(fw, agentId);
          m.filters.set(key, [...(m.filters.get(key) ?? []), { refused: res, expiresAt: m.now + Math.min(c.refuse, MAX_FILTER_MS) }]);
        }
        return;
      }
      case 'reserve': {
        // RESERVE the first unreserved scalar a framework holds for its role, or UNRESERVE the
        // first dynamic reservation it holds.
        const pairs: [string, string][] = [];
        for (const [agentId, h] of m.hold) for (const fw of h.keys()) if (m.fws.has(fw) && m.fws.get(fw)!.role !== UNRESERVED) pairs.push([agentId, fw]);
        const pair = pickOf(pairs, c.pick);
        if (!pair) return;
        const [agentId, fw] = pair;
        const role = m.fws.get(fw)!.role;
        const held = m.held(agentId, fw).toArray();
        const plain = held.find((x) => x.type === 'SCALAR' && x.role === UNRESERVED && !x.revocable);
        const dynamic = held.find((x) => x.reservation !== undefined);
        let from: Resources;
        let to: Resources;
        if (plain) {
          from = Resources.of([plain]);
          to = Resources.of([resource(plain.name, plain.scalar!, { role, reservation: { principal: 'p' } })]);
        } else if (dynamic) {
          from = Resources.of([dynamic]);
          const { reservation: _r, ...rest } = dynamic;
          to = Resources.of([{ ...rest, role: UNRESERVED }]);
        } else {
          return;
        }
        trace.push(`updateAllocation ${fw}@${agentId} ${from.toString()} -> ${to.toString()}`);
        a.updateAllocation(fw, agentId, from, to);
        m.setHeld(agentId, fw, m.held(agentId, fw).minus(from).plus(to));
        const agent = m.agents.get(agentId)!;
        agent.total = agent.total.minus(from).plus(to);
        m.touch(agentId);
        return;
      }
      case 'allocate': {
        m.now += c.dt;
        const now = m.now;
        trace.push(`allocate ${now} ${c.scope}`);
        const changedBefore = new Set(m.changed);
        const got = a.allocate(now, c.scope);
        coverage.offers += got.length;
        if (c.scope === 'changed' && got.length > 0) coverage.changedRunsWithOffers++;
        trace.push(`  -> ${got.map(show).join(' | ')}`);
        checkSafety(m, got, now, c.scope, changedBefore);
        const want = m.allocate(now, c.scope);
        const same =
          got.length === want.length &&
          got.every(
            (g, i) =>
              g.frameworkId === want[i]!.frameworkId &&
              g.agentId === want[i]!.agentId &&
              g.revocable === want[i]!.revocable &&
              g.resources.equals(want[i]!.resources),
          );
        if (!same) fail(`run differs from the reference walk:\n  got  ${got.map(show).join(' | ')}\n  want ${want.map(show).join(' | ')}`);
        checkState(m, a);
        return;
      }
    }
  };
  for (const c of cmds) {
    try {
      step(c);
    } catch (e) {
      throw new Error(`${(e as Error).message}\ntrace:\n  ${trace.join('\n  ')}`, { cause: e });
    }
  }
}

test('random command sequences: safety invariants, reference walk, reported state', (t) => {
  fc.assert(
    fc.property(
      // A few agents and frameworks to start with, then anything.
      fc.array(
        fc.oneof(
          cmdArb.filter((c) => c.k === 'addAgent'),
          cmdArb.filter((c) => c.k === 'addFramework'),
        ),
        { minLength: 2, maxLength: 8 },
      ),
      fc.array(cmdArb, { minLength: 10, maxLength: 80, size: 'max' }),
      (setup, cmds) => run([...setup, ...cmds]),
    ),
    { numRuns: 600, includeErrorInReport: true },
  );
  t.log(coverage);
  t.true(coverage.offers > 2 * coverage.runs && coverage.changedRunsWithOffers > coverage.runs / 10, JSON.stringify(coverage));
});

test('DRF on a homogeneous cluster: after a full cycle allocations per framework differ by at most 1', (t) => {
  const shapes = [r('cpus:4;mem:4096'), r('cpus:1;mem:8192;disk:10'), r('cpus:16;mem:1024;ports:[1-100]')];
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 24 }),
      fc.integer({ min: 1, max: 6 }),
      fc.constantFrom(...shapes),
      fc.integer({ min: 1, max: 4 }),
      (agents, frameworks, shape, cycles) => {
        const a = new HierarchicalAllocator();
        for (let f = 0; f < frameworks; f++) a.addFramework(`f${f}`, { role: 'r', revocable: false });
        for (let i = 0; i < agents; i++) a.addAgent(`a${i}`, shape);
        for (let c = 0; c < cycles; c++) {
          const got = a.allocate(c * 1000);
          const count = new Map<string, number>();
          for (let f = 0; f < frameworks; f++) count.set(`f${f}`, 0);
          for (const x of got) {
            if (!x.resources.equals(shape)) throw new Error(`partial agent ${show(x)}`);
            count.set(x.frameworkId, count.get(x.frameworkId)! + 1);
          }
          if (got.length !== agents) throw new Error(`${got.length} of ${agents} agents allocated`);
          const n = Array.from(count.values());
          if (Math.max(...n) - Math.min(...n) > 1) throw new Error(`unbalanced: ${JSON.stringify([...count])}`);
          // Shares follow the counts exactly.
          for (const [f, k] of count) if (Math.abs(a.frameworkShare(f) - k / agents) > 1e-12) throw new Error(`share of ${f}`);
          // Everyone gives everything back (no filters) for the next cycle.
          for (const x of got) a.recoverResources(x.frameworkId, x.agentId, x.resources, c * 1000 + 1);
        }
      },
    ),
    { numRuns: 200, includeErrorInReport: true },
  );
  t.pass();
});
