/**
 * The fetcher cache directory is root's alone when the agent is root: a --fetcher_cache_dir that
 * another user owns or may write (or whose parents they may rearrange) is refused at start, and a
 * user's directory inside the cache that is not the agent's (left from a cache directory users
 * could once write) is removed and made again, so a symlink a user planted there never makes
 * root write a file of their choice. Needs root and the `nobody` user.
 */
import anyTest from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Fetcher } from '../../../lib/agent/fetcher/fetcher.ts';
import { checkRootOnlyDirectoryFlag } from '../../../lib/cli/dirs.ts';
import { runCorral } from '../../helpers/corral_run.ts';
import { rootOnly } from '../../helpers/root.ts';
import { tempDir } from './helpers.ts';

const test = rootOnly(anyTest);
const NOBODY = 65534;

function asNobody(cmd: string): void {
  const r = spawnSync('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', 'sh', '-c', cmd]);
  if (r.status !== 0) throw new Error(`as nobody: ${cmd}: ${r.stderr}`);
}

test("a symlink nobody planted in its own directory of the cache never makes root write the link's target", async (t) => {
  const dir = tempDir(t, 'corral-fetch-cachedir-');
  chmodSync(dir, 0o755);
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o755 });
  // nobody's directory inside the cache, owned by nobody (as when the cache was once in /tmp).
  const mine = join(cache, 'nobody');
  mkdirSync(mine);
  chownSync(mine, NOBODY, NOBODY);
  const precious = join(dir, 'precious');
  writeFileSync(precious, 'root data', { mode: 0o600 });
  chmodSync(mine, 0o777); // so that nobody can plant links there whatever its gid
  asNobody(
    `ln -s '${precious}' '${mine}/c1-open.txt.partial' && ln -s '${precious}' '${mine}/c1-open.txt.meta.tmp' && ln -s '${precious}' '${mine}/c1-open.txt'`,
  );
  const open = join(dir, 'open.txt');
  writeFileSync(open, 'for everyone', { mode: 0o644 });
  const sandbox = join(dir, 'sandbox');
  mkdirSync(sandbox);
  const fetcher = new Fetcher({ cacheDir: cache });
  const [got] = await fetcher.fetch({ uris: [{ value: `file://${open}`, cache: true, extract: false }], sandbox, user: 'nobody' });
  t.is(got!.cache, 'miss');
  t.is(readFileSync(precious, 'utf8'), 'root data', "root did not write the symlink's target");
  t.is(statSync(precious).mode & 0o777, 0o600);
  t.is(readFileSync(join(sandbox, 'open.txt'), 'utf8'), 'for everyone');
  const st = lstatSync(mine);
  t.true(st.isDirectory());
  t.is(st.uid, 0, "nobody's cache directory is root's again");
  t.is(st.mode & 0o777, 0o700);
  t.false(lstatSync(join(mine, 'c1-open.txt')).isSymbolicLink());
  // A symlink in place of the user's directory is replaced too.
  const elsewhere = join(dir, 'elsewhere');
  mkdirSync(elsewhere, { mode: 0o777 });
  const s2 = join(dir, 'sandbox2');
  mkdirSync(s2);
  const daemonDir = join(cache, 'daemon');
  symlinkSync(elsewhere, daemonDir);
  await fetcher.fetch({ uris: [{ value: `file://${open}`, cache: true, extract: false }], sandbox: s2, user: 'daemon' });
  t.false(lstatSync(daemonDir).isSymbolicLink());
  t.false(existsSync(join(elsewhere, 'c2-open.txt')), 'nothing cached through the symlink');
});

test('--fetcher_cache_dir: a directory others may write or own, or below one, is refused for a root agent', async (t) => {
  const dir = tempDir(t, 'corral-fetch-cachedir-');
  chmodSync(dir, 0o755);
  const flag = 'fetcher_cache_dir';
  const msg = (where: string, why: RegExp) => ({ message: new RegExp(`^--fetcher_cache_dir: '${where}' ${why.source}`) });
  // /tmp itself: writable by everyone.
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  chmodSync(tmp, 0o1777);
  await t.throwsAsync(checkRootOnlyDirectoryFlag(flag, tmp), msg(tmp, /is writable by others/));
  // Below a sticky /tmp: fine while it does not exist, or is root's.
  await t.notThrowsAsync(checkRootOnlyDirectoryFlag(flag, join(tmp, 'mesos', 'fetch')));
  // A parent a user made (/tmp/mesos by nobody).
  const userMade = join(tmp, 'mesos');
  mkdirSync(userMade);
  chownSync(userMade, NOBODY, NOBODY);
  await t.throwsAsync(checkRootOnlyDirectoryFlag(flag, join(userMade, 'fetch')), msg(userMade, /is owned by uid 65534/));
  // The directory itself owned by nobody, or writable by its group.
  const own = join(dir, 'owned');
  mkdirSync(own, { mode: 0o700 });
  chownSync(own, NOBODY, NOBODY);
  await t.throwsAsync(checkRootOnlyDirectoryFlag(flag, own), msg(own, /is owned by uid 65534/));
  const grp = join(dir, 'group');
  mkdirSync(grp);
  chmodSync(grp, 0o770);
  await t.throwsAsync(checkRootOnlyDirectoryFlag(flag, grp), msg(grp, /is writable by its group/));
  // A parent writable by others without the sticky bit.
  const open = join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  await t.throwsAsync(checkRootOnlyDirectoryFlag(flag, join(open, 'cache')), msg(open, /is writable by others without the sticky bit/));
  // A symlink nobody owns on the way.
  const good = join(dir, 'good');
  mkdirSync(good, { mode: 0o755 });
  const link = join(tmp, 'link');
  asNobody(`ln -s '${good}' '${link}'`);
  await t.throwsAsync(checkRootOnlyDirectoryFlag(flag, join(link, 'cache')), msg(link, /is a symlink owned by uid 65534/));
  await t.notThrowsAsync(checkRootOnlyDirectoryFlag(flag, good));
  // The agent refuses to start: one line naming the flag, exit 2.
  const r = await runCorral(['agent', '--master=127.0.0.1:1', `--work_dir=${join(dir, 'wd')}`, '--ip=127.0.0.1', `--fetcher_cache_dir=${tmp}`], {
    timeoutMs: 30_000,
  });
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  t.is(r.code, 2, r.stderr);
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, /^corral agent: .*--fetcher_cache_dir: .* is writable by others/);
  t.false(existsSync(join(dir, 'wd')));
});

test("at start, a user's cache directory that is not root's is dropped whole: nothing planted there becomes a cache entry", async (t) => {
  const dir = tempDir(t, 'corral-fetch-cachedir-');
  chmodSync(dir, 0o755);
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o755 });
  const mine = join(cache, 'nobody');
  mkdirSync(mine, { mode: 0o777 });
  chownSync(mine, NOBODY, NOBODY);
  // A complete-looking entry of nobody's own making, for a URI its tasks will fetch.
  const uri = 'http://example.invalid/tool';
  asNobody(`printf planted > '${mine}/c1-tool' && printf '%s' '${JSON.stringify({ user: 'nobody', uri, size: 7, mode: 0o444 })}' > '${mine}/c1-tool.meta'`);
  const fetcher = new Fetcher({ cacheDir: cache });
  await fetcher.recoverCache();
  t.is(fetcher.cache.get('nobody', uri), undefined);
  t.false(existsSync(mine));
});
