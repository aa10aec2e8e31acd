/**
 * The fetcher's filesystem work for a task that runs as another user (the agent is root, the
 * task is not): every read of a local source, every write into the sandbox and every extraction
 * runs in a short child process started through util-linux `setpriv` with the user's uid, gid
 * and the groups of its name (`--groups`, looked up by name: `--init-groups` would take those of
 * the first name of the uid; Node's own uid/gid spawn options would drop the supplementary groups). The kernel decides what the user may read and write, as it does for the
 * task itself, and root never follows a path that the user controls.
 *
 * Files the agent holds itself (cache entries, downloads) are handed over as an open descriptor
 * on the child's stdin and read through /dev/stdin, so the cache directory stays closed to users.
 * Each operation is one `sh` with a fixed script and its paths as arguments (never interpolated).
 */
import { spawn } from 'node:child_process';
import { posix } from 'node:path';
import { SinkError, SourceError, errnoText } from './errors.ts';

export interface TaskUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** Its groups (the primary gid among them). */
  readonly groups: readonly number[];
}

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** A descriptor for the child's stdin (else none). */
  readonly stdin?: number;
  /** A descriptor for the child's stdout (else it is collected). */
  readonly stdout?: number;
  readonly signal?: AbortSignal;
}

const ENV = { PATH: '/usr/bin:/bin', LC_ALL: 'C' };

/**
 * Run `cmd args` as `user` (through setpriv) or, without a user, as the agent. A tool that
 * cannot be started is a SinkError; the exit code is the caller's to read.
 */
export function runAs(user: TaskUser | undefined, cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Ran> {
  const argv =
    user === undefined
      ? [cmd, ...args]
      : ['setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), '--groups', user.groups.join(','), '--', cmd, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: [opts.stdin ?? 'ignore', opts.stdout ?? 'pipe', 'pipe'],
      env: user === undefined ? { PATH: process.env.PATH ?? ENV.PATH, LC_ALL: 'C' } : ENV,
      ...(opts.signal ? { signal: opts.signal, killSignal: 'SIGKILL' as const } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.once('error', (e) => {
      if (opts.signal?.aborted) return reject(new SourceError('the fetch was aborted', true));
      const code = (e as NodeJS.ErrnoException).code;
      reject(
        new SinkError(
          code === 'ENOENT'
            ? `'${argv[0]}' is not installed (needed to ${user ? `act as user '${user.name}'` : `run ${cmd}`})`
            : `cannot run ${argv[0]}: ${errnoText(e)}`,
          e,
        ),
      );
    });
    child.once('close', (code) => {
      if (opts.signal?.aborted) return reject(new SourceError('the fetch was aborted', true));
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8').trim() });
    });
  });
}

// Exit codes of the scripts below.
const NO_SOURCE = 10; // stat failed (stderr says why)
const NOT_FILE = 11;
const UNREADABLE = 12;
const DIGEST = 13; // stdout: the actual sha256
const IS_DIR = 14;
const SINK = 20; // writing the sandbox failed (stderr says why)
const READ = 21; // cat failed (stderr says why)

// $1 source: exits NO_SOURCE, NOT_FILE or UNREADABLE, else sets $size.
const CHECK_SOURCE = `s=$(stat -L -c '%F:%s' -- "$1") || exit ${NO_SOURCE}
case $s in 'regular file:'*|'regular empty file:'*) ;; *) exit ${NOT_FILE};; esac
test -r "$1" || exit ${UNREADABLE}
size=\${s##*:}`;
// $2 destination, $3 its directory: make the directory, clear the way.
const PREPARE = `mkdir -p -- "$3" || exit ${SINK}
if [ -d "$2" ] && [ ! -L "$2" ]; then exit ${IS_DIR}; fi
rm -f -- "$2" || exit ${SINK}`;
// $1 source, $2 destination, $4 mode, $5 expected sha256 or empty.
const COPY = `cp --reflink=auto -- "$1" "$2" && chmod "$4" -- "$2" || exit ${SINK}
if [ -n "$5" ]; then
  h=$(sha256sum -- "$2") || exit ${SINK}
  h=\${h%% *}
  if [ "$h" != "$5" ]; then rm -f -- "$2"; echo "$h"; exit ${DIGEST}; fi
fi`;

const SCRIPTS = {
  /** $1: print the size of a readable regular file. */
  size: `${CHECK_SOURCE}\necho "$size"`,
  /** $1 into the sandbox at $2 (dir $3) with mode $4, checked against $5; prints the size. */
  copyIn: `umask 022\n${CHECK_SOURCE}\n${PREPARE}\n${COPY}\necho "$size"`,
  /** stdin (the agent's file, as /dev/stdin) into the sandbox at $2 (dir $3) with mode $4. */
  deliver: `umask 022\n${PREPARE}\n${COPY}`,
  /**
   * $1 onto stdout (an open file of the agent's). Opened without blocking and read at most one
   * byte past the size it had: a FIFO or device swapped in after the check ends the read at once
   * (empty, EAGAIN, or too long) instead of holding the fill, and the caller compares the sizes.
   */
  read: `${CHECK_SOURCE}\ndd if="$1" iflag=nonblock,count_bytes count=$((size + 1)) bs=1M status=none || exit ${READ}`,
  /** Make the directory $3 and clear the way for $2. */
  prepare: `umask 022\n${PREPARE}`,
  /** gunzip $1 to $2 (dir $3). */
  gunzip: `umask 022\n${PREPARE}\ntrue > "$2" || exit ${SINK}\ngzip -dc -- "$1" >> "$2" || exit ${READ}`,
};

/** The sandbox-side work of one fetch, done as its task's user. */
export class AsUser {
  constructor(
    readonly user: TaskUser,
    readonly sandbox: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  private async sh(script: keyof typeof SCRIPTS, args: string[], opts: Omit<RunOptions, 'signal'> = {}): Promise<Ran> {
    return runAs(this.user, 'sh', ['-c', SCRIPTS[script], 'fetch', ...args], { ...opts, ...(this.signal ? { signal: this.signal } : {}) });
  }

  private dest(name: string): [string, string] {
    const dest = posix.join(this.sandbox, name);
    return [dest, posix.dirname(dest)];
  }

  /** Why a source check or a sandbox write failed, as the error to throw. */
  private failure(r: Ran, src: string | undefined, name: string | undefined, what: string, expected?: string): Error {
    const tool = r.stderr.split('\n').slice(-3).join('; ');
    switch (r.code) {
      case NO_SOURCE: {
        // "stat: cannot statx '/x': Permission denied"
        const why = /: ([^:]+)$/.exec(r.stderr)?.[1] ?? tool;
        return new SourceError(why === 'No such file or directory' ? `no such file '${src}'` : `user '${this.user.name}' cannot reach '${src}': ${why}`);
      }
      case NOT_FILE:
        return new SourceError(`'${src}' is not a regular file`);
      case UNREADABLE:
        return new SourceError(`user '${this.user.name}' may not read '${src}': Permission denied`);
      case IS_DIR:
        return new SourceError(`'${name}' is a directory in the sandbox`);
      case DIGEST:
        return new SourceError(`sha256 mismatch: expected ${expected}, got ${r.stdout.trim()}`);
      case READ:
        return /write error|stdout:/.test(r.stderr)
          ? new SinkError(`${what} as user '${this.user.name}': ${tool}`, undefined)
          : new SourceError(`${what}: ${tool}`);
      default:
        return new SinkError(`${what} as user '${this.user.name}'${r.code === null ? ' (killed)' : ''}: ${tool || `exit ${r.code}`}`, undefined);
    }
  }

  /** The size of the local file `src`, as the user sees it (a SourceError when the user may not read it). */
  async sourceSize(src: string): Promise<number> {
    const r = await this.sh('size', [src]);
    if (r.code !== 0) throw this.failure(r, src, undefined, `cannot read '${src}'`);
    return Number(r.stdout.trim());
  }

  /** Copy the local file `src` to `name` in the sandbox with `mode` (checked against `sha256`). Returns its size. */
  async copyIn(src: string, name: string, mode: number, sha256: string | undefined): Promise<number> {
    const [dest, dir] = this.dest(name);
    const r = await this.sh('copyIn', [src, dest, dir, mode.toString(8), sha256 ?? '']);
    if (r.code !== 0) throw this.failure(r, src, name, `cannot copy '${src}' to '${name}'`, sha256);
    return Number(r.stdout.trim());
  }

  /** Write the agent's open file `fd` (read from its start) to `name` in the sandbox with `mode`. */
  async deliver(fd: number, name: string, mode: number): Promise<void> {
    const [dest, dir] = this.dest(name);
    const r = await this.sh('deliver', ['/dev/stdin', dest, dir, mode.toString(8), ''], { stdin: fd });
    if (r.code !== 0) throw this.failure(r, undefined, name, `cannot write '${name}'`);
  }

  /** Copy the local file `src` into the agent's open file `fd`, reading it as the user. */
  async readInto(src: string, fd: number): Promise<void> {
    const r = await this.sh('read', [src], { stdout: fd });
    if (r.code !== 0) throw this.failure(r, src, undefined, `cannot copy '${src}'`);
  }

  /** Make the directories of `name` in the sandbox and remove what is at `name`. */
  async prepare(name: string): Promise<void> {
    const [dest, dir] = this.dest(name);
    const r = await this.sh('prepare', ['', dest, dir]);
    if (r.code !== 0) throw this.failure(r, undefined, name, `cannot make room for '${name}'`);
  }

  /** Gunzip `archive` (a path the user reads, or /dev/stdin with `stdin`) to `name` in the sandbox. */
  async gunzip(archive: string, name: string, stdin: number | undefined): Promise<void> {
    const [dest, dir] = this.dest(name);
    const r = await this.sh('gunzip', [archive, dest, dir], stdin === undefined ? {} : { stdin });
    if (r.code !== 0) throw this.failure(r, undefined, name, 'cannot gunzip the file');
  }
}
