import test, { type ExecutionContext } from 'ava';
import { ValidationError } from '../../lib/common/errors.ts';
import { Resources, resource } from '../../lib/common/resources/index.ts';
import {
  decodeAttribute,
  decodeAttributes,
  decodeResource,
  decodeResourceInput,
  decodeResourceInputs,
  decodeResources,
  encodeAttribute,
  encodeAttributes,
  encodeResource,
  encodeResources,
  parseAttributesText,
  parseResourcesFlag,
} from '../../lib/proto/resources.ts';
import { stringifyWire } from '../../lib/proto/json_text.ts';
import type { Attribute } from '../../lib/proto/messages.ts';
import type { Resource } from '../../lib/common/resources/index.ts';

/** What a peer reads: the wire text parsed back (so `8.0` compares equal to `8`). */
const wire = (v: unknown): unknown => JSON.parse(stringifyWire(v));
const enc = (r: Resource) => wire(encodeResource(r));
const encAll = (rs: Iterable<Resource>) => wire(encodeResources(rs));
const encAttrs = (as: Iterable<Attribute>) => wire(encodeAttributes(as));

/** Expect a ValidationError whose field starts with `field` and whose message contains each text. */
function rejects(t: ExecutionContext, fn: () => unknown, field: string, ...texts: string[]): ValidationError {
  const e = t.throws(fn, { instanceOf: ValidationError });
  t.true(e.field?.startsWith(field), `field ${e.field} should start with ${field}`);
  for (const text of texts) t.true(e.message.includes(text), `'${e.message}' should include '${text}'`);
  return e;
}

/** JSON examples of Mesos's Resource message, as Mesos writes them. */
const SPEC_EXAMPLES = [
  '{"name":"cpus","type":"SCALAR","scalar":{"value":2.5},"role":"*"}',
  '{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31099},{"begin":32000,"end":32000}]},"role":"*"}',
  '{"name":"bugs","type":"SET","set":{"item":["a","b"]},"role":"debug"}',
  '{"name":"cpus","type":"SCALAR","scalar":{"value":8},"role":"ads","reservation":{"principal":"ops","labels":{"labels":[{"key":"team","value":"x"}]}}}',
  '{"name":"disk","type":"SCALAR","scalar":{"value":512},"role":"ads","reservation":{"principal":"ops"},"disk":{"persistence":{"id":"vol-1","principal":"ops"},"volume":{"mode":"RW","container_path":"data"}}}',
  '{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"*","revocable":{}}',
];

const MORE_EXAMPLES = [
  '{"name":"disk","type":"SCALAR","scalar":{"value":2048},"role":"*","disk":{"source":{"type":"MOUNT","mount":{"root":"/mnt/disk1"}}}}',
  '{"name":"disk","type":"SCALAR","scalar":{"value":100},"role":"ads","disk":{"source":{"type":"PATH","path":{"root":"/mnt/a"}},"persistence":{"id":"v2"},"volume":{"mode":"RW","container_path":"d"}}}',
  '{"name":"cpus","type":"SCALAR","scalar":{"value":0.125},"role":"ads","reservation":{}}',
  '{"name":"cpus","type":"SCALAR","scalar":{"value":3},"role":"ads","reservation":{"labels":{"labels":[{"key":"a"},{"key":"b","value":""}]}}}',
  '{"name":"gpus","type":"SCALAR","scalar":{"value":1},"role":"*","revocable":{}}',
];

for (const [i, text] of [...SPEC_EXAMPLES, ...MORE_EXAMPLES].entries()) {
  test(`round trip ${i < SPEC_EXAMPLES.length ? `Mesos example ${i + 1}` : `example ${i + 1 - SPEC_EXAMPLES.length}`}: ${text.slice(0, 48)}…`, (t) => {
    const json: unknown = JSON.parse(text);
    t.deepEqual(enc(decodeResource(json)), json);
  });
}

test('round trip: the Mesos examples as one array', (t) => {
  const json: unknown = JSON.parse(`[${SPEC_EXAMPLES.join(',')}]`);
  const res = decodeResources(json);
  t.is(res.size, 6);
  t.deepEqual(encAll(res), json);
});

test('encode writes fields in proto order, role always, revocable only when revocable', (t) => {
  t.is(stringifyWire(encodeResource(resource('cpus', 2.5))), SPEC_EXAMPLES[0]!);
  t.is(stringifyWire(encodeResource(resource('mem', 1024, { role: 'ads' }))), '{"name":"mem","type":"SCALAR","scalar":{"value":1024.0},"role":"ads"}');
  t.is(
    stringifyWire(
      encodeResource(
        resource(
          'ports',
          [
            [1, 2],
            [4, 4],
          ],
          { revocable: true },
        ),
      ),
    ),
    '{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":2},{"begin":4,"end":4}]},"role":"*","revocable":{}}',
  );
  t.is(stringifyWire(encodeResource(resource('bugs', ['b', 'a']))), '{"name":"bugs","type":"SET","set":{"item":["a","b"]},"role":"*"}');
  t.deepEqual(encAll(Resources.EMPTY), []);
});

test('scalars are proto doubles on the wire: integral values are written with a fraction, as Mesos does', (t) => {
  const r = decodeResource(JSON.parse(SPEC_EXAMPLES[3]!));
  t.is(
    stringifyWire(encodeResource(r)),
    '{"name":"cpus","type":"SCALAR","scalar":{"value":8.0},"role":"ads","reservation":{"principal":"ops","labels":{"labels":[{"key":"team","value":"x"}]}}}',
  );
  // Outside the wire writer (logs) a double is a plain number.
  t.is(JSON.stringify(encodeResource(r)), SPEC_EXAMPLES[3]!);
  t.is(stringifyWire(encodeAttribute({ name: 'level', type: 'SCALAR', scalar: 2 })), '{"name":"level","type":"SCALAR","scalar":{"value":2.0}}');
});

test('decode normalises as the model does: scalars to 3 decimals, ranges coalesced, sets sorted', (t) => {
  const r = decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: 1.5123 } });
  t.deepEqual(enc(r), { name: 'cpus', type: 'SCALAR', scalar: { value: 1.512 }, role: '*' });
  const p = decodeResource({
    name: 'ports',
    type: 'RANGES',
    ranges: {
      range: [
        { begin: 5, end: 6 },
        { begin: 1, end: 4 },
      ],
    },
  });
  t.deepEqual(p.ranges, [{ begin: 1, end: 6 }]);
  const s = decodeResource({ name: 's', type: 'SET', set: { item: ['z', 'a'] } });
  t.deepEqual(s.set, ['a', 'z']);
});

test('null is unset for every field', (t) => {
  const r = decodeResource({
    name: 'cpus',
    type: 'SCALAR',
    scalar: { value: 1 },
    ranges: null,
    set: null,
    role: null,
    reservation: null,
    disk: null,
    revocable: null,
    allocation_info: null,
  });
  t.deepEqual(enc(r), { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: '*' });
  const v = decodeResource({
    name: 'disk',
    type: 'SCALAR',
    scalar: { value: 1 },
    role: 'ads',
    reservation: { principal: null, labels: null },
    disk: { persistence: { id: 'v', principal: null }, volume: { mode: 'RW', container_path: 'd', host_path: null }, source: null },
  });
  t.deepEqual(v.reservation, {});
  t.deepEqual(v.disk, { persistence: { id: 'v' }, volume: { mode: 'RW', containerPath: 'd' } });
  rejects(t, () => decodeResource({ name: null, type: 'SCALAR', scalar: { value: 1 } }), 'resource', 'Missing required fields: resource.name');
});

test('numbers may be given as strings', (t) => {
  const c = decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: '2.5' } });
  t.is(c.scalar, 2.5);
  const p = decodeResource({ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: '31000', end: '31099' }] } });
  t.deepEqual(p.ranges, [{ begin: 31000, end: 31099 }]);
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: 'two' } }), 'resource.scalar.value', "Failed to parse 'two'");
  // "Infinity" is a valid double on the wire, but not a valid resource value.
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: 'Infinity' } }), "resource 'cpus'.scalar", 'finite');
});

test('a repeated field given one value takes it as one element', (t) => {
  const p = decodeResource({ name: 'ports', type: 'RANGES', ranges: { range: { begin: 1, end: 10 } } });
  t.deepEqual(p.ranges, [{ begin: 1, end: 10 }]);
  const s = decodeResource({ name: 'bugs', type: 'SET', set: { item: 'a' } });
  t.deepEqual(s.set, ['a']);
  const l = decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: 'r', reservation: { labels: { labels: { key: 'k' } } } });
  t.deepEqual(l.reservation, { labels: [{ key: 'k' }] });
  const many = decodeResources({ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } });
  t.is(many.size, 1);
});

test('enums must be names: a number is rejected', (t) => {
  rejects(t, () => decodeResource({ name: 'cpus', type: 0, scalar: { value: 1 } }), 'resource.type', "Not expecting a JSON number for field 'type'");
  rejects(
    t,
    () =>
      decodeResource({
        name: 'disk',
        type: 'SCALAR',
        scalar: { value: 1 },
        role: 'r',
        disk: { persistence: { id: 'v' }, volume: { mode: 1, container_path: 'd' } },
      }),
    'resource.disk.volume.mode',
    "Not expecting a JSON number for field 'mode'",
  );
  rejects(
    t,
    () => decodeResource({ name: 'disk', type: 'SCALAR', scalar: { value: 1 }, disk: { source: { type: 2, mount: { root: '/m' } } } }),
    'resource.disk.source.type',
    'Not expecting a JSON number',
  );
});

test('an unknown name in a required enum is rejected', (t) => {
  rejects(t, () => decodeResource({ name: 'cpus', type: 'DOUBLE', scalar: { value: 1 } }), 'resource.type', "Failed to find enum for 'DOUBLE'");
  rejects(t, () => decodeResource({ name: 'cpus', type: 'scalar', scalar: { value: 1 } }), 'resource.type', 'Failed to find enum');
  rejects(
    t,
    () =>
      decodeResource({
        name: 'disk',
        type: 'SCALAR',
        scalar: { value: 1 },
        role: 'r',
        disk: { persistence: { id: 'v' }, volume: { mode: 'RWX', container_path: 'd' } },
      }),
    'resource.disk.volume.mode',
    "Failed to find enum for 'RWX'",
  );
  rejects(
    t,
    () => decodeResource({ name: 'disk', type: 'SCALAR', scalar: { value: 1 }, disk: { source: { type: 'FLOPPY' } } }),
    'resource.disk.source.type',
    'Failed to find enum',
  );
  // A known wire name the model refuses: TEXT, and the BLOCK / RAW / UNKNOWN disk sources.
  rejects(t, () => decodeResource({ name: 'cpus', type: 'TEXT', scalar: { value: 1 } }), "resource 'cpus'.type", 'TEXT is not a valid resource type');
  rejects(
    t,
    () => decodeResource({ name: 'disk', type: 'SCALAR', scalar: { value: 1 }, disk: { source: { type: 'BLOCK' } } }),
    "resource 'disk'.disk.source.type",
    'BLOCK',
  );
});

test('unknown keys are ignored; camelCase names are not fields', (t) => {
  const r = decodeResource({
    name: 'cpus',
    type: 'SCALAR',
    scalar: { value: 1, unit: 'cores' },
    role: '*',
    provider_id: { value: 'p' },
    allocation_info: { role: 'x' },
    shared: {},
    whatever: [1, 2, { x: null }],
  });
  t.deepEqual(enc(r), { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: '*' });
  rejects(
    t,
    () =>
      decodeResource({
        name: 'disk',
        type: 'SCALAR',
        scalar: { value: 1 },
        role: 'r',
        disk: { persistence: { id: 'v' }, volume: { mode: 'RW', containerPath: 'd' } },
      }),
    'resource',
    'Missing required fields: resource.disk.volume.container_path',
  );
});

test('missing required fields are reported together, with their paths', (t) => {
  rejects(t, () => decodeResource({}), 'resource', 'Missing required fields: resource.name, resource.type');
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: {} }), 'resource', 'Missing required fields: resource.scalar.value');
  rejects(
    t,
    () => decodeResource({ name: 'p', type: 'RANGES', ranges: { range: [{ begin: 1 }, { end: 2 }] } }),
    'resource',
    'resource.ranges.range[0].end, resource.ranges.range[1].begin',
  );
  rejects(
    t,
    () => decodeResource({ name: 'c', type: 'SCALAR', scalar: { value: 1 }, role: 'r', reservation: { labels: { labels: [{ value: 'v' }] } } }),
    'resource',
    'resource.reservation.labels.labels[0].key',
  );
  rejects(
    t,
    () => decodeResource({ name: 'disk', type: 'SCALAR', scalar: { value: 1 }, role: 'r', disk: { persistence: {} } }),
    'resource',
    'resource.disk.persistence.id',
  );
  rejects(
    t,
    () => decodeResource({ name: 'disk', type: 'SCALAR', scalar: { value: 1 }, disk: { source: { type: 'PATH', path: {} } } }),
    'resource',
    'resource.disk.source.path.root',
  );
  rejects(
    t,
    () => decodeResource({ name: 'disk', type: 'SCALAR', scalar: { value: 1 }, disk: { volume: {} } }),
    'resource',
    'resource.disk.volume.mode, resource.disk.volume.container_path',
  );
});

test('type mismatches name the field', (t) => {
  rejects(t, () => decodeResource({ name: 5, type: 'SCALAR' }), 'resource.name', "Not expecting a JSON number for field 'name'");
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: 2 }), 'resource.scalar', "Not expecting a JSON number for field 'scalar'");
  rejects(
    t,
    () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: [{ value: 2 }] }),
    'resource.scalar',
    "Not expecting a JSON array for field 'scalar'",
  );
  rejects(t, () => decodeResource({ name: 'p', type: 'RANGES', ranges: [{ begin: 1, end: 2 }] }), 'resource.ranges', 'Not expecting a JSON array');
  rejects(
    t,
    () => decodeResource({ name: 'p', type: 'RANGES', ranges: { range: [{ begin: 1, end: 2 }, 7] } }),
    'resource.ranges.range[1]',
    'Not expecting a JSON number',
  );
  rejects(
    t,
    () => decodeResource({ name: 'p', type: 'RANGES', ranges: { range: [{ begin: -1, end: 2 }] } }),
    'resource.ranges.range[0].begin',
    'out of range for uint64',
  );
  rejects(
    t,
    () => decodeResource({ name: 'p', type: 'RANGES', ranges: { range: [{ begin: 1.5, end: 2 }] } }),
    'resource.ranges.range[0].begin',
    'whole number',
  );
  rejects(t, () => decodeResource({ name: 's', type: 'SET', set: { item: ['a', 1] } }), 'resource.set.item[1]', "Not expecting a JSON number for field 'item'");
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: 7 }), 'resource.role', 'Not expecting a JSON number');
  rejects(
    t,
    () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, revocable: true }),
    'resource.revocable',
    "Not expecting a JSON boolean for field 'revocable'",
  );
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: true } }), 'resource.scalar.value', 'Not expecting a JSON boolean');
  rejects(t, () => decodeResource('cpus:1'), 'resource', "Not expecting a JSON string for field 'resource'");
});

test("Mesos's validity rules are applied and name the resource and field", (t) => {
  const at = "resource 'cpus'";
  rejects(t, () => decodeResource({ name: '', type: 'SCALAR', scalar: { value: 1 } }), 'resource.name', 'non-empty');
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR' }), `${at}.scalar`, 'required for a SCALAR');
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, set: { item: ['a'] } }), `${at}.set`, 'must not be set');
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: -1 } }), `${at}.scalar`, 'negative');
  rejects(t, () => decodeResource({ name: 'p', type: 'RANGES', ranges: { range: [{ begin: 5, end: 1 }] } }), "resource 'p'.ranges", 'greater than end');
  rejects(
    t,
    () =>
      decodeResource({
        name: 'p',
        type: 'RANGES',
        ranges: {
          range: [
            { begin: 1, end: 5 },
            { begin: 5, end: 9 },
          ],
        },
      }),
    "resource 'p'.ranges",
    'overlap',
  );
  rejects(t, () => decodeResource({ name: 'p', type: 'RANGES', ranges: { range: [{ begin: 2 ** 60, end: 2 ** 60 }] } }), "resource 'p'.ranges", '2^53');
  rejects(t, () => decodeResource({ name: 's', type: 'SET', set: { item: ['a', 'a'] } }), "resource 's'.set", 'duplicate');
  rejects(
    t,
    () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, reservation: { principal: 'p' } }),
    `${at}.reservation`,
    'role "*" cannot be dynamically reserved',
  );
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: '-x' }), `${at}.role`, 'invalid role');
  rejects(
    t,
    () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, disk: { source: { type: 'MOUNT', mount: { root: '/m' } } } }),
    `${at}.disk`,
    "only allowed on the 'disk'",
  );
  rejects(
    t,
    () => decodeResource({ name: 'disk', type: 'SCALAR', scalar: { value: 1 }, disk: { source: { type: 'MOUNT', path: { root: '/m' } } } }),
    "resource 'disk'.disk.source.mount",
    'required for a MOUNT disk',
  );
  rejects(t, () => decodeResource({ name: 'cpus', type: 'SCALAR', scalar: { value: -1 } }, 'task.resources[3]'), "task.resources[3] 'cpus'.scalar", 'negative');
});

test('decodeResourceInput applies the wire rules only', (t) => {
  t.deepEqual(decodeResourceInput({ name: 'cpus', type: 'SCALAR', scalar: { value: '-1' } }), { name: 'cpus', type: 'SCALAR', scalar: -1 });
  t.deepEqual(
    decodeResourceInput({
      name: 'disk',
      type: 'SCALAR',
      scalar: { value: 1 },
      role: 'r',
      reservation: { principal: 'p', labels: { labels: [{ key: 'k', value: 'v' }] } },
      disk: {
        persistence: { id: 'v', principal: 'p' },
        volume: { mode: 'RO', container_path: 'c', host_path: '/h' },
        source: { type: 'PATH', path: { root: '/p' } },
      },
      revocable: {},
    }),
    {
      name: 'disk',
      type: 'SCALAR',
      scalar: 1,
      role: 'r',
      reservation: { principal: 'p', labels: [{ key: 'k', value: 'v' }] },
      disk: { persistence: { id: 'v', principal: 'p' }, volume: { mode: 'RO', containerPath: 'c', hostPath: '/h' }, source: { type: 'PATH', root: '/p' } },
      revocable: true,
    },
  );
  rejects(t, () => decodeResourceInput({ name: 'cpus', type: 1 }), 'resource.type', 'Not expecting a JSON number');
  t.deepEqual(decodeResourceInputs([{ name: 'a', type: 'SET', set: {} }, null, { name: 'b', type: 'TEXT' }], 'task.resources'), [
    { name: 'a', type: 'SET', set: [] },
    { name: 'b', type: 'TEXT' },
  ]);
  rejects(
    t,
    () => decodeResourceInputs([{ name: 'a', type: 'SET' }, { type: 'SET' }], 'task.resources'),
    'task.resources',
    'Missing required fields: task.resources[1].name',
  );
});

test('decodeResources merges same identities and names the element in errors', (t) => {
  const res = decodeResources([
    { name: 'cpus', type: 'SCALAR', scalar: { value: 1 } },
    { name: 'cpus', type: 'SCALAR', scalar: { value: 1.5 } },
    { name: 'cpus', type: 'SCALAR', scalar: { value: 2 }, role: 'ads' },
    { name: 'mem', type: 'SCALAR', scalar: { value: 0 } },
  ]);
  t.deepEqual(encAll(res), [
    { name: 'cpus', type: 'SCALAR', scalar: { value: 2.5 }, role: '*' },
    { name: 'cpus', type: 'SCALAR', scalar: { value: 2 }, role: 'ads' },
  ]);
  rejects(
    t,
    () =>
      decodeResources([
        { name: 'cpus', type: 'SCALAR', scalar: { value: 1 } },
        { name: 'mem', type: 'SCALAR', scalar: { value: -5 } },
      ]),
    "resources[1] 'mem'.scalar",
    'negative',
  );
  rejects(t, () => decodeResources([{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }, 'mem:5']), 'resources[1]', 'Not expecting a JSON string');
  rejects(t, () => decodeResources([{ name: 'x' }, {}]), 'resources', 'Missing required fields: resources[0].type, resources[1].name, resources[1].type');
  t.true(decodeResources([]).isEmpty());
  t.true(decodeResources(null).isEmpty());
});

// ---------------------------------------------------------------------------------------------
// --resources

test('flag: the text form', (t) => {
  const res = parseResourcesFlag('cpus(ads):4;mem:1024;ports:[31000-32000]');
  t.deepEqual(encAll(res), [
    { name: 'cpus', type: 'SCALAR', scalar: { value: 4 }, role: 'ads' },
    { name: 'mem', type: 'SCALAR', scalar: { value: 1024 }, role: '*' },
    { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 32000 }] }, role: '*' },
  ]);
  const withDefault = parseResourcesFlag('cpus:4;mem(*):10', 'web');
  t.deepEqual(
    withDefault.toArray().map((r) => r.role),
    ['web', '*'],
  );
  rejects(t, () => parseResourcesFlag('cpus:4;mem:lots'), "resources 'mem:lots'", 'bad value');
});

test('flag: the JSON form, with the default role for resources without one', (t) => {
  const text = JSON.stringify([
    { name: 'cpus', type: 'SCALAR', scalar: { value: 24 } },
    { name: 'mem', type: 'SCALAR', scalar: { value: 1024 }, role: '*' },
    { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 1, end: 10 }] }, role: 'ads' },
    { name: 'disk', type: 'SCALAR', scalar: { value: 100 }, role: null },
  ]);
  t.deepEqual(
    parseResourcesFlag(text)
      .toArray()
      .map((r) => `${r.name}(${r.role})`),
    ['cpus(*)', 'mem(*)', 'ports(ads)', 'disk(*)'],
  );
  t.deepEqual(
    parseResourcesFlag(text, 'web')
      .toArray()
      .map((r) => `${r.name}(${r.role})`),
    ['cpus(web)', 'mem(*)', 'ports(ads)', 'disk(web)'],
  );
  t.deepEqual(
    encAll(parseResourcesFlag(`  \n[${SPEC_EXAMPLES.slice(0, 3).join(',')}]  `)),
    SPEC_EXAMPLES.slice(0, 3).map((s) => JSON.parse(s)),
  );
  t.true(parseResourcesFlag('[]').isEmpty());
  // A MOUNT disk is fine on the command line.
  t.is(parseResourcesFlag(`[${MORE_EXAMPLES[0]}]`).size, 1);
});

test('flag: revocable, dynamically reserved and persistent volume resources are refused in JSON', (t) => {
  rejects(t, () => parseResourcesFlag(`[${SPEC_EXAMPLES[5]}]`), "resources 'cpus'", 'revocable');
  rejects(t, () => parseResourcesFlag(`[${SPEC_EXAMPLES[3]}]`), "resources 'cpus'", 'dynamic reservation');
  rejects(t, () => parseResourcesFlag(`[${SPEC_EXAMPLES[4]}]`), "resources 'disk'", 'persistent volume');
  // Without a role, the reservation meets the default role '*' first.
  rejects(
    t,
    () => parseResourcesFlag('[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservation":{}}]'),
    "resources[0] 'cpus'.reservation",
    'cannot be dynamically reserved',
  );
});

test('flag: one type per name, in both forms', (t) => {
  rejects(
    t,
    () => parseResourcesFlag('[{"name":"x","type":"SCALAR","scalar":{"value":1}},{"name":"x","type":"SET","set":{"item":["a"]}}]'),
    "resources 'x'",
    'two types',
  );
  rejects(t, () => parseResourcesFlag('x:1;x:{a}'), "resources 'x'", 'two types');
});

test('flag: a JSON array with a bad element names its index and never falls back to text', (t) => {
  const ok = '{"name":"cpus","type":"SCALAR","scalar":{"value":2}}';
  rejects(t, () => parseResourcesFlag(`[${ok},{"name":"mem","type":"SCALAR","scalar":{"value":"x"}}]`), 'resources[1].scalar.value', "Failed to parse 'x'");
  rejects(
    t,
    () => parseResourcesFlag(`[${ok},{"name":"mem","type":"SCALAR","scalar":"x"}]`),
    'resources[1].scalar',
    "Not expecting a JSON string for field 'scalar'",
  );
  rejects(t, () => parseResourcesFlag(`[${ok},{"name":"mem","type":"SCALAR","scalar":{"value":-1}}]`), "resources[1] 'mem'.scalar", 'negative');
  rejects(t, () => parseResourcesFlag(`[${ok},${ok},{"name":"mem","type":2}]`), 'resources[2].type', 'Not expecting a JSON number');
  rejects(t, () => parseResourcesFlag(`[${ok},{"type":"SCALAR","scalar":{"value":1}}]`), 'resources', 'Missing required fields: resources[1].name');
  rejects(t, () => parseResourcesFlag(`[${ok},"mem:1"]`), 'resources[1]', 'Not expecting a JSON string');
});

test('flag: anything that is not a JSON array is read as text', (t) => {
  // A JSON object is not an array: the text parser gets it (and refuses it).
  const e = rejects(t, () => parseResourcesFlag('{"name":"cpus","type":"SCALAR","scalar":{"value":1}}'), 'resources');
  t.false(e.message.startsWith('resources['));
  // Broken JSON that starts with '[' is text too.
  rejects(t, () => parseResourcesFlag('[{"name":"cpus"'), 'resources');
  t.is(parseResourcesFlag('ports:[1-2,5-6]').size, 1);
});

// ---------------------------------------------------------------------------------------------
// Attributes

const ATTRIBUTE_EXAMPLES = [
  '{"name":"rack","type":"TEXT","text":{"value":"r1"}}',
  '{"name":"level","type":"SCALAR","scalar":{"value":2.5}}',
  '{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":2},{"begin":8,"end":9}]}}',
];

test('attributes: JSON round trip', (t) => {
  for (const text of ATTRIBUTE_EXAMPLES) {
    const json: unknown = JSON.parse(text);
    t.is(stringifyWire(encodeAttribute(decodeAttribute(json))), text);
  }
  const all: unknown = JSON.parse(`[${ATTRIBUTE_EXAMPLES.join(',')}]`);
  t.deepEqual(encAttrs(decodeAttributes(all)), all);
  t.deepEqual(decodeAttribute(JSON.parse(ATTRIBUTE_EXAMPLES[0]!)), { name: 'rack', type: 'TEXT', text: 'r1' });
});

test('attributes: the stout rules and the value check', (t) => {
  t.deepEqual(decodeAttribute({ name: 'n', type: 'SCALAR', scalar: { value: '3' }, text: null, x: 1 }), { name: 'n', type: 'SCALAR', scalar: 3 });
  t.deepEqual(decodeAttribute({ name: 'p', type: 'RANGES', ranges: { range: { begin: '1', end: 3 } } }), {
    name: 'p',
    type: 'RANGES',
    ranges: [{ begin: 1, end: 3 }],
  });
  t.deepEqual(decodeAttributes({ name: 'rack', type: 'TEXT', text: { value: 'r1' } }), [{ name: 'rack', type: 'TEXT', text: 'r1' }]);
  rejects(t, () => decodeAttribute({ name: 'n', type: 3, text: { value: 'x' } }), 'attribute.type', 'Not expecting a JSON number');
  rejects(t, () => decodeAttribute({ name: 'n', type: 'STRING', text: { value: 'x' } }), 'attribute.type', "Failed to find enum for 'STRING'");
  rejects(t, () => decodeAttribute({ name: 'n', type: 'TEXT', scalar: { value: 1 } }), 'attribute.text', 'required for a TEXT attribute');
  rejects(t, () => decodeAttribute({ name: '', type: 'TEXT', text: { value: 'x' } }), 'attribute.name', 'must not be empty');
  rejects(t, () => decodeAttribute({ name: 'n', type: 'SCALAR', scalar: { value: 'Infinity' } }), 'attribute.scalar.value', 'finite');
  rejects(t, () => decodeAttribute({ type: 'TEXT', text: {} }), 'attribute', 'Missing required fields: attribute.name, attribute.text.value');
  rejects(t, () => decodeAttribute({ name: 'n' }), 'attribute', 'Missing required fields: attribute.type');
  rejects(
    t,
    () =>
      decodeAttributes([
        { name: 'a', type: 'TEXT', text: { value: 'x' } },
        { name: 'b', type: 'TEXT', text: 'y' },
      ]),
    'attributes[1].text',
    'Not expecting a JSON string',
  );
});

test('attributes: SET is refused, as Mesos refuses it (Attributes::isValid, "Bad type for attribute")', (t) => {
  rejects(t, () => decodeAttribute({ name: 'zone', type: 'SET', set: { item: ['a', 'b'] } }), 'attribute.type', "Bad type for attribute 'zone'", 'SET');
  rejects(t, () => decodeAttribute({ name: 's', type: 'SET', set: { item: 'only' } }), 'attribute.type', 'Bad type for attribute');
  rejects(t, () => decodeAttribute({ name: 's', type: 'SET' }), 'attribute.type', 'Bad type for attribute');
  rejects(
    t,
    () =>
      decodeAttributes([
        { name: 'rack', type: 'TEXT', text: { value: 'r1' } },
        { name: 'zone', type: 'SET', set: { item: ['a'] } },
      ]),
    'attributes[1].type',
    "Bad type for attribute 'zone'",
  );
  // A `set` next to another type is ignored, as any value not matching the type is.
  t.deepEqual(decodeAttribute({ name: 'n', type: 'TEXT', text: { value: 'x' }, set: { item: ['a'] } }), { name: 'n', type: 'TEXT', text: 'x' });
});

test('attributes: the --attributes text form', (t) => {
  t.deepEqual(parseAttributesText('rack:r1;zone:a;level:2;ports:[1-2]'), [
    { name: 'rack', type: 'TEXT', text: 'r1' },
    { name: 'zone', type: 'TEXT', text: 'a' },
    { name: 'level', type: 'SCALAR', scalar: 2 },
    { name: 'ports', type: 'RANGES', ranges: [{ begin: 1, end: 2 }] },
  ]);
  t.deepEqual(encAttrs(parseAttributesText('rack:r1')), [JSON.parse(ATTRIBUTE_EXAMPLES[0]!)]);
});

test('attributes text: Mesos details', (t) => {
  // ';' and newlines separate; empty entries are skipped; spaces in values vanish.
  t.deepEqual(parseAttributesText(';a: x y ;\nb:1.5;;\n'), [
    { name: 'a', type: 'TEXT', text: 'xy' },
    { name: 'b', type: 'SCALAR', scalar: 1.5 },
  ]);
  // Split at the first ':' only.
  t.deepEqual(parseAttributesText('host:db:1'), [{ name: 'host', type: 'TEXT', text: 'db:1' }]);
  // Numbers in any decimal form are scalars; things that only look numeric are text.
  t.deepEqual(
    parseAttributesText('a:-2;b:1e3;c:.5;d:nan;e:1.2.3;f:0x10').map((x) => x.type),
    ['SCALAR', 'SCALAR', 'SCALAR', 'TEXT', 'TEXT', 'TEXT'],
  );
  t.is((parseAttributesText('a:-2')[0] as { scalar: number }).scalar, -2);
  // Ranges are coalesced.
  t.deepEqual(parseAttributesText('p:[5-9, 1-3,4-4]'), [{ name: 'p', type: 'RANGES', ranges: [{ begin: 1, end: 9 }] }]);
  t.deepEqual(parseAttributesText(''), []);
});

test('attributes text: errors name the entry', (t) => {
  rejects(t, () => parseAttributesText('rack'), "attributes 'rack'", 'name:value');
  rejects(t, () => parseAttributesText('a:1;:x'), "attributes ':x'", 'name:value');
  rejects(t, () => parseAttributesText('rack:'), "attributes 'rack:'", 'name:value');
  rejects(t, () => parseAttributesText('rack: '), "attributes 'rack: '", 'no value');
  rejects(t, () => parseAttributesText('p:[1-2'), "attributes 'p:[1-2'", 'mismatched brackets');
  rejects(t, () => parseAttributesText('p:{a,b]'), "attributes 'p:{a,b]'", 'mismatched brackets');
  rejects(t, () => parseAttributesText('p:[1-2-3]'), "attributes 'p:[1-2-3]'", 'pairs');
  rejects(t, () => parseAttributesText('p:[a-b]'), "attributes 'p:[a-b]'", 'non-negative integers');
  rejects(t, () => parseAttributesText('p:[5-1]'), "attributes 'p:[5-1]'", 'begin greater than end');
  rejects(t, () => parseAttributesText('p:x[1-2]'), "attributes 'p:x[1-2]'", "unexpected '['");
  rejects(t, () => parseAttributesText('p:x{a}'), "attributes 'p:x{a}'", "unexpected '{'");
  // A set value is a SET, which Mesos refuses for an attribute ("Bad type for attribute").
  rejects(t, () => parseAttributesText('rack:r1;zone:{a,b}'), "attributes 'zone:{a,b}'", "Bad type for attribute 'zone'", 'SET');
  rejects(t, () => parseAttributesText('zone:{}'), "attributes 'zone:{}'", 'Bad type for attribute');
});
