/**
 * The agent's Docker image store (--docker_store_dir), docs/architecture.md §7:
 *
 *   <store>/staging/<random>/          a layer or config being pulled; removed at start
 *   <store>/layers/<digest>/rootfs/    an unpacked layer, in overlayfs's lower-layer form
 *   <store>/configs/<digest>           an image config blob, as pulled
 *   <store>/images.json                image name → manifest digest, config, layers (base first)
 *
 * Only complete things get a name under layers/ or configs/: a layer is unpacked in staging and
 * renamed into place when its blob's digest and size and its uncompressed digest (the config's
 * diff_id) all matched. A layer is downloaded once however many images or tasks ask for it at
 * the same time (Mesos joins only pulls of the same image name). The store survives restarts.
 */
import { randomBytes } from 'node:crypto';
import { access, lstat, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from '../../../common/log.ts';
import { ImageError } from './errors.ts';
import { LayerRefusal, type LayerStats, TarError, unpackLayer } from './layer.ts';
import { LocalLayoutClient } from './local.ts';
import { type ImageReference, parseImageReference, imageSource } from './reference.ts';
import { type Credentials, type Descriptor, type ImageClient, LAYER_MEDIA, PullError, RegistryClient } from './registry.ts';

/** What a task's container takes from its image's config (Docker's and OCI's `config`). */
export interface ImageConfig {
  readonly entrypoint: readonly string[] | undefined;
  readonly cmd: readonly string[] | undefined;
  /** `NAME=value` entries, as in the image. */
  readonly env: readonly string[];
  readonly workingDir: string | undefined;
  readonly user: string | undefined;
}

export interface StoredImage {
  /** The name it was asked by (the canonical form). */
  readonly name: string;
  readonly manifestDigest: string;
  readonly configDigest: string;
  /** Layer digests, base first. */
  readonly layers: readonly string[];
}

export interface ProvisionedImage extends StoredImage {
  /** The unpacked layers' directories, base first. */
  readonly layerPaths: readonly string[];
  readonly config: ImageConfig;
}

export interface DockerStoreOptions {
  dir: string;
  /** --docker_registry: an http(s) URL, or a local directory of OCI image layouts (local.ts). */
  defaultRegistry: URL | string;
  credentials?: Credentials;
  ca?: string | Buffer;
  stallTimeoutMs: number;
  log: Logger;
}

export interface GetOptions {
  /** Image.cached: false asks the registry for the manifest again (layers in the store are not downloaded again). */
  cached?: boolean;
  /** Lines for the task's sandbox log. */
  progress?: (line: string) => void;
}

const mib = (n: number): string => `${(n / (1 << 20)).toFixed(1)} MiB`;

function stringList(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new PullError(`the image config's ${what} is not a list of strings`);
  return v as string[];
}

/** The parts of an image config blob the containerizer uses, and its diff_ids. */
export function parseImageConfig(blob: Buffer): { config: ImageConfig; diffIds: string[] } {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(blob.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new PullError('the image config is not JSON');
  }
  const c = (j.config ?? {}) as Record<string, unknown>;
  const rootfs = (j.rootfs ?? {}) as { diff_ids?: unknown };
  const diffIds = stringList(rootfs.diff_ids, 'rootfs.diff_ids') ?? [];
  return {
    config: {
      entrypoint: stringList(c.Entrypoint, 'Entrypoint'),
      cmd: stringList(c.Cmd, 'Cmd'),
      env: stringList(c.Env, 'Env') ?? [],
      workingDir: typeof c.WorkingDir === 'string' && c.WorkingDir !== '' ? c.WorkingDir : undefined,
      user: typeof c.User === 'string' && c.User !== '' ? c.User : undefined,
    },
    diffIds,
  };
}

/** Bytes of the regular files below `path` (symlinks not followed). */
async function du(path: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) n += await du(p);
    else if (e.isFile()) n += (await lstat(p)).size;
  }
  return n;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export class DockerStore {
  private images = new Map<string, StoredImage>();
  private readonly pulls = new Map<string, Promise<ProvisionedImage>>();
  private readonly layerPulls = new Map<string, Promise<LayerStats | undefined>>();
  /** Blob downloads made (for the pull log and tests of sharing). */
  blobDownloads = 0;

  constructor(private readonly options: DockerStoreOptions) {}

  get dir(): string {
    return this.options.dir;
  }

  layerPath(digest: string): string {
    return join(this.options.dir, 'layers', digest, 'rootfs');
  }

  private configPath(digest: string): string {
    return join(this.options.dir, 'configs', digest);
  }

  /** Make the layout, remove what a crash left in staging, read images.json. */
  async open(): Promise<void> {
    const { dir } = this.options;
    await rm(join(dir, 'staging'), { recursive: true, force: true });
    for (const sub of ['staging', 'layers', 'configs']) await mkdir(join(dir, sub), { recursive: true, mode: 0o700 });
    let text: string | undefined;
    try {
      text = await readFile(join(dir, 'images.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text !== undefined) {
      try {
        const list = JSON.parse(text) as StoredImage[];
        this.images = new Map(list.map((i) => [i.name, i]));
      } catch {
        this.options.log.warn({ store: dir }, 'the image store index images.json is not valid JSON: images will be pulled again (their layers are kept)');
      }
    }
    const layers = await readdir(join(dir, 'layers'));
    this.options.log.info({ store: dir, images: this.images.size, layers: layers.length }, 'opened the Docker image store');
  }

  /** The stored images (for the operator and for garbage collection). */
  list(): StoredImage[] {
    return [...this.images.values()];
  }

  /**
   * Garbage collection: every image not in `keepImages` is forgotten, then every layer and
   * config no remaining image lists (and not in `keepLayers`) is removed. The caller makes sure
   * that no pull runs meanwhile (ImageProvider.prune). Returns what was removed.
   */
  async prune(keepImages: ReadonlySet<string>, keepLayers: ReadonlySet<string>): Promise<{ images: string[]; layers: string[]; bytes: number }> {
    const dir = this.options.dir;
    const removedImages = [...this.images.keys()].filter((n) => !keepImages.has(n));
    for (const n of removedImages) this.images.delete(n);
    if (removedImages.length > 0) await this.writeAtomic(join(dir, 'images.json'), Buffer.from(JSON.stringify(this.list())));
    const layers = new Set(keepLayers);
    const configs = new Set<string>();
    for (const i of this.images.values()) {
      for (const l of i.layers) layers.add(l);
      configs.add(i.configDigest);
    }
    const removed: string[] = [];
    let bytes = 0;
    for (const d of await readdir(join(dir, 'layers'))) {
      if (layers.has(d)) continue;
      // Out of layers/ at once (a rename), then removed.
      const gone = join(dir, 'staging', `gc-${randomBytes(8).toString('hex')}`);
      await rename(join(dir, 'layers', d), gone);
      bytes += await du(gone);
      await rm(gone, { recursive: true, force: true });
      removed.push(d);
    }
    for (const d of await readdir(join(dir, 'configs'))) if (!configs.has(d)) await rm(join(dir, 'configs', d), { force: true });
    if (removedImages.length > 0 || removed.length > 0)
      this.options.log.info(
        { store: dir, images: removedImages, layers: removed.length, bytes },
        `image garbage collection removed ${removedImages.length} image(s) and ${removed.length} layer(s) (${mib(bytes)})`,
      );
    return { images: removedImages, layers: removed, bytes };
  }

  /** The image `name`, pulled if it is not in the store (or `cached` is false). Throws ImageError. */
  async get(name: string, opts: GetOptions = {}): Promise<ProvisionedImage> {
    const ref = parseImageReference(name);
    const key = ref.canonical;
    const stored = opts.cached === false ? undefined : this.images.get(key);
    if (stored && (await this.complete(stored))) {
      const { config } = parseImageConfig(await readFile(this.configPath(stored.configDigest)));
      return { ...stored, layerPaths: stored.layers.map((l) => this.layerPath(l)), config };
    }
    const running = this.pulls.get(key);
    if (running) return running;
    const pull = this.pull(key, opts).finally(() => this.pulls.delete(key));
    this.pulls.set(key, pull);
    return pull;
  }

  private async complete(img: StoredImage): Promise<boolean> {
    if (!(await exists(this.configPath(img.configDigest)))) return false;
    for (const l of img.layers) if (!(await exists(this.layerPath(l)))) return false;
    return true;
  }

  /** A name without a registry goes to --docker_registry: a registry, or the local directory of layouts. */
  private client(ref: ImageReference): ImageClient {
    const dflt = this.options.defaultRegistry;
    if (ref.registry === undefined && typeof dflt === 'string') return new LocalLayoutClient(dflt, ref.repository, ref.digest ?? ref.tag ?? 'latest');
    // A name with a registry of its own is pulled from it, also when the default is a directory.
    const source = imageSource(ref, typeof dflt === 'string' ? new URL('https://registry-1.docker.io') : dflt);
    return new RegistryClient(source, {
      stallTimeoutMs: this.options.stallTimeoutMs,
      ...(this.options.credentials ? { credentials: this.options.credentials } : {}),
      ...(this.options.ca ? { ca: this.options.ca } : {}),
    });
  }

  private async pull(key: string, opts: GetOptions): Promise<ProvisionedImage> {
    const client = this.client(parseImageReference(key));
    const say = (line: string): void => opts.progress?.(line);
    const started = performance.now();
    try {
      say(`Pulling image '${key}' from ${client.where}`);
      const manifest = await client.manifest();
      const configBytes = await client.blobBytes(manifest.config);
      const { config, diffIds } = parseImageConfig(configBytes);
      if (diffIds.length !== manifest.layers.length) {
        throw new PullError(`the image config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`);
      }
      const total = manifest.layers.reduce((n, l) => n + l.size, 0);
      say(`Image '${key}': manifest ${manifest.digest}, ${manifest.layers.length} layer(s), ${mib(total)} compressed`);
      await Promise.all(manifest.layers.map((l, i) => this.layer(client, l, diffIds[i]!, `${i + 1}/${manifest.layers.length}`, say)));
      await this.writeAtomic(this.configPath(manifest.config.digest), configBytes);
      const img: StoredImage = {
        name: key,
        manifestDigest: manifest.digest,
        configDigest: manifest.config.digest,
        layers: manifest.layers.map((l) => l.digest),
      };
      this.images.set(key, img);
      await this.writeAtomic(join(this.options.dir, 'images.json'), Buffer.from(JSON.stringify(this.list())));
      const ms = performance.now() - started;
      say(`Pulled image '${key}' in ${(ms / 1000).toFixed(2)} s`);
      this.options.log.info({ image: key, digest: manifest.digest, layers: img.layers.length, ms: Math.round(ms) }, `pulled image '${key}'`);
      return { ...img, layerPaths: img.layers.map((l) => this.layerPath(l)), config };
    } catch (e) {
      const err =
        e instanceof ImageError
          ? e
          : e instanceof LayerRefusal || e instanceof TarError
            ? new ImageError(key, e.message, { code: 'IMAGE_LAYER_REFUSED', cause: e })
            : e instanceof PullError
              ? new ImageError(key, e.message, { cause: e })
              : new ImageError(key, `the store at ${this.options.dir} failed: ${(e as Error).message}`, { cause: e });
      say(err.message);
      this.options.log.warn({ image: key, err: err.reason }, `failed to pull image '${key}'`);
      throw err;
    }
  }

  /** One layer into layers/<digest>, once however many pulls want it at the same time. */
  private layer(client: ImageClient, d: Descriptor, diffId: string, pos: string, say: (l: string) => void): Promise<LayerStats | undefined> {
    const running = this.layerPulls.get(d.digest);
    if (running) return running;
    const p = this.unpack(client, d, diffId, pos, say).finally(() => this.layerPulls.delete(d.digest));
    this.layerPulls.set(d.digest, p);
    return p;
  }

  private async unpack(client: ImageClient, d: Descriptor, diffId: string, pos: string, say: (l: string) => void): Promise<LayerStats | undefined> {
    const final = join(this.options.dir, 'layers', d.digest);
    if (await exists(join(final, 'rootfs'))) {
      say(`Layer ${pos} ${d.digest}: already in the store`);
      return undefined;
    }
    const staging = join(this.options.dir, 'staging', randomBytes(8).toString('hex'));
    await mkdir(join(staging, 'rootfs'), { recursive: true, mode: 0o755 });
    this.blobDownloads++;
    const compressed = Readable.from(client.blob(d));
    const gzip = LAYER_MEDIA[d.mediaType] === 'gzip';
    const plain: Readable = gzip ? compressed.pipe(createGunzip()) : compressed;
    try {
      if (gzip) compressed.once('error', (e) => plain.destroy(e));
      const hash = createHash('sha256');
      const hashed = (async function* (): AsyncGenerator<Buffer> {
        for await (const c of plain as AsyncIterable<Buffer>) {
          hash.update(c);
          yield c;
        }
      })();
      const stats = await unpackLayer(hashed, join(staging, 'rootfs'));
      const got = `sha256:${hash.digest('hex')}`;
      if (diffId.startsWith('sha256:') && got !== diffId)
        throw new PullError(`digest mismatch: layer ${d.digest} unpacks to ${got}, its diff_id in the config is ${diffId}`);
      await rm(final, { recursive: true, force: true });
      await rename(staging, final);
      say(`Layer ${pos} ${d.digest}: ${mib(d.size)}, ${stats.entries} entries${stats.skipped ? `, ${stats.skipped} device files or FIFOs skipped` : ''}`);
      return stats;
    } catch (e) {
      compressed.destroy();
      plain.destroy();
      await rm(staging, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || code === 'Z_STREAM_ERROR') {
        throw new PullError(
          `layer ${d.digest} does not decompress as gzip (${(e as Error).message}): the blob is damaged, or not gzip although its media type says so`,
        );
      }
      throw e;
    }
  }

  private async writeAtomic(path: string, data: Buffer): Promise<void> {
    const tmp = join(this.options.dir, 'staging', `${randomBytes(8).toString('hex')}.tmp`);
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, path);
  }
}
