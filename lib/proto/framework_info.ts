/** v1 JSON of `FrameworkInfo` and its capability names. */
import { type JsonObject, type JsonReader, decodeMessage, emitObject } from './json.ts';
import { double } from './json_text.ts';
import { type Mutable, idJson, labelsJson, readId, readLabelsField } from './message_fields.ts';
import type { CapabilityType, FrameworkInfo } from './messages.ts';

/** `FrameworkInfo.Capability.Type`, the full v1 list (a name the proto knows is read even if Corral never uses it). */
export const CAPABILITY_TYPES: readonly CapabilityType[] = [
  'REVOCABLE_RESOURCES',
  'TASK_KILLING_STATE',
  'GPU_RESOURCES',
  'SHARED_RESOURCES',
  'PARTITION_AWARE',
  'MULTI_ROLE',
  'RESERVATION_REFINEMENT',
  'REGION_AWARE',
];

export function readFrameworkInfo(r: JsonReader): FrameworkInfo {
  const out: Mutable<FrameworkInfo> = {
    user: r.requiredString('user'),
    name: r.requiredString('name'),
    failoverTimeout: r.double('failover_timeout') ?? 0,
    checkpoint: r.bool('checkpoint') ?? false,
    role: r.string('role') ?? '*',
    // `Capability.type` is an optional enum: an unknown name leaves it unset, and a capability
    // without a type means nothing, so it is dropped.
    capabilities: r.repeatedMessage('capabilities', (c) => c.enum('type', CAPABILITY_TYPES)).filter((c): c is CapabilityType => c !== undefined),
  };
  const id = readId(r, 'id');
  if (id !== undefined) out.id = id;
  const roles = r.repeatedString('roles');
  if (roles.length > 0) out.roles = roles;
  const hostname = r.string('hostname');
  if (hostname !== undefined) out.hostname = hostname;
  const principal = r.string('principal');
  if (principal !== undefined) out.principal = principal;
  const webuiUrl = r.string('webui_url');
  if (webuiUrl !== undefined) out.webuiUrl = webuiUrl;
  const labels = readLabelsField(r);
  if (labels !== undefined) out.labels = labels;
  return out;
}

export function encodeFrameworkInfo(f: FrameworkInfo): JsonObject {
  return emitObject({
    user: f.user,
    name: f.name,
    id: idJson(f.id),
    failover_timeout: double(f.failoverTimeout),
    checkpoint: f.checkpoint,
    role: f.role,
    roles: f.roles?.slice(),
    hostname: f.hostname,
    principal: f.principal,
    webui_url: f.webuiUrl,
    capabilities: f.capabilities.map((type) => ({ type })),
    labels: labelsJson(f.labels),
  });
}

export const decodeFrameworkInfo = (json: unknown, path = 'framework_info'): FrameworkInfo => decodeMessage(json, path, readFrameworkInfo);
