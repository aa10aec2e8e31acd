import test from 'ava';
import { ValidationError } from '../../lib/common/errors.ts';
import {
  type JsonReader,
  DecodeContext,
  decodeMessage,
  emitObject,
  readBool,
  readBytes,
  readDouble,
  readEnum,
  readInteger,
  readRepeated,
  readString,
  withDefault,
} from '../../lib/proto/json.ts';

/** Expect a ValidationError on `field` whose message contains `text`. */
function throwsOn(t: import('ava').ExecutionContext, fn: () => unknown, field: string, text: string | RegExp): ValidationError {
  const e = t.throws(fn, { instanceOf: ValidationError });
  t.is(e.field, field);
  if (typeof text === 'string') t.true(e.message.includes(text), e.message);
  else t.regex(e.message, text);
  t.true(e.message.startsWith(`${field}: `), e.message);
  return e;
}

test('strings: a JSON string only', (t) => {
  t.is(readString('x', 'a.b'), 'x');
  throwsOn(t, () => readString(5, 'a.b'), 'a.b', "Not expecting a JSON number for field 'b'");
  throwsOn(t, () => readString({}, 'a.b'), 'a.b', "Not expecting a JSON object for field 'b'");
  throwsOn(t, () => readString([], 'a.list[3]'), 'a.list[3]', "Not expecting a JSON array for field 'list'");
  throwsOn(t, () => readString(true, 'name'), 'name', "Not expecting a JSON boolean for field 'name'");
});

test('integers: a number or a string holding a JSON number', (t) => {
  t.is(readInteger(5, 'n'), 5);
  t.is(readInteger('5', 'n'), 5);
  t.is(readInteger(' 42 ', 'n'), 42);
  t.is(readInteger('-7', 'n', 'int32'), -7);
  t.is(readInteger('1e3', 'n', 'uint32'), 1000);
  t.is(readInteger(2 ** 31 - 1, 'n', 'int32'), 2 ** 31 - 1);
  throwsOn(t, () => readInteger(2 ** 31, 'n', 'int32'), 'n', 'out of range for int32');
  throwsOn(t, () => readInteger(-1, 'r.begin', 'uint64'), 'r.begin', "out of range for uint64 field 'begin'");
  throwsOn(t, () => readInteger(1.5, 'n'), 'n', 'whole number');
  throwsOn(t, () => readInteger('abc', 'x.n'), 'x.n', "Failed to parse 'abc' as a JSON number for field 'n'");
  throwsOn(t, () => readInteger('0x10', 'n'), 'n', 'Failed to parse');
  throwsOn(t, () => readInteger('', 'n'), 'n', 'Failed to parse');
  throwsOn(t, () => readInteger(true, 'n'), 'n', "Not expecting a JSON boolean for field 'n'");
  throwsOn(t, () => readInteger({}, 'n'), 'n', "Not expecting a JSON object for field 'n'");
});

test('doubles: a number, a numeric string, or ±Infinity', (t) => {
  t.is(readDouble(2.5, 'v'), 2.5);
  t.is(readDouble('2.5', 'v'), 2.5);
  t.is(readDouble('-1e-3', 'v'), -0.001);
  t.is(readDouble('Infinity', 'v'), Infinity);
  t.is(readDouble('-Infinity', 'v'), -Infinity);
  throwsOn(t, () => readDouble('NaN', 'v'), 'v', "Failed to parse 'NaN'");
  throwsOn(t, () => readDouble('2.5cpus', 's.value'), 's.value', "as a JSON number for field 'value'");
  throwsOn(t, () => readDouble(null, 'v'), 'v', 'Not expecting a JSON null');
  throwsOn(t, () => readDouble([1], 'v'), 'v', 'Not expecting a JSON array');
});

test('bools: true/false or their strings', (t) => {
  t.true(readBool(true, 'b'));
  t.false(readBool(false, 'b'));
  t.true(readBool('true', 'b'));
  t.false(readBool('false', 'b'));
  throwsOn(t, () => readBool('yes', 'f.checkpoint'), 'f.checkpoint', "Failed to parse 'yes' as a boolean for field 'checkpoint'");
  throwsOn(t, () => readBool(1, 'b'), 'b', "Not expecting a JSON number for field 'b'");
});

test('bytes: padded standard base64, kept as text', (t) => {
  t.is(readBytes('aGk=', 'data'), 'aGk=');
  t.is(readBytes('', 'data'), '');
  throwsOn(t, () => readBytes('aGk', 'data'), 'data', 'base64');
  throwsOn(t, () => readBytes('aG_k', 'data'), 'data', 'base64');
  throwsOn(t, () => readBytes(5, 'data'), 'data', 'Not expecting a JSON number');
});

test('enums: names only; unknown names fail when required and vanish when optional', (t) => {
  const names = ['SCALAR', 'RANGES'] as const;
  t.is(readEnum('RANGES', 'type', names, true), 'RANGES');
  t.is(readEnum('BOGUS', 'type', names, false), undefined);
  throwsOn(t, () => readEnum('BOGUS', 'r.type', names, true), 'r.type', "Failed to find enum for 'BOGUS'");
  throwsOn(t, () => readEnum(1, 'r.type', names, true), 'r.type', "Not expecting a JSON number for field 'type'");
  throwsOn(t, () => readEnum(0, 'r.type', names, false), 'r.type', "Not expecting a JSON number for field 'type'");
  throwsOn(t, () => readEnum('scalar', 'type', names, true), 'type', 'Failed to find enum');
});

test('repeated: an array, a single value as one element, null as none; null elements skipped', (t) => {
  t.deepEqual(readRepeated(['a', 'b'], 'xs', readString), ['a', 'b']);
  t.deepEqual(readRepeated('a', 'xs', readString), ['a']);
  t.deepEqual(readRepeated(null, 'xs', readString), []);
  t.deepEqual(readRepeated(undefined, 'xs', readString), []);
  t.deepEqual(readRepeated(['a', null, 'c'], 'xs', readString), ['a', 'c']);
  throwsOn(t, () => readRepeated(['a', 5], 'm.xs', readString), 'm.xs[1]', "Not expecting a JSON number for field 'xs'");
  throwsOn(t, () => readRepeated(5, 'm.xs', readString), 'm.xs[0]', 'Not expecting a JSON number');
});

interface Thing {
  name: string;
  count?: number;
  kind: 'A' | 'B';
  mode?: 'X' | 'Y';
  inner?: { id: string; n: number };
  must: { id: string };
  tags: string[];
  modes: ('X' | 'Y')[];
}

function readThing(r: JsonReader): Thing {
  const readInner = (m: JsonReader) => ({ id: m.requiredString('id'), n: m.integer('n') ?? 0 });
  const out: Thing = {
    name: r.requiredString('name'),
    kind: r.requiredEnum('kind', ['A', 'B'] as const),
    must: r.requiredMessage('must', (m) => ({ id: m.requiredString('id') })),
    tags: r.repeatedString('tags'),
    modes: r.repeatedEnum('modes', ['X', 'Y'] as const),
  };
  const count = r.integer('count');
  if (count !== undefined) out.count = count;
  const mode = r.enum('mode', ['X', 'Y'] as const);
  if (mode !== undefined) out.mode = mode;
  const inner = r.message('inner', readInner);
  if (inner !== undefined) out.inner = inner;
  return out;
}

test('messages: fields read, unknown keys ignored, null is unset', (t) => {
  const got = decodeMessage(
    {
      name: 'n',
      count: '3',
      kind: 'B',
      mode: null,
      inner: { id: 'i', n: 2, extra: [1, 2] },
      must: { id: 'm' },
      tags: 'solo',
      modes: ['X', 'Z', 'Y'],
      frameworkId: 'camelCase is not a field',
      constructor: 'not special',
    },
    'thing',
    readThing,
  );
  t.deepEqual(got, { name: 'n', count: 3, kind: 'B', inner: { id: 'i', n: 2 }, must: { id: 'm' }, tags: ['solo'], modes: ['X', 'Y'] });
});

test('messages: an unknown optional enum leaves the field unset', (t) => {
  const got = decodeMessage({ name: 'n', kind: 'A', mode: 'Z', must: { id: 'm' } }, 'thing', readThing);
  t.false('mode' in got);
});

test('messages: keys inherited from Object.prototype are not fields', (t) => {
  const got = decodeMessage({ kind: 'A', must: { id: 'm' } }, '', (r) => ({ x: r.raw('toString'), y: r.raw('__proto__') }));
  t.deepEqual(got, { x: undefined, y: undefined });
});

test('messages: missing required fields are collected and reported together', (t) => {
  const e = throwsOn(
    t,
    () => decodeMessage({ inner: { n: 1 }, tags: [] }, 'thing', readThing),
    'thing',
    'Missing required fields: thing.name, thing.kind, thing.must, thing.inner.id',
  );
  t.is(e.code, 'MISSING_FIELDS');
  // A missing required message is reported by its own path only, not by its fields.
  t.false(e.message.includes('thing.must.id'));
});

test('messages: at the root, paths read exactly as Mesos writes them', (t) => {
  throwsOn(t, () => decodeMessage({ kind: 'A', must: {} }, '', readThing), 'name', 'Missing required fields: name, must.id');
});

test('messages: a type error stops the decode at once and names the path', (t) => {
  throwsOn(t, () => decodeMessage({ name: 'n', inner: 'x' }, 'thing', readThing), 'thing.inner', "Not expecting a JSON string for field 'inner'");
  throwsOn(t, () => decodeMessage({ name: 'n', inner: [{ id: 'a' }] }, 'thing', readThing), 'thing.inner', 'Not expecting a JSON array');
  throwsOn(t, () => decodeMessage({ name: 'n', kind: 2 }, 'thing', readThing), 'thing.kind', "Not expecting a JSON number for field 'kind'");
  throwsOn(t, () => decodeMessage({ name: 'n', kind: 'C' }, 'thing', readThing), 'thing.kind', "Failed to find enum for 'C'");
  throwsOn(t, () => decodeMessage('x', 'thing', readThing), 'thing', "Not expecting a JSON string for field 'thing'");
  throwsOn(t, () => decodeMessage(null, 'thing', readThing), 'thing', 'Not expecting a JSON null');
});

test('messages: repeated sub-messages name their index', (t) => {
  const read = (r: JsonReader) => r.repeatedMessage('items', (m) => m.requiredString('id'));
  t.deepEqual(decodeMessage({ items: [{ id: 'a' }, { id: 'b' }] }, '', read), ['a', 'b']);
  t.deepEqual(decodeMessage({ items: { id: 'a' } }, '', read), ['a']);
  throwsOn(t, () => decodeMessage({ items: [{ id: 'a' }, {}, { id: 5 }] }, 'm', read), 'm.items[2].id', "Not expecting a JSON number for field 'id'");
  throwsOn(t, () => decodeMessage({ items: [{ id: 'a' }, {}, { x: 1 }] }, 'm', read), 'm', 'Missing required fields: m.items[1].id, m.items[2].id');
  throwsOn(t, () => decodeMessage({ items: [{ id: 'a' }, 'b'] }, 'm', read), 'm.items[1]', "Not expecting a JSON string for field 'items'");
});

test('DecodeContext gathers across several readers', (t) => {
  const ctx = new DecodeContext();
  ctx.reader({}, 'a').requiredString('x');
  ctx.reader({ y: 'ok' }, 'b').requiredString('y');
  t.deepEqual(ctx.missingFields, ['a.x']);
  throwsOn(t, () => ctx.finish(), 'a.x', 'Missing required fields: a.x');
});

test('emitObject: unset fields and empty repeated fields are left out, order kept', (t) => {
  const o = emitObject({ a: 1, b: undefined, c: [], d: ['x'], e: {}, f: null, g: false, h: 0, i: '' });
  t.deepEqual(o, { a: 1, d: ['x'], e: {}, f: null, g: false, h: 0, i: '' });
  t.deepEqual(Object.keys(o), ['a', 'd', 'e', 'f', 'g', 'h', 'i']);
  t.is(JSON.stringify(emitObject({ z: 1, a: 2 })), '{"z":1,"a":2}');
});

test('withDefault: fields with an explicit default always appear', (t) => {
  t.deepEqual(emitObject({ refuse_seconds: withDefault(undefined, 5.0) }), { refuse_seconds: 5 });
  t.deepEqual(emitObject({ role: withDefault('ads', '*') }), { role: 'ads' });
  t.deepEqual(emitObject({ checkpoint: withDefault<boolean>(undefined, false) }), { checkpoint: false });
});
