/**
 * The proto2 ⇄ JSON mapping Mesos uses on every JSON API (stout's `protobuf.hpp` and
 * `jsonify.hpp`), as small building blocks for the v1 message codecs.
 *
 * Reading. A codec reads one message with a `JsonReader` over its JSON object:
 *
 * - field names are the proto's snake_case names; keys the codec does not ask for are ignored;
 * - `null` means "not set", for every field type;
 * - integers: a JSON number or a string holding a JSON number (`5`, `"5"`), whole and in range;
 * - doubles: a number, a string holding a number, or `"Infinity"` / `"-Infinity"`;
 * - bools: `true`/`false` or `"true"`/`"false"`;
 * - enums: only the value's name; a number is a type error; an unknown name is an error for a
 *   required field and leaves an optional field unset (and is dropped from a repeated one);
 * - bytes: standard base64 with padding, kept as the base64 text;
 * - a repeated field given a single non-array value takes it as a one-element list;
 * - a value of the wrong JSON kind is `Not expecting a JSON <kind> for field '<name>'`;
 * - missing required fields do not stop the reading: they are collected and reported together,
 *   as Mesos does, once the whole message is read: `Missing required fields: a.b, c`.
 *
 * Every error is a ValidationError whose `field` is the dotted path of the offending field
 * (`resources[1].ranges.range[0].begin`). While a message is being read, a required getter whose
 * field is missing returns a placeholder ('' / 0 / the first enum name / a message read from
 * `{}`) and records the path; `decodeMessage` (or `DecodeContext.finish`) then throws, so a
 * placeholder never reaches a caller.
 *
 * Two deliberate strictnesses over stout: a fractional number for an integer field is an error
 * (stout truncates it), and so is a negative number for an unsigned field (stout wraps it).
 * 64-bit integers are JavaScript numbers: exact up to 2^53, rounded beyond (as JSON.parse has
 * already done to the input anyway); fields that need exactness check `Number.isSafeInteger`.
 *
 * Writing: `emitObject` leaves out unset fields and empty repeated fields; a field with
 * an explicit `[default = …]` is written with `withDefault`, so it always appears; doubles are
 * wrapped with json_text.ts `double()` and the text is made by `stringifyWire`.
 */
import { ValidationError } from '../common/errors.ts';
import type { WireDouble } from './json_text.ts';

/**
 * JSON as codecs build it for the wire. A proto `double` is a `WireDouble` (json_text.ts
 * `double(n)`), so that `stringifyWire` writes it as Mesos does (`8.0`, bare `Infinity`).
 */
export type JsonValue = null | boolean | number | string | WireDouble | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

// ---------------------------------------------------------------------------------------------
// Paths and error texts

/** `parent.key`, or `key` at the root. */
export function fieldPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

/** `parent[index]`. */
export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** The proto field name a path ends with: `a.b[2]` → `b`. */
function fieldNameOf(path: string): string {
  const noIndex = path.replace(/(\[\d+\])+$/, '');
  const dot = noIndex.lastIndexOf('.');
  return dot < 0 ? noIndex : noIndex.slice(dot + 1);
}

/** The JSON kind of a parsed value, as stout names it in its errors. */
export function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

/** `Not expecting a JSON <kind> for field '<name>'`, naming the full path. */
export function typeMismatch(path: string, v: unknown): ValidationError {
  return new ValidationError(path, `Not expecting a JSON ${jsonKind(v)} for field '${fieldNameOf(path)}'`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// Scalar values (the value is present: neither undefined nor null)

export function readString(v: unknown, path: string): string {
  if (typeof v !== 'string') throw typeMismatch(path, v);
  return v;
}

export type IntegerType = 'int32' | 'uint32' | 'int64' | 'uint64';

const INT_LIMITS: Record<IntegerType, readonly [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [-(2 ** 63), 2 ** 63],
  uint64: [0, 2 ** 64],
};

/** A JSON number literal, possibly surrounded by JSON whitespace. */
const JSON_NUMBER = /^[ \t\n\r]*-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?[ \t\n\r]*$/;

function numberFromString(s: string, path: string): number {
  if (!JSON_NUMBER.test(s)) {
    throw new ValidationError(path, `Failed to parse '${s}' as a JSON number for field '${fieldNameOf(path)}'`);
  }
  return Number(s);
}

export function readInteger(v: unknown, path: string, type: IntegerType = 'int64'): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') n = numberFromString(v, path);
  else throw typeMismatch(path, v);
  if (!Number.isInteger(n)) throw new ValidationError(path, `must be a whole number for ${type} field '${fieldNameOf(path)}' (got ${n})`);
  const [min, max] = INT_LIMITS[type];
  if (n < min || n > max || (type.endsWith('64') && n === max)) {
    throw new ValidationError(path, `${n} is out of range for ${type} field '${fieldNameOf(path)}'`);
  }
  return n;
}

export function readDouble(v: unknown, path: string): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') throw typeMismatch(path, v);
  const t = v.trim();
  if (t === 'Infinity') return Infinity;
  if (t === '-Infinity') return -Infinity;
  return numberFromString(v, path);
}

export function readBool(v: unknown, path: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (typeof v === 'string') {
    throw new ValidationError(path, `Failed to parse '${v}' as a boolean for field '${fieldNameOf(path)}' (true or false)`);
  }
  throw typeMismatch(path, v);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A `bytes` field: standard base64 with padding, returned as the base64 text. */
export function readBytes(v: unknown, path: string): string {
  if (typeof v !== 'string') throw typeMismatch(path, v);
  if (!BASE64.test(v)) throw new ValidationError(path, `Failed to base64-decode field '${fieldNameOf(path)}'`);
  return v;
}

/**
 * An enum given by name. Returns undefined for an unknown name when the field is optional (the
 * caller leaves the field unset); throws for an unknown name when it is required.
 */
export function readEnum<T extends string>(v: unknown, path: string, names: readonly T[], required: boolean): T | undefined {
  if (typeof v !== 'string') throw typeMismatch(path, v);
  if ((names as readonly string[]).includes(v)) return v as T;
  if (!required) return undefined;
  throw new ValidationError(path, `Failed to find enum for '${v}' in field '${fieldNameOf(path)}' (expected one of ${names.join(', ')})`);
}

// ---------------------------------------------------------------------------------------------
// Messages

/** Collects the missing required fields of one decode. */
export class DecodeContext {
  private readonly missingPaths: string[] = [];

  /** A muted context forgets what it is told (used to build placeholders). */
  constructor(private readonly muted = false) {}

  missing(path: string): void {
    if (!this.muted) this.missingPaths.push(path);
  }

  get missingFields(): readonly string[] {
    return this.missingPaths;
  }

  /** A reader over `value`, which must be a JSON object. */
  reader(value: unknown, path: string): JsonReader {
    if (!isPlainObject(value)) throw typeMismatch(path, value);
    return new JsonReader(value, path, this);
  }

  /**
   * Throw `Missing required fields: …` if any were recorded. `field` names the error (the
   * decoded message's path); when it is empty the first missing path is used.
   */
  finish(field = ''): void {
    if (this.missingPaths.length === 0) return;
    throw new ValidationError(field || this.missingPaths[0]!, `Missing required fields: ${this.missingPaths.join(', ')}`, {
      code: 'MISSING_FIELDS',
    });
  }
}

/** Reads the fields of one JSON object that stands for a proto message. */
export class JsonReader {
  constructor(
    private readonly obj: Readonly<Record<string, unknown>>,
    /** The dotted path of this message ('' at the root). */
    readonly path: string,
    private readonly ctx: DecodeContext,
  ) {}

  /** The path of field `key` of this message. */
  at(key: string): string {
    return fieldPath(this.path, key);
  }

  /** The raw value of `key`, or undefined when it is absent or null. Unknown keys never matter. */
  raw(key: string): unknown {
    if (!Object.hasOwn(this.obj, key)) return undefined;
    const v = this.obj[key];
    return v === null ? undefined : v;
  }

  has(key: string): boolean {
    return this.raw(key) !== undefined;
  }

  private required<T>(key: string, value: T | undefined, placeholder: T): T {
    if (value !== undefined) return value;
    this.ctx.missing(this.at(key));
    return placeholder;
  }

  private opt<T>(key: string, read: (v: unknown, path: string) => T): T | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : read(v, this.at(key));
  }

  string(key: string): string | undefined {
    return this.opt(key, readString);
  }

  requiredString(key: string): string {
    return this.required(key, this.string(key), '');
  }

  integer(key: string, type: IntegerType = 'int64'): number | undefined {
    return this.opt(key, (v, p) => readInteger(v, p, type));
  }

  requiredInteger(key: string, type: IntegerType = 'int64'): number {
    return this.required(key, this.integer(key, type), 0);
  }

  double(key: string): number | undefined {
    return this.opt(key, readDouble);
  }

  requiredDouble(key: string): number {
    return this.required(key, this.double(key), 0);
  }

  bool(key: string): boolean | undefined {
    return this.opt(key, readBool);
  }

  requiredBool(key: string): boolean {
    return this.required(key, this.bool(key), false);
  }

  bytes(key: string): string | undefined {
    return this.opt(key, readBytes);
  }

  requiredBytes(key: string): string {
    return this.required(key, this.bytes(key), '');
  }

  /** An optional enum: an unknown name leaves it unset. */
  enum<T extends string>(key: string, names: readonly T[]): T | undefined {
    return this.opt(key, (v, p) => readEnum(v, p, names, false));
  }

  /** A required enum: an unknown name is an error. */
  requiredEnum<T extends string>(key: string, names: readonly T[]): T {
    return this.required(
      key,
      this.opt(key, (v, p) => readEnum(v, p, names, true)),
      names[0]!,
    );
  }

  /** An optional sub-message, read by `read` from its own reader. */
  message<T>(key: string, read: (r: JsonReader) => T): T | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : read(this.ctx.reader(v, this.at(key)));
  }

  /**
   * A required sub-message. When it is missing only its own path is recorded (as protobuf
   * reports it), and the placeholder is `read` over an empty object whose findings are ignored.
   */
  requiredMessage<T>(key: string, read: (r: JsonReader) => T): T {
    const got = this.message(key, read);
    if (got !== undefined) return got;
    this.ctx.missing(this.at(key));
    return read(new JsonReader({}, this.at(key), new DecodeContext(true)));
  }

  /**
   * A repeated field: an array, or a single non-array value taken as one element. Null
   * elements are skipped. `readOne` gets each element and its path (`key[i]`).
   */
  repeated<T>(key: string, readOne: (v: unknown, path: string) => T): T[] {
    return readRepeated(this.raw(key), this.at(key), readOne);
  }

  repeatedString(key: string): string[] {
    return this.repeated(key, readString);
  }

  repeatedInteger(key: string, type: IntegerType = 'int64'): number[] {
    return this.repeated(key, (v, p) => readInteger(v, p, type));
  }

  repeatedDouble(key: string): number[] {
    return this.repeated(key, readDouble);
  }

  /** Unknown names are dropped, as for an optional enum. */
  repeatedEnum<T extends string>(key: string, names: readonly T[]): T[] {
    const out: T[] = [];
    for (const x of this.repeated(key, (v, p) => readEnum(v, p, names, false))) if (x !== undefined) out.push(x);
    return out;
  }

  repeatedMessage<T>(key: string, read: (r: JsonReader) => T): T[] {
    return this.repeated(key, (v, p) => read(this.ctx.reader(v, p)));
  }
}

/**
 * The elements of a repeated value: undefined/null → none; an array → its non-null elements;
 * anything else → that one value (the stout quirk). Paths are `path[i]`.
 */
export function readRepeated<T>(value: unknown, path: string, readOne: (v: unknown, path: string) => T): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return [readOne(value, indexPath(path, 0))];
  const out: T[] = [];
  value.forEach((v, i) => {
    if (v !== null && v !== undefined) out.push(readOne(v, indexPath(path, i)));
  });
  return out;
}

/**
 * Read one message from parsed JSON: `read` gets a reader over `json` (which must be an
 * object); afterwards missing required fields are reported together. `path` names the message
 * in errors ('' for a top-level message, so that paths read exactly as Mesos writes them).
 */
export function decodeMessage<T>(json: unknown, path: string, read: (r: JsonReader) => T): T {
  const ctx = new DecodeContext();
  const out = read(ctx.reader(json, path));
  ctx.finish(path);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Nesting depth

/**
 * The deepest nesting of JSON objects and arrays accepted from a client (a framework, an
 * executor, an operator). Protobuf's own parser stops at 100 nested messages too. Deeper values
 * are refused where they are parsed: JSON.parse reads any depth, but JSON.stringify, structured
 * clones and every recursive walk overflow the stack a few thousand levels down.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * The limit for Corral's own messages between agent and master and for the agent's
 * checkpoints, which wrap what a client sent in a few more levels (a status sent by an executor
 * at depth 100 is one level deeper in the agent's re-registration): they must never be refused
 * for what a client was allowed to send.
 */
export const MAX_INTERNAL_JSON_DEPTH = MAX_JSON_DEPTH + 16;

/** A path longer than this is shortened in the error (a deep one repeats itself). */
const MAX_PATH_CHARS = 200;

interface DepthFrame {
  readonly value: object;
  readonly depth: number;
  readonly parent: DepthFrame | undefined;
  readonly key: string | number;
}

function framePath(root: string, f: DepthFrame): string {
  const keys: (string | number)[] = [];
  for (let x: DepthFrame | undefined = f; x !== undefined && x.parent !== undefined; x = x.parent) keys.push(x.key);
  let path = root;
  for (let i = keys.length - 1; i >= 0; i--) {
    const k = keys[i]!;
    const next = typeof k === 'number' ? indexPath(path, k) : fieldPath(path, k);
    if (next.length > MAX_PATH_CHARS && path !== '') return `${path}…`;
    path = next;
  }
  return path;
}

/**
 * Check that objects and arrays in parsed JSON nest at most `limit` levels (the top-level value
 * is level 1). Throws a ValidationError whose field is the path of the first value too deep
 * (`accept.operations[0].launch.task_infos[0].discovery.a.a…`), under `root` ('' for a request
 * body). It walks the value with its own stack, so any depth is safe to check.
 */
export function checkJsonDepth(value: unknown, root = '', limit = MAX_JSON_DEPTH): void {
  if (typeof value !== 'object' || value === null) return;
  const stack: DepthFrame[] = [{ value, depth: 1, parent: undefined, key: '' }];
  for (let f = stack.pop(); f !== undefined; f = stack.pop()) {
    if (f.depth > limit) {
      throw new ValidationError(framePath(root, f) || 'body', `is nested more than ${limit} levels deep (objects and arrays)`);
    }
    if (Array.isArray(f.value)) {
      const a = f.value as unknown[];
      for (let i = a.length - 1; i >= 0; i--) {
        const v = a[i];
        if (typeof v === 'object' && v !== null) stack.push({ value: v, depth: f.depth + 1, parent: f, key: i });
      }
    } else {
      const keys = Object.keys(f.value);
      for (let i = keys.length - 1; i >= 0; i--) {
        const v = (f.value as Record<string, unknown>)[keys[i]!];
        if (typeof v === 'object' && v !== null) stack.push({ value: v, depth: f.depth + 1, parent: f, key: keys[i]! });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * A JSON object with the given fields in the given order, leaving out fields that are unset
 * (undefined) and repeated fields that are empty (Mesos never writes `[]`).
 */
export function emitObject(fields: Readonly<Record<string, JsonValue | undefined>>): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out;
}

/** A field with an explicit proto default is always written: its value, or the default. */
export function withDefault<T extends JsonValue>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}
