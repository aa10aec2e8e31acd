import test from 'ava';
import fc from 'fast-check';
import { RecordIoDecoder, decodeRecords, encodeRecord } from '../../lib/proto/recordio.ts';

test('encodeRecord writes the byte count, LF, then the bytes', (t) => {
  t.is(encodeRecord('{"type":"HEARTBEAT"}').toString('latin1'), '20\n{"type":"HEARTBEAT"}');
  t.deepEqual(encodeRecord(Buffer.from([0, 1, 2])), Buffer.concat([Buffer.from('3\n'), Buffer.from([0, 1, 2])]));
});

test('encodeRecord counts bytes, not characters', (t) => {
  const s = 'é日😀'; // 2 + 3 + 4 bytes, 4 UTF-16 code units
  const rec = encodeRecord(s);
  t.is(rec.toString('latin1', 0, 2), '9\n');
  t.is(rec.length, 11);
  t.is(rec.subarray(2).toString('utf8'), s);
});

test('encodeRecord refuses an empty payload', (t) => {
  t.throws(() => encodeRecord(''), { message: /must not be empty/ });
  t.throws(() => encodeRecord(Buffer.alloc(0)), { message: /never 0/ });
});

test('decoder: several records in one chunk, and byte-by-byte', (t) => {
  const data = Buffer.concat([encodeRecord('a'), encodeRecord('{"x":1}'), encodeRecord('x'.repeat(300))]);
  t.deepEqual(decodeRecords(data).map(String), ['a', '{"x":1}', 'x'.repeat(300)]);
  const d = new RecordIoDecoder();
  const out: string[] = [];
  for (const b of data) for (const r of d.push(Buffer.from([b]))) out.push(r.toString());
  d.end();
  t.deepEqual(out, ['a', '{"x":1}', 'x'.repeat(300)]);
});

test('decoder: a split inside the length prefix and inside a multi-byte character', (t) => {
  const payload = 'ab€cd'; // € is 3 bytes
  const rec = encodeRecord(payload); // "7\nab\xe2\x82\xaccd"
  const big = encodeRecord('z'.repeat(1234)); // 4-digit prefix
  const all = Buffer.concat([rec, big]);
  const d = new RecordIoDecoder();
  const cuts = [4, 6 /* inside € */, 10, 11 /* inside "1234" */, 13];
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, all.length]) {
    out.push(...d.push(all.subarray(at, c)));
    at = c;
  }
  d.end();
  t.deepEqual(out.map(String), [payload, 'z'.repeat(1234)]);
  t.is(d.pendingBytes, 0);
});

test('decoder: a non-digit prefix is an error naming the byte and offset', (t) => {
  const d = new RecordIoDecoder();
  t.deepEqual(d.push(Buffer.from('1\nx')).map(String), ['x']);
  const e = t.throws(() => d.push(Buffer.from('1a\nb')));
  t.regex(e.message, /non-digit byte 0x61 at byte 4/);
  t.is((e as { code?: string }).code, 'INVALID');
  // sticky
  t.throws(() => d.push(Buffer.from('1\nx')), { message: /non-digit/ });
  t.throws(() => decodeRecords(Buffer.from('{"type":"HEARTBEAT"}')), { message: /non-digit byte 0x7b at byte 0/ });
  t.throws(() => decodeRecords(Buffer.from('\nabc')), { message: /empty record length prefix/ });
  t.throws(() => decodeRecords(Buffer.from('-1\na')), { message: /non-digit/ });
});

test('decoder: a zero length is an error', (t) => {
  t.throws(() => decodeRecords(Buffer.from('0\n')), { message: /record length 0/ });
  t.throws(() => decodeRecords(Buffer.from('000\n')), { message: /record length 0/ });
  t.deepEqual(decodeRecords(Buffer.from('01\nx')).map(String), ['x'], 'leading zeros are tolerated');
});

test('decoder: a length over the maximum fails as soon as the prefix says so', (t) => {
  const d = new RecordIoDecoder({ maxRecordBytes: 100 });
  t.deepEqual(d.push(Buffer.from('100\n')), []);
  t.is(d.push(Buffer.alloc(100, 0x41)).length, 1);
  // No LF needed: the 4th digit already exceeds 100.
  t.throws(() => d.push(Buffer.from('101')), { message: /record length 101 \(so far\) exceeds the maximum of 100 bytes/ });
  t.throws(() => decodeRecords(Buffer.from('99999999999999999999999\n')), { message: /exceeds the maximum of 67108864/ });
  t.throws(() => new RecordIoDecoder({ maxRecordBytes: 0 }), { message: /maxRecordBytes/ });
});

test('decoder: end() inside a record or prefix is an error', (t) => {
  const a = new RecordIoDecoder();
  a.push(Buffer.from('5\nab'));
  t.is(a.pendingBytes, 2);
  t.throws(() => a.end(), { message: /2 of 5 bytes/ });
  const b = new RecordIoDecoder();
  b.push(Buffer.from('12'));
  t.throws(() => b.end(), { message: /inside a record length prefix/ });
});

test('property: random records, random chunk splits → the same records', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 })), {
        maxLength: 30,
      }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (records, cutSeeds) => {
        const wire = Buffer.concat(records.map((r) => encodeRecord(typeof r === 'string' ? r : Buffer.from(r))));
        const cuts = [...new Set(cutSeeds.map((c) => (wire.length === 0 ? 0 : c % (wire.length + 1))))].sort((a, b) => a - b);
        const d = new RecordIoDecoder();
        const out: Buffer[] = [];
        let at = 0;
        for (const c of [...cuts, wire.length]) {
          out.push(...d.push(wire.subarray(at, c)));
          at = c;
        }
        d.end();
        const expected = records.map((r) => (typeof r === 'string' ? Buffer.from(r, 'utf8') : Buffer.from(r)));
        if (out.length !== expected.length) return false;
        return out.every((b, i) => b.equals(expected[i]!));
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});
