/**
 * Reading and writing cgroup control files, and the addon's eventfd listeners on them.
 *
 * Everything that does not wait is synchronous: a cgroup file is read or written with a few
 * system calls (open, read/write, close) into one reused buffer, which costs microseconds.
 *
 * Errors are CorralErrors whose code is the errno name (`ENOENT`, `EBUSY`, `EINVAL`...) and whose
 * message names the file.
 */
import { closeSync, openSync, readSync, writeSync, constants as fsc } from 'node:fs';
import { posix } from 'node:path';
import { CorralError, systemCode } from '../../common/errors.ts';
import { native } from '../native.ts';

export function fail(op: string, path: string, e: unknown, value?: string): CorralError {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err.code === 'string' ? systemCode(err.code) : 'EIO';
  const what = value === undefined ? path : `${path} (${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)})`;
  return new CorralError(code, `${op} ${what}: ${err.message ?? String(e)}`, { cause: e });
}

const BUF = Buffer.allocUnsafe(64 * 1024);

/** The text of a (small) control file: open, one read (more only if the buffer fills), close. */
export function readCgroupFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY);
  } catch (e) {
    throw fail('read', path, e);
  }
  try {
    const n = readSync(fd, BUF, 0, BUF.length, null);
    if (n < BUF.length) return BUF.toString('latin1', 0, n);
    // Larger than the buffer (a big cgroup.procs): read the rest the ordinary way.
    const parts = [Buffer.from(BUF)];
    for (;;) {
      const more = Buffer.allocUnsafe(BUF.length);
      const m = readSync(fd, more, 0, more.length, null);
      if (m === 0) break;
      parts.push(more.subarray(0, m));
    }
    return Buffer.concat(parts).toString('latin1');
  } catch (e) {
    throw fail('read', path, e);
  } finally {
    closeSync(fd);
  }
}

/** undefined when the file does not exist (a controller or kernel feature that is not there). */
export function readOptional(path: string): string | undefined {
  try {
    return readCgroupFile(path);
  } catch (e) {
    if ((e as CorralError).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Write `value` to a control file in one write(2). Opened write-only (O_TRUNC, as a shell
 * redirection opens it) without O_CREAT: the file
 * must exist (cgroupfs makes them; a misspelt name fails instead of creating a file).
 */
export function writeCgroupFile(path: string, value: string): void {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_TRUNC);
  } catch (e) {
    throw fail('write', path, e, value);
  }
  try {
    writeSync(fd, value);
  } catch (e) {
    throw fail('write', path, e, value);
  } finally {
    closeSync(fd);
  }
}

export function readNumber(path: string): number | undefined {
  const t = readOptional(path);
  if (t === undefined) return undefined;
  const v = t.trim();
  if (v === 'max') return Infinity;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export function checkPath(path: string, allowTop = false): string {
  const p = posix.normalize(path === '' ? '.' : path);
  if (allowTop && p === '.') return p;
  if (p.startsWith('/') || p === '..' || p.startsWith('../') || p === '.') {
    throw new CorralError('EINVAL', `cgroup path ${JSON.stringify(path)}: must be relative to the hierarchy and below it`);
  }
  return p;
}

/** An eventfd listener on control file `file` of v1 cgroup directory `dir`; returns its stop function (idempotent). */
export function listenV1(dir: string, file: string, args: string | undefined, onEvents: (n: number) => void): () => void {
  const id = native().cgroupEventListen(dir, file, args, onEvents);
  let open = true;
  return () => {
    if (open) native().cgroupEventClose(id);
    open = false;
  };
}
