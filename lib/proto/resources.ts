/**
 * The v1 JSON wire form of `Resource` and `Attribute`, the agent's `--resources`
 * flag and its `--attributes` text form.
 *
 * Decoding has two steps. The wire step reads the snake_case JSON by stout's JSON-to-proto rules
 * (lib/proto/json.ts) into a `ResourceInput`, reporting type errors and missing required proto
 * fields with their JSON paths. The model step is `validateResource` (lib/common), which applies
 * the validity rules and normalises the value. `decodeResourceInput` stops after the first step, for
 * callers that must answer an invalid resource otherwise than with an error (tasks, operations).
 *
 * Encoding writes what Mesos writes: `role` always (it has a default), `revocable: {}` when
 * revocable, ranges as `{"range":[{"begin":…,"end":…}]}`, empty repeated fields left out.
 * Scalars are proto doubles, wrapped with `double()`, so `stringifyWire` writes `8.0` as Mesos
 * does; a plain `JSON.stringify` writes `8`.
 */
import { ValidationError } from '../common/errors.ts';
import {
  type DiskInfo,
  type Label,
  type Resource,
  type ResourceInput,
  type ReservationInfo,
  Resources,
  UNRESERVED,
  checkAgentFlagResources,
  parseResourcesText,
  validateResource,
} from '../common/resources/index.ts';
import { type JsonObject, type JsonReader, type JsonValue, DecodeContext, emitObject, readRepeated } from './json.ts';
import { double } from './json_text.ts';
import type { Attribute } from './messages.ts';

export const VALUE_TYPES = ['SCALAR', 'RANGES', 'SET', 'TEXT'] as const;
export type WireValueType = (typeof VALUE_TYPES)[number];
const VOLUME_MODES = ['RW', 'RO'] as const;
const DISK_SOURCE_TYPES = ['UNKNOWN', 'PATH', 'MOUNT', 'BLOCK', 'RAW'] as const;

// ---------------------------------------------------------------------------------------------
// Value, Labels: wire readers shared by resources and attributes

/** `Value.Range` as read from the wire (uint64s within 2^53 are exact). */
export interface WireRange {
  begin: number;
  end: number;
}

function readRange(r: JsonReader): WireRange {
  return { begin: r.requiredInteger('begin', 'uint64'), end: r.requiredInteger('end', 'uint64') };
}

/** `Value.Ranges`: `{range: [{begin, end}, …]}`. */
export function readRanges(r: JsonReader): WireRange[] {
  return r.repeatedMessage('range', readRange);
}

/** `Value.Set`: `{item: [string, …]}`. */
export function readSet(r: JsonReader): string[] {
  return r.repeatedString('item');
}

/** `Value.Scalar`: `{value: double}`. */
export function readScalar(r: JsonReader): number {
  return r.requiredDouble('value');
}

/** `Value.Text`: `{value: string}`. */
export function readText(r: JsonReader): string {
  return r.requiredString('value');
}

function readLabel(r: JsonReader): Label {
  const key = r.requiredString('key');
  const value = r.string('value');
  return value === undefined ? { key } : { key, value };
}

/** `Labels`: `{labels: [{key, value}, …]}`. */
export function readLabels(r: JsonReader): Label[] {
  return r.repeatedMessage('labels', readLabel);
}

export function encodeLabels(labels: readonly Label[]): JsonObject {
  return emitObject({ labels: labels.map((l) => emitObject({ key: l.key, value: l.value })) });
}

function encodeRanges(ranges: readonly WireRange[]): JsonObject {
  return emitObject({ range: ranges.map((x) => ({ begin: x.begin, end: x.end })) });
}

function encodeSet(items: readonly string[]): JsonObject {
  return emitObject({ item: items.slice() });
}

// ---------------------------------------------------------------------------------------------
// Resource: wire → ResourceInput

function readReservation(r: JsonReader): ReservationInfo {
  const principal = r.string('principal');
  const labels = r.message('labels', readLabels);
  const out: { principal?: string; labels?: Label[] } = {};
  if (principal !== undefined) out.principal = principal;
  if (labels !== undefined) out.labels = labels;
  return out;
}

/** DiskInfo as `validateResource` reads it (camelCase, `source.root`), not yet checked. */
interface DiskInput {
  persistence?: { id: string; principal?: string };
  volume?: { mode: string; containerPath: string; hostPath?: string };
  source?: { type: string; root?: string };
}

function readDisk(r: JsonReader): DiskInput {
  const out: DiskInput = {};
  const persistence = r.message('persistence', (p) => {
    const id = p.requiredString('id');
    const principal = p.string('principal');
    return principal === undefined ? { id } : { id, principal };
  });
  if (persistence !== undefined) out.persistence = persistence;
  const volume = r.message('volume', (v) => {
    const mode = v.requiredEnum('mode', VOLUME_MODES);
    const containerPath = v.requiredString('container_path');
    const hostPath = v.string('host_path');
    return hostPath === undefined ? { mode, containerPath } : { mode, containerPath, hostPath };
  });
  if (volume !== undefined) out.volume = volume;
  const source = r.message('source', (s) => {
    const type = s.requiredEnum('type', DISK_SOURCE_TYPES);
    // `path` and `mount` each hold a required `root` (Mesos 0.27–1.4); the one matching `type`
    // gives the source's root.
    const pathRoot = s.message('path', (x) => x.requiredString('root'));
    const mountRoot = s.message('mount', (x) => x.requiredString('root'));
    const root = type === 'PATH' ? pathRoot : type === 'MOUNT' ? mountRoot : undefined;
    return root === undefined ? { type } : { type, root };
  });
  if (source !== undefined) out.source = source;
  return out;
}

export interface ResourceDecodeOptions {
  /** The role of a resource that gives none (the wire default is `*`). */
  defaultRole?: string;
}

/**
 * Read one v1 `Resource` object into a ResourceInput (wire rules only; see validateResource).
 * For use inside other message readers: required fields missing here are recorded in the
 * reader's context and reported when the enclosing decode finishes.
 */
export function readResourceInput(r: JsonReader, options: ResourceDecodeOptions = {}): ResourceInput {
  const input: ResourceInput = { name: r.requiredString('name'), type: r.requiredEnum('type', VALUE_TYPES) };
  const scalar = r.message('scalar', readScalar);
  if (scalar !== undefined) input.scalar = scalar;
  const ranges = r.message('ranges', readRanges);
  if (ranges !== undefined) input.ranges = ranges;
  const set = r.message('set', readSet);
  if (set !== undefined) input.set = set;
  const role = r.string('role') ?? options.defaultRole;
  if (role !== undefined) input.role = role;
  const reservation = r.message('reservation', readReservation);
  if (reservation !== undefined) input.reservation = reservation;
  const disk = r.message('disk', readDisk);
  if (disk !== undefined) input.disk = disk;
  // RevocableInfo is an empty message: its presence is the flag.
  if (r.message('revocable', () => true)) input.revocable = true;
  return input;
}

/** Decode one v1 `Resource` without the validity checks (wire errors and missing fields only). */
export function decodeResourceInput(json: unknown, path = 'resource', options: ResourceDecodeOptions = {}): ResourceInput {
  const ctx = new DecodeContext();
  const input = readResourceInput(ctx.reader(json, path), options);
  ctx.finish(path);
  return input;
}

/** Decode a repeated `Resource` field without the validity checks. */
export function decodeResourceInputs(json: unknown, path = 'resources', options: ResourceDecodeOptions = {}): ResourceInput[] {
  return readInputsAt(json, path, options).map((x) => x.input);
}

function readInputsAt(json: unknown, path: string, options: ResourceDecodeOptions): { input: ResourceInput; path: string }[] {
  const ctx = new DecodeContext();
  const out = readRepeated(json, path, (v, p) => ({ input: readResourceInput(ctx.reader(v, p), options), path: p }));
  ctx.finish(path);
  return out;
}

/** Decode and validate one v1 `Resource` (wire rules, then the validity rules). */
export function decodeResource(json: unknown, path = 'resource', options: ResourceDecodeOptions = {}): Resource {
  return validateResource(decodeResourceInput(json, path, options), path);
}

/**
 * Decode and validate a JSON array of v1 `Resource` objects into a Resources collection (same
 * identities merge; empty values drop). Errors name the element: `resources[1] …`.
 */
export function decodeResources(json: unknown, path = 'resources', options: ResourceDecodeOptions = {}): Resources {
  return Resources.of(readInputsAt(json, path, options).map((x) => validateResource(x.input, x.path)));
}

// ---------------------------------------------------------------------------------------------
// Resource: model → wire

function encodeReservation(resv: ReservationInfo): JsonObject {
  return emitObject({
    principal: resv.principal,
    labels: resv.labels && resv.labels.length > 0 ? encodeLabels(resv.labels) : undefined,
  });
}

function encodeDisk(d: DiskInfo): JsonObject {
  const s = d.source;
  return emitObject({
    persistence: d.persistence && emitObject({ id: d.persistence.id, principal: d.persistence.principal }),
    volume: d.volume && emitObject({ mode: d.volume.mode, container_path: d.volume.containerPath, host_path: d.volume.hostPath }),
    source:
      s &&
      emitObject({
        type: s.type,
        path: s.type === 'PATH' && s.root !== undefined ? { root: s.root } : undefined,
        mount: s.type === 'MOUNT' && s.root !== undefined ? { root: s.root } : undefined,
      }),
  });
}

/** A resource as Mesos writes it in v1 JSON. */
export function encodeResource(r: Resource): JsonObject {
  return emitObject({
    name: r.name,
    type: r.type,
    scalar: r.type === 'SCALAR' ? { value: double(r.scalar ?? 0) } : undefined,
    ranges: r.type === 'RANGES' ? encodeRanges(r.ranges ?? []) : undefined,
    set: r.type === 'SET' ? encodeSet(r.set ?? []) : undefined,
    role: r.role,
    reservation: r.reservation && encodeReservation(r.reservation),
    disk: r.disk && encodeDisk(r.disk),
    revocable: r.revocable ? {} : undefined,
  });
}

/** A repeated `Resource` field: a JSON array (empty when there is nothing). */
export function encodeResources(resources: Iterable<Resource>): JsonObject[] {
  return Array.from(resources, encodeResource);
}

// ---------------------------------------------------------------------------------------------
// The agent's --resources flag

/** Parse `text` as JSON if it is a JSON array; undefined when it is not one. */
function jsonArrayOf(text: string): unknown[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return Array.isArray(parsed) ? parsed : undefined;
}

/**
 * The value of the agent's `--resources` flag: a JSON array of v1 `Resource` objects (those
 * without a `role` get `defaultRole`), or else the semicolon text form. Either way the command
 * line rules follow: no persistent volumes, revocable resources or dynamic reservations, and
 * one type per name. A JSON array with a bad element is an error naming the element
 * (`resources[1]…`); it never falls back to the text form.
 */
export function parseResourcesFlag(value: string, defaultRole: string = UNRESERVED): Resources {
  const array = jsonArrayOf(value);
  const res = array !== undefined ? decodeResources(array, 'resources', { defaultRole }) : parseResourcesText(value, defaultRole);
  checkAgentFlagResources(res);
  return res;
}

// ---------------------------------------------------------------------------------------------
// Attribute

/**
 * Read one v1 `Attribute`: `{name, type, scalar | ranges | text}`. The value matching `type`
 * must be present (other values are ignored, as Mesos ignores them); the name must not be
 * empty; a scalar must be finite. SET is a valid `Value.Type` but not a valid attribute type:
 * Mesos refuses it (`Attributes::isValid` is false for it, and `Attributes::parse` aborts with
 * "Bad type for attribute"), and so does Corral.
 */
export function readAttribute(r: JsonReader): Attribute {
  const name = r.requiredString('name');
  const typeGiven = r.has('type');
  const type = r.requiredEnum('type', VALUE_TYPES);
  if (r.has('name') && name === '') throw new ValidationError(r.at('name'), 'must not be empty');
  if (!typeGiven) return { name, type: 'TEXT', text: '' }; // placeholder; the decode reports `type` missing
  const need = <T>(key: string, v: T | undefined): T => {
    if (v === undefined) throw new ValidationError(r.at(key), `is required for a ${type} attribute`);
    return v;
  };
  switch (type) {
    case 'SCALAR': {
      const scalar = need('scalar', r.message('scalar', readScalar));
      if (!Number.isFinite(scalar)) throw new ValidationError(r.at('scalar.value'), `must be a finite number (got ${scalar})`);
      return { name, type, scalar };
    }
    case 'RANGES':
      return { name, type, ranges: need('ranges', r.message('ranges', readRanges)) };
    case 'SET':
      throw badAttributeType(r.at('type'), name);
    case 'TEXT':
      return { name, type, text: need('text', r.message('text', readText)) };
  }
}

/** Mesos's words for a SET attribute, which it does not support. */
function badAttributeType(field: string, name: string): ValidationError {
  return new ValidationError(field, `Bad type for attribute '${name}': SET is not supported for attributes (use SCALAR, RANGES or TEXT)`);
}

export function decodeAttribute(json: unknown, path = 'attribute'): Attribute {
  const ctx = new DecodeContext();
  const a = readAttribute(ctx.reader(json, path));
  ctx.finish(path);
  return a;
}

/** Decode a repeated `Attribute` field. */
export function decodeAttributes(json: unknown, path = 'attributes'): Attribute[] {
  const ctx = new DecodeContext();
  const out = readRepeated(json, path, (v, p) => readAttribute(ctx.reader(v, p)));
  ctx.finish(path);
  return out;
}

export function encodeAttribute(a: Attribute): JsonObject {
  let value: JsonValue;
  switch (a.type) {
    case 'SCALAR':
      value = { value: double(a.scalar) };
      break;
    case 'RANGES':
      value = encodeRanges(a.ranges);
      break;
    case 'SET':
      value = encodeSet(a.set);
      break;
    case 'TEXT':
      value = { value: a.text };
      break;
  }
  return { name: a.name, type: a.type, [a.type.toLowerCase()]: value };
}

export function encodeAttributes(attributes: Iterable<Attribute>): JsonObject[] {
  return Array.from(attributes, encodeAttribute);
}

// ---------------------------------------------------------------------------------------------
// The agent's --attributes flag

const SCALAR_TEXT = /^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/;
const UINT_TEXT = /^[0-9]+$/;

/** Every bracket of each kind closes one opened before it, and all are closed. */
function bracketsBalanced(s: string): boolean {
  for (const [open, close] of [
    ['{', '}'],
    ['[', ']'],
    ['(', ')'],
  ] as const) {
    let depth = 0;
    for (const c of s) {
      if (c === open) depth++;
      else if (c === close && --depth < 0) return false;
    }
    if (depth !== 0) return false;
  }
  return true;
}

function parseAttributeValue(name: string, raw: string, at: string): Attribute {
  const v = raw.replaceAll(' ', '');
  if (v.length === 0) throw new ValidationError(at, 'has no value');
  if (!bracketsBalanced(v)) throw new ValidationError(at, `mismatched brackets in '${v}'`);
  if (v.startsWith('[')) {
    const tokens = v.split(/[[\]\-,\n]/).filter((t) => t.length > 0);
    if (tokens.length === 0 || tokens.length % 2 !== 0) {
      throw new ValidationError(at, `ranges '${v}' must be one or more pairs like [1-10,20-30]`);
    }
    const ranges: WireRange[] = [];
    for (let i = 0; i < tokens.length; i += 2) {
      const [b, e] = [tokens[i]!, tokens[i + 1]!];
      if (!UINT_TEXT.test(b) || !UINT_TEXT.test(e)) throw new ValidationError(at, `'${b}-${e}' is not a range of non-negative integers`);
      const begin = Number(b);
      const end = Number(e);
      if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end)) throw new ValidationError(at, `'${b}-${e}' exceeds 2^53`);
      if (begin > end) throw new ValidationError(at, `range ${begin}-${end} has begin greater than end`);
      ranges.push({ begin, end });
    }
    return { name, type: 'RANGES', ranges: coalesce(ranges) };
  }
  if (v.includes('[')) throw new ValidationError(at, `unexpected '[' in '${v}'`);
  // Mesos parses `{a,b}` as a SET value and then refuses it as an attribute type.
  if (v.startsWith('{')) throw badAttributeType(at, name);
  if (v.includes('{')) throw new ValidationError(at, `unexpected '{' in '${v}'`);
  if (SCALAR_TEXT.test(v)) {
    const scalar = Number(v);
    if (!Number.isFinite(scalar)) throw new ValidationError(at, `scalar '${v}' is not finite`);
    return { name, type: 'SCALAR', scalar };
  }
  return { name, type: 'TEXT', text: v };
}

function coalesce(ranges: WireRange[]): WireRange[] {
  const sorted = ranges.slice().sort((x, y) => x.begin - y.begin || x.end - y.end);
  const out: WireRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.begin <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ begin: r.begin, end: r.end });
  }
  return out;
}

/**
 * The agent's `--attributes` flag, as Mesos reads it: entries separated by `;` or newlines
 * (empty ones skipped), each `name:value` split at the first `:`; spaces are removed from the
 * value; a value starting with `[` is RANGES (`[1-10,20-30]`, coalesced), a number is a SCALAR,
 * anything else TEXT. A SET value (`{a,b}`) is refused with Mesos's "Bad type for attribute".
 * Example: `rack:r1;zone:a;level:2;ports:[1-2]`.
 */
export function parseAttributesText(text: string): Attribute[] {
  const out: Attribute[] = [];
  for (const token of text.split(/[;\n]/)) {
    if (token.length === 0) continue;
    const at = `attributes '${token}'`;
    const colon = token.indexOf(':');
    if (colon <= 0 || colon === token.length - 1) throw new ValidationError(at, "must be 'name:value'");
    out.push(parseAttributeValue(token.slice(0, colon), token.slice(colon + 1), at));
  }
  return out;
}

/**
 * Attributes as the state endpoints show them: name → number for SCALAR, text for TEXT,
 * "[a-b, c-d]" for RANGES.
 */
export function attributesSummary(attrs: readonly Attribute[]): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const a of attrs) {
    if (a.type === 'SCALAR') out[a.name] = a.scalar;
    else if (a.type === 'TEXT') out[a.name] = a.text;
    else if (a.type === 'RANGES') out[a.name] = `[${a.ranges.map((r) => `${r.begin}-${r.end}`).join(', ')}]`;
    else out[a.name] = `{${a.set.join(', ')}}`;
  }
  return out;
}
