/**
 * Test fixture for real cgroups: a unique cgroup root per test process (`corral-test-<pid>-<n>`,
 * see tmp_names.ts), removed with everything in it (processes killed first) by `removeRoot`, and
 * the removal of the roots an earlier, crashed test process left behind.
 */
import { join } from 'node:path';
import { openCgroups, type CgroupController, type Cgroups } from '../../lib/linux/index.ts';
import { isLeftover, uniqueName } from '../helpers/tmp_names.ts';

/** Every controller the tests use cgroups of. */
export const TEST_CONTROLLERS: readonly CgroupController[] = ['cpu', 'cpuacct', 'memory', 'freezer'];

let host: Cgroups | undefined;

/** The host's cgroups (/sys/fs/cgroup), discovered once. */
export function hostCgroups(): Cgroups {
  host ??= openCgroups('/sys/fs/cgroup');
  return host;
}

/** A fresh, unique root name, `corral-test-<pid>-<n>`. */
export function testRoot(): string {
  return uniqueName();
}

/** Kill everything in cgroup `root` (of every test controller) and remove it. */
export async function removeRoot(root: string, cgroups: Cgroups = hostCgroups()): Promise<void> {
  const controllers = TEST_CONTROLLERS.filter((c) => cgroups.has(c));
  await cgroups.killAll(root, controllers);
  await cgroups.remove(root, controllers);
}

/** Remove the roots of test processes that are gone. Returns their names. */
export async function clearLeftoverCgroups(cgroups: Cgroups = hostCgroups()): Promise<string[]> {
  const found = new Set<string>();
  for (const c of TEST_CONTROLLERS) {
    if (!cgroups.has(c)) continue;
    for (const name of cgroups.children('', c)) if (isLeftover(name)) found.add(name);
  }
  for (const name of found) await removeRoot(name, cgroups);
  return [...found];
}

/** The directory of cgroup `path` in `controller`'s hierarchy. */
export function cgroupDir(path: string, controller: CgroupController, cgroups: Cgroups = hostCgroups()): string {
  return cgroups.dirs(path, [controller])[0] ?? join(cgroups.hierarchy, path);
}
