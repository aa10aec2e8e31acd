/**
 * The agent's composition root: an agent from parsed flags with real dependencies (clock, HTTP
 * server, containerizer, fetcher, its link to the master), started.
 */
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
import { leaderHostPort } from '../master/leadership.ts';
import { parseAttributesText } from '../proto/resources.ts';
import { systemClock } from '../linux/index.ts';
import { HttpClient, isTlsVariable } from '../transport/index.ts';
import { createMasterDetector } from '../transport/index.ts';
import { checkDirectoryFlag, checkRootOnlyDirectoryFlag, makeDirectoryFlag, removeMade } from './dirs.ts';
import { MESOS_VERSION, VERSION } from './version.ts';
import { type DaemonOptions, type Running, listenOn, logLevelOf, observe, serverOf } from './daemon_common.ts';

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

export interface RunningAgent extends Running {
  readonly agent: Agent;
  /** Resolves once the agent has registered with its master (never with --recover=cleanup). */
  readonly registered: Promise<void>;
  /** Set when the agent has done its work and the command should exit with it (--recover=cleanup). */
  readonly exitCode?: number;
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
    // With --advertise_ip and no --hostname, the advertised address (this machine's own name is likely private behind NAT).
    hostname: flags.hostname ?? flags.advertise_ip ?? osHostname(),
    ip: flags.ip === '0.0.0.0' ? '127.0.0.1' : flags.ip,
    port,
    // What it registers with (its address in the master's state and offers) behind NAT; executors still reach it at --ip/--port.
    ...(flags.advertise_ip === undefined && flags.advertise_port === undefined
      ? {}
      : {
          advertise: {
            ...(flags.advertise_ip === undefined ? {} : { ip: flags.advertise_ip }),
            ...(flags.advertise_port === undefined ? {} : { port: flags.advertise_port }),
          },
        }),
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
