/**
 * The v1 JSON fields and small messages every shared message is built from: ids (`{"value": …}`),
 * passthrough sub-messages, durations, Labels, Address, URL, Filters and KillPolicy.
 */
import { type JsonObject, type JsonReader, decodeMessage, emitObject, typeMismatch } from './json.ts';
import { double } from './json_text.ts';
import type { Address, Filters, KillPolicy, Labels, Passthrough, Url } from './messages.ts';
import { encodeLabels, readLabels } from './resources.ts';

/** The model types with their `readonly` removed, for building values field by field. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function readValue(r: JsonReader): string {
  return r.requiredString('value');
}

/** An optional id field (`{"value": …}`). */
export function readId(r: JsonReader, key: string): string | undefined {
  return r.message(key, readValue);
}

/** A required id field. */
export function readRequiredId(r: JsonReader, key: string): string {
  return r.requiredMessage(key, readValue);
}

/** A repeated id field. */
export function readIds(r: JsonReader, key: string): string[] {
  return r.repeatedMessage(key, readValue);
}

/** An id as the wire wraps it; undefined stays unset. */
export function idJson(value: string): JsonObject;
export function idJson(value: string | undefined): JsonObject | undefined;
export function idJson(value: string | undefined): JsonObject | undefined {
  return value === undefined ? undefined : { value };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A sub-message Corral does not interpret: its JSON object, unchanged. */
export function readPassthrough(r: JsonReader, key: string): Passthrough | undefined {
  const v = r.raw(key);
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) throw typeMismatch(r.at(key), v);
  return v;
}

export function passthroughJson(p: Passthrough | undefined): JsonObject | undefined {
  return p as JsonObject | undefined;
}

/** A `DurationInfo` (or `TimeInfo`) field, in nanoseconds. */
export function readNanoseconds(r: JsonReader, key: string): number | undefined {
  return r.message(key, (d) => d.requiredInteger('nanoseconds', 'int64'));
}

export function nanosecondsJson(ns: number | undefined): JsonObject | undefined {
  return ns === undefined ? undefined : { nanoseconds: ns };
}

/** A `Labels` field. */
export function readLabelsField(r: JsonReader, key = 'labels'): Labels | undefined {
  return r.message(key, (x) => ({ labels: readLabels(x) }));
}

export function labelsJson(l: Labels | undefined): JsonObject | undefined {
  return l === undefined ? undefined : encodeLabels(l.labels);
}

// ---------------------------------------------------------------------------------------------
// Small messages: Address, URL, Filters, KillPolicy

export function readAddress(r: JsonReader): Address {
  const out: Mutable<Address> = { port: r.requiredInteger('port', 'int32') };
  const hostname = r.string('hostname');
  if (hostname !== undefined) out.hostname = hostname;
  const ip = r.string('ip');
  if (ip !== undefined) out.ip = ip;
  return out;
}

export function encodeAddress(a: Address): JsonObject {
  return emitObject({ hostname: a.hostname, ip: a.ip, port: a.port });
}

export function readUrl(r: JsonReader): Url {
  const out: Mutable<Url> = { scheme: r.requiredString('scheme'), address: r.requiredMessage('address', readAddress) };
  const path = r.string('path');
  if (path !== undefined) out.path = path;
  return out;
}

export function encodeUrl(u: Url): JsonObject {
  return emitObject({ scheme: u.scheme, address: encodeAddress(u.address), path: u.path });
}

/** `Filters`: `refuse_seconds` defaults to 5.0. */
export function readFilters(r: JsonReader): Filters {
  return { refuseSeconds: r.double('refuse_seconds') ?? 5 };
}

export function encodeFilters(f: Filters): JsonObject {
  return { refuse_seconds: double(f.refuseSeconds) };
}

export function readKillPolicy(r: JsonReader): KillPolicy {
  const ns = readNanoseconds(r, 'grace_period');
  return ns === undefined ? {} : { gracePeriodNs: ns };
}

export function encodeKillPolicy(k: KillPolicy): JsonObject {
  return emitObject({ grace_period: nanosecondsJson(k.gracePeriodNs) });
}

export const decodeFilters = (json: unknown, path = 'filters'): Filters => decodeMessage(json, path, readFilters);
export const decodeKillPolicy = (json: unknown, path = 'kill_policy'): KillPolicy => decodeMessage(json, path, readKillPolicy);
