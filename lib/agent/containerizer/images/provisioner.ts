/**
 * A container's root filesystem from an image (docs/architecture.md §7): a scratch directory
 * per container under <work_dir>/provisioner/containers/<container id>/ holding links/0..N-1
 * (symlinks to the store's layers, 0 the base: short names keep overlayfs's option under a
 * page), upper/ (the container's own writes), work/ (overlayfs's) and merged/ (the mount
 * point). The supervisor mounts the overlay inside the container's mount namespace, so the
 * mount goes with the container; destroy() removes the directory afterwards.
 */
import { mkdir, readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';

export class Provisioner {
  constructor(private readonly dir: string) {}

  scratchOf(containerId: string): string {
    if (!/^[\w.-]+$/.test(containerId)) throw new Error(`container id '${containerId}' cannot name a directory`);
    return join(this.dir, 'containers', containerId);
  }

  /** Make the scratch directory of `containerId` for `layers` (base first); returns its path. */
  async provision(containerId: string, layers: readonly string[]): Promise<string> {
    const scratch = this.scratchOf(containerId);
    await rm(scratch, { recursive: true, force: true });
    for (const sub of ['links', 'upper', 'work', 'merged']) await mkdir(join(scratch, sub), { recursive: true, mode: 0o755 });
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

  /** Remove the scratch directory (the container has ended: its mount namespace, and the overlay, are gone). */
  async destroy(containerId: string): Promise<void> {
    await rm(this.scratchOf(containerId), { recursive: true, force: true });
  }
}
