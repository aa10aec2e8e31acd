/**
 * The ZooKeeper ensemble of `corral local --masters=N`: three servers of Debian's `zookeeper`
 * package (java + /usr/share/java/zookeeper.jar) on loopback ports, their data and logs under
 * the local cluster's work dir, children of this process. For trying HA out, not for production
 * (README: "Several masters with ZooKeeper").
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { FlagError } from '../common/flags.ts';

export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
const MAIN_CLASS = 'org.apache.zookeeper.server.quorum.QuorumPeerMain';

interface Server {
  readonly id: number;
  readonly clientPort: number;
  readonly dir: string;
  process: ChildProcess | undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** The `srvr` answer's mode (leader, follower, standalone), or undefined when the server does not answer. */
function serverMode(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.on('connect', () => socket.end('srvr'));
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(/^Mode: (\w+)/m.exec(text)?.[1]);
    });
  });
}

export class LocalZooKeeper {
  private stopping = false;

  private constructor(private readonly servers: Server[]) {}

  /**
   * Start `n` servers under `dir` and wait until each serves. Refused (naming --masters) when
   * java or the jar is missing.
   */
  static async start(dir: string, n = 3, readyTimeoutMs = 60_000): Promise<LocalZooKeeper> {
    if (!existsSync(ZOOKEEPER_JAR)) throw new FlagError('masters', `needs ZooKeeper: ${ZOOKEEPER_JAR} is missing (Debian: apt-get install zookeeper)`);
    const java = spawnSync('java', ['-version'], { stdio: 'ignore' });
    if (java.error || java.status !== 0) throw new FlagError('masters', 'needs ZooKeeper: java is not on PATH (Debian: apt-get install zookeeper pulls a JRE)');
    const ports: number[] = [];
    while (ports.length < 3 * n) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const servers: Server[] = Array.from({ length: n }, (_, i) => ({
      id: i + 1,
      clientPort: ports[3 * i]!,
      dir: join(dir, `server${i + 1}`),
      process: undefined,
    }));
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
        ...servers.map((o, j) => `server.${o.id}=127.0.0.1:${ports[3 * j + 1]}:${ports[3 * j + 2]}`),
      ];
      writeFileSync(join(s.dir, 'zoo.cfg'), cfg.join('\n') + '\n');
    }
    const zk = new LocalZooKeeper(servers);
    process.once('exit', () => zk.killNow());
    try {
      for (const s of servers) zk.spawn(s);
      await Promise.all(servers.map((s) => zk.waitServing(s, readyTimeoutMs)));
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

  private spawn(s: Server): void {
    const log = openSync(join(s.dir, 'server.log'), 'a');
    try {
      const child = spawn(
        'java',
        [
          '-Xms32m',
          '-Xmx256m',
          `-Dzookeeper.log.dir=${s.dir}`,
          '-Dzookeeper.admin.enableServer=false',
          '-cp',
          ZOOKEEPER_JAR,
          MAIN_CLASS,
          join(s.dir, 'zoo.cfg'),
        ],
        { stdio: ['ignore', log, log] },
      );
      child.on('error', () => {});
      s.process = child;
    } finally {
      closeSync(log);
    }
  }

  private async waitServing(s: Server, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.stopping || !s.process || s.process.exitCode !== null || s.process.signalCode !== null) {
        throw new Error(`ZooKeeper server ${s.id} exited before serving (its log: ${join(s.dir, 'server.log')})`);
      }
      const mode = await serverMode(s.clientPort);
      if (mode === 'leader' || mode === 'follower') return;
      if (Date.now() > deadline) throw new Error(`ZooKeeper server ${s.id} did not serve within ${timeoutMs} ms (its log: ${join(s.dir, 'server.log')})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
