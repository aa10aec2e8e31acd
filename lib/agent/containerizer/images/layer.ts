/**
 * Unpacking one image layer into a fresh directory of the store, in the form overlayfs reads as
 * a lower layer (docs/architecture.md §7):
 * - `.wh.<name>` becomes a whiteout (a character device 0/0 named `<name>`) and
 *   `.wh..wh..opq` makes its directory opaque (trusted.overlay.opaque=y);
 * - nothing is written outside the directory: an entry with an absolute path or a `..`
 *   component, one whose path goes through a symlink the layer made, or a hard link to something
 *   outside the layer refuses the whole layer (ImageError IMAGE_LAYER_REFUSED naming the entry);
 *   symlinks themselves may point anywhere (they are read inside the container, after
 *   pivot_root);
 * - device files and FIFOs are not made (a container gets its own /dev): each is counted and
 *   the pull log says how many were skipped;
 * - owners, modes (setuid included) and modification times are kept.
 * The directory is the store's own, fresh and private, so a check of the paths this layer made
 * is enough: nothing else writes there meanwhile.
 */
import { lchown, link, lutimes, mkdir, open, rm, symlink, chmod, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { makeWhiteout, setXattr } from '../../../linux/fs.ts';
import { ByteReader, TarError, readTar } from './tar.ts';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export interface LayerStats {
  entries: number;
  /** Bytes of file contents written. */
  bytes: number;
  /** Device files and FIFOs not made. */
  skipped: number;
  whiteouts: number;
}

/** A layer entry that breaks a rule: the whole layer is refused. */
export class LayerRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LayerRefusal';
  }
}

type Kind = 'dir' | 'file' | 'symlink' | 'other';

/** `name` as path components below the layer, or a LayerRefusal. */
function components(name: string, what: string): string[] {
  if (name.startsWith('/')) throw new LayerRefusal(`${what} '${name}' is an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new LayerRefusal(`${what} '${name}' has a '..' component (it would lead out of the layer)`);
  return parts;
}

/**
 * Unpack the uncompressed tar stream `tar` into `dir` (which exists and is empty). Throws
 * LayerRefusal (a rule broken) or TarError (not a valid archive); the caller removes `dir`.
 */
export async function unpackLayer(tar: AsyncIterable<Buffer>, dir: string): Promise<LayerStats> {
  const made = new Map<string, Kind>();
  const dirTimes: { path: string; mtime: number }[] = [];
  const stats: LayerStats = { entries: 0, bytes: 0, skipped: 0, whiteouts: 0 };
  const reader = new ByteReader(tar);

  /** Make sure every parent of `parts` is a directory this layer may write below. */
  const parents = async (parts: string[], name: string): Promise<void> => {
    for (let i = 1; i < parts.length; i++) {
      const key = parts.slice(0, i).join('/');
      const kind = made.get(key);
      if (kind === 'symlink') throw new LayerRefusal(`entry '${name}' goes through the symlink '${key}' the layer made`);
      if (kind === 'dir') continue;
      if (kind !== undefined) throw new LayerRefusal(`entry '${name}' is below '${key}', which is not a directory`);
      await mkdir(join(dir, key), { mode: 0o755 });
      made.set(key, 'dir');
    }
  };

  /** Remove what the layer made at `key` before it is made again (the last entry of a name wins, as with tar). */
  const replace = async (key: string, kind: Kind): Promise<boolean> => {
    const had = made.get(key);
    if (had === undefined) return false;
    if (had === 'dir' && kind === 'dir') return true;
    await rm(join(dir, key), { recursive: true, force: true });
    for (const k of made.keys()) if (k === key || k.startsWith(`${key}/`)) made.delete(k);
    return false;
  };

  for await (const { entry, body } of readTar(reader)) {
    stats.entries++;
    const parts = components(entry.name, 'entry');
    if (parts.length === 0) continue; // the layer's root itself ('./')
    await parents(parts, entry.name);
    const key = parts.join('/');
    const base = parts.at(-1)!;
    const path = join(dir, key);

    if (base === OPAQUE_MARKER) {
      const parent = parts.slice(0, -1).join('/');
      setXattr(parent === '' ? dir : join(dir, parent), 'trusted.overlay.opaque', 'y');
      stats.whiteouts++;
      continue;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      if (hidden.startsWith(WHITEOUT_PREFIX) || hidden === '') continue; // aufs's own metadata (.wh..wh.plnk, ...)
      const hiddenKey = [...parts.slice(0, -1), hidden].join('/');
      await replace(hiddenKey, 'other');
      makeWhiteout(join(dir, hiddenKey));
      made.set(hiddenKey, 'other');
      stats.whiteouts++;
      continue;
    }

    switch (entry.type) {
      case 'directory': {
        if (!(await replace(key, 'dir'))) {
          await mkdir(path, { mode: 0o700 });
          made.set(key, 'dir');
        }
        await lchown(path, entry.uid, entry.gid);
        await chmod(path, entry.mode & 0o7777);
        dirTimes.push({ path, mtime: entry.mtime });
        break;
      }
      case 'file': {
        await replace(key, 'file');
        const fh = await open(path, 'wx', 0o600);
        try {
          for await (const chunk of body) {
            await fh.write(chunk);
            stats.bytes += chunk.length;
          }
          await fh.chown(entry.uid, entry.gid);
          await fh.chmod(entry.mode & 0o7777); // after chown, which clears setuid
        } finally {
          await fh.close();
        }
        made.set(key, 'file');
        await utimes(path, entry.mtime, entry.mtime);
        break;
      }
      case 'symlink': {
        await replace(key, 'symlink');
        await symlink(entry.linkname, path);
        made.set(key, 'symlink');
        await lchown(path, entry.uid, entry.gid);
        await lutimes(path, entry.mtime, entry.mtime);
        break;
      }
      case 'hardlink': {
        const target = components(entry.linkname, `the hard link '${entry.name}' to`).join('/');
        const kind = made.get(target);
        if (kind === undefined || kind === 'dir') {
          throw new LayerRefusal(`the hard link '${entry.name}' points to '${entry.linkname}', which is not a file of this layer`);
        }
        await parents(target.split('/'), entry.linkname); // the target's own path goes through no symlink
        await replace(key, 'file');
        await link(join(dir, target), path);
        made.set(key, kind);
        break;
      }
      default:
        stats.skipped++; // char, block, fifo
    }
  }
  await reader.drain();
  // Directories last, deepest first: making their children changed their times.
  for (let i = dirTimes.length - 1; i >= 0; i--) await utimes(dirTimes[i]!.path, dirTimes[i]!.mtime, dirTimes[i]!.mtime);
  return stats;
}

export { TarError };
