/**
 * The fetcher with task users (--switch_user): files owned by the user, archives extracted as
 * the user, one cache entry per user, and cached files hard-linked read-only for non-root users.
 * Needs root (chown, running tar as another user): skipped elsewhere, failing under CI=true.
 */
import anyTest from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Fetcher } from '../../../lib/agent/fetcher/fetcher.ts';
import type { Uri } from '../../../lib/proto/messages.ts';
import { rootOnly } from '../../helpers/root.ts';
import { type Teardown, fileServer, makeArchive, pattern, tempDir } from './helpers.ts';

const test = rootOnly(anyTest);
const u = (value: string, extra: Partial<Uri> = {}): Uri => ({ value, extract: true, ...extra });
const uidOf = (name: string) => Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());

function setup(t: Teardown, hardLinks = true) {
  const dir = tempDir(t);
  chmodSync(dir, 0o755); // users must be able to reach their sandboxes
  const fetcher = new Fetcher({ cacheDir: join(dir, 'cache'), hardLinks });
  let n = 0;
  const sandbox = (): string => {
    const s = join(dir, `sandbox-${n++}`);
    mkdirSync(s);
    return s;
  };
  return { dir, fetcher, sandbox };
}

/** Can `user` append to `path`? */
function canWrite(user: string, path: string): boolean {
  return (
    spawnSync('setpriv', ['--reuid', String(uidOf(user)), '--regid', String(uidOf(user)), '--clear-groups', 'sh', '-c', `echo x >> '${path}'`]).status === 0
  );
}

test('each user gets its own cache entry (and download); the files belong to the user', async (t) => {
  const srv = await fileServer(t, { '/shared.bin': pattern(10_000) });
  const { fetcher, sandbox, dir } = setup(t);
  const runs: [string | undefined, string][] = [
    ['nobody', sandbox()],
    ['daemon', sandbox()],
    [undefined, sandbox()],
    ['nobody', sandbox()],
  ];
  const got = [];
  for (const [user, s] of runs)
    got.push((await fetcher.fetch({ uris: [u(`${srv.base}/shared.bin`, { cache: true })], sandbox: s, ...(user ? { user } : {}) }))[0]!.cache);
  t.deepEqual(got, ['miss', 'miss', 'miss', 'hit']);
  t.is(srv.hits('/shared.bin'), 3);
  t.deepEqual(
    readdirSync(join(dir, 'cache'), { recursive: true })
      .map(String)
      .filter((f) => !f.endsWith('.meta'))
      .sort(),
    ['c3-shared.bin', 'daemon', 'daemon/c2-shared.bin', 'nobody', 'nobody/c1-shared.bin'],
  );
  for (const [user, s] of runs) {
    t.is(statSync(s).uid, user ? uidOf(user) : 0, 'the sandbox');
    t.is(statSync(join(s, 'stderr')).uid, user ? uidOf(user) : 0, 'the fetcher log');
    t.true(readFileSync(join(s, 'shared.bin')).equals(pattern(10_000)));
  }
});

test('a cached file is hard-linked read-only (root-owned) for a non-root user, who cannot change the cache through it', async (t) => {
  const srv = await fileServer(t, { '/tool': 'binary', '/data.txt': 'data' });
  const { fetcher, sandbox } = setup(t);
  const [s1, s2] = [sandbox(), sandbox()];
  for (const s of [s1, s2])
    await fetcher.fetch({
      uris: [u(`${srv.base}/tool`, { cache: true, executable: true }), u(`${srv.base}/data.txt`, { cache: true })],
      sandbox: s,
      user: 'nobody',
    });
  const tool = fetcher.cache.get('nobody', `${srv.base}/tool`)!;
  const data = fetcher.cache.get('nobody', `${srv.base}/data.txt`)!;
  for (const s of [s1, s2]) {
    const st = statSync(join(s, 'tool'));
    t.is(st.ino, statSync(tool.path).ino, 'the same inode as the cache file');
    t.is(st.mode & 0o777, 0o555);
    t.is(st.uid, 0);
    t.is(statSync(join(s, 'data.txt')).ino, statSync(data.path).ino);
    t.is(statSync(join(s, 'data.txt')).mode & 0o777, 0o444);
    t.false(canWrite('nobody', join(s, 'data.txt')), 'nobody cannot write the linked file');
  }
  t.is(readFileSync(data.path, 'utf8'), 'data');
  // The same URI asked once as executable and once not: the mode differs from the cached file's, so it is copied.
  const s3 = sandbox();
  const [copied] = await fetcher.fetch({ uris: [u(`${srv.base}/tool`, { cache: true })], sandbox: s3, user: 'nobody' });
  t.false(copied!.linked);
  t.is(statSync(join(s3, 'tool')).mode & 0o777, 0o644);
  t.is(statSync(join(s3, 'tool')).uid, uidOf('nobody'));
});

test('a root task user, or hardLinks off, gets a copy it owns and may modify', async (t) => {
  const srv = await fileServer(t, { '/data.txt': 'data' });
  for (const [user, hardLinks] of [
    ['root', true],
    ['nobody', false],
  ] as const) {
    const { fetcher, sandbox } = setup(t, hardLinks);
    const [s1, s2] = [sandbox(), sandbox()];
    for (const s of [s1, s2]) {
      const [got] = await fetcher.fetch({ uris: [u(`${srv.base}/data.txt`, { cache: true })], sandbox: s, user });
      t.false(got!.linked);
      const st = statSync(join(s, 'data.txt'));
      t.not(st.ino, statSync(fetcher.cache.get(user, `${srv.base}/data.txt`)!.path).ino);
      t.is(st.uid, uidOf(user));
      t.is(st.mode & 0o777, 0o644);
    }
    if (user === 'nobody') t.true(canWrite('nobody', join(s2, 'data.txt')));
  }
});

test('archives are extracted as the user; downloads and output_file directories belong to the user', async (t) => {
  const tgz = makeArchive(tempDir(t), 'p.tgz', { 'app/run.sh': 'echo' });
  const zip = makeArchive(tempDir(t), 'z.zip', { 'z/file': 'zz' });
  const srv = await fileServer(t, { '/p.tgz': tgz, '/z.zip': zip, '/n.gz': (await import('node:zlib')).gzipSync('gz') });
  const { fetcher, sandbox } = setup(t);
  const nobody = uidOf('nobody');
  for (const cache of [false, true]) {
    const s = sandbox();
    await fetcher.fetch({
      uris: [u(`${srv.base}/p.tgz`, { cache, outputFile: 'pkgs/p.tgz' }), u(`${srv.base}/z.zip`, { cache }), u(`${srv.base}/n.gz`, { cache })],
      sandbox: s,
      user: 'nobody',
    });
    for (const p of ['app', 'app/run.sh', 'z', 'z/file', 'n']) t.is(statSync(join(s, p)).uid, nobody, `${p} (cache ${cache})`);
    if (!cache) for (const p of ['pkgs', 'pkgs/p.tgz', 'z.zip', 'n.gz']) t.is(statSync(join(s, p)).uid, nobody, p);
    t.is(readFileSync(join(s, 'n'), 'utf8'), 'gz');
  }
});

test('a user that does not exist fails the fetch', async (t) => {
  const srv = await fileServer(t, { '/f': 'x' });
  const { fetcher, sandbox } = setup(t);
  await t.throwsAsync(fetcher.fetch({ uris: [u(`${srv.base}/f`)], sandbox: sandbox(), user: 'no-such-user-corral' }), {
    message: `Failed to fetch '${srv.base}/f': the user 'no-such-user-corral' does not exist`,
  });
  t.is(srv.total, 0);
});
