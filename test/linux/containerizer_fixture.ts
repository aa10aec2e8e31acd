/**
 * Test fixture for corral-containerizer runs: fresh sandbox + run directories under the temp
 * dir, named `corral-test-<pid>-ctr-*` (see tmp_names.ts), and the removal of everything a run
 * started: the supervisor (from its pids/forked.pid, checked by start time) and every process
 * whose working directory is inside the run's directory (the command and what it left behind).
 * `clearLeftoverRuns` does the same for the directories of an earlier test process that crashed.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSameProcess, listPids } from '../../lib/linux/index.ts';
import { isLeftover } from '../helpers/tmp_names.ts';

export interface RunDirs {
  readonly base: string;
  readonly sandbox: string;
  readonly runDir: string;
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Kill the supervisors recorded below `base` and every process working inside it. */
export function killProcessesUnder(base: string): number {
  let killed = 0;
  const visit = (dir: string, depth: number): void => {
    if (depth > 4) return;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      if (n === 'forked.pid') {
        try {
          const r = JSON.parse(readFileSync(p, 'utf8')) as { pid: number; start_time: number };
          if (isSameProcess(r.pid, r.start_time)) {
            tryKill(r.pid);
            killed++;
          }
        } catch {
          // half-written or gone
        }
      } else if (!n.includes('.')) visit(p, depth + 1);
    }
  };
  visit(base, 0);
  for (const pid of listPids()) {
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue;
    }
    if (cwd === base || cwd.startsWith(base + '/')) {
      tryKill(pid);
      killed++;
    }
  }
  return killed;
}

/** Remove the run directories (and their processes) of test processes that are gone. */
export function clearLeftoverRuns(): string[] {
  const base = tmpdir();
  const dirs = readdirSync(base)
    .filter((d) => d.includes('-ctr-') && isLeftover(d))
    .map((d) => join(base, d));
  for (const d of dirs) {
    killProcessesUnder(d);
    rmSync(d, { recursive: true, force: true });
  }
  return dirs;
}

/** Fresh run directories, all cleaned up (processes included) by `cleanup()`. */
export class Runs {
  private readonly made: string[] = [];

  fresh(): RunDirs {
    const base = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-ctr-`));
    this.made.push(base);
    const sandbox = join(base, 'sandbox');
    const runDir = join(base, 'run');
    mkdirSync(sandbox);
    mkdirSync(runDir);
    return { base, sandbox, runDir };
  }

  cleanup(): void {
    for (const d of this.made.splice(0)) {
      killProcessesUnder(d);
      rmSync(d, { recursive: true, force: true });
    }
  }
}

/** Wait until `cond()` holds (checked every 10 ms), or throw after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'the condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** True while `pid` is a live process (not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
