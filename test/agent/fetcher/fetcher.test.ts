/**
 * The fetcher against a real HTTP server on loopback (its requests counted) and real files:
 * downloads, local copies, names, modes, extraction with the real tools, the cache (one
 * download for concurrent requests, LRU eviction, bypass), and every failure with its message.
 * Runs as any user: nothing here switches users (see users.root.test.ts for that).
 */
import test from 'ava';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Fetcher, type FetcherOptions } from '../../../lib/agent/fetcher/fetcher.ts';
import { FetchError } from '../../../lib/agent/fetcher/errors.ts';
import type { Uri } from '../../../lib/proto/messages.ts';
import { type Teardown, deadPort, fileServer, makeArchive, pattern, tempDir } from './helpers.ts';

const u = (value: string, extra: Partial<Uri> = {}): Uri => ({ value, extract: true, ...extra });

function setup(t: Teardown, opts: Partial<FetcherOptions> = {}) {
  const dir = tempDir(t);
  const fetcher = new Fetcher({ cacheDir: join(dir, 'cache'), progressIntervalMs: 60_000, ...opts });
  let n = 0;
  const sandbox = (): string => {
    const s = join(dir, `sandbox-${n++}`);
    mkdirSync(s);
    return s;
  };
  const cacheFiles = (): string[] =>
    existsSync(join(dir, 'cache'))
      ? readdirSync(join(dir, 'cache'), { recursive: true })
          .map(String)
          .filter((f) => !f.endsWith('.meta'))
          .sort()
      : [];
  return { dir, fetcher, sandbox, cacheFiles };
}

const mode = (p: string) => statSync(p).mode & 0o777;

/** Wait (polling) until `cond` holds: for states reached through real I/O, however loaded the machine. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 1000) throw new Error('condition not reached in 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}
const stderrOf = (sandbox: string) => readFileSync(join(sandbox, 'stderr'), 'utf8');

test('http: the file lands in the sandbox under its basename, 0644, with the fetch logged to the sandbox stderr', async (t) => {
  const body = pattern(300_000);
  const srv = await fileServer(t, { '/d/data.bin': body });
  const { fetcher, sandbox } = setup(t);
  const s = sandbox();
  const got = await fetcher.fetch({ uris: [u(`${srv.base}/d/data.bin`)], sandbox: s });
  t.deepEqual(got, [{ uri: `${srv.base}/d/data.bin`, path: join(s, 'data.bin'), cache: 'none', linked: false, extracted: false }]);
  t.true(readFileSync(join(s, 'data.bin')).equals(body));
  t.is(mode(join(s, 'data.bin')), 0o644);
  t.is(srv.hits('/d/data.bin'), 1);
  t.regex(stderrOf(s), /fetcher: Downloading 'http:\/\/127\.0\.0\.1:\d+\/d\/data\.bin' \(0\.3 MiB\) to 'data\.bin'/);
  t.regex(stderrOf(s), /fetcher: Fetched 1 URI\(s\) in/);
  t.like(Object.fromEntries(fetcher.metrics().map(([k, r]) => [k, r()])), {
    'containerizer/fetcher/task_fetches_succeeded': 1,
    'containerizer/fetcher/task_fetches_failed': 0,
    'containerizer/fetcher/bytes_downloaded': 300_000,
    'containerizer/fetcher/cache_size_total_bytes': 2 * 1024 ** 3,
  });
});

test('redirects are followed; output_file names the result (a subdirectory too); executable gives 0755 and is never extracted', async (t) => {
  const tgz = makeArchive(tempDir(t), 'tool.tgz', { 'inner.txt': 'x' });
  const srv = await fileServer(t, { '/old': { redirect: '/new/tool.tgz' }, '/new/tool.tgz': tgz, '/dl': 'script' });
  const { fetcher, sandbox } = setup(t);
  const s = sandbox();
  await fetcher.fetch({
    uris: [u(`${srv.base}/old`, { executable: true, outputFile: 'bin/tool.tgz' }), u(`${srv.base}/dl?id=3`, { outputFile: 'run.sh', executable: true })],
    sandbox: s,
  });
  t.true(readFileSync(join(s, 'bin/tool.tgz')).equals(tgz));
  t.is(mode(join(s, 'bin/tool.tgz')), 0o755);
  t.false(existsSync(join(s, 'inner.txt')), 'executable: not extracted');
  t.is(readFileSync(join(s, 'run.sh'), 'utf8'), 'script');
  t.is(mode(join(s, 'run.sh')), 0o755);
  t.is(srv.hits('/old'), 1);
  t.is(srv.hits('/new/tool.tgz'), 1);
});

test('extraction with the real tools: tar.gz, tar.bz2, tar.xz, tar, zip and .gz; a direct download keeps the archive too', async (t) => {
  const work = tempDir(t);
  const files = { 'app/bin/run': '#!/bin/sh\necho hi\n', 'app/conf/a.conf': 'k=v\n' };
  const routes: Record<string, Buffer> = {};
  for (const name of ['p.tar.gz', 'p.tar.bz2', 'p.tar.xz', 'p.tar', 'p.zip']) routes[`/${name}`] = makeArchive(work, name, files);
  writeFileSync(join(work, 'notes.txt'), 'gzipped notes\n');
  routes['/notes.txt.gz'] = (await import('node:zlib')).gzipSync(readFileSync(join(work, 'notes.txt')));
  const srv = await fileServer(t, routes);
  const { fetcher, sandbox } = setup(t);
  for (const name of Object.keys(routes).map((p) => p.slice(1))) {
    const s = sandbox();
    const [got] = await fetcher.fetch({ uris: [u(`${srv.base}/${name}`)], sandbox: s });
    t.true(got!.extracted, name);
    t.true(existsSync(join(s, name)), `${name}: the archive stays (cache bypassed)`);
    if (name === 'notes.txt.gz') {
      t.is(readFileSync(join(s, 'notes.txt'), 'utf8'), 'gzipped notes\n');
      continue;
    }
    t.is(readFileSync(join(s, 'app/bin/run'), 'utf8'), files['app/bin/run'], name);
    t.is(readFileSync(join(s, 'app/conf/a.conf'), 'utf8'), files['app/conf/a.conf'], name);
  }
  // extract: false keeps the archive as it is.
  const s = sandbox();
  await fetcher.fetch({ uris: [u(`${srv.base}/p.zip`, { extract: false })], sandbox: s });
  t.deepEqual(readdirSync(s).sort(), ['p.zip', 'stderr']);
});

test('an archive with an entry outside the sandbox fails the fetch, naming the entry, and extracts nothing', async (t) => {
  const work = tempDir(t);
  // zip keeps "../" names as given.
  mkdirSync(join(work, 'a/b'), { recursive: true });
  writeFileSync(join(work, 'a/evil'), 'x');
  writeFileSync(join(work, 'a/b/ok'), 'y');
  (await import('node:child_process')).execFileSync('zip', ['-q', join(work, 'evil.zip'), 'ok', '../evil'], { cwd: join(work, 'a/b') });
  (await import('node:child_process')).execFileSync('tar', ['-c', '-P', '-f', join(work, 'evil.tar'), 'ok', '../evil'], { cwd: join(work, 'a/b') });
  const srv = await fileServer(t, { '/evil.zip': readFileSync(join(work, 'evil.zip')), '/evil.tar': readFileSync(join(work, 'evil.tar')) });
  const { fetcher, sandbox, dir } = setup(t);
  for (const name of ['evil.zip', 'evil.tar']) {
    const s = sandbox();
    const e = await t.throwsAsync(fetcher.fetch({ uris: [u(`${srv.base}/${name}`)], sandbox: s }), { instanceOf: FetchError });
    t.is(e!.message, `Failed to fetch '${srv.base}/${name}': the archive entry '../evil' would be extracted outside the sandbox; nothing was extracted`);
    t.false(existsSync(join(s, 'ok')));
    t.false(existsSync(join(dir, 'evil')));
    t.regex(stderrOf(s), /would be extracted outside the sandbox/);
  }
});

test('local sources: absolute paths, file:// URIs, and relative paths under --frameworks_home', async (t) => {
  const { fetcher: _f, sandbox, dir } = setup(t);
  const home = join(dir, 'home');
  mkdirSync(join(home, 'fw/bin'), { recursive: true });
  writeFileSync(join(home, 'fw/bin/executor'), 'exec');
  writeFileSync(join(dir, 'plain.txt'), 'plain');
  const fetcher = new Fetcher({ cacheDir: join(dir, 'cache'), frameworksHome: home });
  const s = sandbox();
  await fetcher.fetch({
    uris: [u('fw/bin/executor', { executable: true }), u(join(dir, 'plain.txt')), u(`file://${join(dir, 'plain.txt')}`, { outputFile: 'copy.txt' })],
    sandbox: s,
  });
  t.is(readFileSync(join(s, 'executor'), 'utf8'), 'exec');
  t.is(mode(join(s, 'executor')), 0o755);
  t.is(readFileSync(join(s, 'plain.txt'), 'utf8'), 'plain');
  t.is(readFileSync(join(s, 'copy.txt'), 'utf8'), 'plain');
  const e = await t.throwsAsync(fetcher.fetch({ uris: [u(join(dir, 'missing.bin'))], sandbox: sandbox() }));
  t.is(e!.message, `Failed to fetch '${join(dir, 'missing.bin')}': no such file '${join(dir, 'missing.bin')}'`);
  const noHome = new Fetcher({ cacheDir: join(dir, 'cache') });
  await t.throwsAsync(noHome.fetch({ uris: [u('fw/bin/executor')], sandbox: sandbox() }), {
    message: "Failed to fetch 'fw/bin/executor': a relative path needs --frameworks_home, which is not set",
  });
});

test('failures name the URI and the reason: 404, 500, connection refused, truncated body, stall, unsupported scheme', async (t) => {
  const srv = await fileServer(t, {
    '/boom': { status: 500 },
    '/cut.bin': { body: pattern(100_000), truncateAt: 30_000 },
    '/stall.bin': { stall: true },
  });
  const port = await deadPort();
  const { fetcher, sandbox } = setup(t, { stallTimeoutMs: 300 });
  const fails = async (uri: Uri) => (await t.throwsAsync(fetcher.fetch({ uris: [uri], sandbox: sandbox() }), { instanceOf: FetchError }))!.message;
  t.is(await fails(u(`${srv.base}/nope.tgz`)), `Failed to fetch '${srv.base}/nope.tgz': HTTP 404 Not Found`);
  t.is(await fails(u(`${srv.base}/boom`)), `Failed to fetch '${srv.base}/boom': HTTP 500 Internal Server Error`);
  t.regex(
    await fails(u(`http://127.0.0.1:${port}/x.bin`)),
    new RegExp(`^Failed to fetch 'http://127.0.0.1:${port}/x.bin': connection refused \\(connect ECONNREFUSED 127.0.0.1:${port}\\)$`),
  );
  t.regex(await fails(u(`${srv.base}/cut.bin`)), /^Failed to fetch '.*\/cut\.bin': truncated download: the connection closed after \d+ of 100000 bytes$/);
  t.regex(await fails(u(`${srv.base}/stall.bin`)), /no data for 0\.3 s \(stalled\)/);
  t.is(
    await fails(u('s3://bucket/key.tgz')),
    "Failed to fetch 's3://bucket/key.tgz': the scheme 's3' is not supported (http, https, file and local paths are)",
  );
  t.is(fetcher.counts.failed, 6);
  // A bad URI anywhere in the list fails the request before anything is fetched.
  const s = sandbox();
  await t.throwsAsync(fetcher.fetch({ uris: [u(`${srv.base}/cut.bin`), u('hdfs://x/y')], sandbox: s }), { message: /scheme 'hdfs'/ });
  t.is(srv.hits('/cut.bin'), 1);
});

test('cache: 20 concurrent fetches of one URI make one download; later fetches are hits', async (t) => {
  const body = pattern(2_000_000);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const srv = await fileServer(t, { '/big.bin': { body, gate } });
  const { fetcher, sandbox, cacheFiles } = setup(t);
  const sandboxes = Array.from({ length: 20 }, sandbox);
  const all = Promise.all(sandboxes.map((s) => fetcher.fetch({ uris: [u(`${srv.base}/big.bin`, { cache: true })], sandbox: s })));
  await until(() => fetcher.cache.get(undefined, `${srv.base}/big.bin`)?.refs === 20); // all twenty share the pending entry
  open();
  const results = (await all).map((r) => r[0]!.cache);
  t.is(srv.hits('/big.bin'), 1);
  t.deepEqual(results.sort(), ['miss', ...Array(19).fill('hit')].sort());
  for (const s of sandboxes) t.true(readFileSync(join(s, 'big.bin')).equals(body));
  t.deepEqual(cacheFiles(), ['c1-big.bin']);
  t.is(mode(join(fetcher.cache.dir, 'c1-big.bin')), 0o400, 'an entry of no user is readable by root only');
  await fetcher.fetch({ uris: [u(`${srv.base}/big.bin`, { cache: true })], sandbox: sandbox() });
  t.is(srv.hits('/big.bin'), 1);
  const m = Object.fromEntries(fetcher.metrics().map(([k, r]) => [k, r()]));
  t.like(m, {
    'containerizer/fetcher/cache_misses': 1,
    'containerizer/fetcher/cache_hits': 20,
    'containerizer/fetcher/bytes_downloaded': 2_000_000,
    'containerizer/fetcher/bytes_from_cache': 21 * 2_000_000,
    'containerizer/fetcher/cache_size_used_bytes': 2_000_000,
  });
});

test('cache: an archive from the cache puts only its contents in the sandbox', async (t) => {
  const tgz = makeArchive(tempDir(t), 'p.tgz', { 'x/y.txt': 'yy' });
  const srv = await fileServer(t, { '/p.tgz': tgz });
  const { fetcher, sandbox } = setup(t);
  for (const expected of ['miss', 'hit'] as const) {
    const s = sandbox();
    const [got] = await fetcher.fetch({ uris: [u(`${srv.base}/p.tgz`, { cache: true })], sandbox: s });
    t.is(got!.cache, expected);
    t.is(readFileSync(join(s, 'x/y.txt'), 'utf8'), 'yy');
    t.deepEqual(readdirSync(s).sort(), ['stderr', 'x']);
  }
  t.is(srv.hits('/p.tgz'), 1);
});

test('cache: least recently used entries are evicted to make room; evicted URIs are downloaded again', async (t) => {
  const srv = await fileServer(t, { '/a': pattern(1000, 1), '/b': pattern(1000, 2), '/c': pattern(1000, 3) });
  const { fetcher, sandbox, cacheFiles } = setup(t, { cacheSizeBytes: 2500 });
  const get = async (p: string) => (await fetcher.fetch({ uris: [u(`${srv.base}${p}`, { cache: true })], sandbox: sandbox() }))[0]!.cache;
  t.is(await get('/a'), 'miss');
  t.is(await get('/b'), 'miss');
  t.is(await get('/a'), 'hit'); // b is now the least recently used
  t.is(await get('/c'), 'miss'); // evicts b
  t.deepEqual(cacheFiles(), ['c1-a', 'c3-c']);
  t.is(fetcher.cache.evictions, 1);
  t.is(fetcher.cache.used, 2000);
  t.is(await get('/b'), 'miss'); // evicts a (LRU), downloaded again
  t.deepEqual([srv.hits('/a'), srv.hits('/b'), srv.hits('/c')], [1, 2, 1]);
  t.deepEqual(cacheFiles(), ['c3-c', 'c4-b']);
});

test('cache: an entry in use is never evicted; what cannot get room goes straight to the sandbox', async (t) => {
  // /held sends its headers (its 800 bytes get reserved) and then its body slowly.
  const srv = await fileServer(t, { '/held': { body: pattern(800), pieces: 8, pieceDelayMs: 60 }, '/other': pattern(800, 9) });
  const { fetcher, sandbox, cacheFiles } = setup(t, { cacheSizeBytes: 1000 });
  const s1 = sandbox();
  const held = fetcher.fetch({ uris: [u(`${srv.base}/held`, { cache: true })], sandbox: s1 });
  await until(() => fetcher.cache.used === 800); // its headers came: the room is reserved
  const s2 = sandbox();
  const [other] = await fetcher.fetch({ uris: [u(`${srv.base}/other`, { cache: true })], sandbox: s2 });
  t.is(other!.cache, 'bypass');
  t.true(readFileSync(join(s2, 'other')).equals(pattern(800, 9)));
  t.regex(stderrOf(s2), /bypasses the cache: no room for 800 bytes: the cache's entries are in use/);
  t.is(fetcher.cache.get(undefined, `${srv.base}/held`)!.state, 'pending');
  t.is((await held)[0]!.cache, 'miss');
  t.deepEqual(cacheFiles(), ['c1-held']);
});

test('cache: a file larger than the whole cache bypasses it (each fetch downloads, nothing is cached)', async (t) => {
  const srv = await fileServer(t, { '/huge.bin': pattern(5000) });
  const { fetcher, sandbox, cacheFiles } = setup(t, { cacheSizeBytes: 4096 });
  const [s1, s2] = [sandbox(), sandbox()];
  const got = await Promise.all([s1, s2].map((s) => fetcher.fetch({ uris: [u(`${srv.base}/huge.bin`, { cache: true })], sandbox: s })));
  t.deepEqual(
    got.map((g) => g[0]!.cache),
    ['bypass', 'bypass'],
  );
  for (const s of [s1, s2]) t.true(readFileSync(join(s, 'huge.bin')).equals(pattern(5000)));
  t.is(srv.hits('/huge.bin'), 2);
  t.deepEqual(cacheFiles(), []);
  t.is(fetcher.cache.used, 0);
  t.regex(stderrOf(s1) + stderrOf(s2), /bypasses the cache: its size \(5000 bytes\) exceeds the whole cache \(--fetcher_cache_size 4096 bytes\)/);
});

test('cache: a response without Content-Length is not cached (its size is unknown) but is delivered', async (t) => {
  const srv = await fileServer(t, { '/chunked.bin': { body: pattern(10_000), chunked: true } });
  const { fetcher, sandbox, cacheFiles } = setup(t);
  const s = sandbox();
  t.is((await fetcher.fetch({ uris: [u(`${srv.base}/chunked.bin`, { cache: true })], sandbox: s }))[0]!.cache, 'bypass');
  t.true(readFileSync(join(s, 'chunked.bin')).equals(pattern(10_000)));
  t.deepEqual(cacheFiles(), []);
});

test('cache: a failed download is not cached, and every request waiting for it gets the same error from one request', async (t) => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const srv = await fileServer(t, { '/bad.tgz': { status: 503, gate } });
  const { fetcher, sandbox, cacheFiles } = setup(t);
  const all = Promise.allSettled(Array.from({ length: 5 }, () => fetcher.fetch({ uris: [u(`${srv.base}/bad.tgz`, { cache: true })], sandbox: sandbox() })));
  await until(() => fetcher.cache.get(undefined, `${srv.base}/bad.tgz`)?.refs === 5); // all five wait on the one entry
  open();
  const results = await all;
  t.is(srv.hits('/bad.tgz'), 1);
  for (const r of results) {
    t.is(r.status, 'rejected');
    t.is((r as PromiseRejectedResult).reason.message, `Failed to fetch '${srv.base}/bad.tgz': HTTP 503 Service Unavailable`);
  }
  t.deepEqual(cacheFiles(), []);
  t.is(fetcher.cache.size, 0);
  // Nothing was remembered: the next request asks the server again.
  srv.set('/bad.tgz', 'fixed');
  await fetcher.fetch({ uris: [u(`${srv.base}/bad.tgz`, { cache: true, extract: false })], sandbox: sandbox() });
  t.is(srv.hits('/bad.tgz'), 2);
  // A truncated download is not cached either.
  srv.set('/cut', { body: pattern(5000), truncateAt: 100 });
  await t.throwsAsync(fetcher.fetch({ uris: [u(`${srv.base}/cut`, { cache: true })], sandbox: sandbox() }), { message: /truncated download/ });
  t.is(fetcher.cache.get(undefined, `${srv.base}/cut`), undefined);
  t.false(cacheFiles().some((f) => f.includes('cut')));
});

test('cache: trouble in the cache itself falls back to a direct download (cache directory unusable, cached file deleted)', async (t) => {
  const srv = await fileServer(t, { '/f.txt': 'content' });
  const { dir, sandbox } = setup(t);
  writeFileSync(join(dir, 'not-a-dir'), '');
  const broken = new Fetcher({ cacheDir: join(dir, 'not-a-dir') });
  const s = sandbox();
  t.is((await broken.fetch({ uris: [u(`${srv.base}/f.txt`, { cache: true })], sandbox: s }))[0]!.cache, 'bypass');
  t.is(readFileSync(join(s, 'f.txt'), 'utf8'), 'content');
  t.is(broken.counts.failures, 1);
  t.regex(stderrOf(s), /The cache could not hold .*downloading it directly/);

  const fetcher = new Fetcher({ cacheDir: join(dir, 'cache') });
  await fetcher.fetch({ uris: [u(`${srv.base}/f.txt`, { cache: true })], sandbox: sandbox() });
  rmSync(fetcher.cache.get(undefined, `${srv.base}/f.txt`)!.path);
  const s2 = sandbox();
  t.is((await fetcher.fetch({ uris: [u(`${srv.base}/f.txt`, { cache: true })], sandbox: s2 }))[0]!.cache, 'bypass');
  t.is(readFileSync(join(s2, 'f.txt'), 'utf8'), 'content');
  t.is(fetcher.cache.get(undefined, `${srv.base}/f.txt`), undefined, 'the entry is forgotten');
  t.is(srv.hits('/f.txt'), 3);
});

test('cache: local files are cached too; clearCache empties the directory and the table', async (t) => {
  const { dir, fetcher, sandbox, cacheFiles } = setup(t);
  writeFileSync(join(dir, 'local.bin'), pattern(4096));
  for (const expected of ['miss', 'hit'] as const) {
    const s = sandbox();
    t.is((await fetcher.fetch({ uris: [u(join(dir, 'local.bin'), { cache: true })], sandbox: s }))[0]!.cache, expected);
    t.true(readFileSync(join(s, 'local.bin')).equals(pattern(4096)));
  }
  t.deepEqual(cacheFiles(), ['c1-local.bin']);
  writeFileSync(join(fetcher.cache.dir, 'not-ours.txt'), 'keep');
  await fetcher.clearCache();
  t.deepEqual(cacheFiles(), ['not-ours.txt'], 'only cache files are deleted');
  t.is(fetcher.cache.size, 0);
  t.is(fetcher.cache.used, 0);
});

test('a slow download logs its progress to the sandbox; an abort stops it', async (t) => {
  const srv = await fileServer(t, {
    '/slow.bin': { body: pattern(64_000), pieces: 8, pieceDelayMs: 60 },
    '/slower.bin': { body: pattern(64_000), pieces: 50, pieceDelayMs: 100 },
  });
  const { fetcher, sandbox } = setup(t, { progressIntervalMs: 100 });
  const s = sandbox();
  await fetcher.fetch({ uris: [u(`${srv.base}/slow.bin`)], sandbox: s });
  t.regex(stderrOf(s), /'http:\/\/.*\/slow\.bin': [0-9.]+ MiB of 0\.1 MiB \(\d+%\) after \d+ s/);
  const ac = new AbortController();
  const s2 = sandbox();
  const p = fetcher.fetch({ uris: [u(`${srv.base}/slower.bin`, { cache: true })], sandbox: s2, signal: ac.signal });
  setTimeout(() => ac.abort(), 150);
  const e = await t.throwsAsync(p, { instanceOf: FetchError });
  t.is(e!.code, 'FETCH_ABORTED');
  t.is(fetcher.cache.size, 0, 'the aborted download left no entry');
});

test('symlinks an archive plants are never written through: not by later URIs, not for the task output', async (t) => {
  const work = tempDir(t);
  const outside = join(work, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'target.txt'), 'untouched');
  const { execFileSync } = await import('node:child_process');
  const src = join(work, 'src');
  mkdirSync(src);
  execFileSync('ln', ['-s', join(outside, 'target.txt'), join(src, 'file.txt')]);
  execFileSync('ln', ['-s', outside, join(src, 'dir')]);
  execFileSync('tar', ['-c', '-f', join(work, 'links.tar'), '-C', src, 'file.txt', 'dir']);
  execFileSync('ln', ['-s', join(outside, 'target.txt'), join(src, 'stderr')]);
  execFileSync('tar', ['-c', '-f', join(work, 'stdio.tar'), '-C', src, 'stderr']);
  const srv = await fileServer(t, {
    '/links.tar': readFileSync(join(work, 'links.tar')),
    '/stdio.tar': readFileSync(join(work, 'stdio.tar')),
    '/new.txt': 'new',
  });
  const { fetcher, sandbox } = setup(t);

  // A later URI of the same name replaces the planted link instead of writing through it.
  const s1 = sandbox();
  await fetcher.fetch({ uris: [u(`${srv.base}/links.tar`), u(`${srv.base}/new.txt`, { outputFile: 'file.txt' })], sandbox: s1 });
  t.is(readFileSync(join(s1, 'file.txt'), 'utf8'), 'new');
  t.is(readFileSync(join(outside, 'target.txt'), 'utf8'), 'untouched');
  // A later URI may not go through a planted directory link.
  const s2 = sandbox();
  await t.throwsAsync(fetcher.fetch({ uris: [u(`${srv.base}/links.tar`), u(`${srv.base}/new.txt`, { outputFile: 'dir/new.txt' })], sandbox: s2 }), {
    message: `Failed to fetch '${srv.base}/new.txt': 'dir/new.txt' cannot be written: 'dir' in the sandbox is not a directory`,
  });
  t.deepEqual(readdirSync(outside), ['target.txt']);
  // The task's stdout/stderr must stay plain files.
  const s3 = sandbox();
  await t.throwsAsync(fetcher.fetch({ uris: [u(`${srv.base}/stdio.tar`)], sandbox: s3 }), {
    message: `Failed to fetch '${srv.base}/stdio.tar': the archive put a symlink at 'stderr' in the sandbox, where the task's output goes`,
  });
  t.is(readFileSync(join(outside, 'target.txt'), 'utf8'), 'untouched', 'the fetcher log did not follow the link');
});

test('cache: a miss writes the sandbox copy as the file downloads; a failed or mismatched miss leaves nothing in the sandbox', async (t) => {
  const body = pattern(300_000);
  const srv = await fileServer(t, { '/data.bin': body, '/cut': { body: pattern(5000), truncateAt: 100 } });
  const { fetcher, sandbox, cacheFiles } = setup(t);
  const s = sandbox();
  const [got] = await fetcher.fetch({ uris: [u(`${srv.base}/data.bin`, { cache: true, extract: false })], sandbox: s });
  t.is(got!.cache, 'miss');
  t.false(got!.linked);
  t.deepEqual(readFileSync(join(s, 'data.bin')), Buffer.from(body));
  t.is(mode(join(s, 'data.bin')), 0o644);
  t.regex(stderrOf(s), /Copied '.*data\.bin' to 'data\.bin' as it entered the cache/);
  // The sandbox's copy is a file of its own: the task changing it leaves the cached file alone.
  writeFileSync(join(s, 'data.bin'), 'changed by the task');
  const s2 = sandbox();
  t.is((await fetcher.fetch({ uris: [u(`${srv.base}/data.bin`, { cache: true, extract: false })], sandbox: s2 }))[0]!.cache, 'hit');
  t.deepEqual(readFileSync(join(s2, 'data.bin')), Buffer.from(body));
  t.is(srv.hits('/data.bin'), 1);

  const s3 = sandbox();
  await t.throwsAsync(fetcher.fetch({ uris: [u(`${srv.base}/cut`, { cache: true })], sandbox: s3 }), { message: /truncated download/ });
  t.false(existsSync(join(s3, 'cut')));
  const s4 = sandbox();
  const wrong = '0'.repeat(64);
  srv.set('/other.bin', 'hello');
  await t.throwsAsync(fetcher.fetch({ uris: [u(`${srv.base}/other.bin`, { cache: true, extract: false, sha256: wrong })], sandbox: s4 }), {
    message: /sha256 mismatch/,
  });
  t.false(existsSync(join(s4, 'other.bin')));
  t.false(cacheFiles().some((f) => f.includes('other') || f.includes('cut')));
});
