/**
 * Test hosts (docs/architecture.md §6): N network namespaces, each joined by a veth pair to a Linux bridge
 * that lives in a "switch" namespace of its own. The root namespace's links and routes are never
 * touched. Layout for `createTestHosts(2)` with the default subnet:
 *
 *   switch netns  <prefix>-sw:  br0 10.77.0.1/24 (up), ports vh0, vh1
 *   host netns    <prefix>-h0:  lo up, eth0 10.77.0.2/24, default via 10.77.0.1
 *   host netns    <prefix>-h1:  lo up, eth0 10.77.0.3/24, default via 10.77.0.1
 *
 * so a program that guesses the public interface from the default route finds `eth0`.
 * `<prefix>` is a `corral-test-<pid>-<n>` name (tmp_names.ts): a crashed run's namespaces, and
 * every process still inside them, are removed by `clearLeftoverTestHosts()`.
 *
 * Commands run in a host through `ip netns exec` (its own mount namespace with a /sys for the
 * host's netns; that /sys has no /sys/fs/cgroup). Daemons that must share this machine's mounts
 * (cgroups, /run/netns bind mounts an agent makes and finds again after a restart) start with
 * `via: 'nsenter'`, which changes only the network namespace (their /sys is the root one's).
 * `ip`/`tc` are fine here and in bench/, never in lib/.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { isLeftover, uniqueName } from './tmp_names.ts';

const NETNS_DIR = '/run/netns';

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this long; default 30 s. */
  readonly timeoutMs?: number;
  /** Resolve with a non-zero exit instead of rejecting. */
  readonly allowFailure?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string;
}

export interface StartOptions {
  /** 'ip-netns-exec' (default) or 'nsenter' (network namespace only; see the file comment). */
  readonly via?: 'ip-netns-exec' | 'nsenter';
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** A long-running process in a test host. Killed by `kill()` or by the network's `destroy()`. */
export interface HostProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code/signal once the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until stdout+stderr match `re` (rejects on exit or timeout, with the output). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /**
   * Signal the process group (default SIGTERM); SIGKILL after `graceMs` (default 3 s) if it is
   * still there. Resolves once it has ended.
   */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  /**
   * Signal the process alone (not its group: what it started, e.g. an agent's containers, stays)
   * and wait until it has ended; `kill -9 <pid>` is `signalAlone('SIGKILL')`.
   */
  signalAlone(signal: NodeJS.Signals): Promise<void>;
}

export interface TestHost {
  readonly index: number;
  /** The network namespace's name (in /run/netns). */
  readonly netns: string;
  readonly netnsPath: string;
  /** The host's address on eth0 (the bridge holds the gateway). */
  readonly address: string;
  readonly prefixLength: number;
  readonly gateway: string;
  /** Always `eth0`. */
  readonly iface: string;
  /** Run a command in the host and wait for it (rejects on a non-zero exit unless allowFailure). */
  exec(cmd: string, args?: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Run a command in the host synchronously (throws on a non-zero exit). */
  execSync(cmd: string, args?: readonly string[]): string;
  /** Start a long-running process in the host. */
  start(cmd: string, args?: readonly string[], opts?: StartOptions): HostProcess;
  /** Pids of every process whose network namespace is this host's (children of daemons too). */
  pids(): number[];
}

export interface TestNetwork {
  /** `corral-test-<pid>-<n>`: every namespace of this network starts with it. */
  readonly prefix: string;
  /** The switch namespace (bridge `br0`, holding the gateway address). */
  readonly switchNetns: string;
  readonly hosts: readonly TestHost[];
  /** Every namespace name of this network (switch last). */
  readonly namespaces: readonly string[];
  /**
   * Kill every process started here and every other process still inside one of the hosts,
   * then remove the namespaces (and with them the bridge and veths). Idempotent; attempts
   * every step and throws one error listing whatever could not be removed.
   */
  destroy(): Promise<void>;
}

export interface TestHostsOptions {
  /** The first three octets of the /24; default '10.77.0'. Hosts get .2, .3, … */
  readonly subnet?: string;
}

function ip(args: readonly string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

/** Inode of a network namespace handle, or undefined if it is not there. */
function netnsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Pids of processes whose network namespace has inode `ino`. */
export function pidsInNetnsInode(ino: number): number[] {
  const want = `net:[${ino}]`;
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/ns/net`) === want) out.push(Number(d));
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

function pidsInNetns(name: string): number[] {
  const ino = netnsInode(`${NETNS_DIR}/${name}`);
  return ino === undefined ? [] : pidsInNetnsInode(ino);
}

function sigkill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Kill (SIGKILL) what runs in the namespace until none is left (or 5 s), then delete it. */
async function removeNamespace(name: string): Promise<string | undefined> {
  const path = `${NETNS_DIR}/${name}`;
  if (netnsInode(path) === undefined) return undefined;
  for (let i = 0; i < 100; i++) {
    const pids = pidsInNetns(name).filter((p) => p !== process.pid);
    if (pids.length === 0) break;
    for (const p of pids) sigkill(p);
    await sleep(50);
  }
  const still = pidsInNetns(name);
  try {
    ip(['netns', 'del', name]);
  } catch (e) {
    if (netnsInode(path) !== undefined) return `${name}: ${(e as Error).message}`;
  }
  return still.length > 0 ? `${name}: processes still inside: ${still.join(', ')}` : undefined;
}

/** Names of namespaces left by test processes that are gone (any corral-test-<deadpid>- name). */
function leftoverNamespaces(): string[] {
  let names: string[];
  try {
    names = readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
  return names.filter(isLeftover);
}

/**
 * Remove what a crashed run left: every `corral-test-<pid>-*` namespace whose pid is gone, with
 * the processes still inside it (hosts before switches). Returns the names removed.
 */
export async function clearLeftoverTestHosts(): Promise<string[]> {
  const names = leftoverNamespaces().sort((a, b) => Number(a.endsWith('-sw')) - Number(b.endsWith('-sw')));
  const errors: string[] = [];
  for (const n of names) {
    const e = await removeNamespace(n);
    if (e) errors.push(e);
  }
  if (errors.length > 0) throw new Error(`clearing leftover test hosts: ${errors.join('; ')}`);
  return names;
}

function collect(child: ChildProcess): { out: () => string; err: () => string; onData: (f: () => void) => void } {
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    for (const f of listeners) f();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    for (const f of listeners) f();
  });
  return { out: () => out, err: () => err, onData: (f) => void listeners.add(f) };
}

class Host implements TestHost {
  readonly netnsPath: string;
  readonly iface = 'eth0';
  readonly prefixLength = 24;
  readonly started = new Set<HostProcess>();

  constructor(
    readonly index: number,
    readonly netns: string,
    readonly address: string,
    readonly gateway: string,
  ) {
    this.netnsPath = `${NETNS_DIR}/${netns}`;
  }

  private argv(cmd: string, args: readonly string[], via: StartOptions['via'] = 'ip-netns-exec'): [string, string[]] {
    return via === 'nsenter' ? ['nsenter', [`--net=${this.netnsPath}`, '--', cmd, ...args]] : ['ip', ['netns', 'exec', this.netns, cmd, ...args]];
  }

  exec(cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    const [bin, argv] = this.argv(cmd, args);
    return new Promise((resolve, reject) => {
      const child = spawn(bin, argv, {
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        detached: true,
      });
      const io = collect(child);
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, opts.timeoutMs ?? 30_000);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const r = { code, signal, stdout: io.out(), stderr: io.err() };
        if (code === 0 || opts.allowFailure) resolve(r);
        else reject(new Error(`[${this.netns}] ${cmd} ${args.join(' ')}: ${signal ? `killed by ${signal}` : `exit ${code}`}\n${r.stdout}${r.stderr}`));
      });
    });
  }

  execSync(cmd: string, args: readonly string[] = []): string {
    const [bin, argv] = this.argv(cmd, args);
    try {
      return execFileSync(bin, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string; message: string };
      throw new Error(`[${this.netns}] ${cmd} ${args.join(' ')}: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    }
  }

  start(cmd: string, args: readonly string[] = [], opts: StartOptions = {}): HostProcess {
    const [bin, argv] = this.argv(cmd, args, opts.via);
    // Its own process group, so kill() reaches what it forks too.
    const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd, detached: true });
    const io = collect(child);
    let ended = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('error', () => {
        ended = true;
        resolve({ code: null, signal: null });
      });
      child.on('exit', (code, signal) => {
        ended = true;
        resolve({ code, signal });
      });
    });
    const what = `[${this.netns}] ${cmd} ${args.join(' ')}`;
    const group = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        try {
          child.kill(sig);
        } catch {
          // gone
        }
      }
    };
    const proc: HostProcess = {
      pid: child.pid ?? -1,
      child,
      stdout: io.out,
      stderr: io.err,
      exited,
      waitFor: (re, timeoutMs = 20_000) =>
        new Promise((resolve, reject) => {
          const check = (): boolean => {
            const m = re.exec(io.out() + io.err());
            if (m) {
              clearTimeout(timer);
              resolve(m);
              return true;
            }
            return false;
          };
          const timer = setTimeout(() => reject(new Error(`${what}: no ${re} within ${timeoutMs} ms; output:\n${io.out()}${io.err()}`)), timeoutMs);
          if (check()) return;
          io.onData(check);
          void exited.then((x) => {
            // Let buffered output arrive first.
            setTimeout(() => {
              if (!check()) {
                clearTimeout(timer);
                reject(new Error(`${what}: ended (${x.signal ?? x.code}) before printing ${re}; output:\n${io.out()}${io.err()}`));
              }
            }, 20);
          });
        }),
      kill: async (signal = 'SIGTERM', graceMs = 3000) => {
        if (!ended) {
          group(signal);
          const t = setTimeout(() => group('SIGKILL'), graceMs);
          await exited;
          clearTimeout(t);
        }
        // Whatever of its group outlived it.
        group('SIGKILL');
        this.started.delete(proc);
      },
      signalAlone: async (signal) => {
        if (ended) return;
        child.kill(signal);
        await exited;
      },
    };
    this.started.add(proc);
    return proc;
  }

  pids(): number[] {
    return pidsInNetns(this.netns);
  }
}

/** Build `n` test hosts on one bridge (see the file comment). Undoes itself if any step fails. */
export async function createTestHosts(n: number, opts: TestHostsOptions = {}): Promise<TestNetwork> {
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error(`createTestHosts: n must be an integer in 1..200, got ${n}`);
  const subnet = opts.subnet ?? '10.77.0';
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(subnet)) throw new Error(`createTestHosts: subnet must be three octets like '10.77.0', got '${subnet}'`);
  const prefix = uniqueName();
  const sw = `${prefix}-sw`;
  const gateway = `${subnet}.1`;
  const hosts: Host[] = [];
  const namespaces: string[] = [];
  let destroyed = false;

  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    const errors: string[] = [];
    for (const h of hosts) await Promise.all([...h.started].map((p) => p.kill('SIGKILL', 0)));
    // Hosts first (their eth0 ends the veths), then the switch.
    for (const name of [...namespaces].reverse()) {
      const e = await removeNamespace(name);
      if (e) errors.push(e);
    }
    destroyed = errors.length === 0;
    if (errors.length > 0) throw new Error(`destroying test hosts ${prefix}: ${errors.join('; ')}`);
  };

  try {
    ip(['netns', 'add', sw]);
    namespaces.push(sw);
    ip(['-n', sw, 'link', 'set', 'lo', 'up']);
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', sw, 'addr', 'add', `${gateway}/24`, 'dev', 'br0']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    for (let i = 0; i < n; i++) {
      const name = `${prefix}-h${i}`;
      ip(['netns', 'add', name]);
      namespaces.push(name);
      const h = new Host(i, name, `${subnet}.${i + 2}`, gateway);
      hosts.push(h);
      // The host end is created directly in the host's namespace, already named eth0.
      ip(['-n', sw, 'link', 'add', `vh${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
      ip(['-n', sw, 'link', 'set', `vh${i}`, 'master', 'br0', 'up']);
      ip(['-n', name, 'link', 'set', 'lo', 'up']);
      ip(['-n', name, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
      ip(['-n', name, 'link', 'set', 'eth0', 'up']);
      ip(['-n', name, 'route', 'add', 'default', 'via', gateway, 'dev', 'eth0']);
    }
  } catch (e) {
    await destroy().catch(() => {});
    throw e;
  }
  return { prefix, switchNetns: sw, hosts, namespaces, destroy };
}
