/**
 * Transport benchmark over loopback. The Corral HttpServer runs in this process; every client
 * (Corral's HttpClient, or curl as the peer) runs in its own process, so the figures are the
 * server's own work plus one client, as in production.
 *
 *   stream   events/s of one RecordIO event stream of small JSON events (each serialised with
 *            stringifyWire and framed as it is written, backpressure respected), read to the end
 *            by HttpClient.openStream, and by `curl -N` as the peer.
 *   requests small POSTs (a JSON call, 202 Accepted) on keep-alive connections: HttpClient with
 *            1 and 16 requests in flight, and curl (one keep-alive connection; then --parallel 16).
 *
 *   npm run bench -- [--quick]         (or: node --import tsx bench/transport.bench.ts [--quick])
 *
 * Short (under ~20 s); run it alone, not next to other heavy work.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HttpClient } from '../lib/transport/http_client.ts';
import { curlJsonPost, loadLine, run, timedRequests } from './common.ts';
import { schedulerServer } from './scheduler_server.ts';

const quick = process.argv.includes('--quick');
const self = fileURLToPath(import.meta.url);
const STREAM_EVENTS = quick ? 100_000 : 300_000;
const REQUEST_MS = quick ? 1000 : 2500;
const CURL_REQUESTS = quick ? 3000 : 8000;

// ------------------------------------------------------------------------------------------
// Client role (a child process): prints one JSON line with its result.

async function clientRole(): Promise<void> {
  const arg = (name: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))!.slice(name.length + 3);
  const url = arg('url');
  const c = new HttpClient();
  if (arg('role') === 'stream') {
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
    const body = '{"type":"ACKNOWLEDGE","framework_id":{"value":"fw-0000"}}';
    const headers = { 'Content-Type': 'application/json', 'Mesos-Stream-Id': 'abc' };
    const one = async (): Promise<void> => {
      const r = await c.request({ url, method: 'POST', headers, body });
      if (r.status !== 202) throw new Error(`status ${r.status}`);
    };
    console.log(JSON.stringify(await timedRequests(one, concurrency, ms)));
  }
  c.close();
}

// ------------------------------------------------------------------------------------------
// Server role (this process).

function nodeClient(args: string[]): Promise<{ code: number | null; out: string; ms: number }> {
  return run(process.execPath, ['--import', 'tsx', self, '--client', ...args]);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  console.log(loadLine());
  const hasCurl = spawnSync('curl', ['--version']).status === 0;
  const { server, lastStream } = schedulerServer({}, STREAM_EVENTS);
  const port = await server.listen();
  const url = `http://127.0.0.1:${port}/api/v1/scheduler`;

  console.log(`transport benchmark (loopback, Node ${process.version}${quick ? ', --quick' : ''}); server in this process, each client in its own`);

  // --- stream
  const rows: [string, string, string][] = [];
  const a = await nodeClient(['--role=stream', `--url=${url}`]);
  if (a.code !== 0) throw new Error('stream client failed');
  const got = JSON.parse(a.out) as { records: number; bytes: number };
  let { ms: streamMs, bytes: streamBytes, events: streamEvents } = lastStream();
  if (got.records !== STREAM_EVENTS || got.bytes !== streamBytes) throw new Error(`stream client got ${got.records} records, ${got.bytes} bytes`);
  const corralEps = streamEvents / (streamMs / 1000);
  const evBytes = streamBytes / streamEvents;
  rows.push([
    `stream, ${fmt(STREAM_EVENTS)} events of ~${Math.round(evBytes)} B → HttpClient.openStream`,
    `${fmt(corralEps)} events/s`,
    `${(streamBytes / (streamMs / 1000) / 1e6).toFixed(1)} MB/s`,
  ]);
  let curlEps: number | undefined;
  if (hasCurl) {
    const c = await run('curl', [
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
      url,
    ]);
    if (c.code !== 0) throw new Error(`curl exited ${c.code}`);
    await new Promise((resolve) => setImmediate(resolve));
    ({ ms: streamMs, bytes: streamBytes, events: streamEvents } = lastStream());
    if (Number(c.out) <= streamBytes) throw new Error(`curl read ${c.out} bytes`);
    curlEps = streamEvents / (streamMs / 1000);
    rows.push([`stream, same events → curl -N (peer reader)`, `${fmt(curlEps)} events/s`, `${(streamBytes / (streamMs / 1000) / 1e6).toFixed(1)} MB/s`]);
  }

  // --- requests
  const before = server.stats().requestsTotal;
  const r1 = JSON.parse((await nodeClient(['--role=requests', `--url=${url}`, '--concurrency=1', `--ms=${REQUEST_MS}`])).out) as {
    requests: number;
    ms: number;
  };
  const rps1 = r1.requests / (r1.ms / 1000);
  rows.push(['small POST → 202, keep-alive, HttpClient, 1 in flight', `${fmt(rps1)} req/s`, `${(1e6 / rps1).toFixed(0)} µs/req`]);
  const r16 = JSON.parse((await nodeClient(['--role=requests', `--url=${url}`, '--concurrency=16', `--ms=${REQUEST_MS}`])).out) as {
    requests: number;
    ms: number;
  };
  const rps16 = r16.requests / (r16.ms / 1000);
  rows.push(['small POST → 202, keep-alive, HttpClient, 16 in flight', `${fmt(rps16)} req/s`, '']);
  const seen = server.stats().requestsTotal - before;
  if (seen < r1.requests + r16.requests) throw new Error(`server saw ${seen} requests, clients report more`);

  let curl1: number | undefined;
  let curl16: number | undefined;
  if (hasCurl) {
    const common = curlJsonPost('{"type":"ACKNOWLEDGE","framework_id":{"value":"fw-0000"}}', ['Mesos-Stream-Id: abc']);
    const glob = `${url}?n=[1-${CURL_REQUESTS}]`;
    const b0 = server.stats().requestsTotal;
    const c1 = await run('curl', [...common, glob]);
    if (server.stats().requestsTotal - b0 !== CURL_REQUESTS) throw new Error('curl did not make every request');
    curl1 = CURL_REQUESTS / (c1.ms / 1000);
    rows.push(['small POST → 202, keep-alive, curl (one connection, sequential; peer)', `${fmt(curl1)} req/s`, `incl. curl start`]);
    const c16 = await run('curl', [...common, '--parallel', '--parallel-max', '16', '--parallel-immediate', glob]);
    curl16 = CURL_REQUESTS / (c16.ms / 1000);
    rows.push(['small POST → 202, keep-alive, curl --parallel-max 16 (peer)', `${fmt(curl16)} req/s`, `incl. curl start`]);
  }

  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [name, fig, extra] of rows) console.log(`  ${name.padEnd(w)}  ${fig.padStart(16)}  ${extra}`);
  if (hasCurl) {
    console.log(
      `ratios (Corral client / curl): stream ${(corralEps / curlEps!).toFixed(2)}, ` +
        `requests 1 in flight ${(rps1 / curl1!).toFixed(2)}, 16 in flight ${(rps16 / curl16!).toFixed(2)}`,
    );
  } else {
    console.log('curl not installed: no peer figures');
  }
  console.log(`server: ${server.stats().requestsTotal} requests served, ${server.stats().openStreams} streams open at the end`);
  await server.close();
}

if (process.argv.includes('--client')) await clientRole();
else await main();
