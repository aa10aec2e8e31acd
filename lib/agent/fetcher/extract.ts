/**
 * Archive extraction into a sandbox, with Debian's tools as child processes (off the launch hot
 * path: one archive costs a few ms of process start next to its decompression):
 *
 *   tar  (.tar, .tar.gz/.tgz, .tar.bz2/.tbz2, .tar.xz/.txz; GNU tar finds the compression)
 *        `tar -x -f <archive> -C <dir> --no-same-owner --no-overwrite-dir`
 *   zip  `unzip -o -q <archive> -d <dir>`
 *   .gz  one file, gunzipped in-process (zlib) to the name without `.gz`
 *
 * No entry may escape the sandbox: the archive is listed first (`tar -t`, `unzip -Z1`) and one
 * absolute name or `..` component fails the fetch with the entry named (GNU tar would skip such
 * entries and unzip would strip them silently). Symlinks inside one archive cannot be written
 * through (GNU tar makes placeholders for symlinks that point out or up; unzip creates symlinks
 * last). With a task user (as_user.ts) the tools, gunzip included, run with that user's rights
 * (uid, gid and supplementary groups), so an archive can never write where the task itself could
 * not, every file belongs to the user, and no set-user-ID bit is kept.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { relative } from 'node:path';
import { type AsUser, type Ran, runAs } from './as_user.ts';
import { createFile } from './download.ts';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { SinkError, SourceError, errnoText } from './errors.ts';
import type { ArchiveType } from './uri.ts';

export interface Ids {
  readonly uid: number;
  readonly gid: number;
}

export interface ExtractOptions {
  /** Run the tools as the task's user (the agent is root, the task is not). */
  readonly asUser?: AsUser;
  /** The archive is this open file of the agent's: the tools read it as /dev/stdin (pass that as `archive`). */
  readonly archiveFd?: number;
  readonly signal?: AbortSignal;
  /** Lines for the sandbox log (the tools' warnings). */
  readonly log?: (line: string) => void;
}

function run(cmd: string, args: string[], opts: ExtractOptions): Promise<Ran> {
  return runAs(opts.asUser?.user, cmd, args, {
    ...(opts.archiveFd === undefined ? {} : { stdin: opts.archiveFd }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

/** The first entry name that would land outside the extraction directory, if any. */
export function escapingEntry(names: readonly string[]): string | undefined {
  return names.find((n) => n.startsWith('/') || n.startsWith('\\') || n.split(/[/\\]/).includes('..'));
}

async function list(type: 'tar' | 'zip', archive: string, opts: ExtractOptions): Promise<string[]> {
  const r = type === 'tar' ? await run('tar', ['-t', '-f', archive], opts) : await run('unzip', ['-Z1', archive], opts);
  if (r.code !== 0) {
    throw new SourceError(`cannot read the archive (${type === 'tar' ? 'tar' : 'unzip'} exit ${r.code}${r.stderr ? `: ${lastLines(r.stderr)}` : ''})`);
  }
  return r.stdout.split('\n').filter((l) => l !== '');
}

function lastLines(text: string): string {
  return text.split('\n').slice(-3).join('; ');
}

/**
 * Extract `archive` (of `type`) into `dir`; for 'gz', write the one file to `gzTarget` (a new
 * file; the user's when there is one).
 * A bad archive is a SourceError naming the reason.
 */
export async function extract(type: ArchiveType, archive: string, dir: string, gzTarget: string, opts: ExtractOptions = {}): Promise<void> {
  if (type === 'gz' && opts.asUser) {
    await opts.asUser.gunzip(archive, relative(opts.asUser.sandbox, gzTarget), opts.archiveFd);
    return;
  }
  if (type === 'gz') {
    const fh = await createFile(gzTarget, { mode: 0o644, exclusive: true });
    const out = createWriteStream(gzTarget, { fd: fh });
    // A failed write is a system call's error; a bad gzip stream is zlib's (no syscall).
    let writeError: NodeJS.ErrnoException | undefined;
    out.once('error', (e: NodeJS.ErrnoException) => {
      if (e.syscall !== undefined) writeError = e;
    });
    try {
      await pipeline(createReadStream(archive), createGunzip(), out, ...(opts.signal ? [{ signal: opts.signal }] : []));
    } catch (e) {
      if (opts.signal?.aborted) throw new SourceError('the fetch was aborted', true);
      if (writeError) throw new SinkError(`cannot write ${gzTarget}: ${errnoText(writeError)}`, writeError);
      throw new SourceError(`cannot gunzip the file: ${errnoText(e)}`);
    }
    return;
  }
  const names = await list(type, archive, opts);
  const bad = escapingEntry(names);
  if (bad !== undefined) throw new SourceError(`the archive entry '${bad}' would be extracted outside the sandbox; nothing was extracted`);
  const r =
    type === 'tar'
      ? await run('tar', ['-x', '-f', archive, '-C', dir, '--no-same-owner', '--no-overwrite-dir'], opts)
      : await run('unzip', ['-o', '-q', archive, '-d', dir], opts);
  // unzip: 1 = warnings only, the files are there.
  const ok = r.code === 0 || (type === 'zip' && r.code === 1);
  if (r.stderr) opts.log?.(`${type === 'tar' ? 'tar' : 'unzip'}: ${r.stderr}`);
  if (!ok)
    throw new SourceError(`cannot extract the archive (${type === 'tar' ? 'tar' : 'unzip'} exit ${r.code}${r.stderr ? `: ${lastLines(r.stderr)}` : ''})`);
}
