/**
 * Image garbage collection (ImageProvider.prune, what --image_gc_config runs) against a real
 * registry: the images no container uses are forgotten and their layers removed, the layers of
 * images in use (and of excluded images) are kept, a layer shared with a kept image stays, and a
 * collected image is pulled again on demand, downloading only what was removed.
 */
import anyTest, { type ExecutionContext } from 'ava';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../../lib/common/log.ts';
import { ImageProvider } from '../../../../lib/agent/containerizer/images/provider.ts';
import type { CommandInfo } from '../../../../lib/proto/messages.ts';
import { BUSYBOX_IMAGE, TestRegistry, registryOnly } from '../../../helpers/image_registry.ts';

const test = registryOnly(anyTest);
let registry: TestRegistry;

test.before(async () => {
  registry = await TestRegistry.start();
  registry.pushImage('test/gc-a:1', { ...BUSYBOX_IMAGE, layers: [...BUSYBOX_IMAGE.layers, { files: { '/a-only': 'a\n' } }] });
  registry.pushImage('test/gc-b:1', { ...BUSYBOX_IMAGE, layers: [...BUSYBOX_IMAGE.layers, { files: { '/b-only': 'b\n' } }] });
});
test.after.always(async () => {
  await registry?.stop();
});

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-gc-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const command: CommandInfo = { uris: [], shell: true, value: 'true', arguments: [] };

test.serial('unused images are forgotten and their layers removed; layers in use, shared or excluded are kept', async (t) => {
  const dir = tempDir(t);
  const p = new ImageProvider(
    { dir: join(dir, 'store'), defaultRegistry: new URL(`http://${registry.host}`), stallTimeoutMs: 10_000, log: silentLogger },
    join(dir, 'provisioner'),
  );
  await p.open();
  const a = `${registry.host}/test/gc-a:1`;
  const b = `${registry.host}/test/gc-b:1`;
  await p.prepare('ca', { name: a, cached: true }, command, () => undefined);
  await p.prepare('cb', { name: b, cached: true }, command, () => undefined);
  const la = (await p.store.get(a)).layers;
  const lb = (await p.store.get(b)).layers;
  const onlyA = la.filter((l) => !lb.includes(l));
  t.is(onlyA.length, 1, 'the two images share their busybox layers');
  const layersDir = join(dir, 'store', 'layers');
  t.is(readdirSync(layersDir).length, lb.length + 1);

  // Nothing is collected while both containers use their images.
  t.deepEqual((await p.prune()).layers, []);

  // Container a ended: its image goes, and only its own layer; b's and the shared base stay.
  await p.cleanup('ca');
  const r = await p.prune();
  t.deepEqual(r.images, [a]);
  t.deepEqual(r.layers, onlyA);
  t.true(r.bytes > 0);
  t.deepEqual(readdirSync(layersDir).sort(), [...lb].sort());
  t.deepEqual(
    (JSON.parse(readFileSync(join(dir, 'store', 'images.json'), 'utf8')) as { name: string }[]).map((i) => i.name),
    [b],
  );
  t.deepEqual(readdirSync(join(dir, 'store', 'configs')), [(await p.store.get(b)).configDigest]);

  // Asked again: pulled again, downloading only the layer that was removed.
  const before = p.store.blobDownloads;
  await p.prepare('ca2', { name: a, cached: true }, command, () => undefined);
  t.is(p.store.blobDownloads - before, 1);
  t.true(existsSync(join(layersDir, onlyA[0]!, 'rootfs', 'a-only')));

  // Excluded images stay although no container uses them.
  await p.cleanup('ca2');
  await p.cleanup('cb');
  const r2 = await p.prune([b]);
  t.deepEqual(r2.images, [a]);
  t.deepEqual(readdirSync(layersDir).sort(), [...lb].sort());
  // With nothing excluded and nothing running, the store is emptied.
  const r3 = await p.prune();
  t.deepEqual(r3.images, [b]);
  t.deepEqual(readdirSync(layersDir), []);
  t.deepEqual(readdirSync(join(dir, 'store', 'staging')), []);
});
