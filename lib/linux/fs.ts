/**
 * Opening files, and making links, below a directory that others can write into, without ever
 * leaving it.
 */
import { native } from './native.ts';

export interface OpenBeneathOptions {
  /** Only a directory (O_DIRECTORY): ENOTDIR otherwise. */
  directory?: boolean;
  /** Take the component walk even where openat2 exists (for tests: it is the fallback of old kernels). */
  walk?: boolean;
}

/**
 * Open `path`, relative to the directory `root` ('' is `root` itself), for reading: the fd
 * (non-blocking, close-on-exec; the caller closes it). The path is resolved in one step below
 * `root` (openat2 with RESOLVE_BENEATH), so neither a `..` nor a symlink leading out, nor a
 * directory swapped for such a symlink while the path is resolved, gets out of `root`: those
 * fail with NativeError EXDEV. A symlink that stays below `root` is followed. On kernels without
 * openat2 (before 5.6) the path is walked one component at a time and no symlink is followed
 * (ELOOP). ENOENT, ENOTDIR, ... as open(2) says.
 */
export function openBeneath(root: string, path: string, options: OpenBeneathOptions = {}): number {
  return native().openBeneath(root, path, options);
}

/** openBeneath on a libuv pool thread: a path on a slow or hung file system does not hold the event loop. */
export function openBeneathAsync(root: string, path: string, options: OpenBeneathOptions = {}): Promise<number> {
  const b = native();
  return new Promise((resolve, reject) => b.openBeneath(root, path, options, (e, fd) => (e ? reject(e) : resolve(fd!))));
}

/**
 * Hard-link `source` as `<root>/<dir>/<name>` (`dir` relative, '.' for `root` itself) without
 * following any symlink below `root` or at `root` itself: a symlink on the way fails with ELOOP,
 * a '..' out of the tree or a mount point with EXDEV, an existing `name` with EEXIST, a kernel
 * before 5.6 with ENOSYS. Throws NativeError.
 */
export function linkBeneath(source: string, root: string, dir: string, name: string): void {
  native().linkBeneath(source, root, dir, name);
}

/** An overlayfs whiteout (a character device 0/0) at `path`, hiding that name in lower layers. Throws NativeError (EEXIST, EPERM without CAP_MKNOD). */
export function makeWhiteout(path: string): void {
  native().makeWhiteout(path);
}

/** Set the extended attribute `name` of `path` (a symlink at its end is not followed) to `value`. Throws NativeError. */
export function setXattr(path: string, name: string, value: string): void {
  native().setXattr(path, name, value);
}

/** The extended attribute `name` of `path` (a symlink at its end is not followed), or undefined when it is not set. Throws NativeError. */
export function getXattr(path: string, name: string): string | undefined {
  return native().getXattr(path, name);
}
