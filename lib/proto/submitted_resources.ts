/**
 * Resources in the shared messages: the ones a framework submits (tasks, executors, operations)
 * are wire-checked `ResourceInput`s, written back as they came; the ones Corral produced
 * (offers, agents) are validated `Resource`s.
 */
import { type Label, type Resource, type ResourceInput, validateResource } from '../common/resources/index.ts';
import { type JsonObject, type JsonReader, DecodeContext, emitObject } from './json.ts';
import { double } from './json_text.ts';
import { isPlainObject } from './message_fields.ts';
import { encodeLabels, readResourceInput } from './resources.ts';

/** One submitted `Resource`, wire-checked only; an absent `role` reads as `*`. */
export function readSubmittedResource(r: JsonReader): ResourceInput {
  return readResourceInput(r, { defaultRole: '*' });
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function labelListJson(v: unknown): JsonObject | undefined {
  if (!Array.isArray(v)) return undefined;
  const labels = v.filter(isPlainObject).map((l) => ({ key: String(l.key), ...(typeof l.value === 'string' ? { value: l.value } : {}) }));
  return encodeLabels(labels as Label[]);
}

/**
 * A ResourceInput (or a validated Resource, which has the same shape) as v1 JSON. Fields of the
 * wrong JavaScript type are left out rather than guessed at.
 */
export function encodeResourceInput(input: ResourceInput): JsonObject {
  const type = str(input.type);
  const resv = isPlainObject(input.reservation) ? input.reservation : undefined;
  const disk = isPlainObject(input.disk) ? input.disk : undefined;
  let diskJson: JsonObject | undefined;
  if (disk) {
    const p = isPlainObject(disk.persistence) ? disk.persistence : undefined;
    const v = isPlainObject(disk.volume) ? disk.volume : undefined;
    const s = isPlainObject(disk.source) ? disk.source : undefined;
    const root = s ? str(s.root) : undefined;
    diskJson = emitObject({
      persistence: p && emitObject({ id: str(p.id), principal: str(p.principal) }),
      volume: v && emitObject({ mode: str(v.mode), container_path: str(v.containerPath), host_path: str(v.hostPath) }),
      source:
        s &&
        emitObject({
          type: str(s.type),
          path: s.type === 'PATH' && root !== undefined ? { root } : undefined,
          mount: s.type === 'MOUNT' && root !== undefined ? { root } : undefined,
        }),
    });
  }
  return emitObject({
    name: str(input.name),
    type,
    scalar: typeof input.scalar === 'number' ? { value: double(input.scalar) } : undefined,
    ranges: Array.isArray(input.ranges)
      ? emitObject({ range: input.ranges.filter(isPlainObject).map((x) => ({ begin: x.begin as number, end: x.end as number })) })
      : undefined,
    set: Array.isArray(input.set) ? emitObject({ item: input.set.filter((x): x is string => typeof x === 'string') }) : undefined,
    role: str(input.role),
    reservation: resv && emitObject({ principal: str(resv.principal), labels: labelListJson(resv.labels) }),
    disk: diskJson,
    revocable: input.revocable === true ? {} : undefined,
  });
}

export function resourceInputsJson(rs: readonly ResourceInput[]): JsonObject[] {
  return rs.map(encodeResourceInput);
}

/**
 * A repeated `Resource` field of Corral's own (offers, agents), validated on the way in. Each
 * element is read in its own decode context so that its missing required fields are reported
 * (`Missing required fields: offers[0].resources[1].name`) before validation could trip over
 * a placeholder.
 */
export function readValidatedResources(r: JsonReader, key: string): Resource[] {
  return r.repeated(key, (v, path) => {
    const ctx = new DecodeContext();
    const input = readResourceInput(ctx.reader(v, path), { defaultRole: '*' });
    ctx.finish(path);
    return validateResource(input, path);
  });
}
