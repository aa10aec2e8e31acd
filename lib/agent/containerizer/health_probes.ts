/**
 * One health check of a task, run where Mesos's command executor runs it: in the task's
 * container. The containerizer calls this with the container's supervisor; the task is the
 * supervisor's child.
 *
 * - COMMAND: `sh -c <value>` (or the executable and its arguments) in the sandbox, with the
 *   task's environment plus the check's, as the task's user, in the task's cgroups and in its
 *   mount, pid and network namespaces when it has its own. It is run by `corral-containerizer
 *   probe` (native/containerizer/probe.c), which the agent's resident spawner starts: the probe
 *   joins the cgroups, enters the namespaces, takes the user and execs the command, all before
 *   the command runs, and kills the check's process group past the timeout. Healthy: exit 0.
 * - HTTP: GET <scheme>://127.0.0.1:<port><path> (TLS not verified, redirects followed), healthy
 *   on a final status from 200 to 399. TCP: a connection to 127.0.0.1:<port>. In the agent's own network namespace (the
 *   task's, without network/port_mapping) the agent makes the request itself, with no process;
 *   in a namespace of the task's own the probe enters it and runs, as Mesos does, `curl` (HTTP),
 *   or connects itself (TCP).
 * No check forks the agent's Node process. What a check needs to know of its task (its pid, its
 * namespaces, its cgroups) is looked up once per container (`TaskFacts`), not once per check.
 */
import { readlinkSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { HealthCheck } from '../../proto/health_check.ts';
import { cgroupJoinFiles, type HelperExit } from '../../linux/index.ts';
import { UserLookup } from '../fetcher/users.ts';

/** What of the task a probe needs besides its container. */
export interface ProbeTarget {
  readonly sandbox: string;
  readonly env: Readonly<Record<string, string>>;
  readonly user?: string;
}

/** What a probe learns of its task once: the task's pid, its own namespaces, its cgroups. */
export interface TaskFacts {
  readonly pid: number;
  readonly ownNet: boolean;
  readonly ownMnt: boolean;
  readonly ownPid: boolean;
  /** The cgroup.procs files of the task's cgroups (those that are not the agent's own). */
  readonly cgroups: readonly string[];
}

export interface ProbeHost {
  readonly facts: TaskFacts;
  /** The corral-containerizer executable. */
  readonly executable: string;
  /** Run a helper through the agent's spawner. */
  readonly run: (argv: readonly string[], env: Readonly<Record<string, string>>) => Promise<HelperExit>;
}

const users = new UserLookup();
const HELPER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The task's pid: the supervisor's first child (the supervisor itself when it has none, e.g. not yet released). */
function taskPid(supervisorPid: number): number {
  try {
    const first = readFileSync(`/proc/${supervisorPid}/task/${supervisorPid}/children`, 'utf8').trim().split(/\s+/)[0];
    const pid = Number(first);
    return Number.isInteger(pid) && pid > 0 ? pid : supervisorPid;
  } catch {
    return supervisorPid;
  }
}

const selfNs = new Map<string, string>();
/** Whether `pid` has a namespace of kind `ns` other than the agent's. */
function ownNamespace(pid: number, ns: 'net' | 'mnt' | 'pid'): boolean {
  try {
    let mine = selfNs.get(ns);
    if (mine === undefined) selfNs.set(ns, (mine = readlinkSync(`/proc/self/ns/${ns}`)));
    return readlinkSync(`/proc/${pid}/ns/${ns}`) !== mine;
  } catch {
    return false;
  }
}

/** Look up the task of the container whose supervisor is `supervisorPid` (its command's pid when known). */
export function taskFacts(supervisorPid: number, childPid: number | undefined): TaskFacts {
  const pid = childPid ?? taskPid(supervisorPid);
  return {
    pid,
    ownNet: ownNamespace(pid, 'net'),
    ownMnt: ownNamespace(pid, 'mnt'),
    ownPid: ownNamespace(pid, 'pid'),
    cgroups: cgroupJoinFiles(pid),
  };
}

/** The redirects an HTTP check follows, as `curl -L` does (curl's own limit is 50). */
const MAX_REDIRECTS = 50;

/**
 * In the agent's network namespace: an HTTP(S) GET following redirects (as Mesos's `curl -L`),
 * healthy when the last answer is 200–399, all within `timeoutMs`.
 */
function httpInProcess(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity;
  const once = (target: URL, redirects: number): Promise<boolean> =>
    new Promise((resolve) => {
      const left = deadline - performance.now();
      if (left <= 0) return resolve(false);
      const get = target.protocol === 'https:' ? https.get : http.get;
      const req = get(target, { agent: false, rejectUnauthorized: false, ...(Number.isFinite(left) ? { timeout: left } : {}) }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        const location = res.headers.location;
        if (code >= 300 && code < 400 && location !== undefined && redirects < MAX_REDIRECTS) {
          let next: URL;
          try {
            next = new URL(location, target);
          } catch {
            return resolve(true); // a 3xx curl cannot follow either: its code is the answer
          }
          if (next.protocol !== 'http:' && next.protocol !== 'https:') return resolve(true);
          return resolve(once(next, redirects + 1));
        }
        resolve(code >= 200 && code < 400);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', () => resolve(false));
    });
  return once(new URL(url), 0);
}

/** In the agent's network namespace: a TCP connect. */
function tcpInProcess(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = timeoutMs > 0 ? setTimeout(() => (s.destroy(), resolve(false)), timeoutMs) : undefined;
    s.once('connect', () => {
      if (timer) clearTimeout(timer);
      s.end();
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      if (timer) clearTimeout(timer);
      resolve(false);
    });
  });
}

/** The probe's own options: its timeout, and the task's network namespace. */
function probeArgs(host: ProbeHost, timeoutMs: number, ns: { net?: boolean; mnt?: boolean; pid?: boolean }): string[] {
  const f = host.facts;
  const args = [host.executable, 'probe', '--timeout-ms', String(Math.max(0, Math.round(timeoutMs)))];
  if (ns.net || ns.mnt || ns.pid)
    args.push('--target', String(f.pid), ...(ns.net ? ['--net'] : []), ...(ns.pid ? ['--pid'] : []), ...(ns.mnt ? ['--mount'] : []));
  return args;
}

/** Run one check of `check` against the task in the container of `host`; true when healthy. */
export async function runProbe(check: HealthCheck, host: ProbeHost, target: ProbeTarget, timeoutMs: number): Promise<boolean> {
  const f = host.facts;
  if (check.type === 'COMMAND') {
    const c = check.command!;
    const cmd = c.shell ? ['/bin/sh', '-c', c.value] : [c.value, ...c.arguments];
    // Its pid namespace too: the container's /proc is that namespace's.
    const argv = probeArgs(host, timeoutMs, { net: f.ownNet, mnt: f.ownMnt, pid: f.ownPid });
    for (const file of f.cgroups) argv.push('--cgroup', file);
    // In a root filesystem of its own the sandbox is MESOS_SANDBOX (/mnt/mesos/sandbox).
    argv.push('--cwd', target.env.MESOS_SANDBOX ?? target.sandbox);
    if (target.user !== undefined) {
      const ids = await users.ids(target.user);
      if (!ids) return false;
      argv.push('--uid', String(ids.uid), '--gid', String(ids.gid), '--groups', ids.groups.join(','));
    }
    argv.push('--', ...cmd);
    const r = await host.run(argv, { ...target.env, ...c.environment });
    return r.code === 0;
  }
  if (check.type === 'HTTP') {
    const h = check.http!;
    const url = `${h.scheme}://${h.ipv6 ? '[::1]' : '127.0.0.1'}:${h.port}${h.path ?? ''}`;
    if (!f.ownNet) return httpInProcess(h.path === undefined ? `${url}/` : url, timeoutMs);
    const argv = probeArgs(host, timeoutMs, { net: true });
    argv.push('--', 'curl', '-s', '-S', '-L', '-k', '-w', '%{http_code}', '-o', '/dev/null', '-g', url);
    const r = await host.run(argv, { PATH: process.env.PATH ?? HELPER_PATH });
    const code = Number(r.line.trim());
    return r.code === 0 && code >= 200 && code < 400;
  }
  const port = check.tcp!.port;
  if (!f.ownNet) return tcpInProcess('127.0.0.1', port, timeoutMs);
  const argv = probeArgs(host, timeoutMs, { net: true });
  argv.push('--tcp', `127.0.0.1:${port}`);
  const r = await host.run(argv, {});
  return r.code === 0;
}
