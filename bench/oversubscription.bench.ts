/**
 * Oversubscription benchmark (issue 8's figures), on an in-process cluster (one master, one
 * agent) driven through the v1 scheduler API:
 *
 * (a) usage change → revocable offer: `--resource_estimator=usage` (interval --interval ms,
 *     window 1, margin 0.2). A non-revocable 1-cpu task spins until the bench creates a file,
 *     then sleeps; the time from the file to the first OFFERS event with revocable cpus at the
 *     framework with ≥ 0.5 revocable cpus, and with ≥ 0.7 (the full 0.8: the first poll after the
 *     change still sees part of the busy interval; a spinning shell leaves a few hundredths idle,
 *     so tiny revocable offers exist before the change and are not counted). Target: ≤ interval + 100 ms.
 * (b) QoS correction → container gone: the agent's preempt() (what a KILL correction runs)
 *     until the container has ended, for --kills revocable `sleep` tasks; p50/max. Target ≤ 100 ms.
 * (c) burst (needs root and cgroups v1/v2 cpu): a 1-cpu non-revocable task counts loop
 *     iterations for --seconds alone, then with two revocable busy tasks on the same 2-core agent
 *     (`--isolation=cgroups/cpu`), with `--revocable_cpu_low_priority` on and off. Reports its
 *     throughput relative to alone (goal ≥ 90% with low priority) and the cpu the batch tasks got
 *     (cpu seconds per second, from /monitor/statistics). Its containers are under the cgroup
 *     corral-bench-<pid>-oversub (not the default --cgroups_root), removed at the end, also on
 *     failure; one a crashed run left (its pid gone) is removed first.
 *
 *   npm run bench:oversubscription [-- --interval=1000 --kills=20 --seconds=5 --only=abc]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCgroups, type CgroupController } from '../lib/linux/index.ts';
import { Cluster, type Json, type Scheduler, commandTask, frameworkInfo } from '../test/helpers/cluster.ts';
import { arg, loadLine } from './common.ts';

const INTERVAL = arg('interval', 1000);
const KILLS = arg('kills', 20);
const SECONDS = arg('seconds', 5);
const ONLY = process.argv.find((x) => x.startsWith('--only='))?.slice(7) ?? 'abc';
/** (c)'s --cgroups_root: this run's own, so that nothing is left in the default one (`corral`). */
const CGROUP_ROOT = `corral-bench-${process.pid}-oversub`;
const CGROUP_CONTROLLERS: readonly CgroupController[] = ['freezer', 'cpu', 'cpuacct', 'memory', 'pids'];
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
const isRevocable = (o: Json) => (o.resources as Json[]).some((r) => r.revocable !== undefined);
const revCpus = (o: Json) => (o.resources as Json[]).filter((r) => r.revocable !== undefined && r.name === 'cpus').reduce((a, r) => a + r.scalar.value, 0);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

function task(id: string, command: string, agentId: Json, res: { cpus: number; rev?: boolean; mem?: number }): Json {
  return commandTask(id, command, {
    agent_id: agentId,
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: res.cpus }, ...(res.rev ? { revocable: {} } : {}) },
      { name: 'mem', type: 'SCALAR', scalar: { value: res.mem ?? 32 } },
    ],
  });
}

async function regularOffer(fw: Scheduler): Promise<Json> {
  for (;;) {
    const o = (await fw.offers(20_000)).find((x) => !isRevocable(x));
    if (o) return o;
  }
}

async function partA(tmp: string): Promise<void> {
  const c = await Cluster.start({
    agentResources: 'cpus:2;mem:2048;disk:1000;ports:[31000-32000]',
    agentArgs: [
      '--resource_estimator=usage',
      '--usage_estimator_window=1',
      '--usage_estimator_margin=0.2',
      `--oversubscribed_resources_interval=${INTERVAL}ms`,
    ],
  });
  try {
    const fw = await c.subscribe(frameworkInfo({ name: 'bench-a', capabilities: [{ type: 'REVOCABLE_RESOURCES' }] }));
    const first: number[] = [];
    const full: number[] = [];
    for (let i = 0; i < 3; i++) {
      const o = await regularOffer(fw);
      const stop = join(tmp, `stop-${i}`);
      await fw.accept([o.id.value], [task(`spin-${i}`, `while [ ! -e ${stop} ]; do :; done; exec sleep 600`, o.agent_id, { cpus: 1 })]);
      await fw.update(`spin-${i}`, 'TASK_RUNNING', 20_000);
      await sleep(INTERVAL * 3); // busy for a few polls: the estimate is 0
      fw.events.length = 0;
      const t0 = performance.now();
      writeFileSync(stop, '');
      const e1 = await fw.waitFor((x) => x.type === 'OFFERS' && x.offers.offers.some((y: Json) => revCpus(y) >= 0.5), INTERVAL * 5, 'a revocable offer');
      first.push(performance.now() - t0);
      if (e1.offers.offers.some((y: Json) => revCpus(y) >= 0.7)) full.push(performance.now() - t0);
      else {
        await fw.waitFor((x) => x.type === 'OFFERS' && x.offers.offers.some((y: Json) => revCpus(y) >= 0.7), INTERVAL * 5, 'a full revocable offer');
        full.push(performance.now() - t0);
      }
      await fw.kill(`spin-${i}`);
      await fw.update(`spin-${i}`, 'TASK_KILLED', 20_000);
      await sleep(INTERVAL * 2);
    }
    console.log(`(a) usage change → revocable offer (interval ${INTERVAL} ms, target ≤ ${INTERVAL + 100} ms)`);
    console.log(`    ≥ 0.5 cpus: ${first.map((x) => x.toFixed(0)).join(', ')} ms; ≥ 0.7 cpus: ${full.map((x) => x.toFixed(0)).join(', ')} ms`);
  } finally {
    await c.stop();
  }
}

async function partB(): Promise<void> {
  const c = await Cluster.start({
    agentResources: 'cpus:2;mem:4096;disk:1000;ports:[31000-32000]',
    agentArgs: ['--resource_estimator=fixed', `--oversubscribed_resources=cpus:${KILLS}`, '--oversubscribed_resources_interval=100ms'],
  });
  try {
    const fw = await c.subscribe(frameworkInfo({ name: 'bench-b', capabilities: [{ type: 'REVOCABLE_RESOURCES' }] }));
    const agent = c.agents[0]!.agent;
    const times: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      let rev: Json;
      let regular: Json;
      while (!(rev && regular))
        for (const o of await fw.offers(20_000))
          if (isRevocable(o)) rev = o;
          else regular = o;
      const id = `batch-${i}`;
      await fw.accept([rev.id.value, regular.id.value], [task(id, 'exec sleep 600', rev.agent_id, { cpus: 1, rev: true, mem: 8 })]);
      await fw.update(id, 'TASK_RUNNING', 20_000);
      const frameworkId = Array.from(agent.frameworks.keys())[0]!;
      const t0 = performance.now();
      await agent.preempt(frameworkId, id);
      times.push(performance.now() - t0);
      await fw.update(id, 'TASK_LOST', 20_000);
    }
    console.log(
      `(b) QoS correction → container gone (${KILLS} kills, target ≤ 100 ms): p50 ${pct(times, 50).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms`,
    );
  } finally {
    await c.stop();
  }
}

const COUNTER = `const end = Date.now() + ${SECONDS * 1000}; let n = 0; while (Date.now() < end) { for (let i = 0; i < 1e5; i++) n++; } require('fs').writeFileSync(process.argv[1], String(n));`;

async function burst(tmp: string, lowPriority: boolean, withBatch: boolean): Promise<{ ops: number; batchCpu: number }> {
  const c = await Cluster.start({
    agentResources: 'cpus:2;mem:2048;disk:1000;ports:[31000-32000]',
    agentArgs: [
      '--isolation=cgroups/cpu,cgroups/mem',
      `--cgroups_root=${CGROUP_ROOT}`,
      '--resource_estimator=fixed',
      '--oversubscribed_resources=cpus:2',
      '--oversubscribed_resources_interval=100ms',
      `--revocable_cpu_low_priority=${lowPriority}`,
    ],
  });
  try {
    const fw = await c.subscribe(frameworkInfo({ name: 'bench-c', capabilities: [{ type: 'REVOCABLE_RESOURCES' }] }));
    let rev: Json;
    let regular: Json;
    while (!(rev && regular))
      for (const o of await fw.offers(20_000))
        if (isRevocable(o)) rev = o;
        else regular = o;
    const out = join(tmp, `ops-${lowPriority}-${withBatch}`);
    const tasks = [task('ls', `exec ${process.execPath} -e "${COUNTER}" ${out}`, rev.agent_id, { cpus: 1, mem: 256 })];
    if (withBatch) for (let i = 0; i < 2; i++) tasks.push(task(`batch-${i}`, 'while :; do :; done', rev.agent_id, { cpus: 1, rev: true, mem: 16 }));
    const t0 = performance.now();
    await fw.accept([rev.id.value, regular.id.value], tasks);
    await fw.update('ls', 'TASK_FINISHED', (SECONDS + 30) * 1000);
    const wall = (performance.now() - t0) / 1000;
    let batchCpu = 0;
    if (withBatch) {
      const stats = await c.agentJson(0, '/monitor/statistics');
      for (const s of stats as Json[])
        if (String(s.executor_id).startsWith('batch')) batchCpu += (s.statistics.cpus_user_time_secs ?? 0) + (s.statistics.cpus_system_time_secs ?? 0);
      batchCpu /= wall;
    }
    return { ops: Number(readFileSync(out, 'utf8')), batchCpu };
  } finally {
    await c.stop();
  }
}

/** Kill and remove (c)'s cgroup roots: this run's (`all`), or those of runs whose process is gone. */
async function removeCgroupRoots(all: boolean): Promise<void> {
  const cg = openCgroups('/sys/fs/cgroup');
  const controllers = CGROUP_CONTROLLERS.filter((c) => cg.has(c));
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  for (const c of controllers)
    for (const name of cg.children('', c)) {
      const m = /^corral-bench-(\d+)-oversub$/.exec(name);
      if (!m || (name !== CGROUP_ROOT && alive(Number(m[1]))) || (name === CGROUP_ROOT && !all)) continue;
      await cg.killAll(name, [c]);
      await cg.remove(name, [c]);
    }
}

async function partC(tmp: string): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('(c) burst: skipped (needs root for cgroups)');
    return;
  }
  await removeCgroupRoots(false);
  let alone, low, normal;
  try {
    alone = await burst(tmp, true, false);
    low = await burst(tmp, true, true);
    normal = await burst(tmp, false, true);
  } finally {
    await removeCgroupRoots(true);
  }
  console.log(`(c) burst on ${cpus().length} cores, ${SECONDS} s: latency-sensitive task alone ${(alone.ops / SECONDS / 1e6).toFixed(1)} M iterations/s`);
  console.log(
    `    with 2 revocable busy tasks, low priority (10 shares/cpu): ${((100 * low.ops) / alone.ops).toFixed(1)}% of alone (goal ≥ 90%); batch used ${low.batchCpu.toFixed(2)} cpus`,
  );
  console.log(
    `    with 2 revocable busy tasks, normal priority (1024/cpu): ${((100 * normal.ops) / alone.ops).toFixed(1)}% of alone; batch used ${normal.batchCpu.toFixed(2)} cpus`,
  );
}

const tmp = mkdtempSync(join(tmpdir(), 'corral-bench-oversub-'));
console.log(loadLine());
try {
  if (ONLY.includes('a')) await partA(tmp);
  if (ONLY.includes('b')) await partB();
  if (ONLY.includes('c')) await partC(tmp);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
