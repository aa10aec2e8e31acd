/**
 * Composition roots: build a master or an agent from parsed flags with real dependencies
 * (clock, HTTP server, registry, containerizer) and start it.
 */
import type { Metrics } from '../common/metrics.ts';
import { addSystemGauges } from '../transport/metrics_http.ts';
import { CorralError, describeError } from '../common/errors.ts';
import { hostname as osHostname } from 'node:os';
import { Agent } from '../agent/agent.ts';
import { createContainerizer } from '../agent/containerizer/factory.ts';
import { offeredResources } from '../agent/containerizer/registry.ts';
import { agentResources, hostFacts } from '../agent/detect.ts';
import { Fetcher } from '../agent/fetcher/fetcher.ts';
import { imageProviderOf } from './images.ts';
import type { agentFlags } from '../agent/flags.ts';
import { agentAuthenticator } from '../agent/http/authentication.ts';
import { EXECUTOR_REALM, agentRoutes } from '../agent/http/routes.ts';
import { agentApiRoutes } from '../agent/http/operator_api.ts';
import { MasterLink } from '../agent/master_link.ts';
import { createQoSController, createResourceEstimator, estimatorName } from '../agent/oversubscription/index.ts';
import { ExecutorTokens, workDirExecutorSecretKey } from '../agent/executor_auth.ts';
import { AgentPaths } from '../agent/paths.ts';
import { currentBootId } from '../agent/recover.ts';
import { FlagError, type FlagValues } from '../common/flags.ts';
import type { Logger } from '../common/log.ts';
import { HierarchicalAllocator } from '../master/allocator/index.ts';
import { type masterFlags, registryKind } from '../master/flags.ts';
import { agentRoutes as masterAgentRoutes } from '../master/http/agents.ts';
import { agentsMustAuthenticate, masterAuthenticator, shownMasterFlags } from '../master/http/authentication.ts';
import { operatorRoutes } from '../master/http/operator.ts';
import { operatorApiRoutes } from '../master/http/operator_api/index.ts';
import { webuiRoutes } from '../master/http/webui.ts';
import { type LogLevelControl, levelGate } from '../common/log_level.ts';
import { levelFromFlag } from './logger.ts';
import { schedulerRoutes } from '../master/http/scheduler.ts';
import { Leadership, leaderHostPort } from '../master/leadership.ts';
import { Master } from '../master/master.ts';
import { FileRegistry, MemoryRegistry, type Registry, ZkRegistry } from '../master/registry/index.ts';
import { parseAttributesText } from '../proto/resources.ts';
import { systemClock } from '../linux/index.ts';
import { type HttpAuthenticator, HttpClient, HttpServer, type TlsConfig, isTlsVariable } from '../transport/index.ts';
import { ZkContender, ZkMasterDetector, ZkSession, createMasterDetector } from '../transport/index.ts';
import type { Contender, MasterDetector, ZkUrl } from '../transport/index.ts';
import { checkDirectoryFlag, checkRootOnlyDirectoryFlag, makeDirectoryFlag, removeMade } from './dirs.ts';
import { FrameworkRateLimiter } from '../master/rate_limits.ts';
import { MESOS_VERSION, VERSION } from './version.ts';

export interface Running {
  readonly port: number;
  stop(): Promise<void>;
}

/** What every daemon takes besides its flags. */
export interface DaemonOptions {
  /**
   * TLS (LIBPROCESS_SSL_*, read once by the cli): the daemon's port speaks HTTPS (and plain
   * too with downgrade), and its clients connect with TLS.
   */
  readonly tls?: TlsConfig;
  /** The agent's environment, that tasks' environments are built from (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Files the flags' `file://` values were read from (ParsedFlags.files): secrets may be in them. */
  readonly flagFiles?: Readonly<Record<string, string>>;
  /**
   * A master's election, when it runs among several (tests give their own; with --zk the
   * daemon makes one on ZooKeeper). Absent: the master runs alone and leads.
   */
  readonly election?: Election;
  /** An agent's detector of the leading master (tests give their own; default: from --master). */
  readonly masterDetector?: MasterDetector;
  /**
   * The log level SET_LOGGING_LEVEL changes (`corral` gives the one of its logger). Absent: the
   * daemon gates its `log` at --logging_level itself (lib/common/log_level.ts).
   */
  readonly logLevel?: LogLevelControl;
}

/** The daemon's logger and the control of its level (see DaemonOptions.logLevel). */
function logLevelOf(log: Logger, loggingLevel: string, options: DaemonOptions): { log: Logger; control: LogLevelControl } {
  if (options.logLevel) return { log, control: options.logLevel };
  const gate = levelGate(log, levelFromFlag(loggingLevel, false), systemClock);
  return { log: gate.logger, control: gate.control };
}

/** A master's place in an election: its candidacy, and where the leader is. */
export interface Election {
  readonly contender: Contender;
  readonly detector: MasterDetector;
  /** Runs once the master has stopped (e.g. closes the ZooKeeper session). */
  close?(): Promise<void>;
}

/** The daemon's one HTTP server (--ip, --port, --max_request_body, --max_stream_backlog; TLS and authentication), not listening yet. */
function serverOf(
  flags: Pick<FlagValues<typeof masterFlags> & FlagValues<typeof agentFlags>, 'ip' | 'port' | 'max_request_body' | 'max_stream_backlog'>,
  options: DaemonOptions,
  log: Logger,
  auth: HttpAuthenticator | undefined,
  backlog?: number,
): HttpServer {
  return new HttpServer({
    ...(backlog === undefined ? {} : { backlog }),
    host: flags.ip,
    port: flags.port,
    maxBodyBytes: flags.max_request_body,
    maxStreamBacklogBytes: flags.max_stream_backlog,
    logger: log,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(auth ? { auth } : {}),
  });
}

/** A daemon's metrics also have the system/* gauges and its HTTP request durations. */
function observe(server: HttpServer, metrics: Metrics): void {
  addSystemGauges(metrics);
  server.recordRequestsIn(metrics);
}

/** The master's listen backlog: every agent connects at once to a newly elected leader. */
const MASTER_LISTEN_BACKLOG = 4096;

/** Listen, or refuse the start naming --port (in use, not allowed) or --ip (not on this host). */
async function listenOn(server: HttpServer, ip: string, port: number): Promise<number> {
  try {
    return await server.listen();
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new FlagError(
      code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' ? 'ip' : 'port',
      `cannot listen on ${ip}:${port}: ${describeError((e as Error).cause ?? e)}`,
    );
  }
}

/**
 * The environment a task's executor starts from (the agent adds its own MESOS_* variables for
 * the executor on top). With --executor_environment_variables exactly that; else the agent's
 * own environment without its configuration (CORRAL_*, MESOS_*, LIBPROCESS_*, the SSL_* TLS
 * settings) and without any variable naming a file the agent read a secret from: a task never
 * sees a secret of the agent's, nor where to find one.
 */
export function executorEnvironment(
  given: Readonly<Record<string, string>> | undefined,
  env: Readonly<Record<string, string | undefined>>,
  secretFiles: readonly string[],
): Record<string, string> {
  if (given !== undefined) return { ...given };
  const files = new Set(secretFiles.flatMap((f) => [f, `file://${f}`]));
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || /^(CORRAL|MESOS|LIBPROCESS)_/i.test(name) || isTlsVariable(name) || files.has(value.trim())) continue;
    out[name] = value;
  }
  return out;
}

export interface RunningMaster extends Running {
  readonly master: Master;
  readonly leadership: Leadership;
  /**
   * Resolves, with the reason, when the master has stopped by itself: it lost its leadership or
   * its candidacy, or could not take up the lead. `corral master` then exits 1, so that its
   * supervisor starts it again as a contender (as Mesos does). Never resolves for a master
   * that runs alone, nor after stop().
   */
  readonly lost: Promise<string>;
}

export interface RunningAgent extends Running {
  readonly agent: Agent;
  /** Resolves once the agent has registered with its master (never with --recover=cleanup). */
  readonly registered: Promise<void>;
  /** Set when the agent has done its work and the command should exit with it (--recover=cleanup). */
  readonly exitCode?: number;
}

export async function startMaster(
  flags: FlagValues<typeof masterFlags>,
  text: Readonly<Record<string, string>>,
  givenLog: Logger,
  options: DaemonOptions = {},
): Promise<RunningMaster> {
  const levels = logLevelOf(givenLog, flags.logging_level, options);
  const log = levels.log;
  const registryBackend = registryKind(flags);
  if (registryBackend === 'replicated_log' && flags.work_dir === undefined) {
    throw new FlagError('work_dir', 'is required with --registry=replicated_log (or use --registry=in_memory)');
  }
  if (registryBackend === 'zookeeper' && flags.zk === undefined)
    throw new FlagError('registry', 'zookeeper needs --zk (the ZooKeeper URL the registry lives under)');
  // Everything is checked before anything is made: a refused start leaves no work_dir behind.
  if (flags.work_dir) await checkDirectoryFlag('work_dir', flags.work_dir);
  const allocator = new HierarchicalAllocator(flags.weights ? { weights: flags.weights } : {});
  // Authentication (--authenticate_*, --credentials) is decided before listening: a realm
  // without credentials stops the master here.
  const auth = masterAuthenticator(flags);
  if (flags.authenticate_agents === undefined && flags.authenticate_slaves === undefined && agentsMustAuthenticate(flags)) {
    log.info({}, 'agents must authenticate with a --credential: --credentials is given (--authenticate_agents=false to opt out)');
  }
  for (const name of ['credentials', 'http_credentials'] as const) {
    const f = flags[name];
    if (f?.readableByOthers) log.warn({ flag: `--${name}`, path: f.path }, 'the credentials file can be read by other users; chmod 600 it');
  }
  if (flags.acls?.ignored.length) log.warn({ kinds: flags.acls.ignored }, '--acls: these ACL kinds are read but not enforced (Corral has no such action)');
  if (flags.zk !== undefined && registryBackend !== 'zookeeper') {
    log.warn(
      { registry: registryBackend },
      `--registry=${registryBackend} with --zk: the registry is this master's own, so a master elected after it does not know the agents this one admitted (they are told to shut down when they re-register); use --registry=zookeeper`,
    );
  }
  if (flags.quorum !== undefined)
    log.info({ quorum: flags.quorum }, '--quorum is accepted and not used: Corral has no replicated log (with --zk, ZooKeeper keeps the registry)');
  // With --zk: a ZooKeeper that does not answer stops the start here, naming --zk.
  const zk = flags.zk === undefined ? undefined : await zkElection(flags.zk, flags.zk_session_timeout, log);
  const election = options.election ?? zk;
  // A new leader is reached by every agent at once: room for their connections.
  const server = serverOf(flags, options, log, auth, MASTER_LISTEN_BACKLOG);
  let port: number;
  let made: string | undefined;
  try {
    port = await listenOn(server, flags.ip, flags.port);
    if (flags.work_dir) made = await makeDirectoryFlag('work_dir', flags.work_dir);
  } catch (e) {
    await server.close();
    await zk?.close();
    throw e;
  }
  const hostname = flags.hostname ?? osHostname();
  // Set below, once the master exists: a write the registry refuses because another master took it over ends this one's lead.
  let stepDown: (why: string) => void = () => {};
  const registry =
    registryBackend === 'in_memory'
      ? new MemoryRegistry()
      : registryBackend === 'zookeeper'
        ? new ZkRegistry({ session: zk!.session, owner: `${hostname}:${port}`, logger: log })
        : new FileRegistry(flags.work_dir!);
  const fencedRegistry = election === undefined ? registry : fenced(registry, (why) => stepDown(why));
  // Set below, once the master (and its id) exist; the master asks mayAct only once it sends.
  let leadership: Leadership | undefined;
  const master = new Master({
    // Among several masters: before each message it sends, is this master still sure it leads?
    ...(election === undefined
      ? {}
      : {
          mayAct: () => {
            if (!leadership?.leading) return false;
            if (election.contender.mayAct()) return true;
            queueMicrotask(() => stepDown('its leadership is in doubt (the election session may have expired: cut off or paused for too long)'));
            return false;
          },
        }),
    // Agents run with the same TLS settings as their master: offers point at https.
    urlScheme: server.scheme,
    clock: systemClock,
    allocator,
    registry: fencedRegistry,
    logger: log,
    hostname,
    ip: flags.ip === '0.0.0.0' ? '127.0.0.1' : flags.ip,
    port,
    version: MESOS_VERSION,
    allocationIntervalMs: flags.allocation_interval,
    agentPingTimeoutMs: flags.agent_ping_timeout ?? flags.slave_ping_timeout,
    maxAgentPingTimeouts: flags.max_agent_ping_timeouts ?? flags.max_slave_ping_timeouts,
    agentReregisterTimeoutMs: flags.agent_reregister_timeout ?? flags.slave_reregister_timeout,
    ...(flags.offer_timeout === undefined ? {} : { offerTimeoutMs: flags.offer_timeout }),
    maxCompletedFrameworks: flags.max_completed_frameworks,
    maxCompletedTasksPerFramework: flags.max_completed_tasks_per_framework,
    ...(flags.roles === undefined ? {} : { roles: flags.roles }),
    ...(flags.weights === undefined ? {} : { weights: flags.weights }),
    rootSubmissions: flags.root_submissions,
    ...(flags.acls === undefined ? {} : { authorizer: flags.acls }),
  });
  const lead = election === undefined ? Leadership.alone(master.id) : Leadership.contending(master.id, election.detector);
  leadership = lead;
  schedulerRoutes(server, master, log, flags.max_request_body, lead, flags.rate_limits && new FrameworkRateLimiter(flags.rate_limits, systemClock));
  masterAgentRoutes(server, master, log, lead);
  observe(server, master.metrics);
  const operatorContext = {
    master,
    flags: { ...shownMasterFlags(flags, text), port: String(port) },
    buildInfo: { version: MESOS_VERSION, corralVersion: VERSION },
    extraMetrics: () => ({ 'registrar/registry_size_bytes': registry.size() }),
    leadership: lead,
  };
  operatorRoutes(server, operatorContext);
  const operatorEvents = operatorApiRoutes(server, { ...operatorContext, log, logLevel: levels.control, maxBodyBytes: flags.max_request_body });
  webuiRoutes(server, master, lead);
  if (election === undefined) {
    try {
      await master.start();
    } catch (e) {
      master.stop();
      await server.close();
      await removeMade(made);
      throw e;
    }
    log.info({ port, id: master.id, authenticated: auth?.realmNames() ?? [] }, 'master started');
    return {
      port,
      master,
      leadership: lead,
      lost: new Promise<string>(() => {}),
      async stop() {
        master.stop();
        operatorEvents.close();
        await server.close();
      },
    };
  }

  // Among several masters: follow until elected, then recover the registry and lead; on the
  // loss of the lead (or of the candidacy) stop at once.
  let stopped = false;
  let markLost!: (why: string) => void;
  const lost = new Promise<string>((resolve) => (markLost = resolve));
  const shutdown = async (): Promise<void> => {
    master.stop();
    operatorEvents.close();
    // Withdrawing needs ZooKeeper, which may be gone: closing the session removes the candidacy too.
    const withdrawn = election.contender.withdraw();
    withdrawn.catch(() => {});
    await Promise.allSettled([within(2000, withdrawn), election.detector.stop(), server.close()]);
    await election.close?.().catch((e: unknown) => log.warn({ err: describeError(e) }, 'closing the election failed'));
  };
  let shutDown: Promise<void> | undefined;
  stepDown = (why: string) => {
    if (stopped) return;
    stopped = true;
    if (lead.leading)
      log.error({ id: master.id, reason: why }, `this master lost the lead: ${why}; it stops at once, and exits for its supervisor to restart it`);
    else log.warn({ id: master.id, reason: why }, `this master lost its candidacy: ${why}; it stops, and exits for its supervisor to restart it`);
    shutDown = shutdown();
    void shutDown.then(() => markLost(why));
  };
  void election.contender.lost.then((why) => stepDown(why));
  void election.contender.elected.then(async () => {
    if (stopped) return;
    lead.elected();
    log.info({ id: master.id }, 'elected the leading master; recovering the registry');
    try {
      await master.start();
    } catch (e) {
      stepDown(`it could not recover the registry: ${describeError(e)}`);
      return;
    }
    if (!stopped) log.info({ id: master.id, agents: master.recoveredAgents.size }, 'leading');
  });
  try {
    await election.detector.start();
    await election.contender.contend(master.info);
  } catch (e) {
    stopped = true;
    await shutdown();
    await removeMade(made);
    throw e;
  }
  log.info({ port, id: master.id, authenticated: auth?.realmNames() ?? [] }, 'master started: contending for the lead');
  return {
    port,
    master,
    leadership: lead,
    lost,
    async stop() {
      if (stopped) return shutDown;
      stopped = true;
      shutDown = shutdown();
      await shutDown;
    },
  };
}

/**
 * With --zk: one ZooKeeper session for the master's candidacy, its detector of the leader and the
 * ZooKeeper registry (the election path is the URL's path). A ZooKeeper that does not answer in
 * time stops the start with an error naming --zk and the servers.
 */
async function zkElection(url: ZkUrl, sessionTimeoutMs: number, log: Logger): Promise<Election & { readonly session: ZkSession; close(): Promise<void> }> {
  const session = await ZkSession.open({ url, field: '--zk', sessionTimeoutMs, logger: log });
  return {
    session,
    contender: new ZkContender(session, { logger: log }),
    detector: new ZkMasterDetector({ url: session.url, field: '--zk', session, logger: log }),
    close: () => session.close(),
  };
}

/** `p`, or nothing once `ms` have passed. */
function within(ms: number, p: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}

/** `registry`, with every write that fails because another master has taken the registry over (REGISTRY_FENCED) reported to `onFenced`. */
function fenced(registry: Registry, onFenced: (why: string) => void): Registry {
  const watch = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      if (e instanceof CorralError && e.code === 'REGISTRY_FENCED') onFenced(`another master has taken over the registry (${describeError(e)})`);
      throw e;
    });
  return {
    recover: () => registry.recover(),
    admitAgent: (a) => watch(registry.admitAgent(a)),
    updateAgent: (a) => watch(registry.updateAgent(a)),
    updateAgents: (a) => watch(registry.updateAgents(a)),
    removeAgent: (id) => watch(registry.removeAgent(id)),
    updateWeights: (w) => watch(registry.updateWeights(w)),
    size: () => registry.size(),
  };
}

export async function startAgent(
  flags: FlagValues<typeof agentFlags>,
  text: Readonly<Record<string, string>>,
  givenLog: Logger,
  options: DaemonOptions = {},
): Promise<RunningAgent> {
  const levels = logLevelOf(givenLog, flags.logging_level, options);
  const log = levels.log;
  // --authenticate_http*: a realm without --http_credentials stops the agent before it makes anything.
  const auth = agentAuthenticator(flags);
  // Everything is checked before anything is made: a refused start leaves no work_dir behind.
  const workDirFs = await checkDirectoryFlag('work_dir', flags.work_dir);
  if (flags.fetcher_cache_dir !== undefined) {
    await checkDirectoryFlag('fetcher_cache_dir', flags.fetcher_cache_dir);
    if (process.getuid?.() === 0) await checkRootOnlyDirectoryFlag('fetcher_cache_dir', flags.fetcher_cache_dir);
  }
  let detected;
  try {
    detected = agentResources(flags.resources, flags.default_role, await hostFacts(workDirFs));
  } catch (e) {
    throw new FlagError('resources', describeError(e));
  }
  // The pools isolators keep for themselves (ephemeral_ports) are never offered.
  const resources = offeredResources(detected);
  const attributes = flags.attributes === undefined ? [] : parseAttributesText(flags.attributes);
  // The isolators of --isolation, and the launcher they need (cgroups found here, before listening).
  // Oversubscription: a bad --resource_estimator/--qos_controller set-up fails here, before listening.
  if (flags.resource_estimator !== undefined && estimatorName(flags.resource_estimator) === 'fixed' && flags.oversubscribed_resources === undefined) {
    throw new FlagError('resource_estimator', 'fixed needs --oversubscribed_resources');
  }
  const resourceEstimator = createResourceEstimator({
    name: flags.resource_estimator,
    ...(flags.oversubscribed_resources === undefined ? {} : { resources: flags.oversubscribed_resources }),
    margin: flags.usage_estimator_margin,
    window: flags.usage_estimator_window,
    clock: systemClock,
  });
  let qosController;
  try {
    qosController = createQoSController({
      name: flags.qos_controller,
      ...(flags.qos_load_threshold_5min === undefined ? {} : { threshold5min: flags.qos_load_threshold_5min }),
      ...(flags.qos_load_threshold_15min === undefined ? {} : { threshold15min: flags.qos_load_threshold_15min }),
      ...(flags.qos_loadavg_file === undefined ? {} : { loadavgFile: flags.qos_loadavg_file }),
    });
  } catch (e) {
    throw e instanceof CorralError && e.field !== undefined ? e : new FlagError('qos_controller', describeError(e));
  }
  // host:port: that master; zk://: the leader of the masters' group, followed as it changes. Found
  // before anything is made: a ZooKeeper that does not answer stops the start, naming --master.
  const detector = options.masterDetector ?? createMasterDetector(flags.master, { field: '--master', logger: log });
  if (flags.recover !== 'cleanup') await detector.start();
  const containerizer = createContainerizer(flags, {
    resources: detected,
    logger: log,
    onCleanupError: (containerId, errors) => log.warn({ containerId, errors }, 'container cleanup failed; it is left half-destroyed'),
    onSpawnerLost: (how, inFlight) =>
      log.warn({ how, launchesFailed: inFlight }, 'the supervisor spawner ended; its launches in flight failed, and the next launch starts a new one'),
    clock: systemClock,
  });
  const server = serverOf(flags, options, log, auth);
  // --recover=cleanup kills the last run's tasks and exits: it serves nothing.
  const cleanup = flags.recover === 'cleanup';
  let port: number;
  let made: string | undefined;
  try {
    port = cleanup ? flags.port : await listenOn(server, flags.ip, flags.port);
    made = await makeDirectoryFlag('work_dir', flags.work_dir);
  } catch (e) {
    await containerizer.closeIsolators();
    if (!cleanup) await server.close();
    await detector.stop();
    throw e;
  }
  const paths = new AgentPaths(flags.work_dir);
  const bootId = await currentBootId();
  const executorTokens = await executorTokensOf(flags, paths, log);
  const images = await imageProviderOf(flags, paths, log);
  const fetcher = new Fetcher({
    cacheDir: flags.fetcher_cache_dir ?? paths.fetcherCacheDir(),
    cacheSizeBytes: flags.fetcher_cache_size,
    stallTimeoutMs: flags.fetcher_stall_timeout,
    hardLinks: flags.fetcher_cache_hard_links,
    logger: log,
    ...(flags.frameworks_home === undefined ? {} : { frameworksHome: flags.frameworks_home }),
  });
  const agent = new Agent({
    clock: systemClock,
    logger: log,
    paths,
    containerizer,
    hostname: flags.hostname ?? osHostname(),
    ip: flags.ip === '0.0.0.0' ? '127.0.0.1' : flags.ip,
    port,
    resources,
    attributes,
    version: MESOS_VERSION,
    executorRegistrationTimeoutMs: flags.executor_registration_timeout,
    executorShutdownGracePeriodMs: flags.executor_shutdown_grace_period,
    defaultKillGraceMs: 3000,
    // Executors reach the agent (MESOS_AGENT_ENDPOINT) with the agent's TLS settings, also when
    // --executor_environment_variables replaces the inherited environment.
    executorEnvironment: {
      ...executorEnvironment(flags.executor_environment_variables, options.env ?? process.env, [
        ...Object.values(options.flagFiles ?? {}),
        ...[flags.credential?.path, flags.http_credentials?.path, options.tls?.keyFile].filter((f): f is string => f !== undefined),
      ]),
      ...options.tls?.environment,
    },
    switchUser: flags.switch_user && process.getuid?.() === 0,
    ...(executorTokens ? { executorTokens } : {}),
    launchesInFlight: 4,
    fetcher,
    ...(images ? { images } : {}),
    resourceEstimator,
    qosController,
    oversubscribedResourcesIntervalMs: flags.oversubscribed_resources_interval,
    qosCorrectionIntervalMinMs: flags.qos_correction_interval_min,
    recoverMode: flags.recover,
    strict: flags.strict,
    ...(bootId === undefined ? {} : { bootId }),
  });
  const client = new HttpClient(options.tls ? { tls: options.tls } : {});
  const link = new MasterLink(agent, client, systemClock, log, {
    detector,
    scheme: client.scheme,
    backoffFactorMs: flags.registration_backoff_factor,
    ...(flags.credential ? { credential: flags.credential.credential } : {}),
  });
  if (flags.credential?.readableByOthers)
    log.warn({ flag: '--credential', path: flags.credential.path }, 'the credential file can be read by other users; chmod 600 it');
  if (flags.http_credentials?.readableByOthers)
    log.warn({ flag: '--http_credentials', path: flags.http_credentials.path }, 'the credentials file can be read by other users; chmod 600 it');
  // /flags shows a credentials flag only as its path.
  const shown = { ...text };
  if (flags.credential !== undefined) shown.credential = flags.credential.path ?? '(inline credential, not shown)';
  if (flags.http_credentials !== undefined) shown.http_credentials = flags.http_credentials.path ?? '(inline credentials, not shown)';
  shown.master = 'zk' in flags.master ? flags.master.zk.redacted : flags.master.hostPort;
  if (flags.executor_secret_key !== undefined) shown.executor_secret_key = flags.executor_secret_key.path;
  observe(server, agent.metrics);
  const agentHttp = {
    agent,
    flags: { ...shown, port: String(port) },
    version: MESOS_VERSION,
    corralVersion: VERSION,
    log,
    masterHostname: () => {
      const leader = link.leader ?? detector.current();
      return leader === undefined ? undefined : leaderHostPort(leader).host;
    },
    ...(executorTokens ? { executorTokens } : {}),
  };
  agentRoutes(server, agentHttp, flags.max_request_body);
  agentApiRoutes(server, { ...agentHttp, logLevel: levels.control, maxBodyBytes: flags.max_request_body });
  let recovered;
  try {
    recovered = await agent.recover();
  } catch (e) {
    await agent.stop();
    await containerizer.closeIsolators();
    if (!cleanup) await server.close();
    client.close();
    await detector.stop();
    await removeMade(made);
    throw e;
  }
  if (cleanup) {
    await detector.stop();
    await agent.stop();
    await containerizer.closeIsolators();
    client.close();
    log.info({ killed: recovered.killed }, '--recover=cleanup: the last run is cleaned up; exiting');
    return { port, agent, registered: new Promise<void>(() => {}), exitCode: 0, async stop() {} };
  }
  containerizer.readyIsolators();
  if (images && flags.image_gc_config) images.startGc(flags.image_gc_config, log);
  link.start();
  log.info(
    {
      port,
      resources: resources.toString(),
      authenticated: [...(auth?.realmNames() ?? []), ...(executorTokens?.required ? [EXECUTOR_REALM] : [])],
      recoveredExecutors: recovered.executors,
      orphans: recovered.orphans,
      rebooted: recovered.rebooted,
      recoveryMs: Math.round(agent.recoveryMs * 10) / 10,
    },
    'agent started',
  );
  return {
    port,
    agent,
    registered: link.registered,
    async stop() {
      link.stop();
      images?.stop();
      await detector.stop();
      await agent.stop();
      await containerizer.closeIsolators();
      await server.close();
      client.close();
    },
  };
}

/**
 * The signer of executor tokens: with --executor_secret_key (tokens are given; required only
 * with --authenticate_http_executors), or with --authenticate_http_executors alone, on a key the
 * agent keeps in its work_dir so that tokens outlive an agent restart. Undefined: neither flag.
 */
async function executorTokensOf(flags: FlagValues<typeof agentFlags>, paths: AgentPaths, log: Logger): Promise<ExecutorTokens | undefined> {
  const given = flags.executor_secret_key;
  if (given === undefined && !flags.authenticate_http_executors) return undefined;
  if (given !== undefined) {
    if (given.readableByOthers)
      log.warn({ flag: '--executor_secret_key', path: given.path }, 'the executor secret key can be read by other users; chmod 600 it');
    if (given.key.length < 32)
      log.warn(
        { flag: '--executor_secret_key', path: given.path, bytes: given.key.length },
        'the executor secret key is shorter than 32 bytes: tokens are easier to forge',
      );
    return new ExecutorTokens(given.key, flags.authenticate_http_executors);
  }
  const path = paths.executorSecretKeyFile();
  const { key, made } = await workDirExecutorSecretKey(path);
  log.info(
    { path },
    made ? 'executor authentication: made a new executor secret key' : 'executor authentication: using the executor secret key of the last run',
  );
  return new ExecutorTokens(key, true);
}
