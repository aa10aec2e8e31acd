/**
 * Files in directory trees that another user controls.
 */
import { native } from './native.ts';

/**
 * Hard-link `source` as `<root>/<dir>/<name>` (`dir` relative, '.' for `root` itself) without
 * following any symlink below `root` or at `root` itself: a symlink on the way fails with ELOOP,
 * a '..' out of the tree or a mount point with EXDEV, an existing `name` with EEXIST, a kernel
 * before 5.6 with ENOSYS. Throws NativeError.
 */
export function linkBeneath(source: string, root: string, dir: string, name: string): void {
  native().linkBeneath(source, root, dir, name);
}
