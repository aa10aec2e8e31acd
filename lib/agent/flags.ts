/** The agent's flags: Mesos names, defaults and parsers (`corral agent --help`). */
import { readFileSync } from 'node:fs';
import {
  type FlagValues,
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
  parseBytes,
  parseDuration,
  parseHostname,
  parseAdvertiseIp,
  parseAdvertisePort,
  parseIp,
  parseNonNegativeInt,
  parsePort,
  parsePositiveBytes,
  parsePositiveDuration,
  str,
} from '../common/flags.ts';
import { checkRoleText } from '../common/ids.ts';
import { parseResourcesText } from '../common/resources/index.ts';
import { parseAttributesText, parseResourcesFlag } from '../proto/resources.ts';
import { ISOLATOR_NAMES, parseIsolation } from './containerizer/registry.ts';
import { parseImageReference } from './containerizer/images/reference.ts';
import { controllerName, estimatorName } from './oversubscription/index.ts';
import { loadExecutorSecretKey } from './executor_auth.ts';
import { loadCredential, loadCredentials, parseMasterLocation } from '../transport/index.ts';

function parseEnvObject(text: string): Record<string, string> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`not a JSON object: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('must be a JSON object of strings, like {"PATH":"/usr/bin:/bin"}');
  for (const [name, value] of Object.entries(v)) {
    if (typeof value !== 'string') throw new Error(`variable '${name}' must be a string, not ${value === null ? 'null' : typeof value}`);
    if (name === '' || /[=\0]/.test(name)) throw new Error(`'${name}' is not a variable name (empty, or with '=' or NUL)`);
    if (value.includes('\0')) throw new Error(`variable '${name}' holds a NUL character`);
  }
  return v as Record<string, string>;
}

/**
 * `--cgroups_root`: the cgroup (below each hierarchy) that holds the containers. The agent takes
 * every cgroup below it for one of its containers (and destroys those it does not know at
 * start), so it must be a cgroup of its own: not the top of the hierarchy, nor a cgroup systemd
 * keeps its services and sessions in.
 */
export function parseCgroupsRoot(text: string): string {
  const t = text.trim();
  if (!/^[A-Za-z0-9_.\-/]+$/.test(t) || t.split('/').some((p) => p === '..' || p === '.'))
    throw new Error(`'${text}' is not a cgroup path (letters, digits, _ . - /)`);
  const parts = t.split('/').filter((p) => p !== '');
  if (parts.length === 0)
    throw new Error(
      `'${text}' is the top of the cgroup hierarchy: the agent would take every cgroup on the machine for one of its containers; name a cgroup of its own, e.g. corral`,
    );
  if (/^(system|user|machine)\.slice$|^init\.scope$|\.(slice|scope|service)$/.test(parts[0]!))
    throw new Error(`'${text}' is a cgroup systemd manages (its services and sessions would be taken for containers); name a cgroup of its own, e.g. corral`);
  return t;
}

/** A decimal number as written by people (`0.2`, `4`, `.5`): not `0x10`, `1e3`, `Infinity`. */
const DECIMAL = /^\s*[0-9]*\.?[0-9]+\s*$/;

function fraction(text: string): number {
  const v = Number(text);
  if (!DECIMAL.test(text) || !(v >= 0 && v < 1)) throw new Error(`'${text}' is not a number in [0, 1)`);
  return v;
}

function positive(text: string): number {
  const v = Number(text);
  if (!DECIMAL.test(text) || !(v > 0) || !Number.isFinite(v)) throw new Error(`'${text}' is not a positive number`);
  return v;
}

/** A network interface name as the kernel takes it: 1 to 15 bytes, no '/', ':' or white space. */
function interfaceName(text: string): string {
  const t = text.trim();
  if (!/^[^\s/:]{1,15}$/.test(t) || t === '.' || t === '..')
    throw new Error(`'${text}' is not a network interface name (1 to 15 characters, no '/', ':' or spaces)`);
  return t;
}

function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['TB', 1024 ** 4],
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return `${n}B`;
}

export const agentFlags = {
  master: flag({
    help: "The master: host:port (one master), or zk://host1:2181,host2:2181/path (the masters' ZooKeeper group: the agent follows the leader), or file:///path to a file holding either",
    required: true,
    parse: (t: string) => parseMasterLocation(t, '--master'),
  }),
  ip: flag({ help: 'IP address to listen on', default: '127.0.0.1', parse: parseIp }),
  port: flag({ help: 'Port to listen on', default: 5051, parse: parsePort }),
  hostname: optionalFlag({ help: 'Hostname the agent reports (default: the machine hostname)', parse: parseHostname }),
  advertise_ip: optionalFlag({
    help: "IP address the agent registers with (its address in the master's state and in offers) when peers reach it at another address than --ip (NAT); default: the address the master sees it connect from",
    parse: parseAdvertiseIp,
  }),
  advertise_port: optionalFlag({
    help: 'Port the agent registers with when peers reach it at another port than --port (NAT, a relay)',
    parse: parseAdvertisePort,
  }),
  work_dir: flag({ help: 'Where sandboxes, checkpoints and volumes live', required: true, parse: str }),
  resources: optionalFlag({
    help: "Resources: 'cpus:4;mem:1024;ports:[31000-32000]' or a JSON array (default: detected)",
    parse: (t: string) => {
      // Checked here, with the roles left for --default_role to fill in at start.
      parseResourcesFlag(t);
      return t;
    },
  }),
  attributes: optionalFlag({
    help: "Attributes: 'rack:r1;level:2'",
    parse: (t: string) => {
      parseAttributesText(t);
      return t;
    },
  }),
  default_role: flag({
    help: 'Role of resources given without one',
    default: '*',
    parse: (t: string) => checkRoleText(t, '--default_role'),
  }),
  isolation: flag({
    help: `Isolators, comma-separated, prepared in this order: ${ISOLATOR_NAMES.join(', ')}`,
    default: 'posix/cpu,posix/mem',
    parse: (t: string) => {
      if (parseIsolation(t).length === 0) throw new Error(`'${t}' names no isolator (known: ${ISOLATOR_NAMES.join(', ')})`);
      return t;
    },
  }),
  cgroups_hierarchy: flag({
    help: 'Where the cgroup hierarchies are mounted (cgroups/* isolators)',
    default: '/sys/fs/cgroup',
    parse: (t: string) => {
      if (!t.startsWith('/')) throw new Error(`'${t}' is not an absolute path`);
      return t;
    },
  }),
  cgroups_root: flag({ help: 'The cgroup that holds the containers, each as <root>/<container id>', default: 'corral', parse: parseCgroupsRoot }),
  cgroups_enable_cfs: flag({
    help: 'cgroups/cpu: cap each container at its cpus with a CFS quota (period 100ms)',
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  cgroups_limit_swap: flag({
    help: 'cgroups/mem: limit swap too (v1: memory + swap = the memory limit; v2: no swap); the agent refuses to start where the kernel does not account swap per cgroup',
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  eth0_name: optionalFlag({ help: 'network/port_mapping: the public interface (default: the one carrying the default route)', parse: interfaceName }),
  lo_name: optionalFlag({ help: 'network/port_mapping: the loopback interface (default: the one with IFF_LOOPBACK)', parse: interfaceName }),
  ephemeral_ports_per_container: flag({
    help: 'network/port_mapping: ephemeral ports per container, a power of 2, at least 16',
    default: 1024,
    parse: (t: string) => {
      const n = parseNonNegativeInt(t);
      if (n < 16 || (n & (n - 1)) !== 0) throw new Error(`'${t}' is not a power of 2 of at least 16`);
      return n;
    },
  }),
  egress_rate_limit_per_container: optionalFlag({
    help: "network/port_mapping: each container's egress limit in bytes/s (e.g. 12500KB = 100 Mbit/s); 0 or unset: unlimited",
    parse: parseBytes,
  }),
  ingress_rate_limit_per_container: optionalFlag({
    help: "network/port_mapping: each container's ingress limit in bytes/s (beyond Mesos 0.23); 0 or unset: unlimited",
    parse: parseBytes,
  }),
  egress_unique_flow_per_container: flag({
    help: 'network/port_mapping: a flow of its own per container on the public interface (needs fq_codel; refused where the kernel lacks it)',
    default: false,
    boolean: true,
    parse: (t: string) => {
      if (parseBool(t)) throw new Error('needs an fq_codel qdisc per host link, which this kernel does not have; leave it off');
      return false;
    },
  }),
  network_warm_namespaces: flag({
    help: 'network/port_mapping (not in Mesos): network namespaces kept made ahead, with their veth and everything but the port filters, so a launch only adds those (their veths wait on the host, down, named <prefix>w<n>); when none is ready a launch makes its own; 0: none',
    default: 4,
    parse: (t: string) => {
      const n = parseNonNegativeInt(t);
      if (n > 64) throw new Error(`'${t}' is more than 64`);
      return n;
    },
  }),
  network_enable_socket_statistics_summary: flag({
    help: 'network/port_mapping: report TCP connection counts per container',
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  network_enable_socket_statistics_details: flag({
    help: 'network/port_mapping: report TCP round-trip-time percentiles per container',
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  executor_registration_timeout: flag({ help: 'Time a custom executor has to subscribe', default: 60_000, parse: parsePositiveDuration, show: formatDuration }),
  executor_shutdown_grace_period: flag({ help: 'Time an executor has to exit after SHUTDOWN', default: 5000, parse: parseDuration, show: formatDuration }),
  registration_backoff_factor: flag({
    help: 'Upper bound of the first random wait before re-registering',
    default: 1000,
    parse: parseDuration,
    show: formatDuration,
  }),
  credential: optionalFlag({
    help: 'The agent\'s principal and secret for a master run with --authenticate_agents: a path to a JSON file {"principal":…,"secret":…} or a text file with one \'principal secret\' line (file:///path works too)',
    parse: (t: string) => loadCredential(t),
  }),
  authenticate_http_readonly: flag({
    help: "The agent's endpoints that read state (/state, /flags, /monitor/statistics, /files/*, /metrics/snapshot) need HTTP Basic with --http_credentials (or a verified TLS client certificate); /health stays open, and the executor API has --authenticate_http_executors",
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  authenticate_http_readwrite: flag({
    help: "Endpoints that change the agent's state need authentication (the agent has none yet; needs --http_credentials)",
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  authenticate_http: optionalFlag({
    help: 'Both --authenticate_http_readonly and --authenticate_http_readwrite (as on the master)',
    boolean: true,
    parse: parseBool,
  }),
  authenticate_http_executors: flag({
    help: "Custom executors must authenticate to the executor API: each gets a token (a JWT signed with --executor_secret_key) in MESOS_EXECUTOR_AUTHENTICATION_TOKEN and sends it as 'Authorization: Bearer <token>'; a call without a valid token gets 401, one for another framework or executor 403",
    default: false,
    boolean: true,
    parse: parseBool,
  }),
  executor_secret_key: optionalFlag({
    help: "A file whose bytes are the key that signs the executors' tokens (readable by the agent only); without it, --authenticate_http_executors makes one at first start and keeps it in <work_dir>/meta/executor_secret_key (mode 0600)",
    parse: (t: string) => loadExecutorSecretKey(t),
  }),
  http_credentials: optionalFlag({
    help: 'Principals and secrets for the agent\'s endpoints: a path to a JSON file {"credentials":[{"principal":…,"secret":…}]} or a text file of \'principal secret\' lines (file:///path works too)',
    parse: (t: string) => loadCredentials(t),
  }),
  recover: flag({
    help: 'At start, reconnect: re-attach to the tasks of the last run and re-register with them; cleanup: kill them all, forget the agent id and exit without registering (for incompatible upgrades)',
    default: 'reconnect' as 'reconnect' | 'cleanup',
    parse: (t: string) => {
      const v = t.trim();
      if (v !== 'reconnect' && v !== 'cleanup') throw new Error(`'${t}' is not reconnect or cleanup`);
      return v;
    },
  }),
  strict: flag({
    help: 'A damaged checkpoint stops the agent at start (naming it); with --strict=false it is skipped and counted in slave/recovery_errors',
    default: true,
    boolean: true,
    parse: parseBool,
  }),
  switch_user: flag({ help: "Run tasks as their framework's user (needs root)", default: true, boolean: true, parse: parseBool }),
  frameworks_home: optionalFlag({ help: 'Directory that relative URI paths (CommandInfo.uris) are taken from', parse: str }),
  image_providers: optionalFlag({
    help: 'Image providers, comma-separated: docker (tasks may then give ContainerInfo.mesos.image; needs --isolation with filesystem/linux and docker/runtime)',
    parse: (t: string) => {
      const list = t
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter((s) => s !== '');
      for (const p of list) if (p !== 'docker') throw new Error(`unknown or unsupported image provider '${p}' (known: docker)`);
      if (list.length === 0) throw new Error('names no image provider (known: docker)');
      return [...new Set(list)] as 'docker'[];
    },
  }),
  docker_registry: flag({
    help: 'Where image names that name no registry are pulled from: an http(s) URL of a registry, or an absolute path of a directory holding one OCI image layout per repository (<path>/<repository>/index.json, tags as org.opencontainers.image.ref.name)',
    default: 'https://registry-1.docker.io',
    parse: (t: string) => {
      if (t.startsWith('/')) return t;
      let u: URL;
      try {
        u = new URL(t);
      } catch {
        throw new Error(`'${t}' is not a URL`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`'${t}' must be an http:// or https:// URL`);
      return t;
    },
  }),
  docker_store_dir: optionalFlag({ help: 'Where pulled image layers are kept (default: <work_dir>/store/docker; kept across restarts)', parse: str }),
  docker_config: optionalFlag({
    help: 'Registry credentials: a Docker config.json (its "auths"), as a path or as the JSON itself',
    parse: str,
  }),
  image_provisioner_backend: flag({
    help: "How a container's root filesystem is made from image layers: overlay (shares the layers), or copy (a copy of the layers per container, where overlayfs is missing)",
    default: 'overlay',
    parse: (t: string): 'overlay' | 'copy' => {
      if (t !== 'overlay' && t !== 'copy') throw new Error(`'${t}' is not supported (supported: overlay, copy)`);
      return t;
    },
  }),
  image_gc_config: optionalFlag({
    help: 'Image garbage collection, as JSON (or the path of a file with it): {"image_disk_headroom": 0.1, "image_disk_watch_interval": {"nanoseconds": N} or "1mins", "excluded_images": [{"type": "DOCKER", "docker": {"name": "…"}}]}. Every interval, when less than the headroom of the store\'s file system is free, the images no container uses (and not excluded) are forgotten and their layers that no other image lists are removed',
    parse: parseImageGcConfig,
  }),
  fetcher_cache_dir: optionalFlag({
    help: 'Where the fetcher caches URIs with cache=true (default: <work_dir>/fetch; kept across agent restarts, damaged entries dropped at start)',
    parse: str,
  }),
  fetcher_cache_size: flag({
    help: 'Most bytes the fetcher cache holds (least recently used entries are evicted)',
    default: 2 * 1024 ** 3,
    parse: parseBytes,
    show: formatBytes,
  }),
  fetcher_stall_timeout: flag({
    help: 'A download that receives nothing for this long fails',
    default: 60_000,
    parse: parsePositiveDuration,
    show: formatDuration,
  }),
  fetcher_cache_hard_links: flag({
    help: 'Give cached files to tasks of non-root users as read-only hard links instead of copies (no bytes copied; the task cannot write them)',
    default: true,
    boolean: true,
    parse: parseBool,
  }),
  resource_estimator: optionalFlag({
    help: 'Resource estimator (oversubscription): noop (default: no revocable resources), fixed (--oversubscribed_resources), usage (idle allocated cpus); Mesos module names org_apache_mesos_FixedResourceEstimator work too',
    parse: (t: string) => estimatorName(t),
  }),
  oversubscribed_resources: optionalFlag({
    help: "fixed estimator: the revocable resources to offer, e.g. 'cpus:2' (Mesos module parameter `resources`); those held by revocable tasks are subtracted",
    parse: (t: string) => {
      parseResourcesText(t);
      return t;
    },
  }),
  usage_estimator_margin: flag({ help: 'usage estimator: fraction of the idle allocated cpus kept back', default: 0.2, parse: (t: string) => fraction(t) }),
  usage_estimator_window: flag({
    help: 'usage estimator: the estimate is the smallest of this many last polls (grows slowly, shrinks at once)',
    default: 4,
    parse: (t: string) => {
      return intIn(1, 1000)(t);
    },
  }),
  oversubscribed_resources_interval: flag({
    help: 'How often the resource estimator is polled',
    default: 15_000,
    parse: parsePositiveDuration,
    show: formatDuration,
  }),
  qos_controller: optionalFlag({
    help: 'QoS controller: noop (default: no corrections) or load (evict revocable containers over --qos_load_threshold_5min/_15min); org_apache_mesos_LoadQoSController works too',
    parse: (t: string) => controllerName(t),
  }),
  qos_correction_interval_min: flag({
    help: 'Least time between two corrections() calls of the QoS controller (default 0 as in Mesos; the agent still waits 100ms between calls)',
    default: 0,
    parse: parseDuration,
    show: formatDuration,
  }),
  qos_load_threshold_5min: optionalFlag({ help: 'load controller: evict when the 5-minute load average is above this', parse: (t: string) => positive(t) }),
  qos_load_threshold_15min: optionalFlag({ help: 'load controller: evict when the 15-minute load average is above this', parse: (t: string) => positive(t) }),
  qos_loadavg_file: optionalFlag({
    help: 'load controller: read the load averages from this file (/proc/loadavg format) instead of the kernel (tests, drills)',
    parse: str,
  }),
  revocable_cpu_low_priority: flag({
    help: 'cgroups/cpu: containers with revocable cpus get 10 cpu shares per cpu instead of 1024',
    default: true,
    boolean: true,
    parse: parseBool,
  }),
  executor_environment_variables: optionalFlag({ help: "JSON object: the environment executors get instead of the agent's", parse: parseEnvObject }),
  quiet: flag({ help: 'Log only warnings and errors', default: false, boolean: true, parse: parseBool }),
  logging_level: flag({ help: 'INFO, WARNING, ERROR or DEBUG', default: 'INFO', parse: oneOf(LOGGING_LEVELS, { upper: true }) }),
  log_format: optionalFlag({ help: LOG_FORMAT_HELP, parse: oneOf(['json', 'text']) }),
  ...logFileFlags,
  max_request_body: flag({ help: 'Largest request body accepted, in bytes', default: 4 * 1024 * 1024, parse: intIn(1, MAX_REQUEST_BODY) }),
  max_stream_backlog: flag({
    help: 'Most bytes an executor event stream may hold that the executor has not read, e.g. 64MB; a stream over it is closed and the executor treated as disconnected',
    default: 64 * 1024 * 1024,
    parse: parsePositiveBytes,
  }),
};

/** The agent's parsed flags. */
export type AgentFlags = FlagValues<typeof agentFlags>;

/** --image_gc_config: Mesos's ImageGcConfig JSON (headroom, watch interval, excluded images), or a path of a file holding it. */
function parseImageGcConfig(text: string): { headroom: number; intervalMs: number; excluded: string[] } {
  let json = text.trim();
  if (!json.startsWith('{')) {
    try {
      json = readFileSync(json, 'utf8');
    } catch (e) {
      throw new Error(`cannot read ${text}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new Error('is not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('is not a JSON object');
  for (const k of Object.keys(o))
    if (!['image_disk_headroom', 'image_disk_watch_interval', 'excluded_images'].includes(k))
      throw new Error(`has the unknown field '${k}' (known: image_disk_headroom, image_disk_watch_interval, excluded_images)`);
  const headroom = o.image_disk_headroom ?? 0.1;
  if (typeof headroom !== 'number' || !(headroom >= 0 && headroom <= 1)) throw new Error('image_disk_headroom: must be a number from 0 to 1');
  let intervalMs = 3_600_000;
  const iv = o.image_disk_watch_interval;
  if (iv !== undefined) {
    if (typeof iv === 'string') intervalMs = parseDuration(iv);
    else if (typeof iv === 'object' && iv !== null && typeof (iv as { nanoseconds?: unknown }).nanoseconds === 'number')
      intervalMs = (iv as { nanoseconds: number }).nanoseconds / 1e6;
    else throw new Error('image_disk_watch_interval: must be {"nanoseconds": N} or a duration such as "1mins"');
    if (!(intervalMs >= 10)) throw new Error('image_disk_watch_interval: must be at least 10ms');
  }
  const ex = o.excluded_images ?? [];
  if (!Array.isArray(ex)) throw new Error('excluded_images: must be a list of images');
  const excluded = ex.map((e: unknown, i) => {
    const name = (e as { docker?: { name?: unknown } } | null)?.docker?.name;
    if (typeof name !== 'string' || name === '') throw new Error(`excluded_images[${i}]: must be {"type": "DOCKER", "docker": {"name": "…"}}`);
    try {
      return parseImageReference(name).canonical;
    } catch (e) {
      throw new Error(`excluded_images[${i}]: ${(e as Error).message}`);
    }
  });
  return { headroom, intervalMs, excluded };
}
