/**
 * `corral doctor [master|agent] [flags]`: whether this host can run a master or an agent with
 * the given flags (the daemon's own flags, --config_dir and CORRAL_* variables, checked by the
 * same rules), one line per check: OK, WARN (not needed by these flags, or cannot tell) or FAIL
 * with how to fix it. Without a role, the host checks of an agent with its default flags.
 * Exit code 0 when nothing FAILs, 1 otherwise, 2 for a bad flag.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { machine, release } from 'node:os';
import { describeError } from '../common/errors.ts';
import { type FlagTable, parseFlags, unexpectedArgument } from '../common/flags.ts';
import { agentFlags } from '../agent/flags.ts';
import { parseIsolation } from '../agent/containerizer/registry.ts';
import { findCgroups, nativeAddonPath, nativeFeatures, supervisorPath } from '../linux/index.ts';
import { masterFlags } from '../master/flags.ts';
import { loadTlsConfig, type ZkUrl } from '../transport/index.ts';
import { configDirFlags } from './config_dir.ts';
import { checkDirectoryFlag } from './dirs.ts';

type Status = 'OK' | 'WARN' | 'FAIL';
interface Check {
  readonly status: Status;
  readonly name: string;
  readonly detail: string;
  readonly fix?: string;
}

const FS_NAMES: Readonly<Record<number, string>> = {
  0xef53: 'ext2/3/4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0x6969: 'nfs',
  0x65735546: 'fuse',
};

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function listenable(ip: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? describeError(e)));
    s.listen({ host: ip, port, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

function reachable(hostPort: string, timeoutMs: number): Promise<string | undefined> {
  const i = hostPort.lastIndexOf(':');
  return new Promise((resolve) => {
    const sock = createConnection({ host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) });
    const done = (why: string | undefined) => {
      sock.destroy();
      resolve(why);
    };
    sock.setTimeout(timeoutMs, () => done(`no answer in ${timeoutMs} ms`));
    sock.once('connect', () => done(undefined));
    sock.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? describeError(e)));
  });
}

/** Whether the kernel has a module (loaded, built in, or available to load), or undefined when it cannot tell. */
function kernelModule(name: string): boolean | undefined {
  if (existsSync(`/sys/module/${name}`)) return true;
  const dir = `/lib/modules/${release()}`;
  const builtin = readText(`${dir}/modules.builtin`);
  const dep = readText(`${dir}/modules.dep`);
  if (builtin === undefined && dep === undefined) return undefined;
  const re = new RegExp(`/${name}\\.ko(\\.[a-z]+)?:?`, 'm');
  return re.test(builtin ?? '') || re.test(dep ?? '');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function hostChecks(role: 'master' | 'agent' | undefined, v: Record<string, any>): Promise<Check[]> {
  const out: Check[] = [];
  const add = (status: Status, name: string, detail: string, fix?: string) => out.push({ status, name, detail, ...(fix ? { fix } : {}) });
  const agent = role !== 'master';

  const [maj = 0, min = 0] = process.versions.node.split('.').map(Number);
  if (maj > 20 || (maj === 20 && min >= 17)) add('OK', 'node', `Node.js ${process.versions.node}`);
  else
    add(
      'FAIL',
      'node',
      `Node.js ${process.versions.node} is older than 20.17`,
      'install Node.js 20.17 or later (Debian: the nodejs package; or CORRAL_NODE in /etc/default/corral)',
    );

  const [kMaj = 0, kMin = 0] = release().split(/[.-]/).map(Number);
  const kernelOld = kMaj < 4 || (kMaj === 4 && kMin < 15);
  add(
    kernelOld ? 'WARN' : 'OK',
    'kernel',
    `Linux ${release()} (${machine()})`,
    kernelOld ? 'a kernel of 4.15 or later is what Corral is tested on (5.14+ for cgroups v2 cgroup.kill)' : undefined,
  );

  if (agent) {
    const root = process.getuid?.() === 0;
    add(
      root ? 'OK' : role === 'agent' ? 'FAIL' : 'WARN',
      'user',
      root ? 'running as root' : `running as uid ${process.getuid?.()}`,
      root ? undefined : 'run the agent as root (it makes cgroups, namespaces and mounts and runs tasks as their users)',
    );
  }

  // The isolators the flags ask for decide which host features are needed.
  const isolators = agent ? parseIsolation(String(v.isolation ?? 'posix/cpu,posix/mem')) : [];
  const needCgroups = isolators.filter((i) => i.startsWith('cgroups/'));
  if (agent) {
    const hierarchy = String(v.cgroups_hierarchy ?? '/sys/fs/cgroup');
    const need = needCgroups.length > 0 ? 'FAIL' : 'WARN';
    try {
      const layout = findCgroups(hierarchy, readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/cgroups', 'utf8'));
      const controllers =
        layout.version === 2 ? (readText(`${hierarchy}/cgroup.controllers`) ?? '').trim().split(/\s+/).filter(Boolean) : [...layout.mounts.keys()].sort();
      const wanted = [
        ...(needCgroups.includes('cgroups/cpu') ? (layout.version === 1 ? ['cpu', 'cpuacct'] : ['cpu']) : []),
        ...(needCgroups.includes('cgroups/mem') ? ['memory'] : []),
        ...(needCgroups.length > 0 && layout.version === 1 ? ['freezer'] : []),
      ];
      const missing = wanted.filter((c) => !controllers.includes(c));
      const detail = `v${layout.version} at ${hierarchy}, controllers: ${controllers.join(' ') || 'none'}`;
      if (missing.length > 0)
        add(
          'FAIL',
          'cgroups',
          `${detail}; --isolation=${v.isolation} needs ${missing.join(', ')}`,
          layout.version === 2
            ? `enable them: echo '+${missing.join(' +')}' > ${hierarchy}/cgroup.subtree_control`
            : `mount them: mount -t cgroup -o ${missing.join(',')} cgroup ${hierarchy}/${missing[0]}`,
        );
      else add('OK', 'cgroups', detail);
      if (layout.version === 2 && needCgroups.length > 0 && !existsSync(`${hierarchy}/cgroup.kill`) && !existsSync(`${hierarchy}/init.scope/cgroup.kill`)) {
        add('WARN', 'cgroups', 'no cgroup.kill (kernel before 5.14): containers are killed process by process', 'a 5.14 or later kernel');
      }
    } catch (e) {
      add(
        need,
        'cgroups',
        `none usable at ${hierarchy}: ${describeError(e)}`,
        'mount cgroups (v2: mount -t cgroup2 none /sys/fs/cgroup), or name the mount with --cgroups_hierarchy',
      );
    }
  }

  if (agent) {
    const needNs: Record<string, string> = { pid: 'namespaces/pid', mnt: 'filesystem/shared', net: 'network/port_mapping' };
    const missing = ['net', 'pid', 'mnt', 'uts', 'ipc', 'user', 'cgroup'].filter((n) => !existsSync(`/proc/self/ns/${n}`));
    const needed = missing.filter((n) => needNs[n] !== undefined && (isolators as string[]).includes(needNs[n]));
    if (missing.length === 0) add('OK', 'namespaces', 'net pid mnt uts ipc user cgroup');
    else
      add(
        needed.length > 0 ? 'FAIL' : 'WARN',
        'namespaces',
        `the kernel lacks: ${missing.join(' ')}`,
        'a kernel built with CONFIG_NAMESPACES and the missing ones',
      );
    const maxUserNs = Number((readText('/proc/sys/user/max_user_namespaces') ?? '0').trim());
    if (maxUserNs > 0) add('OK', 'user namespaces', `up to ${maxUserNs}`);
    else add('WARN', 'user namespaces', 'off (user.max_user_namespaces is 0); no isolator needs them yet', 'sysctl -w user.max_user_namespaces=15000');
    const overlay = /\boverlay$/m.test(readText('/proc/filesystems') ?? '') || kernelModule('overlay') === true;
    add(
      overlay ? 'OK' : 'WARN',
      'overlay',
      overlay ? 'the overlay file system is there (for container images)' : 'no overlay file system; images are not supported yet',
      overlay ? undefined : 'modprobe overlay',
    );
  }

  // The native parts: the addon loads, the supervisor runs.
  let netiso = false;
  try {
    netiso = nativeFeatures().networkIsolator;
    add('OK', 'native addon', `${nativeAddonPath} loads; network isolator ${netiso ? 'built in' : 'not built in'}`);
  } catch (e) {
    add(agent ? 'FAIL' : 'WARN', 'native addon', describeError(e), 'reinstall the corral package, or npm run build:native in a checkout');
  }
  if (agent) {
    try {
      const path = supervisorPath();
      const r = spawnSync(path, ['--help'], { encoding: 'utf8', timeout: 5000 });
      if (r.status === 0 && /usage: corral-containerizer/.test(r.stdout + r.stderr)) add('OK', 'supervisor', `${path} runs`);
      else
        add(
          'FAIL',
          'supervisor',
          `${path} --help: exit ${r.status ?? r.signal}${r.error ? ` (${describeError(r.error)})` : ''}`,
          'reinstall the corral package, or npm run build:native',
        );
    } catch (e) {
      add('FAIL', 'supervisor', describeError(e), 'reinstall the corral package, or npm run build:native');
    }
    const portMapping = (isolators as string[]).includes('network/port_mapping');
    if (portMapping && !netiso)
      add(
        'FAIL',
        'network isolator',
        '--isolation has network/port_mapping but the addon is built without it',
        'npm run build:native:netiso (and npm run package)',
      );
    if (portMapping || netiso) {
      const mods = ['sch_htb', 'sch_ingress', 'cls_u32', 'act_mirred', 'veth'].map((m) => [m, kernelModule(m)] as const);
      const absent = mods.filter(([, has]) => has === false).map(([m]) => m);
      const unknown = mods.filter(([, has]) => has === undefined).map(([m]) => m);
      if (absent.length > 0)
        add(
          portMapping ? 'FAIL' : 'WARN',
          'traffic control',
          `the kernel lacks ${absent.join(', ')}`,
          'a kernel with CONFIG_NET_SCH_HTB, CONFIG_NET_SCH_INGRESS, CONFIG_NET_CLS_U32, CONFIG_NET_ACT_MIRRED, CONFIG_VETH',
        );
      else if (unknown.length > 0) add('WARN', 'traffic control', `cannot tell whether the kernel has ${unknown.join(', ')} (no /lib/modules/${release()})`);
      else add('OK', 'traffic control', 'htb, ingress, u32, mirred, veth');
    }
  }

  // The flags that name host resources.
  if (role !== undefined) {
    const ip = String(v.ip);
    const port = Number(v.port);
    const why = port === 0 ? undefined : await listenable(ip, port);
    if (why === undefined) add('OK', 'port', `${ip}:${port} is free`);
    else add('FAIL', 'port', `cannot listen on ${ip}:${port}: ${why}`, `stop what listens there (ss -ltnp 'sport = :${port}') or choose another --port`);
    if (v.work_dir !== undefined) {
      try {
        const dir = await checkDirectoryFlag('work_dir', String(v.work_dir));
        const fs = statfsSync(dir);
        const kind = FS_NAMES[fs.type] ?? `type 0x${fs.type.toString(16)}`;
        const freeGiB = ((fs.bavail * fs.bsize) / 1024 ** 3).toFixed(1);
        add(
          kind === 'tmpfs' ? 'WARN' : 'OK',
          'work_dir',
          `${v.work_dir} can be written (${kind}, ${freeGiB} GiB free)`,
          kind === 'tmpfs' ? 'tmpfs loses the state at a reboot: use a disk' : undefined,
        );
      } catch (e) {
        add('FAIL', 'work_dir', describeError(e), 'make the directory, or its parent, writable by the daemon, or choose another --work_dir');
      }
    }
    // What peers are told to reach this daemon at: a master on 0.0.0.0 publishes 127.0.0.1 unless --advertise_ip says otherwise.
    const advertised = v.advertise_ip === undefined ? (ip === '0.0.0.0' ? '127.0.0.1' : ip) : String(v.advertise_ip);
    const shown = `${advertised}:${v.advertise_port ?? port}`;
    if (role === 'master' && v.advertise_ip === undefined && (ip === '0.0.0.0' || ip.startsWith('127.')) && v.zk !== undefined)
      add(
        'WARN',
        'advertised address',
        `${shown}: other hosts cannot reach the master there`,
        'set --ip to an address of this host, or --advertise_ip (behind NAT)',
      );
    else
      add(
        'OK',
        'advertised address',
        role === 'agent' && v.advertise_ip === undefined ? `port ${v.advertise_port ?? port}, at the address the master sees the agent connect from` : shown,
      );
    const zk: ZkUrl | undefined = role === 'master' ? v.zk : v.master?.zk;
    if (zk !== undefined) {
      const results = await Promise.all(zk.servers.map(async (s) => [s, await reachable(s, 2000)] as const));
      const down = results.filter(([, why]) => why !== undefined);
      const detail = `${zk.redacted}: ${results.map(([s, why]) => `${s} ${why === undefined ? 'reachable' : why}`).join(', ')}`;
      if (down.length * 2 < results.length) add('OK', 'zookeeper', detail);
      else add('FAIL', 'zookeeper', `${detail} (fewer than a majority)`, 'start ZooKeeper, or open its client port (2181) to this host');
    }
  }

  // TLS, as the daemons read it (LIBPROCESS_SSL_*).
  try {
    const tls = loadTlsConfig(process.env);
    if (tls === undefined) add('OK', 'tls', 'off (LIBPROCESS_SSL_ENABLED is not set)');
    else {
      const cert = new X509Certificate(readFileSync(tls.certFile));
      const key = createPrivateKey(readFileSync(tls.keyFile));
      if (!cert.checkPrivateKey(key)) add('FAIL', 'tls', `${tls.keyFile} is not the key of ${tls.certFile}`, 'give the key the certificate was made for');
      else if (Date.parse(cert.validTo) < Date.now()) add('FAIL', 'tls', `${tls.certFile} expired on ${cert.validTo}`, 'renew the certificate');
      else add('OK', 'tls', `${tls.certFile} (${cert.subject.replace(/\n/g, ', ')}) matches ${tls.keyFile}; valid until ${cert.validTo}`);
    }
  } catch (e) {
    add('FAIL', 'tls', describeError(e), 'fix the LIBPROCESS_SSL_* variables or the files they name');
  }

  // The clock: masters and agents compare timestamps (timeouts are local, but logs and offers are not).
  const sync = spawnSync('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { encoding: 'utf8', timeout: 3000 });
  if (sync.status === 0 && sync.stdout.trim() === 'yes') add('OK', 'clock', 'synchronized (timedatectl)');
  else if (sync.status === 0) add('WARN', 'clock', 'not synchronized', 'enable NTP: timedatectl set-ntp true (or chrony)');
  else add('WARN', 'clock', 'cannot tell whether the clock is synchronized (no timedatectl or no systemd)', 'run an NTP client (systemd-timesyncd or chrony)');
  return out;
}

/** `corral doctor …`: prints the checks; the exit code. */
export async function doctor(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, print: (line: string) => void): Promise<number> {
  const role = argv[0] === 'master' || argv[0] === 'agent' ? argv[0] : undefined;
  const rest = role === undefined ? argv : argv.slice(1);
  let values: Record<string, unknown> = {};
  if (role !== undefined) {
    const table: FlagTable = role === 'master' ? masterFlags : agentFlags;
    const config = configDirFlags(rest, env);
    const parsed = parseFlags(table, { argv: config.argv, env, files: config.files, readFile: (p) => readFileSync(p, 'utf8') });
    if (parsed.rest.length > 0) throw unexpectedArgument(String(parsed.rest[0]));
    values = parsed.values;
  } else if (rest.length > 0) {
    throw unexpectedArgument(String(rest[0]));
  }
  const checks = await hostChecks(role, values);
  for (const c of checks) print(`${c.status.padEnd(4)} ${c.name}: ${c.detail}${c.status !== 'OK' && c.fix ? ` — fix: ${c.fix}` : ''}`);
  const failed = checks.filter((c) => c.status === 'FAIL').length;
  print(
    failed === 0
      ? `This host can run ${role === undefined ? 'a Corral agent (with its default flags) and a master' : `corral ${role} with these flags`}.`
      : `${failed} check(s) failed.`,
  );
  return failed === 0 ? 0 : 1;
}
