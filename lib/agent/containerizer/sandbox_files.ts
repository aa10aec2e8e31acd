/**
 * A sandbox's files as the agent serves them (/files/browse, /files/read, /files/download).
 * The task's user writes into its sandbox, so any directory on a path may be a symlink, or be
 * swapped for one while the agent resolves the path: every path is resolved by the kernel in
 * one step below the sandbox (lib/linux openBeneathAsync), and what is then read or listed is the
 * file that was opened, through /proc/self/fd, never the path again.
 *
 * Not a part of the containerizer: it is in this folder because agent code reaches lib/linux
 * only from containerizer/ and fetcher/ (docs/architecture.md §2), and the agent's http/ may
 * import it from here.
 */
import { closeSync, constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readdir, stat } from 'node:fs/promises';
import { CorralError } from '../../common/errors.ts';
import { isNativeError, openBeneathAsync } from '../../linux/index.ts';

/** Codes of the CorralErrors thrown here. */
export const SANDBOX_PATH_MISSING = 'SANDBOX_PATH_MISSING';
export const SANDBOX_PATH_OUTSIDE = 'SANDBOX_PATH_OUTSIDE';
export const SANDBOX_PATH_NOT_DIRECTORY = 'SANDBOX_PATH_NOT_DIRECTORY';

/** An fd below `sandbox`, or a CorralError saying why not. */
async function openFd(sandbox: string, relPath: string): Promise<number> {
  try {
    return await openBeneathAsync(sandbox, relPath);
  } catch (e) {
    // EXDEV: a '..' or a symlink leads out; ELOOP: a symlink where none is followed (old kernels).
    if (isNativeError(e, 'EXDEV') || isNativeError(e, 'ELOOP')) {
      throw new CorralError(SANDBOX_PATH_OUTSIDE, `'${relPath}' leads out of the sandbox ${sandbox}`, { cause: e });
    }
    if (isNativeError(e, 'ENOENT') || isNativeError(e, 'ENOTDIR')) {
      throw new CorralError(SANDBOX_PATH_MISSING, `'${relPath}' is not in the sandbox ${sandbox}`, { cause: e });
    }
    throw e;
  }
}

/** The open fd as a path that names that very file (no walk of the sandbox again). */
function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/**
 * Open a file of the sandbox for reading (non-blocking: a FIFO does not wait for a writer).
 * `relPath` is relative to the sandbox ('' is the sandbox itself). Throws CorralError
 * SANDBOX_PATH_MISSING or SANDBOX_PATH_OUTSIDE.
 */
export async function openSandboxFile(sandbox: string, relPath: string): Promise<FileHandle> {
  const fd = await openFd(sandbox, relPath);
  try {
    return await open(fdPath(fd), constants.O_RDONLY | constants.O_NONBLOCK);
  } finally {
    closeSync(fd);
  }
}

export interface SandboxEntry {
  readonly name: string;
  /** lstat: a symlink is listed as itself. */
  readonly stats: Stats;
}

/**
 * The entries of a directory of the sandbox, sorted by name. Throws CorralError
 * SANDBOX_PATH_MISSING, SANDBOX_PATH_OUTSIDE or SANDBOX_PATH_NOT_DIRECTORY.
 */
export async function listSandboxDir(sandbox: string, relPath: string): Promise<SandboxEntry[]> {
  const fd = await openFd(sandbox, relPath);
  try {
    const dir = fdPath(fd);
    if (!(await stat(dir)).isDirectory()) throw new CorralError(SANDBOX_PATH_NOT_DIRECTORY, `'${relPath}' in the sandbox ${sandbox} is not a directory`);
    const out: SandboxEntry[] = [];
    for (const name of (await readdir(dir)).sort()) {
      try {
        out.push({ name, stats: await lstat(`${dir}/${name}`) });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // removed meanwhile: not listed
      }
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
