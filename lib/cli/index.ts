/**
 * `corral`: the package's root entry point. Start a master, an agent, or a whole local cluster
 * (a master and N agents, what `corral local` runs) in the calling process, and stop them, for
 * the tests of framework authors. The daemons are the same composition roots that
 * `corral master` and `corral agent` run; their options are those commands' flags.
 *
 * ```ts
 * import { startLocalCluster } from 'corral';
 * const cluster = await startLocalCluster({ agents: 2 });
 * // … a framework subscribes to cluster.master (host:port) …
 * await cluster.stop();
 * ```
 *
 * Public API (semver): what this file and the other entry points (`corral/linux`,
 * `corral/resources`, `corral/scheduler`, `corral/executor`) export. Nothing else in the package
 * is, whatever its path.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFlags } from '../agent/flags.ts';
import { FlagError, parseFlags, type FlagTable } from '../common/flags.ts';
import { silentLogger, type Logger } from '../common/log.ts';
import { masterFlags } from '../master/flags.ts';
import type { TlsConfig } from '../transport/index.ts';
import { startAgent as startAgentDaemon, startMaster as startMasterDaemon, type RunningAgent, type RunningMaster } from './daemons.ts';
import { createLogger } from './logger.ts';
import { VERSION } from './version.ts';

export { CorralError, type ErrorCode, type SystemCode } from '../common/errors.ts';
export { FlagError } from '../common/flags.ts';
export type { Logger } from '../common/log.ts';
export { silentLogger } from '../common/log.ts';
export { createLogger } from './logger.ts';
export { loadTlsConfig, type TlsConfig } from '../transport/index.ts';

/** The package's version (package.json). */
export const version: string = VERSION;

/**
 * A daemon's flags: `{ name: value }` (as `--name=value`; `true`/`false` for a boolean) or the
 * command-line form `['--name=value', …]`. Names and values are those of `corral master --help`
 * and `corral agent --help`; an unknown flag or a bad value is a `FlagError` naming it.
 */
export type DaemonFlags = Readonly<Record<string, string | number | boolean>> | readonly string[];

/** What starting any daemon takes besides its flags. */
export interface DaemonStartOptions {
  /** Its flags (see DaemonFlags). */
  readonly flags?: DaemonFlags;
  /** Where its log lines go (default: nowhere). `createLogger({ level: 'info' })` logs to stderr. */
  readonly logger?: Logger;
  /** Serve (and connect) over TLS: a `TlsConfig` from `loadTlsConfig(process.env)`. */
  readonly tls?: TlsConfig;
}

/** A master running in this process. */
export interface EmbeddedMaster {
  /** `host:port` where frameworks and agents reach it. */
  readonly address: string;
  readonly port: number;
  /** Stop it: its port closed, its streams ended. Resolves once it has stopped. */
  stop(): Promise<void>;
}

/** An agent running in this process. */
export interface EmbeddedAgent {
  /** `host:port` of its own endpoints (the executor API, /state). */
  readonly address: string;
  readonly port: number;
  /** Resolves once it has registered with its master. */
  readonly registered: Promise<void>;
  /** Its agent id once registered (empty before). */
  agentId(): string;
  /** Stop it. Its tasks keep running (as a restarted agent would recover them) unless the framework was torn down first. */
  stop(): Promise<void>;
}

/** Turn `flags` into argv, checking the shape (the flag parser checks names and values). */
function argvOf(flags: DaemonFlags | undefined, field: string): string[] {
  if (flags === undefined) return [];
  if (Array.isArray(flags)) {
    for (const a of flags as readonly unknown[]) {
      if (typeof a !== 'string' || !a.startsWith('--')) throw new FlagError(field, `each entry must be a '--name=value' string, not ${JSON.stringify(a)}`);
    }
    return [...(flags as readonly string[])];
  }
  if (typeof flags !== 'object' || flags === null) throw new FlagError(field, 'must be an object of flag values or an array of --name=value strings');
  return Object.entries(flags).map(([name, value]) => {
    if (!['string', 'number', 'boolean'].includes(typeof value)) throw new FlagError(name, `must be a string, number or boolean, not ${typeof value}`);
    return `--${name}=${String(value)}`;
  });
}

function parse<T extends FlagTable>(table: T, defaults: readonly string[], flags: DaemonFlags | undefined, field: string) {
  return parseFlags(table, { argv: [...defaults, ...argvOf(flags, field)], env: {} });
}

function hostOf(ip: string): string {
  return ip === '0.0.0.0' ? '127.0.0.1' : ip;
}

/**
 * Start a master in this process. Defaults differ from `corral master`'s where a test wants
 * them to: it listens on 127.0.0.1, on any free port (`port: 0`), with an in-memory registry
 * unless `work_dir` is given. Throws a `FlagError` naming a bad flag, or the daemon's error if
 * it cannot start (e.g. the port is in use).
 */
export async function startMaster(options: DaemonStartOptions = {}): Promise<EmbeddedMaster> {
  const given = argvOf(options.flags, 'flags');
  const inMemory = !given.some((a) => /^--(work_dir|registry|zk)=/.test(a));
  const parsed = parseFlags(masterFlags, { argv: ['--ip=127.0.0.1', '--port=0', ...(inMemory ? ['--registry=in_memory'] : []), ...given], env: {} });
  const values = parsed.values;
  const running = await startMasterDaemon(values, parsed.text, options.logger ?? silentLogger, options.tls ? { tls: options.tls } : {});
  return embeddedMaster(running, hostOf(values.ip));
}

function embeddedMaster(running: RunningMaster, host: string): EmbeddedMaster {
  let stopped: Promise<void> | undefined;
  return {
    address: `${host}:${running.port}`,
    port: running.port,
    stop: () => (stopped ??= running.stop()),
  };
}

/**
 * Start an agent in this process, registering with `master` (`host:port` or `zk://…`). It
 * listens on 127.0.0.1 on any free port; `work_dir` is required (as for `corral agent`), and
 * `resources` is detected from the host unless given.
 */
export async function startAgent(options: DaemonStartOptions & { readonly master: string }): Promise<EmbeddedAgent> {
  if (typeof options?.master !== 'string' || options.master === '') throw new FlagError('master', 'is required: the master as host:port or zk://…');
  const parsed = parse(agentFlags, [`--master=${options.master}`, '--ip=127.0.0.1', '--port=0', '--registration_backoff_factor=100ms'], options.flags, 'flags');
  const running = await startAgentDaemon(parsed.values, parsed.text, options.logger ?? silentLogger, options.tls ? { tls: options.tls } : {});
  return embeddedAgent(running, hostOf(parsed.values.ip));
}

function embeddedAgent(running: RunningAgent, host: string): EmbeddedAgent {
  let stopped: Promise<void> | undefined;
  return {
    address: `${host}:${running.port}`,
    port: running.port,
    registered: running.registered,
    agentId: () => running.agent.id ?? '',
    stop: () => (stopped ??= running.stop()),
  };
}

/** Options of `startLocalCluster`. */
export interface LocalClusterOptions {
  /** How many agents (default 1; 0 to 64). */
  readonly agents?: number;
  /** Each agent's resources, as `--resources` (default: `cpus:4;mem:4096;disk:10000;ports:[31000-32000]`). */
  readonly resources?: string;
  /** Where the master's and agents' state goes (default: a new temporary directory, removed by stop()). */
  readonly workDir?: string;
  /** Extra master flags (see DaemonFlags); e.g. `{ authenticate_frameworks: true, credentials: '/path' }`. */
  readonly masterFlags?: DaemonFlags;
  /** Extra flags of every agent. */
  readonly agentFlags?: DaemonFlags;
  readonly logger?: Logger;
  readonly tls?: TlsConfig;
}

/** A master and its agents in this process (what `corral local` runs). */
export interface LocalCluster {
  /** The master's `host:port`: what a scheduler client's `master` option takes. */
  readonly master: string;
  readonly masterDaemon: EmbeddedMaster;
  readonly agents: readonly EmbeddedAgent[];
  readonly workDir: string;
  /**
   * Stop everything: the agents (their tasks killed), then the master; the work directory is
   * removed when startLocalCluster made it. Safe to call twice.
   */
  stop(): Promise<void>;
}

const DEFAULT_LOCAL_RESOURCES = 'cpus:4;mem:4096;disk:10000;ports:[31000-32000]';

/**
 * Start a master and `agents` agents on 127.0.0.1 (any free ports), each agent registered
 * before this resolves. A start that fails leaves nothing running.
 */
export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const n = options.agents ?? 1;
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new FlagError('agents', `must be an integer from 0 to 64, not ${String(n)}`);
  if (options.resources !== undefined && typeof options.resources !== 'string') throw new FlagError('resources', 'must be a --resources string');
  const made = options.workDir === undefined;
  const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'corral-local-')));
  const log = options.logger ?? silentLogger;
  const common = { ...(options.tls ? { tls: options.tls } : {}) };
  const agents: EmbeddedAgent[] = [];
  const agentRuns: RunningAgent[] = [];
  let master: RunningMaster | undefined;
  const stopAll = async (): Promise<void> => {
    // Kill the tasks first: an agent stopped with tasks leaves them running for its recovery.
    if (master) for (const id of Array.from(master.master.frameworks.keys())) await Promise.resolve(master.master.teardown(id)).catch(() => {});
    const until = Date.now() + 5000;
    while (agentRuns.some((a) => Array.from(a.agent.liveExecutors()).length > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await Promise.allSettled(agents.map((a) => a.stop()));
    await master?.stop();
    if (made) await rm(workDir, { recursive: true, force: true });
  };
  try {
    const m = parse(
      masterFlags,
      ['--ip=127.0.0.1', '--port=0', `--work_dir=${join(workDir, 'master')}`, '--allocation_interval=100ms'],
      options.masterFlags,
      'masterFlags',
    );
    master = await startMasterDaemon(m.values, m.text, log.child({ role: 'master' }), common);
    const address = `${hostOf(m.values.ip)}:${master.port}`;
    for (let i = 0; i < n; i++) {
      const a = parse(
        agentFlags,
        [
          `--master=${address}`,
          '--ip=127.0.0.1',
          '--port=0',
          `--work_dir=${join(workDir, `agent${i}`)}`,
          `--hostname=agent${i}`,
          `--resources=${options.resources ?? DEFAULT_LOCAL_RESOURCES}`,
          '--registration_backoff_factor=100ms',
        ],
        options.agentFlags,
        'agentFlags',
      );
      const running = await startAgentDaemon(a.values, a.text, log.child({ role: `agent${i}` }), common);
      agentRuns.push(running);
      agents.push(embeddedAgent(running, hostOf(a.values.ip)));
      await running.registered;
    }
    let stopped: Promise<void> | undefined;
    return { master: address, masterDaemon: embeddedMaster(master, hostOf(m.values.ip)), agents, workDir, stop: () => (stopped ??= stopAll()) };
  } catch (e) {
    await stopAll().catch(() => {});
    throw e;
  }
}

/** A logger that writes readable lines to stderr at `level` and above (a shorthand for createLogger). */
export function stderrLogger(level: 'debug' | 'info' | 'warn' | 'error' = 'info'): Logger {
  return createLogger({ level, pretty: true });
}
