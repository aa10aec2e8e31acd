/**
 * What HTTP Basic authentication costs per request (issue 9): the same work without and with
 * authentication in the same run, and the ratio.
 *
 *   check      HttpAuthenticator.authenticate in this process: µs per call, with good
 *              credentials seen before (remembered) and with a wrong secret (the full check: a
 *              SHA-256 of the secret and a constant-time compare).
 *   server     small POSTs (→ 202) on keep-alive connections to an HttpServer route that
 *              requires no realm vs one that requires Basic; Corral's HttpClient in a child
 *              process with 1 and 16 in flight; curl (peer) on one keep-alive connection,
 *              without and with `-u`.
 *   master     a real master (as `corral master` builds it): DECLINE calls of a subscribed
 *              framework on the v1 scheduler API, 16 in flight, a master without vs one with
 *              --authenticate_frameworks and --acls.
 *
 *   npm run bench:auth [-- --quick]
 *
 * Each figure is the best of 3 rounds (2 with --quick), the two sides taking turns so that load
 * from elsewhere on a shared host hits both alike.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMaster } from '../lib/cli/daemons.ts';
import { parseFlags } from '../lib/common/flags.ts';
import { silentLogger } from '../lib/common/log.ts';
import { masterFlags } from '../lib/master/flags.ts';
import { CredentialStore, HttpAuthenticator, HttpClient, HttpServer, basicAuthorization } from '../lib/transport/index.ts';
import { bestOfTurns, curlJsonPost, loadLine, run, timedRequests } from './common.ts';

const quick = process.argv.includes('--quick');
const self = fileURLToPath(import.meta.url);
const REQUEST_MS = quick ? 1000 : 2500;
const CURL_REQUESTS = quick ? 2000 : 5000;
const CHECKS = quick ? 100_000 : 300_000;
const ROUNDS = quick ? 2 : 3;
const CRED = { principal: 'bench', secret: 'bench-secret-0123456789' };
const AUTH = basicAuthorization(CRED);
const BODY = '{"type":"ACKNOWLEDGE","framework_id":{"value":"fw-0000"}}';

// ------------------------------------------------------------------------------------------
// Client role (a child process): keep-alive POSTs for `ms`, prints one JSON line.

async function clientRole(): Promise<void> {
  const arg = (name: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))!.slice(name.length + 3);
  const url = arg('url');
  const headers = JSON.parse(arg('headers')) as Record<string, string>;
  const body = arg('body');
  const concurrency = Number(arg('concurrency'));
  const ms = Number(arg('ms'));
  const c = new HttpClient({ keepAlive: true });
  const one = async (): Promise<void> => {
    const r = await c.request({ url, method: 'POST', headers, body });
    if (r.status !== 202) throw new Error(`status ${r.status}: ${r.text()}`);
  };
  console.log(JSON.stringify(await timedRequests(one, concurrency, ms)));
  c.close();
}

// ------------------------------------------------------------------------------------------
// Driver (this process).

async function rps(url: string, headers: Record<string, string>, concurrency: number, body = BODY): Promise<number> {
  const r = await run(process.execPath, [
    '--import',
    'tsx',
    self,
    '--client',
    `--url=${url}`,
    `--headers=${JSON.stringify(headers)}`,
    `--body=${body}`,
    `--concurrency=${concurrency}`,
    `--ms=${REQUEST_MS}`,
  ]);
  if (r.code !== 0) throw new Error('the client failed');
  const { requests, ms } = JSON.parse(r.out) as { requests: number; ms: number };
  return requests / (ms / 1000);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

const pair = (a: () => Promise<number>, b: () => Promise<number>): Promise<[number, number]> => bestOfTurns(ROUNDS, a, b);

function checkCost(auth: HttpAuthenticator, header: string): number {
  for (let i = 0; i < 10_000; i++) auth.authenticate('bench', header, undefined);
  const t0 = performance.now();
  for (let i = 0; i < CHECKS; i++) auth.authenticate('bench', header, undefined);
  return ((performance.now() - t0) * 1000) / CHECKS;
}

async function main(): Promise<void> {
  console.log(loadLine());
  const hasCurl = spawnSync('curl', ['--version']).status === 0;
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-auth-'));
  const rows: [string, string, string, string][] = [];
  const row = (what: string, plain: number, authed: number): void => {
    rows.push([what, `${fmt(plain)} req/s`, `${fmt(authed)} req/s`, (authed / plain).toFixed(2)]);
  };
  const servers: { close(): Promise<void> }[] = [];
  try {
    console.log(
      `Authentication benchmark (loopback, Node ${process.version}${quick ? ', --quick' : ''}); each figure the best of ${ROUNDS} rounds, the two sides taking turns`,
    );
    // --- the check itself
    const store = new CredentialStore([CRED, ...Array.from({ length: 99 }, (_, i) => ({ principal: `p${i}`, secret: `s${i}` }))]);
    const auth = new HttpAuthenticator([{ name: 'bench', credentials: store }]);
    const good = Math.min(...[0, 1, 2].map(() => checkCost(auth, AUTH)));
    const wrong = Math.min(...[0, 1, 2].map(() => checkCost(auth, basicAuthorization({ ...CRED, secret: 'wrong' }))));
    console.log(
      `  HttpAuthenticator.authenticate (100 principals): ${good.toFixed(2)} µs with good credentials seen before, ${wrong.toFixed(2)} µs with a wrong secret (a full check: decode, SHA-256, compare)`,
    );

    // --- an HttpServer route without and with a required realm
    const server = new HttpServer({ host: '127.0.0.1', port: 0, auth });
    server.route({ path: '/open', methods: ['POST'], handler: async (r) => (await r.readBody(), { status: 202 }) });
    server.route({ path: '/private', methods: ['POST'], realm: 'bench', handler: async (r) => (await r.readBody(), { status: 202 }) });
    const port = await server.listen();
    servers.push(server);
    const open = `http://127.0.0.1:${port}/open`;
    const priv = `http://127.0.0.1:${port}/private`;
    const h = { 'Content-Type': 'application/json' };
    row(
      'HttpServer: small POST → 202, keep-alive, 1 in flight',
      ...(await pair(
        () => rps(open, h, 1),
        () => rps(priv, { ...h, Authorization: AUTH }, 1),
      )),
    );
    row(
      'HttpServer: small POST → 202, keep-alive, 16 in flight',
      ...(await pair(
        () => rps(open, h, 16),
        () => rps(priv, { ...h, Authorization: AUTH }, 16),
      )),
    );
    if (hasCurl) {
      const curlRps = async (url: string, extra: string[]): Promise<number> => {
        const before = server.stats().requestsTotal;
        const r = await run('curl', [...curlJsonPost(BODY), ...extra, `${url}?n=[1-${CURL_REQUESTS}]`]);
        if (r.code !== 0 || server.stats().requestsTotal - before !== CURL_REQUESTS) throw new Error('curl did not make every request');
        return CURL_REQUESTS / (r.ms / 1000);
      };
      row(
        `curl (peer): ${fmt(CURL_REQUESTS)} POSTs, one keep-alive connection, -u`,
        ...(await pair(
          () => curlRps(open, []),
          () => curlRps(priv, ['-u', `${CRED.principal}:${CRED.secret}`]),
        )),
      );
    }

    // --- a real master's scheduler API
    const credentials = join(dir, 'credentials');
    writeFileSync(credentials, `${CRED.principal} ${CRED.secret}\n`, { mode: 0o600 });
    const acls = JSON.stringify({
      register_frameworks: [{ principals: { values: [CRED.principal] }, roles: { type: 'ANY' } }],
      run_tasks: [{ principals: { type: 'ANY' }, users: { type: 'ANY' } }],
    });
    const master = async (extra: string[]) => {
      const f = parseFlags(masterFlags, { argv: ['--ip=127.0.0.1', '--port=0', '--registry=in_memory', ...extra], env: {} });
      const m = await startMaster(f.values, f.text, silentLogger);
      servers.push({ close: () => m.stop() });
      return m.port;
    };
    const subscribe = async (port: number, headers: Record<string, string>): Promise<{ url: string; headers: Record<string, string>; body: string }> => {
      const url = `http://127.0.0.1:${port}/api/v1/scheduler`;
      const c = new HttpClient();
      const s = await c.openStream({
        url,
        headers: { ...h, ...headers },
        body: { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'bench', name: 'bench', principal: CRED.principal } } },
      });
      if (s.status !== 200) throw new Error(`SUBSCRIBE: ${s.status} ${s.text}`);
      const first = await s.records[Symbol.asyncIterator]().next();
      const id = (JSON.parse(String(first.value)) as { subscribed: { framework_id: { value: string } } }).subscribed.framework_id.value;
      servers.push({ close: async () => (s.close(), c.close()) });
      const body = JSON.stringify({ type: 'DECLINE', framework_id: { value: id }, decline: { offer_ids: [{ value: 'no-such-offer' }] } });
      return { url, headers: { ...h, ...headers, 'Mesos-Stream-Id': String(s.headers['mesos-stream-id']) }, body };
    };
    const plainMaster = await subscribe(await master([]), {});
    const authMaster = await subscribe(await master(['--authenticate_frameworks', `--credentials=${credentials}`, `--acls=${acls}`]), { Authorization: AUTH });
    row(
      'master: scheduler API DECLINE → 202, keep-alive, 16 in flight',
      ...(await pair(
        () => rps(plainMaster.url, plainMaster.headers, 16, plainMaster.body),
        () => rps(authMaster.url, authMaster.headers, 16, authMaster.body),
      )),
    );

    const w = Math.max(...rows.map((r) => r[0].length));
    console.log(`  ${''.padEnd(w)}  ${'no auth'.padStart(14)}  ${'Basic auth'.padStart(14)}  auth/none`);
    for (const [name, p, s, ratio] of rows) console.log(`  ${name.padEnd(w)}  ${p.padStart(14)}  ${s.padStart(14)}  ${ratio}`);
    console.log(`  server: ${fmt(auth.authenticated)} requests authenticated, ${fmt(server.stats().unauthenticated)} refused`);
  } finally {
    for (const s of servers.reverse()) await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--client')) await clientRole();
else await main();
