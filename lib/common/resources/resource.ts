/**
 * One resource: the Mesos `Resource` message in Corral's internal (camelCase) model, its
 * validity rules (as Mesos checks them), its identity for arithmetic and its human form.
 */
import { ValidationError } from '../errors.ts';
import { checkId, checkRoleText } from '../ids.ts';
import {
  type Range,
  coalesceRanges,
  formatRanges,
  formatScalar,
  formatSet,
  rangesEqual,
  roundScalar,
  scalarEquals,
  setsEqual,
  MAX_SCALAR,
  toMilli,
} from './values.ts';

export type ValueType = 'SCALAR' | 'RANGES' | 'SET';
export const UNRESERVED = '*';

export interface Label {
  readonly key: string;
  readonly value?: string;
}

/** Present on a resource ⇒ the resource is dynamically reserved. */
export interface ReservationInfo {
  readonly principal?: string;
  readonly labels?: readonly Label[];
}

export interface Persistence {
  readonly id: string;
  readonly principal?: string;
}

export type VolumeMode = 'RW' | 'RO';

export interface Volume {
  readonly mode: VolumeMode;
  readonly containerPath: string;
  readonly hostPath?: string;
}

export type DiskSourceType = 'PATH' | 'MOUNT';

export interface DiskSource {
  readonly type: DiskSourceType;
  /** The `path.root` or `mount.root` of the source. */
  readonly root?: string;
}

export interface DiskInfo {
  readonly persistence?: Persistence;
  readonly volume?: Volume;
  readonly source?: DiskSource;
}

/** A valid, normalised resource. Build one with `resource()` or `validateResource()`. */
export interface Resource {
  readonly name: string;
  readonly type: ValueType;
  /** SCALAR only: rounded to 3 decimals, > 0 once inside a Resources collection. */
  readonly scalar?: number;
  /** RANGES only: sorted, non-overlapping, non-adjacent. */
  readonly ranges?: readonly Range[];
  /** SET only: sorted distinct items. */
  readonly set?: readonly string[];
  /** `*` = unreserved; anything else = reserved for that role (static unless `reservation`). */
  readonly role: string;
  readonly reservation?: ReservationInfo;
  readonly disk?: DiskInfo;
  readonly revocable?: boolean;
}

/**
 * A resource as it comes from outside (decoded JSON, a flag): every field optional and
 * loosely typed, so that validation can say precisely what is wrong.
 */
export interface ResourceInput {
  name?: unknown;
  type?: unknown;
  scalar?: unknown;
  ranges?: unknown;
  set?: unknown;
  role?: unknown;
  reservation?: unknown;
  disk?: unknown;
  revocable?: unknown;
}

// ---------------------------------------------------------------------------------------------
// Validation (Mesos's rules that apply to every resource anywhere)

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ValidationError(field, 'must be a string');
  return v;
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function validateLabels(v: unknown, field: string): Label[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new ValidationError(field, 'must be an array of labels');
  return v.map((l, i) => {
    const f = `${field}[${i}]`;
    if (!isObject(l)) throw new ValidationError(f, 'must be an object with a key');
    const key = optString(l.key, `${f}.key`);
    if (key === undefined) throw new ValidationError(`${f}.key`, 'is required');
    const value = optString(l.value, `${f}.value`);
    return value === undefined ? { key } : { key, value };
  });
}

function validateReservation(v: unknown, field: string): ReservationInfo | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new ValidationError(field, 'must be an object');
  const principal = optString(v.principal, `${field}.principal`);
  const labels = validateLabels(v.labels, `${field}.labels`);
  const out: { principal?: string; labels?: Label[] } = {};
  if (principal !== undefined) out.principal = principal;
  if (labels !== undefined && labels.length > 0) out.labels = labels;
  return out;
}

function validateDisk(v: unknown, field: string): DiskInfo | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new ValidationError(field, 'must be an object');
  const out: { persistence?: Persistence; volume?: Volume; source?: DiskSource } = {};
  if (v.persistence !== undefined && v.persistence !== null) {
    const p = v.persistence;
    const f = `${field}.persistence`;
    if (!isObject(p)) throw new ValidationError(f, 'must be an object');
    const id = optString(p.id, `${f}.id`);
    if (id === undefined) throw new ValidationError(`${f}.id`, 'is required');
    const principal = optString(p.principal, `${f}.principal`);
    out.persistence = principal === undefined ? { id } : { id, principal };
  }
  if (v.volume !== undefined && v.volume !== null) {
    const vol = v.volume;
    const f = `${field}.volume`;
    if (!isObject(vol)) throw new ValidationError(f, 'must be an object');
    if (vol.mode !== 'RW' && vol.mode !== 'RO') throw new ValidationError(`${f}.mode`, "must be 'RW' or 'RO'");
    const containerPath = optString(vol.containerPath, `${f}.container_path`);
    if (containerPath === undefined || containerPath === '') {
      throw new ValidationError(`${f}.container_path`, 'is required');
    }
    const hostPath = optString(vol.hostPath, `${f}.host_path`);
    out.volume = hostPath === undefined ? { mode: vol.mode, containerPath } : { mode: vol.mode, containerPath, hostPath };
  }
  if (v.source !== undefined && v.source !== null) {
    const s = v.source;
    const f = `${field}.source`;
    if (!isObject(s)) throw new ValidationError(f, 'must be an object');
    if (s.type !== 'PATH' && s.type !== 'MOUNT') {
      throw new ValidationError(`${f}.type`, `unsupported disk source type '${String(s.type)}' (PATH or MOUNT)`);
    }
    const root = optString(s.root, `${f}.root`);
    if (root === undefined) {
      throw new ValidationError(`${f}.${s.type === 'PATH' ? 'path' : 'mount'}`, `is required for a ${s.type} disk`);
    }
    out.source = { type: s.type, root };
  }
  return out;
}

/**
 * Check one resource against Mesos's validity rules and return it normalised (scalar rounded to
 * 3 decimals, ranges sorted, set sorted). Throws a ValidationError naming the field and rule.
 */
export function validateResource(input: ResourceInput, field = 'resource'): Resource {
  if (!isObject(input)) throw new ValidationError(field, 'must be an object');
  const name = input.name;
  if (typeof name !== 'string' || name.length === 0) {
    throw new ValidationError(`${field}.name`, 'must be a non-empty string');
  }
  const at = `${field} '${name}'`;
  const type = input.type;
  if (type === 'TEXT') throw new ValidationError(`${at}.type`, 'TEXT is not a valid resource type');
  if (type !== 'SCALAR' && type !== 'RANGES' && type !== 'SET') {
    throw new ValidationError(`${at}.type`, `must be SCALAR, RANGES or SET (got ${JSON.stringify(type)})`);
  }
  const has = (k: 'scalar' | 'ranges' | 'set') => input[k] !== undefined && input[k] !== null;
  for (const k of ['scalar', 'ranges', 'set'] as const) {
    if (k === type.toLowerCase()) {
      if (!has(k)) throw new ValidationError(`${at}.${k}`, `is required for a ${type} resource`);
    } else if (has(k)) {
      throw new ValidationError(`${at}.${k}`, `must not be set on a ${type} resource`);
    }
  }

  const role = input.role === undefined || input.role === null ? UNRESERVED : input.role;
  if (typeof role !== 'string') throw new ValidationError(`${at}.role`, 'must be a string');
  checkRoleText(role, `${at}.role`);

  const reservation = validateReservation(input.reservation, `${at}.reservation`);
  if (reservation !== undefined && role === UNRESERVED) {
    throw new ValidationError(`${at}.reservation`, 'role "*" cannot be dynamically reserved');
  }
  const disk = validateDisk(input.disk, `${at}.disk`);
  if (disk !== undefined && name !== 'disk') {
    throw new ValidationError(`${at}.disk`, "disk info is only allowed on the 'disk' resource");
  }
  if (input.revocable !== undefined && input.revocable !== null && typeof input.revocable !== 'boolean') {
    throw new ValidationError(`${at}.revocable`, 'must be a boolean');
  }
  const revocable = input.revocable === true;

  const base: { -readonly [K in keyof Resource]: Resource[K] } = { name, type, role };
  if (type === 'SCALAR') {
    const v = input.scalar;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ValidationError(`${at}.scalar`, 'must be a finite number');
    }
    if (v < 0 || (v !== 0 && toMilli(v) <= 0)) {
      throw new ValidationError(`${at}.scalar`, `must not be negative or round to zero at 3 decimals (got ${v})`);
    }
    if (v > MAX_SCALAR) throw new ValidationError(`${at}.scalar`, `${v} is more than ${MAX_SCALAR}, the largest value a resource holds exactly at 3 decimals`);
    base.scalar = roundScalar(v);
  } else if (type === 'RANGES') {
    const v = input.ranges;
    if (!Array.isArray(v)) throw new ValidationError(`${at}.ranges`, 'must be an array of {begin, end}');
    const ranges: Range[] = v.map((r, i) => {
      const f = `${at}.ranges[${i}]`;
      if (!isObject(r)) throw new ValidationError(f, 'must be an object {begin, end}');
      if (!isUint(r.begin)) throw new ValidationError(`${f}.begin`, 'must be an unsigned integer below 2^53');
      if (!isUint(r.end)) throw new ValidationError(`${f}.end`, 'must be an unsigned integer below 2^53');
      if (r.begin > r.end) throw new ValidationError(f, `begin ${r.begin} is greater than end ${r.end}`);
      return { begin: r.begin, end: r.end };
    });
    const sorted = ranges.slice().sort((x, y) => x.begin - y.begin);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.begin <= sorted[i - 1]!.end) {
        const a = sorted[i - 1]!;
        const b = sorted[i]!;
        throw new ValidationError(`${at}.ranges`, `ranges [${a.begin}-${a.end}] and [${b.begin}-${b.end}] overlap`);
      }
    }
    base.ranges = coalesceRanges(sorted);
  } else {
    const v = input.set;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      throw new ValidationError(`${at}.set`, 'must be an array of strings');
    }
    const seen = new Set<string>();
    for (const item of v as string[]) {
      if (seen.has(item)) throw new ValidationError(`${at}.set`, `duplicate item '${item}'`);
      seen.add(item);
    }
    base.set = Array.from(seen).sort();
  }
  if (reservation !== undefined) base.reservation = reservation;
  if (disk !== undefined) base.disk = disk;
  if (revocable) base.revocable = true;
  return base;
}

/**
 * The extra rules the master applies to resources a framework or operator submits (tasks,
 * executors, offer operations). Throws a ValidationError naming the resource and rule.
 */
export function validateSubmittedResource(r: Resource, field = 'resource'): void {
  const at = `${field} '${r.name}'`;
  if (r.name === 'gpus' && r.scalar !== undefined && !Number.isInteger(r.scalar)) {
    throw new ValidationError(`${at}.scalar`, 'gpus must be a whole number');
  }
  if (r.reservation !== undefined && r.revocable) {
    throw new ValidationError(at, 'dynamically reserved resources cannot be revocable');
  }
  const d = r.disk;
  if (d === undefined) return;
  if (d.persistence !== undefined) {
    if (r.revocable) throw new ValidationError(at, 'persistent volumes cannot be revocable');
    if (r.role === UNRESERVED) throw new ValidationError(`${at}.role`, 'persistent volumes cannot be created from unreserved resources');
    if (d.volume === undefined) throw new ValidationError(`${at}.disk.volume`, 'a persistent volume needs a volume');
    if (d.volume.mode === 'RO') throw new ValidationError(`${at}.disk.volume.mode`, 'a persistent volume must be RW');
    if (d.volume.hostPath !== undefined) {
      throw new ValidationError(`${at}.disk.volume.host_path`, 'must not be set on a persistent volume');
    }
    try {
      checkId(d.persistence.id, `${at}.disk.persistence.id`);
    } catch (e) {
      throw e instanceof ValidationError ? new ValidationError(e.field, `invalid persistence id: ${e.reason}`) : e;
    }
  } else if (d.volume !== undefined) {
    throw new ValidationError(`${at}.disk.volume`, 'non-persistent volumes are not supported');
  } else if (d.source === undefined) {
    throw new ValidationError(`${at}.disk`, 'disk info is set but empty');
  }
}

// ---------------------------------------------------------------------------------------------
// Identity (which resources Mesos merges)

/** A length-prefixed string: concatenations of these cannot be confused with one another. */
function enc(s: string): string {
  return `${s.length}:${s}`;
}

/** Labels compare as Mesos compares them: order does not matter, an absent value equals ''. */
function labelsKey(labels: readonly Label[] | undefined): string {
  if (!labels || labels.length === 0) return '0';
  const pairs = labels.map((l) => enc(l.key) + enc(l.value ?? ''));
  return `${pairs.length}${pairs.sort().join('')}`;
}

/**
 * The identity two resources must share to be added or subtracted: name, type, role,
 * reservation (principal + labels), disk (source + persistence id; not the volume) and the
 * revocable marker. Values are not part of it. Every free-text field is length-prefixed, so no
 * field's content can pass for a separator or for another field.
 */
export function identityKey(r: Resource): string {
  let key = enc(r.name) + r.type + enc(r.role);
  const resv = r.reservation;
  key += resv ? `R${resv.principal === undefined ? '-' : enc(resv.principal)}${labelsKey(resv.labels)}` : '_';
  const d = r.disk;
  if (d) {
    const s = d.source;
    key += `D${s ? s.type + (s.root === undefined ? '-' : enc(s.root)) : '-'}${d.persistence ? enc(d.persistence.id) : '-'}`;
  } else {
    key += '_';
  }
  return key + (r.revocable ? 'r' : '_');
}

/** Persistent volumes and MOUNT disks are never merged with another entry. */
export function isExclusive(r: Resource): boolean {
  return r.disk !== undefined && (r.disk.persistence !== undefined || r.disk.source?.type === 'MOUNT');
}

export function isPersistentVolume(r: Resource): boolean {
  return r.disk?.persistence !== undefined;
}

export function isReserved(r: Resource, role?: string): boolean {
  return role === undefined ? r.role !== UNRESERVED : r.role === role && role !== UNRESERVED;
}

export function isDynamicallyReserved(r: Resource): boolean {
  return r.reservation !== undefined;
}

export function isEmptyValue(r: Resource): boolean {
  switch (r.type) {
    case 'SCALAR':
      return toMilli(r.scalar ?? 0) <= 0;
    case 'RANGES':
      return (r.ranges?.length ?? 0) === 0;
    case 'SET':
      return (r.set?.length ?? 0) === 0;
  }
}

export function valuesEqual(a: Resource, b: Resource): boolean {
  switch (a.type) {
    case 'SCALAR':
      return scalarEquals(a.scalar ?? 0, b.scalar ?? 0);
    case 'RANGES':
      return rangesEqual(a.ranges ?? [], b.ranges ?? []);
    case 'SET':
      return setsEqual(a.set ?? [], b.set ?? []);
  }
}

// ---------------------------------------------------------------------------------------------
// Construction helpers and text

/** Build (and validate) a resource from a compact description; for code and tests. */
export function resource(
  name: string,
  value: number | readonly (readonly [number, number])[] | readonly string[],
  extra: { role?: string; reservation?: ReservationInfo; disk?: DiskInfo; revocable?: boolean } = {},
): Resource {
  const input: ResourceInput = { name, ...extra };
  if (typeof value === 'number') {
    input.type = 'SCALAR';
    input.scalar = value;
  } else if (value.length > 0 && typeof value[0] === 'string') {
    input.type = 'SET';
    input.set = value;
  } else if (value.length === 0) {
    throw new ValidationError(`resource '${name}'`, 'an empty list is ambiguous; give ranges or set items');
  } else {
    input.type = 'RANGES';
    input.ranges = (value as readonly (readonly [number, number])[]).map(([begin, end]) => ({ begin, end }));
  }
  return validateResource(input);
}

export function formatValue(r: Resource): string {
  switch (r.type) {
    case 'SCALAR':
      return formatScalar(r.scalar ?? 0);
    case 'RANGES':
      return formatRanges(r.ranges ?? []);
    case 'SET':
      return formatSet(r.set ?? []);
  }
}

/**
 * Human form used in logs and error messages:
 * `name(role[, principal][, {k: v}])[persistence-id:container-path]{REV}:value`.
 */
export function formatResource(r: Resource): string {
  const parts = [r.role];
  if (r.reservation) {
    if (r.reservation.principal !== undefined) parts.push(r.reservation.principal);
    if (r.reservation.labels?.length) {
      parts.push(`{${r.reservation.labels.map((l) => (l.value === undefined ? l.key : `${l.key}: ${l.value}`)).join(', ')}}`);
    }
  }
  let s = `${r.name}(${parts.join(', ')})`;
  if (r.disk) {
    const src = r.disk.source ? `${r.disk.source.type}${r.disk.source.root ? `(${r.disk.source.root})` : ''}` : '';
    const p = r.disk.persistence?.id ?? '';
    const v = r.disk.volume ? `:${r.disk.volume.containerPath}` : '';
    s += `[${src}${src && (p || v) ? ',' : ''}${p}${v}]`;
  }
  if (r.revocable) s += '{REV}';
  return `${s}:${formatValue(r)}`;
}
