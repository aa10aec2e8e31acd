/**
 * Bind mounts and the mount table.
 */
import { native, type MountInfo } from './native.ts';

export type { MountInfo } from './native.ts';

export interface BindMountOptions {
  /** Remount the bind read-only (the bind is undone if that fails). */
  readOnly?: boolean;
  /** Also bind the mounts below `source` (MS_REC). */
  recursive?: boolean;
}

/** Bind-mount the existing `source` on the existing `target`. Throws NativeError. */
export function bindMount(source: string, target: string, options: BindMountOptions = {}): void {
  native().bindMount(source, target, options);
}

export interface UnmountOptions {
  /** Lazy unmount (MNT_DETACH): detach now, clean up when no longer busy. */
  detach?: boolean;
}

/**
 * Unmount the topmost mount on `target` (symlinks not followed). Returns false if `target` is
 * not a mount point or does not exist. Throws NativeError (e.g. EBUSY).
 */
export function unmount(target: string, options: UnmountOptions = {}): boolean {
  return native().unmount(target, options);
}

/** The mount whose mount point is `path` (symlinks followed), or undefined if there is none. */
export function getMount(path: string): MountInfo | undefined {
  return native().getMount(path);
}

export function isMountPoint(path: string): boolean {
  return native().getMount(path) !== undefined;
}
