/**
 * Isolation benchmark (needs root and cgroups).
 *
 * 1. Launch latency: COUNT `true` containers one at a time (and PARALLEL at a time) through the
 *    containerizer the agent builds for an --isolation, with its own cgroup root:
 *      - posix/cpu,posix/mem (no cgroups: the floor);
 *      - cgroups/cpu,cgroups/mem (CFS on): a cgroup per container in cpu, cpuacct, memory and
 *        freezer (v1) with shares, quota and memory limit, the pid attached before it runs;
 *      - cgroups/cpu,cgroups/mem,filesystem/shared: the same plus a mount namespace of its own.
 *    launch→running = the launch promise (prepared, supervisor started, isolated, released);
 *    launch→termination = the command ended, every process is gone, the cgroups are removed.
 *
 * 2. Peer, same run: `crun run` of the same COUNT `true` containers with the same limits
 *    (cpu.shares, CFS quota and period, memory limit) and a mount namespace only. crun refuses a
 *    v1/v2 hybrid host ("cgroups in hybrid mode not supported"), so on such a host its runs
 *    happen in a private mount namespace where the hybrid's cgroup2 mount
 *    (/sys/fs/cgroup/unified) is unmounted: crun then sees plain v1 and makes its cgroups in the
 *    host's real v1 hierarchies (--cgroup-manager=cgroupfs), limits applied. Its rootfs is an
 *    empty directory with the host's /usr bind-mounted read-only (crun spec's default mounts).
 *    crun run returns when the container has ended and is deleted: compared with our
 *    launch→termination.
 *
 * 3. /monitor/statistics with CONTAINERS running containers (`sleep`), cgroups/cpu,cgroups/mem:
 *    an Agent with the real containerizer and its HTTP endpoint on loopback; the request's
 *    latency (p50/p99 of 20) and the cost per container of the containerizer's usage().
 *
 *   npm run bench:isolation [-- --count=200 --parallel=4 --containers=1000]
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from '../lib/agent/agent.ts';
import { createContainerizer } from '../lib/agent/containerizer/factory.ts';
import type { SupervisorContainerizer } from '../lib/agent/containerizer/supervisor_containerizer.ts';
import { agentFlagValues } from '../test/helpers/agent_flags.ts';
import { agentRoutes } from '../lib/agent/http/routes.ts';
import { AgentPaths } from '../lib/agent/paths.ts';
import { FakeClock } from '../lib/common/clock.ts';
import { silentLogger } from '../lib/common/log.ts';
import { parseResourcesText } from '../lib/common/resources/index.ts';
import { openCgroups, type CgroupController, type Cgroups } from '../lib/linux/index.ts';
import type { FrameworkInfo } from '../lib/proto/messages.ts';
import { HttpServer } from '../lib/transport/index.ts';
import { arg, crunBundle, loadLine, ms, pct, pool, removeBenchCgroupRoots } from './common.ts';

const COUNT = arg('count', 200);
const PARALLEL = arg('parallel', 4);
const CONTAINERS = arg('containers', 1000);
const WARMUP = 8;
const RESOURCES = 'cpus:0.5;mem:64';
const CPUS = 0.5;
const MEM = 64 * 1024 * 1024;
const ROOT = `corral-bench-${process.pid}`;
const CONTROLLERS: readonly CgroupController[] = ['cpu', 'cpuacct', 'memory', 'freezer'];

interface Figures {
  wallMs: number;
  running: number[];
  ended: number[];
}

// ----- ours ----------------------------------------------------------------------------------

async function benchOurs(base: string, cgroups: Cgroups, isolation: string, parallel: number, tag: string): Promise<Figures> {
  // The concrete class: its destroyErrors count is checked below.
  const c = createContainerizer(agentFlagValues({ isolation, cgroups_root: `${ROOT}/${tag}`, cgroups_enable_cfs: true }), {
    cgroups,
  }) as SupervisorContainerizer;
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const resources = parseResourcesText(RESOURCES);
  let n = 0;
  const one = async (into?: Figures): Promise<void> => {
    const d = join(base, tag, String(n++));
    const sandbox = join(d, 'sandbox');
    const runDir = join(d, 'run');
    mkdirSync(sandbox, { recursive: true });
    mkdirSync(runDir, { recursive: true });
    const t0 = performance.now();
    const ctr = await c.launch({ containerId: randomUUID(), sandbox, runDir, argv: ['true'], env, resources });
    const t1 = performance.now();
    const end = await ctr.termination;
    const t2 = performance.now();
    if (end.exitCode !== 0) throw new Error(`true ended with ${JSON.stringify(end)}`);
    into?.running.push(t1 - t0);
    into?.ended.push(t2 - t0);
  };
  await pool(WARMUP, parallel, () => one());
  const f: Figures = { wallMs: 0, running: [], ended: [] };
  f.wallMs = await pool(COUNT, parallel, () => one(f));
  if (c.destroyErrors > 0) throw new Error(`${c.destroyErrors} containers were not cleaned up`);
  c.close();
  return f;
}

// ----- crun ----------------------------------------------------------------------------------

/** --crun-driver BUNDLE: COUNT crun runs, PARALLEL at a time, each in cgroup /ROOT/crun/<id>; figures as JSON. */
async function crunDriver(bundle: string, root: string, parallel: number): Promise<void> {
  const cfgPath = join(bundle, 'config.json');
  const base = JSON.parse(readFileSync(cfgPath, 'utf8')) as { linux: Record<string, unknown> };
  const one = (into?: Figures): Promise<void> =>
    new Promise((resolve, reject) => {
      const id = `corral-bench-${process.pid}-${randomUUID()}`;
      // One bundle per run would cost a file write each; crun reads --bundle's config once, so the
      // cgroup path is given per run through a config copy beside it.
      const dir = join(bundle, '..', id);
      mkdirSync(dir);
      symlinkSync(join(bundle, 'rootfs'), join(dir, 'rootfs'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...base, linux: { ...base.linux, cgroupsPath: `/${root}/crun/${id}` } }));
      const t0 = performance.now();
      const p = spawn('crun', ['--cgroup-manager=cgroupfs', 'run', '--bundle', dir, id], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => {
        const t = performance.now() - t0;
        rmSync(dir, { recursive: true, force: true });
        if (code !== 0) return reject(new Error(`crun run exited ${code}: ${err.trim()}`));
        into?.ended.push(t);
        resolve();
      });
    });
  await pool(WARMUP, parallel, () => one());
  const f: Figures = { wallMs: 0, running: [], ended: [] };
  f.wallMs = await pool(COUNT, parallel, () => one(f));
  process.stdout.write(JSON.stringify(f) + '\n');
}

const CGROUP2_SUPER_MAGIC = 0x63677270;

async function benchCrun(base: string, parallel: number): Promise<{ figures: Figures; how: string }> {
  if (spawnSync('crun', ['--version']).error) throw new Error('crun is not installed (Debian package crun)');
  const bundle = join(base, `crun-bundle-${parallel}`);
  mkdirSync(bundle);
  // The limits ours sets: shares 1024 per cpu, CFS quota cpus × 100 ms, the memory limit.
  crunBundle(bundle, {
    mountNsOnly: true,
    resources: { cpu: { shares: Math.round(1024 * CPUS), quota: Math.round(100_000 * CPUS), period: 100_000 }, memory: { limit: MEM } },
  });
  const self = fileURLToPath(import.meta.url);
  const node = [process.execPath, '--import', 'tsx', self, '--crun-driver', bundle, ROOT, `--count=${COUNT}`, `--parallel=${parallel}`];
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
        ? 'v1/v2 hybrid host: crun ran in a private mount namespace without the cgroup2 mount, so it used the v1 hierarchies'
        : 'cgroup v1 host',
  };
}

// ----- /monitor/statistics -------------------------------------------------------------------

async function benchStatistics(base: string, cgroups: Cgroups): Promise<void> {
  const c = createContainerizer(agentFlagValues({ isolation: 'cgroups/cpu,cgroups/mem', cgroups_root: `${ROOT}/stats`, cgroups_enable_cfs: true }), {
    cgroups,
  });
  const work = join(base, 'agent');
  const agent = new Agent({
    clock: new FakeClock(),
    logger: silentLogger,
    paths: new AgentPaths(work),
    containerizer: c,
    hostname: 'bench',
    ip: '127.0.0.1',
    port: 5051,
    resources: parseResourcesText(`cpus:${CONTAINERS};mem:${CONTAINERS * 64}`),
    attributes: [],
    version: 'bench',
    executorRegistrationTimeoutMs: 60_000,
    executorShutdownGracePeriodMs: 5000,
    defaultKillGraceMs: 0,
    executorEnvironment: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    switchUser: false,
  });
  const server = new HttpServer({ host: '127.0.0.1', port: 0, maxBodyBytes: 1 << 20, logger: silentLogger });
  agentRoutes(server, { agent, flags: {}, version: 'bench', log: silentLogger, masterHostname: () => 'm' }, 1 << 20);
  const port = await server.listen();
  agent.connected(() => {});
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  const fw: FrameworkInfo = { user: 'root', name: 'bench', id: 'F1', failoverTimeout: 0, checkpoint: false, role: '*', capabilities: [] };
  const t0 = performance.now();
  await pool(CONTAINERS, 4, async (i) => {
    await agent.onMasterMessage({
      type: 'RUN_TASK',
      frameworkId: 'F1',
      frameworkInfo: fw,
      task: {
        name: `t${i}`,
        taskId: `t${i}`,
        agentId: 'S0',
        resources: parseResourcesText('cpus:0.1;mem:32').toArray(),
        command: { uris: [], shell: false, value: 'sleep', arguments: ['sleep', '3600'] },
      },
    });
  });
  const framework = agent.frameworks.get('F1')!;
  for (const end = Date.now() + 60_000; Date.now() < end && [...framework.executors.values()].some((e) => !e.container);)
    await new Promise((r) => setTimeout(r, 50));
  const running = [...framework.executors.values()].filter((e) => e.container).length;
  console.log(`/monitor/statistics: ${running} running containers (cgroups/cpu,cgroups/mem; started in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  try {
    const lat: number[] = [];
    let entries = 0;
    let bytes = 0;
    for (let i = 0; i < 22; i++) {
      const a = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/monitor/statistics.json`);
      const text = await res.text();
      const d = performance.now() - a;
      if (i >= 2) lat.push(d); // two warm-up requests
      entries = (JSON.parse(text) as unknown[]).length;
      bytes = text.length;
    }
    console.log(
      `  GET /monitor/statistics.json: ${entries} entries, ${(bytes / 1024).toFixed(0)} KiB; p50 ${ms(pct(lat, 50))}  p99 ${ms(pct(lat, 99))}  (${((pct(lat, 50) * 1000) / Math.max(1, entries)).toFixed(0)} µs per container)`,
    );
    const ids = [...framework.executors.values()].map((e) => e.containerId);
    const u0 = performance.now();
    for (const id of ids) await c.usage(id);
    const per = ((performance.now() - u0) * 1000) / ids.length;
    console.log(
      `  containerizer.usage(): ${per.toFixed(0)} µs per container (cpuacct.stat, cpu.stat, cgroup.procs, tasks, memory.usage_in_bytes, memory.stat)`,
    );
  } finally {
    const k0 = performance.now();
    await pool(running, 8, async (i) => {
      const ex = framework.executors.get(`t${i}`);
      if (ex) await c.kill(ex.containerId, 0);
    });
    console.log(`  killed and cleaned up ${running} containers in ${((performance.now() - k0) / 1000).toFixed(1)} s`);
    c.close();
    await server.close();
    await agent.stop();
  }
}

// ----- main ----------------------------------------------------------------------------------

function printOurs(label: string, f: Figures): void {
  console.log(label);
  console.log(`  ${(COUNT / (f.wallMs / 1000)).toFixed(0)} launches/s (${ms(f.wallMs)} wall)`);
  console.log(`  launch→running      p50 ${ms(pct(f.running, 50))}  p99 ${ms(pct(f.running, 99))}`);
  console.log(`  launch→termination  p50 ${ms(pct(f.ended, 50))}  p99 ${ms(pct(f.ended, 99))}`);
}

async function main(): Promise<void> {
  console.log(loadLine());
  const driver = process.argv.indexOf('--crun-driver');
  if (driver >= 0) return crunDriver(process.argv[driver + 1]!, process.argv[driver + 2]!, PARALLEL);
  if (process.getuid?.() !== 0) {
    console.log('isolation: needs root (cgroups); not run');
    return;
  }
  const cgroups = openCgroups('/sys/fs/cgroup');
  await removeBenchCgroupRoots(cgroups, CONTROLLERS, false);
  const base = mkdtempSync(join(tmpdir(), `corral-bench-${process.pid}-isolation-`));
  try {
    console.log(
      `isolation: ${COUNT} \`true\` containers (after ${WARMUP} warm-up launches), resources ${RESOURCES}, CFS on; ${cpus().length} CPUs; cgroup v${cgroups.version}; work dir in ${tmpdir()}`,
    );
    const configs: [string, string][] = [
      ['posix/cpu,posix/mem', 'posix'],
      ['cgroups/cpu,cgroups/mem', 'cg'],
      ['cgroups/cpu,cgroups/mem,filesystem/shared', 'cgmnt'],
    ];
    const results = new Map<string, Figures>();
    for (const parallel of [1, PARALLEL]) {
      for (const [isolation, tag] of configs) {
        const f = await benchOurs(base, cgroups, isolation, parallel, `${tag}${parallel}`);
        results.set(`${tag}${parallel}`, f);
        printOurs(`corral --isolation=${isolation}, ${parallel} at a time:`, f);
      }
      try {
        const { figures: cr, how } = await benchCrun(base, parallel);
        console.log(`crun run, same limits, mount namespace only, ${parallel} at a time: [${how}; --cgroup-manager=cgroupfs; rootfs = host /usr read-only]`);
        console.log(`  ${(COUNT / (cr.wallMs / 1000)).toFixed(0)} launches/s (${ms(cr.wallMs)} wall)`);
        console.log(`  launch→termination  p50 ${ms(pct(cr.ended, 50))}  p99 ${ms(pct(cr.ended, 99))}`);
        const ours = results.get(`cgmnt${parallel}`)!;
        console.log(
          `  ratio crun/corral (cgroups/cpu,cgroups/mem,filesystem/shared) launch→termination: p50 ${(pct(cr.ended, 50) / pct(ours.ended, 50)).toFixed(2)}x, p99 ${(pct(cr.ended, 99) / pct(ours.ended, 99)).toFixed(2)}x (above 1: corral is faster)`,
        );
      } catch (e) {
        console.log(`crun run: not run: ${(e as Error).message}`);
      }
    }
    await benchStatistics(base, cgroups);
  } finally {
    await removeBenchCgroupRoots(cgroups, CONTROLLERS, true);
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
