/** v1 JSON of `MasterInfo` and `AgentInfo`. */
import { ValidationError } from '../common/errors.ts';
import { type JsonObject, type JsonReader, decodeMessage, emitObject } from './json.ts';
import { type Mutable, encodeAddress, idJson, readAddress, readId } from './message_fields.ts';
import type { AgentInfo, MasterInfo } from './messages.ts';
import { encodeAttribute, encodeResource, readAttribute } from './resources.ts';
import { readValidatedResources } from './submitted_resources.ts';

export function readMasterInfo(r: JsonReader): MasterInfo {
  const out: Mutable<MasterInfo> = {
    id: r.requiredString('id'),
    ip: r.requiredInteger('ip', 'uint32'),
    port: r.requiredInteger('port', 'uint32'),
  };
  const pid = r.string('pid');
  if (pid !== undefined) out.pid = pid;
  const hostname = r.string('hostname');
  if (hostname !== undefined) out.hostname = hostname;
  const version = r.string('version');
  if (version !== undefined) out.version = version;
  const address = r.message('address', readAddress);
  if (address !== undefined) out.address = address;
  return out;
}

export function encodeMasterInfo(m: MasterInfo): JsonObject {
  return emitObject({
    id: m.id,
    ip: m.ip,
    port: m.port,
    pid: m.pid,
    hostname: m.hostname,
    version: m.version,
    address: m.address && encodeAddress(m.address),
  });
}

/**
 * The IPv4 address `a.b.c.d` as `MasterInfo.ip` carries it: the four bytes in network order
 * read as a little-endian uint32 (127.0.0.1 → 16777343).
 */
export function masterInfoIp(ipv4: string): number {
  const parts = ipv4.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new ValidationError('ip', `'${ipv4}' is not an IPv4 address`);
  }
  const [a, b, c, d] = parts.map(Number) as [number, number, number, number];
  return (a | (b << 8) | (c << 16) | (d << 24)) >>> 0;
}

/** v1 `AgentInfo`. `port` has the default 5051; `checkpoint` is not a v1 field (see internal_codec). */
export function readAgentInfo(r: JsonReader): AgentInfo {
  const out: Mutable<AgentInfo> = {
    hostname: r.requiredString('hostname'),
    port: r.integer('port', 'int32') ?? 5051,
    resources: readValidatedResources(r, 'resources'),
    attributes: r.repeatedMessage('attributes', readAttribute),
  };
  const id = readId(r, 'id');
  if (id !== undefined) out.id = id;
  return out;
}

export function encodeAgentInfo(a: AgentInfo): JsonObject {
  return emitObject({
    hostname: a.hostname,
    port: a.port ?? 5051,
    resources: a.resources.map(encodeResource),
    attributes: a.attributes.map(encodeAttribute),
    id: idJson(a.id),
  });
}

export const decodeMasterInfo = (json: unknown, path = 'master_info'): MasterInfo => decodeMessage(json, path, readMasterInfo);
export const decodeAgentInfo = (json: unknown, path = 'agent_info'): AgentInfo => decodeMessage(json, path, readAgentInfo);
