/**
 * A small tmpfs for tests of a full disk (root only): mounted on a `corral-test-<pid>-<n>`
 * directory under the temp dir, unmounted and removed when the test ends (pass or fail).
 * Leftovers of a crashed run are cleared by clearLeftoverDirs (tmp_names.ts) first.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { clearLeftoverDirs, uniqueName, unmountUnder } from './tmp_names.ts';

/** Mount a tmpfs of `mib` MiB; it goes when the test ends. */
export function smallTmpfs(t: ExecutionContext, mib: number): string {
  clearLeftoverDirs();
  const dir = join(tmpdir(), uniqueName());
  mkdirSync(dir);
  t.teardown(() => {
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=755`, 'corral-test-tmpfs', dir]);
  return dir;
}

/** Write `path` until the file system is full (ENOSPC); returns the bytes written. */
export function fillDisk(path: string): number {
  const fd = openSync(path, 'w');
  let total = 0;
  try {
    for (let chunk = 1 << 20; chunk >= 1;) {
      try {
        total += writeSync(fd, Buffer.alloc(chunk));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        chunk = chunk >> 1;
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}
