/**
 * Durable files for the agent's checkpoints: whole files written atomically (temporary file,
 * fsync, rename, fsync of the directory) and append-only record logs (RecordIO-framed JSON)
 * whose torn last record, left by a crash, is dropped and truncated away on recovery.
 */
import { readFileSync, truncateSync } from 'node:fs';
import { mkdir, open, readFile, rename, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CorralError, describeError } from '../common/errors.ts';
import { MAX_INTERNAL_JSON_DEPTH, checkJsonDepth } from '../proto/json.ts';

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Write `data` to `path` so that a crash leaves either the old or the new content. */
export async function writeAtomic(path: string, data: string | Buffer): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
  } catch (e) {
    // A full disk (ENOSPC) or another failure: the old file is untouched; the partial
    // temporary file goes, so that it holds no space.
    await unlink(tmp).catch(() => {});
    throw checkpointError(path, e);
  }
}

/** A failed checkpoint write, naming the file and the system's reason (CHECKPOINT_WRITE_FAILED). */
function checkpointError(path: string, e: unknown): CorralError {
  if (e instanceof CorralError) return e;
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'no space left on the device' : err.code === 'EDQUOT' ? 'disk quota exceeded' : (err.message ?? String(e));
  return new CorralError('CHECKPOINT_WRITE_FAILED', `cannot checkpoint ${path}: ${why}`, { cause: e });
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeAtomic(path, JSON.stringify(value));
}

/** Read a JSON checkpoint; undefined when absent; a clear error when corrupt. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseCheckpoint<T>(path, text);
}

/** readJson with a synchronous read (recovery reads thousands of small files at start). */
export function readJsonSync<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseCheckpoint<T>(path, text);
}

function parseCheckpoint<T>(path: string, text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CorralError('CHECKPOINT_CORRUPT', `checkpoint ${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  // A checkpoint nested too deep cannot be used: it could not be sent to the master or written
  // again. Only an older agent, which did not limit what executors and frameworks sent, could
  // have written one.
  try {
    checkJsonDepth(value, '', MAX_INTERNAL_JSON_DEPTH);
  } catch (e) {
    throw new CorralError('CHECKPOINT_CORRUPT', `checkpoint ${path} cannot be used: ${describeError(e)}`, { cause: e });
  }
  return value as T;
}

/** Point `link` at `target`, replacing what was there, atomically. */
export async function replaceSymlink(target: string, link: string): Promise<void> {
  await mkdir(dirname(link), { recursive: true });
  const tmp = `${link}.tmp-${process.pid}`;
  await unlink(tmp).catch(() => {});
  await symlink(target, tmp);
  await rename(tmp, link);
}

function frame(record: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(record));
  return Buffer.concat([Buffer.from(`${body.length}\n`), body]);
}

/**
 * An append-only log of JSON records, each fsynced before `append` resolves. Operations run in
 * call order, so a close waits for appends already asked for; an append after close fails.
 * An append that fails (a full disk) is undone: the file is cut back to its last complete
 * record, so a later append never follows a torn one. If even that fails, the log refuses
 * further appends (its torn tail is dropped at recovery).
 */
export class RecordLog {
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** Set when a failed append could not be undone. */
  private broken: CorralError | undefined;
  private constructor(
    readonly path: string,
    private fh: Awaited<ReturnType<typeof open>>,
    /** Bytes of complete records. */
    private size: number,
  ) {}

  private enqueue(op: () => Promise<void>): Promise<void> {
    const next = this.chain.then(op);
    this.chain = next.catch(() => {});
    return next;
  }

  static async open(path: string): Promise<RecordLog> {
    try {
      await mkdir(dirname(path), { recursive: true });
      const fh = await open(path, 'a');
      try {
        return new RecordLog(path, fh, (await fh.stat()).size);
      } catch (e) {
        await fh.close();
        throw e;
      }
    } catch (e) {
      throw checkpointError(path, e);
    }
  }

  append(record: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new CorralError('CHECKPOINT_CLOSED', `record log ${this.path} is closed`));
    const bytes = frame(record);
    return this.enqueue(async () => {
      if (this.broken) throw this.broken;
      try {
        // A short write (the disk filling up) is continued; the next one then fails.
        for (let at = 0; at < bytes.length;) at += (await this.fh.write(bytes, at)).bytesWritten;
        await this.fh.datasync();
        this.size += bytes.length;
      } catch (e) {
        const error = checkpointError(this.path, e);
        try {
          await this.fh.truncate(this.size);
        } catch {
          this.broken = error;
        }
        throw error;
      }
    });
  }

  close(): Promise<void> {
    if (this.closed) return this.chain;
    this.closed = true;
    return this.enqueue(() => this.fh.close());
  }

  /**
   * Read every complete record. A torn last record (a crash mid-append) is dropped and the file
   * truncated to the last complete one; damage before the end is an error. The file is read
   * with synchronous calls: this runs at recovery, for every task at once, where going through
   * the thread pool cost ten times as much.
   */
  static async read<T>(path: string): Promise<T[]> {
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: T[] = [];
    let pos = 0;
    while (pos < buf.length) {
      const nl = buf.indexOf(0x0a, pos);
      const header = nl < 0 ? '' : buf.toString('latin1', pos, nl);
      const len = /^[0-9]+$/.test(header) ? Number(header) : NaN;
      const complete = nl >= 0 && Number.isSafeInteger(len) && len > 0 && nl + 1 + len <= buf.length;
      if (!complete) {
        // Torn tail: only acceptable as the very last thing in the file.
        const tailLooksTorn = nl < 0 ? /^[0-9]*$/.test(buf.toString('latin1', pos)) : Number.isSafeInteger(len) && nl + 1 + len > buf.length;
        if (!tailLooksTorn) throw new CorralError('CHECKPOINT_CORRUPT', `record log ${path} is corrupt at byte ${pos}`);
        truncateSync(path, pos);
        break;
      }
      const body = buf.toString('utf8', nl + 1, nl + 1 + len);
      let record: unknown;
      try {
        record = JSON.parse(body);
      } catch {
        if (nl + 1 + len === buf.length) {
          truncateSync(path, pos);
          break;
        }
        throw new CorralError('CHECKPOINT_CORRUPT', `record log ${path} has a bad record at byte ${pos}`);
      }
      try {
        checkJsonDepth(record, '', MAX_INTERNAL_JSON_DEPTH); // as in parseCheckpoint
      } catch (e) {
        throw new CorralError('CHECKPOINT_CORRUPT', `record log ${path} has a record at byte ${pos} that cannot be used: ${describeError(e)}`, { cause: e });
      }
      out.push(record as T);
      pos = nl + 1 + len;
    }
    return out;
  }
}
