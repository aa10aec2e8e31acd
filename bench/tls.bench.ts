/**
 * TLS benchmark over loopback: the same work over plain HTTP and over TLS, in the same run, with
 * the ratio TLS / plain (issue 9's target: >= 0.80). The HttpServers run in this process; each
 * client runs in its own process (Corral's HttpClient with a TlsConfig, or curl as the peer).
 * Certificates (EC P-256, TLS 1.3 by default) are made with openssl for the run.
 *
 *   stream     events/s of one RecordIO event stream (small JSON events, backpressure respected),
 *              read to the end by HttpClient.openStream, and by `curl -N` as the peer.
 *   requests   small POSTs (a scheduler call, 202) on keep-alive connections, HttpClient with 1
 *              and 16 in flight; curl, one keep-alive connection, sequential (peer).
 *   handshake  full TLS handshakes/s and ms each (tls.connect → secureConnect, one at a time),
 *              resumed ones (TLS 1.3 session ticket), and a request on a new connection each time
 *              (HttpClient without keep-alive) plain vs TLS.
 *   downgrade  keep-alive requests through a port that accepts both, plain and TLS (the sniffing
 *              costs only at connection start).
 *
 *   npm run bench:tls [-- --quick]
 *
 * Each figure is the best of 3 rounds (2 with --quick), plain and TLS taking turns, so that load
 * from elsewhere on a shared host hits both alike. About a minute; run it alone.
 */
import { spawnSync } from 'node:child_process';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { HttpClient } from '../lib/transport/http_client.ts';
import { HttpServer } from '../lib/transport/http_server.ts';
import { loadTlsConfig } from '../lib/transport/tls_config.ts';
import { makePki, tlsEnv } from '../test/transport/tls_fixture.ts';
import { bestOfTurns, curlJsonPost, loadLine, run, timedRequests } from './common.ts';
import { schedulerServer } from './scheduler_server.ts';

const quick = process.argv.includes('--quick');
const self = fileURLToPath(import.meta.url);
const STREAM_EVENTS = quick ? 100_000 : 300_000;
const REQUEST_MS = quick ? 1000 : 2500;
const CURL_REQUESTS = quick ? 2000 : 5000;
const HANDSHAKES = quick ? 300 : 1000;
const ROUNDS = quick ? 2 : 3;

const BODY = '{"type":"ACKNOWLEDGE","framework_id":{"value":"fw-0000"}}';
const HEADERS = { 'Content-Type': 'application/json', 'Mesos-Stream-Id': 'abc' };

// ------------------------------------------------------------------------------------------
// Client role (a child process): prints one JSON line with its result.

async function clientRole(): Promise<void> {
  const arg = (name: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))!.slice(name.length + 3);
  const url = arg('url');
  const env = JSON.parse(arg('tls')) as Record<string, string>;
  const config = loadTlsConfig(env);
  const role = arg('role');
  if (role === 'handshakes') {
    const [host, port] = [new URL(url).hostname, Number(new URL(url).port)];
    const n = Number(arg('n'));
    const secureContext = tls.createSecureContext(config!.ca ? { ca: [...config!.ca] } : {});
    const connect = (session?: Buffer): Promise<Buffer | undefined> =>
      new Promise((resolve, reject) => {
        let ticket: Buffer | undefined;
        const s = tls.connect({ host, port, secureContext, ...(session ? { session } : {}) }, () => {
          if (session && !s.isSessionReused()) reject(new Error('the session was not resumed'));
          // TLS 1.3 sends its ticket after the handshake: wait for it once.
          if (session) {
            s.destroy();
            resolve(undefined);
          }
        });
        s.on('session', (t: Buffer) => {
          ticket = t;
          if (!session) {
            s.destroy();
            resolve(ticket);
          }
        });
        s.on('error', reject);
      });
    for (let i = 0; i < 20; i++) await connect(); // warm-up
    let t0 = performance.now();
    let ticket: Buffer | undefined;
    for (let i = 0; i < n; i++) ticket = await connect();
    const fullMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < n; i++) await connect(ticket);
    const resumedMs = performance.now() - t0;
    console.log(JSON.stringify({ n, fullMs, resumedMs }));
    return;
  }
  const c = new HttpClient({ ...(config ? { tls: config } : {}), keepAlive: arg('keepalive') === 'true' });
  if (role === 'stream') {
    const s = await c.openStream({ url, body: { type: 'SUBSCRIBE' } });
    let n = 0;
    let bytes = 0;
    for await (const r of s.records) {
      n++;
      bytes += r.length;
    }
    console.log(JSON.stringify({ records: n, bytes }));
  } else {
    const concurrency = Number(arg('concurrency'));
    const ms = Number(arg('ms'));
    const one = async (): Promise<void> => {
      const r = await c.request({ url, method: 'POST', headers: HEADERS, body: BODY });
      if (r.status !== 202) throw new Error(`status ${r.status}`);
    };
    console.log(JSON.stringify(await timedRequests(one, concurrency, ms)));
  }
  c.close();
}

// ------------------------------------------------------------------------------------------
// Server role (this process).

async function nodeClient<T>(args: string[]): Promise<T> {
  const r = await run(process.execPath, ['--import', 'tsx', self, '--client', ...args]);
  if (r.code !== 0) throw new Error(`client ${args.join(' ')} failed`);
  return JSON.parse(r.out) as T;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function benchServer(options: ConstructorParameters<typeof HttpServer>[0]): ReturnType<typeof schedulerServer> {
  return schedulerServer(options, STREAM_EVENTS);
}

async function main(): Promise<void> {
  if (spawnSync('openssl', ['version']).status !== 0) throw new Error('openssl is needed to make the certificates (apt-get install openssl)');
  const hasCurl = spawnSync('curl', ['--version']).status === 0;
  const pki = makePki();
  try {
    const serverEnv = tlsEnv(pki);
    const clientEnv = tlsEnv(pki, { LIBPROCESS_SSL_VERIFY_CERT: 'true' }, pki.client);
    const plain = benchServer({});
    const secure = benchServer({ tls: loadTlsConfig(serverEnv)! });
    const both = benchServer({ tls: loadTlsConfig({ ...serverEnv, LIBPROCESS_SSL_SUPPORT_DOWNGRADE: 'true' })! });
    const plainUrl = `http://127.0.0.1:${await plain.server.listen()}/api/v1/scheduler`;
    const tlsUrl = `https://127.0.0.1:${await secure.server.listen()}/api/v1/scheduler`;
    const bothPort = await both.server.listen();
    const tlsJson = JSON.stringify(clientEnv);
    const none = JSON.stringify({});

    console.log(
      `TLS benchmark (loopback, Node ${process.version}, OpenSSL ${process.versions.openssl}, EC P-256, TLS 1.3 ${tls.DEFAULT_CIPHERS.split(':')[0]}…${quick ? ', --quick' : ''})`,
    );
    console.log(`${loadLine()}`);
    console.log('server in this process, each client in its own; plain and TLS in the same run');
    console.log(`each figure is the best of ${ROUNDS} rounds, plain and TLS taking turns (this host may be shared)`);
    const rows: [string, string, string, string][] = [];
    const row = (what: string, p: number, s: number, unit: string): void => {
      rows.push([what, `${fmt(p)} ${unit}`, `${fmt(s)} ${unit}`, `${(s / p).toFixed(2)}`]);
    };
    /** Best of ROUNDS for each of two measurements, run in turns. */
    const pair = (a: () => Promise<number>, b: () => Promise<number>): Promise<[number, number]> => bestOfTurns(ROUNDS, a, b);

    // --- stream
    const streamOf = async (url: string, envJson: string, srv: ReturnType<typeof benchServer>): Promise<number> => {
      const got = await nodeClient<{ records: number; bytes: number }>(['--role=stream', `--url=${url}`, `--tls=${envJson}`, '--keepalive=true']);
      await new Promise((r) => setImmediate(r));
      const s = srv.lastStream();
      if (got.records !== STREAM_EVENTS || got.bytes !== s.bytes) throw new Error(`stream client got ${got.records} records`);
      return s.events / (s.ms / 1000);
    };
    const [streamPlain, streamTls] = await pair(
      () => streamOf(plainUrl, none, plain),
      () => streamOf(tlsUrl, tlsJson, secure),
    );
    const evBytes = Math.round(plain.lastStream().bytes / STREAM_EVENTS);
    row(`stream, ${fmt(STREAM_EVENTS)} events of ~${evBytes} B → HttpClient`, streamPlain, streamTls, 'ev/s');

    // --- keep-alive requests
    const rps = async (url: string, envJson: string, concurrency: number, keepalive = true, ms = REQUEST_MS): Promise<number> => {
      const r = await nodeClient<{ requests: number; ms: number }>([
        '--role=requests',
        `--url=${url}`,
        `--tls=${envJson}`,
        `--concurrency=${concurrency}`,
        `--ms=${ms}`,
        `--keepalive=${keepalive}`,
      ]);
      return r.requests / (r.ms / 1000);
    };
    const [rps1Plain, rps1Tls] = await pair(
      () => rps(plainUrl, none, 1),
      () => rps(tlsUrl, tlsJson, 1),
    );
    row('small POST → 202, keep-alive, 1 in flight', rps1Plain, rps1Tls, 'req/s');
    row(
      'small POST → 202, keep-alive, 16 in flight',
      ...(await pair(
        () => rps(plainUrl, none, 16),
        () => rps(tlsUrl, tlsJson, 16),
      )),
      'req/s',
    );
    row(
      'small POST → 202, new connection per request',
      ...(await pair(
        () => rps(plainUrl, none, 1, false),
        () => rps(tlsUrl, tlsJson, 1, false),
      )),
      'req/s',
    );
    const bothPlainUrl = `http://127.0.0.1:${bothPort}/api/v1/scheduler`;
    const bothTlsUrl = `https://127.0.0.1:${bothPort}/api/v1/scheduler`;
    row(
      'downgrade port: plain vs TLS clients, keep-alive, 1 in flight',
      ...(await pair(
        () => rps(bothPlainUrl, none, 1),
        () => rps(bothTlsUrl, tlsJson, 1),
      )),
      'req/s',
    );
    const [directPlain, sniffPlain] = await pair(
      () => rps(plainUrl, none, 1, false),
      () => rps(bothPlainUrl, none, 1, false),
    );
    rows.push([
      'plain, new connection per request: plain port vs downgrade port',
      `${fmt(directPlain)} req/s`,
      `${fmt(sniffPlain)} req/s`,
      `${(sniffPlain / directPlain).toFixed(2)}`,
    ]);

    // --- curl peer
    let curlRatios = '';
    if (hasCurl) {
      const curlArgs = curlJsonPost(BODY, ['Mesos-Stream-Id: abc']);
      const tlsCurl = ['--cacert', pki.ca.cert, '--cert', pki.client.cert, '--key', pki.client.key];
      const curlRps = async (url: string, extra: string[], srv: HttpServer): Promise<number> => {
        const before = srv.stats().requestsTotal;
        const r = await run('curl', [...curlArgs, ...extra, `${url}?n=[1-${CURL_REQUESTS}]`]);
        if (r.code !== 0 || srv.stats().requestsTotal - before !== CURL_REQUESTS) throw new Error('curl did not make every request');
        return CURL_REQUESTS / (r.ms / 1000);
      };
      const [cPlain, cTls] = await pair(
        () => curlRps(plainUrl, [], plain.server),
        () => curlRps(tlsUrl, tlsCurl, secure.server),
      );
      rows.push([
        `curl (peer): ${fmt(CURL_REQUESTS)} POSTs, one keep-alive connection`,
        `${fmt(cPlain)} req/s`,
        `${fmt(cTls)} req/s`,
        `${(cTls / cPlain).toFixed(2)}`,
      ]);
      // The peer of "16 in flight": curl's multi interface, 16 transfers at a time on up to 16
      // keep-alive connections (HTTP/1.1, so one request per connection at a time).
      const parallel = ['-Z', '--parallel-max', '16', '--parallel-immediate'];
      const [cPlain16, cTls16] = await pair(
        () => curlRps(plainUrl, parallel, plain.server),
        () => curlRps(tlsUrl, [...parallel, ...tlsCurl], secure.server),
      );
      rows.push([
        `curl (peer): ${fmt(CURL_REQUESTS)} POSTs, 16 in flight (-Z)`,
        `${fmt(cPlain16)} req/s`,
        `${fmt(cTls16)} req/s`,
        `${(cTls16 / cPlain16).toFixed(2)}`,
      ]);
      const curlStream = async (url: string, extra: string[], srv: ReturnType<typeof benchServer>): Promise<number> => {
        const r = await run('curl', [
          '-sN',
          '-o',
          '/dev/null',
          '-w',
          '%{size_download}',
          '-X',
          'POST',
          '-H',
          'Content-Type: application/json',
          '-d',
          '{"type":"SUBSCRIBE"}',
          ...extra,
          url,
        ]);
        await new Promise((res) => setImmediate(res));
        const s = srv.lastStream();
        if (r.code !== 0 || Number(r.out) <= s.bytes) throw new Error(`curl read ${r.out} bytes`);
        return s.events / (s.ms / 1000);
      };
      const [sPlain, sTls] = await pair(
        () => curlStream(plainUrl, [], plain),
        () => curlStream(tlsUrl, tlsCurl, secure),
      );
      rows.push([`curl -N (peer reader): the same stream`, `${fmt(sPlain)} ev/s`, `${fmt(sTls)} ev/s`, `${(sTls / sPlain).toFixed(2)}`]);
      curlRatios = `; over TLS, Corral client / curl: requests (1 in flight) ${(rps1Tls / cTls).toFixed(2)}, stream ${(streamTls / sTls).toFixed(2)}`;
    }

    const w = Math.max(...rows.map((r) => r[0].length));
    console.log(`  ${''.padEnd(w)}  ${'plain'.padStart(14)}  ${'TLS'.padStart(14)}  TLS/plain`);
    for (const [name, p, s, ratio] of rows) console.log(`  ${name.padEnd(w)}  ${p.padStart(14)}  ${s.padStart(14)}  ${ratio}`);

    // --- handshakes
    const hs = await nodeClient<{ n: number; fullMs: number; resumedMs: number }>([
      '--role=handshakes',
      `--url=${tlsUrl}`,
      `--tls=${tlsJson}`,
      `--n=${HANDSHAKES}`,
    ]);
    console.log(
      `  TLS handshakes, one at a time (${fmt(hs.n)} each): full ${fmt(hs.n / (hs.fullMs / 1000))}/s (${(hs.fullMs / hs.n).toFixed(2)} ms each), ` +
        `resumed ${fmt(hs.n / (hs.resumedMs / 1000))}/s (${(hs.resumedMs / hs.n).toFixed(2)} ms each)`,
    );
    const target = [rows[0]!, rows[1]!, rows[2]!].map((r) => Number(r[3]));
    console.log(
      `target TLS >= 0.80 of plain for API calls and streams: ${target.every((x) => x >= 0.8) ? 'met' : 'NOT met'} (${target.map((x) => x.toFixed(2)).join(', ')})${curlRatios}`,
    );
    console.log(
      `servers: ${fmt(secure.server.stats().requestsTotal)} requests over TLS, ${fmt(both.server.stats().plainConnections)} plain connections on the downgrade port`,
    );
    await Promise.all([plain.server.close(), secure.server.close(), both.server.close()]);
  } finally {
    pki.remove();
  }
}

if (process.argv.includes('--client')) await clientRole();
else await main();
