/**
 * Unique names for the objects real-kernel tests make (namespaces, mount directories), and the
 * removal of what an earlier, crashed run left behind.
 *
 * Names are `corral-test-<pid>-<n>`: a leftover is one whose <pid> is no longer a live process,
 * so test files running side by side never clear each other's objects.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listNetns, removeNetns } from '../../lib/linux/index.ts';
import { pidAlive } from './processes.ts';

export const TEST_PREFIX = 'corral-test-';
let counter = 0;

export function uniqueName(): string {
  return `${TEST_PREFIX}${process.pid}-${counter++}`;
}

/** True for `corral-test-<pid>-...` names whose process is gone. */
export function isLeftover(name: string): boolean {
  const m = /^corral-test-(\d+)-/.exec(name);
  if (!m) return false;
  const pid = Number(m[1]);
  return pid !== process.pid && !pidAlive(pid);
}

/** Remove leftover namespaces. Returns their names. */
export function clearLeftoverNetns(): string[] {
  const gone = listNetns().filter(isLeftover);
  for (const name of gone) removeNetns(name);
  return gone;
}

/** Mount points of this process's mount table, deepest first. */
export function mountPoints(): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  return points.sort((a, b) => b.length - a.length);
}

/** Unmount (lazily) every mount on `dir` or below it, deepest first, stacked ones included. */
export function unmountUnder(dir: string): void {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return; // gone already
  }
  const under = (): string[] => mountPoints().filter((p) => p === real || p.startsWith(real + '/'));
  for (let round = 0; round < 16 && under().length > 0; round++) {
    // umount(8) --lazy (MNT_DETACH); one that fails is still listed and retried, then reported.
    for (const point of under()) spawnSync('umount', ['--lazy', point], { stdio: 'ignore' });
  }
  const left = under();
  if (left.length > 0) throw new Error(`still mounted under ${real}: ${left.join(', ')}`);
}

/** Unmount and delete leftover test directories under the temp dir. Returns the paths removed. */
export function clearLeftoverDirs(base: string = tmpdir()): string[] {
  const removed: string[] = [];
  if (!existsSync(base)) return removed;
  const dirs = readdirSync(base)
    .filter(isLeftover)
    .map((d) => join(base, d));
  for (const dir of dirs) {
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
