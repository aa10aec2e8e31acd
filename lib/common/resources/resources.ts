/**
 * An immutable collection of resources with the Mesos algebra: entries that share
 * an identity are merged; persistent volumes and MOUNT disks stay separate; empty entries are
 * dropped. Every operation returns a new collection and never mutates its inputs.
 */
import {
  type Resource,
  type ReservationInfo,
  UNRESERVED,
  formatResource,
  formatValue,
  identityKey,
  isDynamicallyReserved,
  isEmptyValue,
  isExclusive,
  isPersistentVolume,
  valuesEqual,
} from './resource.ts';
import {
  type Range,
  addScalar,
  rangesContain,
  scalarLessOrEqual,
  setContains,
  subtractRanges,
  subtractScalar,
  subtractSets,
  toMilli,
  unionRanges,
  unionSets,
} from './values.ts';

function combine(a: Resource, b: Resource): Resource {
  switch (a.type) {
    case 'SCALAR':
      return { ...a, scalar: addScalar(a.scalar ?? 0, b.scalar ?? 0) };
    case 'RANGES':
      return { ...a, ranges: unionRanges(a.ranges ?? [], b.ranges ?? []) };
    case 'SET':
      return { ...a, set: unionSets(a.set ?? [], b.set ?? []) };
  }
}

/** a − b for same-identity entries; undefined when nothing (or less than nothing) is left. */
function remove(a: Resource, b: Resource): Resource | undefined {
  let out: Resource;
  switch (a.type) {
    case 'SCALAR': {
      const v = subtractScalar(a.scalar ?? 0, b.scalar ?? 0);
      if (toMilli(v) <= 0) return undefined;
      out = { ...a, scalar: v };
      break;
    }
    case 'RANGES':
      out = { ...a, ranges: subtractRanges(a.ranges ?? [], b.ranges ?? []) };
      break;
    case 'SET':
      out = { ...a, set: subtractSets(a.set ?? [], b.set ?? []) };
      break;
  }
  return isEmptyValue(out) ? undefined : out;
}

/** Whether `a`'s value covers `b`'s (same identity assumed). */
function covers(a: Resource, b: Resource): boolean {
  switch (a.type) {
    case 'SCALAR':
      return scalarLessOrEqual(b.scalar ?? 0, a.scalar ?? 0);
    case 'RANGES':
      return rangesContain(a.ranges ?? [], b.ranges ?? []);
    case 'SET':
      return setContains(a.set ?? [], b.set ?? []);
  }
}

/** The value of the JSON summary used by state endpoints: number, "[a-b, c-d]" or "{x, y}". */
export type SummaryValue = number | string;

export class Resources implements Iterable<Resource> {
  static readonly EMPTY = new Resources([], []);

  /** Entries and their identity keys, in insertion order. */
  private constructor(
    private readonly entries: readonly Resource[],
    private readonly keys: readonly string[],
  ) {}

  /** Build from valid resources (see validateResource); empty values are dropped. */
  static of(items: Iterable<Resource>): Resources {
    const entries: Resource[] = [];
    const keys: string[] = [];
    for (const r of items) Resources.addInto(entries, keys, r);
    return entries.length === 0 ? Resources.EMPTY : new Resources(entries, keys);
  }

  private static addInto(entries: Resource[], keys: string[], r: Resource): void {
    if (isEmptyValue(r)) return;
    const key = identityKey(r);
    if (!isExclusive(r)) {
      const i = keys.indexOf(key);
      if (i >= 0) {
        entries[i] = combine(entries[i]!, r);
        return;
      }
    }
    entries.push(r);
    keys.push(key);
  }

  /** Remove `r` from the working arrays; silently ignores what is not there. */
  private static removeFrom(entries: Resource[], keys: string[], r: Resource): void {
    if (isEmptyValue(r)) return;
    const key = identityKey(r);
    const exclusive = isExclusive(r);
    for (let i = 0; i < entries.length; i++) {
      if (keys[i] !== key) continue;
      const e = entries[i]!;
      if (exclusive) {
        if (!valuesEqual(e, r)) continue;
        entries.splice(i, 1);
        keys.splice(i, 1);
        return;
      }
      const left = remove(e, r);
      if (left === undefined) {
        entries.splice(i, 1);
        keys.splice(i, 1);
      } else {
        entries[i] = left;
      }
      return;
    }
  }

  get size(): number {
    return this.entries.length;
  }

  isEmpty(): boolean {
    return this.entries.length === 0;
  }

  [Symbol.iterator](): Iterator<Resource> {
    return this.entries[Symbol.iterator]();
  }

  toArray(): Resource[] {
    return this.entries.slice();
  }

  plus(other: Resources | Resource): Resources {
    const add = other instanceof Resources ? other.entries : [other];
    if (add.length === 0) return this;
    if (this.entries.length === 0 && other instanceof Resources) return other;
    const entries = this.entries.slice();
    const keys = this.keys.slice();
    for (const r of add) Resources.addInto(entries, keys, r);
    return new Resources(entries, keys);
  }

  minus(other: Resources | Resource): Resources {
    const sub = other instanceof Resources ? other.entries : [other];
    if (sub.length === 0 || this.entries.length === 0) return this;
    const entries = this.entries.slice();
    const keys = this.keys.slice();
    for (const r of sub) Resources.removeFrom(entries, keys, r);
    return entries.length === 0 ? Resources.EMPTY : new Resources(entries, keys);
  }

  /**
   * Whether every entry of `other` is covered by this collection. Repeated entries count
   * cumulatively: a non-exclusive identity occurs at most once per collection, so only
   * exclusive entries (persistent volumes, MOUNT disks) can repeat, and each needs its own match.
   */
  contains(other: Resources | Resource): boolean {
    if (other instanceof Resources) {
      if (other === this || other.entries.length === 0) return true;
      let used: number[] | undefined;
      for (let j = 0; j < other.entries.length; j++) {
        const r = other.entries[j]!;
        const key = other.keys[j]!;
        if (isExclusive(r)) {
          used ??= [];
          if (!this.matchExclusive(r, key, used)) return false;
        } else if (!this.covers(r, key)) {
          return false;
        }
      }
      return true;
    }
    if (isEmptyValue(other)) return true;
    const key = identityKey(other);
    return isExclusive(other) ? this.matchExclusive(other, key, []) : this.covers(other, key);
  }

  private covers(r: Resource, key: string): boolean {
    const i = this.keys.indexOf(key);
    return i >= 0 && covers(this.entries[i]!, r);
  }

  private matchExclusive(r: Resource, key: string, used: number[]): boolean {
    for (let i = 0; i < this.entries.length; i++) {
      if (this.keys[i] === key && !used.includes(i) && valuesEqual(this.entries[i]!, r)) {
        used.push(i);
        return true;
      }
    }
    return false;
  }

  equals(other: Resources): boolean {
    return this.contains(other) && other.contains(this);
  }

  filter(pred: (r: Resource) => boolean): Resources {
    const entries: Resource[] = [];
    const keys: string[] = [];
    for (let i = 0; i < this.entries.length; i++) {
      if (pred(this.entries[i]!)) {
        entries.push(this.entries[i]!);
        keys.push(this.keys[i]!);
      }
    }
    if (entries.length === this.entries.length) return this;
    return entries.length === 0 ? Resources.EMPTY : new Resources(entries, keys);
  }

  /** Reserved resources: for `role` when given, else for any role. */
  reserved(role?: string): Resources {
    return role === undefined ? this.filter((r) => r.role !== UNRESERVED) : this.filter((r) => r.role === role && role !== UNRESERVED);
  }

  unreserved(): Resources {
    return this.filter((r) => r.role === UNRESERVED);
  }

  /** Reserved statically (by the agent's flags): a role but no reservation info. */
  staticallyReserved(): Resources {
    return this.filter((r) => r.role !== UNRESERVED && r.reservation === undefined);
  }

  dynamicallyReserved(): Resources {
    return this.filter(isDynamicallyReserved);
  }

  revocable(): Resources {
    return this.filter((r) => r.revocable === true);
  }

  nonRevocable(): Resources {
    return this.filter((r) => r.revocable !== true);
  }

  persistentVolumes(): Resources {
    return this.filter(isPersistentVolume);
  }

  named(name: string): Resources {
    return this.filter((r) => r.name === name);
  }

  /** What these resources look like with every entry given `role` and `reservation`. */
  flatten(role: string = UNRESERVED, reservation?: ReservationInfo): Resources {
    const out: Resource[] = [];
    for (const r of this.entries) {
      const { reservation: _drop, ...rest } = r;
      out.push(reservation === undefined ? { ...rest, role } : { ...rest, role, reservation });
    }
    return Resources.of(out);
  }

  /** Total of a scalar resource across all roles and reservations (0 when absent). */
  scalar(name: string): number {
    let milli = 0;
    for (const r of this.entries) if (r.name === name && r.type === 'SCALAR') milli += toMilli(r.scalar ?? 0);
    return milli / 1000;
  }

  /** Union of a ranges resource across all entries. */
  ranges(name: string): Range[] {
    let out: Range[] = [];
    for (const r of this.entries) if (r.name === name && r.type === 'RANGES') out = unionRanges(out, r.ranges ?? []);
    return out;
  }

  /** Union of a set resource across all entries. */
  set(name: string): string[] {
    let out: string[] = [];
    for (const r of this.entries) if (r.name === name && r.type === 'SET') out = unionSets(out, r.set ?? []);
    return out;
  }

  names(): string[] {
    return Array.from(new Set(this.entries.map((r) => r.name)));
  }

  /** Roles that hold a reservation here. */
  roles(): string[] {
    return Array.from(new Set(this.entries.filter((r) => r.role !== UNRESERVED).map((r) => r.role)));
  }

  /**
   * The summary object of the state endpoints: name → total, scalars as numbers, ranges as
   * "[a-b, c-d]", sets as "{x, y}"; `cpus`, `gpus`, `mem` and `disk` always present; revocable
   * entries under `<name>_revocable`.
   */
  summary(): Record<string, SummaryValue> {
    const out: Record<string, SummaryValue> = { cpus: 0, gpus: 0, mem: 0, disk: 0 };
    const merged = new Map<string, Resource>();
    for (const r of this.entries) {
      const key = r.revocable ? `${r.name}_revocable` : r.name;
      const prev = merged.get(key);
      if (prev === undefined || prev.type !== r.type) merged.set(key, { name: r.name, type: r.type, role: UNRESERVED, ...value(r) });
      else merged.set(key, combine(prev, r));
    }
    for (const [key, r] of merged) out[key] = r.type === 'SCALAR' ? (r.scalar ?? 0) : formatValue(r);
    return out;
  }

  /** Human form: `cpus(*):4; mem(ads, ops):1024`. */
  toString(): string {
    return this.entries.map(formatResource).join('; ');
  }
}

/** What an agent checkpoints and its master keeps for it: dynamic reservations and persistent volumes. */
export function checkpointedOf(res: Resources): Resources {
  return res.filter((r) => isDynamicallyReserved(r) || isPersistentVolume(r));
}

/** A volume with its persistence and volume info removed: the reserved disk it was made of. */
export function stripVolume(r: Resource): Resource {
  const { disk, ...rest } = r;
  if (disk?.source !== undefined) return { ...rest, disk: { source: disk.source } };
  return rest;
}

/**
 * A checkpointed entry back to what it was made of: its volume removed (stripVolume) and its
 * dynamic reservation undone. The agent's flag resources hold these plain forms.
 */
export function plainOf(r: Resource): Resource {
  const { reservation, ...rest } = stripVolume(r);
  return reservation !== undefined ? { ...rest, role: UNRESERVED } : rest;
}

function value(r: Resource): Pick<Resource, 'scalar' | 'ranges' | 'set'> {
  if (r.type === 'SCALAR') return { scalar: r.scalar ?? 0 };
  if (r.type === 'RANGES') return { ranges: r.ranges ?? [] };
  return { set: r.set ?? [] };
}
