/**
 * The master's composition root: a master from parsed flags with real dependencies (clock, HTTP
 * server, registry, election on ZooKeeper with --zk), started.
 */
import { CorralError, describeError } from '../common/errors.ts';
import { hostname as osHostname } from 'node:os';
import { FlagError, type FlagValues } from '../common/flags.ts';
import type { Logger } from '../common/log.ts';
import { HierarchicalAllocator } from '../master/allocator/index.ts';
import { type masterFlags, registryKind } from '../master/flags.ts';
import { agentRoutes as masterAgentRoutes } from '../master/http/agents.ts';
import { agentsMustAuthenticate, masterAuthenticator, shownMasterFlags } from '../master/http/authentication.ts';
import { operatorRoutes } from '../master/http/operator.ts';
import { operatorApiRoutes } from '../master/http/operator_api/index.ts';
import { webuiRoutes } from '../master/http/webui.ts';
import { agentProxyRoutes } from '../master/http/agent_proxy.ts';
import { schedulerRoutes } from '../master/http/scheduler.ts';
import { Leadership } from '../master/leadership.ts';
import { Master } from '../master/master.ts';
import { FileRegistry, MemoryRegistry, type Registry, ZkRegistry } from '../master/registry/index.ts';
import { systemClock } from '../linux/index.ts';
import { HttpClient, ZkContender, ZkMasterDetector, ZkSession } from '../transport/index.ts';
import type { ZkUrl } from '../transport/index.ts';
import { checkDirectoryFlag, makeDirectoryFlag, removeMade } from './dirs.ts';
import { FrameworkRateLimiter } from '../master/rate_limits.ts';
import { MESOS_VERSION, VERSION } from './version.ts';
import { type DaemonOptions, type Election, type Running, listenOn, logLevelOf, observe, serverOf } from './daemon_common.ts';

/** The master's listen backlog: every agent connects at once to a newly elected leader. */
const MASTER_LISTEN_BACKLOG = 4096;

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
  // With --advertise_ip and no --hostname, peers get the advertised address: this machine's own name is likely private (behind NAT).
  const hostname = flags.hostname ?? flags.advertise_ip ?? osHostname();
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
    // What it publishes (MasterInfo in ZooKeeper, /master/state, redirects): --advertise_ip/--advertise_port behind NAT.
    ip: flags.advertise_ip ?? (flags.ip === '0.0.0.0' ? '127.0.0.1' : flags.ip),
    port: flags.advertise_port ?? port,
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
  agentProxyRoutes(server, master, lead, new HttpClient({ keepAlive: false, ...(options.tls ? { tls: options.tls } : {}) }));
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
