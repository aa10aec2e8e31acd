/**
 * Writing a fetched file into the sandbox: the way cleared (no symlink on the path), its mode and
 * owner, an archive extracted as the task's user, a digest checked, and the agent's file handed
 * to the task's user, who writes it.
 */
import { chmod, lchown, lstat, mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AsUser } from './as_user.ts';
import { SinkError, SourceError, errnoText } from './errors.ts';
import { extract } from './extract.ts';
import type { Ctx } from './request.ts';
import type { Plan } from './uri.ts';

/**
 * Make the directories of `name` inside the sandbox (given to the user) and clear the way for
 * the file: nothing on the path may be a symlink (an earlier archive could have planted one
 * pointing out of the sandbox), and an old file or link of that name is removed.
 */
export async function prepareDest(ctx: Ctx, name: string): Promise<void> {
  const parts = name.split('/');
  let dir = ctx.req.sandbox;
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    const st = await lstat(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (st === undefined) {
      await mkdir(dir, { mode: 0o755 });
      if (ctx.ids) await lchown(dir, ctx.ids.uid, ctx.ids.gid);
    } else if (!st.isDirectory()) {
      throw new SourceError(`'${name}' cannot be written: '${parts.slice(0, parts.indexOf(part) + 1).join('/')}' in the sandbox is not a directory`);
    }
  }
  const dest = join(ctx.req.sandbox, name);
  const st = await lstat(dest).catch(() => undefined);
  if (st?.isDirectory()) throw new SourceError(`'${name}' is a directory in the sandbox`);
  if (st) await unlink(dest);
}

/** Mode (0755 for executables, else 0644) and owner of a file copied into the sandbox. */
export async function finishFile(plan: Plan, ctx: Ctx, path: string): Promise<void> {
  try {
    if (!(await lstat(path)).isFile()) throw new Error('it is no longer the file that was copied');
    await chmod(path, plan.executable ? 0o755 : 0o644);
    if (ctx.ids) await lchown(path, ctx.ids.uid, ctx.ids.gid);
  } catch (e) {
    throw new SinkError(`cannot set the mode or owner of ${path}: ${errnoText(e)}`, e);
  }
}

/**
 * Extract an archive into the sandbox as the task's user; a .gz becomes `<dest without .gz>`.
 * The sandbox's stdout and stderr must still be plain files afterwards: the task's output goes
 * there, opened by root.
 */
export async function extractInto(plan: Plan, ctx: Ctx, archive: string, dest: string, agentFile = false): Promise<void> {
  const gzTarget = dest.replace(/\.gz$/i, '');
  if (plan.archive === 'gz' && !ctx.asUser) await prepareDest(ctx, plan.name.replace(/\.gz$/i, ''));
  // The user's tools cannot open the agent's files (the cache): they get it open, as their stdin.
  const fh = ctx.asUser && agentFile ? await open(archive, 'r') : undefined;
  try {
    await extract(plan.archive!, fh ? '/dev/stdin' : archive, ctx.req.sandbox, gzTarget, {
      ...(ctx.asUser ? { asUser: ctx.asUser } : {}),
      ...(fh ? { archiveFd: fh.fd } : {}),
      ...(ctx.req.signal ? { signal: ctx.req.signal } : {}),
      log: (l) => ctx.log.line(l),
    });
  } finally {
    await fh?.close();
  }
  for (const name of ['stdout', 'stderr']) {
    const st = await lstat(join(ctx.req.sandbox, name)).catch(() => undefined);
    if (st && !st.isFile())
      throw new SourceError(`the archive put a ${st.isSymbolicLink() ? 'symlink' : 'non-file'} at '${name}' in the sandbox, where the task's output goes`);
  }
}

export function digestMismatch(expected: string, actual: string): string {
  return `sha256 mismatch: expected ${expected}, got ${actual}`;
}

/** A direct download's digest check: on a mismatch the file leaves the sandbox and the fetch fails. */
export async function verifyFile(expected: string, actual: string, path: string): Promise<void> {
  if (actual === expected) return;
  await unlink(path).catch(() => {});
  throw new SourceError(digestMismatch(expected, actual));
}

/** Give the agent's file `path` (a cache entry, a download) to the user, who writes it at `name` in the sandbox. */
export async function deliverAsUser(asUser: AsUser, path: string, name: string, mode: number): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await asUser.deliver(fh.fd, name, mode);
  } finally {
    await fh.close();
  }
}

/** Remove what is at `path` (a name directly in the sandbox), unless it is a directory. */
export async function clearName(path: string, name: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (st?.isDirectory()) throw new SourceError(`'${name}' is a directory in the sandbox`);
  if (st) await unlink(path).catch(() => {}); // a failure shows as EEXIST: a copy then
}
