/** The master's flags: Mesos names, defaults and parsers (`corral master --help`). */
import {
  LOGGING_LEVELS,
  LOG_FORMAT_HELP,
  logFileFlags,
  MAX_REQUEST_BODY,
  flag,
  formatDuration,
  intIn,
  oneOf,
  optionalFlag,
  parseBool,
  parseHostname,
  parseAdvertiseIp,
  parseAdvertisePort,
  parseIp,
  parsePort,
  parsePositiveBytes,
  parsePositiveDuration,
  str,
} from '../common/flags.ts';
import { checkRoleText } from '../common/ids.ts';
import { loadCredentials, parseZkUrl } from '../transport/index.ts';
import { loadAcls } from './authorization.ts';
import { loadRateLimits } from './rate_limits.ts';

/** The registry backends `--registry` names. */
export const REGISTRIES = ['replicated_log', 'in_memory', 'zookeeper'] as const;
export type RegistryKind = (typeof REGISTRIES)[number];

function parseRoles(text: string): string[] {
  const roles = text
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  for (const r of roles) checkRoleText(r, '--roles');
  return roles;
}

/** `--weights=role1=2,role2=0.5` */
export function parseWeights(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [role, w] = part.split('=');
    const weight = Number(w);
    if (!role || w === undefined || !(weight > 0) || !Number.isFinite(weight)) throw new Error(`'${part}' is not role=positive-weight`);
    out.set(checkRoleText(role, '--weights'), weight);
  }
  return out;
}

export const masterFlags = {
  ip: flag({ help: 'IP address to listen on', default: '127.0.0.1', parse: parseIp }),
  port: flag({ help: 'Port to listen on', default: 5050, parse: parsePort }),
  hostname: optionalFlag({ help: 'Hostname the master advertises (default: the machine hostname)', parse: parseHostname }),
  advertise_ip: optionalFlag({
    help: 'IP address the master publishes (MasterInfo in ZooKeeper and /master/state, redirects) when peers reach it at another address than --ip (NAT)',
    parse: parseAdvertiseIp,
  }),
  advertise_port: optionalFlag({ help: 'Port the master publishes when peers reach it at another port than --port (NAT, a relay)', parse: parseAdvertisePort }),
  work_dir: optionalFlag({ help: 'Where the registry is kept (required unless --registry=in_memory)', parse: str }),
  registry: optionalFlag({
    help: "Registry backend: 'zookeeper' (znodes under the --zk path, shared by the masters; the default with --zk), 'replicated_log' (a crash-safe file in --work_dir; the default without --zk) or 'in_memory'",
    parse: oneOf(REGISTRIES),
  }),
  zk: optionalFlag({
    help: "The masters' ZooKeeper group, for leader election and (with --registry=zookeeper) the registry: zk://host1:2181,host2:2181,host3:2181/corral, or zk://user:password@…/corral to protect the znodes with digest ACLs, or file:///path to a file holding the URL. Without it the master runs alone and leads",
    parse: (t: string) => parseZkUrl(t, '--zk'),
  }),
  zk_session_timeout: flag({
    help: 'ZooKeeper session timeout: a leader whose session may have expired (cut off, or paused, for about this long) stops leading and exits; another master takes over after it',
    default: 10_000,
    parse: parsePositiveDuration,
    show: formatDuration,
  }),
  quorum: optionalFlag({
    help: "Accepted for Mesos's command lines and not used: Corral has no replicated log of its own. With --zk the registry lives in ZooKeeper, and ZooKeeper's own quorum (a majority of its servers) makes each registry write durable",
    parse: intIn(1, 99),
  }),
  allocation_interval: flag({ help: 'Time between allocation runs', default: 1000, parse: parsePositiveDuration, show: formatDuration }),
  offer_timeout: optionalFlag({ help: 'Rescind offers not used within this time (default: never)', parse: parsePositiveDuration, show: formatDuration }),
  slave_ping_timeout: flag({
    help: 'Time an agent has to answer a ping (alias --agent_ping_timeout)',
    default: 15_000,
    parse: parsePositiveDuration,
    show: formatDuration,
  }),
  agent_ping_timeout: optionalFlag({ help: 'Alias of --slave_ping_timeout', parse: parsePositiveDuration, show: formatDuration }),
  max_slave_ping_timeouts: flag({ help: 'Missed pings before an agent is removed (alias --max_agent_ping_timeouts)', default: 5, parse: intIn(1, 1000) }),
  max_agent_ping_timeouts: optionalFlag({ help: 'Alias of --max_slave_ping_timeouts', parse: intIn(1, 1000) }),
  slave_reregister_timeout: flag({
    help: 'Time recovered agents have to re-register after a master restart or failover (alias --agent_reregister_timeout)',
    default: 600_000,
    parse: parsePositiveDuration,
    show: formatDuration,
  }),
  agent_reregister_timeout: optionalFlag({ help: 'Alias of --slave_reregister_timeout', parse: parsePositiveDuration, show: formatDuration }),
  max_completed_frameworks: flag({ help: 'Completed frameworks kept for the state endpoints', default: 50, parse: intIn(0, 1_000_000) }),
  max_completed_tasks_per_framework: flag({ help: 'Completed tasks kept per framework', default: 1000, parse: intIn(0, 1_000_000) }),
  roles: optionalFlag({ help: 'Comma-separated roles frameworks may use (default: any)', parse: parseRoles }),
  weights: optionalFlag({ help: 'Role weights: role1=2,role2=0.5', parse: parseWeights }),
  root_submissions: flag({ help: 'Allow frameworks to run tasks as root', default: true, boolean: true, parse: parseBool }),
  cluster: optionalFlag({ help: 'Human-readable name of the cluster', parse: str }),
  quiet: flag({ help: 'Log only warnings and errors', default: false, boolean: true, parse: parseBool }),
  logging_level: flag({ help: 'INFO, WARNING, ERROR or DEBUG', default: 'INFO', parse: oneOf(LOGGING_LEVELS, { upper: true }) }),
  log_format: optionalFlag({ help: LOG_FORMAT_HELP, parse: oneOf(['json', 'text']) }),
  ...logFileFlags,
  max_request_body: flag({ help: 'Largest request body accepted, in bytes', default: 4 * 1024 * 1024, parse: intIn(1, MAX_REQUEST_BODY) }),
  max_stream_backlog: flag({
    help: 'Most bytes an event stream (to a scheduler, an agent) may hold that its client has not read, e.g. 64MB; a stream over it is closed and its client treated as disconnected',
    default: 64 * 1024 * 1024,
    parse: parsePositiveBytes,
  }),
  // Authentication and authorization (README: "Authentication and authorization").
  authenticate_frameworks: flag({
    help: 'Schedulers must authenticate (HTTP Basic with --credentials, or a verified TLS client certificate) and use their principal as FrameworkInfo.principal',
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  authenticate_http_frameworks: optionalFlag({
    help: 'Alias of --authenticate_frameworks (the Mesos 1.x name for the HTTP scheduler API)',
    boolean: true,
    parse: parseBool,
  }),
  authenticate_agents: optionalFlag({
    help: 'Agents must authenticate (their --credential, or a verified TLS client certificate) to register and talk to the master; a re-registering agent must be the principal that registered its id. Default: on when --credentials is given (--authenticate_agents=false to opt out), else off',
    boolean: true,
    parse: parseBool,
  }),
  authenticate_slaves: optionalFlag({ help: 'Alias of --authenticate_agents', boolean: true, parse: parseBool }),
  authenticate_http: optionalFlag({
    help: 'Operator endpoints need authentication: both --authenticate_http_readonly and --authenticate_http_readwrite',
    boolean: true,
    parse: parseBool,
  }),
  authenticate_http_readonly: flag({
    help: 'Endpoints that read state (/state, /frameworks, /metrics/snapshot, …) need authentication',
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  authenticate_http_readwrite: flag({
    help: 'Endpoints that change state (/teardown, /reserve, /unreserve, /create-volumes, /destroy-volumes) need authentication',
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  credentials: optionalFlag({
    help: 'Principals and secrets: a path to a JSON file {"credentials":[{"principal":…,"secret":…}]} or a text file of \'principal secret\' lines (file:///path works too)',
    parse: (t: string) => loadCredentials(t),
  }),
  http_credentials: optionalFlag({
    help: 'Credentials for the operator endpoints, same forms as --credentials (default: --credentials)',
    parse: (t: string) => loadCredentials(t),
  }),
  rate_limits: optionalFlag({
    help: 'Framework rate limits as JSON, inline or a path (Mesos\'s RateLimits): {"limits": [{"principal": "foo", "qps": 55.5, "capacity": 100}, {"principal": "bar"}], "aggregate_default_qps": 33.3, "aggregate_default_capacity": 1000}. A principal\'s scheduler calls (SUBSCRIBE included) wait for their turn, at most `capacity` of them (then 429); a listed principal without qps is not limited; every other framework shares the aggregate limit',
    parse: (t: string) => loadRateLimits(t),
  }),
  acls: optionalFlag({
    help: 'Mesos ACLs as JSON, inline or a path (file:///path works too): register_frameworks, run_tasks, teardown_frameworks, reserve_resources, unreserve_resources, create_volumes, destroy_volumes, register_agents, permissive',
    parse: (t: string) => loadAcls(t),
  }),
};

/** The registry the master keeps: `--registry`, else `zookeeper` with --zk and `replicated_log` without. */
export function registryKind(flags: { readonly registry?: RegistryKind | undefined; readonly zk?: unknown }): RegistryKind {
  return flags.registry ?? (flags.zk === undefined ? 'replicated_log' : 'zookeeper');
}
