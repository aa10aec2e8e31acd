import test from 'ava';
import http from 'node:http';
import { CorralError, ValidationError } from '../../lib/common/errors.ts';
import { recordingLogger } from '../../lib/common/log.ts';
import { HttpError } from '../../lib/transport/errors.ts';
import { HttpServer } from '../../lib/transport/http_server.ts';
import type { Request } from '../../lib/transport/http_types.ts';
import { double } from '../../lib/proto/json_text.ts';
import { RawClient, startServer } from './helpers.ts';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A request through plain node:http (no keep-alive agent). `chunks` are written one by one
 * without Content-Length, so the body goes out with Transfer-Encoding: chunked.
 */
function call(port: number, method: string, path: string, opts: { headers?: Record<string, string>; body?: string; chunks?: string[] } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...opts.headers };
    if (opts.body !== undefined) headers['Content-Length'] = Buffer.byteLength(opts.body);
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.chunks) for (const c of opts.chunks) req.write(c);
    req.end(opts.body);
  });
}

const echo = async (req: Request) => ({ status: 200, body: { method: req.method, path: req.path, body: (await req.readBody()).toString() } });

test('routing: exact paths win over prefixes, the longest prefix wins, unknown paths are 404', async (t) => {
  const { port } = await startServer(t, {}, (s) => {
    s.route({ path: '/api/v1/scheduler', methods: ['POST'], handler: () => ({ status: 202 }) });
    s.route({ path: '/master/api/v1/scheduler', methods: ['POST'], handler: () => ({ status: 202 }) });
    s.route({ prefix: '/files/', methods: ['GET'], handler: (r) => ({ status: 200, body: `files:${r.path}` }) });
    s.route({ prefix: '/files/download', methods: ['GET'], handler: (r) => ({ status: 200, body: `download:${r.path}` }) });
    s.route({ path: '/files/special', methods: ['GET'], handler: () => ({ status: 200, body: 'special' }) });
  });
  t.is((await call(port, 'POST', '/api/v1/scheduler', { body: '{}' })).status, 202);
  t.is((await call(port, 'POST', '/master/api/v1/scheduler', { body: '{}' })).status, 202);
  t.is((await call(port, 'GET', '/files/browse?path=/tmp')).body, 'files:/files/browse');
  t.is((await call(port, 'GET', '/files/download.json?path=/x')).body, 'download:/files/download.json');
  t.is((await call(port, 'GET', '/files/special')).body, 'special');
  const nf = await call(port, 'GET', '/api/v1/schedulerX');
  t.is(nf.status, 404);
  t.is(nf.body, 'No route for /api/v1/schedulerX');
});

test('a wrong method is 405 with Allow; GET also answers HEAD', async (t) => {
  const { port } = await startServer(t, {}, (s) => {
    s.route({ path: '/api/v1/scheduler', methods: ['POST'], handler: () => ({ status: 202 }) });
    s.route({ path: '/state', methods: ['GET'], handler: () => ({ status: 200, body: { a: 1 } }) });
    s.route({ path: '/both', methods: ['GET'], handler: () => ({ status: 200, body: 'get' }) });
    s.route({ path: '/both', methods: ['delete'], handler: () => ({ status: 200, body: 'delete' }) });
    s.route({ path: '/any', methods: '*', handler: (r) => ({ status: 200, body: r.method }) });
  });
  const a = await call(port, 'GET', '/api/v1/scheduler');
  t.is(a.status, 405);
  t.is(a.headers['allow'], 'POST');
  t.regex(a.body, /received 'GET'/);
  const b = await call(port, 'PUT', '/both');
  t.is(b.status, 405);
  t.is(b.headers['allow'], 'DELETE, GET, HEAD');
  t.is((await call(port, 'DELETE', '/both')).body, 'delete');
  const head = await call(port, 'HEAD', '/state');
  t.is(head.status, 200);
  t.is(head.body, '');
  t.is((await call(port, 'PATCH', '/any')).body, 'PATCH');
});

test('registering the same method twice on a path is an error', (t) => {
  const s = new HttpServer();
  s.route({ path: '/x', methods: ['GET'], handler: () => ({ status: 200 }) });
  t.throws(() => s.route({ path: '/x', methods: ['GET', 'POST'], handler: () => ({ status: 200 }) }), { message: /\/x already has a route/ });
  t.notThrows(() => s.route({ path: '/x', methods: ['POST'], handler: () => ({ status: 200 }) }));
  t.throws(() => new HttpServer({ tls: {} as never }), { message: /tls/ });
});

test('a Request has method, path, query, lower-case headers and the peer address', async (t) => {
  let seen: Request | undefined;
  const { port } = await startServer(t, {}, (s) => {
    s.route({
      path: '/q',
      methods: ['GET'],
      handler: (r) => {
        seen = r;
        return { status: 204 };
      },
    });
  });
  const a = await call(port, 'GET', '/q?path=%2Ftmp%2Fx&jsonp=f&a=1&a=2', { headers: { 'X-Mixed-Case': 'v', Accept: 'application/json' } });
  t.is(a.status, 204);
  t.is(seen!.method, 'GET');
  t.is(seen!.path, '/q');
  t.is(seen!.query.get('path'), '/tmp/x');
  t.deepEqual(seen!.query.getAll('a'), ['1', '2']);
  t.is(seen!.headers['x-mixed-case'], 'v');
  t.is(seen!.header('ACCEPT'), 'application/json');
  t.is(seen!.remoteAddress, '127.0.0.1');
  t.true(seen!.remotePort > 0);
});

test('request bodies: Content-Length and chunked (no Content-Length) both arrive whole', async (t) => {
  const { port } = await startServer(t, {}, (s) => s.route({ path: '/echo', methods: ['POST'], handler: echo }));
  const a = await call(port, 'POST', '/echo', { body: '{"type":"SUBSCRIBE"}' });
  t.deepEqual(JSON.parse(a.body), { method: 'POST', path: '/echo', body: '{"type":"SUBSCRIBE"}' });
  const chunks = ['{"type":', '"SUBSCRIBE",', '"x":"é"}'];
  const b = await call(port, 'POST', '/echo', { chunks });
  t.is(JSON.parse(b.body).body, chunks.join(''));
  const empty = await call(port, 'POST', '/echo');
  t.is(JSON.parse(empty.body).body, '');
});

test('a body over the limit is 413, declared by Content-Length or found while reading a chunked body', async (t) => {
  let reached = 0;
  const { port } = await startServer(t, { maxBodyBytes: 1024 }, (s) => {
    s.route({
      path: '/echo',
      methods: ['POST'],
      handler: async (r) => {
        const body = await r.readBody();
        reached++;
        return { status: 200, body };
      },
    });
    s.route({ path: '/small', methods: ['POST'], handler: async (r) => ({ status: 200, body: await r.readBody(10) }) });
  });
  const a = await call(port, 'POST', '/echo', { body: 'x'.repeat(2000) });
  t.is(a.status, 413);
  t.is(a.body, 'Request body is larger than 1024 bytes');
  const b = await call(port, 'POST', '/echo', { chunks: Array.from({ length: 8 }, () => 'y'.repeat(500)) });
  t.is(b.status, 413);
  t.is(b.headers['transfer-encoding'], undefined);
  t.is((await call(port, 'POST', '/echo', { body: 'x'.repeat(1024) })).status, 200, 'exactly the limit is fine');
  t.is((await call(port, 'POST', '/small', { body: '12345678901' })).status, 413, 'a per-call limit');
  t.is(reached, 1);
});

test('after a small overflow the keep-alive connection still serves the next request', async (t) => {
  const { port } = await startServer(t, { maxBodyBytes: 100 }, (s) => s.route({ path: '/echo', methods: ['POST'], handler: echo }));
  const raw = await RawClient.connect(port, t);
  raw.send(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n${'z'.repeat(300)}`);
  await raw.until(() => raw.ended, '413');
  t.is(raw.head!.status, 413);
  raw.reset();
  raw.send(`POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
  await raw.until(() => raw.ended, 'second answer');
  t.is(raw.head!.status, 200);
  t.is(JSON.parse(raw.body!.toString()).body, 'hello');
  t.false(raw.closed);
});

test('bad JSON is 400 with a message that says why', async (t) => {
  const { port } = await startServer(t, {}, (s) =>
    s.route({ path: '/json', methods: ['POST'], handler: async (r) => ({ status: 200, body: { got: await r.readJson() } }) }),
  );
  const bad = await call(port, 'POST', '/json', { body: '{"type": SUBSCRIBE}' });
  t.is(bad.status, 400);
  t.is(bad.headers['content-type'], 'text/plain; charset=utf-8');
  t.regex(bad.body, /^body: is not valid JSON: .*(Unexpected token|position)/);
  const empty = await call(port, 'POST', '/json');
  t.is(empty.status, 400);
  t.is(empty.body, 'body: is empty; expected JSON');
  const ok = await call(port, 'POST', '/json', { chunks: ['{"a":', '"ü"}'] });
  t.deepEqual(JSON.parse(ok.body), { got: { a: 'ü' } });
});

test('a body that is not UTF-8 is 400', async (t) => {
  const { port } = await startServer(t, {}, (s) =>
    s.route({ path: '/json', methods: ['POST'], handler: async (r) => ({ status: 200, body: { got: await r.readJson() } }) }),
  );
  const raw = await RawClient.connect(port, t);
  raw.send(Buffer.concat([Buffer.from('POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"'), Buffer.from([0xff, 0xfe]), Buffer.from('a"')]));
  await raw.until(() => raw.ended);
  t.is(raw.head!.status, 400);
  t.is(raw.body!.toString(), 'body: is not valid UTF-8');
});

test('thrown errors: INVALID → 400, HttpError → its status, anything else → 500 logged once; the server keeps serving', async (t) => {
  const log = recordingLogger();
  const { port } = await startServer(t, { logger: log }, (s) => {
    s.route({
      path: '/invalid',
      methods: ['POST'],
      handler: () => {
        throw new ValidationError('subscribe.framework_info.user', 'is required');
      },
    });
    s.route({
      path: '/http',
      methods: ['POST'],
      handler: () => {
        throw new HttpError(415, 'Expecting Content-Type of application/json', { headers: { 'X-Why': 'type' } });
      },
    });
    s.route({
      path: '/other-code',
      methods: ['POST'],
      handler: async () => {
        throw new CorralError('EXISTS', 'already there');
      },
    });
    s.route({
      path: '/boom',
      methods: ['POST'],
      handler: async () => {
        await Promise.resolve();
        throw new TypeError('x is undefined');
      },
    });
    s.route({ path: '/nothing', methods: ['GET'], handler: () => undefined });
    s.route({ path: '/ok', methods: ['GET'], handler: () => ({ status: 200, body: 'fine' }) });
  });
  const a = await call(port, 'POST', '/invalid', { body: '{}' });
  t.is(a.status, 400);
  t.is(a.body, 'subscribe.framework_info.user: is required');
  t.is(a.headers['content-type'], 'text/plain; charset=utf-8');
  const b = await call(port, 'POST', '/http');
  t.is(b.status, 415);
  t.is(b.headers['x-why'], 'type');
  t.is(b.body, 'Expecting Content-Type of application/json');
  t.is(log.records.length, 0, 'client errors are not logged as failures');
  const c = await call(port, 'POST', '/boom');
  t.is(c.status, 500);
  t.is(c.body, 'Internal server error');
  t.is((await call(port, 'POST', '/other-code')).status, 500);
  t.is((await call(port, 'GET', '/nothing')).status, 500);
  t.is(log.records.length, 3);
  t.is(log.records[0]!.level, 'error');
  t.is(log.records[0]!.fields['err'], 'x is undefined');
  t.is(log.records[0]!.fields['path'], '/boom');
  t.is((await call(port, 'GET', '/ok')).body, 'fine');
});

test('object bodies are wire JSON (ASCII, doubles) with Content-Type and Content-Length', async (t) => {
  const { port } = await startServer(t, {}, (s) => {
    s.route({ path: '/state', methods: ['GET'], handler: () => ({ status: 200, body: { hostname: 'hôte', cpus: double(4) } }) });
    s.route({ path: '/bytes', methods: ['GET'], handler: () => ({ status: 200, body: Buffer.from([1, 2, 3]) }) });
    s.route({ path: '/typed', methods: ['GET'], handler: () => ({ status: 200, headers: { 'content-type': 'text/html' }, body: '<p>' }) });
  });
  const a = await call(port, 'GET', '/state');
  t.is(a.body, '{"hostname":"h\\u00f4te","cpus":4.0}');
  t.is(a.headers['content-type'], 'application/json');
  t.is(a.headers['content-length'], String(a.body.length));
  const b = await call(port, 'GET', '/bytes');
  t.is(b.headers['content-type'], 'application/octet-stream');
  t.is(b.headers['content-length'], '3');
  t.is((await call(port, 'GET', '/typed')).headers['content-type'], 'text/html');
});

test('keep-alive: several requests on one connection', async (t) => {
  const ports: number[] = [];
  const { port, server } = await startServer(t, {}, (s) =>
    s.route({
      path: '/x',
      methods: ['GET'],
      handler: (r) => {
        ports.push(r.remotePort);
        return { status: 200, body: 'x' };
      },
    }),
  );
  const raw = await RawClient.connect(port, t);
  for (let i = 0; i < 3; i++) {
    raw.reset();
    raw.send('GET /x HTTP/1.1\r\nHost: x\r\n\r\n');
    await raw.until(() => raw.ended);
    t.is(raw.head!.status, 200);
    t.not(raw.head!.headers.get('connection'), 'close');
  }
  t.is(new Set(ports).size, 1);
  t.is(server.stats().openConnections, 1);
  t.is(server.stats().requestsTotal, 3);
});

test('listen on a taken port fails with EADDRINUSE; close() is idempotent and works before listen', async (t) => {
  const { port } = await startServer(t);
  const other = new HttpServer({ port });
  const e = await t.throwsAsync(other.listen());
  t.is((e as CorralError).code as string, 'EADDRINUSE');
  await other.close();
  const never = new HttpServer();
  await never.close();
  await never.close();
  t.pass();
});

test('close() cuts a plain request that does not finish within the grace time', async (t) => {
  const { server, port } = await startServer(t, { closeGraceMs: 50 }, (s) =>
    s.route({ path: '/hang', methods: ['GET'], handler: () => new Promise<never>(() => {}) }),
  );
  const raw = await RawClient.connect(port, t);
  raw.send('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
  await raw.until(() => server.stats().inFlightRequests === 1);
  const t0 = Date.now();
  await server.close();
  t.true(Date.now() - t0 < 2000);
  await raw.until(() => raw.closed, 'socket closed');
  t.is(raw.head, undefined);
});

test('a body far over the limit is answered 413 with Connection: close, without reading it', async (t) => {
  const { port } = await startServer(t, { maxBodyBytes: 100 }, (s) => s.route({ path: '/echo', methods: ['POST'], handler: echo }));
  const raw = await RawClient.connect(port, t);
  raw.send(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\nabc`);
  await raw.until(() => raw.ended, '413');
  t.is(raw.head!.status, 413);
  t.is(raw.head!.headers.get('connection'), 'close');
  await raw.until(() => raw.closed, 'server closes the connection');
  t.pass();
});
