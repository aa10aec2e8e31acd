/**
 * The fetcher works with the task user's rights (the agent is root, the task runs as another
 * user): a task cannot fetch a host file its user may not read (with or without the cache), the
 * cache never hands a file fetched with root's rights to another user, supplementary groups
 * count, archives are extracted as the user, and root writes nothing outside the sandbox
 * whatever the user puts in the sandbox's path meanwhile. Needs root and the `nobody` user.
 */
import anyTest from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Fetcher } from '../../../lib/agent/fetcher/fetcher.ts';
import type { Uri } from '../../../lib/proto/messages.ts';
import { rootOnly } from '../../helpers/root.ts';
import { type Teardown, fileServer, tempDir } from './helpers.ts';

const test = rootOnly(anyTest);
const u = (value: string, extra: Partial<Uri> = {}): Uri => ({ value, extract: true, ...extra });
const idOf = (flag: '-u' | '-g', name: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
const SECRET = 'root-only-secret-7f3a9c';

function setup(t: Teardown) {
  const dir = tempDir(t, 'corral-fetch-rights-');
  chmodSync(dir, 0o755); // users must be able to reach their sandboxes
  const fetcher = new Fetcher({ cacheDir: join(dir, 'cache') });
  let n = 0;
  const sandbox = (): string => {
    const s = join(dir, `sandbox-${n++}`);
    mkdirSync(s);
    return s;
  };
  return { dir, fetcher, sandbox };
}

/** Every file below `dir` (symlinks not followed) whose content includes `text`. */
function filesWith(dir: string, text: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((p) => readFileSync(p).includes(text));
}

test('a task user cannot fetch a root-only host file, with or without the cache; the error names the URI and the reason', async (t) => {
  const { dir, fetcher, sandbox } = setup(t);
  const secret = join(dir, 'credentials');
  writeFileSync(secret, SECRET, { mode: 0o600 });
  for (const value of [`file://${secret}`, secret]) {
    for (const cache of [false, true]) {
      const s = sandbox();
      const err = await t.throwsAsync(fetcher.fetch({ uris: [u(value, { cache })], sandbox: s, user: 'nobody' }));
      t.is(err?.message, `Failed to fetch '${value}': user 'nobody' may not read '${secret}': Permission denied`, `${value} cache ${cache}`);
      t.false(existsSync(join(s, 'credentials')));
      t.deepEqual(filesWith(s, SECRET), [], 'the secret is nowhere in the sandbox');
      t.is(fetcher.cache.get('nobody', value), undefined, 'nothing cached for nobody');
    }
  }
  // Root's own task (no user) fetches it into the cache; nobody still gets nothing from there.
  const value = `file://${secret}`;
  const [own] = await fetcher.fetch({ uris: [u(value, { cache: true })], sandbox: sandbox() });
  t.is(own!.cache, 'miss');
  const s = sandbox();
  await t.throwsAsync(fetcher.fetch({ uris: [u(value, { cache: true })], sandbox: s, user: 'nobody' }), { message: /Permission denied/ });
  t.deepEqual(filesWith(s, SECRET), []);
  // The cache directory and root's entry are closed to other users.
  const entry = fetcher.cache.get(undefined, value)!;
  t.is(statSync(entry.path).mode & 0o077, 0, "root's entry is not readable by others");
  t.is(spawnSync('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', 'cat', entry.path]).status, 1);
  t.deepEqual(filesWith(join(dir, 'cache', 'nobody'), SECRET), []);
});

test('a file the user may read is fetched, cached per user; supplementary groups count', async (t) => {
  const { dir, fetcher, sandbox } = setup(t);
  const open = join(dir, 'open.txt');
  writeFileSync(open, 'for everyone', { mode: 0o644 });
  for (const cache of [false, true, true]) {
    const s = sandbox();
    const [got] = await fetcher.fetch({ uris: [u(`file://${open}`, { cache, executable: true })], sandbox: s, user: 'nobody' });
    t.is(readFileSync(join(s, 'open.txt'), 'utf8'), 'for everyone');
    const st = statSync(join(s, 'open.txt'));
    t.is(st.mode & 0o777, got!.linked ? 0o555 : 0o755);
    t.is(st.uid, got!.linked ? 0 : idOf('-u', 'nobody'));
  }
  t.is(statSync(join(dir, 'cache', 'nobody')).mode & 0o777, 0o700, "nobody's cache directory is the agent's alone");
  // A user that reads a file only through a supplementary group (one of /etc/group's members).
  const member = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .flatMap(([group, , gid, members]) =>
      (members ?? '')
        .split(',')
        .filter((m) => m !== '')
        .map((m) => ({ user: m, group: group!, gid: Number(gid) })),
    )
    .find((m) => spawnSync('id', ['-u', m.user]).status === 0 && idOf('-g', m.user) !== m.gid);
  if (member === undefined) {
    t.log('no user with a supplementary group on this host: that part is not checked');
    return;
  }
  const grp = join(dir, 'group-only.txt');
  writeFileSync(grp, 'for the group', { mode: 0o640 });
  chownSync(grp, 0, member.gid);
  for (const cache of [false, true]) {
    const s = sandbox();
    await fetcher.fetch({ uris: [u(grp, { cache })], sandbox: s, user: member.user });
    t.is(readFileSync(join(s, 'group-only.txt'), 'utf8'), 'for the group', `${member.user} through group ${member.group}, cache ${cache}`);
    await t.throwsAsync(fetcher.fetch({ uris: [u(grp, { cache })], sandbox: sandbox(), user: 'nobody' }), { message: /may not read/ });
  }
});

test('archives are extracted as the user: a root-owned set-user-ID entry becomes an ordinary file of the user', async (t) => {
  const { dir, fetcher, sandbox } = setup(t);
  const src = join(dir, 'src');
  mkdirSync(join(src, 'bin'), { recursive: true });
  writeFileSync(join(src, 'bin', 'tool'), '#!/bin/sh\n');
  chmodSync(join(src, 'bin', 'tool'), 0o4755);
  const tgz = join(dir, 'pkg.tgz');
  execFileSync('tar', ['-c', '-z', '-f', tgz, '-C', src, '--owner=0', '--group=0', 'bin']);
  const srv = await fileServer(t, { '/pkg.tgz': readFileSync(tgz) });
  const nobody = idOf('-u', 'nobody');
  for (const value of [`${srv.base}/pkg.tgz`, `file://${tgz}`]) {
    for (const cache of [false, true, true]) {
      const s = sandbox();
      await fetcher.fetch({ uris: [u(value, { cache })], sandbox: s, user: 'nobody' });
      for (const p of ['bin', 'bin/tool']) t.is(statSync(join(s, p)).uid, nobody, `${p} of ${value}, cache ${cache}`);
      t.is(statSync(join(s, 'bin', 'tool')).mode & 0o7000, 0, 'no set-user-ID bit');
    }
  }
});

test('a symlink the user puts in the sandbox path (before or during the fetch) never makes root write outside it', async (t) => {
  const { dir, fetcher, sandbox } = setup(t);
  const outside = join(dir, 'outside'); // root's, 0755: nobody may not write there
  mkdirSync(outside, { mode: 0o755 });
  const asNobody = (cmd: string): void => {
    const r = spawnSync('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', 'sh', '-c', cmd]);
    if (r.status !== 0) throw new Error(`as nobody: ${cmd}: ${r.stderr}`);
  };
  // Before: the sandbox holds nobody's symlink where output_file puts a directory.
  const local = join(dir, 'data.txt');
  writeFileSync(local, 'data', { mode: 0o644 });
  const s1 = sandbox();
  chownSync(s1, idOf('-u', 'nobody'), idOf('-g', 'nobody'));
  asNobody(`ln -s '${outside}' '${s1}/d'`);
  await t.throwsAsync(fetcher.fetch({ uris: [u(`file://${local}`, { outputFile: 'd/data.txt' })], sandbox: s1, user: 'nobody' }));
  t.deepEqual(readdirSync(outside), []);
  // A symlink at the file's own name (to a file of root's), before a copy, a cache miss and a
  // cache hit (a link made by root): replaced, never written through.
  const rootFile = join(dir, 'root-file');
  writeFileSync(rootFile, 'root data', { mode: 0o644 });
  for (const cache of [false, true, true]) {
    const s = sandbox();
    chownSync(s, idOf('-u', 'nobody'), idOf('-g', 'nobody'));
    asNobody(`ln -s '${rootFile}' '${s}/data.txt'`);
    await fetcher.fetch({ uris: [u(`file://${local}`, { cache })], sandbox: s, user: 'nobody' });
    t.is(readFileSync(rootFile, 'utf8'), 'root data');
    t.false(lstatSync(join(s, 'data.txt')).isSymbolicLink());
    t.is(readFileSync(join(s, 'data.txt'), 'utf8'), 'data');
  }
  // During: the download is held while the user replaces the output directory with a symlink.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const s2 = sandbox();
  const srv = await fileServer(t, {
    '/f': {
      body: 'payload',
      gate,
      arrived: () => {
        asNobody(`rm -rf '${s2}/d' && ln -s '${outside}' '${s2}/d'`);
        release();
      },
    },
  });
  for (const cache of [false, true]) {
    await t.throwsAsync(fetcher.fetch({ uris: [u(`${srv.base}/f`, { cache, outputFile: 'd/f' })], sandbox: s2, user: 'nobody' }), {
      message: /Permission denied/,
    });
    t.deepEqual(readdirSync(outside), [], `nothing written outside (cache ${cache})`);
  }
});

test('a user given as a uid ("0", " 0") names no user: the fetch fails naming it, and root copies nothing', async (t) => {
  const { dir, fetcher, sandbox } = setup(t);
  const secret = join(dir, 'shadow');
  writeFileSync(secret, SECRET, { mode: 0o600 });
  for (const user of ['0', ' 0', '00', '65534']) {
    for (const cache of [false, true]) {
      const s = sandbox();
      const value = `file://${secret}`;
      await t.throwsAsync(fetcher.fetch({ uris: [u(value, { cache })], sandbox: s, user }), {
        message: `Failed to fetch '${value}': the user '${user}' does not exist`,
      });
      t.deepEqual(filesWith(s, SECRET), [], `the secret is nowhere in the sandbox (user '${user}', cache ${cache})`);
      t.is(statSync(s).uid, 0, 'the sandbox was given to nobody');
      t.is(fetcher.cache.get(user, value), undefined);
    }
  }
});
