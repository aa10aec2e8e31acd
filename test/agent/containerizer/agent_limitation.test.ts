/**
 * The agent's side of a limitation (fake host, fake clock): a container that ends because it
 * went over a limit fails its live tasks with the limitation's reason and text, from the agent
 * (command tasks and a custom executor's tasks alike); a plain end is unchanged.
 */
import test from 'ava';
import { testAgentOptions } from '../../helpers/agent_options.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../../lib/agent/agent.ts';
import type { Container, Containerizer, LaunchSpec, Termination } from '../../../lib/agent/containerizer/containerizer.ts';
import type { Limitation } from '../../../lib/agent/containerizer/isolator.ts';
import { parseResourcesText } from '../../../lib/common/resources/index.ts';
import type { AgentToMaster } from '../../../lib/proto/internal.ts';
import type { ExecutorEvent, FrameworkInfo, TaskInfo } from '../../../lib/proto/messages.ts';
import { ArraySink } from '../../helpers/master_harness.ts';

/** Containers whose end the test decides. */
class EndingContainerizer implements Containerizer {
  readonly launched: LaunchSpec[] = [];
  private readonly ends = new Map<string, (t: Termination) => void>();
  async launch(spec: LaunchSpec): Promise<Container> {
    this.launched.push(spec);
    const termination = new Promise<Termination>((r) => this.ends.set(spec.containerId, r));
    return { containerId: spec.containerId, pid: 1, termination };
  }
  end(containerId: string, t: Termination): void {
    this.ends.get(containerId)?.(t);
  }
  async kill(): Promise<Termination | undefined> {
    return undefined;
  }
  async recover(): Promise<Map<string, Container>> {
    return new Map();
  }
  async usage(): Promise<Record<string, number> | undefined> {
    return undefined;
  }

  readonly isolation: readonly string[] = [];
  readyIsolators(): void {}
  async closeIsolators(): Promise<void> {}
  close(): void {}
}

const fwInfo: FrameworkInfo = { user: 'nobody', name: 'fw', id: 'F1', failoverTimeout: 0, checkpoint: false, role: '*', capabilities: [] };
const task = (id: string, extra: Partial<TaskInfo> = {}): TaskInfo => ({
  name: id,
  taskId: id,
  agentId: 'S0',
  resources: parseResourcesText('cpus:0.1;mem:32').toArray(),
  command: { uris: [], shell: true, value: 'x=a; while true; do x=$x$x; done', arguments: [] },
  ...extra,
});
const oom: Limitation = { resource: 'mem', reason: 'REASON_CONTAINER_LIMITATION_MEMORY', message: 'Memory limit exceeded: Requested: 32MB Maximum Used: 32MB' };

async function setup(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), `corral-test-${process.pid}-agentlim-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const containerizer = new EndingContainerizer();
  const sent: AgentToMaster[] = [];
  const agent = new Agent(testAgentOptions(dir, containerizer));
  agent.connected((m) => sent.push(m));
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  const updates = () => sent.flatMap((m) => (m.type === 'STATUS_UPDATE' ? [m.status] : []));
  const ackAll = async () => {
    for (const u of updates()) await agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: u.taskId, uuid: u.uuid! });
  };
  return { agent, containerizer, updates, ackAll, sent };
}

test('a command task whose container hit its memory limit is TASK_FAILED / REASON_CONTAINER_LIMITATION_MEMORY from the agent', async (t) => {
  const { agent, containerizer, updates, ackAll, sent } = await setup(t);
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo, task: task('hog') });
  const ex = agent.frameworks.get('F1')!.executors.get('hog')!;
  containerizer.end(containerizer.launched[0]!.containerId, { signal: 9, status: 9, killed: true, message: oom.message, limitation: oom });
  await ex.done;
  await ackAll();
  const last = updates().at(-1)!;
  t.like(last, { taskId: 'hog', state: 'TASK_FAILED', reason: 'REASON_CONTAINER_LIMITATION_MEMORY', source: 'SOURCE_AGENT', message: oom.message });
  t.deepEqual(
    updates().map((u) => u.state),
    ['TASK_RUNNING', 'TASK_FAILED'],
    'one terminal update',
  );
  t.like(
    sent.find((m) => m.type === 'EXECUTOR_EXITED'),
    { status: 9 },
  );
});

test('a custom executor over its limit: each of its live tasks fails with the reason', async (t) => {
  const { agent, containerizer, updates, ackAll } = await setup(t);
  const executor = {
    executorId: 'e1',
    resources: parseResourcesText('cpus:0.1;mem:32').toArray(),
    command: { uris: [], shell: true, value: './exec', arguments: [] },
  };
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo, task: task('t1', { command: undefined, executor }) });
  const sink = new ArraySink<ExecutorEvent>();
  await agent.executorSubscribe(
    { type: 'SUBSCRIBE', executorId: 'e1', frameworkId: 'F1', subscribe: { unacknowledgedTasks: [], unacknowledgedUpdates: [] } },
    sink,
  );
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo, task: task('t2', { command: undefined, executor }) });
  const ex = agent.frameworks.get('F1')!.executors.get('e1')!;
  containerizer.end(containerizer.launched[0]!.containerId, { signal: 9, status: 9, killed: true, message: oom.message, limitation: oom });
  await ex.done;
  await ackAll();
  await ackAll();
  t.deepEqual(
    updates().map((u) => [u.taskId, u.state, u.reason]),
    [
      ['t1', 'TASK_FAILED', 'REASON_CONTAINER_LIMITATION_MEMORY'],
      ['t2', 'TASK_FAILED', 'REASON_CONTAINER_LIMITATION_MEMORY'],
    ],
  );
});

test('without a limitation the end maps as before', async (t) => {
  const { agent, containerizer, updates, ackAll } = await setup(t);
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo, task: task('plain') });
  const ex = agent.frameworks.get('F1')!.executors.get('plain')!;
  containerizer.end(containerizer.launched[0]!.containerId, { signal: 9, status: 9 });
  await ex.done;
  await ackAll();
  t.like(updates().at(-1), { state: 'TASK_FAILED', source: 'SOURCE_EXECUTOR', message: 'Command terminated with signal Killed' });
  t.is(updates().at(-1)!.reason, undefined);
});
