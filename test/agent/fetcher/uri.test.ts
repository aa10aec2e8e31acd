import test from 'ava';
import { escapingEntry } from '../../../lib/agent/fetcher/extract.ts';
import { FetchError } from '../../../lib/agent/fetcher/errors.ts';
import { archiveType, insidePath, planUri } from '../../../lib/agent/fetcher/uri.ts';
import { cacheBaseName } from '../../../lib/agent/fetcher/cache.ts';
import type { Uri } from '../../../lib/proto/messages.ts';

const u = (value: string, extra: Partial<Uri> = {}): Uri => ({ value, extract: true, ...extra });

test('schemes: plain absolute paths, file:// and file://localhost are local; http(s) are downloads', (t) => {
  t.deepEqual(planUri(u('/opt/x/run.sh'), undefined).source, { kind: 'local', path: '/opt/x/run.sh' });
  t.deepEqual(planUri(u('file:///opt/x/a%20b.txt'), undefined).source, { kind: 'local', path: '/opt/x/a b.txt' });
  t.deepEqual(planUri(u('file://localhost/opt/x'), undefined).source, { kind: 'local', path: '/opt/x' });
  const h = planUri(u('https://example.com/d/pkg.tgz'), undefined);
  t.is(h.source.kind, 'http');
  t.is(h.name, 'pkg.tgz');
  t.is(h.archive, 'tar');
});

test('a relative path is joined to --frameworks_home, and is an error without one', (t) => {
  t.deepEqual(planUri(u('fw/bin/exec'), '/srv/frameworks').source, { kind: 'local', path: '/srv/frameworks/fw/bin/exec' });
  const e = t.throws(() => planUri(u('fw/bin/exec'), undefined), { instanceOf: FetchError });
  t.is(e.message, "Failed to fetch 'fw/bin/exec': a relative path needs --frameworks_home, which is not set");
  t.is(e.code, 'BAD_URI');
});

test('unsupported schemes and malformed URIs are refused with the reason', (t) => {
  t.is(
    t.throws(() => planUri(u('hdfs://nn/a.jar'), undefined))!.message,
    "Failed to fetch 'hdfs://nn/a.jar': the scheme 'hdfs' is not supported (http, https, file and local paths are)",
  );
  t.regex(t.throws(() => planUri(u('ftp://h/a'), undefined))!.message, /scheme 'ftp' is not supported/);
  t.regex(t.throws(() => planUri(u('file://relative/x'), undefined))!.message, /must be followed by an absolute path/);
  t.regex(t.throws(() => planUri(u('http://h/dir/'), undefined))!.message, /does not end with a file name; give output_file/);
  t.regex(t.throws(() => planUri(u(''), undefined))!.message, /empty/);
  t.regex(t.throws(() => planUri(u('/a\0b'), undefined))!.message, /NUL/);
});

test('the sandbox name: the basename (query string included, as Mesos takes it) or output_file inside the sandbox', (t) => {
  t.is(planUri(u('http://h/a/b.tgz?sig=1'), undefined).name, 'b.tgz?sig=1');
  t.is(planUri(u('http://h/a/b.tgz?sig=1'), undefined).archive, undefined);
  const o = planUri(u('http://h/dl?id=7', { outputFile: 'pkgs/./app.tar.gz' }), undefined);
  t.is(o.name, 'pkgs/app.tar.gz');
  t.is(o.archive, 'tar');
  t.is(o.basename, 'dl?id=7');
  t.regex(
    t.throws(() => planUri(u('http://h/x', { outputFile: '../x' }), undefined))!.message,
    /output_file '..\/x' must be a relative path inside the sandbox/,
  );
  t.regex(t.throws(() => planUri(u('http://h/x', { outputFile: '/etc/x' }), undefined))!.message, /must be a relative path inside/);
  t.regex(t.throws(() => planUri(u('http://h/x', { outputFile: 'a/../../x' }), undefined))!.message, /must be a relative path inside/);
});

test('extraction: only with extract and not executable, by suffix', (t) => {
  for (const [name, type] of [
    ['a.tar', 'tar'],
    ['a.tar.gz', 'tar'],
    ['a.TGZ', 'tar'],
    ['a.tar.bz2', 'tar'],
    ['a.tbz2', 'tar'],
    ['a.tar.xz', 'tar'],
    ['a.txz', 'tar'],
    ['a.zip', 'zip'],
    ['a.gz', 'gz'],
    ['a.jar', undefined],
    ['a.tar.gz.sig', undefined],
  ] as const) {
    t.is(archiveType(name), type, name);
  }
  t.is(planUri(u('http://h/a.tgz', { executable: true }), undefined).archive, undefined);
  t.is(planUri(u('http://h/a.tgz', { extract: false }), undefined).archive, undefined);
});

test('paths inside and entries that escape', (t) => {
  t.is(insidePath('a/b/'), 'a/b');
  t.is(insidePath('./a'), 'a');
  t.is(insidePath('a/../b'), 'b');
  t.is(insidePath('..'), undefined);
  t.is(insidePath('a/../..'), undefined);
  t.is(insidePath('.'), undefined);
  t.is(escapingEntry(['a/', 'a/b', 'c']), undefined);
  t.is(escapingEntry(['a', '../evil']), '../evil');
  t.is(escapingEntry(['a/b/../../../x']), 'a/b/../../../x');
  t.is(escapingEntry(['/etc/passwd']), '/etc/passwd');
  t.is(escapingEntry(['..\\win']), '..\\win');
  t.is(escapingEntry(['a..b/c..']), undefined);
});

test('cache file base names keep the extension: first 10 + _ + last 10 chars past 20', (t) => {
  t.is(cacheBaseName('short.tgz'), 'short.tgz');
  t.is(cacheBaseName('a-very-long-package-name-1.2.3.tar.gz'), 'a-very-lon_2.3.tar.gz');
  t.is(cacheBaseName('12345678901234567890'), '12345678901234567890');
  // Never like the cache's side files (<file>.partial, .meta, .meta.tmp).
  t.is(cacheBaseName('x.partial'), 'x.partial_');
  t.is(cacheBaseName('notes.meta'), 'notes.meta_');
  t.is(cacheBaseName('a.meta.tmp'), 'a.meta.tmp_');
});
