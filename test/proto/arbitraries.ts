/**
 * fast-check arbitraries for the v1 message model (lib/proto/messages.ts), shared by the codec
 * property tests. Values are canonical: what a decoder returns for them (defaults filled in,
 * resources normalised, no keys holding `undefined`), so `decode(encode(x))` must equal `x`.
 */
import fc from 'fast-check';
import { type Resource, type ResourceInput, validateResource } from '../../lib/common/resources/index.ts';
import { TASK_REASONS, TASK_SOURCES, TASK_STATES } from '../../lib/proto/common_messages.ts';
import type {
  Address,
  Attribute,
  CommandInfo,
  ExecutorInfo,
  FrameworkInfo,
  KillPolicy,
  Labels,
  MasterInfo,
  Offer,
  Passthrough,
  SchedulerEvent,
  TaskInfo,
  TaskStatus,
  Url,
} from '../../lib/proto/messages.ts';

/** A record whose keys outside `required` may be absent (never present as undefined). */
function rec<T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }, required: (keyof T)[]): fc.Arbitrary<T> {
  return fc.record(model, { requiredKeys: required, noNullPrototype: true }) as unknown as fc.Arbitrary<T>;
}

/** Any text, astral characters and lone surrogates included. */
export const text = fc.string({ unit: 'binary', maxLength: 10 });
export const id = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 });
const name = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 });
export const bytes = fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b).toString('base64'));
export const uuid = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64'));
/** Doubles JSON can carry back (no NaN or infinities). */
export const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const uint32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const ns = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

export const labels: fc.Arbitrary<Labels> = fc
  .array(rec<{ key: string; value: string }>({ key: text, value: text }, ['key']), { maxLength: 3 })
  .map((l) => ({ labels: l }));

export const passthrough: fc.Arbitrary<Passthrough> = fc.dictionary(
  fc.stringMatching(/^[a-z_]{1,8}$/),
  fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 })),
  { maxKeys: 3, noNullPrototype: true },
);

// ---------------------------------------------------------------------------------------------
// Resources and attributes

const role = fc.constantFrom('*', 'ads', 'r1', 'web.prod');
const reservedRole = fc.constantFrom('ads', 'r1');

/** Valid, normalised resources (what validateResource returns). */
export const resource: fc.Arbitrary<Resource> = fc.oneof(
  fc
    .record({ n: fc.constantFrom('cpus', 'mem', 'disk', 'gpus', 'x'), milli: fc.integer({ min: 1, max: 10 ** 12 }), role, revocable: fc.boolean() })
    .map(({ n, milli, role, revocable }) =>
      validateResource({ name: n, type: 'SCALAR', scalar: milli / 1000, role, ...(revocable ? { revocable: true } : {}) }),
    ),
  fc
    .record({ points: fc.uniqueArray(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 8 }), role })
    .map(({ points, role }) =>
      validateResource({ name: 'ports', type: 'RANGES', ranges: points.sort((a, b) => a - b).map((p) => ({ begin: p, end: p })), role }),
    ),
  fc
    .record({ items: fc.uniqueArray(text, { minLength: 1, maxLength: 4 }), role })
    .map(({ items, role }) => validateResource({ name: 'bugs', type: 'SET', set: items, role })),
  fc
    .record({
      role: reservedRole,
      principal: fc.option(text, { nil: undefined }),
      labels: fc.array(rec<{ key: string; value: string }>({ key: text, value: text }, ['key']), { maxLength: 2 }),
    })
    .map(({ role, principal, labels }) =>
      validateResource({ name: 'cpus', type: 'SCALAR', scalar: 2, role, reservation: { ...(principal === undefined ? {} : { principal }), labels } }),
    ),
  fc.record({ role: reservedRole, pid: id }).map(({ role, pid }) =>
    validateResource({
      name: 'disk',
      type: 'SCALAR',
      scalar: 64,
      role,
      reservation: { principal: 'ops' },
      disk: { persistence: { id: pid, principal: 'ops' }, volume: { mode: 'RW', containerPath: 'data' } },
    }),
  ),
  fc
    .constantFrom('PATH', 'MOUNT')
    .map((type) => validateResource({ name: 'disk', type: 'SCALAR', scalar: 1024, role: '*', disk: { source: { type, root: `/mnt/${type}` } } })),
);

/** A resource as a framework submits it, in the shape readResourceInput returns. */
export const resourceInput: fc.Arbitrary<ResourceInput> = resource.map((r) => {
  const out: ResourceInput = { name: r.name, type: r.type };
  if (r.scalar !== undefined) out.scalar = r.scalar;
  if (r.ranges !== undefined) out.ranges = r.ranges.map((x) => ({ begin: x.begin, end: x.end }));
  if (r.set !== undefined) out.set = r.set.slice();
  out.role = r.role;
  if (r.reservation !== undefined) out.reservation = { ...r.reservation, ...(r.reservation.labels ? { labels: r.reservation.labels.slice() } : {}) };
  if (r.disk !== undefined) out.disk = r.disk;
  if (r.revocable) out.revocable = true;
  return out;
});

export const attribute: fc.Arbitrary<Attribute> = fc.oneof(
  fc.record({ name, text }).map(({ name, text }): Attribute => ({ name, type: 'TEXT', text })),
  fc.record({ name, scalar: finite }).map(({ name, scalar }): Attribute => ({ name, type: 'SCALAR', scalar })),
  fc
    .record({ name, ranges: fc.array(fc.record({ begin: fc.nat(), end: fc.nat() }), { maxLength: 3 }) })
    .map(({ name, ranges }): Attribute => ({ name, type: 'RANGES', ranges })),
);

// ---------------------------------------------------------------------------------------------
// Messages

export const address: fc.Arbitrary<Address> = rec<Address>({ hostname: text, ip: text, port: int32 }, ['port']);
export const url: fc.Arbitrary<Url> = rec<Url>({ scheme: text, address, path: text }, ['scheme', 'address']);

export const taskStatus: fc.Arbitrary<TaskStatus> = rec<TaskStatus>(
  {
    taskId: id,
    state: fc.constantFrom(...TASK_STATES),
    message: text,
    source: fc.constantFrom(...TASK_SOURCES),
    reason: fc.constantFrom(...TASK_REASONS),
    data: bytes,
    agentId: id,
    executorId: id,
    timestamp: finite,
    uuid,
    healthy: fc.boolean(),
    labels,
    containerStatus: passthrough,
  },
  ['taskId', 'state'],
);

export const offer: fc.Arbitrary<Offer> = rec<Offer>(
  {
    id,
    frameworkId: id,
    agentId: id,
    hostname: text,
    url,
    resources: fc.array(resource, { maxLength: 4 }),
    attributes: fc.array(attribute, { maxLength: 3 }),
    executorIds: fc.array(id, { maxLength: 3 }),
  },
  ['id', 'frameworkId', 'agentId', 'hostname', 'resources', 'attributes', 'executorIds'],
);

export const masterInfo: fc.Arbitrary<MasterInfo> = rec<MasterInfo>({ id, ip: uint32, port: uint32, pid: text, hostname: text, version: text, address }, [
  'id',
  'ip',
  'port',
]);

export const frameworkInfo: fc.Arbitrary<FrameworkInfo> = rec<FrameworkInfo>(
  {
    user: text,
    name: text,
    id,
    failoverTimeout: finite,
    checkpoint: fc.boolean(),
    role: text,
    roles: fc.array(text, { minLength: 1, maxLength: 3 }),
    hostname: text,
    principal: text,
    webuiUrl: text,
    capabilities: fc.uniqueArray(
      fc.constantFrom('REVOCABLE_RESOURCES', 'TASK_KILLING_STATE', 'GPU_RESOURCES', 'PARTITION_AWARE', 'MULTI_ROLE') as fc.Arbitrary<
        FrameworkInfo['capabilities'][number]
      >,
    ),
    labels,
  },
  ['user', 'name', 'failoverTimeout', 'checkpoint', 'role', 'capabilities'],
);

export const commandInfo: fc.Arbitrary<CommandInfo> = rec<CommandInfo>(
  {
    uris: fc.array(rec({ value: text, executable: fc.boolean(), extract: fc.boolean(), cache: fc.boolean(), outputFile: text }, ['value', 'extract']), {
      maxLength: 2,
    }),
    environment: fc.record({ variables: fc.array(rec({ name: text, value: text }, ['name']), { maxLength: 2 }) }, { noNullPrototype: true }),
    shell: fc.boolean(),
    value: text,
    arguments: fc.array(text, { maxLength: 3 }),
    user: text,
  },
  ['uris', 'shell', 'arguments'],
);

const killPolicy: fc.Arbitrary<KillPolicy> = rec<KillPolicy>({ gracePeriodNs: ns }, []);

export const executorInfo: fc.Arbitrary<ExecutorInfo> = rec<ExecutorInfo>(
  {
    executorId: id,
    frameworkId: id,
    type: fc.constantFrom('DEFAULT', 'CUSTOM'),
    command: commandInfo,
    container: passthrough,
    resources: fc.array(resourceInput, { maxLength: 2 }),
    name: text,
    source: text,
    data: bytes,
    shutdownGracePeriodNs: ns,
    labels,
  },
  ['executorId', 'resources'],
);

export const taskInfo: fc.Arbitrary<TaskInfo> = rec<TaskInfo>(
  {
    name: text,
    taskId: id,
    agentId: id,
    resources: fc.array(resourceInput, { maxLength: 3 }),
    executor: executorInfo,
    command: commandInfo,
    container: passthrough,
    healthCheck: passthrough,
    killPolicy,
    data: bytes,
    labels,
    discovery: passthrough,
  },
  ['name', 'taskId', 'agentId', 'resources'],
);

export const schedulerEvent: fc.Arbitrary<SchedulerEvent> = fc.oneof(
  rec<{ frameworkId: string; heartbeatIntervalSeconds: number; masterInfo: MasterInfo }>({ frameworkId: id, heartbeatIntervalSeconds: finite, masterInfo }, [
    'frameworkId',
    'heartbeatIntervalSeconds',
  ]).map((subscribed): SchedulerEvent => ({ type: 'SUBSCRIBED', subscribed })),
  fc.array(offer, { maxLength: 3 }).map((offers): SchedulerEvent => ({ type: 'OFFERS', offers: { offers } })),
  id.map((offerId): SchedulerEvent => ({ type: 'RESCIND', rescind: { offerId } })),
  taskStatus.map((status): SchedulerEvent => ({ type: 'UPDATE', update: { status } })),
  fc.record({ agentId: id, executorId: id, data: bytes }).map((message): SchedulerEvent => ({ type: 'MESSAGE', message })),
  rec<{ agentId: string; executorId: string; status: number }>({ agentId: id, executorId: id, status: int32 }, []).map((failure): SchedulerEvent => ({
    type: 'FAILURE',
    failure,
  })),
  text.map((message): SchedulerEvent => ({ type: 'ERROR', error: { message } })),
  fc.constant<SchedulerEvent>({ type: 'HEARTBEAT' }),
);
