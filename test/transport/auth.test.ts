/**
 * HTTP authentication in the transport: credentials files in both Mesos forms (and their errors,
 * which name the file and the line or field and never the secret), and an HttpServer whose
 * routes name realms: 401 with WWW-Authenticate before the handler runs, the principal of good
 * Basic credentials, the CN of a verified client certificate over TLS, routes of other realms
 * left open. Real loopback sockets, Node's http client and Corral's HttpClient.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CredentialStore,
  HttpAuthenticator,
  HttpClient,
  basicAuthorization,
  loadCredential,
  loadCredentials,
  parseBasic,
  parseCredential,
  parseCredentials,
} from '../../lib/transport/index.ts';
import { AuthenticationError } from '../../lib/transport/errors.ts';
import type { HttpServerOptions, Request } from '../../lib/transport/http_types.ts';
import { loadTlsConfig } from '../../lib/transport/tls_config.ts';
import { startServer } from './helpers.ts';
import { hasOpenssl, makePki, tlsEnv } from './tls_fixture.ts';

const SECRET = 'sup3r-s3cret';
const creds = () =>
  new CredentialStore([
    { principal: 'ops', secret: SECRET },
    { principal: 'fw', secret: 'fw-secret' },
  ]);

let dir: string;
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-auth-`));
});
test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

test('credentials: the JSON form and the text form give the same principals', (t) => {
  const json = parseCredentials(
    JSON.stringify({
      credentials: [
        { principal: 'a', secret: 'x' },
        { principal: 'b', secret: 'y z' },
      ],
    }),
    'c.json',
  );
  t.deepEqual(json, [
    { principal: 'a', secret: 'x' },
    { principal: 'b', secret: 'y z' },
  ]);
  const text = parseCredentials('a x\n\n  b\ty  \n', 'c.txt');
  t.deepEqual(text, [
    { principal: 'a', secret: 'x' },
    { principal: 'b', secret: 'y' },
  ]);
  t.deepEqual(parseCredential('{"principal": "agent1", "secret": "s"}', 'cred'), { principal: 'agent1', secret: 's' });
  t.deepEqual(parseCredential('agent1 s\n', 'cred'), { principal: 'agent1', secret: 's' });
});

test('credentials: each bad file is refused with the file, the place and the reason, and no secret', (t) => {
  const msg = (f: () => unknown) => {
    const e = t.throws(f);
    t.false(e!.message.includes(SECRET), `the secret leaked: ${e!.message}`);
    return e!.message;
  };
  t.is(
    msg(() => parseCredentials(`ops ${SECRET}\nbob\n`, '/etc/creds')),
    "/etc/creds: line 2: expected 'principal secret' (2 words), found 1 word(s)",
  );
  t.is(
    msg(() => parseCredentials(`ops ${SECRET} extra\n`, '/etc/creds')),
    "/etc/creds: line 1: expected 'principal secret' (2 words), found 3 word(s)",
  );
  t.regex(
    msg(() => parseCredentials(`{"credentials": [{"principal": "ops", "secret": "${SECRET}"`, '/etc/c.json')),
    /^\/etc\/c\.json: JSON: does not parse/,
  );
  t.is(
    msg(() => parseCredentials('{"credential": []}', 'f')),
    "f: credential: unknown field (expected only 'credentials')",
  );
  t.is(
    msg(() => parseCredentials(`{"credentials": [{"principal": "ops", "secret": "${SECRET}"}, {"principal": "x"}]}`, 'f')),
    "f: credentials[1].secret: must be a non-empty string (principal 'x')",
  );
  t.is(
    msg(() => parseCredentials(`{"credentials": [{"principal": "", "secret": "${SECRET}"}]}`, 'f')),
    'f: credentials[0].principal: must be a non-empty string',
  );
  t.is(
    msg(() => parseCredentials(`{"credentials": [{"principal": "a:b", "secret": "${SECRET}"}]}`, 'f')),
    "f: credentials[0].principal: 'a:b' may not contain white space or ':' (HTTP Basic splits at the first ':')",
  );
  t.is(
    msg(() => parseCredentials(`{"credentials": [{"principal": "ops", "secret": "${SECRET}", "role": "x"}]}`, 'f')),
    "f: credentials[0].role: unknown field (expected 'principal' and 'secret')",
  );
  t.is(
    msg(() => parseCredentials(`ops ${SECRET}\nops other\n`, 'f')),
    "f: credentials: principal 'ops' appears more than once",
  );
  t.is(
    msg(() => parseCredentials('\n\n', 'f')),
    'f: credentials: the file holds no credentials',
  );
  t.is(
    msg(() => parseCredential(`a ${SECRET}\nb ${SECRET}\n`, 'f')),
    "f: credential: expected exactly one 'principal secret' line, found 2",
  );
});

test('credentials flags: a path is read (errors name it), file:// text and inline JSON are taken as is, loose permissions are noticed', (t) => {
  const p = file('creds', `ops ${SECRET}\n`);
  const loaded = loadCredentials(p);
  t.is(loaded.path, p);
  t.true(loaded.store.verify('ops', SECRET));
  t.false(loaded.readableByOthers);
  t.true(loadCredentials(file('loose', `ops ${SECRET}\n`, 0o644)).readableByOthers);
  t.is(loadCredentials(`ops ${SECRET}\nfw x`).path, undefined);
  t.true(loadCredentials(`{"credentials":[{"principal":"ops","secret":"${SECRET}"}]}`).store.verify('ops', SECRET));
  t.regex(t.throws(() => loadCredentials('relative-name'))!.message, /^relative-name: cannot be read: ENOENT/);
  const missing = join(dir, 'nope');
  t.regex(t.throws(() => loadCredentials(missing))!.message, new RegExp(`^${missing}: cannot be read: ENOENT`));
  t.is(t.throws(() => loadCredentials(file('bad', 'ops\n')))!.message, `${join(dir, 'bad')}: line 1: expected 'principal secret' (2 words), found 1 word(s)`);
  t.deepEqual(loadCredential(file('one.json', `{"principal":"agent","secret":"${SECRET}"}`)).credential, { principal: 'agent', secret: SECRET });
});

test('the authenticator remembers at most 1024 good headers per realm; each realm checks its own credentials', (t) => {
  const many = Array.from({ length: 1100 }, (_, i) => ({ principal: `p${i}`, secret: `s${i}` }));
  const auth = new HttpAuthenticator([
    { name: 'a', credentials: new CredentialStore(many) },
    { name: 'b', credentials: new CredentialStore([{ principal: 'p0', secret: 'other' }]) },
  ]);
  for (const c of many) t.is(auth.authenticate('a', basicAuthorization(c), undefined), c.principal);
  for (const c of many) t.is(auth.authenticate('a', basicAuthorization(c), undefined), c.principal);
  t.throws(() => auth.authenticate('b', basicAuthorization(many[0]!), undefined), { instanceOf: AuthenticationError });
  t.is(auth.authenticate('b', basicAuthorization({ principal: 'p0', secret: 'other' }), undefined), 'p0');
  t.throws(() => auth.authenticate('c', basicAuthorization(many[0]!), undefined), { instanceOf: AuthenticationError, message: "unknown realm 'c'" });
  t.is((auth as unknown as { verified: Map<string, Map<string, string>> }).verified.get('a')!.size, 1024);
});

test('Basic header: round trip, colons in the secret, not-Basic is no credential', (t) => {
  t.deepEqual(parseBasic(basicAuthorization({ principal: 'ops', secret: 'a:b:c' })), { principal: 'ops', secret: 'a:b:c' });
  t.is(parseBasic('Bearer abc'), undefined);
  t.is(parseBasic(undefined), undefined);
  t.is(parseBasic(`Basic ${Buffer.from('nocolon').toString('base64')}`), undefined);
  const store = creds();
  t.true(store.verify('ops', SECRET));
  t.false(store.verify('ops', 'wrong'));
  t.false(store.verify('nobody', SECRET));
});

/** A server with /private (realm "private", required), /other (realm "other", not required) and /open. */
async function serve(t: ExecutionContext, options: HttpServerOptions = {}) {
  let ran = 0;
  const echo = (r: Request) => {
    ran++;
    return { status: 200, body: { principal: r.principal ?? null, peer: r.peerPrincipal ?? null } };
  };
  const auth = new HttpAuthenticator([{ name: 'private', credentials: creds() }]);
  const s = await startServer(t, { auth, ...options }, (server) => {
    server.route({ path: '/private', methods: ['GET', 'POST'], handler: echo, realm: 'private' });
    server.route({ path: '/other', methods: ['GET'], handler: echo, realm: 'other' });
    server.route({ path: '/open', methods: ['GET'], handler: echo });
  });
  return { ...s, ran: () => ran };
}

test('a realm that requires authentication: 401 + WWW-Authenticate without or with wrong credentials (handler not run), the principal with good ones', async (t) => {
  const { base, server, ran } = await serve(t);
  const none = await fetch(`${base}/private`, { method: 'POST', body: 'x'.repeat(10_000) });
  t.is(none.status, 401);
  t.is(none.headers.get('www-authenticate'), 'Basic realm="private"');
  t.is(await none.text(), 'Unauthorized: no credentials');
  const wrong = await fetch(`${base}/private`, { headers: { Authorization: basicAuthorization({ principal: 'ops', secret: 'guess' }) } });
  t.is(wrong.status, 401);
  t.false((await wrong.text()).includes('guess'));
  const unknown = await fetch(`${base}/private`, { headers: { Authorization: basicAuthorization({ principal: 'eve', secret: SECRET }) } });
  t.is(unknown.status, 401);
  const bearer = await fetch(`${base}/private`, { headers: { Authorization: 'Bearer x' } });
  t.is(bearer.status, 401);
  t.is(ran(), 0);
  const good = await fetch(`${base}/private`, { headers: { Authorization: basicAuthorization({ principal: 'ops', secret: SECRET }) } });
  t.is(good.status, 200);
  t.deepEqual(await good.json(), { principal: 'ops', peer: null });
  t.is(ran(), 1);
  t.is(server.stats().unauthenticated, 4);
  // Good credentials are remembered; a wrong secret for the same principal still fails.
  t.is((await fetch(`${base}/private`, { headers: { Authorization: basicAuthorization({ principal: 'ops', secret: `${SECRET}x` }) } })).status, 401);
  t.is((await fetch(`${base}/private`, { headers: { Authorization: basicAuthorization({ principal: 'ops', secret: SECRET }) } })).status, 200);
});

test('routes of realms the server does not require, and routes without a realm, are served without credentials and have no principal', async (t) => {
  const { base } = await serve(t);
  t.deepEqual(await (await fetch(`${base}/other`)).json(), { principal: null, peer: null });
  t.deepEqual(await (await fetch(`${base}/open`, { headers: { Authorization: basicAuthorization({ principal: 'ops', secret: 'wrong' }) } })).json(), {
    principal: null,
    peer: null,
  });
});

test('keep-alive: a refused request leaves the connection usable for the next one (HttpClient)', async (t) => {
  const { base } = await serve(t);
  const c = new HttpClient({ timeoutMs: 5000 });
  t.teardown(() => c.close());
  const r1 = await c.request({ url: `${base}/private`, method: 'POST', body: 'y'.repeat(50_000) });
  t.is(r1.status, 401);
  const r2 = await c.request({ url: `${base}/private`, headers: { Authorization: basicAuthorization({ principal: 'fw', secret: 'fw-secret' }) } });
  t.is(r2.status, 200);
  t.like(r2.json(), { principal: 'fw' });
});

const tlsTest = hasOpenssl() ? test : test.skip;

tlsTest('over TLS: a verified client certificate authenticates as its CN; Basic credentials, when sent, must still be right', async (t) => {
  const pki = makePki();
  t.teardown(() => pki.remove());
  const serverTls = loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_VERIFY_CERT: 'true' }))!;
  const { port } = await serve(t, { tls: serverTls });
  const url = `https://127.0.0.1:${port}/private`;
  const withCert = new HttpClient({ tls: loadTlsConfig(tlsEnv(pki, {}, pki.client))!, timeoutMs: 5000 });
  t.teardown(() => withCert.close());
  // A client without a certificate: Node's https with the CA, as curl --cacert would be.
  const noCert = (headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; json: () => unknown }>((resolve, reject) => {
      const req = https.request(url, { ca: pki.read(pki.ca.cert), headers, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: () => JSON.parse(Buffer.concat(parts).toString()) as unknown }));
      });
      req.on('error', reject);
      req.end();
    });
  const byCert = await withCert.request({ url });
  t.is(byCert.status, 200);
  t.deepEqual(byCert.json(), { principal: 'test-client', peer: 'test-client' });
  const wrong = await withCert.request({ url, headers: { Authorization: basicAuthorization({ principal: 'ops', secret: 'nope' }) } });
  t.is(wrong.status, 401);
  const basic = await withCert.request({ url, headers: { Authorization: basicAuthorization({ principal: 'ops', secret: SECRET }) } });
  t.like(basic.json(), { principal: 'ops', peer: 'test-client' });
  const anonymous = await noCert();
  t.is(anonymous.status, 401);
  t.is(anonymous.headers['www-authenticate'], 'Basic realm="private"');
  const overTls = await noCert({ Authorization: basicAuthorization({ principal: 'fw', secret: 'fw-secret' }) });
  t.like(overTls.json(), { principal: 'fw', peer: null });
});
