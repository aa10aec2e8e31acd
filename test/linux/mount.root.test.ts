/**
 * Bind mounts on the real kernel.
 */
import anyTest from 'ava';
import { mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeError, bindMount, getMount, isMountPoint, unmount } from '../../lib/linux/index.ts';
import { rootOnly } from '../helpers/root.ts';
import { clearLeftoverDirs, uniqueName, unmountUnder } from '../helpers/tmp_names.ts';

const test = rootOnly(anyTest);
const dirs: string[] = [];

/** A fresh directory pair: `src` with a file in it and an empty `dst`. */
function pair(): { src: string; dst: string } {
  const base = join(tmpdir(), uniqueName());
  dirs.push(base);
  const src = join(base, 'src');
  const dst = join(base, 'dst');
  mkdirSync(src, { recursive: true });
  mkdirSync(dst);
  writeFileSync(join(src, 'hello'), 'hi');
  return { src, dst };
}

test.before(() => {
  clearLeftoverDirs();
});

test.after.always(() => {
  for (const base of dirs) {
    unmountUnder(base);
    rmSync(base, { recursive: true, force: true });
  }
});

test('bind mount, read it back, unmount is idempotent', (t) => {
  const { src, dst } = pair();
  t.false(isMountPoint(dst));
  bindMount(src, dst);
  t.is(readFileSync(join(dst, 'hello'), 'utf8'), 'hi');
  const info = getMount(dst);
  t.is(info?.mountPoint, realpathSync(dst));
  t.false(info?.readOnly);
  t.true(isMountPoint(dst));
  t.true(unmount(dst));
  t.false(isMountPoint(dst));
  t.false(unmount(dst));
  t.is(getMount(dst), undefined);
});

test('a read-only bind refuses writes with EROFS; the source stays writable', (t) => {
  const { src, dst } = pair();
  bindMount(src, dst, { readOnly: true });
  t.true(getMount(dst)?.readOnly);
  t.is(readFileSync(join(dst, 'hello'), 'utf8'), 'hi');
  const e = t.throws(() => writeFileSync(join(dst, 'new'), 'x'));
  t.is((e as NodeJS.ErrnoException).code, 'EROFS');
  writeFileSync(join(src, 'new'), 'x');
  t.is(readFileSync(join(dst, 'new'), 'utf8'), 'x');
  t.true(unmount(dst));
  writeFileSync(join(dst, 'mine'), 'y');
  t.pass();
});

test('a missing source is ENOENT with op "mount" and the paths in the message', (t) => {
  const { dst } = pair();
  const missing = join(tmpdir(), `${uniqueName()}-missing`);
  const e = t.throws(() => bindMount(missing, dst), { instanceOf: NativeError });
  t.is(e?.code, 'ENOENT');
  t.is(e?.errno, 2);
  t.is(e?.op, 'mount');
  t.is(e?.message, `mount: bind ${missing} on ${dst}: No such file or directory`);
  t.false(isMountPoint(dst));
});

test('a missing target is ENOENT; nothing is left mounted after a failed read-only bind', (t) => {
  const { src } = pair();
  const e = t.throws(() => bindMount(src, join(tmpdir(), `${uniqueName()}-none`), { readOnly: true }), {
    instanceOf: NativeError,
  });
  t.is(e?.code, 'ENOENT');
});

test('recursive binds carry the mounts below; lazy unmount detaches', (t) => {
  const outer = pair();
  const inner = pair();
  mkdirSync(join(outer.src, 'inner'));
  bindMount(inner.src, join(outer.src, 'inner'));
  try {
    bindMount(outer.src, outer.dst, { recursive: true });
    t.is(readFileSync(join(outer.dst, 'inner', 'hello'), 'utf8'), 'hi');
    t.true(isMountPoint(join(outer.dst, 'inner')));
    t.true(unmount(outer.dst, { detach: true }));
    t.false(isMountPoint(outer.dst));
  } finally {
    unmount(join(outer.src, 'inner'));
  }
});
