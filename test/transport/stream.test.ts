import test from 'ava';
import http from 'node:http';
import { recordingLogger } from '../../lib/common/log.ts';
import { double, stringifyWire } from '../../lib/proto/json_text.ts';
import { encodeRecord } from '../../lib/proto/recordio.ts';
import type { ResponseStream } from '../../lib/transport/http_types.ts';
import { RawClient, client, delay, oneRecord, startServer, waitFor } from './helpers.ts';

const SUBSCRIBE = 'POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';

test('a stream of 1000 records: each HTTP chunk on the wire is exactly one complete record', async (t) => {
  const { port, server } = await startServer(t, {}, (s) =>
    s.route({
      path: '/api/v1/scheduler',
      methods: ['POST'],
      handler: async (r) => {
        await r.readBody();
        const st = r.startStream(200, { 'Content-Type': 'application/json', 'Mesos-Stream-Id': 'abc' });
        // Bursts of writes in the same tick, so Node has every chance to coalesce them.
        for (let i = 0; i < 1000; i++) {
          st.writeRecord(stringifyWire({ type: 'UPDATE', n: i, pad: 'p'.repeat(i % 97) }));
          if (i % 100 === 99) await delay(1);
        }
        st.end();
      },
    }),
  );
  const raw = await RawClient.connect(port, t);
  raw.send(SUBSCRIBE);
  await raw.until(() => raw.ended, 'end of stream');
  t.is(raw.head!.status, 200);
  t.is(raw.head!.headers.get('transfer-encoding'), 'chunked');
  t.false(raw.head!.headers.has('content-length'));
  t.is(raw.head!.headers.get('mesos-stream-id'), 'abc');
  t.is(raw.chunks.length, 1000);
  raw.chunks.forEach((chunk, i) => {
    const payload = oneRecord(chunk);
    t.deepEqual(JSON.parse(payload.toString()), { type: 'UPDATE', n: i, pad: 'p'.repeat(i % 97) });
  });
  await raw.until(() => server.stats().openStreams === 0);
  t.false(raw.closed, 'the connection stays open for keep-alive');
});

test('non-ASCII payloads: escaped to ASCII, byte counts exact, one record per chunk', async (t) => {
  const events = [
    { type: 'MESSAGE', data: 'café', hostname: 'hôte-日本' },
    { type: 'UPDATE', message: 'emoji 😀 and \u2028 separator', value: double(2) },
  ];
  const { port } = await startServer(t, {}, (s) =>
    s.route({
      path: '/api/v1/scheduler',
      methods: ['POST'],
      handler: (r) => {
        const st = r.startStream(200, { 'Content-Type': 'application/json' });
        for (const e of events) st.writeRecord(stringifyWire(e));
        // A raw (unescaped) UTF-8 payload: the count must be bytes, not characters.
        st.writeRecord('{"raw":"ü€😀"}');
        st.end();
        return st;
      },
    }),
  );
  const raw = await RawClient.connect(port, t);
  raw.send(SUBSCRIBE);
  await raw.until(() => raw.ended);
  t.is(raw.chunks.length, 3);
  const [a, b, c] = raw.chunks.map(oneRecord);
  t.true(/^[\x20-\x7e]+$/.test(a!.toString('latin1')));
  t.true(/^[\x20-\x7e]+$/.test(b!.toString('latin1')));
  t.deepEqual(JSON.parse(a!.toString()), events[0]);
  t.regex(b!.toString(), /"value":2\.0/);
  t.is(JSON.parse(b!.toString()).message, events[1]!.message);
  t.is(raw.chunks[2]!.toString('latin1', 0, 3), '19\n', '14 UTF-16 units, 19 bytes');
  t.is(c!.toString('utf8'), '{"raw":"ü€😀"}');
});

test('the client decodes records whatever the chunking (records split across chunks, several per chunk)', async (t) => {
  const payloads = ['{"type":"SUBSCRIBED"}', '{"type":"HEARTBEAT"}', '{"type":"OFFERS","h":"ö"}', 'x'.repeat(5000)];
  const wire = Buffer.concat(payloads.map((p) => encodeRecord(p)));
  // Cut points inside prefixes, inside the two-byte ö, and across record boundaries.
  const cuts = [1, 3, 30, 47, 70, 71, 72, 200, wire.length];
  const { port } = await startServer(t, {}, (s) =>
    s.route({
      path: '/pieces',
      methods: ['POST'],
      handler: async (r) => {
        const st = r.startStream(200, { 'Content-Type': 'application/json' });
        let at = 0;
        for (const c of cuts) {
          st.write(wire.subarray(at, c)); // raw bytes: one chunk each, not record-aligned
          at = c;
          await delay(2);
        }
        st.end();
      },
    }),
  );
  const c = client(t);
  const s = await c.openStream({ url: `http://127.0.0.1:${port}/pieces`, body: { type: 'SUBSCRIBE' } });
  t.is(s.status, 200);
  const got: string[] = [];
  for await (const r of s.records) got.push(r.toString('utf8'));
  t.deepEqual(got, payloads);
});

test('the client decodes a stream from a plain node:http server that splits a record in pieces', async (t) => {
  const plain = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const rec = encodeRecord('{"type":"HEARTBEAT","note":"ünï"}');
    res.write(rec.subarray(0, 1));
    setTimeout(() => {
      res.write(rec.subarray(1, 13));
      setTimeout(() => res.end(Buffer.concat([rec.subarray(13), encodeRecord('{}')])), 5);
    }, 5);
  });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => plain.close(() => resolve())));
  const port = (plain.address() as { port: number }).port;
  const c = client(t);
  const s = await c.openStream({ url: `http://127.0.0.1:${port}/`, body: '{}' });
  const got: unknown[] = [];
  for await (const r of s.records) got.push(JSON.parse(r.toString()));
  t.deepEqual(got, [{ type: 'HEARTBEAT', note: 'ünï' }, {}]);
});

test('a client that goes away fires onClose on the server and the stream count drops', async (t) => {
  let stream: ResponseStream | undefined;
  let closes = 0;
  const { port, server } = await startServer(t, {}, (s) =>
    s.route({
      path: '/sub',
      methods: ['POST'],
      handler: (r) => {
        stream = r.startStream(200, { 'Content-Type': 'application/json' });
        stream.onClose(() => closes++);
        stream.writeRecord('{"type":"SUBSCRIBED"}');
      },
    }),
  );
  const c = client(t);
  const s = await c.openStream({ url: `http://127.0.0.1:${port}/sub`, body: {} });
  const it = s.records[Symbol.asyncIterator]();
  t.is((await it.next()).value?.toString(), '{"type":"SUBSCRIBED"}');
  t.is(server.stats().openStreams, 1);
  t.false(stream!.closed);
  s.close();
  t.true((await it.next()).done, 'the iterator ends after close()');
  await waitFor(() => closes === 1, 'onClose');
  t.true(stream!.closed);
  t.is(server.stats().openStreams, 0);
  t.false(stream!.write(Buffer.from('late')), 'writes after close are dropped');
  t.false(stream!.writeRecord('late'));
  let late = 0;
  stream!.onClose(() => late++);
  await delay(1);
  t.is(late, 1, 'onClose after the fact still runs');
});

test('a consumer that breaks out of the loop releases the stream', async (t) => {
  let closed = false;
  const { port, server } = await startServer(t, {}, (s) =>
    s.route({
      path: '/sub',
      methods: ['POST'],
      handler: (r) => {
        const st = r.startStream(200, {});
        st.onClose(() => (closed = true));
        for (let i = 0; i < 5; i++) st.writeRecord(`{"n":${i}}`);
      },
    }),
  );
  const c = client(t);
  const s = await c.openStream({ url: `http://127.0.0.1:${port}/sub`, body: {} });
  for await (const r of s.records) {
    t.is(r.toString(), '{"n":0}');
    break;
  }
  await waitFor(() => closed && server.stats().openStreams === 0, 'server sees the close');
  t.pass();
});

test('server close() ends open streams: the client iterator finishes and close() returns promptly', async (t) => {
  const { port, server } = await startServer(t, {}, (s) =>
    s.route({
      path: '/sub',
      methods: ['POST'],
      handler: (r) => {
        const st = r.startStream(200, {});
        st.writeRecord('{"type":"SUBSCRIBED"}');
      },
    }),
  );
  const c = client(t);
  const streams = await Promise.all([1, 2, 3].map(() => c.openStream({ url: `http://127.0.0.1:${port}/sub`, body: {} })));
  const consumed = streams.map(async (s) => {
    const got: string[] = [];
    for await (const r of s.records) got.push(r.toString());
    return got;
  });
  const raw = await RawClient.connect(port, t);
  await raw.until(() => server.stats().openStreams === 3);
  const t0 = Date.now();
  await server.close();
  t.true(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
  for (const got of await Promise.all(consumed)) t.deepEqual(got, ['{"type":"SUBSCRIBED"}']);
  await raw.until(() => raw.closed, 'idle connection closed too');
  t.is(server.stats().openConnections, 0);
});

test('a handler that throws after starting a stream: the stream ends and the failure is logged', async (t) => {
  const log = recordingLogger();
  const { port } = await startServer(t, { logger: log }, (s) =>
    s.route({
      path: '/sub',
      methods: ['POST'],
      handler: async (r) => {
        const st = r.startStream(200, {});
        st.writeRecord('{"a":1}');
        await delay(1);
        throw new Error('lost the plot');
      },
    }),
  );
  const c = client(t);
  const s = await c.openStream({ url: `http://127.0.0.1:${port}/sub`, body: {} });
  const got: string[] = [];
  for await (const r of s.records) got.push(r.toString());
  t.deepEqual(got, ['{"a":1}']);
  t.is(log.records.length, 1);
  t.is(log.records[0]!.fields['err'], 'lost the plot');
});

test('openStream on a non-200 answer: the body is text and there are no records', async (t) => {
  const { port } = await startServer(t, {}, (s) =>
    s.route({
      path: '/api/v1/scheduler',
      methods: ['POST'],
      handler: () => ({ status: 400, body: "Failed to validate scheduler::Call: Expecting 'subscribe' to be present" }),
    }),
  );
  const c = client(t);
  const s = await c.openStream({ url: `http://127.0.0.1:${port}/api/v1/scheduler`, body: { type: 'SUBSCRIBE' } });
  t.is(s.status, 400);
  t.is(s.text, "Failed to validate scheduler::Call: Expecting 'subscribe' to be present");
  const got: Buffer[] = [];
  for await (const r of s.records) got.push(r);
  t.is(got.length, 0);
  const m = await c.openStream({ url: `http://127.0.0.1:${port}/api/v1/scheduler`, method: 'GET' });
  t.is(m.status, 405);
  t.is(m.headers['allow'], 'POST');
});

test('bad framing from the server fails the client iterator with EPROTO', async (t) => {
  const { port } = await startServer(t, {}, (s) =>
    s.route({
      path: '/bad',
      methods: ['POST'],
      handler: (r) => {
        const st = r.startStream(200, {});
        st.write('{"type":"HEARTBEAT"}'); // no length prefix
      },
    }),
  );
  const c = client(t);
  const s = await c.openStream({ url: `http://127.0.0.1:${port}/bad`, body: {} });
  const e = await t.throwsAsync(async () => {
    for await (const _ of s.records) t.fail();
  });
  t.is((e as { code?: string }).code, 'EPROTO');
  t.regex(e!.message, /bad RecordIO stream: recordio: record length prefix has a non-digit byte 0x7b/);
});

test('a server that dies mid-stream fails the client iterator with ECONNRESET', async (t) => {
  const plain = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(encodeRecord('{"a":1}'));
    res.write('10\n{"b"'); // half a record
    setTimeout(() => res.socket?.destroy(), 20);
  });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => plain.close(() => resolve())));
  const port = (plain.address() as { port: number }).port;
  const c = client(t);
  const s = await c.openStream({ url: `http://127.0.0.1:${port}/die`, body: {} });
  const got: string[] = [];
  const e = await t.throwsAsync(async () => {
    for await (const r of s.records) got.push(r.toString());
  });
  t.deepEqual(got, ['{"a":1}']);
  t.is((e as { code?: string }).code, 'ECONNRESET');
});

test('idleTimeoutMs fails a silent stream with ETIMEDOUT', async (t) => {
  const { port } = await startServer(t, {}, (s) =>
    s.route({
      path: '/quiet',
      methods: ['POST'],
      handler: (r) => {
        r.startStream(200, {}).writeRecord('{"type":"SUBSCRIBED"}');
      },
    }),
  );
  const c = client(t);
  const s = await c.openStream({ url: `http://127.0.0.1:${port}/quiet`, body: {}, idleTimeoutMs: 100 });
  const got: string[] = [];
  const e = await t.throwsAsync(async () => {
    for await (const r of s.records) got.push(r.toString());
  });
  t.deepEqual(got, ['{"type":"SUBSCRIBED"}']);
  t.is((e as { code?: string }).code, 'ETIMEDOUT');
});

test('drained(): a writer that awaits it keeps the buffer bounded while the reader is slow', async (t) => {
  let maxBuffered = 0;
  let finished = false;
  const { port } = await startServer(t, {}, (s) =>
    s.route({
      path: '/flood',
      methods: ['POST'],
      handler: async (r) => {
        const st = r.startStream(200, {});
        const rec = 'r'.repeat(1000);
        for (let i = 0; i < 4000 && !st.closed; i++) {
          if (!st.writeRecord(rec)) await st.drained();
          maxBuffered = Math.max(maxBuffered, st.bufferedBytes);
        }
        st.end();
        finished = true;
      },
    }),
  );
  const c = client(t);
  const s = await c.openStream({ url: `http://127.0.0.1:${port}/flood`, body: {} });
  let n = 0;
  for await (const r of s.records) {
    t.is(r.length, 1000);
    if (++n % 500 === 0) await delay(5);
  }
  t.is(n, 4000);
  t.true(finished);
  t.true(maxBuffered < 100_000, `buffered at most ${maxBuffered} bytes`);
});

test('a client that does not read: past maxStreamBacklogBytes the stream is closed and its connection dropped', async (t) => {
  const limit = 1024 * 1024;
  const rec = 'r'.repeat(10_000);
  let maxBuffered = 0;
  let written = 0;
  let overflow: number | undefined;
  let closedCb = false;
  const { port, server } = await startServer(t, { maxStreamBacklogBytes: limit }, (s) =>
    s.route({
      path: '/api/v1/scheduler',
      methods: ['POST'],
      handler: async (r) => {
        await r.readBody();
        const st = r.startStream(200, { 'Content-Type': 'application/json' });
        st.onClose(() => (closedCb = true));
        // As the master writes events: without waiting for drained(). 30 MB at most (more than
        // the kernel's socket buffers take), in bursts.
        for (let i = 0; i < 3000 && !st.closed; i++) {
          st.writeRecord(rec);
          written++;
          maxBuffered = Math.max(maxBuffered, st.bufferedBytes);
          if (i % 50 === 49) await delay(1);
        }
        overflow = st.overflowBytes;
      },
    }),
  );
  const raw = await RawClient.connect(port, t);
  raw.send(SUBSCRIBE);
  await raw.until(() => raw.head !== undefined, 'response head');
  raw.socket.pause(); // and never read again
  await waitFor(() => closedCb, 'the stream to be closed by the server');
  t.true(overflow !== undefined && overflow > limit, `closed at a backlog of ${overflow} bytes`);
  t.true(maxBuffered <= limit + rec.length + 100, `held at most ${maxBuffered} bytes for the client`);
  t.true(written < 3000, `${written} records written before the stream closed`);
  await waitFor(() => server.stats().openStreams === 0 && server.stats().openConnections === 0, 'the connection to be dropped');
  t.is(server.stats().streamOverflows, 1);
  raw.socket.resume();
  await raw.until(() => raw.closed, 'the client to see the connection closed');
});

test('a client that half-closes its connection without reading: the stream closes and what was queued is dropped', async (t) => {
  let st: ResponseStream | undefined;
  let closedCb = false;
  const { port, server } = await startServer(t, {}, (s) =>
    s.route({
      path: '/api/v1/scheduler',
      methods: ['POST'],
      handler: async (r) => {
        await r.readBody();
        st = r.startStream(200, { 'Content-Type': 'application/json' });
        st.onClose(() => (closedCb = true));
        // 16 MB: more than the kernel's socket buffers take, less than the backlog limit.
        const rec = 'r'.repeat(100_000);
        for (let i = 0; i < 160; i++) st.writeRecord(rec);
      },
    }),
  );
  const raw = await RawClient.connect(port, t);
  raw.send(SUBSCRIBE);
  await raw.until(() => raw.head !== undefined, 'response head');
  raw.socket.pause();
  await waitFor(() => st !== undefined && st.bufferedBytes > 1024 * 1024, 'bytes queued for the client');
  raw.socket.end(); // FIN, and still never reads
  await waitFor(() => closedCb, 'the stream to close');
  t.true(st!.closed);
  t.is(st!.overflowBytes, undefined);
  t.false(st!.writeRecord('late'), 'a later write is refused');
  await waitFor(() => server.stats().openStreams === 0 && server.stats().openConnections === 0, 'the connection to be released');
  t.is(server.stats().streamOverflows, 0);
});
