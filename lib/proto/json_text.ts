/**
 * JSON text as Corral writes it on the wire (Mesos's form):
 *
 * - pure ASCII: every non-ASCII character (U+2028/U+2029 included) is escaped as `\uXXXX`,
 *   characters outside the BMP as their two surrogate escapes, so a RecordIO byte count equals
 *   the text's length and no client can mis-count characters for bytes;
 * - one line: no newline ever appears outside a string (no indentation), none inside (escaped);
 * - doubles as Mesos writes them: a value wrapped with `double(n)` is written with a fraction
 *   when integral (`15.0`), and as the bare tokens `Infinity`, `-Infinity`, `NaN` when not
 *   finite (non-standard JSON, as Mesos emits). Plain numbers are written as JSON.stringify does.
 *
 * This is on the hot path of every event, so the common case is one native JSON.stringify plus
 * one regex test. A WireDouble's toJSON returns a marker string that carries a random per-process
 * nonce; only when a marker was produced is the text rewritten, replacing each marker string
 * token by the number token. (A value can collide with a marker only if it contains a NUL
 * followed by the 128-bit nonce, which never leaves this process.)
 */
import { ValidationError } from '../common/errors.ts';

const NONCE = Array.from(globalThis.crypto.getRandomValues(new Uint32Array(4)), (x) => x.toString(16).padStart(8, '0')).join('');
const MARK = `\u0000${NONCE}`;
/** How the marker looks once JSON.stringify has escaped its NUL. */
const MARK_RE = new RegExp(`"\\\\u0000${NONCE}([^"]*)"`, 'g');
const NON_ASCII_ALL = /[^\x00-\x7f]/g;

/** > 0 while stringifyWire runs (toJSON writes markers only then). */
let wireDepth = 0;
/** Set by toJSON when it wrote a marker during the current stringifyWire. */
let sawDouble = false;

/** Mesos's text for a double: integral values get `.0`; non-finite values are bare tokens. */
export function formatDouble(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Object.is(n, -0)) return '-0.0';
  const s = String(n);
  // 1e21 and beyond are integral but written with an exponent, which is already a JSON double.
  return Number.isInteger(n) && !s.includes('e') ? `${s}.0` : s;
}

/**
 * A number that is a proto `double` on the wire. Outside stringifyWire (e.g. a plain
 * JSON.stringify in a log line) it serialises as the plain number.
 */
export class WireDouble {
  constructor(readonly value: number) {}

  toJSON(): number | string {
    if (wireDepth === 0) return this.value;
    sawDouble = true;
    return MARK + formatDouble(this.value);
  }

  valueOf(): number {
    return this.value;
  }
}

/** Mark `n` as a double for stringifyWire. */
export function double(n: number): WireDouble {
  return new WireDouble(n);
}

export function isWireDouble(v: unknown): v is WireDouble {
  return v instanceof WireDouble;
}

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** Escape every non-ASCII UTF-16 code unit of a JSON text as `\uXXXX`. */
export function asciiJson(text: string): string {
  // Measured: the native UTF-8 byte count is ~3x faster than a regex test on ASCII text.
  return Buffer.byteLength(text, 'utf8') === text.length ? text : text.replace(NON_ASCII_ALL, escapeChar);
}

/** Serialise `value` as one line of pure-ASCII JSON text (see the module comment). */
export function stringifyWire(value: unknown): string {
  const outerSaw = sawDouble;
  sawDouble = false;
  wireDepth++;
  let text: string | undefined;
  let saw: boolean;
  try {
    text = JSON.stringify(value);
  } finally {
    wireDepth--;
    saw = sawDouble;
    sawDouble = outerSaw;
  }
  if (text === undefined) {
    throw new ValidationError('value', `cannot be written as JSON (${typeof value})`);
  }
  if (saw) text = text.replace(MARK_RE, '$1');
  return asciiJson(text);
}
