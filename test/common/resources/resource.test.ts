import test, { type ExecutionContext } from 'ava';
import { ValidationError } from '../../../lib/common/errors.ts';
import {
  type Resource,
  type ResourceInput,
  formatResource,
  identityKey,
  isDynamicallyReserved,
  isEmptyValue,
  isExclusive,
  isPersistentVolume,
  isReserved,
  resource,
  validateResource,
  validateSubmittedResource,
} from '../../../lib/common/resources/resource.ts';

/** Assert that `fn` throws a ValidationError whose message contains every fragment. */
function rejects(t: ExecutionContext, fn: () => unknown, ...fragments: string[]): void {
  const e = t.throws(fn, { instanceOf: ValidationError });
  for (const f of fragments) t.true(e?.message.includes(f), `message ${JSON.stringify(e?.message)} should mention ${JSON.stringify(f)}`);
  t.is(e?.code, 'INVALID');
}

const scalarIn = (extra: ResourceInput = {}): ResourceInput => ({ name: 'cpus', type: 'SCALAR', scalar: 1, ...extra });
const volume = { mode: 'RW', containerPath: 'data' } as const;

// ---------------------------------------------------------------------------------------------
// Mesos's validity rules, one by one

test('a valid scalar resource is normalised: rounded to 3 decimals, role defaults to *', (t) => {
  t.deepEqual(validateResource(scalarIn({ scalar: 1.5123 })), { name: 'cpus', type: 'SCALAR', scalar: 1.512, role: '*' });
  t.deepEqual(validateResource(scalarIn({ role: 'ads', revocable: false })), { name: 'cpus', type: 'SCALAR', scalar: 1, role: 'ads' });
  t.is(validateResource(scalarIn({ scalar: 0 })).scalar, 0, 'zero is valid (it is simply empty)');
  t.is(validateResource(scalarIn({ scalar: 0.0005 })).scalar, 0.001, 'rounds half up to one thousandth');
});

test('rule 1: the name must be a non-empty string and the type a known one', (t) => {
  rejects(t, () => validateResource(scalarIn({ name: '' })), 'resource.name', 'non-empty');
  rejects(t, () => validateResource(scalarIn({ name: 7 })), 'resource.name');
  rejects(t, () => validateResource(scalarIn({ type: 'NUMBER' })), "resource 'cpus'.type", 'SCALAR, RANGES or SET', '"NUMBER"');
  rejects(t, () => validateResource(scalarIn({ type: undefined })), "resource 'cpus'.type");
  rejects(t, () => validateResource(null as unknown as ResourceInput), 'must be an object');
});

test('rule 2: SCALAR needs a scalar and nothing else; negative or rounding-to-zero values are invalid', (t) => {
  rejects(t, () => validateResource({ name: 'cpus', type: 'SCALAR' }), "'cpus'.scalar", 'required');
  rejects(t, () => validateResource(scalarIn({ ranges: [{ begin: 1, end: 2 }] })), "'cpus'.ranges", 'must not be set on a SCALAR');
  rejects(t, () => validateResource(scalarIn({ set: ['a'] })), "'cpus'.set", 'must not be set');
  rejects(t, () => validateResource(scalarIn({ scalar: -1 })), "'cpus'.scalar", 'negative');
  rejects(t, () => validateResource(scalarIn({ scalar: -0.0001 })), "'cpus'.scalar", 'negative');
  rejects(t, () => validateResource(scalarIn({ scalar: 0.0001 })), "'cpus'.scalar", 'round to zero', '0.0001');
  rejects(t, () => validateResource(scalarIn({ scalar: 5e-324 })), "'cpus'.scalar", 'round to zero');
  rejects(t, () => validateResource(scalarIn({ scalar: Number.NaN })), "'cpus'.scalar", 'finite');
  rejects(t, () => validateResource(scalarIn({ scalar: Number.POSITIVE_INFINITY })), "'cpus'.scalar", 'finite');
  rejects(t, () => validateResource(scalarIn({ scalar: '1' })), "'cpus'.scalar", 'finite number');
  // Finite but beyond the fixed point (thousandths as exact integers): sums would turn to Infinity.
  rejects(t, () => validateResource(scalarIn({ scalar: 1e308 })), "'cpus'.scalar", 'more than 9007199254740');
  t.is(validateResource(scalarIn({ scalar: 9007199254740 })).scalar, 9007199254740);
});

test('rule 3: RANGES needs ranges; begin > end and overlaps are invalid; adjacent ranges are merged', (t) => {
  const ports = (ranges: unknown, extra: ResourceInput = {}) => ({ name: 'ports', type: 'RANGES', ranges, ...extra });
  t.deepEqual(
    validateResource(
      ports([
        { begin: 5, end: 6 },
        { begin: 1, end: 4 },
      ]),
    ).ranges,
    [{ begin: 1, end: 6 }],
  );
  t.deepEqual(
    validateResource(
      ports([
        { begin: 10, end: 10 },
        { begin: 1, end: 2 },
      ]),
    ).ranges,
    [
      { begin: 1, end: 2 },
      { begin: 10, end: 10 },
    ],
  );
  rejects(t, () => validateResource({ name: 'ports', type: 'RANGES' }), "'ports'.ranges", 'required');
  rejects(t, () => validateResource(ports([], { scalar: 1 })), "'ports'.scalar", 'must not be set on a RANGES');
  rejects(t, () => validateResource(ports([], { set: [] })), "'ports'.set", 'must not be set');
  rejects(t, () => validateResource(ports([{ begin: 5, end: 1 }])), "'ports'.ranges[0]", 'begin 5 is greater than end 1');
  rejects(
    t,
    () =>
      validateResource(
        ports([
          { begin: 1, end: 5 },
          { begin: 5, end: 9 },
        ]),
      ),
    "'ports'.ranges",
    '[1-5] and [5-9] overlap',
  );
  rejects(
    t,
    () =>
      validateResource(
        ports([
          { begin: 20, end: 30 },
          { begin: 1, end: 100 },
        ]),
      ),
    'overlap',
  );
  rejects(t, () => validateResource(ports([{ begin: -1, end: 5 }])), "'ports'.ranges[0].begin", 'unsigned integer');
  rejects(t, () => validateResource(ports([{ begin: 1, end: 2.5 }])), "'ports'.ranges[0].end", 'unsigned integer');
  rejects(t, () => validateResource(ports([{ begin: 1, end: 2 ** 53 }])), "'ports'.ranges[0].end");
  rejects(t, () => validateResource(ports({ begin: 1, end: 2 })), "'ports'.ranges", 'array');
  rejects(t, () => validateResource(ports([7])), "'ports'.ranges[0]", 'object');
});

test('rule 4: SET needs a set of strings without duplicates; it is kept sorted', (t) => {
  const bugs = (set: unknown, extra: ResourceInput = {}) => ({ name: 'bugs', type: 'SET', set, ...extra });
  t.deepEqual(validateResource(bugs(['b', 'a'])).set, ['a', 'b']);
  rejects(t, () => validateResource({ name: 'bugs', type: 'SET' }), "'bugs'.set", 'required');
  rejects(t, () => validateResource(bugs(['a'], { scalar: 1 })), "'bugs'.scalar", 'must not be set on a SET');
  rejects(t, () => validateResource(bugs(['a'], { ranges: [] })), "'bugs'.ranges", 'must not be set');
  rejects(t, () => validateResource(bugs(['a', 'b', 'a'])), "'bugs'.set", "duplicate item 'a'");
  rejects(t, () => validateResource(bugs(['a', 1])), "'bugs'.set", 'strings');
});

test('rule 5: TEXT is not a resource type', (t) => {
  rejects(t, () => validateResource({ name: 'rack', type: 'TEXT', text: 'r1' } as ResourceInput), "'rack'.type", 'TEXT is not a valid resource type');
});

test('rule 6: disk info only on disk; PATH and MOUNT sources need a root; other source types are invalid', (t) => {
  rejects(t, () => validateResource(scalarIn({ disk: { source: { type: 'PATH', root: '/p' } } })), "'cpus'.disk", "only allowed on the 'disk'");
  const disk = (d: unknown) => ({ name: 'disk', type: 'SCALAR', scalar: 10, disk: d });
  t.deepEqual(validateResource(disk({ source: { type: 'MOUNT', root: '/mnt/a' } })).disk, { source: { type: 'MOUNT', root: '/mnt/a' } });
  rejects(t, () => validateResource(disk({ source: { type: 'PATH' } })), "'disk'.disk.source.path", 'required for a PATH disk');
  rejects(t, () => validateResource(disk({ source: { type: 'MOUNT' } })), "'disk'.disk.source.mount", 'required for a MOUNT disk');
  rejects(t, () => validateResource(disk({ source: { type: 'UNKNOWN', root: '/x' } })), "'disk'.disk.source.type", "unsupported disk source type 'UNKNOWN'");
  rejects(t, () => validateResource(disk({ source: { type: 'BLOCK' } })), 'BLOCK');
  rejects(t, () => validateResource(disk({ persistence: {} })), "'disk'.disk.persistence.id", 'required');
  rejects(t, () => validateResource(disk({ volume: { mode: 'RX', containerPath: 'a' } })), "'disk'.disk.volume.mode", "'RW' or 'RO'");
  rejects(t, () => validateResource(disk({ volume: { mode: 'RW' } })), "'disk'.disk.volume.container_path", 'required');
  rejects(t, () => validateResource(disk({ volume: { mode: 'RW', containerPath: '' } })), 'container_path', 'required');
  rejects(t, () => validateResource(disk('x')), "'disk'.disk", 'must be an object');
});

test('rule 7: role * cannot carry a reservation; role names follow the role rules', (t) => {
  rejects(t, () => validateResource(scalarIn({ reservation: { principal: 'ops' } })), "'cpus'.reservation", 'role "*" cannot be dynamically reserved');
  rejects(t, () => validateResource(scalarIn({ role: '*', reservation: {} })), 'role "*" cannot be dynamically reserved');
  rejects(t, () => validateResource(scalarIn({ role: 'a b' })), "'cpus'.role", "invalid role 'a b'", 'whitespace');
  rejects(t, () => validateResource(scalarIn({ role: '' })), "'cpus'.role", 'must not be empty');
  rejects(t, () => validateResource(scalarIn({ role: '-x' })), "'cpus'.role", "start with '-'");
  rejects(t, () => validateResource(scalarIn({ role: 'a/b' })), "'cpus'.role", "'/'");
  rejects(t, () => validateResource(scalarIn({ role: 3 })), "'cpus'.role", 'string');
  const ok = validateResource(scalarIn({ role: 'ads', reservation: { principal: 'ops', labels: [{ key: 'k', value: 'v' }, { key: 'flag' }] } }));
  t.deepEqual(ok.reservation, { principal: 'ops', labels: [{ key: 'k', value: 'v' }, { key: 'flag' }] });
  t.deepEqual(validateResource(scalarIn({ role: 'ads', reservation: { labels: [] } })).reservation, {}, 'empty labels are dropped');
  rejects(t, () => validateResource(scalarIn({ role: 'ads', reservation: { labels: [{ value: 'v' }] } })), 'reservation.labels[0].key', 'required');
  rejects(t, () => validateResource(scalarIn({ role: 'ads', reservation: { principal: 5 } })), 'reservation.principal', 'string');
  rejects(t, () => validateResource(scalarIn({ revocable: 'yes' })), "'cpus'.revocable", 'boolean');
});

// ---------------------------------------------------------------------------------------------
// Master-side rules for submitted resources

const submitted = (r: Resource) => () => validateSubmittedResource(r);
const pv = (extra: Partial<Parameters<typeof resource>[2]> = {}, disk: object = {}) =>
  resource('disk', 64, {
    role: 'ads',
    reservation: { principal: 'ops' },
    disk: { persistence: { id: 'vol-1', principal: 'ops' }, volume, ...disk },
    ...extra,
  });

test('submitted: gpus must be whole', (t) => {
  t.notThrows(submitted(resource('gpus', 2)));
  rejects(t, submitted(resource('gpus', 1.5)), "resource 'gpus'.scalar", 'whole number');
  t.notThrows(submitted(resource('cpus', 1.5)), 'other scalars may be fractional');
});

test('submitted: a valid persistent volume passes', (t) => {
  t.notThrows(submitted(pv()));
  t.notThrows(submitted(pv({ reservation: undefined }, {})), 'a statically reserved volume is fine');
});

test('submitted: persistent volumes cannot be revocable, unreserved, volume-less, RO, host-pathed, or badly named', (t) => {
  rejects(t, submitted(pv({ reservation: undefined, revocable: true })), "resource 'disk'", 'persistent volumes cannot be revocable');
  rejects(t, submitted(pv({ role: '*', reservation: undefined })), "'disk'.role", 'unreserved');
  rejects(t, submitted(resource('disk', 1, { role: 'ads', disk: { persistence: { id: 'v' } } })), "'disk'.disk.volume", 'needs a volume');
  rejects(t, submitted(pv({}, { volume: { mode: 'RO', containerPath: 'data' } })), "'disk'.disk.volume.mode", 'must be RW');
  rejects(t, submitted(pv({}, { volume: { mode: 'RW', containerPath: 'data', hostPath: '/srv' } })), "'disk'.disk.volume.host_path", 'must not be set');
  rejects(t, submitted(pv({}, { persistence: { id: 'a/b' } })), "'disk'.disk.persistence.id", "invalid persistence id: must not contain '/'");
  rejects(t, submitted(pv({}, { persistence: { id: '..' } })), 'persistence.id', "must not be '..'");
  rejects(t, submitted(pv({}, { persistence: { id: '' } })), 'persistence.id', 'must not be empty');
  rejects(t, submitted(pv({}, { persistence: { id: 'a\\b' } })), 'persistence.id');
  rejects(t, submitted(pv({}, { persistence: { id: 'a\nb' } })), 'persistence.id', 'control characters');
});

test('submitted: a volume without persistence is not supported; empty disk info is invalid', (t) => {
  rejects(t, submitted(resource('disk', 1, { role: 'ads', disk: { volume } })), "'disk'.disk.volume", 'non-persistent volumes are not supported');
  rejects(t, submitted(resource('disk', 1, { disk: {} })), "resource 'disk'.disk", 'disk info is set but empty');
  t.notThrows(submitted(resource('disk', 1, { disk: { source: { type: 'MOUNT', root: '/mnt' } } })), 'a source alone is fine');
});

test('submitted: dynamically reserved resources cannot be revocable (static ones may)', (t) => {
  rejects(
    t,
    submitted(resource('cpus', 1, { role: 'ads', reservation: { principal: 'ops' }, revocable: true })),
    "resource 'cpus'",
    'dynamically reserved resources cannot be revocable',
  );
  t.notThrows(submitted(resource('cpus', 1, { role: 'ads', revocable: true })));
  t.notThrows(submitted(resource('cpus', 1, { revocable: true })));
});

// ---------------------------------------------------------------------------------------------
// Identity and predicates

test('identity covers name, type, role, reservation, disk source + persistence id, revocable — not the value or the volume', (t) => {
  const base = resource('cpus', 1, { role: 'ads', reservation: { principal: 'ops' } });
  t.is(identityKey(base), identityKey(resource('cpus', 7.5, { role: 'ads', reservation: { principal: 'ops' } })));
  const differing = [
    resource('mem', 1, { role: 'ads', reservation: { principal: 'ops' } }),
    resource('cpus', 1, { role: 'web', reservation: { principal: 'ops' } }),
    resource('cpus', 1, { role: 'ads' }),
    resource('cpus', 1, { role: 'ads', reservation: {} }),
    resource('cpus', 1, { role: 'ads', reservation: { principal: '' } }),
    resource('cpus', 1, { role: 'ads', reservation: { principal: 'other' } }),
    resource('cpus', 1, { role: 'ads', reservation: { principal: 'ops', labels: [{ key: 'k' }] } }),
    resource('cpus', 1, { role: 'ads', reservation: { principal: 'ops' }, revocable: true }),
  ];
  for (const d of differing) t.not(identityKey(d), identityKey(base), formatResource(d));
  t.not(identityKey(resource('x', 1)), identityKey(resource('x', [[1, 2]])), 'type is part of the identity');

  const vol = (id: string, containerPath: string, mode: 'RW' | 'RO' = 'RW') =>
    resource('disk', 1, { role: 'ads', disk: { persistence: { id }, volume: { mode, containerPath } } });
  t.is(identityKey(vol('v1', 'a')), identityKey(vol('v1', 'b', 'RO')), 'the volume is not part of the identity');
  t.not(identityKey(vol('v1', 'a')), identityKey(vol('v2', 'a')));
  const src = (type: 'PATH' | 'MOUNT', root: string) => resource('disk', 1, { disk: { source: { type, root } } });
  t.not(identityKey(src('PATH', '/a')), identityKey(src('PATH', '/b')));
  t.not(identityKey(src('PATH', '/a')), identityKey(src('MOUNT', '/a')));
  t.not(identityKey(src('PATH', '/a')), identityKey(resource('disk', 1)));
});

test('identity compares reservation labels as labels: order does not matter, content does', (t) => {
  const withLabels = (labels: { key: string; value?: string }[]) => resource('cpus', 1, { role: 'ads', reservation: { principal: 'ops', labels } });
  t.is(
    identityKey(
      withLabels([
        { key: 'a', value: '1' },
        { key: 'b', value: '2' },
      ]),
    ),
    identityKey(
      withLabels([
        { key: 'b', value: '2' },
        { key: 'a', value: '1' },
      ]),
    ),
    'Mesos compares Labels ignoring order',
  );
  t.not(
    identityKey(withLabels([{ key: 'a', value: 'b,c=d' }])),
    identityKey(
      withLabels([
        { key: 'a', value: 'b' },
        { key: 'c', value: 'd' },
      ]),
    ),
    'one label whose value holds separators is not two labels',
  );
  t.not(identityKey(withLabels([{ key: 'a=b', value: 'c' }])), identityKey(withLabels([{ key: 'a', value: 'b=c' }])));
  t.not(identityKey(withLabels([{ key: 'a', value: '1' }])), identityKey(withLabels([{ key: 'a', value: '2' }])));
  t.is(identityKey(withLabels([{ key: 'a' }])), identityKey(withLabels([{ key: 'a', value: '' }])), "an absent value equals ''");
});

test('identity keeps fields apart even when they contain separator-like characters', (t) => {
  // A principal that ends in what looks like a label, and a real label: different reservations.
  const a = resource('cpus', 1, { role: 'r', reservation: { principal: 'p\u0001x=' } });
  const b = resource('cpus', 1, { role: 'r', reservation: { principal: 'p', labels: [{ key: 'x', value: '\u0001' }] } });
  t.not(identityKey(a), identityKey(b));
});

test('predicates: reserved, dynamically reserved, exclusive, persistent volume, empty value', (t) => {
  const unres = resource('cpus', 1);
  const stat = resource('cpus', 1, { role: 'ads' });
  const dyn = resource('cpus', 1, { role: 'ads', reservation: { principal: 'ops' } });
  t.false(isReserved(unres));
  t.true(isReserved(stat));
  t.true(isReserved(dyn, 'ads'));
  t.false(isReserved(dyn, 'web'));
  t.false(isReserved(unres, '*'), 'unreserved is never "reserved for *"');
  t.false(isDynamicallyReserved(stat));
  t.true(isDynamicallyReserved(dyn));
  t.true(isExclusive(pv()));
  t.true(isPersistentVolume(pv()));
  t.true(isExclusive(resource('disk', 5, { disk: { source: { type: 'MOUNT', root: '/m' } } })), 'MOUNT disks are exclusive');
  t.false(isExclusive(resource('disk', 5, { disk: { source: { type: 'PATH', root: '/p' } } })));
  t.false(isPersistentVolume(resource('disk', 5)));
  t.true(isEmptyValue(resource('cpus', 0)));
  t.false(isEmptyValue(resource('cpus', 0.001)));
  t.true(isEmptyValue(validateResource({ name: 'ports', type: 'RANGES', ranges: [] })));
  t.true(isEmptyValue(validateResource({ name: 'bugs', type: 'SET', set: [] })));
});

test('resource() picks the value type from its argument and validates', (t) => {
  t.is(resource('cpus', 2).type, 'SCALAR');
  t.deepEqual(
    resource('ports', [
      [31000, 31099],
      [31100, 31200],
    ]).ranges,
    [{ begin: 31000, end: 31200 }],
  );
  t.deepEqual(resource('bugs', ['b', 'a']).set, ['a', 'b']);
  rejects(t, () => resource('x', []), "resource 'x'", 'ambiguous');
  rejects(t, () => resource('cpus', -2), 'negative');
});

test('human form: name(role[, principal][, labels])[disk]{REV}:value', (t) => {
  t.is(formatResource(resource('cpus', 4)), 'cpus(*):4');
  t.is(formatResource(resource('mem', 1024, { role: 'ads', reservation: { principal: 'ops' } })), 'mem(ads, ops):1024');
  t.is(
    formatResource(resource('mem', 1, { role: 'ads', reservation: { principal: 'ops', labels: [{ key: 'team', value: 'x' }, { key: 'f' }] } })),
    'mem(ads, ops, {team: x, f}):1',
  );
  t.is(
    formatResource(resource('disk', 512, { role: 'ads', disk: { persistence: { id: 'vol-1' }, volume: { mode: 'RW', containerPath: 'data' } } })),
    'disk(ads)[vol-1:data]:512',
  );
  t.is(formatResource(resource('disk', 5, { disk: { source: { type: 'MOUNT', root: '/mnt/a' } } })), 'disk(*)[MOUNT(/mnt/a)]:5');
  t.is(formatResource(resource('cpus', 1.5, { revocable: true })), 'cpus(*){REV}:1.5');
  t.is(
    formatResource(
      resource('ports', [
        [1, 2],
        [5, 5],
      ]),
    ),
    'ports(*):[1-2, 5-5]',
  );
  t.is(formatResource(resource('bugs', ['b', 'a'], { role: 'debug' })), 'bugs(debug):{a, b}');
});
