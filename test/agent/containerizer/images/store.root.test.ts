/**
 * The Docker image store against a real registry (Debian's docker-registry on loopback, images
 * built from busybox-static with umoci and pushed with skopeo): what a pull leaves in the store,
 * sharing of layers, a restart, whiteouts, and the failures a task would be told about.
 */
import anyTest, { type ExecutionContext } from 'ava';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../../lib/common/log.ts';
import { ImageError } from '../../../../lib/agent/containerizer/images/errors.ts';
import { DockerStore } from '../../../../lib/agent/containerizer/images/store.ts';
import { BUSYBOX_IMAGE, TestRegistry, registryOnly } from '../../../helpers/image_registry.ts';

const test = registryOnly(anyTest);
let registry: TestRegistry;
let busyboxDigest = '';

test.before(async () => {
  registry = await TestRegistry.start();
  busyboxDigest = registry.pushImage('test/busybox:1', BUSYBOX_IMAGE);
  registry.pushImage('test/busybox-docker:1', { ...BUSYBOX_IMAGE, format: 'v2s2' });
  registry.pushImage('test/layered:1', {
    ...BUSYBOX_IMAGE,
    layers: [...BUSYBOX_IMAGE.layers, { remove: ['/etc/os-release'] }, { files: { '/etc/motd': 'hi\n' } }],
  });
});
test.after.always(async () => {
  await registry?.stop();
});

function storeDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-store-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const open = async (dir: string, registryUrl = `http://${registry.host}`): Promise<DockerStore> => {
  const s = new DockerStore({ dir, defaultRegistry: new URL(registryUrl), stallTimeoutMs: 10_000, log: silentLogger });
  await s.open();
  return s;
};

test.serial('a pull: the layers unpacked in the store, the image config read, progress for the sandbox log, the index kept', async (t) => {
  const dir = storeDir(t);
  const store = await open(dir);
  const lines: string[] = [];
  const img = await store.get(`${registry.host}/test/busybox:1`, { progress: (l) => lines.push(l) });
  t.is(img.manifestDigest, busyboxDigest, 'the digest skopeo reports');
  t.true(img.layerPaths.length >= 1);
  const merged = img.layerPaths.flatMap((p) => readdirSync(p));
  t.true(merged.includes('bin') && merged.includes('etc'), merged.join(','));
  const bin = img.layerPaths.find((p) => existsSync(join(p, 'bin/busybox')))!;
  t.is(lstatSync(join(bin, 'bin/busybox')).size, lstatSync('/bin/busybox').size);
  t.true(lstatSync(join(bin, 'bin/sh')).isSymbolicLink());
  t.deepEqual(img.config.entrypoint, ['/bin/sh', '-c']);
  t.deepEqual(img.config.cmd, ['cat /etc/os-release']);
  t.true(img.config.env.includes('IMAGE_VAR=from-the-image'));
  t.is(img.config.workingDir, '/etc');
  t.regex(lines[0]!, /^Pulling image '127\.0\.0\.1:\d+\/test\/busybox:1' from http:\/\/127\.0\.0\.1:\d+\/v2\/test\/busybox \(1\)$/);
  t.regex(lines.at(-1)!, /^Pulled image '.*' in \d+\.\d\d s$/);
  const index = JSON.parse(readFileSync(join(dir, 'images.json'), 'utf8')) as { name: string; manifestDigest: string }[];
  t.deepEqual(
    index.map((i) => [i.name, i.manifestDigest]),
    [[`${registry.host}/test/busybox:1`, busyboxDigest]],
  );
  t.deepEqual(readdirSync(join(dir, 'staging')), [], 'nothing left in staging');
});

test.serial('Docker schema 2 images pull too; --docker_registry is used for a name without a registry', async (t) => {
  const store = await open(storeDir(t));
  const img = await store.get('test/busybox-docker:1');
  t.is(img.name, 'test/busybox-docker:1');
  t.true(img.layerPaths.some((p) => existsSync(join(p, 'bin/busybox'))));
});

test.serial('20 tasks asking at once for two images that share layers: each blob is downloaded once; a restarted store downloads nothing', async (t) => {
  const names = [`${registry.host}/test/busybox:1`, `${registry.host}/test/layered:1`];
  // Learn the layers of the layered image with a store of its own: busybox:1's are its first ones
  // (built from the same files, they are the same layers).
  const { layers } = await (await open(storeDir(t))).get(names[1]!);
  const base = (await (await open(storeDir(t))).get(names[0]!)).layers;
  t.deepEqual(layers.slice(0, base.length), [...base], 'the images share their base layers');
  const counts = new Map(layers.map((d) => [d, registry.blobGets(d)]));
  const dir = storeDir(t);
  const s = await open(dir);
  const got = await Promise.all(Array.from({ length: 20 }, (_, i) => s.get(names[i % 2]!)));
  t.is(new Set(got.map((g) => g.manifestDigest)).size, 2);
  for (const d of layers) t.is(registry.blobGets(d) - counts.get(d)!, 1, `layer ${d} downloaded once`);
  t.is(s.blobDownloads, layers.length);
  // A restart: the store is read back, nothing is downloaded again; a crash's staging leftovers go.
  writeFileSync(join(dir, 'staging', 'leftover'), 'x');
  const again = await open(dir);
  const before = layers.map((d) => registry.blobGets(d));
  const img = await again.get(names[1]!);
  t.deepEqual(
    layers.map((d) => registry.blobGets(d)),
    before,
  );
  t.is(again.blobDownloads, 0);
  t.deepEqual(img.layers, layers);
  t.false(existsSync(join(dir, 'staging', 'leftover')));
});

test.serial('a layer that removes a file: an overlayfs whiteout in that layer', async (t) => {
  const store = await open(storeDir(t));
  const img = await store.get(`${registry.host}/test/layered:1`);
  const withWhiteout = img.layerPaths.filter((p) => {
    try {
      return lstatSync(join(p, 'etc/os-release')).isCharacterDevice();
    } catch {
      return false;
    }
  });
  t.is(withWhiteout.length, 1);
  t.true(img.layerPaths.indexOf(withWhiteout[0]!) > 0, 'above the layer that has the file');
});

test.serial('failures name the image and the reason: unknown image, unknown registry, a damaged blob (nothing kept)', async (t) => {
  const dir = storeDir(t);
  const store = await open(dir);
  const unknown = await t.throwsAsync(store.get(`${registry.host}/test/nothing:1`), { instanceOf: ImageError });
  t.is(unknown!.code, 'IMAGE_PULL_FAILED');
  t.regex(unknown!.message, /^Failed to pull image '127\.0\.0\.1:\d+\/test\/nothing:1': manifest unknown.*HTTP 404/);

  const closed = await t.throwsAsync(store.get('127.0.0.1:1/test/busybox:1'), { instanceOf: ImageError });
  t.regex(closed!.message, /cannot reach the registry at 127\.0\.0\.1:1: connection refused/);

  const name = `${registry.host}/test/damaged:1`;
  registry.pushImage('test/damaged:1', { layers: [{ files: { '/damaged': 'original contents' } }] });
  const manifest = (await (
    await fetch(`http://${registry.host}/v2/test/damaged/manifests/1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
  ).json()) as {
    layers: { digest: string }[];
  };
  const blob = registry.blobFile(manifest.layers[0]!.digest);
  const bytes = readFileSync(blob);
  bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 0xff, bytes.length - 10);
  writeFileSync(blob, bytes);
  // and one damaged in the middle of its compressed data
  registry.pushImage('test/damaged2:1', { layers: [{ files: { '/damaged2': 'x'.repeat(100_000) + Math.random() } }] });
  const m2 = (await (
    await fetch(`http://${registry.host}/v2/test/damaged2/manifests/1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
  ).json()) as {
    layers: { digest: string }[];
  };
  const b2 = readFileSync(registry.blobFile(m2.layers[0]!.digest));
  b2.writeUInt8(b2.readUInt8(b2.length >> 1) ^ 0xff, b2.length >> 1);
  writeFileSync(registry.blobFile(m2.layers[0]!.digest), b2);
  const damaged2 = await t.throwsAsync(store.get(`${registry.host}/test/damaged2:1`), { instanceOf: ImageError });
  t.regex(damaged2!.message, /: digest mismatch: the blob asked as sha256:\w+ has the digest sha256:\w+$|: layer sha256:\w+ does not decompress as gzip/);
  const damaged = await t.throwsAsync(store.get(name), { instanceOf: ImageError });
  // Depending on where the damage is, gunzip or the digest check notices it first.
  t.regex(damaged!.message, /: digest mismatch: the blob asked as sha256:\w+ has the digest sha256:\w+$|: layer sha256:\w+ does not decompress as gzip/);
  t.false(existsSync(join(dir, 'layers', manifest.layers[0]!.digest)), 'the damaged layer is not in the store');
  t.deepEqual(readdirSync(join(dir, 'staging')), []);
});

test.serial(
  '--docker_registry=/path: images from a local directory of OCI image layouts, by tag and by digest, digests checked, nothing asked of a registry',
  async (t) => {
    const images = storeDir(t);
    registry.copyToLayout('test/busybox:1', images);
    registry.copyToLayout('test/layered:1', images);
    const index = JSON.parse(readFileSync(join(images, 'test/busybox/index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifestDigest = index.manifests[0]!.digest;
    const logBefore = registry.log().length;
    const dir = storeDir(t);
    const s = new DockerStore({ dir, defaultRegistry: images, stallTimeoutMs: 10_000, log: silentLogger });
    await s.open();
    const lines: string[] = [];
    const img = await s.get('test/busybox:1', { progress: (l) => lines.push(l) });
    t.is(img.manifestDigest, manifestDigest);
    t.regex(lines[0]!, new RegExp(`^Pulling image 'test/busybox:1' from ${join(images, 'test/busybox')} \\(1\\)$`));
    t.true(img.layerPaths.some((p) => existsSync(join(p, 'bin/busybox'))));
    t.deepEqual(img.config.entrypoint, ['/bin/sh', '-c']);
    const byDigest = await s.get(`test/busybox@${manifestDigest}`);
    t.deepEqual(byDigest.layers, img.layers);
    const layered = await s.get('test/layered:1');
    t.deepEqual(layered.layers.slice(0, img.layers.length), [...img.layers], 'layers shared with the other image are unpacked once');
    t.is(s.blobDownloads, layered.layers.length);
    t.is(registry.log().length, logBefore, 'the registry was not asked');

    const noTag = await t.throwsAsync(s.get('test/busybox:2'), { instanceOf: ImageError });
    t.regex(noTag!.message, /^Failed to pull image 'test\/busybox:2': manifest unknown: the image layout .*test\/busybox has no tag '2' \(it has 1\)$/);
    const noRepo = await t.throwsAsync(s.get('test/nothing:1'), { instanceOf: ImageError });
    t.regex(noRepo!.message, /no OCI image layout at .*test\/nothing \(no index\.json\)/);

    // A damaged layer file: refused, nothing kept.
    registry.pushImage('test/damaged-local:1', { layers: [{ files: { '/damaged': 'y'.repeat(50_000) } }] });
    registry.copyToLayout('test/damaged-local:1', images);
    const m = JSON.parse(
      readFileSync(
        join(
          images,
          'test/damaged-local/blobs/sha256',
          (JSON.parse(readFileSync(join(images, 'test/damaged-local/index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest.slice(
            7,
          ),
        ),
        'utf8',
      ),
    ) as { layers: { digest: string }[] };
    const blob = join(images, 'test/damaged-local/blobs/sha256', m.layers[0]!.digest.slice(7));
    const bytes = readFileSync(blob);
    bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 0xff, bytes.length >> 1);
    writeFileSync(blob, bytes);
    const damaged = await t.throwsAsync(s.get('test/damaged-local:1'), { instanceOf: ImageError });
    t.regex(
      damaged!.message,
      /digest mismatch: the blob asked as sha256:\w+ has the digest sha256:\w+$|does not decompress as gzip|has a bad checksum/,
      'gunzip, the tar reader or the digest check notices it first',
    );
    t.false(existsSync(join(dir, 'layers', m.layers[0]!.digest)));
    t.deepEqual(readdirSync(join(dir, 'staging')), []);
  },
);
