import test from 'ava';
import net from 'node:net';
import { double } from '../../lib/proto/json_text.ts';
import { TransportError } from '../../lib/transport/errors.ts';
import { HttpClient } from '../../lib/transport/http_client.ts';
import { client, delay, startServer } from './helpers.ts';

test('request: GET and POST with a JSON body; text() and json()', async (t) => {
  const { base } = await startServer(t, {}, (s) => {
    s.route({ path: '/state', methods: ['GET'], handler: (r) => ({ status: 200, body: { hello: 'wörld', q: r.query.get('q') } }) });
    s.route({
      path: '/api/v1/scheduler',
      methods: ['POST'],
      handler: async (r) => ({
        status: 200,
        headers: { 'X-Type': r.header('content-type') ?? '' },
        body: (await r.readBody()).toString('latin1'),
      }),
    });
  });
  const c = client(t);
  const a = await c.request({ url: `${base}/state?q=1` });
  t.is(a.status, 200);
  t.deepEqual(a.json(), { hello: 'wörld', q: '1' });
  t.is(a.text(), '{"hello":"w\\u00f6rld","q":"1"}');
  t.is(a.headers['content-type'], 'application/json');

  const b = await c.request({ url: `${base}/api/v1/scheduler`, body: { type: 'DECLINE', refuse: double(5), who: 'ü' } });
  t.is(b.headers['x-type'], 'application/json', 'object bodies default to application/json');
  t.is(b.text(), '{"type":"DECLINE","refuse":5.0,"who":"\\u00fc"}', 'sent as wire JSON');

  const raw = await c.request({
    url: `${base}/api/v1/scheduler`,
    method: 'post',
    headers: { 'Content-Type': 'application/x-protobuf' },
    body: Buffer.from([1, 2]),
  });
  t.is(raw.headers['x-type'], 'application/x-protobuf');
  t.deepEqual([...raw.body], [1, 2]);
});

test('request: a body that is not JSON gives EBADJSON from json()', async (t) => {
  const { base } = await startServer(t, {}, (s) => s.route({ path: '/x', methods: ['GET'], handler: () => ({ status: 200, body: 'not json' }) }));
  const c = client(t);
  const r = await c.request({ url: `${base}/x` });
  t.is(r.text(), 'not json');
  const e = t.throws(() => r.json());
  t.is((e as TransportError).code, 'EBADJSON');
});

test('keep-alive: consecutive requests reuse one connection', async (t) => {
  const peers = new Set<number>();
  const { base, server } = await startServer(t, {}, (s) =>
    s.route({
      path: '/x',
      methods: ['POST'],
      handler: async (r) => {
        await r.readBody();
        peers.add(r.remotePort);
        return { status: 202 };
      },
    }),
  );
  const c = client(t);
  for (let i = 0; i < 20; i++) t.is((await c.request({ url: `${base}/x`, body: '{}' })).status, 202);
  t.is(peers.size, 1);
  t.is(server.stats().requestsTotal, 20);
});

test('a connection the server closed while idle is not a failure for the next request', async (t) => {
  const { base } = await startServer(t, { keepAliveTimeoutMs: 30 }, (s) =>
    s.route({ path: '/x', methods: ['GET'], handler: () => ({ status: 200, body: 'ok' }) }),
  );
  const c = client(t);
  for (let i = 0; i < 5; i++) {
    t.is((await c.request({ url: `${base}/x` })).text(), 'ok');
    await delay(30 + i * 3); // around the server's keep-alive timeout
  }
});

test('errors carry a code: ECONNREFUSED', async (t) => {
  // A port that was just free: bind, read the port, close.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const c = client(t);
  const e = await t.throwsAsync(c.request({ url: `http://127.0.0.1:${port}/x` }));
  t.true(e instanceof TransportError);
  t.is((e as TransportError).code as string, 'ECONNREFUSED');
  t.regex(e!.message, new RegExp(`GET http://127.0.0.1:${port}/x: connect ECONNREFUSED`));
  const s = await t.throwsAsync(c.openStream({ url: `http://127.0.0.1:${port}/x`, body: {} }));
  t.is((s as TransportError).code as string, 'ECONNREFUSED');
});

test('errors carry a code: ETIMEDOUT for no answer, and for a body that never completes', async (t) => {
  const { base } = await startServer(t, { closeGraceMs: 10 }, (s) => {
    s.route({ path: '/hang', methods: ['GET'], handler: () => new Promise<never>(() => {}) });
    s.route({
      path: '/slow-body',
      methods: ['GET'],
      handler: (r) => {
        r.startStream(200, {}).write('partial');
      },
    });
  });
  const c = client(t);
  const t0 = Date.now();
  const e = await t.throwsAsync(c.request({ url: `${base}/hang`, timeoutMs: 100 }));
  t.is((e as TransportError).code, 'ETIMEDOUT');
  t.true(Date.now() - t0 < 2000);
  const f = await t.throwsAsync(c.request({ url: `${base}/slow-body`, timeoutMs: 100 }));
  t.is((f as TransportError).code, 'ETIMEDOUT');
  const g = await t.throwsAsync(c.openStream({ url: `${base}/hang`, method: 'GET', timeoutMs: 100 }));
  t.is((g as TransportError).code, 'ETIMEDOUT');
});

test('a response over maxResponseBytes is TOO_LARGE', async (t) => {
  const { base } = await startServer(t, {}, (s) => s.route({ path: '/big', methods: ['GET'], handler: () => ({ status: 200, body: 'x'.repeat(10_000) }) }));
  const c = client(t);
  const e = await t.throwsAsync(c.request({ url: `${base}/big`, maxResponseBytes: 1000 }));
  t.is((e as TransportError).code, 'TOO_LARGE');
  t.is((await c.request({ url: `${base}/big` })).body.length, 10_000);
});

test('only http: and https: URLs (TLS itself: tls.test.ts)', async (t) => {
  const c = new HttpClient();
  t.teardown(() => c.close());
  const e = await t.throwsAsync(c.request({ url: 'ftp://127.0.0.1:1/' }));
  t.is((e as TransportError).code, 'EPROTONOSUPPORT');
  t.is(c.scheme, 'http');
  const refused = await t.throwsAsync(c.request({ url: 'https://127.0.0.1:1/' }));
  t.is((refused as TransportError).code as string, 'ECONNREFUSED');
});

test('a reused keep-alive connection that the server drops is retried once on a fresh one; a fresh one is not', async (t) => {
  // A raw server: on each connection it answers the first request with keep-alive and drops
  // the connection on the second, as a server whose idle timeout fires just as a request comes.
  let connections = 0;
  let dropFirst = false;
  const raw = net.createServer((sock) => {
    connections++;
    let served = 0;
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      if (!d.includes('\r\n\r\n')) return;
      if (dropFirst || served > 0) {
        sock.destroy();
        return;
      }
      served++;
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
    });
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => raw.close(() => resolve())));
  const url = `http://127.0.0.1:${(raw.address() as { port: number }).port}/x`;
  const c = client(t);
  t.is((await c.request({ url })).text(), 'ok');
  t.is((await c.request({ url, body: '{}' })).text(), 'ok', 'the second goes out on the pooled socket, is dropped, and is retried');
  t.is(connections, 2);
  dropFirst = true;
  c.close();
  const fresh = client(t);
  const e = await t.throwsAsync(fresh.request({ url }));
  t.is((e as TransportError).code, 'ECONNRESET');
  t.is(connections, 3, 'no retry on a fresh connection');
});
