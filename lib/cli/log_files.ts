/**
 * `--log_dir`: a daemon's log lines also go to files, rotated by size as glog rotates Mesos's.
 *
 * - Each file is `<name>.<host>.<YYYYMMDD-HHMMSS.mmm>.<pid>.<n>.log` (`corral-master.…`,
 *   `corral-agent.…`): a new one at every start and whenever the current one would grow past
 *   `maxSize` (`--max_log_size`); a single line longer than that still goes whole into one file.
 * - `<name>.log` is a symbolic link to the current file (`tail -F corral-master.log` follows the
 *   rotations), as glog links `mesos-master.INFO`.
 * - When a new file starts, the oldest of this daemon's files on this host beyond `maxFiles`
 *   (`--max_log_files`, the current one included) are deleted. glog keeps every file; Mesos
 *   operators prune them with logrotate or cron.
 * - Writes are asynchronous (a sonic-boom per file, as pino writes stderr); the first file is
 *   opened synchronously at start so that a directory that cannot be made or written stops the
 *   daemon with the reason (a `FlagError` naming `--log_dir`). A later failure (the disk full,
 *   the directory removed) is reported once on stderr and the lines keep going to stderr.
 */
import { closeSync, mkdirSync, openSync, readdirSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { FlagError } from '../common/flags.ts';
import { describeError } from '../common/errors.ts';

export interface LogFileOptions {
  readonly dir: string;
  /** The daemon's name in the file names: `corral-master`, `corral-agent`. */
  readonly name: string;
  readonly maxSize: number;
  readonly maxFiles: number;
}

type Boom = ReturnType<typeof pino.destination>;

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `20261207-203001.123` (UTC: the log lines' own times are UTC ISO too). */
function stamp(d: Date): string {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/**
 * `mkdir -p`, one level at a time: Node 20's `mkdirSync(…, { recursive: true })` never returns
 * for a path under /proc (it retries the ENOENT forever).
 */
function makeDirs(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw e;
    makeDirs(dirname(dir));
    mkdirSync(dir);
  }
}

export class RotatingLogFile {
  private readonly prefix: string;
  private boom: Boom | undefined;
  private size = 0;
  private seq = 0;
  private fd = -1;
  private failed = false;
  /** The file lines go to now. */
  current = '';

  constructor(private readonly opts: LogFileOptions) {
    // Host in the name, as glog's: a log_dir shared by several hosts keeps their files apart.
    this.prefix = `${opts.name}.${hostname().replace(/[^\w.-]/g, '_')}.`;
    try {
      makeDirs(opts.dir);
      this.open();
    } catch (e) {
      throw new FlagError('log_dir', `cannot write log files in '${opts.dir}': ${describeError(e)}`);
    }
    process.on('exit', () => this.flushSync());
  }

  write(line: string): void {
    if (this.boom === undefined) return;
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.opts.maxSize) this.rotate();
    this.size += bytes;
    this.boom.write(line);
  }

  flushSync(): void {
    try {
      this.boom?.flushSync();
    } catch {
      // at exit, with the disk gone: nothing left to tell
    }
  }

  /** Names of this daemon's files on this host, oldest first. */
  files(): string[] {
    return readdirSync(this.opts.dir)
      .filter((f) => f.startsWith(this.prefix) && f.endsWith('.log'))
      .sort();
  }

  private open(): void {
    const file = `${this.prefix}${stamp(new Date())}.${process.pid}.${pad(this.seq++, 6)}.log`;
    const path = join(this.opts.dir, file);
    const fd = openSync(path, 'a', 0o640);
    const boom = pino.destination({ dest: fd, sync: false, minLength: 0 });
    boom.on('error', (e: unknown) => this.fail(e));
    const old = this.boom;
    this.fd = fd;
    this.boom = boom;
    this.current = path;
    this.size = 0;
    old?.end();
    // The link to the current file, replaced in one rename so that a reader never misses it.
    const link = join(this.opts.dir, `${this.opts.name}.log`);
    const tmp = `${link}.${process.pid}.tmp`;
    try {
      unlinkSync(tmp);
    } catch {
      // none left over
    }
    symlinkSync(file, tmp);
    renameSync(tmp, link);
    this.prune();
  }

  private rotate(): void {
    try {
      this.open();
    } catch (e) {
      // Keep the current file (it grows past the size) rather than lose lines; say it once.
      if (!this.failed) process.stderr.write(`corral: --log_dir: cannot start a new log file in '${this.opts.dir}': ${describeError(e)}\n`);
      this.failed = true;
    }
  }

  private prune(): void {
    const files = this.files();
    for (const f of files.slice(0, Math.max(0, files.length - this.opts.maxFiles))) {
      if (join(this.opts.dir, f) === this.current) continue;
      try {
        unlinkSync(join(this.opts.dir, f));
      } catch {
        // removed meanwhile by someone else
      }
    }
  }

  private fail(e: unknown): void {
    if (!this.failed) process.stderr.write(`corral: --log_dir: writing '${this.current}' failed: ${describeError(e)}; the lines go on to stderr only\n`);
    this.failed = true;
    this.boom = undefined;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
