/**
 * corral-containerizer --bind and the sandbox's output files: what is checked before anything
 * runs (no root needed). The mounts themselves are tested as root in volumes.root.test.ts.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bindArgs, supervisorPath } from '../../lib/linux/index.ts';
import { Runs, clearLeftoverRuns } from './containerizer_fixture.ts';

const runs = new Runs();
test.before(() => {
  clearLeftoverRuns();
});
test.after.always(() => runs.cleanup());

const bad: [string, RegExp][] = [
  ['/vol', /--bind \/vol: needs SRC:DST/],
  ['vol:data', /SRC must be an absolute path/],
  ['/vol:', /DST is empty/],
  ['/vol::ro', /DST is empty/],
  ['/vol:/abs', /DST must be relative to the sandbox/],
  ['/vol:../up', /DST must not have '\.' or '\.\.' components/],
  ['/vol:a/../../up', /DST must not have '\.' or '\.\.' components/],
  ['/vol:a/./b:ro', /DST must not have '\.' or '\.\.' components/],
];

for (const [arg, why] of bad) {
  test(`--bind ${arg} is refused with exit 125 and the reason; nothing is started or recorded`, (t) => {
    const r = runs.fresh();
    const p = spawnSync(supervisorPath(), ['launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, '--bind', arg, '--', 'touch', 'ran'], { encoding: 'utf8' });
    t.is(p.status, 125);
    t.regex(p.stderr, why);
    t.false(existsSync(join(r.runDir, 'pids')));
    t.false(existsSync(join(r.sandbox, 'ran')));
  });
}

test('--bind is in the usage text', (t) => {
  const p = spawnSync(supervisorPath(), ['--help'], { encoding: 'utf8' });
  t.is(p.status, 0);
  t.regex(p.stdout, /\[--bind SRC:DST\[:ro\|:rw\]\]\.\.\./);
});

test('stdout or stderr in the sandbox as a symlink: refused (exit 125), the file it points at untouched', (t) => {
  for (const name of ['stdout', 'stderr']) {
    const r = runs.fresh();
    const target = join(r.base, 'elsewhere');
    writeFileSync(target, 'mine\n');
    symlinkSync(target, join(r.sandbox, name));
    const p = spawnSync(supervisorPath(), ['launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, '--', 'echo', 'leaked'], { encoding: 'utf8' });
    t.is(p.status, 125, name);
    t.regex(p.stderr, /open the output files in .*: Too many levels of symbolic links/);
    t.is(readFileSync(target, 'utf8'), 'mine\n');
  }
});

test('stdout or stderr as a hard link to a file elsewhere, or as a FIFO: refused at once (exit 125), the other file untouched', (t) => {
  for (const name of ['stdout', 'stderr']) {
    for (const kind of ['hard link', 'fifo']) {
      const r = runs.fresh();
      const target = join(r.base, 'elsewhere');
      writeFileSync(target, 'mine\n');
      if (kind === 'hard link') linkSync(target, join(r.sandbox, name));
      else execFileSync('mkfifo', [join(r.sandbox, name)]);
      const p = spawnSync(supervisorPath(), ['launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, '--', 'echo', 'leaked'], {
        encoding: 'utf8',
        timeout: 10_000,
      });
      t.is(p.status, 125, `${name} ${kind}`);
      t.regex(p.stderr, /open the output files \(stdout, stderr: each must be a regular file with no other link\) in .*: Invalid argument/);
      t.is(readFileSync(target, 'utf8'), 'mine\n');
    }
  }
});

test('bindArgs: the --bind arguments, and bad binds refused naming the bind', (t) => {
  t.deepEqual(
    bindArgs([
      { source: '/v/a', target: 'data' },
      { source: '/v/b', target: 'x/y', readOnly: true },
    ]),
    ['--bind', '/v/a:data:rw', '--bind', '/v/b:x/y:ro'],
  );
  t.throws(() => bindArgs([{ source: 'rel', target: 'd' }]), { message: /binds\[0\]: source 'rel' must be an absolute path/ });
  t.throws(
    () =>
      bindArgs([
        { source: '/a', target: 'd' },
        { source: '/a:b', target: 'd' },
      ]),
    { message: /binds\[1\]: source '\/a:b' must not contain ':'/ },
  );
  t.throws(() => bindArgs([{ source: '/a', target: '/d' }]), { message: /must be a path relative to the sandbox/ });
  t.throws(() => bindArgs([{ source: '/a', target: 'a/../..' }]), { message: /must not have '\.' or '\.\.' components/ });
});
