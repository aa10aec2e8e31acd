/**
 * Through the agent, on real cgroups (root): an agent built with `--isolation=cgroups/cpu,cgroups/mem`
 * and `--cgroups_limit_swap` (createContainerizer, unique cgroup root) runs a memory hog under mem:32, which is stopped and
 * reported TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY; a running task's
 * /monitor/statistics.json entry carries the cgroup statistics; a kill removes everything.
 */
import anyTest from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../../lib/agent/agent.ts';
import { createContainerizer } from '../../../lib/agent/containerizer/factory.ts';
import { agentFlagValues } from '../../helpers/agent_flags.ts';
import type { Containerizer } from '../../../lib/agent/containerizer/containerizer.ts';
import { agentRoutes } from '../../../lib/agent/http/routes.ts';
import { AgentPaths } from '../../../lib/agent/paths.ts';
import { FakeClock } from '../../../lib/common/clock.ts';
import { silentLogger } from '../../../lib/common/log.ts';
import { parseResourcesText } from '../../../lib/common/resources/index.ts';
import type { AgentToMaster } from '../../../lib/proto/internal.ts';
import type { FrameworkInfo, TaskInfo } from '../../../lib/proto/messages.ts';
import { HttpServer } from '../../../lib/transport/index.ts';
import { rootOnly } from '../../helpers/root.ts';
import { clearLeftoverCgroups, hostCgroups, removeRoot, testRoot } from '../../linux/cgroups_fixture.ts';
import { killProcessesUnder, until } from '../../linux/containerizer_fixture.ts';

const test = rootOnly(anyTest);
const root = testRoot();
let dir = '';
let containerizer: Containerizer | undefined;
let server: HttpServer | undefined;

test.before(async () => {
  await clearLeftoverCgroups();
  dir = await mkdtemp(join(tmpdir(), `corral-test-${process.pid}-agentcg-`));
});
test.after.always(async () => {
  containerizer?.close();
  await server?.close();
  if (dir) killProcessesUnder(dir);
  await removeRoot(root);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const fwInfo: FrameworkInfo = { user: 'root', name: 'fw', id: 'F1', failoverTimeout: 0, checkpoint: false, role: '*', capabilities: [] };
const task = (id: string, script: string, resources: string): TaskInfo => ({
  name: id,
  taskId: id,
  agentId: 'S0',
  resources: parseResourcesText(resources).toArray(),
  command: { uris: [], shell: true, value: script, arguments: [] },
});

test('a memory hog under mem:32 is TASK_FAILED / REASON_CONTAINER_LIMITATION_MEMORY; statistics come from the cgroups', async (t) => {
  containerizer = createContainerizer(
    agentFlagValues({ isolation: 'cgroups/cpu,cgroups/mem', cgroups_root: root, cgroups_enable_cfs: true, cgroups_limit_swap: true }),
    { cgroups: hostCgroups() },
  );
  const sent: AgentToMaster[] = [];
  const agent = new Agent({
    clock: new FakeClock(),
    logger: silentLogger,
    paths: new AgentPaths(dir),
    containerizer,
    hostname: 'h1',
    ip: '127.0.0.1',
    port: 5051,
    resources: parseResourcesText('cpus:2;mem:1024'),
    attributes: [],
    version: 'test',
    executorRegistrationTimeoutMs: 60_000,
    executorShutdownGracePeriodMs: 5000,
    defaultKillGraceMs: 100,
    executorEnvironment: { PATH: '/usr/bin:/bin' },
    switchUser: false,
  });
  server = new HttpServer({ host: '127.0.0.1', port: 0, maxBodyBytes: 1 << 20, logger: silentLogger });
  agentRoutes(server, { agent, flags: {}, version: 'test', log: silentLogger, masterHostname: () => 'm' }, 1 << 20);
  const port = await server.listen();
  agent.connected((m) => sent.push(m));
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  const updates = () => sent.flatMap((m) => (m.type === 'STATUS_UPDATE' ? [m.status] : []));
  const ack = async () => {
    for (const u of updates()) await agent.onMasterMessage({ type: 'ACKNOWLEDGE', frameworkId: 'F1', taskId: u.taskId, uuid: u.uuid! });
  };

  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo, task: task('busy', 'while :; do :; done', 'cpus:0.5;mem:64') });
  await agent.onMasterMessage({
    type: 'RUN_TASK',
    frameworkId: 'F1',
    frameworkInfo: fwInfo,
    task: task('hog', 'x=a; while true; do x=$x$x; done', 'cpus:0.5;mem:32'),
  });
  const fw = agent.frameworks.get('F1')!;
  const hog = fw.executors.get('hog')!;
  await until(() => fw.executors.get('busy')?.container !== undefined && hog.container !== undefined, 10_000, 'both containers');
  await hog.done;
  await ack();
  await ack();
  const failed = updates().filter((u) => u.taskId === 'hog');
  t.deepEqual(
    failed.map((u) => u.state),
    ['TASK_RUNNING', 'TASK_FAILED'],
  );
  t.like(failed[1], { state: 'TASK_FAILED', reason: 'REASON_CONTAINER_LIMITATION_MEMORY', source: 'SOURCE_AGENT' });
  t.regex(failed[1]!.message ?? '', /^Memory limit exceeded: Requested: 32MB/);

  // /monitor/statistics.json: the running task, with the cgroup figures and its limits.
  let entry: { executor_id: string; statistics: Record<string, number> } | undefined;
  for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const res = await fetch(`http://127.0.0.1:${port}/monitor/statistics.json`);
    const body = (await res.json()) as { executor_id: string; statistics: Record<string, number> }[];
    entry = body.find((e) => e.executor_id === 'busy');
    if ((entry?.statistics.cpus_user_time_secs ?? 0) > 0.05) break;
  }
  t.truthy(entry);
  const st = entry!.statistics;
  t.like(st, { cpus_limit: 0.5, mem_limit_bytes: 64 * 1024 * 1024 });
  for (const k of [
    'timestamp',
    'cpus_user_time_secs',
    'cpus_system_time_secs',
    'cpus_nr_periods',
    'cpus_nr_throttled',
    'cpus_throttled_time_secs',
    'mem_total_bytes',
    'mem_rss_bytes',
    'mem_cache_bytes',
    'mem_swap_bytes',
    'mem_total_memsw_bytes',
    'mem_low_pressure_counter',
    'mem_medium_pressure_counter',
    'mem_critical_pressure_counter',
    'processes',
    'threads',
  ]) {
    t.is(typeof st[k], 'number', k);
  }
  t.true(st.cpus_user_time_secs! > 0.05);
  await agent.onMasterMessage({ type: 'KILL_TASK', frameworkId: 'F1', taskId: 'busy' });
  await fw.completedExecutors.find((e) => e.id === 'busy')?.done;
  await until(() => hostCgroups().children(root, 'freezer').length === 0, 10_000, 'every container cgroup to be removed');
  t.pass();
});
