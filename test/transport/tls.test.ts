/**
 * HttpServer and HttpClient over TLS, on real loopback sockets, with certificates made by
 * openssl for the test (tls_fixture.ts): round trips and RecordIO streams, downgrade on one port
 * (server and client side), server verification (untrusted CA, expired, wrong host, chain
 * depth), client certificates (verified, required), protocol versions and ciphers.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import net from 'node:net';
import tls from 'node:tls';
import { HttpClient } from '../../lib/transport/http_client.ts';
import { HttpServer } from '../../lib/transport/http_server.ts';
import type { HttpServerOptions, Request } from '../../lib/transport/http_types.ts';
import { TransportError } from '../../lib/transport/errors.ts';
import { loadTlsConfig, type TlsConfig } from '../../lib/transport/tls_config.ts';
import { RawClient, waitFor } from './helpers.ts';
import { makePki, tlsEnv, type Pair, type Pki } from './tls_fixture.ts';

let pki: Pki;
test.before(() => {
  pki = makePki();
});
test.after.always(() => pki?.remove());

function config(extra: Record<string, string> = {}, pair?: Pair): TlsConfig {
  return loadTlsConfig(tlsEnv(pki, extra, pair))!;
}

/** A server with /echo (the request as JSON) and /events (n RecordIO records). */
async function serve(t: ExecutionContext, options: HttpServerOptions): Promise<{ server: HttpServer; port: number }> {
  const server = new HttpServer({ host: '127.0.0.1', port: 0, closeGraceMs: 200, ...options });
  server.route({
    path: '/echo',
    methods: ['GET', 'POST'],
    handler: async (r: Request) => ({
      status: 200,
      body: { method: r.method, secure: r.secure, principal: r.peerPrincipal ?? null, body: r.method === 'POST' ? (await r.readBody()).toString() : null },
    }),
  });
  server.route({
    path: '/events',
    methods: ['POST'],
    handler: async (r) => {
      const n = Number(r.query.get('n') ?? '3');
      const s = r.startStream(200, { 'Content-Type': 'application/json' });
      for (let i = 0; i < n; i++) if (!s.writeRecord(JSON.stringify({ i, pad: 'x'.repeat(i % 200) }))) await s.drained();
      s.end();
      return s;
    },
  });
  const port = await server.listen();
  t.teardown(() => server.close());
  return { server, port };
}

function clientOf(t: ExecutionContext, tlsConfig?: TlsConfig): HttpClient {
  const c = new HttpClient(tlsConfig ? { tls: tlsConfig, timeoutMs: 5000 } : { timeoutMs: 5000 });
  t.teardown(() => c.close());
  return c;
}

/** The client side as another process would configure it: its own cert, the CA, verification on. */
function clientConfig(extra: Record<string, string> = {}, pair?: Pair): TlsConfig {
  return config({ LIBPROCESS_SSL_VERIFY_CERT: 'true', ...extra }, pair ?? pki.client);
}

async function events(c: HttpClient, url: string): Promise<number[]> {
  const s = await c.openStream({ url, body: 'x' });
  if (s.status !== 200) throw new Error(`status ${s.status}`);
  const got: number[] = [];
  for await (const r of s.records) got.push((JSON.parse(r.toString()) as { i: number }).i);
  return got;
}

async function failure(p: Promise<unknown>): Promise<TransportError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TransportError) return e;
    throw e;
  }
  throw new Error('it worked');
}

test('round trip over TLS: requests, a RecordIO stream, keep-alive, TLS 1.3 by default', async (t) => {
  const { server, port } = await serve(t, { tls: config() });
  t.is(server.scheme, 'https');
  const c = clientOf(t, clientConfig());
  t.is(c.scheme, 'https');
  const r = await c.request({ url: `https://127.0.0.1:${port}/echo`, body: 'hello' });
  t.is(r.status, 200);
  t.deepEqual(r.json(), { method: 'POST', secure: true, principal: null, body: 'hello' });
  // by name too (SAN DNS:localhost)
  t.is((await c.request({ url: `https://localhost:${port}/echo` })).status, 200);
  const got = await events(c, `https://127.0.0.1:${port}/events?n=5000`);
  t.is(got.length, 5000);
  t.deepEqual(got.slice(0, 3), [0, 1, 2]);
  t.is(got[4999], 4999);
  for (let i = 0; i < 20; i++) t.is((await c.request({ url: `https://127.0.0.1:${port}/echo` })).status, 200);
  // keep-alive: far fewer connections than requests
  t.true(server.stats().requestsTotal >= 23);
  const proto = await new Promise<string | null>((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', ca: pki.read(pki.ca.cert) }, () => {
      resolve(s.getProtocol());
      s.destroy();
    });
    s.on('error', reject);
  });
  t.is(proto, 'TLSv1.3');
});

test('without downgrade a plain client is refused on the TLS port', async (t) => {
  const { server, port } = await serve(t, { tls: config() });
  const plain = clientOf(t);
  const e = await failure(plain.request({ url: `http://127.0.0.1:${port}/echo` }));
  t.regex(e.code, /^(ECONNRESET|EPIPE)$/);
  await waitFor(() => server.stats().tlsRefused >= 1, 'the refusal counted');
  t.is(server.stats().plainConnections, 0);
  // and a raw plain request gets no HTTP answer at all
  const raw = await RawClient.connect(port, t);
  raw.send('GET /echo HTTP/1.1\r\nHost: x\r\n\r\n');
  await raw.until(() => raw.closed, 'the connection closed');
  t.is(raw.head, undefined);
});

test('with downgrade one port serves TLS and plain HTTP, streams included', async (t) => {
  const { server, port } = await serve(t, { tls: config({ LIBPROCESS_SSL_SUPPORT_DOWNGRADE: 'true' }) });
  const secure = clientOf(t, clientConfig());
  const plain = clientOf(t);
  t.deepEqual((await secure.request({ url: `https://127.0.0.1:${port}/echo`, body: 'a' })).json(), {
    method: 'POST',
    secure: true,
    principal: null,
    body: 'a',
  });
  t.deepEqual((await plain.request({ url: `http://127.0.0.1:${port}/echo`, body: 'b' })).json(), { method: 'POST', secure: false, principal: null, body: 'b' });
  t.is((await events(secure, `https://127.0.0.1:${port}/events?n=1000`)).length, 1000);
  t.is((await events(plain, `http://127.0.0.1:${port}/events?n=1000`)).length, 1000);
  // keep-alive on both kinds
  for (let i = 0; i < 5; i++) {
    t.is((await secure.request({ url: `https://127.0.0.1:${port}/echo` })).status, 200);
    t.is((await plain.request({ url: `http://127.0.0.1:${port}/echo` })).status, 200);
  }
  t.true(server.stats().plainConnections >= 1);
  t.true(server.stats().plainConnections <= 3);
  // a raw plain client whose request comes in pieces
  const raw = await RawClient.connect(port, t);
  raw.send('G');
  await new Promise((r) => setTimeout(r, 20));
  raw.send('ET /echo HTTP/1.1\r\nHost: x\r\n\r\n');
  await raw.until(() => raw.ended, 'the answer');
  t.is(raw.head?.status, 200);
  t.deepEqual(JSON.parse(raw.body!.toString()), { method: 'GET', secure: false, principal: null, body: null });
});

test('close() drops connections that are still in the handshake or not sniffed yet', async (t) => {
  for (const downgrade of ['false', 'true']) {
    const server = new HttpServer({ host: '127.0.0.1', port: 0, tls: config({ LIBPROCESS_SSL_SUPPORT_DOWNGRADE: downgrade }) });
    const port = await server.listen();
    const idle = net.connect(port, '127.0.0.1');
    idle.on('error', () => {});
    const closed = new Promise((resolve) => idle.once('close', resolve));
    await new Promise((resolve) => idle.once('connect', resolve));
    await waitFor(() => server.stats().openConnections === 1, 'the server sees the connection');
    const t0 = Date.now();
    await server.close();
    await closed;
    t.true(Date.now() - t0 < 2000);
    t.is(server.stats().openConnections, 0);
  }
});

test('client downgrade: an https URL to a plain server falls back to HTTP only when downgrade is on', async (t) => {
  const { port } = await serve(t, {});
  const strict = clientOf(t, clientConfig());
  const e = await failure(strict.request({ url: `https://127.0.0.1:${port}/echo` }));
  t.regex(e.code, /SSL|EPROTO|ECONNRESET/);
  const lenient = clientOf(t, clientConfig({ LIBPROCESS_SSL_SUPPORT_DOWNGRADE: 'true' }));
  t.deepEqual((await lenient.request({ url: `https://127.0.0.1:${port}/echo` })).json(), { method: 'GET', secure: false, principal: null, body: null });
  t.is((await events(lenient, `https://127.0.0.1:${port}/events?n=10`)).length, 10);
  // and it never falls back past a certificate it does not trust
  const { port: untrustedPort } = await serve(t, { tls: config({ LIBPROCESS_SSL_SUPPORT_DOWNGRADE: 'true' }, pki.untrusted) });
  const e2 = await failure(lenient.request({ url: `https://127.0.0.1:${untrustedPort}/echo` }));
  t.is(e2.code as string, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('server certificates: untrusted CA, expired, wrong host are refused when verifying; Mesos clients that do not verify take them', async (t) => {
  const verifying = clientOf(t, clientConfig());
  const lax = clientOf(t, config({}, pki.client));
  const cases: [Pair, string][] = [
    [pki.untrusted, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    [pki.expired, 'CERT_HAS_EXPIRED'],
    [pki.wrongHost, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ];
  for (const [pair, code] of cases) {
    const { server, port } = await serve(t, { tls: config({}, pair) });
    const e = await failure(verifying.request({ url: `https://127.0.0.1:${port}/echo` }));
    t.is(e.code as string, code, e.message);
    t.is((await lax.request({ url: `https://127.0.0.1:${port}/echo` })).status, 200);
    t.is(server.stats().requestsTotal, 1);
  }
  // A client without a CA setting trusts Node's built-in roots only: our CA is not one of them.
  const { port } = await serve(t, { tls: config() });
  const noCa = clientOf(
    t,
    loadTlsConfig({
      LIBPROCESS_SSL_ENABLED: 'true',
      LIBPROCESS_SSL_VERIFY_CERT: 'true',
      LIBPROCESS_SSL_CERT_FILE: pki.client.cert,
      LIBPROCESS_SSL_KEY_FILE: pki.client.key,
    })!,
  );
  // (OpenSSL sends the CA along with the server's certificate, hence "self-signed in chain")
  t.regex((await failure(noCa.request({ url: `https://127.0.0.1:${port}/echo` }))).code, /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
});

test('verify depth: a chain through an intermediate CA needs depth >= 1', async (t) => {
  const { port } = await serve(t, { tls: config({}, pki.chained) });
  const deep = clientOf(t, clientConfig({ LIBPROCESS_SSL_VERIFY_DEPTH: '1' }));
  t.is((await deep.request({ url: `https://127.0.0.1:${port}/echo` })).status, 200);
  const shallow = clientOf(t, clientConfig({ LIBPROCESS_SSL_VERIFY_DEPTH: '0' }));
  t.is((await failure(shallow.request({ url: `https://127.0.0.1:${port}/echo` }))).code, 'CERT_CHAIN_TOO_LONG');
});

test('REQUIRE_CERT: a client without a certificate, or with one from another CA, is refused; a good one is the principal', async (t) => {
  const { server, port } = await serve(t, { tls: config({ LIBPROCESS_SSL_REQUIRE_CERT: 'true' }) });
  const url = `https://127.0.0.1:${port}/echo`;
  const good = clientOf(t, clientConfig());
  t.deepEqual((await good.request({ url })).json(), { method: 'GET', secure: true, principal: 'test-client', body: null });
  // No certificate: a plain https client with the CA.
  const https = await import('node:https');
  const none = await new Promise<string>((resolve) => {
    const req = https.request(url, { ca: pki.read(pki.ca.cert), agent: false }, (res) => resolve(`answered ${res.statusCode}`));
    req.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
    req.end();
  });
  t.regex(none, /ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET/);
  const rogue = clientOf(t, clientConfig({}, pki.rogueClient));
  const e = await failure(rogue.request({ url }));
  t.regex(e.code, /ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|ECONNRESET/);
  // the server's side of the story
  const bad = clientOf(t, clientConfig({}, pki.expired));
  t.regex((await failure(bad.request({ url }))).code, /ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED|ECONNRESET/);
  await waitFor(() => server.stats().tlsRefused >= 3, 'three refusals counted');
  t.is(server.stats().requestsTotal, 1);
});

test('VERIFY_CERT without REQUIRE: no client certificate is fine, a bad one is refused', async (t) => {
  const { server, port } = await serve(t, { tls: config({ LIBPROCESS_SSL_VERIFY_CERT: 'true' }) });
  const url = `https://127.0.0.1:${port}/echo`;
  const https = await import('node:https');
  const anonymous = await new Promise<number>((resolve, reject) => {
    const req = https.request(url, { ca: pki.read(pki.ca.cert), agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  t.is(anonymous, 200);
  t.deepEqual((await clientOf(t, clientConfig()).request({ url })).json(), { method: 'GET', secure: true, principal: 'test-client', body: null });
  const rogue = clientOf(t, clientConfig({}, pki.rogueClient));
  const e = await failure(rogue.request({ url }));
  t.regex(e.code, /ECONNRESET|EPIPE|ERR_SSL/);
  t.is(server.stats().requestsTotal, 2);
  t.true(server.stats().tlsRefused >= 1);
});

test('protocol versions and ciphers as configured', async (t) => {
  const handshake = (port: number, opts: tls.ConnectionOptions): Promise<string> =>
    new Promise((resolve) => {
      const s = tls.connect({ port, host: '127.0.0.1', ca: pki.read(pki.ca.cert), ...opts }, () => {
        resolve(`${s.getProtocol()} ${s.getCipher().name}`);
        s.destroy();
      });
      s.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code}`));
    });
  const only12 = await serve(t, { tls: config({ LIBPROCESS_SSL_ENABLE_TLS_V1_3: 'false', LIBPROCESS_SSL_CIPHERS: 'ECDHE-ECDSA-AES128-GCM-SHA256' }) });
  t.is(await handshake(only12.port, {}), 'TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256');
  t.regex(await handshake(only12.port, { minVersion: 'TLSv1.3' }), /^error /);
  t.regex(await handshake(only12.port, { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384', maxVersion: 'TLSv1.2' }), /^error /);
  const only13 = await serve(t, { tls: config({ LIBPROCESS_SSL_ENABLE_TLS_V1_2: 'false' }) });
  t.regex(await handshake(only13.port, {}), /^TLSv1.3 /);
  t.regex(await handshake(only13.port, { maxVersion: 'TLSv1.2' }), /^error /);
  // TLS 1.0 (off by default) when switched on; 1.1 stays off in the gap.
  const old = await serve(t, { tls: config({ LIBPROCESS_SSL_ENABLE_TLS_V1_0: 'true' }) });
  const legacy = { ciphers: 'DEFAULT:@SECLEVEL=0' };
  t.regex(await handshake(old.port, { ...legacy, minVersion: 'TLSv1', maxVersion: 'TLSv1' }), /^TLSv1 /);
  t.regex(await handshake(old.port, { ...legacy, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' }), /^error /);
  t.regex(await handshake((await serve(t, { tls: config() })).port, { ...legacy, minVersion: 'TLSv1', maxVersion: 'TLSv1' }), /^error /);
  // and our client speaks what its config allows
  const c = clientOf(t, clientConfig({ LIBPROCESS_SSL_ENABLE_TLS_V1_3: 'false' }));
  t.is((await c.request({ url: `https://127.0.0.1:${only12.port}/echo` })).status, 200);
  t.regex((await failure(c.request({ url: `https://127.0.0.1:${only13.port}/echo` }))).code, /SSL|EPROTO|ECONNRESET/);
});
