/**
 * Value arithmetic for resources: fixed-point scalars (3 decimals), coalesced integer ranges
 * and string sets. Pure functions over immutable inputs; every result is a fresh value.
 */

/** Scalars are compared and combined as integer thousandths, as Mesos does since 0.28. */
export const SCALAR_SCALE = 1000;

/**
 * The largest scalar a resource holds: its thousandths must stay an exact integer (2^53 - 1),
 * about 9.007e12.
 */
export const MAX_SCALAR = Math.floor(Number.MAX_SAFE_INTEGER / SCALAR_SCALE);

export function toMilli(v: number): number {
  return Math.round(v * SCALAR_SCALE);
}

export function fromMilli(m: number): number {
  return m / SCALAR_SCALE;
}

/** Round a scalar to the 3-decimal fixed point every stored scalar uses. */
export function roundScalar(v: number): number {
  return fromMilli(toMilli(v));
}

export function addScalar(a: number, b: number): number {
  return fromMilli(toMilli(a) + toMilli(b));
}

export function subtractScalar(a: number, b: number): number {
  return fromMilli(toMilli(a) - toMilli(b));
}

export function scalarEquals(a: number, b: number): boolean {
  return toMilli(a) === toMilli(b);
}

export function scalarLessOrEqual(a: number, b: number): boolean {
  return toMilli(a) <= toMilli(b);
}

export interface Range {
  readonly begin: number;
  readonly end: number;
}

/** Sort and merge overlapping or adjacent intervals. Input need not be ordered. */
export function coalesceRanges(input: readonly Range[]): Range[] {
  if (input.length === 0) return [];
  const sorted = input.slice().sort((x, y) => x.begin - y.begin || x.end - y.end);
  const out: Range[] = [];
  let cur = { begin: sorted[0]!.begin, end: sorted[0]!.end };
  for (let i = 1; i < sorted.length; i++) {
    const r = sorted[i]!;
    if (r.begin <= cur.end + 1) {
      if (r.end > cur.end) cur.end = r.end;
    } else {
      out.push(cur);
      cur = { begin: r.begin, end: r.end };
    }
  }
  out.push(cur);
  return out;
}

/** Union of two coalesced range lists (result coalesced). */
export function unionRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  if (a.length === 0) return b.slice();
  if (b.length === 0) return a.slice();
  return coalesceRanges([...a, ...b]);
}

/** a minus b, both coalesced; result coalesced. */
export function subtractRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  let j = 0;
  for (const r of a) {
    let begin = r.begin;
    const end = r.end;
    while (j < b.length && b[j]!.end < begin) j++;
    let k = j;
    while (begin <= end) {
      const cut = b[k];
      if (cut === undefined || cut.begin > end) {
        out.push({ begin, end });
        break;
      }
      if (cut.begin > begin) out.push({ begin, end: cut.begin - 1 });
      begin = Math.max(begin, cut.end + 1);
      k++;
    }
  }
  return out;
}

/** Whether coalesced list `a` covers every value of coalesced list `b`. */
export function rangesContain(a: readonly Range[], b: readonly Range[]): boolean {
  let i = 0;
  for (const r of b) {
    while (i < a.length && a[i]!.end < r.begin) i++;
    const host = a[i];
    if (host === undefined || host.begin > r.begin || host.end < r.end) return false;
  }
  return true;
}

export function rangesEqual(a: readonly Range[], b: readonly Range[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.begin !== b[i]!.begin || a[i]!.end !== b[i]!.end) return false;
  }
  return true;
}

/** Number of values covered by a coalesced list. */
export function rangesSize(a: readonly Range[]): number {
  let n = 0;
  for (const r of a) n += r.end - r.begin + 1;
  return n;
}

/** Sets are kept as sorted arrays of distinct strings. */
export function normalizeSet(items: readonly string[]): string[] {
  return Array.from(new Set(items)).sort();
}

export function unionSets(a: readonly string[], b: readonly string[]): string[] {
  return normalizeSet([...a, ...b]);
}

export function subtractSets(a: readonly string[], b: readonly string[]): string[] {
  if (b.length === 0) return a.slice();
  const drop = new Set(b);
  return a.filter((x) => !drop.has(x));
}

export function setContains(a: readonly string[], b: readonly string[]): boolean {
  if (b.length > a.length) return false;
  const have = new Set(a);
  return b.every((x) => have.has(x));
}

export function setsEqual(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function formatRanges(a: readonly Range[]): string {
  return `[${a.map((r) => `${r.begin}-${r.end}`).join(', ')}]`;
}

export function formatSet(a: readonly string[]): string {
  return `{${a.join(', ')}}`;
}

export function formatScalar(v: number): string {
  return String(roundScalar(v));
}
