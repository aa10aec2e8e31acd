/**
 * The master at scale, scaled down (issue 21's harness: bench/scale.bench.ts runs it at 10,000 and
 * 50,000 agents). A real `corral master` process, 2,000 simulated agents speaking the real agent
 * protocol over HTTP from two processes, and frameworks on the real scheduler API (Corral's own
 * client): 20,000 short tasks over four frameworks, and 2,000 long ones, then a kill -9 and
 * restart of the master with every agent re-registering its tasks. What must hold:
 * - every task reaches its terminal state exactly once at its framework, and no update names a
 *   task the framework did not launch;
 * - no agent is removed (no SHUTDOWN reached any) and none re-registers except after the restart;
 * - the master's state agrees with the agents': the agents it lists, and the long tasks it shows
 *   running, before and after the restart.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, type Json } from '../helpers/cluster.ts';
import { MasterProcess } from '../helpers/master_process.ts';
import { ScaleFramework } from '../helpers/scale_framework.ts';
import { SimFleet } from '../helpers/sim_fleet.ts';
import { clearLeftoverDirs, uniqueName } from '../helpers/tmp_names.ts';

const AGENTS = Number(process.env.SCALE_TEST_AGENTS ?? 2000);
const SHORT_FRAMEWORKS = 4;
const SHORT_TASKS = Number(process.env.SCALE_TEST_TASKS ?? 5000); // per framework
const LONG_TASKS = AGENTS;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The long framework's running tasks as the master lists them, by agent. */
function runningByAgent(state: Json, frameworkId: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const f of state.frameworks as Json[]) {
    if (f.id !== frameworkId) continue;
    for (const t of f.tasks as Json[]) if (t.state === 'TASK_RUNNING') m.set(t.slave_id, (m.get(t.slave_id) ?? 0) + 1);
  }
  return m;
}

test('2,000 simulated agents, 22,000 tasks and a master restart: every task ends once, no agent is removed, the master agrees with the agents', async (t) => {
  t.timeout(300_000);
  clearLeftoverDirs();
  const workDir = mkdtempSync(join(tmpdir(), `${uniqueName()}-scale-`));
  const master = await MasterProcess.start([`--work_dir=${workDir}`, '--max_completed_tasks_per_framework=100000']);
  let fleet: SimFleet | undefined;
  const frameworks: ScaleFramework[] = [];
  t.teardown(async () => {
    fleet?.stop();
    for (const f of frameworks) await f.client.stop().catch(() => {});
    await master.stop().catch(() => {});
    rmSync(workDir, { recursive: true, force: true });
  });
  await until('the master to answer', 60_000, async () => ((await master.get('/health'))?.status === 200 ? true : undefined));

  const t0 = Date.now();
  const step = (what: string) => t.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  fleet = await SimFleet.start({ master: master.address, agents: AGENTS, processes: 2, taskMs: 100, retryMs: 10_000, wave: 250 });
  step('agents registered');
  const state0 = await getJson(`http://${master.address}/master/state`);
  t.is(state0.slaves.length, AGENTS, 'the master lists every agent');
  t.is(fleet.counters().registrations, AGENTS);

  // The long tasks first (one framework), then the short ones in parallel.
  const long = new ScaleFramework({ master: master.address, name: 'long', tasks: LONG_TASKS, command: 'sleep inf', perOffer: 1 });
  frameworks.push(long);
  const longId = await long.start();
  await until('the long tasks to run', 120_000, () => (long.running >= LONG_TASKS ? true : undefined));

  step('long tasks running');
  const shorts = Array.from(
    { length: SHORT_FRAMEWORKS },
    (_, i) => new ScaleFramework({ master: master.address, name: `short${i}`, tasks: SHORT_TASKS, command: 'sleep 0.1' }),
  );
  frameworks.push(...shorts);
  await Promise.all(shorts.map((f) => f.start()));
  await Promise.race([
    Promise.all(shorts.map((f) => f.done)),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`short tasks not all ended: ${shorts.map((f) => `${f.terminal.size}/${SHORT_TASKS}`).join(', ')}`)), 200_000),
    ),
  ]);
  step('short tasks ended');
  t.log(
    JSON.stringify(fleet.counters()),
    JSON.stringify(shorts.map((f) => ({ updates: f.updates, retransmissions: f.retransmissions, deliveryMaxMs: Math.round(f.deliveryMaxMs) }))),
  );
  for (const f of shorts) {
    t.is(f.terminal.size, SHORT_TASKS, `${f.client.frameworkId}: every task ended`);
    t.deepEqual([...new Set(f.terminal.values())], ['TASK_FINISHED'], 'every short task finished');
    t.is(f.duplicateTerminal, 0, 'no task had two terminal updates (a retry of the same update, same uuid, is allowed)');
    t.is(f.unknownUpdates, 0, 'no update of a task the framework did not launch');
  }

  // Every acknowledged terminal update is gone from the agents; the long tasks are still there.
  const c1 = await fleet.until(
    'the agents to hold only the long tasks',
    (c) => c.tasksDone === SHORT_FRAMEWORKS * SHORT_TASKS && c.tasksLive === LONG_TASKS,
    60_000,
  );
  t.is(c1.shutdowns, 0, 'no agent was removed');
  t.is(c1.reregistrations, 0, 'no agent had to re-register');
  t.is(c1.duplicateRuns, 0, 'no task was sent twice to an agent');
  const before = runningByAgent(await getJson(`http://${master.address}/master/state`), longId);
  t.is(
    [...before.values()].reduce((a, b) => a + b, 0),
    LONG_TASKS,
    'the master shows every long task running',
  );

  step('agents agree');
  // kill -9 and restart: every agent re-registers with its tasks.
  await master.kill();
  master.restart();
  const c2 = await fleet.until('every agent to re-register', (c) => c.reregistrations >= AGENTS && c.connected === AGENTS, 120_000);
  t.is(c2.shutdowns, 0, 'no agent was removed after the restart');
  const after = await until('the master to list the long tasks again', 60_000, async () => {
    const s = await getJson(`http://${master.address}/master/state`);
    const m = runningByAgent(s, longId);
    return s.slaves.length === AGENTS && [...m.values()].reduce((a, b) => a + b, 0) === LONG_TASKS ? m : undefined;
  });
  step('re-registered');
  t.deepEqual(new Map([...after].sort()), new Map([...before].sort()), 'each agent has the same long tasks in the master after the restart');
  t.is(fleet.counters().tasksLive, LONG_TASKS);
});
