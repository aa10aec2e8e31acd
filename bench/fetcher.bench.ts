/**
 * Fetcher benchmark: a SIZE MB file (default 100) served on loopback by a plain Node HTTP server
 * in its own process (so the fetcher and the server do not share an event loop, as curl and the
 * server do not), counting its requests and bytes.
 *
 *   1. cold: Fetcher.fetch with cache:false (download straight into a sandbox), and with
 *      cache:true on an empty cache (download into the cache, then give the file to the
 *      sandbox); peer: `curl -s -o` of the same URL to the same disk. Throughput and ratio.
 *   2. warm (a hit): Fetcher.fetch of the cached URI into a fresh sandbox, as a copy (a task
 *      without a user, or root) and, when run as root, as a read-only hard link (task user
 *      nobody); peer: `cp` of the cached file. Also at 256 MiB, to show what depends on size.
 *   3. 20 tasks fetching the same cached URI at once on an empty cache: wall time, requests and
 *      bytes the server sent (one download expected), copy and link modes; peer: one curl plus
 *      20 concurrent `cp` of its file.
 *
 * Every figure is the median of RUNS runs. Files live in the system temp dir (on disk here), and
 * everything is in the page cache after the first run: these are CPU and memory-bandwidth
 * figures, not disk figures.
 *
 *   npm run bench:fetcher [-- --mb=100 --runs=5]
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fetcher } from '../lib/agent/fetcher/fetcher.ts';
import type { Uri } from '../lib/proto/messages.ts';
import { arg, loadLine } from './common.ts';

const MB = arg('mb', 100);
const RUNS = arg('runs', 5);
const CONCURRENT = 20;
const MiB = 1024 * 1024;
const root = process.getuid?.() === 0;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => (x < 10 ? `${x.toFixed(2)} ms` : `${x.toFixed(0)} ms`);
const rate = (bytes: number, msTaken: number): string => `${(bytes / MiB / (msTaken / 1000)).toFixed(0)} MiB/s`;

function makeFile(path: string, bytes: number): void {
  const chunk = randomBytes(MiB);
  const fd = openSync(path, 'w');
  for (let done = 0; done < bytes; done += MiB) writeSync(fd, chunk, 0, Math.min(MiB, bytes - done));
  closeSync(fd);
}

const SERVER = `
import http from 'node:http';
import { createReadStream, statSync } from 'node:fs';
const dir = process.argv[1];
let requests = 0, bytes = 0;
const server = http.createServer((req, res) => {
  if (req.url === '/stats') { res.end(JSON.stringify({ requests, bytes })); return; }
  if (req.url === '/reset') { requests = 0; bytes = 0; res.end('{}'); return; }
  requests++;
  const path = dir + decodeURIComponent(req.url);
  let size;
  try { size = statSync(path).size; } catch { res.writeHead(404).end(); return; }
  res.writeHead(200, { 'content-length': size });
  const s = createReadStream(path, { highWaterMark: 1 << 20 });
  s.on('data', (d) => (bytes += d.length));
  s.pipe(res);
});
server.keepAliveTimeout = 1000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

async function startServer(
  dir: string,
): Promise<{ base: string; stats(): Promise<{ requests: number; bytes: number }>; reset(): Promise<void>; stop(): void }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const get = async (p: string) => (await fetch(`${base}${p}`)).json() as Promise<{ requests: number; bytes: number }>;
  return {
    base,
    stats: () => get('/stats'),
    reset: async () => void (await get('/reset')),
    stop: () => child.kill(),
  };
}

function timeCommand(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  const took = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.error?.message ?? `exit ${r.status}`})`);
  return took;
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

function have(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

async function main(): Promise<void> {
  console.log(loadLine());
  const base = mkdtempSync(join(tmpdir(), 'corral-fetch-bench-'));
  chmodSync(base, 0o755); // a task user must reach its sandbox
  const files = join(base, 'files');
  mkdirSync(files);
  const server = await startServer(files);
  let n = 0;
  const sandbox = (): string => {
    const s = join(base, 'sandboxes', `s${n++}`);
    mkdirSync(s, { recursive: true });
    return s;
  };
  const clearSandboxes = (): void => rmSync(join(base, 'sandboxes'), { recursive: true, force: true });
  const fetcherAt = (name: string): Fetcher => new Fetcher({ cacheDir: join(base, 'cache', name), cacheSizeBytes: 4 * 1024 * MiB });
  try {
    const bytes = MB * MiB;
    makeFile(join(files, 'big.bin'), bytes);
    const url = `${server.base}/big.bin`;
    const uri = (cache: boolean): Uri => ({ value: url, extract: false, cache });
    const curl = have('curl');
    console.log(`fetcher: a ${MB} MiB file from a loopback HTTP server (its own process); median of ${RUNS} runs; ${cpus().length} CPUs; files in ${tmpdir()}`);
    if (!curl) console.log('(curl is not installed: no curl figures; apt-get install curl)');

    // ---- 1. cold ------------------------------------------------------------------------------
    // Each round runs every case once, in a rotating order (page-cache writeback from one case
    // slows the next: no case is always first).
    const cold: Record<string, number[]> = { direct: [], miss: [], missLink: [], curl: [] };
    const cases: [string, () => Promise<number>][] = [
      ['direct', async () => timed(() => fetcherAt(`d${n}`).fetch({ uris: [uri(false)], sandbox: sandbox() }))],
      ['miss', async () => timed(() => fetcherAt(`m${n}`).fetch({ uris: [uri(true)], sandbox: sandbox() }))],
    ];
    if (root) cases.push(['missLink', async () => timed(() => fetcherAt(`l${n}`).fetch({ uris: [uri(true)], sandbox: sandbox(), user: 'nobody' }))]);
    if (curl) cases.push(['curl', async () => timeCommand('curl', ['-s', '-f', '-o', join(sandbox(), 'big.bin'), url])]);
    for (let i = 0; i < RUNS + 1; i++) {
      for (let k = 0; k < cases.length; k++) {
        const [name, run] = cases[(i + k) % cases.length]!;
        const took = await run();
        if (i > 0) cold[name]!.push(took); // the first round warms the page cache and the JIT
        clearSandboxes();
        rmSync(join(base, 'cache'), { recursive: true, force: true });
      }
    }
    console.log('cold (download):');
    console.log(`  fetcher, no cache                    ${ms(median(cold.direct!))}  ${rate(bytes, median(cold.direct!))}`);
    console.log(`  fetcher, cache miss (copy to sandbox) ${ms(median(cold.miss!))}  ${rate(bytes, median(cold.miss!))}`);
    if (root) console.log(`  fetcher, cache miss (link, nobody)   ${ms(median(cold.missLink!))}  ${rate(bytes, median(cold.missLink!))}`);
    if (curl) {
      console.log(`  curl -o                              ${ms(median(cold.curl!))}  ${rate(bytes, median(cold.curl!))}`);
      const r = (k: string): string => (median(cold.curl!) / median(cold[k]!)).toFixed(2);
      console.log(`  throughput fetcher/curl: no cache ${r('direct')}, miss+copy ${r('miss')}${root ? `, miss+link ${r('missLink')}` : ''}`);
    }

    // ---- 2. warm (hits) -----------------------------------------------------------------------
    const hits = async (size: number, label: string): Promise<void> => {
      const name = size === bytes ? 'big.bin' : `big-${size}.bin`;
      if (name !== 'big.bin') makeFile(join(files, name), size);
      const u: Uri = { value: `${server.base}/${name}`, extract: false, cache: true };
      const f = fetcherAt(`warm-${size}`);
      await f.fetch({ uris: [u], sandbox: sandbox() }); // the miss
      const cached = f.cache.get(undefined, u.value)!.path;
      const copy: number[] = [];
      const link: number[] = [];
      const cp: number[] = [];
      if (root) await f.fetch({ uris: [u], sandbox: sandbox(), user: 'nobody' }); // nobody's miss
      const warm: [number[], () => Promise<number>][] = [
        [copy, () => timed(() => f.fetch({ uris: [u], sandbox: sandbox() }))],
        [cp, async () => timeCommand('cp', [cached, join(sandbox(), name)])],
      ];
      if (root) {
        warm.push([
          link,
          async () => {
            const t0 = performance.now();
            const [got] = await f.fetch({ uris: [u], sandbox: sandbox(), user: 'nobody' });
            const took = performance.now() - t0;
            if (!got!.linked) throw new Error('expected a hard link');
            return took;
          },
        ]);
      }
      for (let i = 0; i < RUNS + 1; i++) {
        for (let k = 0; k < warm.length; k++) {
          const [into, run] = warm[(i + k) % warm.length]!;
          const took = await run();
          if (i > 0) into.push(took);
          clearSandboxes();
        }
      }
      console.log(`warm (cache hit), ${label}:`);
      console.log(`  fetcher, copy (no user / root task)   ${ms(median(copy))}  ${rate(size, median(copy))}`);
      if (root) console.log(`  fetcher, hard link (task user nobody)  ${ms(median(link))}`);
      console.log(`  cp of the cached file                 ${ms(median(cp))}  (incl. ~1 ms to start cp)`);
      console.log(`  ratio cp/fetcher: copy ${(median(cp) / median(copy)).toFixed(2)}${root ? `, hard link ${(median(cp) / median(link)).toFixed(1)}` : ''}`);
      await f.clearCache();
      if (name !== 'big.bin') rmSync(join(files, name));
    };
    await hits(bytes, `${MB} MiB`);
    if (MB !== 256) await hits(256 * MiB, '256 MiB');

    // ---- 3. 20 concurrent tasks, one cached URI ---------------------------------------------
    interface Round {
      wall: number;
      requests: number;
      sent: number;
      linked: number;
    }
    const together = async (user: string | undefined): Promise<Round> => {
      const f = fetcherAt(`conc-${user ?? 'none'}-${n}`);
      await server.reset();
      const sandboxes = Array.from({ length: CONCURRENT }, sandbox);
      const t0 = performance.now();
      const got = await Promise.all(sandboxes.map((s) => f.fetch({ uris: [uri(true)], sandbox: s, ...(user ? { user } : {}) })));
      const wall = performance.now() - t0;
      const st = await server.stats();
      await f.clearCache();
      return { wall, requests: st.requests, sent: st.bytes, linked: got.filter((g) => g[0]!.linked).length };
    };
    const peerRound = async (): Promise<Round> => {
      await server.reset();
      const dl = join(sandbox(), 'big.bin');
      const t0 = performance.now();
      timeCommand('curl', ['-s', '-f', '-o', dl, url]);
      await Promise.all(
        Array.from({ length: CONCURRENT }, () => {
          const dest = join(sandbox(), 'big.bin');
          return new Promise<void>((resolve, reject) => spawn('cp', [dl, dest]).once('exit', (c) => (c === 0 ? resolve() : reject(new Error(`cp exit ${c}`)))));
        }),
      );
      const wall = performance.now() - t0;
      const st = await server.stats();
      return { wall, requests: st.requests, sent: st.bytes, linked: 0 };
    };
    const rounds: [string, () => Promise<Round>, Round[]][] = [['fetcher, copies (no user)    ', () => together(undefined), []]];
    if (root) rounds.push(['fetcher, links (user nobody) ', () => together('nobody'), []]);
    if (curl) rounds.push([`peer: curl -o + ${CONCURRENT} concurrent cp`, peerRound, []]);
    for (let i = 0; i < RUNS; i++) {
      for (let k = 0; k < rounds.length; k++) {
        const [, run, into] = rounds[(i + k) % rounds.length]!;
        into.push(await run());
        clearSandboxes();
      }
    }
    console.log(`${CONCURRENT} tasks fetching the same cached ${MB} MiB URI at once (empty cache):`);
    for (const [label, , rs] of rounds) {
      const reqs = Math.max(...rs.map((r) => r.requests));
      const sent = Math.max(...rs.map((r) => r.sent));
      const linked = rs[0]!.linked ? `; ${rs[0]!.linked} of ${CONCURRENT} hard-linked` : '';
      console.log(
        `  ${label}  ${ms(median(rs.map((r) => r.wall)))} wall; server: ${reqs} request(s), ${(sent / MiB).toFixed(0)} MiB sent${reqs === 1 ? ' (one download)' : ' (MORE THAN ONE DOWNLOAD)'}${linked}`,
      );
    }
    if (curl) {
      const wall = (k: number): number => median(rounds[k]![2].map((r) => r.wall));
      const peer = wall(rounds.length - 1);
      console.log(`  ratio peer/fetcher wall: copies ${(peer / wall(0)).toFixed(2)}${root ? `, links ${(peer / wall(1)).toFixed(2)}` : ''}`);
    }
  } finally {
    server.stop();
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
