/**
 * Net steps as the addon reads them: one byte buffer for a whole list, so that crossing into
 * native code costs one copy instead of a property lookup per possible field of every step
 * (about 3.5 µs a step that way; a container's set-up has 20 to 45 steps).
 *
 * Layout (little-endian): u32 step count; per step: u8 kind code, u8 field count, then fields,
 * each a u8 tag and its value: a number is an f64; a flag a u8; a string a u16 byte length and
 * its UTF-8 bytes; keys a u8 count and (val, mask, off) f64 triples; actions a u8 count and per
 * action a u8 kind (0: neither redirect nor mirror), the target link (a string) and the control
 * (an f64). The tags and kind codes are the addon's too (native/js/js_net.cc): keep them in step.
 *
 * What the addon used to read leniently stays lenient (a number or flag of another type counts
 * as not given); what it refused is refused here the same way, before anything is applied.
 */
import type { NetStep } from './net_types.ts';

export const STEP_KIND_CODES: Readonly<Record<NetStep['kind'], number>> = {
  vethAdd: 1,
  linkSet: 2,
  linkDelete: 3,
  addrAdd: 4,
  routeAdd: 5,
  qdiscAdd: 6,
  qdiscDelete: 7,
  classAdd: 8,
  filterAdd: 9,
  filtersDelete: 10,
  sysctl: 11,
};

type FieldType = 'string' | 'name' | 'text' | 'flag' | 'number' | 'keys' | 'actions';

/**
 * Field tags. 'name': a link name (a string, or absent: another type is refused); 'text': a MAC
 * or IPv4 address (another type is passed as '' and refused by the addon's parser); 'string':
 * taken only if it is one.
 */
export const FIELD_TAGS: Readonly<Record<string, readonly [number, FieldType]>> = {
  link: [1, 'name'],
  peer: [2, 'name'],
  alias: [3, 'string'],
  qdiscKind: [4, 'string'],
  path: [5, 'string'],
  value: [6, 'string'],
  mac: [7, 'text'],
  peerMac: [8, 'text'],
  address: [9, 'text'],
  gateway: [10, 'text'],
  inNetns: [20, 'flag'],
  ignoreExists: [21, 'flag'],
  ignoreMissing: [22, 'flag'],
  peerInNetns: [23, 'flag'],
  terminal: [24, 'flag'],
  skipMissingTargets: [25, 'flag'],
  up: [26, 'flag'],
  group: [40, 'number'],
  mtu: [41, 'number'],
  prefix: [42, 'number'],
  parent: [43, 'number'],
  handle: [44, 'number'],
  prio: [45, 'number'],
  protocol: [46, 'number'],
  htbDefault: [47, 'number'],
  rate: [48, 'number'],
  ceil: [49, 'number'],
  burst: [50, 'number'],
  limit: [51, 'number'],
  classid: [52, 'number'],
  keys: [60, 'keys'],
  actions: [61, 'actions'],
};

/** The addon's error for a bad argument: a TypeError with code ERR_INVALID_ARG_TYPE. */
function argError(what: string): TypeError {
  const e = new TypeError(`invalid argument: expected ${what}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

class Writer {
  private buf = Buffer.allocUnsafe(4096);
  private n = 0;

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.n++] = v;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.n);
    this.n += 4;
  }

  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.n);
    this.n += 8;
  }

  str(s: string): void {
    const len = Buffer.byteLength(s);
    if (len > 0xffff) throw argError('a string of at most 65535 bytes');
    this.room(2 + len);
    this.buf.writeUInt16LE(len, this.n);
    this.buf.write(s, this.n + 2, len, 'utf8');
    this.n += 2 + len;
  }

  /** Overwrite a byte written earlier. */
  patch(at: number, v: number): void {
    this.buf[at] = v;
  }

  get length(): number {
    return this.n;
  }

  done(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

const num = (v: unknown, dflt: number): number => (typeof v === 'number' ? v : dflt);

function field(w: Writer, key: string, tag: number, type: FieldType, v: unknown): boolean {
  switch (type) {
    case 'name':
      if (v === undefined || v === null) return false;
      if (typeof v !== 'string') throw argError(`step.${key}: a string`);
      w.u8(tag);
      w.str(v);
      return true;
    case 'text':
      if (v === undefined || v === null) return false;
      w.u8(tag);
      w.str(typeof v === 'string' ? v : '');
      return true;
    case 'string':
      if (typeof v !== 'string') return false;
      w.u8(tag);
      w.str(v);
      return true;
    case 'flag':
      if (typeof v !== 'boolean') return false;
      w.u8(tag);
      w.u8(v ? 1 : 0);
      return true;
    case 'number':
      if (typeof v !== 'number') return false;
      w.u8(tag);
      w.f64(v);
      return true;
    case 'keys': {
      if (!Array.isArray(v)) return false;
      if (v.length > 8) throw argError('step.keys: at most 8');
      w.u8(tag);
      w.u8(v.length);
      for (const k of v as { val?: unknown; mask?: unknown; off?: unknown }[]) {
        w.f64(num(k?.val, 0));
        w.f64(num(k?.mask, 0));
        w.f64(num(k?.off, 0));
      }
      return true;
    }
    case 'actions': {
      if (!Array.isArray(v)) return false;
      if (v.length > 32) throw argError('step.actions: at most 32');
      w.u8(tag);
      w.u8(v.length);
      for (const a of v as { kind?: unknown; dev?: unknown; control?: unknown }[]) {
        const kind = a?.kind === 'redirect' ? 1 : a?.kind === 'mirror' ? 2 : 0;
        if (kind === 0) throw argError('step.actions[].kind: redirect or mirror');
        w.u8(kind);
        if (typeof a.dev !== 'string') throw argError(a.dev === undefined || a.dev === null ? 'step.dev: a link name' : 'step.dev: a string');
        w.str(a.dev);
        w.f64(num(a.control, 0));
      }
      return true;
    }
  }
}

/** The steps as the addon's netApply reads them. Throws the addon's TypeErrors for bad steps. */
export function encodeNetSteps(steps: readonly NetStep[]): Uint8Array {
  if (!Array.isArray(steps)) throw argError('netApply: steps must be an array');
  const w = new Writer();
  w.u32(steps.length);
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i] as unknown;
    if (typeof s !== 'object' || s === null) throw argError(`netApply: steps[${i}] must be an object`);
    const o = s as Record<string, unknown>;
    const code = typeof o.kind === 'string' && Object.hasOwn(STEP_KIND_CODES, o.kind) ? STEP_KIND_CODES[o.kind as NetStep['kind']] : undefined;
    if (code === undefined) throw argError(`step.kind: unknown '${typeof o.kind === 'string' ? o.kind : ''}'`);
    w.u8(code);
    const countAt = w.length;
    w.u8(0);
    let count = 0;
    for (const key in o) {
      const f = Object.hasOwn(FIELD_TAGS, key) ? FIELD_TAGS[key] : undefined;
      if (f && field(w, key, f[0], f[1], o[key])) count++;
    }
    w.patch(countAt, count);
  }
  return w.done();
}
