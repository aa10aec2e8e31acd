/**
 * What v1 and v2 do alike: a cgroup's directories, its children and processes, attaching,
 * creating, and removing a cgroup with its children.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CorralError } from '../../common/errors.ts';
import { checkPath, fail, readOptional, writeCgroupFile } from './io.ts';
import { parsePids } from './stats.ts';
import type { CgroupController } from './types.ts';

export abstract class CgroupsBase {
  abstract readonly version: 1 | 2;
  abstract dirs(path: string, controllers: readonly CgroupController[]): string[];
  protected abstract dir(path: string, controller: CgroupController): string | undefined;

  exists(path: string, controller: CgroupController): boolean {
    const d = this.dir(checkPath(path), controller);
    return d !== undefined && existsSync(d);
  }

  children(path: string, controller: CgroupController): string[] {
    const d = this.dir(checkPath(path, true), controller);
    if (!d) return [];
    try {
      return readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fail('list', d, e);
    }
  }

  pids(path: string, controller: CgroupController): number[] {
    const d = this.dir(checkPath(path), controller);
    if (!d) return [];
    const t = readOptional(join(d, 'cgroup.procs'));
    return t === undefined ? [] : parsePids(t);
  }

  attach(path: string, controllers: readonly CgroupController[], pid: number): void {
    for (const d of this.dirs(path, controllers)) writeCgroupFile(join(d, 'cgroup.procs'), String(pid));
  }

  create(path: string, controllers: readonly CgroupController[]): boolean {
    let made = false;
    for (const d of this.dirs(path, controllers)) {
      try {
        made = mkdirSync(d, { recursive: true }) !== undefined || made;
      } catch (e) {
        throw fail('mkdir', d, e);
      }
    }
    return made;
  }

  /** Pids in `path` and below it, for every directory of `controllers`. */
  protected allPids(dirs: readonly string[]): number[] {
    const out = new Set<number>();
    const visit = (d: string, depth: number): void => {
      const t = readOptional(join(d, 'cgroup.procs'));
      if (t === undefined) return;
      for (const p of parsePids(t)) out.add(p);
      if (depth > 8) return;
      let names: string[] = [];
      try {
        names = readdirSync(d, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => e.name);
      } catch {
        return;
      }
      for (const n of names) visit(join(d, n), depth + 1);
    };
    for (const d of dirs) visit(d, 0);
    return [...out];
  }

  async remove(path: string, controllers: readonly CgroupController[]): Promise<void> {
    const errors: string[] = [];
    for (const d of this.dirs(path, controllers)) {
      try {
        await removeTree(d);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (errors.length > 0) throw new CorralError('EBUSY', errors.join('; '));
  }
}

/** rmdir `dir` after its child cgroups; ENOENT = done; EBUSY (processes leaving) is retried for 1 s. */
async function removeTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fail('list', dir, e);
  }
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  const end = Date.now() + 1000;
  for (let step = 1; ; step = Math.min(step * 2, 50)) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code === 'ENOTEMPTY' && isPlainDirectory(dir)) {
        // cgroupfs never answers ENOTEMPTY (its control files go with the directory): this is a
        // directory that imitates one (a fake tree in tests). Remove it as a directory.
        rmSync(dir, { recursive: true, force: true });
        return;
      }
      if (code !== 'EBUSY' || Date.now() >= end) throw fail('rmdir', dir, e);
    }
    await sleep(step);
  }
}

/** True if `dir` holds only regular files (no child directories). */
function isPlainDirectory(dir: string): boolean {
  try {
    return readdirSync(dir, { withFileTypes: true }).every((e) => e.isFile());
  } catch {
    return false;
  }
}
