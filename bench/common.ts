/** What the benchmarks share: options, percentiles, a job pool, curl's arguments, and the crun bundle used as a peer. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { CgroupController, Cgroups } from '../lib/linux/index.ts';
import { join } from 'node:path';

/** The p-th percentile (0–100) of xs, nearest rank. */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** The machine's load average (1, 5, 15 min) and CPU count, as every benchmark prints it at its start. */
export function loadLine(): string {
  const [l1, l5, l15] = loadavg().map((x) => x.toFixed(2));
  return `load average ${l1} ${l5} ${l15} on ${cpus().length} CPUs${Number(l1) > 0.5 ? ' (the machine is not quiet: ratios are measured in turns under the same noise)' : ''}`;
}

export const ms = (x: number): string => `${x.toFixed(2)} ms`;

/**
 * Keep-alive API calls as a client would make them: 200 warm-up calls, then `concurrency` loops
 * of `one` for `ms` milliseconds; how many completed and in how long.
 */
export async function timedRequests(one: () => Promise<void>, concurrency: number, ms: number): Promise<{ requests: number; ms: number }> {
  for (let i = 0; i < 200; i++) await one();
  let done = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await one();
        done++;
      }
    }),
  );
  return { requests: done, ms: performance.now() - t0 };
}

/** The number given as `--name=N` on the command line, or `dflt`. */
export function arg(name: string, dflt: number): number {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : dflt;
}

/** curl's arguments for a quiet JSON POST of `body` (each of `headers` sent as `-H`); the URLs go after them. */
export function curlJsonPost(body: string, headers: readonly string[] = []): string[] {
  return [
    '-s',
    '--no-progress-meter',
    '-o',
    '/dev/null',
    '-X',
    'POST',
    '-H',
    'Content-Type: application/json',
    ...headers.flatMap((h) => ['-H', h]),
    '-d',
    body,
  ];
}

/** Run a command to its end: exit code, stdout, wall time in ms (stderr is shown on failure). */
export function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) process.stderr.write(`${cmd} exited ${code}: ${err}`);
      resolve({ code, out, ms: performance.now() - t0 });
    });
  });
}

/** The best (highest) of `rounds` runs of each of two measurements, run in turns, so that load from elsewhere on a shared host hits both alike. */
export async function bestOfTurns(rounds: number, a: () => Promise<number>, b: () => Promise<number>): Promise<[number, number]> {
  let bestA = 0;
  let bestB = 0;
  for (let i = 0; i < rounds; i++) {
    bestA = Math.max(bestA, await a());
    bestB = Math.max(bestB, await b());
  }
  return [bestA, bestB];
}

/** Run `n` jobs, `parallel` at a time; returns the wall time in ms. */
export async function pool(n: number, parallel: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(parallel, n) }, async () => {
      while (next < n) await job(next++);
    }),
  );
  return performance.now() - t0;
}

export interface CrunBundleOptions {
  /** Only a mount namespace (crun's default spec adds pid, net, ipc, uts). */
  readonly mountNsOnly?: boolean;
  /** Only these namespaces (e.g. ['pid', 'mount']); overrides mountNsOnly. */
  readonly namespaces?: readonly string[];
  /** OCI `linux.resources` to set (cpu shares/quota, memory limit). */
  readonly resources?: unknown;
}

/**
 * An OCI bundle for `crun run` of `true`: `crun spec`, no terminal, a rootfs of empty
 * directories with the host's /usr bind-mounted read-only and bin/lib/lib64/sbin linked into it.
 */
export function crunBundle(dir: string, opts: CrunBundleOptions = {}): void {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['usr', 'proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${l}`, join(rootfs, l));
  const s = spawnSync('crun', ['spec'], { cwd: dir, encoding: 'utf8' });
  if (s.error || s.status !== 0) throw new Error(`crun spec: ${s.error?.message ?? s.stderr}`);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
    process: { args: string[]; terminal: boolean };
    mounts: { destination: string; type: string; source: string; options?: string[] }[];
    linux: { namespaces: { type: string }[]; resources?: unknown };
    hostname?: string;
  };
  cfg.process.args = ['true'];
  cfg.process.terminal = false;
  cfg.mounts.push({ destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro'] });
  if (opts.mountNsOnly || opts.namespaces) {
    cfg.linux.namespaces = (opts.namespaces ?? ['mount']).map((type) => ({ type }));
    if (!opts.namespaces?.includes('uts')) delete cfg.hostname; // needs a UTS namespace
  }
  if (opts.resources !== undefined) cfg.linux.resources = opts.resources;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 1));
}

/** Whether `name` is a root of this run (`all`) or of an earlier run whose process is gone. */
function benchRootOfGone(name: string, all: boolean): boolean {
  const m = /^corral-bench-(\d+)$/.exec(name);
  if (!m) return false;
  const pid = Number(m[1]);
  if (pid === process.pid) return all;
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * Remove what this run (`all`), or a crashed earlier run, left under corral-bench-<pid> cgroup
 * roots: the containers' cgroups in `controllers` (killed first), and the parents crun leaves in
 * the other v1 hierarchies.
 */
export async function removeBenchCgroupRoots(cgroups: Cgroups, controllers: readonly CgroupController[], all: boolean): Promise<void> {
  for (const c of controllers) {
    for (const name of cgroups.children('', c).filter((n) => benchRootOfGone(n, all))) {
      await cgroups.killAll(name, [c]);
      await cgroups.remove(name, [c]);
    }
  }
  // crun also makes cgroups in the other v1 hierarchies (pids, blkio, devices, cpuset, the named
  // systemd one); its containers' own are gone with them, their parents are left: remove those.
  for (const h of readdirSync('/sys/fs/cgroup')) {
    let names: string[] = [];
    try {
      names = readdirSync(join('/sys/fs/cgroup', h)).filter((n) => benchRootOfGone(n, all));
    } catch {
      continue;
    }
    for (const n of names) {
      for (const d of [join('/sys/fs/cgroup', h, n, 'crun'), join('/sys/fs/cgroup', h, n)]) {
        try {
          rmdirSync(d);
        } catch {
          // not there, or not ours to force
        }
      }
    }
  }
}
