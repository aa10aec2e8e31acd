/** v1 JSON of `Offer` and `Offer.Operation`. */
import { type JsonObject, type JsonReader, decodeMessage, emitObject } from './json.ts';
import { type Mutable, encodeUrl, idJson, readIds, readRequiredId, readUrl } from './message_fields.ts';
import type { Offer, Operation } from './messages.ts';
import { encodeAttribute, encodeResource, readAttribute } from './resources.ts';
import { readSubmittedResource, readValidatedResources, resourceInputsJson } from './submitted_resources.ts';
import { encodeTaskInfo, readTaskInfo } from './task_info.ts';

/** `Offer.Operation.Type`, all of it; Corral implements the first five. */
export const OPERATION_TYPES = [
  'LAUNCH',
  'RESERVE',
  'UNRESERVE',
  'CREATE',
  'DESTROY',
  'LAUNCH_GROUP',
  'GROW_VOLUME',
  'SHRINK_VOLUME',
  'CREATE_DISK',
  'DESTROY_DISK',
  'UNKNOWN',
] as const;

export function readOffer(r: JsonReader): Offer {
  const out: Mutable<Offer> = {
    id: readRequiredId(r, 'id'),
    frameworkId: readRequiredId(r, 'framework_id'),
    agentId: readRequiredId(r, 'agent_id'),
    hostname: r.requiredString('hostname'),
    resources: readValidatedResources(r, 'resources'),
    attributes: r.repeatedMessage('attributes', readAttribute),
    executorIds: readIds(r, 'executor_ids'),
  };
  const url = r.message('url', readUrl);
  if (url !== undefined) out.url = url;
  return out;
}

export function encodeOffer(o: Offer): JsonObject {
  return emitObject({
    id: idJson(o.id),
    framework_id: idJson(o.frameworkId),
    agent_id: idJson(o.agentId),
    hostname: o.hostname,
    url: o.url && encodeUrl(o.url),
    resources: o.resources.map(encodeResource),
    attributes: o.attributes.map(encodeAttribute),
    executor_ids: o.executorIds.map((value) => ({ value })),
  });
}

/**
 * One `Offer.Operation`. LAUNCH, RESERVE, UNRESERVE, CREATE and DESTROY are read (a missing
 * sub-message reads as empty, as a protobuf getter does); any other type, a missing type or a
 * name the proto does not know is `{type: 'UNSUPPORTED', name}` (Mesos drops those). The
 * sub-messages of the five are wire-checked whenever present, whatever the type, as stout
 * parses every field it knows.
 */
export function readOperation(r: JsonReader): Operation {
  const raw = r.raw('type');
  const type = r.enum('type', OPERATION_TYPES);
  const launch = r.message('launch', (x) => ({ taskInfos: x.repeatedMessage('task_infos', readTaskInfo) }));
  const reserve = r.message('reserve', (x) => ({ resources: x.repeatedMessage('resources', readSubmittedResource) }));
  const unreserve = r.message('unreserve', (x) => ({ resources: x.repeatedMessage('resources', readSubmittedResource) }));
  const create = r.message('create', (x) => ({ volumes: x.repeatedMessage('volumes', readSubmittedResource) }));
  const destroy = r.message('destroy', (x) => ({ volumes: x.repeatedMessage('volumes', readSubmittedResource) }));
  switch (type) {
    case 'LAUNCH':
      return { type, launch: launch ?? { taskInfos: [] } };
    case 'RESERVE':
      return { type, reserve: reserve ?? { resources: [] } };
    case 'UNRESERVE':
      return { type, unreserve: unreserve ?? { resources: [] } };
    case 'CREATE':
      return { type, create: create ?? { volumes: [] } };
    case 'DESTROY':
      return { type, destroy: destroy ?? { volumes: [] } };
    default:
      return { type: 'UNSUPPORTED', name: type ?? (typeof raw === 'string' ? raw : 'UNKNOWN') };
  }
}

export function encodeOperation(o: Operation): JsonObject {
  switch (o.type) {
    case 'LAUNCH':
      return { type: o.type, launch: emitObject({ task_infos: o.launch.taskInfos.map(encodeTaskInfo) }) };
    case 'RESERVE':
      return { type: o.type, reserve: emitObject({ resources: resourceInputsJson(o.reserve.resources) }) };
    case 'UNRESERVE':
      return { type: o.type, unreserve: emitObject({ resources: resourceInputsJson(o.unreserve.resources) }) };
    case 'CREATE':
      return { type: o.type, create: emitObject({ volumes: resourceInputsJson(o.create.volumes) }) };
    case 'DESTROY':
      return { type: o.type, destroy: emitObject({ volumes: resourceInputsJson(o.destroy.volumes) }) };
    case 'UNSUPPORTED':
      // Only the type survives; the content of an unsupported operation is not kept.
      return { type: o.name };
  }
}

export const decodeOffer = (json: unknown, path = 'offer'): Offer => decodeMessage(json, path, readOffer);
export const decodeOperation = (json: unknown, path = 'operation'): Operation => decodeMessage(json, path, readOperation);
