/**
 * Named, persistent network namespaces, compatible with `ip netns` (iproute2): the namespace
 * NAME is pinned by a bind mount on /run/netns/NAME, so `ip -n NAME ...` works on it.
 * The namespace switch happens on a private native thread, never on the calling thread.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { native, type NetnsInfo } from './native.ts';

export type { NetnsInfo } from './native.ts';

export const NETNS_DIR = '/run/netns';

export function netnsPath(name: string): string {
  return join(NETNS_DIR, name);
}

/** Create the namespace NAME. Returns false if it already exists. Throws NativeError. */
export function createNetns(name: string): boolean {
  return native().createNetns(name);
}

/** The same off the JS thread (making a namespace costs a thread and a mount, ~0.4 ms here). */
export function createNetnsAsync(name: string): Promise<boolean> {
  const b = native();
  return new Promise((resolve, reject) => b.createNetns(name, (e, created) => (e ? reject(e) : resolve(created!))));
}

/**
 * Remove the namespace NAME (lazy unmount + unlink; processes inside keep it alive, only the
 * name goes). Returns false if there was nothing to remove. Throws NativeError.
 */
export function removeNetns(name: string): boolean {
  return native().removeNetns(name);
}

/** The namespace NAME, or undefined if there is none. */
export function getNetns(name: string): NetnsInfo | undefined {
  return native().getNetns(name);
}

/** Names of the entries of /run/netns (a half-made one included); [] if the directory is missing. */
export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
