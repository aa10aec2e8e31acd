/**
 * The fetcher cache across an agent restart (a second Fetcher over the same directory, as a
 * restarted agent has) and the optional sha256 digest on a URI, against a real HTTP server on
 * loopback that counts its hits.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FetchError } from '../../../lib/agent/fetcher/errors.ts';
import { Fetcher, type FetcherOptions } from '../../../lib/agent/fetcher/fetcher.ts';
import { ValidationError } from '../../../lib/common/errors.ts';
import { type LogRecord, recordingLogger } from '../../../lib/common/log.ts';
import { encodeUri, readUri } from '../../../lib/proto/common_messages.ts';
import { decodeMessage } from '../../../lib/proto/json.ts';
import type { Uri } from '../../../lib/proto/messages.ts';
import { type Teardown, fileServer, pattern, tempDir } from './helpers.ts';

const u = (value: string, extra: Partial<Uri> = {}): Uri => ({ value, extract: true, ...extra });
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function setup(t: Teardown) {
  const dir = tempDir(t);
  const cacheDir = join(dir, 'cache');
  const records: LogRecord[] = [];
  const make = (opts: Partial<FetcherOptions> = {}) => new Fetcher({ cacheDir, progressIntervalMs: 60_000, logger: recordingLogger(records), ...opts });
  let n = 0;
  const sandbox = (): string => {
    const s = join(dir, `sandbox-${n++}`);
    mkdirSync(s);
    return s;
  };
  const files = (): string[] => (existsSync(cacheDir) ? readdirSync(cacheDir, { recursive: true }).map(String).sort() : []);
  const dropped = () =>
    records
      .filter((r) => r.msg === 'dropping a damaged fetcher cache entry')
      .map((r) => ({ path: String(r.fields.path).slice(cacheDir.length + 1), reason: String(r.fields.reason) }));
  return { dir, cacheDir, make, sandbox, files, dropped, records };
}

test('restart: a second fetcher over the same directory gets a hit, the server is not asked again', async (t) => {
  const srv = await fileServer(t, { '/a.bin': pattern(5000), '/b.bin': pattern(3000, 2) });
  const { make, sandbox, files } = setup(t);
  const first = make();
  await first.recoverCache();
  t.is((await first.fetch({ uris: [u(`${srv.base}/a.bin`, { cache: true })], sandbox: sandbox() }))[0]!.cache, 'miss');
  t.is((await first.fetch({ uris: [u(`${srv.base}/b.bin`, { cache: true })], sandbox: sandbox() }))[0]!.cache, 'miss');
  t.deepEqual(files(), ['c1-a.bin', 'c1-a.bin.meta', 'c2-b.bin', 'c2-b.bin.meta']);

  const second = make();
  await second.recoverCache();
  t.is(second.cache.size, 2);
  t.is(second.cache.used, 8000);
  const s = sandbox();
  t.is((await second.fetch({ uris: [u(`${srv.base}/a.bin`, { cache: true })], sandbox: s }))[0]!.cache, 'hit');
  t.true(readFileSync(join(s, 'a.bin')).equals(pattern(5000)));
  t.is(srv.hits('/a.bin'), 1);
  // A new entry does not reuse a recovered serial.
  srv.set('/c.bin', pattern(10));
  await second.fetch({ uris: [u(`${srv.base}/c.bin`, { cache: true })], sandbox: sandbox() });
  t.true(files().includes('c3-c.bin'));
});

test('restart: LRU order is kept and a smaller --fetcher_cache_size evicts the least recently used', async (t) => {
  const srv = await fileServer(t, { '/a': pattern(400), '/b': pattern(400, 2), '/c': pattern(400, 3) });
  const { make, sandbox } = setup(t);
  const first = make();
  for (const p of ['/a', '/b', '/c']) await first.fetch({ uris: [u(`${srv.base}${p}`, { cache: true })], sandbox: sandbox() });
  await new Promise((r) => setTimeout(r, 20));
  await first.fetch({ uris: [u(`${srv.base}/a`, { cache: true })], sandbox: sandbox() }); // a is now the most recent
  await new Promise((r) => setTimeout(r, 50)); // the last use is written on release, asynchronously
  const second = make({ cacheSizeBytes: 900 });
  await second.recoverCache();
  t.is(second.cache.used, 800);
  t.is(second.cache.get(undefined, `${srv.base}/b`), undefined, 'b, the least recently used, is evicted');
  t.truthy(second.cache.get(undefined, `${srv.base}/a`));
  t.truthy(second.cache.get(undefined, `${srv.base}/c`));
  t.is(second.cache.evictions, 1);
  // Next eviction takes c (older than a).
  srv.set('/d', pattern(400, 4));
  await second.fetch({ uris: [u(`${srv.base}/d`, { cache: true })], sandbox: sandbox() });
  t.is(second.cache.get(undefined, `${srv.base}/c`), undefined);
  t.truthy(second.cache.get(undefined, `${srv.base}/a`));
  t.true(second.cache.used <= 900);
});

test('restart: partial, size-mismatched, digest-wrong and metadata-less entries are dropped with a log line, and downloaded again on next use', async (t) => {
  const srv = await fileServer(t, { '/ok': pattern(1000), '/short': pattern(1000, 2), '/flip': pattern(1000, 3), '/bad-meta': pattern(100, 4) });
  const { cacheDir, make, sandbox, files, dropped } = setup(t);
  const first = make();
  // A digest is recorded only when the URI asks for one: '/flip' does, so same-size damage to it is caught.
  const flipSha = createHash('sha256').update(pattern(1000, 3)).digest('hex');
  const opts = (p: string) => (p === '/flip' ? { cache: true, sha256: flipSha } : { cache: true });
  for (const p of ['/ok', '/short', '/flip', '/bad-meta']) await first.fetch({ uris: [u(`${srv.base}${p}`, opts(p))], sandbox: sandbox() });
  // Damage: a truncated file (size differs), same-size different bytes (digest), garbage metadata,
  // a partial download, a file without metadata, metadata without its file.
  truncateSync(join(cacheDir, 'c2-short'), 500);
  writeFileSync(join(cacheDir, 'c3-flip'), pattern(1000, 99));
  writeFileSync(join(cacheDir, 'c4-bad-meta.meta'), '{not json');
  writeFileSync(join(cacheDir, 'c9-cut.bin.partial'), 'half');
  writeFileSync(join(cacheDir, 'c10-orphan'), 'x');
  writeFileSync(join(cacheDir, 'c11-lost.meta'), '{}');
  writeFileSync(join(cacheDir, 'not-ours.txt'), 'keep');

  const second = make();
  await second.recoverCache();
  t.deepEqual(files(), ['c1-ok', 'c1-ok.meta', 'not-ours.txt']);
  t.is(second.cache.size, 1);
  t.is(second.cache.used, 1000);
  const why = Object.fromEntries(dropped().map((d) => [d.path, d.reason]));
  t.regex(why['c2-short']!, /size \(500 bytes\) is not the recorded size \(1000 bytes\)/);
  t.regex(why['c3-flip']!, /sha256 .* is not the recorded one/);
  t.regex(why['c4-bad-meta']!, /metadata is unreadable/);
  t.regex(why['c9-cut.bin.partial']!, /partial/);
  t.regex(why['c10-orphan']!, /metadata is missing/);
  t.regex(why['c11-lost.meta']!, /cached file is missing/);

  for (const p of ['/ok', '/short', '/flip', '/bad-meta']) {
    const s = sandbox();
    const [got] = await second.fetch({ uris: [u(`${srv.base}${p}`, opts(p))], sandbox: s });
    t.is(got!.cache, p === '/ok' ? 'hit' : 'miss', p);
    t.is(srv.hits(p), p === '/ok' ? 1 : 2, p);
    if (p === '/short') t.true(readFileSync(join(s, 'short')).equals(pattern(1000, 2)));
  }
});

test('restart: per-user entries come back under their user', async (t) => {
  const srv = await fileServer(t, { '/f': 'data' });
  const { cacheDir, make, files } = setup(t);
  const first = make();
  // The cache's bookkeeping alone (no user switching here): an entry filed under a user.
  const { entry } = first.cache.acquire('alice', `${srv.base}/f`, 'f');
  await first.cache.ensureDir('alice');
  t.true(first.cache.reserve(entry, 4));
  writeFileSync(entry.path, 'data');
  await first.cache.persist(entry, 4);
  first.cache.complete(entry, 4);
  first.cache.release(entry);
  // A user whose name looks like a cache file keeps its directory.
  const odd = first.cache.acquire('c2-x', `${srv.base}/f`, 'f').entry;
  await first.cache.ensureDir('c2-x');
  t.true(first.cache.reserve(odd, 4));
  writeFileSync(odd.path, 'data');
  await first.cache.persist(odd, 4);
  first.cache.complete(odd, 4);
  first.cache.release(odd);
  // A file moved to another user's directory is not taken for that user's.
  mkdirSync(join(cacheDir, 'bob'));
  writeFileSync(join(cacheDir, 'bob', 'c5-f'), 'data');
  writeFileSync(join(cacheDir, 'bob', 'c5-f.meta'), readFileSync(`${entry.path}.meta`));
  const second = make();
  await second.recoverCache();
  t.is(second.cache.get('alice', `${srv.base}/f`)?.state, 'ready');
  t.is(second.cache.get('c2-x', `${srv.base}/f`)?.state, 'ready');
  t.is(second.cache.get('bob', `${srv.base}/f`), undefined);
  t.deepEqual(files(), ['alice', 'alice/c1-f', 'alice/c1-f.meta', 'c2-x', 'c2-x/c2-f', 'c2-x/c2-f.meta']);
});

test('sha256: a matching digest caches the file (verified once) and records it', async (t) => {
  const body = pattern(20_000);
  const srv = await fileServer(t, { '/d.bin': body });
  const { cacheDir, make, sandbox } = setup(t);
  const f = make();
  const uri = u(`${srv.base}/d.bin`, { cache: true, sha256: sha(body).toUpperCase() });
  t.is((await f.fetch({ uris: [uri], sandbox: sandbox() }))[0]!.cache, 'miss');
  t.is((await f.fetch({ uris: [uri], sandbox: sandbox() }))[0]!.cache, 'hit');
  t.is(srv.hits('/d.bin'), 1);
  t.is(JSON.parse(readFileSync(join(cacheDir, 'c1-d.bin.meta'), 'utf8')).sha256, sha(body));
  // Direct (uncached) downloads are verified too.
  const s = sandbox();
  await f.fetch({ uris: [u(`${srv.base}/d.bin`, { sha256: sha(body) })], sandbox: s });
  t.true(readFileSync(join(s, 'd.bin')).equals(body));
  // A hit asked for another digest fails: the cached bytes are known not to match.
  const err = await t.throwsAsync(f.fetch({ uris: [u(`${srv.base}/d.bin`, { cache: true, sha256: 'a'.repeat(64) })], sandbox: sandbox() }), {
    instanceOf: FetchError,
  });
  t.regex(err!.message, /sha256 mismatch: expected a{64}, got [0-9a-f]{64}/);
});

test('sha256: a mismatch fails the fetch naming the URI and both digests; nothing is cached, nothing left in the sandbox', async (t) => {
  const body = pattern(20_000);
  const srv = await fileServer(t, { '/d.bin': body });
  const { make, sandbox, files } = setup(t);
  const f = make();
  const wrong = '0'.repeat(64);
  for (const cache of [true, false]) {
    const s = sandbox();
    const err = await t.throwsAsync(f.fetch({ uris: [u(`${srv.base}/d.bin`, { cache, sha256: wrong })], sandbox: s }), { instanceOf: FetchError });
    t.is(err!.message, `Failed to fetch '${srv.base}/d.bin': sha256 mismatch: expected ${wrong}, got ${sha(body)}`);
    t.false(existsSync(join(s, 'd.bin')));
  }
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(files(), []);
  t.is(f.cache.size, 0);
  t.is(f.cache.used, 0);
  // Local files are checked too.
  const { dir } = setup(t);
  writeFileSync(join(dir, 'l.bin'), 'local');
  await t.throwsAsync(f.fetch({ uris: [u(join(dir, 'l.bin'), { cache: true, sha256: wrong })], sandbox: sandbox() }), { message: /sha256 mismatch/ });
  await f.fetch({ uris: [u(join(dir, 'l.bin'), { cache: true, sha256: sha('local') })], sandbox: sandbox() });
  t.is(f.cache.get(undefined, join(dir, 'l.bin'))?.sha256, sha('local'));
});

test('sha256 in the URI codec: read, written back, and bad text rejected naming the field', (t) => {
  const good = 'AB'.repeat(32);
  const uri = decodeMessage({ value: 'http://h/f', sha256: good }, 'uri', readUri);
  t.is(uri.sha256, good.toLowerCase());
  t.is(encodeUri(uri).sha256, good.toLowerCase());
  t.false('sha256' in encodeUri({ value: 'http://h/f', extract: true }));
  for (const bad of ['abc', 'g'.repeat(64), 'a'.repeat(65), '']) {
    const err = t.throws(() => decodeMessage({ value: 'http://h/f', sha256: bad }, 'uri', readUri), { instanceOf: ValidationError });
    t.is(err!.field, 'uri.sha256');
    t.regex(err!.message, /sha256/);
  }
  t.throws(() => decodeMessage({ value: 'http://h/f', sha256: 7 }, 'uri', readUri), { instanceOf: ValidationError });
});
