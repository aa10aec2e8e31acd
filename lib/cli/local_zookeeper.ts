/**
 * The ZooKeeper ensemble of `corral local --masters=N`: three servers of Debian's `zookeeper`
 * package (java + /usr/share/java/zookeeper.jar) on loopback ports, their data and logs under
 * the local cluster's work dir, children of this process. For trying HA out, not for production
 * (README: "Several masters with ZooKeeper").
 *
 * The server primitives here (zoo.cfg, spawning, waiting until a server serves) are also those of
 * the tests' ensemble (test/helpers/zookeeper.ts): one place for how a ZooKeeper server is run.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { FlagError } from '../common/flags.ts';
import { freePort } from '../transport/free_port.ts';

export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
const MAIN_CLASS = 'org.apache.zookeeper.server.quorum.QuorumPeerMain';

/** Why a ZooKeeper server cannot run here, or undefined when it can. */
export function zookeeperMissing(): string | undefined {
  if (!existsSync(ZOOKEEPER_JAR)) return `${ZOOKEEPER_JAR} is missing (Debian: apt-get install zookeeper)`;
  const java = spawnSync('java', ['-version'], { stdio: 'ignore' });
  if (java.error || java.status !== 0) return 'java is not on PATH (Debian: apt-get install zookeeper pulls a JRE)';
  return undefined;
}

/** One server of a loopback ensemble: its id (1…n), its three ports and its directory (zoo.cfg, data/, server.log). */
export interface ZkServerSpec {
  readonly id: number;
  readonly clientPort: number;
  readonly quorumPort: number;
  readonly electionPort: number;
  readonly dir: string;
}

/**
 * Write each server's `data/myid` and `zoo.cfg` (short ticks so that a local or test ensemble
 * elects quickly; sessions from 1 s; `srvr` allowed, for waitServing). One server runs
 * standalone; several form an ensemble on 127.0.0.1. `extra`: more zoo.cfg lines.
 */
export function writeZooCfg(servers: readonly ZkServerSpec[], extra: readonly string[] = []): void {
  for (const s of servers) {
    mkdirSync(join(s.dir, 'data'), { recursive: true });
    writeFileSync(join(s.dir, 'data', 'myid'), `${s.id}\n`);
    const cfg = [
      'tickTime=500',
      'initLimit=10',
      'syncLimit=5',
      `dataDir=${join(s.dir, 'data')}`,
      `clientPort=${s.clientPort}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      'minSessionTimeout=1000',
      'maxSessionTimeout=60000',
      '4lw.commands.whitelist=ruok,srvr,mntr',
      ...extra,
      ...(servers.length > 1 ? servers.map((o) => `server.${o.id}=127.0.0.1:${o.quorumPort}:${o.electionPort}`) : []),
    ];
    writeFileSync(join(s.dir, 'zoo.cfg'), cfg.join('\n') + '\n');
  }
}

/** Start the server of `s` (java … QuorumPeerMain zoo.cfg), its output appended to `<dir>/server.log`. `jvm`: the JVM's options (heap, GC, markers). */
export function spawnZooKeeper(s: ZkServerSpec, jvm: readonly string[] = ['-Xms32m', '-Xmx256m']): ChildProcess {
  const log = openSync(join(s.dir, 'server.log'), 'a');
  try {
    const child = spawn(
      'java',
      [...jvm, `-Dzookeeper.log.dir=${s.dir}`, '-Dzookeeper.admin.enableServer=false', '-cp', ZOOKEEPER_JAR, MAIN_CLASS, join(s.dir, 'zoo.cfg')],
      { stdio: ['ignore', log, log] },
    );
    child.on('error', () => {});
    return child;
  } finally {
    closeSync(log);
  }
}

/** The end of the server's log (for an error message). */
export function serverLogTail(s: ZkServerSpec, maxChars = 4000): string {
  try {
    return readFileSync(join(s.dir, 'server.log'), 'utf8').slice(-maxChars);
  } catch {
    return '';
  }
}

/** Send a four-letter command to a server on 127.0.0.1 and read the whole answer. */
export function fourLetterWord(port: number, word: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${word} on port ${port}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.end(word));
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

/** The `srvr` answer's mode (leader, follower, standalone), or undefined when the server does not answer. */
export async function serverMode(port: number): Promise<string | undefined> {
  const text = await fourLetterWord(port, 'srvr').catch(() => '');
  return /^Mode: (\w+)/m.exec(text)?.[1];
}

/**
 * Wait until server `s` serves (`srvr` says leader, follower or standalone). Fails, with the
 * end of its log, when `running()` says its process is gone or after `timeoutMs`.
 */
export async function waitServing(s: ZkServerSpec, running: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!running()) throw new Error(`ZooKeeper server ${s.id} exited before serving; its log (${join(s.dir, 'server.log')}) ends with:\n${serverLogTail(s)}`);
    const mode = await serverMode(s.clientPort);
    if (mode === 'leader' || mode === 'follower' || mode === 'standalone') return;
    if (Date.now() > deadline)
      throw new Error(`ZooKeeper server ${s.id} did not serve within ${timeoutMs} ms; its log (${join(s.dir, 'server.log')}) ends with:\n${serverLogTail(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Server extends ZkServerSpec {
  process: ChildProcess | undefined;
}

export class LocalZooKeeper {
  private stopping = false;

  private constructor(private readonly servers: Server[]) {}

  /**
   * Start `n` servers under `dir` and wait until each serves. Refused (naming --masters) when
   * java or the jar is missing.
   */
  static async start(dir: string, n = 3, readyTimeoutMs = 60_000): Promise<LocalZooKeeper> {
    const missing = zookeeperMissing();
    if (missing) throw new FlagError('masters', `needs ZooKeeper: ${missing}`);
    const ports: number[] = [];
    while (ports.length < 3 * n) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const servers: Server[] = Array.from({ length: n }, (_, i) => ({
      id: i + 1,
      clientPort: ports[3 * i]!,
      quorumPort: ports[3 * i + 1]!,
      electionPort: ports[3 * i + 2]!,
      dir: join(dir, `server${i + 1}`),
      process: undefined,
    }));
    writeZooCfg(servers);
    const zk = new LocalZooKeeper(servers);
    process.once('exit', () => zk.killNow());
    try {
      for (const s of servers) s.process = spawnZooKeeper(s);
      await Promise.all(servers.map((s) => waitServing(s, () => !zk.stopping && isRunning(s.process), readyTimeoutMs)));
    } catch (e) {
      await zk.stop();
      throw e;
    }
    return zk;
  }

  /** `zk://127.0.0.1:P1,…/path`. */
  url(path: string): string {
    return `zk://${this.servers.map((s) => `127.0.0.1:${s.clientPort}`).join(',')}${path}`;
  }

  /** Stop every server (SIGTERM, then SIGKILL after 5 s). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.servers.map(async (s) => {
        const child = s.process;
        s.process = undefined;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }),
    );
  }

  private killNow(): void {
    for (const s of this.servers) s.process?.kill('SIGKILL');
  }
}

function isRunning(child: ChildProcess | undefined): boolean {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}
