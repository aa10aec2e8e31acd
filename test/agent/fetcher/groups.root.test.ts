/**
 * The fetcher acts with the groups of the task's user name, as the task will (initgroups(name)),
 * not with those of another name that shares its uid. Runs the fetcher in a child process with
 * its own mount namespace, where /etc/passwd and /etc/group are copies with one more user and
 * group. Needs root, unshare and the `nobody` user.
 */
import anyTest from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rootOnly } from '../../helpers/root.ts';
import { tempDir } from './helpers.ts';

const test = rootOnly(anyTest);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const GID = 47_213; // a group of this test's own /etc/group only

test("a second name of nobody's uid fetches with its own groups, not nobody's", async (t) => {
  const dir = tempDir(t, 'corral-fetch-groups-');
  chmodSync(dir, 0o755);
  // 'corralalias' shares nobody's uid (and gid) and comes after nobody: getpwuid gives nobody.
  writeFileSync(join(dir, 'passwd'), `${readFileSync('/etc/passwd', 'utf8')}corralalias:x:65534:65534::/nonexistent:/usr/sbin/nologin\n`);
  writeFileSync(join(dir, 'group'), `${readFileSync('/etc/group', 'utf8')}corralgrp:x:${GID}:corralalias\n`);
  const file = join(dir, 'group-only.txt');
  writeFileSync(file, 'for corralgrp', { mode: 0o640 });
  chownSync(file, 0, GID);
  const sandbox = join(dir, 'sandbox');
  mkdirSync(sandbox);
  const script = join(dir, 'fetch.ts');
  writeFileSync(
    script,
    `import { Fetcher } from ${JSON.stringify(join(ROOT, 'lib', 'agent', 'fetcher', 'fetcher.ts'))};
const f = new Fetcher({ cacheDir: ${JSON.stringify(join(dir, 'cache'))} });
f.fetch({ uris: [{ value: ${JSON.stringify(`file://${file}`)}, extract: false, cache: process.argv[2] === 'cache' }], sandbox: ${JSON.stringify(sandbox)}, user: 'corralalias' })
  .then(() => console.log('fetched'), (e) => console.log(e.message));
`,
  );
  for (const cache of ['direct', 'cache']) {
    const r = spawnSync(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && exec "$3" --import tsx "$4" "$5"',
        'sh',
        join(dir, 'passwd'),
        join(dir, 'group'),
        process.execPath,
        script,
        cache,
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    t.is(r.stdout.trim(), 'fetched', `${cache}: ${r.stderr}`);
    t.is(readFileSync(join(sandbox, 'group-only.txt'), 'utf8'), 'for corralgrp');
  }
});
