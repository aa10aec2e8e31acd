import test from 'ava';
import fc from 'fast-check';
import { WireDouble, asciiJson, double, formatDouble, isWireDouble, stringifyWire } from '../../lib/proto/json_text.ts';

test('plain values are written as JSON.stringify writes them', (t) => {
  const v = { type: 'HEARTBEAT', n: 3, f: 1.5, list: [1, 'a', null, true], nested: { x: {} } };
  t.is(stringifyWire(v), JSON.stringify(v));
  t.is(stringifyWire('s'), '"s"');
  t.is(stringifyWire(null), 'null');
});

test('non-ASCII is escaped; surrogate pairs as two escapes; U+2028/U+2029 too', (t) => {
  const v = { name: 'café 日本 😀', sep: '\u2028\u2029', kéy: 'x' };
  const text = stringifyWire(v);
  t.is(text, '{"name":"caf\\u00e9 \\u65e5\\u672c \\ud83d\\ude00","sep":"\\u2028\\u2029","k\\u00e9y":"x"}');
  t.true(/^[\x20-\x7e]*$/.test(text), 'printable ASCII only');
  t.is(Buffer.byteLength(text, 'utf8'), text.length);
  t.deepEqual(JSON.parse(text), v);
});

test('no newline ever appears in the text', (t) => {
  const text = stringifyWire({ a: 'line1\nline2\r\n', b: ['\u0085'] });
  t.false(text.includes('\n'));
  t.false(text.includes('\r'));
  t.deepEqual(JSON.parse(text), { a: 'line1\nline2\r\n', b: ['\u0085'] });
});

test('lone surrogates stay escaped and valid', (t) => {
  const text = stringifyWire({ s: 'a\ud800b' });
  t.is(text, '{"s":"a\\ud800b"}');
});

test('double(): integral values get a fraction, others as usual', (t) => {
  t.is(stringifyWire({ cpus: double(15) }), '{"cpus":15.0}');
  t.is(stringifyWire({ cpus: double(0.5), mem: double(1024), z: double(0) }), '{"cpus":0.5,"mem":1024.0,"z":0.0}');
  t.is(stringifyWire([double(-3), double(1e21), double(1.25e-7), double(-0)]), '[-3.0,1e+21,1.25e-7,-0.0]');
  t.is(stringifyWire(double(2)), '2.0');
  t.is(stringifyWire({ n: 15 }), '{"n":15}', 'a plain number is not a double');
});

test('double(): non-finite values are the bare tokens Mesos writes', (t) => {
  t.is(stringifyWire({ a: double(Infinity), b: double(-Infinity), c: double(NaN) }), '{"a":Infinity,"b":-Infinity,"c":NaN}');
});

test('doubles nested deep and mixed with non-ASCII', (t) => {
  const v = { offers: [{ resources: [{ name: 'cpus', scalar: { value: double(4) } }], hostname: 'hôte' }], timestamp: double(1700000000.25) };
  t.is(stringifyWire(v), '{"offers":[{"resources":[{"name":"cpus","scalar":{"value":4.0}}],"hostname":"h\\u00f4te"}],"timestamp":1700000000.25}');
});

test('a string that looks like a marker without the nonce is left alone', (t) => {
  const v = { s: '\u0000abc15.0', t: 'x', d: double(1) };
  t.deepEqual(JSON.parse(stringifyWire(v)), { s: '\u0000abc15.0', t: 'x', d: 1 });
});

test('outside stringifyWire a WireDouble is a plain number', (t) => {
  t.is(JSON.stringify({ a: double(15), b: double(Infinity) }), '{"a":15,"b":null}');
  t.true(isWireDouble(double(1)));
  t.true(double(1) instanceof WireDouble);
  t.is(double(2).valueOf() + 1, 3);
});

test('formatDouble and asciiJson', (t) => {
  t.is(formatDouble(3), '3.0');
  t.is(formatDouble(0.1), '0.1');
  t.is(asciiJson('"ä"'), '"\\u00e4"');
  t.is(asciiJson('"a"'), '"a"');
});

test('undefined at the top is an error', (t) => {
  t.throws(() => stringifyWire(undefined), { message: /cannot be written as JSON/ });
});

test('property: the text is ASCII and parses back to the value', (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const text = stringifyWire(v);
      return /^[\x00-\x7f]*$/.test(text) && !text.includes('\n') && JSON.stringify(JSON.parse(text)) === JSON.stringify(v);
    }),
    { numRuns: 300 },
  );
  t.pass();
});
