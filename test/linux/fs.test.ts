/**
 * openBeneath: a path below a directory that others write into is opened without leaving it,
 * with openat2 and with the component walk of kernels without it (no root needed).
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, mkdtempSync, readSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeError, openBeneath, openBeneathAsync } from '../../lib/linux/index.ts';
import { buildSwapper } from '../helpers/swapper.ts';

/** A directory `root` (with a/file, a/b/, in -> a/file, up -> .., abs -> outside) and `outside`. */
function tree(t: { teardown(f: () => void): void }): { root: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-beneath-`));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'a', 'file'), 'inside\n');
  writeFileSync(join(outside, 'file'), 'outside\n');
  symlinkSync('a/file', join(root, 'in'));
  symlinkSync('..', join(root, 'up'));
  symlinkSync(outside, join(root, 'abs'));
  symlinkSync('../../outside', join(root, 'a', 'rel'));
  return { root, outside };
}

function readFd(fd: number): string {
  try {
    const buf = Buffer.alloc(4096);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString();
  } finally {
    closeSync(fd);
  }
}

for (const walk of [false, true]) {
  const how = walk ? 'the component walk' : 'openat2';
  test(`${how}: files and directories below the root open; the root itself is ''`, (t) => {
    const { root } = tree(t);
    t.is(readFd(openBeneath(root, 'a/file', { walk })), 'inside\n');
    t.is(readFd(openBeneath(root, 'a//./file', { walk })), 'inside\n');
    for (const p of ['', '.', 'a', 'a/b/']) {
      const fd = openBeneath(root, p, { directory: true, walk });
      t.true(fstatSync(fd).isDirectory(), p);
      closeSync(fd);
    }
    t.throws(() => openBeneath(root, 'a/file', { directory: true, walk }), { instanceOf: NativeError, code: 'ENOTDIR' });
    t.throws(() => openBeneath(root, 'a/none', { walk }), { instanceOf: NativeError, code: 'ENOENT' });
    t.throws(() => openBeneath(root, 'a/file/x', { walk }), { instanceOf: NativeError, code: 'ENOTDIR' });
    t.throws(() => openBeneath(root, '/etc/passwd', { walk }), { instanceOf: NativeError, code: 'EINVAL' });
    t.throws(() => openBeneath(join(root, 'none'), 'a', { walk }), { instanceOf: NativeError, code: 'ENOENT' });
  });

  test(`${how}: '..' and symlinks leading out are refused (EXDEV, or ELOOP for any symlink in the walk)`, (t) => {
    const { root } = tree(t);
    for (const p of ['..', '../outside/file', 'a/../../outside/file', 'abs/file', 'a/rel/file', 'up/outside/file', 'abs']) {
      const e = t.throws(() => openBeneath(root, p, { walk }), { instanceOf: NativeError }, p);
      t.true(e?.code === 'EXDEV' || (walk && e?.code === 'ELOOP'), `${p}: ${e?.code}`);
    }
    // A symlink that stays inside: followed by openat2; the walk follows none.
    if (walk) t.throws(() => openBeneath(root, 'in', { walk }), { instanceOf: NativeError, code: 'ELOOP' });
    else t.is(readFd(openBeneath(root, 'in')), 'inside\n');
    t.is(readFd(openBeneath(root, 'a/b/../file', { walk: false })), 'inside\n');
  });

  test(`${how}: a FIFO opens at once (non-blocking)`, (t) => {
    const { root } = tree(t);
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const fd = openBeneath(root, 'pipe', { walk });
    t.true(fstatSync(fd).isFIFO());
    closeSync(fd);
  });

  test(`${how}: a directory swapped for a symlink out of the root (renameat2 exchange, in a loop) never leads out`, async (t) => {
    const { root, outside } = tree(t);
    writeFileSync(join(outside, 'file'), 'SECRET\n');
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd', 'file'), 'inside\n');
    symlinkSync(outside, join(root, 'l'));
    const swapper = buildSwapper();
    t.teardown(() => swapper.remove());
    const p = spawn(swapper.path, ['d', 'l'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => p.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      p.stdout.once('data', () => resolve());
      p.once('exit', (code) => reject(new Error(`swapper exited with ${code}`)));
    });
    // At least 20,000 opens, and on until both sides of the swap were met 100 times each (a
    // loaded machine may run the swapper seldom), for 30 s at most.
    const seen = { inside: 0, secret: 0, refused: 0 };
    const end = Date.now() + 30_000;
    for (let i = 0; i < 20_000 || ((seen.inside < 100 || seen.refused < 100) && Date.now() < end); i++) {
      let fd: number;
      try {
        fd = openBeneath(root, 'd/file', { walk });
      } catch (e) {
        if (!(e instanceof NativeError) || !['EXDEV', 'ELOOP', 'ENOENT', 'ENOTDIR'].includes(e.code)) throw e;
        seen.refused++;
        continue;
      }
      if (readFd(fd) === 'SECRET\n') seen.secret++;
      else seen.inside++;
    }
    t.log(how, seen);
    t.is(seen.secret, 0, JSON.stringify(seen));
    t.true(seen.inside > 0 && seen.refused > 0, `both sides of the swap were met: ${JSON.stringify(seen)}`);
  });
}

test('openBeneathAsync: the same, on a pool thread', async (t) => {
  const { root } = tree(t);
  t.is(readFd(await openBeneathAsync(root, 'a/file')), 'inside\n');
  t.is(readFd(await openBeneathAsync(root, 'in', { walk: false })), 'inside\n');
  const fd = await openBeneathAsync(root, '', { directory: true });
  t.true(fstatSync(fd).isDirectory());
  closeSync(fd);
  await t.throwsAsync(openBeneathAsync(root, 'abs/file'), { instanceOf: NativeError, code: 'EXDEV' });
  await t.throwsAsync(openBeneathAsync(root, 'a/none', { walk: true }), { instanceOf: NativeError, code: 'ENOENT' });
});
