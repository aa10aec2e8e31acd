/**
 * Executor shutdown as Mesos does it (issue 20): the agent sends the executor SHUTDOWN and leaves
 * it its grace period (ExecutorInfo.shutdown_grace_period, else --executor_shutdown_grace_period,
 * 5 s by default) to end its tasks and exit; only an executor still running after that has its
 * container destroyed. The executors are real processes written here, run as pymesos runs its
 * executors (under the `sh -c` wrapper, not exec'd): they log what they see (SHUTDOWN, SIGTERM,
 * their exit) with the time, to a file the test reads.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type Cluster, type Json, commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';
import { READ_EVENTS } from '../helpers/executor_script.ts';
import { pidAlive } from '../helpers/processes.ts';

/**
 * A v1 executor: it answers LAUNCH with TASK_RUNNING. On SHUTDOWN it logs it and, in MODE=clean,
 * sends TASK_KILLED for its task and exits 0 after 300 ms (as a pymesos executor's shutdown()
 * does); in MODE=ignore it goes on running and ignores SIGTERM too. The log is OUT/<executor id>.log.
 */
const SHUTDOWN_EXECUTOR = `${READ_EVENTS}
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
const env = process.env;
const log = (what) => appendFileSync(env.OUT + '/' + env.MESOS_EXECUTOR_ID + '.log', what + ' ' + Date.now() + '\\n');
log('pid:' + process.pid);
process.on('SIGTERM', () => log('sigterm'));
process.on('exit', (code) => log('exit:' + code));
const url = 'http://' + env.MESOS_AGENT_ENDPOINT + '/api/v1/executor';
const ids = { framework_id: { value: env.MESOS_FRAMEWORK_ID }, executor_id: { value: env.MESOS_EXECUTOR_ID } };
function post(body, onResponse) {
  const data = JSON.stringify({ ...ids, ...body });
  const req = http.request(url, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(data) } }, onResponse);
  req.on('error', () => {});
  req.end(data);
}
const tasks = [];
function update(task, state) {
  post({ type: 'UPDATE', update: { status: { task_id: task.task_id, state, source: 'SOURCE_EXECUTOR', uuid: randomBytes(16).toString('base64') } } }, (res) => res.resume());
}
setInterval(() => {}, 1000);
post({ type: 'SUBSCRIBE', subscribe: {} }, (res) => {
  readEvents(res, (ev) => {
    if (ev.type === 'LAUNCH') { tasks.push(ev.launch.task); update(ev.launch.task, 'TASK_RUNNING'); }
    if (ev.type === 'SHUTDOWN') {
      log('shutdown');
      if (env.MODE === 'clean') {
        for (const t of tasks) update(t, 'TASK_KILLED');
        setTimeout(() => process.exit(0), 300);
      }
    }
  });
  res.on('error', () => {});
});
`;

interface Seen {
  readonly pid: number;
  readonly lines: readonly { what: string; at: number }[];
  at(what: string): number | undefined;
}

function seen(out: string, id: string): Seen {
  let text = '';
  try {
    text = readFileSync(join(out, `${id}.log`), 'utf8');
  } catch {
    // not written yet
  }
  const lines = text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [what = '', at = '0'] = l.split(' ');
      return { what, at: Number(at) };
    });
  const pidLine = lines.find((l) => l.what.startsWith('pid:'));
  return { pid: pidLine ? Number(pidLine.what.slice(4)) : 0, lines, at: (what) => lines.find((l) => l.what === what)?.at };
}

function setup(t: { teardown: (f: () => void) => void }, c: Cluster): { out: string; executor: (id: string, mode: string, extra?: Json) => Json } {
  const out = mkdtempSync(join(tmpdir(), 'corral-test-shutdown-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const file = join(c.workDir, 'shutdown-executor.mjs');
  writeFileSync(file, SHUTDOWN_EXECUTOR);
  const executor = (id: string, mode: string, extra: Json = {}): Json => ({
    executor_id: { value: id },
    name: id,
    // Under the sh -c wrapper, as pymesos's executors run by default.
    command: {
      value: `${JSON.stringify(process.execPath)} ${JSON.stringify(file)}`,
      shell: true,
      environment: {
        variables: [
          { name: 'OUT', value: out },
          { name: 'MODE', value: mode },
        ],
      },
    },
    resources: commandTask('x', 'x').resources,
    ...extra,
  });
  return { out, executor };
}

async function launchOn(fw: Json, executors: Json[]): Promise<void> {
  const [offer] = await fw.offers(15_000);
  const tasks = executors.map((ex) => ({
    ...commandTask(`task-of-${ex.executor_id.value}`, 'unused'),
    command: undefined,
    agent_id: offer.agent_id,
    executor: ex,
  }));
  await fw.accept([offer.id.value], tasks);
  for (const task of tasks) await fw.update(task.task_id.value, 'TASK_RUNNING', 15_000);
}

test('SHUTDOWN of one executor (the scheduler SHUTDOWN call): the executor sees SHUTDOWN, no SIGTERM, ends its task and exits 0 on its own', async (t) => {
  const c = await startCluster(t);
  const { out, executor } = setup(t, c);
  const fw = await c.framework(frameworkInfo({ name: 'shutdown-clean' }));
  await launchOn(fw, [executor('clean', 'clean')]);
  const agentId = fw.events.find((e: Json) => e.type === 'UPDATE').update.status.agent_id.value;
  await fw.must({ type: 'SHUTDOWN', shutdown: { executor_id: { value: 'clean' }, agent_id: { value: agentId } } });
  const killed = await fw.update('task-of-clean', 'TASK_KILLED', 15_000);
  t.is(killed.source, 'SOURCE_EXECUTOR');
  const failure = await fw.waitFor((e: Json) => e.type === 'FAILURE' && e.failure.executor_id?.value === 'clean', 15_000, 'the executor exited');
  t.is(failure.failure.status, 0, 'exit status 0: it exited on its own');
  const s = seen(out, 'clean');
  t.truthy(s.at('shutdown'), 'SHUTDOWN reached the executor');
  t.is(s.at('sigterm'), undefined, 'no SIGTERM with (or after) SHUTDOWN');
  t.truthy(s.at('exit:0'));
  t.true(s.at('exit:0')! - s.at('shutdown')! >= 250, 'it had the time its shutdown took');
  t.false(pidAlive(s.pid));
});

test('TEARDOWN: an executor that ignores SHUTDOWN is destroyed after --executor_shutdown_grace_period (5 s by default), one with ExecutorInfo.shutdown_grace_period 1 s after 1 s', async (t) => {
  const c = await startCluster(t);
  const { out, executor } = setup(t, c);
  const fw = await c.framework(frameworkInfo({ name: 'shutdown-stubborn' }));
  await launchOn(fw, [executor('stubborn', 'ignore'), executor('quick', 'ignore', { shutdown_grace_period: { nanoseconds: 1e9 } })]);
  const before = { stubborn: seen(out, 'stubborn'), quick: seen(out, 'quick') };
  t.true(pidAlive(before.stubborn.pid) && pidAlive(before.quick.pid));
  await fw.teardown();
  const gone: Record<string, number> = {};
  await c.until(
    () => {
      for (const id of ['stubborn', 'quick'] as const) if (gone[id] === undefined && !pidAlive(before[id].pid)) gone[id] = Date.now();
      return Object.keys(gone).length === 2;
    },
    20_000,
    'both executors to be destroyed',
  );
  for (const [id, grace] of [
    ['stubborn', 5000],
    ['quick', 1000],
  ] as const) {
    const s = seen(out, id);
    const shutdownAt = s.at('shutdown');
    t.truthy(shutdownAt, `${id} got SHUTDOWN`);
    const after = gone[id]! - shutdownAt!;
    t.log(`${id}: destroyed ${after} ms after SHUTDOWN (grace ${grace} ms)`);
    // Not before its grace period (the agent's timer starts just before the executor reads SHUTDOWN).
    t.true(after >= grace - 100, `${id}: destroyed ${after} ms after SHUTDOWN, before its ${grace} ms grace`);
    t.true(after < grace + 5000, `${id}: destroyed ${after} ms after SHUTDOWN, long after its ${grace} ms grace`);
    // Nothing signalled it during the grace period.
    const sigterm = s.at('sigterm');
    t.true(sigterm === undefined || sigterm - shutdownAt! >= grace - 100, `${id}: no SIGTERM during the grace period`);
    t.is(s.at('exit:0'), undefined, `${id} did not exit on its own`);
  }
});
