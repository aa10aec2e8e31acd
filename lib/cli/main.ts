/**
 * `corral`: the command line. `corral master|agent|local|execute [--flags]`, `--help` for each,
 * `--version`. A bad flag or value is one line on stderr and exit code 2.
 */
import { mkdtemp, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFlags } from '../agent/flags.ts';
import {
  FlagError,
  type FlagTable,
  type FlagValues,
  flag,
  flagsHelp,
  intIn,
  parseFlags,
  parseIp,
  parsePort,
  optionalFlag,
  str,
  parseBool,
  unexpectedArgument,
} from '../common/flags.ts';
import { CONFIG_DIR_HELP, configDirFlags } from './config_dir.ts';
import { doctor } from './doctor.ts';
import { CorralError, describeError } from '../common/errors.ts';
import { masterFlags } from '../master/flags.ts';
import { loadTlsConfig, parseMasterLocation, type TlsConfig } from '../transport/index.ts';
import { startAgent, startMaster, type Running, type RunningAgent } from './daemons.ts';
import { LOCAL_ZK_SESSION_TIMEOUT, type LocalMasters, startLocalMasters } from './local_masters.ts';
import { execute, executeCredential, executeFlags } from './execute.ts';
import type { Logger } from '../common/log.ts';
import { createLogger, levelFromFlag } from './logger.ts';
import { RotatingLogFile } from './log_files.ts';
import { type LogLevelControl, levelGate } from '../common/log_level.ts';
import { systemClock } from '../linux/index.ts';
import { MESOS_VERSION, VERSION } from './version.ts';
import { isOpsCommand, opsUsage, runOps } from './ops.ts';

const localFlags = {
  ip: flag({ help: 'IP address to listen on', default: '127.0.0.1', parse: parseIp }),
  port: flag({ help: "The master's port", default: 5050, parse: parsePort }),
  num_agents: flag({ help: 'How many agents to start', default: 1, parse: intIn(0, 64) }),
  masters: flag({
    help: "How many masters: 1 runs alone (its registry a file in --work_dir); more (3, 5) start an embedded 3-server ZooKeeper ensemble (Debian's zookeeper package) and that many masters on ports --port, --port+1, …, which elect a leader; agents and the demo follow the leader, and a master that stops is started again",
    default: 1,
    parse: intIn(1, 9),
  }),
  work_dir: optionalFlag({ help: 'Where state goes (default: a new temporary directory)', parse: str }),
  resources: optionalFlag({ help: "Each agent's resources (default: detected)", parse: agentFlags.resources.parse }),
  demo: flag({ help: 'Run an example task once the cluster is up and print what happens', default: false, boolean: true, parse: parseBool }),
  quiet: flag({ help: 'Log only warnings and errors', default: false, boolean: true, parse: parseBool }),
  keep_tasks: flag({
    help: 'On Ctrl-C, leave the tasks running (and the temporary work_dir in place) for a later `corral local --work_dir=…` to recover; by default they are killed and the temporary work_dir removed',
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  logging_level: masterFlags.logging_level,
  log_format: masterFlags.log_format,
  // Authentication, as the master and agents take it (passed through as given).
  authenticate_frameworks: masterFlags.authenticate_frameworks,
  authenticate_agents: {
    ...masterFlags.authenticate_agents,
    help: 'Agents must authenticate to register; the local agents use --credential (default: on with --credentials)',
  },
  authenticate_http: {
    ...masterFlags.authenticate_http,
    help: "The master's and the agents' operator endpoints need authentication (--http_credentials, else --credentials)",
  },
  credentials: masterFlags.credentials,
  http_credentials: masterFlags.http_credentials,
  acls: masterFlags.acls,
  credential: {
    ...agentFlags.credential,
    help: "The local agents' principal and secret (needed with --authenticate_agents), as `corral agent --credential` takes it",
  },
  principal: { ...executeFlags.principal, help: "--demo: the demo framework's principal (needed with --authenticate_frameworks)" },
  secret: { ...executeFlags.secret, help: '--demo: the secret of --principal, as `corral execute --secret` takes it' },
};

type LocalValues = FlagValues<typeof localFlags>;

/** The master's and each agent's auth flags from `corral local`'s, passed through as text. */
function localAuthArgs(v: LocalValues, text: Readonly<Record<string, string>>): { master: string[]; agent: string[] } {
  const given = (name: keyof LocalValues): boolean => v[name] !== undefined && v[name] !== false;
  const pass = (names: (keyof LocalValues)[]) => names.filter(given).map((n) => (typeof v[n] === 'boolean' ? `--${n}` : `--${n}=${text[n]}`));
  const master = pass(['authenticate_frameworks', 'authenticate_agents', 'authenticate_http', 'credentials', 'http_credentials', 'acls']);
  if (v.authenticate_agents === false) master.push('--authenticate_agents=false');
  const agent = pass(['credential']);
  if (v.authenticate_agents && v.credential === undefined)
    throw new FlagError('authenticate_agents', 'needs --credential (the principal and secret the local agents register with)');
  // As the master decides it: with --credentials, agents authenticate unless told otherwise.
  if (v.authenticate_agents === undefined && v.credentials !== undefined && v.credential === undefined) {
    throw new FlagError(
      'credential',
      'is needed: with --credentials the master requires its agents to authenticate (give the local agents a --credential, or --authenticate_agents=false)',
    );
  }
  if (v.authenticate_http) agent.push('--authenticate_http', `--http_credentials=${text.http_credentials ?? text.credentials ?? ''}`);
  if (v.demo && v.authenticate_frameworks && v.secret === undefined)
    throw new FlagError('demo', 'needs --principal and --secret with --authenticate_frameworks');
  return { master, agent };
}

const COMMANDS: Record<string, { help: string; flags: FlagTable }> = {
  master: { help: 'Run a master', flags: masterFlags },
  agent: { help: 'Run an agent', flags: agentFlags },
  local: { help: 'Run a master and agents in one process, for trying Corral out', flags: localFlags },
  execute: { help: 'Run one command as a task on a cluster and wait for it (like mesos-execute)', flags: executeFlags },
};

const DOCTOR_HELP =
  'Check that this host can run an agent (or a master) with the given flags: one line per check (OK, WARN, FAIL and how to fix it); exit code 0 when nothing fails';

/** The commands that take flag files (--config_dir) and warn about unknown MESOS_* variables. */
const DAEMONS: ReadonlySet<string> = new Set(['master', 'agent']);

function usage(): string {
  return [
    `corral ${VERSION}: a cluster resource manager compatible with the Mesos v1 HTTP APIs`,
    '',
    'usage: corral <command> [--flag=value ...]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.help}`),
    `  ${'doctor'.padEnd(8)} ${DOCTOR_HELP}`,
    ...opsUsage(),
    '',
    "Flags also come from CORRAL_<FLAG> or MESOS_<FLAG> environment variables. 'corral <command> --help' lists them.",
  ].join('\n');
}

/**
 * SIGINT/SIGTERM stop the daemons and exit 0. The handlers are installed before a daemon starts
 * (a signal that came while it was starting would otherwise kill the process outright, with no
 * clean stop); such a signal is kept and acted on once `stopOn` names what to stop.
 */
function stopSignals(log: Logger): { stopOn(stoppables: Running[]): void } {
  let targets: Running[] | undefined;
  let requested = false;
  let stopping = false;
  const stop = async (signal: string) => {
    if (!requested) log.info({ signal }, `received ${signal}; stopping`);
    requested = true;
    if (stopping || targets === undefined) return;
    stopping = true;
    // Agents first, so the master does not log them as lost on the way down.
    await Promise.allSettled(targets.slice(1).map((s) => s.stop()));
    await Promise.allSettled(targets.slice(0, 1).map((s) => s.stop()));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  return {
    stopOn(stoppables) {
      targets = stoppables;
      if (requested) void stop('a signal');
    },
  };
}

/** The log message of an unhandled rejection (tests look for it in a daemon's output). */
export const UNHANDLED_REJECTION = 'unhandled promise rejection: this is a bug in Corral; exiting';

let crashHandlerInstalled = false;

/**
 * A promise rejection nobody handles is a bug: it is logged at ERROR, with its stack, and the
 * process exits with status 1, as Node's default does (a crash is never swallowed; the log
 * line only makes it readable among the JSON lines).
 */
function exitOnUnhandledRejection(log: Logger): void {
  if (crashHandlerInstalled) return;
  crashHandlerInstalled = true;
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason instanceof Error ? reason : describeError(reason) }, UNHANDLED_REJECTION);
    process.exit(1);
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === 'help' || command === '-h') {
    console.log(usage());
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === 'version') {
    console.log(`corral ${VERSION} (Mesos API ${MESOS_VERSION})`);
    return 0;
  }
  if (command === 'doctor') {
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(`usage: corral doctor [master|agent] [--flag=value ...] [--config_dir=DIR]\n\n${DOCTOR_HELP}.`);
      return 0;
    }
    try {
      return await doctor(rest, process.env, (l) => console.log(l));
    } catch (e) {
      console.error(`corral doctor: ${describeError(e)}`);
      return 2;
    }
  }
  if (isOpsCommand(command, rest)) return runOps(command, rest);
  const spec = COMMANDS[command];
  if (!spec) {
    console.error(`corral: unknown command '${command}' (see corral --help)`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    const configDir = DAEMONS.has(command) ? `\n${CONFIG_DIR_HELP}` : '';
    console.log(`usage: corral ${command} [--flag=value ...]\n\n${spec.help}.\n\n${flagsHelp(spec.flags)}${configDir}`);
    return 0;
  }
  let parsed;
  try {
    // The daemons also take flag files (--config_dir); a CORRAL_* variable that no command knows is refused.
    const config = DAEMONS.has(command) ? configDirFlags(rest, process.env) : { argv: rest, files: {} };
    const knownEnv = new Set(['config_dir', ...Object.values(COMMANDS).flatMap((c) => Object.keys(c.flags))]);
    parsed = parseFlags(spec.flags, { argv: config.argv, env: process.env, files: config.files, knownEnv, readFile: (p) => readFileSync(p, 'utf8') });
    if (parsed.rest.length > 0) throw unexpectedArgument(String(parsed.rest[0]));
  } catch (e) {
    console.error(`corral ${command}: ${describeError(e)}`);
    return 2;
  }
  // TLS is configured as libprocess configures it: by LIBPROCESS_SSL_* (or SSL_*) variables,
  // read once here; a bad one stops the command before anything starts.
  let tls: TlsConfig | undefined;
  try {
    tls = loadTlsConfig(process.env);
  } catch (e) {
    console.error(`corral ${command}: ${describeError(e)}`);
    return 2;
  }
  const v = parsed.values as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  // SET_LOGGING_LEVEL (/api/v1) can let DEBUG through for a while: the gate drops what --logging_level does not show.
  // --log_dir (master, agent): the lines also go to rotated files; a directory that cannot be written stops here.
  let file: RotatingLogFile | undefined;
  try {
    if (DAEMONS.has(command) && v.log_dir !== undefined)
      file = new RotatingLogFile({ dir: v.log_dir, name: `corral-${command}`, maxSize: v.max_log_size, maxFiles: v.max_log_files });
  } catch (e) {
    console.error(`corral ${command}: ${describeError(e)}`);
    return 2;
  }
  const { logger: log, control: logLevel } = levelGate(
    createLogger({ level: 'debug', format: v.log_format, ...(file ? { file, fileFormat: v.log_format ?? 'text' } : {}) }),
    levelFromFlag(v.logging_level ?? 'INFO', v.quiet ?? false),
    systemClock,
  );
  exitOnUnhandledRejection(log);
  if (DAEMONS.has(command)) for (const w of parsed.warnings) log.warn(w);
  try {
    switch (command) {
      case 'master': {
        const signals = stopSignals(log);
        const m = await startMaster(v as never, parsed.text, log, { tls, flagFiles: parsed.files, logLevel });
        signals.stopOn([m]);
        // A master that lost the lead (or its candidacy) has stopped: it exits 1, and its
        // supervisor starts it again as a contender (as Mesos does).
        void m.lost.then(() => process.exit(1));
        return -1;
      }
      case 'agent': {
        const signals = stopSignals(log);
        const a = await startAgent(v as never, parsed.text, log, { tls, flagFiles: parsed.files, logLevel });
        if (a.exitCode !== undefined) return a.exitCode; // --recover=cleanup
        signals.stopOn([a]);
        return -1;
      }
      case 'execute': {
        const credential = executeCredential(v.principal, v.secret);
        try {
          return await execute({
            master: v.master,
            name: v.name,
            command: v.command,
            resources: v.resources,
            role: v.role,
            user: v.user,
            timeoutMs: v.timeout,
            checkpoint: v.checkpoint,
            principal: v.principal,
            credential,
            tls,
            print: (l) => console.log(l),
          });
        } catch (e) {
          // A person runs this: one plain line, not a log record.
          console.error(`corral execute: ${describeError(e)}`);
          return 1;
        }
      }
      case 'local':
        return await local(v as never, parsed.text, log, tls, logLevel);
    }
  } catch (e) {
    const msg = describeError(e);
    // A flag refused at start-up (a work_dir that cannot be made, a cgroups hierarchy, a port
    // in use …): one line naming it, as a refusal at parse time.
    if (e instanceof FlagError || (e instanceof CorralError && e.field?.startsWith('--')) || /^--\w+[:=]/.test(msg)) {
      console.error(`corral ${command}: ${msg.replace(/\s*\n\s*/g, ' ')}`);
      return 2;
    }
    log.error({ err: e instanceof Error ? e : msg }, `corral ${command} failed: ${msg}`);
    return 1;
  }
  return 0;
}

async function local(
  v: LocalValues,
  text: Readonly<Record<string, string>>,
  log: ReturnType<typeof createLogger>,
  tls: TlsConfig | undefined,
  logLevel: LogLevelControl,
): Promise<number> {
  const scheme = tls ? 'https' : 'http';
  const auth = localAuthArgs(v, text);
  const workDir = v.work_dir ?? (await new Promise<string>((res, rej) => mkdtemp(join(tmpdir(), 'corral-local-'), (e, d) => (e ? rej(e) : res(d)))));
  const signals = stopSignals(log);
  const running: Running[] = [];
  let address: string;
  // With several masters: where agents and frameworks find the leader.
  let masterFlag: string;
  let ha: LocalMasters | undefined;
  try {
    if (v.masters > 1) {
      ha = await startLocalMasters({ masters: v.masters, ip: v.ip, port: v.port, workDir, args: auth.master, log, ...(tls ? { tls } : {}) });
      running.push(ha);
      address = `${v.ip}:${(await ha.untilLeading()).port}`;
      masterFlag = ha.zkUrl;
    } else {
      const masterParsed = parseFlags(masterFlags, {
        argv: [`--ip=${v.ip}`, `--port=${v.port}`, `--work_dir=${join(workDir, 'master')}`, '--allocation_interval=100ms', ...auth.master],
        env: {},
      });
      const master = await startMaster(masterParsed.values, masterParsed.text, log.child({ role: 'master' }), { tls, logLevel });
      running.push(master);
      address = `${v.ip}:${master.port}`;
      masterFlag = address;
    }
    for (let i = 0; i < v.num_agents; i++) {
      const argv = [
        `--master=${masterFlag}`,
        `--ip=${v.ip}`,
        '--port=0',
        `--work_dir=${join(workDir, `agent${i}`)}`,
        `--hostname=agent${i}`,
        '--registration_backoff_factor=100ms',
        ...auth.agent,
      ];
      if (v.resources) argv.push(`--resources=${v.resources}`);
      const parsed = parseFlags(agentFlags, { argv, env: {} });
      const agent = await startAgent(parsed.values, parsed.text, log.child({ role: `agent${i}` }), { tls, logLevel });
      running.push(v.keep_tasks ? agent : killingTasks(agent, log.child({ role: `agent${i}` })));
      await agent.registered;
    }
  } catch (e) {
    // A refused start leaves nothing running, nor the temporary directory made for it.
    await Promise.allSettled(running.reverse().map((r) => r.stop()));
    if (v.work_dir === undefined) await rm(workDir, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
  const realms = auth.master.filter((a) => a.startsWith('--authenticate_')).map((a) => a.slice('--authenticate_'.length));
  const masters =
    ha === undefined
      ? `master at ${scheme}://${address} (state: ${scheme}://${address}/master/state)`
      : `${v.masters} masters at ${ha
          .running()
          .map((m) => `${scheme}://${v.ip}:${m.port}`)
          .join(
            ', ',
          )} on ZooKeeper ${ha.zkUrl} (leader: ${scheme}://${address}; any master's /master/redirect finds it; ZooKeeper session timeout ${LOCAL_ZK_SESSION_TIMEOUT})`;
  console.log(
    `Corral is running: ${masters}, ${v.num_agents} agent(s), work_dir ${workDir}${realms.length ? `; authentication required for: ${realms.join(', ')}` : ''}`,
  );
  if (v.demo) {
    console.log(`\nDemo: corral execute --master=${masterFlag} --command='echo hello from a Corral task; uname -sr'`);
    const credential = executeCredential(v.principal, v.secret);
    const code = await execute({
      master: ha === undefined ? address : parseMasterLocation(masterFlag, '--master'),
      name: 'demo',
      command: 'echo hello from a Corral task; uname -sr',
      resources: 'cpus:0.1;mem:32',
      role: '*',
      timeoutMs: 60_000,
      ...(tls ? { tls } : {}),
      ...(v.principal === undefined ? {} : { principal: v.principal }),
      ...(credential ? { credential } : {}),
      print: (l) => console.log(`  ${l}`),
    });
    const agent = (running[1] as RunningAgent | undefined)?.agent;
    const ex = agent ? [...agent.completedFrameworks, ...agent.frameworks.values()].flatMap((f) => f.completedExecutors).at(-1) : undefined;
    console.log(`Demo task exited with code ${code}.`);
    if (ex) {
      const out = readFileSync(join(ex.sandbox, 'stdout'), 'utf8').trimEnd();
      console.log(`Its sandbox is ${ex.sandbox}\n  stdout: ${out.split('\n').join('\n          ')}`);
    }
    console.log('The cluster keeps running; press Ctrl-C to stop it.');
  }
  // Stopped last (after the agents): the temporary work_dir goes with the cluster.
  if (v.work_dir === undefined && !v.keep_tasks) {
    const first = running[0]!;
    running[0] = {
      ...first,
      async stop() {
        await first.stop();
        await rm(workDir, { recursive: true, force: true }).catch(() => {});
        console.log(`Stopped; removed ${workDir}.`);
      },
    };
  }
  signals.stopOn(running);
  return -1;
}

/**
 * A `corral local` agent whose stop first shuts down every framework on it (killing their tasks,
 * which a daemon agent would leave running for its next run to recover), and says so.
 */
function killingTasks(a: RunningAgent, log: Logger): RunningAgent {
  return {
    ...a,
    async stop() {
      const live = [...a.agent.frameworks.values()].flatMap((f) => [...f.executors.values()]).filter((ex) => ex.state !== 'TERMINATED');
      if (live.length > 0) {
        console.log(`Stopping ${live.length} task container(s) (--keep_tasks leaves them running)`);
        const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
        await Promise.allSettled(live.map((ex) => a.agent.shutdownExecutor(ex)));
        await Promise.race([Promise.allSettled(live.map((ex) => ex.done)), sleep(30_000)]);
        // A little while for the frameworks to hear of it (TASK_KILLED, acknowledged) before the master stops.
        const pending = () => live.some((ex) => [...ex.tasks.keys()].some((task) => a.agent.updates.hasPending(ex.frameworkId, task)));
        for (const until = Date.now() + 3000; pending() && Date.now() < until;) await sleep(50);
        log.info({ containers: live.length }, 'the tasks of this local cluster are stopped');
      }
      await a.stop();
    },
  };
}

// Run when executed directly.
const isMain = process.argv[1] !== undefined && /[\\/]cli[\\/]main\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (e) => {
      console.error(`corral: ${describeError(e)}`);
      process.exit(1);
    },
  );
}
