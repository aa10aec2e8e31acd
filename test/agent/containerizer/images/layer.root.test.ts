/**
 * Unpacking image layers (as root: whiteouts are device nodes, opaque directories an xattr in
 * the trusted namespace): what lands in the layer's directory, the overlayfs form of whiteouts,
 * and every entry that would write outside it refusing the layer.
 */
import anyTest from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LayerRefusal, unpackLayer } from '../../../../lib/agent/containerizer/images/layer.ts';
import { TarError } from '../../../../lib/agent/containerizer/images/tar.ts';
import { rootOnly } from '../../../helpers/root.ts';
import { type TarSpec, tarOf } from '../../../helpers/tar_writer.ts';

const test = rootOnly(anyTest);

/** A fresh directory beside an "outside" one that a bad layer would reach. */
function place(t: { teardown(f: () => void): void }): { layer: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-layer-`));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const layer = join(base, 'layer');
  spawnSync('mkdir', ['-p', layer, join(base, 'outside')]);
  return { layer, outside: join(base, 'outside') };
}

async function* chunks(buf: Buffer, size = 700): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

const unpack = (entries: TarSpec[], dir: string): ReturnType<typeof unpackLayer> => unpackLayer(chunks(tarOf(entries)), dir);

test('files, directories, symlinks and hard links land with their modes, owners and times; long pax names work', async (t) => {
  const { layer } = place(t);
  const long = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
  const stats = await unpack(
    [
      { name: './etc/', type: 'dir', mode: 0o750, uid: 1000, gid: 1000 },
      { name: './etc/os-release', data: 'ID=test\n', mode: 0o640, uid: 1000, gid: 100, mtime: 1600000000 },
      { name: 'bin/busybox', data: Buffer.alloc(5000, 7), mode: 0o4755 },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' },
      { name: 'bin/ash', type: 'hardlink', linkname: 'bin/busybox' },
      { name: long, data: 'deep', pax: true },
      { name: 'dev/null', type: 'char' },
      { name: 'run/fifo', type: 'fifo' },
    ],
    layer,
  );
  t.is(readFileSync(join(layer, 'etc/os-release'), 'utf8'), 'ID=test\n');
  const st = statSync(join(layer, 'etc/os-release'));
  t.is(st.mode & 0o7777, 0o640);
  t.is(st.uid, 1000);
  t.is(st.gid, 100);
  t.is(Math.round(st.mtimeMs / 1000), 1600000000);
  t.is(statSync(join(layer, 'etc')).mode & 0o7777, 0o750);
  t.is(statSync(join(layer, 'bin/busybox')).mode & 0o7777, 0o4755, 'setuid kept after chown');
  t.is(readlinkSync(join(layer, 'bin/sh')), '/bin/busybox', 'an absolute symlink is kept as it is: it is read inside the container');
  t.is(statSync(join(layer, 'bin/ash')).ino, statSync(join(layer, 'bin/busybox')).ino);
  t.is(readFileSync(join(layer, long), 'utf8'), 'deep');
  t.false(existsSync(join(layer, 'dev/null')), 'device files are not made');
  t.false(existsSync(join(layer, 'run/fifo')));
  t.is(stats.skipped, 2);
  t.is(stats.bytes, 8 + 5000 + 4);
});

test('whiteouts become overlayfs whiteouts (char 0/0) and .wh..wh..opq an opaque directory', async (t) => {
  const { layer } = place(t);
  const stats = await unpack(
    [
      { name: 'etc/', type: 'dir' },
      { name: 'etc/.wh.motd', data: '' },
      { name: 'var/cache/.wh..wh..opq', data: '' },
      { name: 'var/cache/kept', data: 'new' },
    ],
    layer,
  );
  const wh = lstatSync(join(layer, 'etc/motd'));
  t.true(wh.isCharacterDevice());
  t.is(wh.rdev, 0);
  t.false(existsSync(join(layer, 'etc/.wh.motd')));
  const xattr = spawnSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(layer, 'var/cache')], { encoding: 'utf8' });
  if (xattr.error) {
    // getfattr (Debian's attr) is not installed: read it through a Python one-liner instead.
    const py = spawnSync(
      '/usr/bin/python3',
      ['-c', `import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], 'trusted.overlay.opaque').decode())`, join(layer, 'var/cache')],
      { encoding: 'utf8' },
    );
    t.is(py.stdout, 'y');
  } else t.is(xattr.stdout, 'y');
  t.is(readFileSync(join(layer, 'var/cache/kept'), 'utf8'), 'new');
  t.is(stats.whiteouts, 2);
});

const refusals: [string, TarSpec[], RegExp][] = [
  ['a .. component', [{ name: '../outside/evil', data: 'x' }], /'\.\.\/outside\/evil' has a '\.\.' component/],
  ['a .. in the middle', [{ name: 'a/../../outside/evil', data: 'x' }], /has a '\.\.' component/],
  ['an absolute path', [{ name: '/etc/evil', data: 'x' }], /'\/etc\/evil' is an absolute path/],
  [
    'a file written through a symlink the layer made',
    [
      { name: 'link', type: 'symlink', linkname: '../outside' },
      { name: 'link/evil', data: 'x' },
    ],
    /'link\/evil' goes through the symlink 'link'/,
  ],
  [
    'a file through an absolute symlink',
    [
      { name: 'etc', type: 'symlink', linkname: '/etc' },
      { name: 'etc/evil', data: 'x' },
    ],
    /goes through the symlink 'etc'/,
  ],
  ['a hard link out of the layer', [{ name: 'passwd', type: 'hardlink', linkname: '../outside/file' }], /has a '\.\.' component/],
  ['a hard link to an absolute path', [{ name: 'passwd', type: 'hardlink', linkname: '/etc/passwd' }], /is an absolute path/],
  ['a hard link to nothing in the layer', [{ name: 'passwd', type: 'hardlink', linkname: 'etc/passwd' }], /not a file of this layer/],
  [
    'a hard link through a symlink',
    [
      { name: 'l', type: 'symlink', linkname: '/etc' },
      { name: 'passwd', type: 'hardlink', linkname: 'l/passwd' },
    ],
    /not a file of this layer/,
  ],
];

for (const [what, entries, message] of refusals) {
  test(`refused: ${what}; nothing is written outside`, async (t) => {
    const { layer, outside } = place(t);
    const e = await t.throwsAsync(unpack(entries, layer), { instanceOf: LayerRefusal });
    t.regex(e!.message, message);
    t.deepEqual(spawnSync('ls', ['-A', outside], { encoding: 'utf8' }).stdout, '');
  });
}

test('not a tar archive, or one cut short: a TarError saying so', async (t) => {
  const { layer } = place(t);
  const e1 = await t.throwsAsync(unpackLayer(chunks(Buffer.alloc(2048, 0x41)), layer), { instanceOf: TarError });
  t.regex(e1!.message, /bad checksum/);
  const whole = tarOf([{ name: 'big', data: Buffer.alloc(4000, 1) }]);
  const e2 = await t.throwsAsync(unpackLayer(chunks(whole.subarray(0, 2000)), join(layer)), { instanceOf: TarError });
  t.regex(e2!.message, /ends inside the contents of 'big'/);
});
