/**
 * The waiting steps of killing a cgroup's processes: SIGKILL, polling until a condition holds,
 * and the v1 freezer (freeze, thaw) that keeps processes from forking away meanwhile.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CorralError } from '../../common/errors.ts';
import { readCgroupFile, writeCgroupFile } from './io.ts';

export const FREEZE_WAIT_MS = 250;
export const FREEZE_ATTEMPTS = 4;

export function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** Wait until `done()` holds, polling 1 ms, then longer; false after `ms`. */
export async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  let step = 1;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= end) return false;
    await sleep(step);
    step = Math.min(step * 2, 20);
  }
}

function freezerState(dir: string): string {
  return readCgroupFile(join(dir, 'freezer.state')).trim();
}

/** Freeze (v1 freezer). A freeze that hangs (MESOS-1689) is undone and tried again; after that, go on. */
export async function freezeV1(dir: string): Promise<void> {
  for (let attempt = 0; attempt < FREEZE_ATTEMPTS; attempt++) {
    writeCgroupFile(join(dir, 'freezer.state'), 'FROZEN');
    if (await waitFor(() => freezerState(dir) === 'FROZEN', FREEZE_WAIT_MS)) return;
    thawV1(dir);
  }
}

export function thawV1(dir: string): void {
  try {
    writeCgroupFile(join(dir, 'freezer.state'), 'THAWED');
  } catch (e) {
    if ((e as CorralError).code !== 'ENOENT') throw e;
  }
}
