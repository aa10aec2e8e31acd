/**
 * The resident spawner of supervisors (`corral-containerizer spawner`,
 * native/containerizer/spawner.c; docs/architecture.md §4). Starting a supervisor with
 * child_process forks this whole Node process, which holds the event loop for milliseconds
 * per container; the spawner is a small C process started once, which forks and execs each
 * supervisor on request. Node only writes a request and reads the replies, and what the
 * caller gets is the same StartedSupervisor as startSupervisor's (supervisor.ts): the pid line,
 * the release ("go"), the abort, and the supervisor's end.
 *
 * The spawner is the supervisors' parent and reports their ends. If it dies, it is started
 * again at the next launch; the launches it had in flight fail (SPAWNER_LOST: the supervisors
 * still waiting for their release read EOF and abort, so their commands never run), and the
 * supervisors it had released run on: their `exited` resolves with `lost: true`, and whoever
 * watches them learns of their end from their run directories, as after an agent restart.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { CorralError } from '../common/errors.ts';
import { supervisorPath } from './native.ts';
import { supervisorArgs, type StartedSupervisor, type SupervisorExit, type SupervisorOptions } from './supervisor.ts';

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n as number, name as NodeJS.Signals]));

/** A launch the spawner has been asked for, until its supervisor has ended. */
interface Pending {
  readonly exe: string;
  /** The pid line came: the supervisor's pid; 0 before. */
  pid: number;
  /** Before the pid line: settle the start. */
  started: { resolve: (s: StartedSupervisor) => void; reject: (e: Error) => void } | undefined;
  stdoutEnded: boolean;
  /** release() is waiting: rejected if the spawner goes first. */
  releasing: { resolve: () => void; reject: (e: Error) => void } | undefined;
  readonly exited: Promise<SupervisorExit>;
  resolveExit: (e: SupervisorExit) => void;
  /** The spawner ended before this supervisor did. */
  lost: CorralError | undefined;
  /** It holds the Node process open (until its unref() or its end). */
  held: boolean;
  /** A short-lived helper of run(): its first stdout line, and its end. */
  run?: { line: string; readonly done: (r: HelperExit) => void };
}

/** How a helper of run() ended. */
export interface HelperExit {
  /** Its exit code (null: killed by `signal`, not started, or the spawner was lost). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The first line it printed on stdout (without the newline). */
  readonly line: string;
  /** The end of its stderr (or why it could not be started). */
  readonly stderr: string;
}

export interface SupervisorSpawnerOptions {
  /** The spawner's executable (default: the built corral-containerizer). */
  readonly executable?: string;
  /** Told when the spawner ended while it was in use (it is started again at the next launch). */
  readonly onLost?: (pid: number | undefined, how: string, inFlight: number) => void;
}

function frameHead(len: number, op: string, id: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b.writeUInt32LE(len + 5, 0);
  b.write(op, 4, 'latin1');
  b.writeUInt32LE(id, 5);
  return b;
}

export class SupervisorSpawner {
  private proc: ChildProcess | undefined;
  private stdin: Writable | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buf: Buffer = Buffer.alloc(0);
  private stderr = '';
  private closed = false;
  /** Supervisors that hold the Node process open. */
  private held = 0;
  /** Resolves when the current process has exited. */
  private gone: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SupervisorSpawnerOptions = {}) {}

  /** The spawner's pid while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /**
   * Start a supervisor with --wait-go, as startSupervisor does. Resolves when it has forked the
   * command (its pid line); rejects with CorralError SUPERVISOR_FAILED if it ends first, or
   * SPAWNER_LOST if the spawner does.
   */
  start(opts: SupervisorOptions): Promise<StartedSupervisor> {
    let args: string[];
    try {
      args = supervisorArgs(opts);
    } catch (e) {
      return Promise.reject(e);
    }
    const exe = opts.executable ?? supervisorPath();
    const stdin = this.ensure();
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    const strings = [exe, ...args];
    const envs = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
    const parts = [...strings, ...envs].map((s) => Buffer.from(s + '\0', 'utf8'));
    const counts = Buffer.allocUnsafe(8);
    counts.writeUInt32LE(strings.length, 0);
    counts.writeUInt32LE(envs.length, 4);
    const bodyLen = 8 + parts.reduce((a, p) => a + p.length, 0);
    let resolveExit!: (e: SupervisorExit) => void;
    const exited = new Promise<SupervisorExit>((r) => (resolveExit = r));
    return new Promise<StartedSupervisor>((resolve, reject) => {
      const p: Pending = {
        exe,
        pid: 0,
        started: { resolve, reject },
        stdoutEnded: false,
        releasing: undefined,
        exited,
        resolveExit,
        lost: undefined,
        held: true,
      };
      this.hold(1);
      void exited.then(() => this.unhold(p));
      this.pending.set(id, p);
      stdin.write(Buffer.concat([frameHead(bodyLen, 'L', id), counts, ...parts]));
    }).catch((e: unknown) => {
      const p = this.pending.get(id);
      if (p) this.unhold(p);
      throw e;
    });
  }

  /**
   * Run a short-lived helper (argv[0] a path, run as is, in a session of its own, stdin a pipe
   * that stays open) and resolve with its end: a fork of the spawner instead of this process
   * (health checks; containerizer/health_probes.ts). It does not hold the Node process open.
   */
  run(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<HelperExit> {
    const stdin = this.ensure();
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    const envs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const parts = [...argv, ...envs].map((s) => Buffer.from(s + '\0', 'utf8'));
    const counts = Buffer.allocUnsafe(8);
    counts.writeUInt32LE(argv.length, 0);
    counts.writeUInt32LE(envs.length, 4);
    const bodyLen = 8 + parts.reduce((a, p) => a + p.length, 0);
    return new Promise<HelperExit>((done) => {
      let resolveExit!: (e: SupervisorExit) => void;
      const exited = new Promise<SupervisorExit>((r) => (resolveExit = r));
      this.pending.set(id, {
        exe: argv[0]!,
        pid: 0,
        started: undefined,
        stdoutEnded: false,
        releasing: undefined,
        exited,
        resolveExit,
        lost: undefined,
        held: false,
        run: { line: '', done },
      });
      stdin.write(Buffer.concat([frameHead(bodyLen, 'L', id), counts, ...parts]));
    });
  }

  /** Stop the spawner (launches in flight fail; supervisors run on). Resolves when it has exited. */
  close(): Promise<void> {
    this.closed = true;
    const p = this.proc;
    if (p) {
      p.ref(); // until it is reaped
      this.refStdout(true);
      this.stdin?.end();
      p.kill('SIGKILL');
    }
    return this.gone;
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Keep the Node process up while a supervisor is held (from its start until its unref() or
   * its end), as its child process would. The spawner itself does not hold it open.
   */
  private hold(n: number): void {
    const was = this.held;
    this.held += n;
    if (was === 0 && this.held > 0) this.refStdout(true);
    else if (was > 0 && this.held === 0) this.refStdout(false);
  }

  private unhold(p: Pending): void {
    if (!p.held) return;
    p.held = false;
    this.hold(-1);
  }

  private refStdout(on: boolean): void {
    const out = this.proc?.stdout as (Readable & { ref?: () => void; unref?: () => void }) | null | undefined;
    if (on) out?.ref?.();
    else out?.unref?.();
  }

  private ensure(): Writable {
    if (this.stdin && this.proc) return this.stdin;
    this.closed = false;
    const exe = this.opts.executable ?? supervisorPath();
    const proc = spawn(exe, ['spawner'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    const stdin = proc.stdin as Writable;
    const stdout = proc.stdout as Readable;
    const stderr = proc.stderr as Readable;
    this.stdin = stdin;
    this.buf = Buffer.alloc(0);
    this.stderr = '';
    stdin.on('error', () => {}); // EPIPE: it is gone; 'close' says how
    stdout.on('data', (d: Buffer) => this.onData(d));
    stderr.setEncoding('utf8');
    stderr.on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4096)));
    let spawnError: Error | undefined;
    proc.on('error', (e) => (spawnError = e));
    this.gone = new Promise<void>((resolve) => {
      proc.on('close', (code, signal) => {
        resolve();
        if (this.proc !== proc) return;
        this.proc = undefined;
        this.stdin = undefined;
        const how = spawnError
          ? `could not be started: ${spawnError.message}`
          : `${signal ? `was killed by ${signal}` : `exited with code ${code}`}${this.stderr.trim() ? `: ${this.stderr.trim()}` : ''}`;
        this.lost(proc.pid, how);
      });
    });
    // It does not hold the Node process open (hold() does, while a supervisor is held).
    proc.unref();
    if (this.held === 0) (stdout as Readable & { unref?: () => void }).unref?.();
    (stderr as Readable & { unref?: () => void }).unref?.();
    (stdin as Writable & { unref?: () => void }).unref?.();
    return stdin;
  }

  /** The spawner is gone: every launch in flight fails, every released supervisor is lost to us. */
  private lost(pid: number | undefined, how: string): void {
    const inFlight = [...this.pending.values()].filter((p) => !p.run && (p.started || !p.stdoutEnded)).length;
    const why = `the supervisor spawner${pid ? ` (pid ${pid})` : ''} ${how}`;
    for (const p of this.pending.values()) {
      p.lost = new CorralError('SPAWNER_LOST', `${why}; the launch was abandoned`);
      p.started?.reject(p.lost);
      p.started = undefined;
      p.releasing?.reject(p.lost);
      p.releasing = undefined;
      p.resolveExit({ code: null, signal: null, stderr: '', lost: true });
      p.run?.done({ code: null, signal: null, line: p.run.line, stderr: why });
    }
    this.pending.clear();
    if (!this.closed) this.opts.onLost?.(pid, how, inFlight);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let off = 0;
    while (this.buf.length - off >= 9) {
      const len = this.buf.readUInt32LE(off);
      if (this.buf.length - off - 4 < len) break;
      const op = String.fromCharCode(this.buf[off + 4]!);
      const id = this.buf.readUInt32LE(off + 5);
      this.reply(op, id, this.buf.subarray(off + 9, off + 4 + len));
      off += 4 + len;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
  }

  private reply(op: string, id: number, body: Buffer): void {
    const p = this.pending.get(id);
    if (!p) return;
    if (p.run) {
      this.helperReply(p.run, op, id, body);
      return;
    }
    switch (op) {
      case 'P': {
        const pid = body.readInt32LE(0);
        const line = body.subarray(4).toString('latin1');
        p.pid = pid;
        const m = /^pid (\d+)$/.exec(line);
        if (!m) {
          this.send('A', id);
          p.started?.reject(new CorralError('SUPERVISOR_FAILED', `${p.exe} printed ${JSON.stringify(line.slice(0, 80) + '\n')} instead of its pid line`));
          p.started = undefined;
          return;
        }
        const started = p.started;
        p.started = undefined;
        started?.resolve(this.handle(id, p, pid, Number(m[1])));
        return;
      }
      case 'E':
        p.stdoutEnded = true;
        if (p.releasing) {
          p.releasing.resolve();
          p.releasing = undefined;
        }
        return;
      case 'X': {
        const wstatus = body.readInt32LE(4);
        const stderr = body.subarray(8).toString('utf8');
        this.pending.delete(id);
        const exit: SupervisorExit =
          (wstatus & 0x7f) === 0
            ? { code: (wstatus >> 8) & 0xff, signal: null, stderr }
            : { code: null, signal: SIGNAL_NAMES.get(wstatus & 0x7f) ?? null, stderr };
        if (p.started) {
          const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
          p.started.reject(new CorralError('SUPERVISOR_FAILED', `${p.exe} ${how} before it started the command${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
          p.started = undefined;
        }
        p.releasing?.resolve();
        p.releasing = undefined;
        p.resolveExit(exit);
        return;
      }
      case 'S': {
        const errno = body.readInt32LE(0);
        const msg = body.subarray(4).toString('utf8');
        this.pending.delete(id);
        const err = new CorralError('SUPERVISOR_FAILED', `${p.exe} could not be started: ${msg}`);
        (err as { errno?: number }).errno = errno;
        p.started?.reject(err);
        p.started = undefined;
        p.resolveExit({ code: null, signal: null, stderr: msg });
        return;
      }
    }
  }

  private helperReply(run: NonNullable<Pending['run']>, op: string, id: number, body: Buffer): void {
    if (op === 'P') run.line = body.subarray(4).toString('utf8');
    else if (op === 'X') {
      this.pending.delete(id);
      const wstatus = body.readInt32LE(4);
      const stderr = body.subarray(8).toString('utf8');
      if ((wstatus & 0x7f) === 0) run.done({ code: (wstatus >> 8) & 0xff, signal: null, line: run.line, stderr });
      else run.done({ code: null, signal: SIGNAL_NAMES.get(wstatus & 0x7f) ?? null, line: run.line, stderr });
    } else if (op === 'S') {
      this.pending.delete(id);
      run.done({ code: null, signal: null, line: '', stderr: body.subarray(4).toString('utf8') });
    }
  }

  private send(op: 'G' | 'A', id: number): void {
    this.stdin?.write(frameHead(0, op, id));
  }

  private handle(id: number, p: Pending, pid: number, childPid: number): StartedSupervisor {
    return {
      pid,
      childPid,
      release: () => {
        if (p.lost) return Promise.reject(p.lost);
        if (p.stdoutEnded || this.pending.get(id) !== p) return Promise.resolve();
        return new Promise<void>((resolve, reject) => {
          p.releasing = { resolve, reject };
          this.send('G', id);
        });
      },
      abort: () => {
        if (this.pending.get(id) === p) this.send('A', id);
      },
      exited: p.exited,
      unref: () => this.unhold(p),
    };
  }
}
