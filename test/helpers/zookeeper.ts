/**
 * A real ZooKeeper ensemble for tests: Debian's `zookeeper` package (3.8), N servers on loopback
 * ports chosen free, each a `java … QuorumPeerMain zoo.cfg` child of the test process, with short
 * timeouts (tickTime 500 ms, sessions from 1 s) so that the tests are quick.
 *
 * Everything lives under /tmp/corral-test-zk/<pid>-<n>/: one directory per server (zoo.cfg,
 * data/myid, its log) and `serverI.pid`. stop() kills the servers and removes the directory; a
 * process exit handler does the same for an ensemble a failed test left running; and start()
 * first clears what a crashed run left (directories whose owning test process is gone: their
 * java processes are killed, checked by their command line, and the directories removed).
 *
 * Usage:
 *   const test = zookeeperOnly(anyTest);     // skipped (with the reason) when java or the jar is missing, unless CI=true
 *   const zk = await ZkEnsemble.start(3); t.teardown(() => zk.stop());
 *   zk.zkUrl('/corral') → 'zk://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/corral'
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import {
  ZOOKEEPER_JAR,
  type ZkServerSpec,
  fourLetterWord,
  serverLogTail,
  serverMode,
  spawnZooKeeper,
  waitServing,
  writeZooCfg,
  zookeeperMissing,
} from '../../lib/cli/local_zookeeper.ts';
import { inCI, rootOnly } from './root.ts';
import { pidAlive } from './processes.ts';

// How a server is configured, started and waited for is corral local's (lib/cli/local_zookeeper.ts).
export { fourLetterWord, zookeeperMissing };
export const ZK_JAR = ZOOKEEPER_JAR;
export const ZK_ROOT = '/tmp/corral-test-zk';

/**
 * ava's `test`, or when ZooKeeper is missing a stand-in whose tests are skipped (hooks do not
 * run). With CI=true nothing is skipped: the tests run and fail saying what is missing.
 */
export function zookeeperOnly<Context = unknown>(test: TestFn<Context>): TestFn<Context> {
  const missing = zookeeperMissing();
  if (missing === undefined || inCI()) return test;
  process.stderr.write(`# ZooKeeper tests skipped: ${missing}\n`);
  return rootOnly(test, 'skip');
}

interface Server extends ZkServerSpec {
  process: ChildProcess | undefined;
}

let ensembleCounter = 0;
const live = new Set<ZkEnsemble>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const e of live) e.killNow();
  });
}

export class ZkEnsemble {
  readonly dir: string;
  private readonly servers: Server[];

  private constructor(dir: string, servers: Server[]) {
    this.dir = dir;
    this.servers = servers;
  }

  /**
   * Start `n` servers (3 by default) and wait until every one of them serves (`srvr` answers
   * leader or follower). Tries new ports when one was taken meanwhile.
   */
  static async start(n = 3, options: { readyTimeoutMs?: number } = {}): Promise<ZkEnsemble> {
    const missing = zookeeperMissing();
    if (missing) throw new Error(`ZooKeeper cannot run: ${missing}`);
    clearLeftoverEnsembles();
    installExitHook();
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const ensemble = await ZkEnsemble.create(n);
      live.add(ensemble);
      try {
        for (let i = 1; i <= n; i++) ensemble.spawnServer(i);
        await Promise.all(ensemble.servers.map((s) => ensemble.waitServing(s.id, options.readyTimeoutMs ?? 60_000)));
        return ensemble;
      } catch (e) {
        lastError = e;
        const portTaken = ensemble.servers.some((s) => /Address already in use|BindException/.test(ensemble.serverLog(s.id)));
        await ensemble.stop();
        if (!portTaken) break;
      }
    }
    throw lastError;
  }

  private static async create(n: number): Promise<ZkEnsemble> {
    const dir = join(ZK_ROOT, `${process.pid}-${ensembleCounter++}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'owner'), String(process.pid));
    const ports = await freePorts(3 * n);
    const servers: Server[] = [];
    for (let i = 1; i <= n; i++) {
      const base = (i - 1) * 3;
      servers.push({
        id: i,
        clientPort: ports[base]!,
        quorumPort: ports[base + 1]!,
        electionPort: ports[base + 2]!,
        dir: join(dir, `server${i}`),
        process: undefined,
      });
    }
    // Small preallocated logs, no snapshots or purges during a test.
    writeZooCfg(servers, ['preAllocSize=1024', 'snapCount=100000', 'autopurge.purgeInterval=0']);
    return new ZkEnsemble(dir, servers);
  }

  get size(): number {
    return this.servers.length;
  }

  /** `127.0.0.1:P1,…` followed by `path` (a chroot, when given). */
  connectString(path = ''): string {
    return this.servers.map((s) => `127.0.0.1:${s.clientPort}`).join(',') + path;
  }

  /** `zk://127.0.0.1:P1,…/path`, with `user:password@` when given. */
  zkUrl(path: string, credentials?: { user: string; password: string }): string {
    const auth = credentials ? `${credentials.user}:${credentials.password}@` : '';
    return `zk://${auth}${this.connectString(path)}`;
  }

  clientPort(id: number): number {
    return this.server(id).clientPort;
  }

  /** The server's mode (`leader`, `follower`, `standalone`), or undefined when it does not serve. */
  mode(id: number): Promise<string | undefined> {
    return serverMode(this.server(id).clientPort);
  }

  /** Kill server `id` (SIGKILL, as a crash) and wait for the process to end. */
  async stopServer(id: number): Promise<void> {
    const s = this.server(id);
    const child = s.process;
    if (!child) return;
    s.process = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(join(this.dir, `server${id}.pid`), { force: true });
  }

  /** Start server `id` again (same ports and data) and wait until it serves (a quorum must be up for that). */
  async startServer(id: number, readyTimeoutMs = 60_000): Promise<void> {
    if (this.server(id).process) throw new Error(`ZooKeeper server ${id} is already running`);
    this.spawnServer(id);
    await this.waitServing(id, readyTimeoutMs);
  }

  /** Kill every server and remove the directory. Idempotent. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => this.stopServer(s.id)));
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** The synchronous stop for the process exit handler. */
  killNow(): void {
    for (const s of this.servers) {
      try {
        s.process?.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The end of server `id`'s log, for a failing test's message. */
  serverLog(id: number, maxChars = 4000): string {
    return serverLogTail(this.server(id), maxChars);
  }

  private server(id: number): Server {
    const s = this.servers[id - 1];
    if (!s) throw new Error(`no ZooKeeper server ${id} (the ensemble has ${this.servers.length})`);
    return s;
  }

  private spawnServer(id: number): void {
    const s = this.server(id);
    // -Dcorral.test.zk identifies the process as this ensemble's when a later run clears leftovers.
    const child = spawnZooKeeper(s, ['-Xms32m', '-Xmx128m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto', `-Dcorral.test.zk=${this.dir}`]);
    s.process = child;
    if (child.pid !== undefined) writeFileSync(join(this.dir, `server${id}.pid`), String(child.pid));
  }

  private waitServing(id: number, timeoutMs: number): Promise<void> {
    const s = this.server(id);
    return waitServing(s, () => s.process !== undefined && s.process.exitCode === null && s.process.signalCode === null, timeoutMs);
  }
}

/** Ports that were free a moment ago, all different, below the ephemeral range (outgoing connections do not take them). */
async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (out.includes(port)) continue;
    if (await canBind(port)) out.push(port);
  }
  return out;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Remove the ensembles of test processes that are gone (a crashed run): kill their servers, remove their directories. */
export function clearLeftoverEnsembles(): string[] {
  if (!existsSync(ZK_ROOT)) return [];
  const cleared: string[] = [];
  for (const name of readdirSync(ZK_ROOT)) {
    const dir = join(ZK_ROOT, name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, 'owner'), 'utf8').trim());
    } catch {
      owner = Number(/^(\d+)-/.exec(name)?.[1] ?? NaN);
    }
    if (!Number.isInteger(owner) || owner === process.pid || pidAlive(owner)) continue;
    let files: string[] = [];
    try {
      files = readdirSync(dir);
    } catch {
      // removed meanwhile
    }
    for (const f of files) {
      if (!/^server\d+\.pid$/.test(f)) continue;
      const pid = Number(readFileSync(join(dir, f), 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 0) continue;
      try {
        // Only a java process of this ensemble: a pid may have been reused meanwhile.
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmdline.includes(`-Dcorral.test.zk=${dir}\0`)) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
    cleared.push(dir);
  }
  return cleared;
}

/** Wait until `cond` holds (polled every 20 ms), or fail saying what was awaited. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Block this process's event loop for `ms` (what SIGSTOP does to it, as the process itself sees it). */
export function stallEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Make ZooKeeper end a session now, as when it expires: another client takes the session over
 * (its id and password) and closes it. The session's own client learns it is expired when it
 * reconnects, as after a real expiry. `session` is a ZkSession (its client is reached inside).
 */
export async function expireSession(ensemble: ZkEnsemble, session: object): Promise<void> {
  const client = (session as { client: { getSessionId(): Buffer; getSessionPassword(): Buffer } }).client;
  const zookeeper = createRequire(import.meta.url)('node-zookeeper-client');
  const thief = zookeeper.createClient(ensemble.connectString(), {
    sessionTimeout: 2000,
    sessionId: client.getSessionId(),
    sessionPassword: client.getSessionPassword(),
  });
  await new Promise<void>((resolve) => {
    thief.once('connected', () => resolve());
    thief.connect();
  });
  thief.close();
}
