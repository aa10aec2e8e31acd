/**
 * Agent recovery benchmark: a `corral agent` process (cgroups/cpu,cgroups/mem by default) with
 * --tasks running `sleep` tasks of a checkpointing framework is killed with SIGKILL and started
 * again on its work dir, --rounds times. Per round:
 *   - recover(): reading the checkpoints, rebuilding the update streams, re-attaching every
 *     supervisor and the isolators (the agent's own measure, logged as recoveryMs);
 *   - recovery start → REREGISTERED from the master (its re-registration carries every task);
 *     target: under 1 s with 1,000 tasks;
 *   - process start → the master shows the agent re-registered (adds Node + tsx start-up);
 * and, from the same run, the same restart with no task (the fixed cost) and the bare start-up
 * of the same entry point (`--version`), as the peers. Every round checks that all tasks are
 * still running, tracked by the agent (/monitor/statistics) and RUNNING at the master.
 *
 *   npm run bench:recovery [-- --tasks=1000 --rounds=3 --isolation=cgroups/cpu,cgroups/mem --profile=DIR]
 *
 * Needs root for the cgroups isolators (--isolation=posix/cpu,posix/mem runs as anyone).
 */
import { spawnSync } from 'node:child_process';
import { loadavg, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentProcess, agentProcessArgs, portOf, type LogLine } from '../test/helpers/agent_process.ts';
import { Cluster, type Json, type Scheduler, commandTask, frameworkInfo, getJson, killEverythingUnder } from '../test/helpers/cluster.ts';
import { openCgroups, type CgroupController } from '../lib/linux/index.ts';
import { ms, pct } from './common.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, dflt: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const TASKS = Number(arg('tasks', '1000'));
const ROUNDS = Number(arg('rounds', '3'));
const ISOLATION = arg('isolation', 'cgroups/cpu,cgroups/mem');
const CGROUPS = ISOLATION.includes('cgroups/');
const CGROUP_ROOT = `corral-test-${process.pid}-recovery`;
const CONTROLLERS: readonly CgroupController[] = ['freezer', 'cpu', 'cpuacct', 'memory'];
/** --profile=DIR: CPU profiles of the restarted agents (node --cpu-prof) go there. */
const PROFILE = arg('profile', '');

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Round {
  /** recover() inside the agent. */
  recoverMs: number;
  /** From the start of recover() to REREGISTERED received. */
  toReregisteredMs: number;
  /** From the process's spawn to the master showing the agent re-registered. */
  wallMs: number;
}

const logTime = (l: LogLine): number => l.time;

/** SIGKILL the agent, start it again, and time its way back. */
async function restart(c: Cluster, agent: AgentProcess, args: string[], tasks: number): Promise<{ agent: AgentProcess; round: Round }> {
  const before = await getJson(c.url('/master/slaves'));
  const prevReregistered = before.slaves[0]?.reregistered_time as number | undefined;
  await agent.kill('SIGKILL');
  await until(async () => !(await getJson(c.url('/master/slaves'))).slaves[0]?.active, 10_000, 'the master to see the agent gone');
  const next = AgentProcess.start(args, PROFILE && tasks > 0 ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : []);
  await until(
    async () => {
      if (!next.running) throw new Error('the agent exited');
      const a = (await getJson(c.url('/master/slaves'))).slaves[0];
      return a?.active === true && a.reregistered_time !== undefined && a.reregistered_time !== prevReregistered;
    },
    120_000,
    'the agent to re-register',
  ).catch((e) => {
    throw new Error(`${(e as Error).message}; the agent's last lines: ${next.tail.slice(-3000)}`);
  });
  const wallMs = Date.now() - next.spawnedAt;
  const started = await next.waitForLog('agent started');
  const rereg = await next.waitForLog('re-registered with the master');
  const recoverMs = started.recoveryMs as number;
  const recoveryStart = logTime(started) - recoverMs;
  const round = { recoverMs, toReregisteredMs: logTime(rereg) - recoveryStart, wallMs };
  if (tasks > 0) await check(c, next, args, tasks);
  return { agent: next, round };
}

/** Every task still running, tracked by the agent, RUNNING at the master. */
async function check(c: Cluster, _agent: AgentProcess, args: string[], tasks: number): Promise<void> {
  const port = portOf(args);
  const stats = (await getJson(`http://127.0.0.1:${port}/monitor/statistics`)) as Json[];
  const state = await c.getJson('/master/state');
  const running = (state.frameworks as Json[]).flatMap((f) => f.tasks as Json[]).filter((t) => t.state === 'TASK_RUNNING').length;
  if (stats.length !== tasks || running !== tasks)
    throw new Error(`after the restart: ${stats.length} containers in /monitor/statistics, ${running} tasks RUNNING at the master; expected ${tasks}`);
}

async function launch(fw: Scheduler, n: number): Promise<void> {
  const tasks = Array.from({ length: n }, (_v, i) =>
    commandTask(`sleeper-${i}`, 'exec sleep 3600', {
      resources: [
        { name: 'cpus', type: 'SCALAR', scalar: { value: 0.01 } },
        { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
      ],
    }),
  );
  const running = new Set<string>();
  const other = new Map<string, string>();
  fw.onEvent = (e) => {
    if (e.type !== 'UPDATE') return;
    const st = e.update.status;
    if (st.state === 'TASK_RUNNING') running.add(st.task_id.value);
    else other.set(st.task_id.value, `${st.state} ${st.message ?? ''}`);
  };
  await fw.launch(tasks, { perAccept: 100, timeoutMs: 300_000 });
  await until(() => running.size === n || other.size > 0, 300_000, `${n} tasks to run`);
  if (other.size > 0)
    throw new Error(
      `tasks did not run: ${[...other]
        .slice(0, 3)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')}`,
    );
  await Promise.all(fw.acks);
}

function bareStartMs(): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'helpers', 'corral_src.ts'), '--version'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`corral --version: ${r.stderr}`);
  return performance.now() - t0;
}

function summary(rs: readonly Round[]): string {
  const f = (k: keyof Round): string => {
    const xs = rs.map((r) => r[k]);
    return rs.length === 1 ? ms(xs[0]!) : `${ms(Math.min(...xs))} – ${ms(Math.max(...xs))} (median ${ms(pct(xs, 50))})`;
  };
  return [
    `    recover() in the agent:                     ${f('recoverMs')}`,
    `    recovery start → REREGISTERED received:     ${f('toReregisteredMs')}`,
    `    process start → master shows re-registered: ${f('wallMs')}`,
  ].join('\n');
}

async function main(): Promise<void> {
  if (CGROUPS && process.getuid?.() !== 0) throw new Error(`--isolation=${ISOLATION} needs root (or use --isolation=posix/cpu,posix/mem)`);
  console.log(
    `recovery: ${cpus().length} CPUs, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; ${TASKS} tasks, ${ROUNDS} rounds, --isolation=${ISOLATION}`,
  );
  const c = await Cluster.start({ agents: 0 });
  const workDir = join(c.workDir, 'agent0');
  const args = await agentProcessArgs({
    master: c.masterAddress,
    workDir,
    resources: `cpus:${Math.max(16, Math.ceil(TASKS * 0.01) + 1)};mem:${Math.max(16_384, TASKS * 32 + 1024)};disk:10000;ports:[31000-32000]`,
    isolation: ISOLATION,
    cgroupsRoot: CGROUP_ROOT,
  });
  const port = portOf(args);
  let agent = AgentProcess.start(args);
  let fw: Scheduler | undefined;
  try {
    await until(async () => (await getJson(c.url('/master/slaves'))).slaves[0]?.active === true, 60_000, 'the agent to register');
    const bare = [bareStartMs(), bareStartMs(), bareStartMs()];
    const empty: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const r = await restart(c, agent, args, 0);
      agent = r.agent;
      empty.push(r.round);
    }
    fw = await c.framework(frameworkInfo({ name: 'bench-recovery', checkpoint: true }), { keepAlive: true });
    const t0 = performance.now();
    await launch(fw, TASKS);
    console.log(`  ${TASKS} tasks running after ${ms(performance.now() - t0)}`);
    await new Promise((r) => setTimeout(r, 1000)); // the acknowledgements reach the agent
    const full: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const r = await restart(c, agent, args, TASKS);
      agent = r.agent;
      full.push(r.round);
    }
    console.log(
      `  agent killed with SIGKILL and started again, ${TASKS} running tasks (${ROUNDS} rounds; all ${TASKS} checked running and tracked after each):`,
    );
    console.log(summary(full));
    console.log(`    [target: recovered and re-registered in < 1 s]`);
    console.log(`  the same with no task (peer: the fixed cost), ${ROUNDS} rounds:`);
    console.log(summary(empty));
    console.log(`  bare start-up of the same entry point (node --import tsx … --version): ${bare.map((x) => ms(x)).join(', ')}`);
  } finally {
    if (fw) {
      await fw.teardown().catch(() => {});
      await until(
        async () => {
          const s = await getJson(`http://127.0.0.1:${port}/state`).catch(() => undefined);
          return s === undefined || (s.frameworks as Json[]).every((f) => (f.executors as Json[]).length === 0);
        },
        120_000,
        'the tasks to be killed',
      ).catch((e) => console.error((e as Error).message));
      fw.close();
    }
    await agent.stop();
    await c.stop();
    killEverythingUnder(workDir);
    if (CGROUPS) {
      const cg = openCgroups('/sys/fs/cgroup');
      const ctl = CONTROLLERS.filter((x) => cg.has(x));
      await cg.killAll(CGROUP_ROOT, ctl);
      await cg.remove(CGROUP_ROOT, ctl);
    }
  }
}

await main();
process.exit(0);
