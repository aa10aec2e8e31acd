/**
 * The executor client library (lib/executor, `corral/executor`): a custom executor built on it
 * (fixtures/lib_executor.ts) is launched by a real agent for a framework built on the scheduler
 * client library, and runs, answers messages and is killed through them.
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../../lib/common/errors.ts';
import { ExecutorClient } from '../../lib/executor/index.ts';
import { SchedulerClient, offerFits, type Offer } from '../../lib/scheduler/index.ts';
import { USER, startCluster } from '../helpers/cluster.ts';

const fixture = fileURLToPath(new URL('fixtures/lib_executor.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');
const executorCommand = `exec ${JSON.stringify(process.execPath)} --import ${JSON.stringify(tsx)} ${JSON.stringify(fixture)}`;

test('a library executor: launched by the agent, its updates reach the library scheduler and are acknowledged, messages go both ways, a kill ends its task', async (t) => {
  const cluster = await startCluster(t);
  const client = new SchedulerClient({ master: cluster.masterAddress, framework: { name: 'lib-executor', user: USER }, backoff: { initialMs: 50 } });
  t.teardown(() => client.stop());
  await client.start();
  const need = 'cpus:0.2;mem:96';
  const offers: readonly Offer[] = await client.next('offers', (os) => os.some((o) => offerFits(o, need)));
  const offer = offers.find((o) => offerFits(o, need))!;
  const executor = { executorId: 'lib-ex', command: executorCommand, resources: 'cpus:0.1;mem:64' };
  const quickRunning = client.next('update', (s) => s.taskId === 'quick' && s.state === 'TASK_RUNNING', 60_000);
  const quickFinished = client.next('update', (s) => s.taskId === 'quick' && s.state === 'TASK_FINISHED', 60_000);
  const slowRunning = client.next('update', (s) => s.taskId === 'slow' && s.state === 'TASK_RUNNING', 60_000);
  await client.launch(offer, [
    { taskId: 'quick', resources: 'cpus:0.05;mem:16', executor, data: 'hello' },
    { taskId: 'slow', resources: 'cpus:0.05;mem:16', executor, data: 'wait' },
  ]);
  const running = await quickRunning;
  t.is(running.message, 'data=hello');
  t.is(running.source, 'SOURCE_EXECUTOR');
  t.is(running.executorId, 'lib-ex');
  const finished = await quickFinished;
  t.is(finished.message, 'done');
  t.is((await slowRunning).message, 'data=wait');

  const echo = client.next('message', (m) => m.executorId === 'lib-ex');
  await client.message(offer.agentId, 'lib-ex', 'ping');
  t.is((await echo).data.toString('utf8'), 'echo:ping');

  const killed = client.next('update', (s) => s.taskId === 'slow' && s.state === 'TASK_KILLED', 30_000);
  await client.kill('slow');
  t.is((await killed).message, 'killed by the library executor');
  // Acknowledged: the agent's state shows no task of the executor still waiting.
  await cluster.until(
    async () => {
      const state = await cluster.agentJson(0, '/state');
      const f = state.frameworks.find((x: { id: string }) => x.id === client.frameworkId);
      return f === undefined || f.executors.every((e: { tasks: unknown[] }) => e.tasks.length === 0);
    },
    15_000,
    'the tasks to be done on the agent',
  );
  await client.stop({ teardown: true });
});

test('the executor client: the environment it needs is named when missing or bad', async (t) => {
  const env = { MESOS_AGENT_ENDPOINT: '127.0.0.1:1', MESOS_FRAMEWORK_ID: 'f', MESOS_EXECUTOR_ID: 'e' };
  t.throws(() => new ExecutorClient({ env: { ...env, MESOS_AGENT_ENDPOINT: undefined } }), {
    instanceOf: ValidationError,
    message: /^MESOS_AGENT_ENDPOINT: is not set/,
  });
  t.throws(() => new ExecutorClient({ env: { ...env, MESOS_EXECUTOR_ID: '' } }), { message: /^MESOS_EXECUTOR_ID: / });
  t.throws(() => new ExecutorClient({ env: { ...env, MESOS_RECOVERY_TIMEOUT: 'soon' } }), { message: /^MESOS_RECOVERY_TIMEOUT: 'soon' is not a duration/ });
  const c = new ExecutorClient({ env });
  await t.throwsAsync(c.update('', 'TASK_RUNNING'), { message: /^taskId: / });
  await t.throwsAsync(c.update('t', 'RUNNING' as 'TASK_RUNNING'), { message: /^state: / });
  // Nobody listens on port 1: start() says so, naming the agent.
  await t.throwsAsync(c.start(), { code: 'DISCONNECTED', message: /cannot reach the agent at 127\.0\.0\.1:1/ });
  await c.stop();
});
