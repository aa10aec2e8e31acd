/**
 * The supervisor's protocol (the corral-containerizer executable, native/containerizer/main.c),
 * seen from the caller: start a supervisor in its own session, read its "pid N" line, release
 * the command with "go", and read the records it leaves in its run directory (pids/forked.pid,
 * exit.status).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CorralError } from '../common/errors.ts';
import { supervisorPath } from './native.ts';

/** Where the supervisor records itself and the exit status, relative to its --run-dir. */
export const SUPERVISOR_PID_FILE = join('pids', 'forked.pid');
export const SUPERVISOR_STATUS_FILE = 'exit.status';

/** A directory bind-mounted into the command's own mount namespace (`--bind`). */
export interface SupervisorBind {
  /** An absolute path on the host, without ':'. */
  readonly source: string;
  /**
   * Where it appears, relative to the sandbox, without '.' or '..' components. Its directories
   * are made when missing; the supervisor refuses a path through a symlink.
   */
  readonly target: string;
  readonly readOnly?: boolean;
}

/** `--bind` arguments, or a CorralError naming the bind and the reason. */
export function bindArgs(binds: readonly SupervisorBind[]): string[] {
  const args: string[] = [];
  binds.forEach((b, i) => {
    const bad = (why: string): CorralError => new CorralError('INVALID', `binds[${i}]: ${why}`, { field: `binds[${i}]` });
    if (!b.source.startsWith('/')) throw bad(`source '${b.source}' must be an absolute path`);
    if (b.source.includes(':')) throw bad(`source '${b.source}' must not contain ':'`);
    if (b.target === '' || b.target.startsWith('/')) throw bad(`target '${b.target}' must be a path relative to the sandbox`);
    if (b.target.split('/').some((c) => c === '.' || c === '..')) throw bad(`target '${b.target}' must not have '.' or '..' components`);
    if (b.source.includes('\0') || b.target.includes('\0')) throw bad('paths must not contain NUL');
    args.push('--bind', `${b.source}:${b.target}:${b.readOnly ? 'ro' : 'rw'}`);
  });
  return args;
}

export interface SupervisorOptions {
  readonly sandbox: string;
  readonly runDir: string;
  /** argv[0] is looked up in PATH (of `env`). */
  readonly argv: readonly string[];
  /** The supervisor's environment, which the command inherits. */
  readonly env: Readonly<Record<string, string>>;
  /** Run the command as this user (the supervisor must be root). */
  readonly user?: string;
  /** The executable (default: the built corral-containerizer). */
  readonly executable?: string;
  /** Clone the command into new namespaces (`pid` implies `mount`; `net`: only a down lo; needs root). */
  readonly namespaces?: readonly ('pid' | 'mount' | 'net')[];
  /** Join this network namespace (a file of one, e.g. /run/netns/NAME) instead; needs root. */
  readonly netns?: string;
  /** Bind mounts in the command's own mount namespace (implies `mount`; needs root). */
  readonly binds?: readonly SupervisorBind[];
  /** Run the command in a root filesystem made from image layers (implies `mount`; needs root). */
  readonly rootfs?: SupervisorRootfs;
}

/** `--rootfs`: an overlay of image layers the supervisor mounts and pivot_roots into. */
export interface SupervisorRootfs {
  /** A directory holding links/0..N-1 (symlinks to the layers, 0 the base), upper/, work/ and merged/, on one file system. */
  readonly scratch: string;
  /** Where the sandbox shows inside the image (default /mnt/mesos/sandbox). */
  readonly sandboxTarget?: string;
  /** The working directory inside the image (default the sandbox target); made when missing. */
  readonly workdir?: string;
}

export interface SupervisorExit {
  /** The supervisor's exit code, or null if a signal ended it. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The end of what it wrote on stderr (fatal errors only). */
  readonly stderr: string;
  /**
   * Its parent, the spawner (supervisor_spawner.ts), ended first: this is not its end, which
   * only its run directory will tell.
   */
  readonly lost?: true;
}

/** A supervisor that has forked the command, which waits for release(). */
export interface StartedSupervisor {
  readonly pid: number;
  /** The command's process (its session and process group id). */
  readonly childPid: number;
  /**
   * Let the command run. Resolves once the supervisor has released it, which it shows by closing
   * its stdout (it also does so when the command ended before the release).
   */
  release(): Promise<void>;
  /** Abandon the launch: the supervisor kills the command and records "aborted". */
  abort(): void;
  /** When the supervisor process ends. */
  readonly exited: Promise<SupervisorExit>;
  /** Stop holding the Node process open for this supervisor (call after release). */
  unref(): void;
}

const STDERR_KEPT = 4096;

/** The supervisor's arguments (after its executable) for a launch with --wait-go; a CorralError for a bad bind. */
export function supervisorArgs(opts: SupervisorOptions): string[] {
  const args = ['launch', '--sandbox', opts.sandbox, '--run-dir', opts.runDir];
  if (opts.user !== undefined) args.push('--user', opts.user);
  if (opts.namespaces && opts.namespaces.length > 0) args.push('--namespaces', opts.namespaces.join(','));
  if (opts.netns !== undefined) args.push('--netns', opts.netns);
  if (opts.binds && opts.binds.length > 0) args.push(...bindArgs(opts.binds));
  if (opts.rootfs) {
    args.push('--rootfs', opts.rootfs.scratch);
    if (opts.rootfs.sandboxTarget !== undefined) args.push('--sandbox-target', opts.rootfs.sandboxTarget);
    if (opts.rootfs.workdir !== undefined) args.push('--workdir', opts.rootfs.workdir);
  }
  args.push('--wait-go', '--', ...opts.argv);
  return args;
}

/**
 * Start a supervisor with --wait-go. Resolves when it has forked the command (the pid line);
 * rejects with CorralError SUPERVISOR_FAILED (its stderr in the message) if it ends first.
 */
export function startSupervisor(opts: SupervisorOptions): Promise<StartedSupervisor> {
  let args: string[];
  try {
    args = supervisorArgs(opts);
  } catch (e) {
    return Promise.reject(e);
  }
  const exe = opts.executable ?? supervisorPath();
  const child = spawn(exe, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...opts.env } });
  const stdin = child.stdin as Writable;
  const stdout = child.stdout as Readable;
  const stderrStream = child.stderr as Readable & { unref?: () => void };

  let stderr = '';
  stderrStream.setEncoding('utf8');
  stderrStream.on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEPT);
  });
  stdin.on('error', () => {}); // EPIPE: it is gone; `exited` says how
  let spawnError: Error | undefined;
  const exited = new Promise<SupervisorExit>((resolve) => {
    child.on('error', (e) => {
      spawnError = e;
      resolve({ code: null, signal: null, stderr: e.message });
    });
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  const stdoutEnded = new Promise<void>((resolve) => {
    stdout.on('end', resolve);
    stdout.on('close', resolve);
    stdout.on('error', () => resolve());
  });

  return new Promise<StartedSupervisor>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString('latin1');
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      stdout.off('data', onData);
      stdout.resume(); // nothing more is expected; keep reading to see the end
      const m = /^pid (\d+)$/.exec(out.slice(0, nl));
      if (!m || child.pid === undefined) {
        stdin.end();
        reject(new CorralError('SUPERVISOR_FAILED', `${exe} printed ${JSON.stringify(out.slice(0, 80))} instead of its pid line`));
        return;
      }
      resolve({
        pid: child.pid,
        childPid: Number(m[1]),
        release: async () => {
          stdin.end('go\n');
          await stdoutEnded;
        },
        abort: () => stdin.end(),
        exited,
        unref: () => {
          child.unref();
          stderrStream.unref?.();
        },
      });
    };
    stdout.on('data', onData);
    void stdoutEnded.then(async () => {
      if (out.includes('\n')) return;
      const exit = await exited;
      const how = spawnError ? 'could not be started' : exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      reject(
        new CorralError('SUPERVISOR_FAILED', `${exe} ${how} before it started the command${exit.stderr.trim() ? `: ${exit.stderr.trim()}` : ''}`, {
          ...(spawnError ? { cause: spawnError } : {}),
        }),
      );
    });
  });
}

/** What pids/forked.pid says: the supervisor's pid and start time (clock ticks since boot). */
export interface SupervisorPidRecord {
  readonly pid: number;
  readonly startTime: number;
}

/** What exit.status says. */
export type SupervisorExitRecord =
  | { readonly status: 'exited'; readonly pid: number; readonly code: number; readonly wstatus: number }
  | { readonly status: 'signaled'; readonly pid: number; readonly signal: number; readonly wstatus: number }
  | { readonly status: 'failed'; readonly pid: number; readonly code: number; readonly error: string; readonly wstatus: number }
  | { readonly status: 'aborted'; readonly pid: number };

async function readRecord(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CorralError('SUPERVISOR_RECORD_UNREADABLE', `${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new CorralError('SUPERVISOR_RECORD_INVALID', `${file}: not a JSON object: ${JSON.stringify(text.slice(0, 120))}`);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** The supervisor's pid record in `runDir`; undefined if there is none. Throws CorralError if it is bad. */
export async function readPidRecord(runDir: string): Promise<SupervisorPidRecord | undefined> {
  const file = join(runDir, SUPERVISOR_PID_FILE);
  const r = await readRecord(file);
  if (!r) return undefined;
  if (!isInt(r.pid) || r.pid <= 0 || !isInt(r.start_time)) {
    throw new CorralError('SUPERVISOR_RECORD_INVALID', `${file}: needs integer "pid" and "start_time"`);
  }
  return { pid: r.pid, startTime: r.start_time };
}

/** The exit record in `runDir`; undefined if there is none yet. Throws CorralError if it is bad. */
export async function readExitRecord(runDir: string): Promise<SupervisorExitRecord | undefined> {
  const file = join(runDir, SUPERVISOR_STATUS_FILE);
  const r = await readRecord(file);
  if (!r) return undefined;
  const pid = isInt(r.pid) ? r.pid : 0;
  const bad = (what: string): CorralError => new CorralError('SUPERVISOR_RECORD_INVALID', `${file}: ${what}`);
  switch (r.status) {
    case 'exited':
      if (!isInt(r.code) || !isInt(r.wstatus)) throw bad('"exited" needs integer "code" and "wstatus"');
      return { status: 'exited', pid, code: r.code, wstatus: r.wstatus };
    case 'signaled':
      if (!isInt(r.signal) || !isInt(r.wstatus)) throw bad('"signaled" needs integer "signal" and "wstatus"');
      return { status: 'signaled', pid, signal: r.signal, wstatus: r.wstatus };
    case 'failed':
      if (!isInt(r.code)) throw bad('"failed" needs an integer "code"');
      return { status: 'failed', pid, code: r.code, error: typeof r.error === 'string' ? r.error : '', wstatus: isInt(r.wstatus) ? r.wstatus : r.code << 8 };
    case 'aborted':
      return { status: 'aborted', pid };
    default:
      throw bad(`unknown "status" ${JSON.stringify(r.status)}`);
  }
}
