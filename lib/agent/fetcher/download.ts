/**
 * Getting bytes from a source onto disk: http/https streamed to a file (redirects followed,
 * success is 200 as with Mesos's libcurl, a body shorter than its Content-Length is a truncated
 * download, no data for the stall timeout aborts), and local files copied (copy_file_range or a
 * reflink where the filesystem has one). Errors say which side failed: a SourceError (the server,
 * the network, the source file) or a SinkError (writing the destination).
 */
import { type Hash, createHash } from 'node:crypto';
import { constants as fsConstants, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, open, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { finished, pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { MAX_TIMER_MS } from '../../common/clock.ts';
import { SinkError, SourceError, errnoText } from './errors.ts';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
export const MAX_REDIRECTS = 20;

export interface Progress {
  /** Bytes received so far. */
  bytes: number;
}

export interface HttpBody {
  readonly response: IncomingMessage;
  /** Content-Length, when the server sent one. */
  readonly size: number | undefined;
  /** The URL after redirects. */
  readonly url: URL;
  /** Set when the stall timeout ended the transfer. */
  readonly stall: { stalled: boolean; readonly timeoutMs: number };
}

const NET_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  EPIPE: 'connection closed',
};

function netReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const word = err?.code ? NET_WORDS[err.code] : undefined;
  return word ? `${word} (${err.message})` : errnoText(e);
}

function abortedError(): SourceError {
  return new SourceError('the fetch was aborted', true);
}

function stalledText(timeoutMs: number): string {
  return `no data for ${timeoutMs / 1000} s (stalled)`;
}

function get(url: URL, signal: AbortSignal | undefined, stall: HttpBody['stall']): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.get(url, {
      agent: false,
      headers: { 'user-agent': 'corral-fetcher', 'accept-encoding': 'identity' },
      ...(signal ? { signal } : {}),
    });
    // The socket's idle timeout covers the connect, the wait for headers and the body.
    // (At most what Node's timers take, about 24.8 days: a longer --fetcher_stall_timeout is as good as none.)
    req.setTimeout(Math.min(stall.timeoutMs, MAX_TIMER_MS), () => {
      stall.stalled = true;
      req.destroy();
    });
    req.once('response', resolve);
    req.once('error', (e) => reject(signal?.aborted ? abortedError() : new SourceError(stall.stalled ? stalledText(stall.timeoutMs) : netReason(e))));
  });
}

/**
 * GET `url`, following redirects, and return the 200 response with its body unread. Any other
 * final status is a SourceError "HTTP <status> <text>".
 */
export async function openHttp(start: URL, opts: { signal?: AbortSignal; stallTimeoutMs: number }): Promise<HttpBody> {
  let url = start;
  for (let hops = 0; ; hops++) {
    if (opts.signal?.aborted) throw abortedError();
    const stall = { stalled: false, timeoutMs: opts.stallTimeoutMs };
    const res = await get(url, opts.signal, stall);
    const status = res.statusCode ?? 0;
    if (REDIRECTS.has(status) && res.headers.location) {
      res.resume();
      if (hops >= MAX_REDIRECTS) throw new SourceError(`more than ${MAX_REDIRECTS} redirects`);
      let next: URL;
      try {
        next = new URL(res.headers.location, url);
      } catch {
        throw new SourceError(`HTTP ${status} redirects to an invalid URL '${res.headers.location}'`);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:')
        throw new SourceError(`HTTP ${status} redirects to '${next.href}', which is not http or https`);
      url = next;
      continue;
    }
    if (status !== 200) {
      res.destroy();
      throw new SourceError(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}${url.href !== start.href ? ` (from ${url.href})` : ''}`);
    }
    const length = res.headers['content-length'];
    const size = length !== undefined && /^[0-9]+$/.test(length) ? Number(length) : undefined;
    return { response: res, size, url, stall };
  }
}

export interface NewFile {
  /** The file's mode, set on the open file (whatever the umask). */
  readonly mode: number;
  /** Its owner, set on the open file. */
  readonly owner?: { readonly uid: number; readonly gid: number } | undefined;
  /** Create it, failing if the name exists (a symlink included: nothing is followed). */
  readonly exclusive: boolean;
}

/**
 * Open a new file for writing with its mode and owner set through the open descriptor, so that
 * nothing a task's user might have put at that name (a symlink) gets written or chowned.
 */
export async function createFile(path: string, spec: NewFile): Promise<FileHandle> {
  let fh;
  try {
    fh = await open(path, spec.exclusive ? fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW : 'w', spec.mode);
  } catch (e) {
    throw new SinkError(`cannot create ${path}: ${errnoText(e)}`, e);
  }
  try {
    await fh.chmod(spec.mode);
    if (spec.owner) await fh.chown(spec.owner.uid, spec.owner.gid);
  } catch (e) {
    await fh.close().catch(() => {});
    throw new SinkError(`cannot set the mode or owner of ${path}: ${errnoText(e)}`, e);
  }
  return fh;
}

/**
 * A second file a download is written to as it arrives (a cache miss writes the cache's file and
 * the sandbox's copy at once, instead of copying the whole file again after the download). It is
 * best effort: `written` is true only when the whole body reached it; on any failure of its own
 * it is removed and the download goes on.
 */
export interface Tee {
  readonly path: string;
  readonly file: NewFile;
  written: boolean;
}

/** Stream a 200 response into a new file `dest` (and `tee`). Counts into `progress` (and `hash`). Returns the byte count. */
export async function receive(
  body: HttpBody,
  dest: string,
  file: NewFile,
  opts: { progress?: Progress; signal?: AbortSignal; hash?: Hash; tee?: Tee } = {},
): Promise<number> {
  const res = body.response;
  const progress = opts.progress ?? { bytes: 0 };
  let fh;
  try {
    fh = await createFile(dest, file);
  } catch (e) {
    res.destroy();
    throw e;
  }
  const out = createWriteStream(dest, { fd: fh, highWaterMark: 1024 * 1024 });
  // A failed write is a system call's error (ENOSPC, EIO, ...); anything else that ends the
  // pipeline came from the response (pipeline passes the response's error to the file too).
  let writeError: NodeJS.ErrnoException | undefined;
  out.once('error', (e: NodeJS.ErrnoException) => {
    if (e.syscall !== undefined) writeError = e;
  });
  const tee = opts.tee;
  let teeOut: Writable | undefined;
  let teeFailed = false;
  if (tee) {
    try {
      teeOut = createWriteStream(tee.path, { fd: await createFile(tee.path, tee.file), highWaterMark: 1024 * 1024 });
      teeOut.on('error', () => {
        teeFailed = true;
        res.unpipe(teeOut);
      });
      // Both files take each chunk; the response waits for the slower of them (pipe's backpressure).
      res.pipe(teeOut);
    } catch {
      teeFailed = true;
    }
  }
  const dropTee = async (): Promise<void> => {
    if (!tee) return;
    tee.written = false;
    teeOut?.destroy();
    await rm(tee.path, { force: true }).catch(() => {});
  };
  const hash = opts.hash;
  res.on('data', (chunk: Buffer) => {
    progress.bytes += chunk.length;
    hash?.update(chunk); // the digest is computed on the bytes as they pass: no second read
  });
  try {
    await pipeline(res, out);
  } catch (e) {
    await dropTee();
    if (opts.signal?.aborted) throw abortedError();
    if (writeError) throw new SinkError(`cannot write ${dest}: ${errnoText(writeError)}`, writeError);
    if (body.stall.stalled)
      throw new SourceError(`${stalledText(body.stall.timeoutMs)} after ${progress.bytes}${body.size === undefined ? '' : ` of ${body.size}`} bytes`);
    if (body.size !== undefined && progress.bytes < body.size) {
      throw new SourceError(`truncated download: the connection closed after ${progress.bytes} of ${body.size} bytes`);
    }
    throw new SourceError(`the download broke off after ${progress.bytes} bytes: ${netReason(e)}`);
  }
  if (body.size !== undefined && progress.bytes !== body.size) {
    await dropTee();
    throw new SourceError(`truncated download: got ${progress.bytes} of ${body.size} bytes`);
  }
  if (tee && teeOut && !teeFailed) {
    try {
      await finished(teeOut);
      tee.written = !teeFailed;
    } catch {
      tee.written = false;
    }
  }
  if (tee && !tee.written) await dropTee();
  return progress.bytes;
}

/** The size of a local source file (following symlinks); a SourceError if it is not a readable file. */
export async function localSize(path: string): Promise<number> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SourceError(code === 'ENOENT' ? `no such file '${path}'` : errnoText(e));
  }
  if (!st.isFile()) throw new SourceError(`'${path}' is not a regular file`);
  return st.size;
}

/**
 * Copy a file: a reflink where the filesystem can, else the kernel's copy (copy_file_range).
 * With `exclusive`, `dest` must not exist (a symlink there is not followed). Callers check the
 * source first (localSize), so a failure here is a SinkError.
 */
export async function copyLocal(src: string, dest: string, exclusive = false): Promise<void> {
  try {
    await copyFile(src, dest, fsConstants.COPYFILE_FICLONE | (exclusive ? fsConstants.COPYFILE_EXCL : 0));
  } catch (e) {
    throw new SinkError(`cannot copy ${src} to ${dest}: ${errnoText(e)}`, e);
  }
}

/** The sha256 (hex) of a file, read once. */
export async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}
