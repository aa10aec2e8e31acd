/**
 * Launch benchmark: COUNT `true` containers, PARALLEL at a time, through SupervisorContainerizer
 * (one corral-containerizer supervisor each). Prints launches/s, p50/p99 of launch→running (the
 * launch promise: the command has been released) and launch→termination, and the resident
 * memory of a supervisor whose command sleeps.
 *
 * Peer, same run: the same COUNT `true` containers through `crun run`, PARALLEL at a time, each
 * spawned from Node like ours. The bundle: `crun spec` (pid, network, ipc, uts and mount
 * namespaces) with args ["true"], no terminal, and a rootfs that is an empty directory with the
 * host's /usr bind-mounted read-only plus the merged-/usr symlinks (bin, lib, lib64, sbin); crun
 * runs with --cgroup-manager=disabled, as ours uses no cgroups. A second crun figure keeps only
 * the mount namespace. On a host whose /sys/fs/cgroup is a v1/v2 hybrid (which crun refuses) the
 * crun runs happen in a private mount namespace with cgroup2 mounted on /sys/fs/cgroup.
 *
 *   npm run bench:launch [-- --count=200 --parallel=4]
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SupervisorContainerizer } from '../lib/agent/containerizer/supervisor_containerizer.ts';
import { parseResourcesText } from '../lib/common/resources/index.ts';
import { arg, crunBundle, pct, ms, pool } from './common.ts';

const COUNT = arg('count', 200);
const PARALLEL = arg('parallel', 4);
const WARMUP = 8;

interface Figures {
  wallMs: number;
  running: number[];
  ended: number[];
}

async function benchPosix(base: string): Promise<Figures> {
  const c = new SupervisorContainerizer();
  const resources = parseResourcesText('cpus:0.1;mem:32');
  const dirs = (tag: string, n: number) =>
    Array.from({ length: n }, (_v, i) => {
      const sandbox = join(base, tag, String(i), 'sandbox');
      const runDir = join(base, tag, String(i), 'run');
      mkdirSync(sandbox, { recursive: true });
      mkdirSync(runDir, { recursive: true });
      return { sandbox, runDir };
    });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const one = async (d: { sandbox: string; runDir: string }, into?: Figures): Promise<void> => {
    const t0 = performance.now();
    const ctr = await c.launch({ containerId: randomUUID(), ...d, argv: ['true'], env, resources });
    const t1 = performance.now();
    const end = await ctr.termination;
    const t2 = performance.now();
    if (end.exitCode !== 0) throw new Error(`true ended with ${JSON.stringify(end)}`);
    into?.running.push(t1 - t0);
    into?.ended.push(t2 - t0);
  };
  const warm = dirs('warm', WARMUP);
  await pool(WARMUP, PARALLEL, (i) => one(warm[i]!));
  const runs = dirs('posix', COUNT);
  const f: Figures = { wallMs: 0, running: [], ended: [] };
  f.wallMs = await pool(COUNT, PARALLEL, (i) => one(runs[i]!, f));
  c.close();
  return f;
}

/** VmRSS and VmHWM (KB) of a supervisor whose command sleeps. */
async function supervisorMemory(base: string): Promise<{ rss: number; hwm: number }> {
  const c = new SupervisorContainerizer();
  const sandbox = join(base, 'rss', 'sandbox');
  const runDir = join(base, 'rss', 'run');
  mkdirSync(sandbox, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  const ctr = await c.launch({
    containerId: 'rss',
    sandbox,
    runDir,
    argv: ['sleep', '30'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    resources: parseResourcesText('cpus:0.1'),
  });
  await new Promise((r) => setTimeout(r, 200));
  const status = readFileSync(`/proc/${ctr.pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  await c.kill('rss', 0);
  await ctr.termination;
  c.close();
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

// ----- crun ----------------------------------------------------------------------------------

/** Make a bundle in `dir`; with `mountNsOnly`, the container gets only a mount namespace. */

/** --crun-driver: run COUNT crun containers PARALLEL at a time; print the figures as JSON. */
async function crunDriver(bundle: string): Promise<void> {
  const one = (into?: Figures): Promise<void> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const p = spawn('crun', ['--cgroup-manager=disabled', 'run', '--bundle', bundle, `corral-bench-${process.pid}-${randomUUID()}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => {
        const t = performance.now() - t0;
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

const CGROUP2_SUPER_MAGIC = 0x63677270;
const TMPFS_MAGIC = 0x01021994;

async function benchCrun(base: string, mountNsOnly: boolean): Promise<{ figures: Figures; how: string }> {
  if (spawnSync('crun', ['--version']).error) throw new Error('crun is not installed (Debian package crun)');
  const bundle = join(base, mountNsOnly ? 'crun-mntns' : 'crun');
  mkdirSync(bundle);
  crunBundle(bundle, { mountNsOnly });
  const self = fileURLToPath(import.meta.url);
  const node = [process.execPath, '--import', 'tsx', self, '--crun-driver', bundle, `--count=${COUNT}`, `--parallel=${PARALLEL}`];
  const unified = statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC;
  const cmd = unified ? node : ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount -t cgroup2 none /sys/fs/cgroup && exec "$0" "$@"', ...node];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', cwd: join(fileURLToPath(import.meta.url), '..', '..') });
  if (r.error || r.status !== 0) throw new Error(`crun driver failed: ${r.error?.message ?? r.stderr.trim()}`);
  return {
    figures: JSON.parse(r.stdout.trim().split('\n').pop()!) as Figures,
    how: unified ? 'cgroup v2 host' : 'hybrid cgroups: crun ran in a private mount namespace with cgroup2 on /sys/fs/cgroup',
  };
}

// ----- main ----------------------------------------------------------------------------------

/** Microseconds to create one file in a fresh directory under `base` (the cost of an inode there). */
function createCostUs(base: string): number {
  const dir = mkdtempSync(join(base, 'create-'));
  const n = 50;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) writeFileSync(join(dir, `f${i}`), '');
  const us = ((performance.now() - t0) * 1000) / n;
  rmSync(dir, { recursive: true, force: true });
  return us;
}

function printOurs(label: string, f: Figures): number {
  const rate = COUNT / (f.wallMs / 1000);
  console.log(label);
  console.log(`  ${rate.toFixed(0)} launches/s (${ms(f.wallMs)} wall)`);
  console.log(`  launch→running      p50 ${ms(pct(f.running, 50))}  p99 ${ms(pct(f.running, 99))}`);
  console.log(`  launch→termination  p50 ${ms(pct(f.ended, 50))}  p99 ${ms(pct(f.ended, 99))}`);
  return rate;
}

async function main(): Promise<void> {
  const driver = process.argv.indexOf('--crun-driver');
  if (driver >= 0) return crunDriver(process.argv[driver + 1]!);

  // Work directories: the temp dir (a disk, as an agent's --work_dir) and, when there is one, a
  // tmpfs (where crun keeps its state, /run/crun), so the supervisor is also compared like for like.
  const bases = [mkdtempSync(join(tmpdir(), `corral-bench-${process.pid}-launch-`))];
  let shm: string | undefined;
  try {
    if (statfsSync('/dev/shm').type === TMPFS_MAGIC) shm = mkdtempSync(join('/dev/shm', `corral-bench-${process.pid}-launch-`));
  } catch {
    // no /dev/shm
  }
  if (shm) bases.push(shm);
  try {
    const base = bases[0]!;
    console.log(`launch: ${COUNT} \`true\` containers, ${PARALLEL} at a time (after ${WARMUP} warm-up launches); ${cpus().length} CPUs`);
    console.log(
      `(each corral container creates 5 inodes: sandbox stdout/stderr, pids/, pids/forked.pid, exit.status; one file creation costs ${createCostUs(base).toFixed(0)} µs in ${tmpdir()}${shm ? `, ${createCostUs(shm).toFixed(0)} µs in /dev/shm` : ''})`,
    );
    const ours = await benchPosix(base);
    const ourRate = printOurs(`corral (SupervisorContainerizer + corral-containerizer), work dir in ${tmpdir()}:`, ours);
    let shmRate: number | undefined;
    let shmFig: Figures | undefined;
    if (shm) {
      shmFig = await benchPosix(shm);
      shmRate = printOurs('corral, work dir on tmpfs (/dev/shm):', shmFig);
    }
    const mem = await supervisorMemory(base);
    console.log(`supervisor memory (command sleeping): VmRSS ${mem.rss} KB, VmHWM ${mem.hwm} KB`);

    for (const mountNsOnly of [false, true]) {
      const label = mountNsOnly ? 'crun run, mount namespace only' : 'crun run (crun spec namespaces: pid, net, ipc, uts, mount)';
      try {
        const { figures: cr, how } = await benchCrun(base, mountNsOnly);
        const rate = COUNT / (cr.wallMs / 1000);
        console.log(`${label}: [${how}; --cgroup-manager=disabled; rootfs = host /usr read-only]`);
        console.log(`  ${rate.toFixed(0)} launches/s (${ms(cr.wallMs)} wall)`);
        console.log(`  launch→termination  p50 ${ms(pct(cr.ended, 50))}  p99 ${ms(pct(cr.ended, 99))}`);
        const ratio = (r: number, f: Figures): string =>
          `${(r / rate).toFixed(2)}x launches/s, launch→termination p50 ${(pct(cr.ended, 50) / pct(f.ended, 50)).toFixed(2)}x faster`;
        console.log(`  ratio corral/crun: disk work dir ${ratio(ourRate, ours)}${shmRate && shmFig ? `; tmpfs work dir ${ratio(shmRate, shmFig)}` : ''}`);
      } catch (e) {
        console.log(`${label}: not run: ${(e as Error).message}`);
      }
    }
  } finally {
    for (const b of bases) rmSync(b, { recursive: true, force: true });
  }
}

await main();
