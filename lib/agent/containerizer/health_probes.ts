/**
 * One health check of a task, run where Mesos's command executor runs it: in the task's
 * container. The containerizer calls this with the container's supervisor; the task is the
 * supervisor's child.
 *
 * - COMMAND: `sh -c <value>` (or the executable and its arguments) in the sandbox, with the
 *   task's environment plus the check's, as the task's user (setpriv), in the task's mount, pid
 *   and network namespaces when it has its own (nsenter), in the container's cgroups (it waits
 *   on its stdin until the launcher's attach has put it there). Healthy: exit status 0.
 * - HTTP: GET <scheme>://127.0.0.1:<port><path> (TLS not verified), healthy on a status from 200
 *   to 399. TCP: a connection to 127.0.0.1:<port>. In the agent's own network namespace (the
 *   task's, without network/port_mapping) the agent makes the request itself, with no process;
 *   in a namespace of the task's own it runs, as Mesos does, `curl` (HTTP) or a `bash`
 *   /dev/tcp connect (TCP) under `nsenter --net`.
 * A check over its timeout is killed (its whole process group) and fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { HealthCheck } from '../../proto/health_check.ts';
import { UserLookup } from '../fetcher/users.ts';

/** What of the task a probe needs besides its container. */
export interface ProbeTarget {
  readonly sandbox: string;
  readonly env: Readonly<Record<string, string>>;
  readonly user?: string;
}

export interface ProbeHost {
  /** The container's supervisor. */
  readonly supervisorPid: number;
  /** Put a process into the container's cgroups (the launcher's attach), when it has some. */
  readonly attach?: (pid: number) => Promise<void>;
}

const users = new UserLookup();

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

/** Whether `pid` has a namespace of kind `ns` other than the agent's. */
function ownNamespace(pid: number, ns: 'net' | 'mnt' | 'pid'): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/${ns}`) !== readlinkSync(`/proc/self/ns/${ns}`);
  } catch {
    return false;
  }
}

/** Run a helper; resolves with its exit code (undefined: killed by a signal, failed to start, or timed out) and its stdout. */
function runHelper(
  argv: readonly string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs: number; attach?: (pid: number) => Promise<void> },
): Promise<{ code: number | undefined; stdout: string }> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: [opts.attach ? 'pipe' : 'ignore', 'pipe', 'ignore'],
        detached: true,
      });
    } catch {
      resolve({ code: undefined, stdout: '' });
      return;
    }
    let stdout = '';
    let done = false;
    const finish = (code: number | undefined): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      resolve({ code, stdout });
    };
    const timer =
      opts.timeoutMs > 0
        ? setTimeout(() => {
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              // gone already
            }
            finish(undefined);
          }, opts.timeoutMs)
        : undefined;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => (stdout += d));
    child.on('error', () => finish(undefined));
    child.on('close', (code) => finish(code ?? undefined));
    if (opts.attach) {
      child.stdin!.on('error', () => {});
      const release = (): void => void child.stdin!.end('\n');
      if (child.pid === undefined) release();
      else opts.attach(child.pid).then(release, release);
    }
  });
}

/** In the agent's network namespace: an HTTP(S) GET, healthy on 200–399. */
function httpInProcess(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(url, { agent: false, rejectUnauthorized: false, ...(timeoutMs > 0 ? { timeout: timeoutMs } : {}) }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', () => resolve(false));
  });
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

/** Run one check of `check` against the task in the container of `host`; true when healthy. */
export async function runProbe(check: HealthCheck, host: ProbeHost, target: ProbeTarget, timeoutMs: number): Promise<boolean> {
  const pid = taskPid(host.supervisorPid);
  const ownNet = ownNamespace(pid, 'net');
  if (check.type === 'COMMAND') {
    const c = check.command!;
    const cmd = c.shell ? ['/bin/sh', '-c', c.value] : [c.value, ...c.arguments];
    const ownMnt = ownNamespace(pid, 'mnt');
    const prefix: string[] = [];
    // Its pid namespace too: the container's /proc is that namespace's.
    const ownPid = ownNamespace(pid, 'pid');
    if (ownMnt || ownNet || ownPid)
      prefix.push(
        'nsenter',
        `--target=${pid}`,
        ...(ownMnt ? ['--mount', `--wd=${target.sandbox}`] : []),
        ...(ownNet ? ['--net'] : []),
        ...(ownPid ? ['--pid'] : []),
        '--',
      );
    if (target.user !== undefined) {
      const ids = await users.ids(target.user);
      if (!ids) return false;
      prefix.push('setpriv', `--reuid=${ids.uid}`, `--regid=${ids.gid}`, `--groups=${ids.groups.join(',')}`, '--');
    }
    // The command waits (a read on its stdin) until it is in the container's cgroups, so that
    // what it starts is in them too.
    const argv = [...prefix, ...cmd];
    const gated = host.attach ? ['/bin/sh', '-c', 'read -r _ || true; exec "$@"', 'sh', ...argv] : argv;
    const r = await runHelper(gated, {
      cwd: target.sandbox,
      env: { ...target.env, ...c.environment },
      timeoutMs,
      ...(host.attach ? { attach: host.attach } : {}),
    });
    return r.code === 0;
  }
  if (check.type === 'HTTP') {
    const h = check.http!;
    const url = `${h.scheme}://${h.ipv6 ? '[::1]' : '127.0.0.1'}:${h.port}${h.path ?? ''}`;
    if (!ownNet) return httpInProcess(h.path === undefined ? `${url}/` : url, timeoutMs);
    const r = await runHelper(
      ['nsenter', `--net=/proc/${pid}/ns/net`, '--', 'curl', '-s', '-S', '-L', '-k', '-w', '%{http_code}', '-o', '/dev/null', '-g', url],
      {
        timeoutMs,
      },
    );
    const code = Number(r.stdout.trim());
    return r.code === 0 && code >= 200 && code < 400;
  }
  const port = check.tcp!.port;
  if (!ownNet) return tcpInProcess('127.0.0.1', port, timeoutMs);
  const r = await runHelper(['nsenter', `--net=/proc/${pid}/ns/net`, '--', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { timeoutMs });
  return r.code === 0;
}
