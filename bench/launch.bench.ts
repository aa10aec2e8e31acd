/**
 * Launch benchmark: COUNT `true` containers, PARALLEL at a time, through the containerizer the
 * agent builds, each against a peer doing the same work at the same isolation, in turns within
 * one run (ROUNDS rounds of: corral isolated, crun isolated, corral bare, bare peer), so that
 * each ratio is measured under the same noise. The load average is printed at the start and
 * before each round.
 *
 * At equal isolation:
 *   corral: --isolation=cgroups/cpu,cgroups/mem,namespaces/pid (CFS on), its own cgroup root: a
 *     cgroup per container in cpu, cpuacct, memory and freezer with cpu shares, CFS quota and a
 *     memory limit, the command's pid placed in them before it runs; the command in a pid
 *     namespace of its own (pid 1, its own /proc) and a mount namespace; a corral-containerizer
 *     supervisor per container (started by the agent's resident spawner), which records the
 *     exit status durably; the cgroups removed at the end.
 *   crun: `crun run` with the same limits (cpu.shares, CFS quota and period, memory limit) and
 *     the same namespaces (pid and mount only), its cgroups made with --cgroup-manager=cgroupfs
 *     under the same kind of root; its rootfs an empty directory with the host's /usr bind-mounted
 *     read-only (and crun spec's default mounts: /proc, /dev, /sys...), so it also makes a
 *     pivot_root that corral does not. On a v1/v2 hybrid host crun runs in a private mount
 *     namespace without the hybrid's cgroup2 mount, so it uses the v1 hierarchies as corral does.
 *     crun run returns when the container has ended and is deleted: compared with corral's
 *     launch→termination.
 * Bare:
 *   corral: --isolation=posix/cpu,posix/mem (no namespaces, no cgroups): the supervisor and its
 *     records only.
 *   peer: a C loop (compiled here with cc) that forks, execs and waits for `true`, PARALLEL at a
 *     time: the floor of any launch, with no supervisor and no record.
 * Both Corral figures also give the Node event loop's busy time per launch (what a launch costs
 * the agent's one thread).
 *
 *   npm run bench:launch [-- --count=200 --parallel=4 --rounds=2]
 *
 * `--crun-driver BUNDLE [--cgroup-root=ROOT]` is this file's own child (also used by
 * bench/cluster.bench.ts): COUNT crun runs PARALLEL at a time, figures as JSON on stdout.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContainerizer } from '../lib/agent/containerizer/factory.ts';
import { SupervisorContainerizer } from '../lib/agent/containerizer/supervisor_containerizer.ts';
import type { Containerizer } from '../lib/agent/containerizer/containerizer.ts';
import { parseResourcesText } from '../lib/common/resources/index.ts';
import { openCgroups, type CgroupController, type Cgroups } from '../lib/linux/index.ts';
import { agentFlagValues } from '../test/helpers/agent_flags.ts';
import { arg, crunBundle, pct, ms, pool, removeBenchCgroupRoots } from './common.ts';

const COUNT = arg('count', 200);
const PARALLEL = arg('parallel', 4);
const ROUNDS = arg('rounds', 2);
const WARMUP = 8;
const CPUS = 0.5;
const MEM_MB = 64;
const RESOURCES = `cpus:${CPUS};mem:${MEM_MB}`;
const ISOLATED = 'cgroups/cpu,cgroups/mem,namespaces/pid';
const ROOT = `corral-bench-${process.pid}`;
const CONTROLLERS: readonly CgroupController[] = ['cpu', 'cpuacct', 'memory', 'freezer'];
const CGROUP2_SUPER_MAGIC = 0x63677270;

interface Figures {
  wallMs: number;
  running: number[];
  ended: number[];
  /** The Node event loop's busy time per launch, ms (corral only). */
  loopMs?: number;
}

const loadNow = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const rate = (f: Figures): number => COUNT / (f.wallMs / 1000);

// ----- corral --------------------------------------------------------------------------------

async function benchCorral(base: string, c: Containerizer, tag: string): Promise<Figures> {
  const resources = parseResourcesText(RESOURCES);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  // The directories are made ahead (the agent makes them before it calls the containerizer).
  const dirs = Array.from({ length: WARMUP + COUNT }, (_v, i) => {
    const sandbox = join(base, tag, String(i), 'sandbox');
    const runDir = join(base, tag, String(i), 'run');
    mkdirSync(sandbox, { recursive: true });
    mkdirSync(runDir, { recursive: true });
    return { sandbox, runDir };
  });
  let n = 0;
  const one = async (into?: Figures): Promise<void> => {
    const { sandbox, runDir } = dirs[n++]!;
    const t0 = performance.now();
    const ctr = await c.launch({ containerId: randomUUID(), sandbox, runDir, argv: ['true'], env, resources });
    const t1 = performance.now();
    const end = await ctr.termination;
    const t2 = performance.now();
    if (end.exitCode !== 0) throw new Error(`true ended with ${JSON.stringify(end)}`);
    into?.running.push(t1 - t0);
    into?.ended.push(t2 - t0);
  };
  await pool(WARMUP, PARALLEL, () => one());
  const f: Figures = { wallMs: 0, running: [], ended: [] };
  const elu = performance.eventLoopUtilization();
  f.wallMs = await pool(COUNT, PARALLEL, () => one(f));
  f.loopMs = performance.eventLoopUtilization(elu).active / COUNT;
  rmSync(join(base, tag), { recursive: true, force: true });
  return f;
}

// ----- crun ----------------------------------------------------------------------------------

/**
 * --crun-driver BUNDLE [--cgroup-root=ROOT]: COUNT crun runs, PARALLEL at a time; with a root,
 * each in cgroup /ROOT/crun/<id> (--cgroup-manager=cgroupfs), else without cgroups
 * (--cgroup-manager=disabled). Prints the figures as JSON.
 */
async function crunDriver(bundle: string, root: string | undefined): Promise<void> {
  const base = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { linux: Record<string, unknown> };
  const one = (into?: Figures): Promise<void> =>
    new Promise((resolve, reject) => {
      const id = `corral-bench-${process.pid}-${randomUUID()}`;
      let dir = bundle;
      if (root !== undefined) {
        // crun reads the bundle's config once per run; the cgroup path is given per run through
        // a config copy beside it.
        dir = join(bundle, '..', id);
        mkdirSync(dir);
        symlinkSync(join(bundle, 'rootfs'), join(dir, 'rootfs'));
        writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...base, linux: { ...base.linux, cgroupsPath: `/${root}/crun/${id}` } }));
      }
      const manager = root === undefined ? '--cgroup-manager=disabled' : '--cgroup-manager=cgroupfs';
      const t0 = performance.now();
      const p = spawn('crun', [manager, 'run', '--bundle', dir, id], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => {
        const t = performance.now() - t0;
        if (dir !== bundle) rmSync(dir, { recursive: true, force: true });
        if (code !== 0) return reject(new Error(`crun run exited ${code}: ${err.trim()}`));
        into?.ended.push(t);
        resolve();
      });
    });
  await pool(WARMUP, PARALLEL, () => one());
  const f: Figures = { wallMs: 0, running: [], ended: [] };
  f.wallMs = await pool(COUNT, PARALLEL, () => one(f));
  process.stdout.write(JSON.stringify(f) + '\n');
}

/** crun with pid and mount namespaces and the limits corral sets, cgroups under ROOT. */
function benchCrun(bundle: string): { figures: Figures; how: string } {
  const self = fileURLToPath(import.meta.url);
  const node = [process.execPath, '--import', 'tsx', self, '--crun-driver', bundle, `--cgroup-root=${ROOT}`, `--count=${COUNT}`, `--parallel=${PARALLEL}`];
  const unified = statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC;
  const hybrid = !unified && existsSync('/sys/fs/cgroup/unified') && statfsSync('/sys/fs/cgroup/unified').type === CGROUP2_SUPER_MAGIC;
  const cmd = hybrid ? ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$0" "$@"', ...node] : node;
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', cwd: join(self, '..', '..'), maxBuffer: 1 << 24 });
  if (r.error || r.status !== 0) throw new Error(`crun driver failed: ${r.error?.message ?? r.stderr.trim()}`);
  return {
    figures: JSON.parse(r.stdout.trim().split('\n').pop()!) as Figures,
    how: unified
      ? 'cgroup v2 host'
      : hybrid
        ? 'v1/v2 hybrid host: in a private mount namespace without the cgroup2 mount, so on the v1 hierarchies'
        : 'cgroup v1 host',
  };
}

// ----- the bare peer: fork, exec, wait -------------------------------------------------------

const FORK_EXEC_C = `
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
static pid_t start(void) {
  pid_t p = fork();
  if (p == 0) { execlp("true", "true", (char *)0); _exit(127); }
  return p;
}
int main(int argc, char **argv) {
  int n = atoi(argv[1]), par = atoi(argv[2]), started = 0, done = 0, st, i;
  double *t = calloc(65536, sizeof *t), t0;
  pid_t *pids = calloc(par, sizeof *pids);
  if (!t || !pids || par > 65536) return 2;
  t0 = now();
  for (i = 0; i < par && started < n; i++, started++) { t[i] = now(); pids[i] = start(); }
  printf("{\\"ended\\":[");
  while (done < n) {
    pid_t w = wait(&st);
    if (w < 0) return 3;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 4;
    for (i = 0; i < par; i++) if (pids[i] == w) break;
    printf("%s%.4f", done ? "," : "", now() - t[i]);
    done++;
    if (started < n) { t[i] = now(); pids[i] = start(); started++; }
  }
  printf("],\\"running\\":[],\\"wallMs\\":%.4f}\\n", now() - t0);
  return 0;
}
`;

/** Compile the fork/exec/wait loop into `dir`; its path, or an Error saying why not. */
function buildForkExec(dir: string): string {
  const src = join(dir, 'forkexec.c');
  const exe = join(dir, 'forkexec');
  writeFileSync(src, FORK_EXEC_C);
  const r = spawnSync('cc', ['-O2', '-o', exe, src], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`cc: ${r.error?.message ?? r.stderr.trim()}`);
  return exe;
}

function benchForkExec(exe: string): Figures {
  spawnSync(exe, [String(WARMUP), String(PARALLEL)]);
  const r = spawnSync(exe, [String(COUNT), String(PARALLEL)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.error || r.status !== 0) throw new Error(`fork/exec loop failed: ${r.error?.message ?? `exit ${r.status}`}`);
  return JSON.parse(r.stdout) as Figures;
}

// ----- main ----------------------------------------------------------------------------------

function printOurs(label: string, f: Figures): void {
  console.log(label);
  console.log(`  ${rate(f).toFixed(0)} launches/s (${ms(f.wallMs)} wall); Node event loop busy ${f.loopMs === undefined ? '?' : ms(f.loopMs)} per launch`);
  console.log(`  launch→running      p50 ${ms(pct(f.running, 50))}  p99 ${ms(pct(f.running, 99))}`);
  console.log(`  launch→termination  p50 ${ms(pct(f.ended, 50))}  p99 ${ms(pct(f.ended, 99))}`);
}

function printPeer(label: string, f: Figures, ours: Figures): void {
  console.log(label);
  console.log(`  ${rate(f).toFixed(0)} launches/s (${ms(f.wallMs)} wall)`);
  console.log(`  launch→termination  p50 ${ms(pct(f.ended, 50))}  p99 ${ms(pct(f.ended, 99))}`);
  console.log(
    `  ratio corral/peer: ${(rate(ours) / rate(f)).toFixed(2)}x launches/s; launch→termination p50 ${(pct(f.ended, 50) / pct(ours.ended, 50)).toFixed(2)}x (above 1: corral is faster)`,
  );
}

async function main(): Promise<void> {
  const driver = process.argv.indexOf('--crun-driver');
  if (driver >= 0) {
    const root = process.argv.find((a) => a.startsWith('--cgroup-root='))?.slice('--cgroup-root='.length);
    return crunDriver(process.argv[driver + 1]!, root);
  }
  const base = mkdtempSync(join(tmpdir(), `corral-bench-${process.pid}-launch-`));
  const root = process.getuid?.() === 0;
  let cgroups: Cgroups | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    console.log(
      `launch: ${COUNT} \`true\` containers, ${PARALLEL} at a time (after ${WARMUP} warm-up launches), ${ROUNDS} rounds, each side in turn; ${cpus().length} CPUs; load average ${loadNow()}; work dir in ${tmpdir()}`,
    );
    let isolated: SupervisorContainerizer | undefined;
    let crunBundleDir: string | undefined;
    let why = '';
    if (!root) why = 'needs root (cgroups, namespaces)';
    else if (spawnSync('crun', ['--version']).error) why = 'crun is not installed (Debian package crun)';
    if (root) {
      cgroups = openCgroups('/sys/fs/cgroup');
      await removeBenchCgroupRoots(cgroups, CONTROLLERS, false);
      isolated = createContainerizer(agentFlagValues({ isolation: ISOLATED, cgroups_root: `${ROOT}/corral`, cgroups_enable_cfs: true }), {
        cgroups,
      }) as SupervisorContainerizer;
      const c = isolated;
      closers.push(async () => {
        c.close();
        await c.closeIsolators();
      });
    }
    if (!why) {
      crunBundleDir = join(base, 'crun');
      mkdirSync(crunBundleDir);
      crunBundle(crunBundleDir, {
        namespaces: ['pid', 'mount'],
        resources: { cpu: { shares: Math.round(1024 * CPUS), quota: Math.round(100_000 * CPUS), period: 100_000 }, memory: { limit: MEM_MB * 1024 * 1024 } },
      });
    }
    const bare = new SupervisorContainerizer();
    closers.push(async () => {
      bare.close();
      await bare.closeIsolators();
    });
    let forkExec: string | undefined;
    let forkExecWhy = '';
    try {
      forkExec = buildForkExec(base);
    } catch (e) {
      forkExecWhy = (e as Error).message;
    }

    for (let r = 1; r <= ROUNDS; r++) {
      console.log(`--- round ${r} of ${ROUNDS} [load ${loadNow()}]`);
      if (isolated) {
        const ours = await benchCorral(base, isolated, `iso${r}`);
        if (isolated.destroyErrors > 0) throw new Error(`${isolated.destroyErrors} containers were not cleaned up`);
        printOurs(`corral, isolated (--isolation=${ISOLATED}: cgroups with ${RESOURCES}, CFS on; pid and mount namespaces):`, ours);
        if (crunBundleDir) {
          try {
            const { figures, how } = benchCrun(crunBundleDir);
            printPeer(
              `crun run, same limits, pid and mount namespaces only [${how}; --cgroup-manager=cgroupfs; rootfs = host /usr read-only, pivot_root]:`,
              figures,
              ours,
            );
          } catch (e) {
            console.log(`crun run, isolated: not run: ${(e as Error).message}`);
          }
        } else console.log(`crun run, isolated: not run: ${why}`);
      } else console.log(`corral and crun, isolated: not run: ${why}`);
      const ours = await benchCorral(base, bare, `bare${r}`);
      printOurs('corral, bare (--isolation=posix/cpu,posix/mem: no namespaces, no cgroups; the supervisor and its records):', ours);
      if (forkExec)
        printPeer(
          `bare peer: a C loop that forks, execs \`true\` and waits, ${PARALLEL} at a time (no supervisor, no records):`,
          benchForkExec(forkExec),
          ours,
        );
      else console.log(`bare peer: not run: ${forkExecWhy}`);
    }
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    if (cgroups) await removeBenchCgroupRoots(cgroups, CONTROLLERS, true);
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
