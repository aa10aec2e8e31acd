/**
 * A container's root filesystem from an image (docs/architecture.md §7): a scratch directory per
 * container under <work_dir>/provisioner/containers/<container id>/, made by one of two backends
 * (--image_provisioner_backend):
 *
 *   overlay  links/0..N-1 (symlinks to the store's layers, 0 the base: short names keep
 *            overlayfs's option under a page), upper/ (the container's own writes), work/
 *            (overlayfs's) and merged/ (the mount point). Nothing is copied.
 *   copy     rootfs/, the layers copied base first with their whiteouts applied (a whiteout
 *            removes what lower layers put at its name, an opaque directory everything lower
 *            below it), and merged/. For hosts without overlayfs; costs the image's size per
 *            container and the time to copy it.
 *
 * Both write image.json (the image's name and layers): garbage collection keeps what a
 * container still uses. The supervisor mounts the overlay (or binds rootfs/) inside the
 * container's mount namespace, so the mount goes with the container; destroy() removes the
 * directory afterwards.
 */
import { spawn } from 'node:child_process';
import { lstat, mkdir, readFile, readdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getXattr } from '../../../linux/fs.ts';

export type ProvisionerBackend = 'overlay' | 'copy';

/** What a container's scratch records of its image (image.json). */
export interface ProvisionedRecord {
  readonly image: string;
  /** Layer digests, base first. */
  readonly layers: readonly string[];
}

export class Provisioner {
  constructor(
    private readonly dir: string,
    readonly backend: ProvisionerBackend = 'overlay',
  ) {}

  scratchOf(containerId: string): string {
    if (!/^[\w.-]+$/.test(containerId)) throw new Error(`container id '${containerId}' cannot name a directory`);
    return join(this.dir, 'containers', containerId);
  }

  /** Make the scratch directory of `containerId` for `layers` (base first); returns its path. */
  async provision(containerId: string, layers: readonly string[], record?: ProvisionedRecord): Promise<string> {
    const scratch = this.scratchOf(containerId);
    await rm(scratch, { recursive: true, force: true });
    await mkdir(scratch, { recursive: true, mode: 0o755 });
    if (record) await writeFile(join(scratch, 'image.json'), JSON.stringify(record));
    if (this.backend === 'copy') {
      await mkdir(join(scratch, 'merged'), { mode: 0o755 });
      await mkdir(join(scratch, 'rootfs'), { mode: 0o755 });
      for (const layer of layers) await copyLayer(layer, join(scratch, 'rootfs'));
      return scratch;
    }
    for (const sub of ['links', 'upper', 'work', 'merged']) await mkdir(join(scratch, sub), { mode: 0o755 });
    for (const [i, layer] of layers.entries()) await symlink(layer, join(scratch, 'links', String(i)));
    return scratch;
  }

  /** The containers that have a scratch directory (after a restart: those of the last run). */
  async list(): Promise<string[]> {
    try {
      return await readdir(join(this.dir, 'containers'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /** What `containerId`'s scratch records of its image, or undefined (none, or made before image.json existed). */
  async record(containerId: string): Promise<ProvisionedRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(this.scratchOf(containerId), 'image.json'), 'utf8')) as ProvisionedRecord;
    } catch {
      return undefined;
    }
  }

  /** Remove the scratch directory (the container has ended: its mount namespace, and the overlay, are gone). */
  async destroy(containerId: string): Promise<void> {
    await rm(this.scratchOf(containerId), { recursive: true, force: true });
  }
}

const OPAQUE = 'trusted.overlay.opaque';

/**
 * Copy one unpacked layer (in overlayfs's lower-layer form) onto `rootfs`. First its whiteouts
 * and opaque directories remove what lower layers left, and every name the layer has as a
 * directory is made sure to be a real directory in `rootfs` (a symlink a lower layer left there
 * is removed, so neither the removals nor the copy can follow it out of `rootfs`); then
 * `cp -a --remove-destination` copies the layer (a file replaces a symlink a lower layer left at
 * its name instead of writing through it), and the whiteout devices it copied are removed.
 */
async function copyLayer(layer: string, rootfs: string): Promise<void> {
  const whiteouts: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(layer, rel), { withFileTypes: true })) {
      const r = join(rel, e.name);
      const target = join(rootfs, r);
      const there = await lstat(target).catch(() => undefined);
      if (e.isCharacterDevice()) {
        // The store makes no device files but whiteouts (char 0/0).
        whiteouts.push(r);
        if (there) await rm(target, { recursive: true, force: true });
      } else if (e.isDirectory()) {
        if (there && (!there.isDirectory() || getXattr(join(layer, r), OPAQUE) === 'y')) await rm(target, { recursive: true, force: true });
        await walk(r);
      } else if (there?.isDirectory()) {
        await rm(target, { recursive: true, force: true });
      }
    }
  };
  await walk('');
  await new Promise<void>((resolve, reject) => {
    const cp = spawn('cp', ['-a', '--reflink=auto', '--remove-destination', `${layer}/.`, `${rootfs}/`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    cp.stderr.on('data', (d: Buffer) => (err += d.toString()));
    cp.once('error', reject);
    cp.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`copying the layer ${layer} failed: ${err.trim() || `cp exited ${code}`}`))));
  });
  for (const r of whiteouts) await unlink(join(rootfs, r)).catch(() => undefined);
}
