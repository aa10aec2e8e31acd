/**
 * The directories a daemon's flags name (--work_dir, --fetcher_cache_dir): checked before
 * anything is made, then made one level at a time, so a refused start leaves nothing behind.
 *
 * Node's `mkdir(…, { recursive: true })` never returns on a filesystem that answers ENOENT for
 * a directory whose parent exists (/proc, /sys): it makes the parent again and retries forever.
 */
import { constants as fsc } from 'node:fs';
import { access, lstat, mkdir, realpath, rm, stat, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FlagError } from '../common/flags.ts';
import { describeError } from '../common/errors.ts';

/** Filesystems made by the kernel for its own objects: nothing of a daemon's can live there. */
const PSEUDO_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0xcafe4a11, 'bpf'],
  [0x1cd1, 'devpts'],
]);

/** The directory that already exists nearest to `path` (itself, or its closest ancestor). */
async function nearestExisting(flag: string, path: string): Promise<{ dir: string; exists: boolean }> {
  let p = resolve(path);
  for (;;) {
    try {
      const s = await stat(p);
      if (!s.isDirectory()) throw new FlagError(flag, `'${p}' exists and is not a directory`);
      return { dir: p, exists: p === resolve(path) };
    } catch (e) {
      if (e instanceof FlagError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new FlagError(flag, `cannot use '${path}': ${describeError(e)}`);
      if (dirname(p) === p) throw new FlagError(flag, `cannot use '${path}': no directory above it exists`);
      p = dirname(p);
    }
  }
}

/**
 * Check, without making anything, that the directory a flag names exists or can be made and
 * written: returns the directory nearest to it that exists (for statfs and the like).
 */
export async function checkDirectoryFlag(flag: string, path: string): Promise<string> {
  const { dir } = await nearestExisting(flag, path);
  const fs = await statfs(dir).catch(() => undefined);
  const kind = fs === undefined ? undefined : PSEUDO_FILESYSTEMS.get(fs.type);
  if (kind !== undefined) throw new FlagError(flag, `'${path}' is on the kernel's ${kind} filesystem, where no directory can be made or kept`);
  try {
    await access(dir, fsc.W_OK | fsc.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') throw new FlagError(flag, `cannot write in '${dir}': it is on a read-only file system (EROFS)`);
    if (code === 'EACCES') throw new FlagError(flag, `cannot write in '${dir}': permission denied for uid ${process.getuid?.() ?? '?'} (EACCES)`);
    throw new FlagError(flag, `cannot write in '${dir}': ${describeError(e)}`);
  }
  return dir;
}

/**
 * Make the directory a flag names, one level at a time; a level that cannot be made fails at
 * once, naming the flag. Returns the topmost directory it made (undefined when it existed), for
 * `removeMade` should the start fail later.
 */
export async function makeDirectoryFlag(flag: string, path: string): Promise<string | undefined> {
  const { dir, exists } = await nearestExisting(flag, path);
  if (exists) return undefined;
  const target = resolve(path);
  const levels: string[] = [];
  for (let p = target; p !== dir; p = dirname(p)) levels.unshift(p);
  let made: string | undefined;
  for (const level of levels) {
    try {
      await mkdir(level);
      made ??= level;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await stat(level).catch(() => undefined))?.isDirectory()) continue;
      await removeMade(made);
      throw new FlagError(flag, `cannot make the directory '${level}': ${describeError(e)}`);
    }
  }
  return made;
}

/** Remove what makeDirectoryFlag made (a start that failed after it). */
export async function removeMade(made: string | undefined): Promise<void> {
  if (made !== undefined) await rm(made, { recursive: true, force: true }).catch(() => {});
}

/** `path` and each directory above it, from the root down. */
function levels(path: string): string[] {
  const out: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    out.unshift(p);
    if (dirname(p) === p) return out;
  }
}

/**
 * For a directory where root writes files that users must not steer (--fetcher_cache_dir, when
 * the agent is root): no other user may own it or any directory above it, nor own a symlink on
 * the way; a directory above it may be writable by others only with the sticky bit (/tmp), and
 * the directory itself, if it exists, by nobody but root. Otherwise a user could put their own
 * directory or a symlink where root then creates and writes files.
 */
export async function checkRootOnlyDirectoryFlag(flag: string, path: string): Promise<void> {
  const target = resolve(path);
  const { dir, exists } = await nearestExisting(flag, target);
  const refuse = (where: string, why: string): never => {
    throw new FlagError(flag, `'${where}' ${why}: another user could make root write where they choose (use a directory only root can change)`);
  };
  // Symlinks on the way as written, then every directory on the way as it really is.
  for (const level of levels(dir)) {
    const st = await lstat(level);
    if (st.isSymbolicLink() && st.uid !== 0) refuse(level, `is a symlink owned by uid ${st.uid}`);
  }
  const real = await realpath(dir);
  for (const level of levels(real)) {
    const st = await lstat(level);
    if (st.uid !== 0) refuse(level, `is owned by uid ${st.uid}`);
    if (exists && level === real) {
      if ((st.mode & 0o022) !== 0) refuse(level, `is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8)})`);
    } else if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) {
      refuse(level, `is writable by others without the sticky bit (mode ${(st.mode & 0o7777).toString(8)})`);
    }
  }
}
