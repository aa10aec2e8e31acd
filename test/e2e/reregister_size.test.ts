/**
 * A re-registration is not kept from the master by what frameworks put in their tasks: an agent
 * running a task with a 3 MB TaskInfo.data whose executor sent a status with 2 MB of data
 * re-registers after a master restart (the REREGISTER carries no task or status data), and the
 * task stays RUNNING. The agent's last guard, leaving the largest records out of a
 * re-registration the master could not read, is checked on registrationBody itself.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registrationBody } from '../../lib/agent/master_link.ts';
import { recordingLogger } from '../../lib/common/log.ts';
import type { AgentToMaster } from '../../lib/proto/internal.ts';
import { type Json, commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';
import { READ_EVENTS } from '../helpers/executor_script.ts';

/** An executor that answers LAUNCH with TASK_RUNNING carrying 2 MB of data, and KILL with TASK_KILLED. */
const BIG_STATUS_EXECUTOR = `${READ_EVENTS}
import http from 'node:http';
import { randomBytes } from 'node:crypto';
const env = process.env;
const url = 'http://' + env.MESOS_AGENT_ENDPOINT + '/api/v1/executor';
const ids = { framework_id: { value: env.MESOS_FRAMEWORK_ID }, executor_id: { value: env.MESOS_EXECUTOR_ID } };
function post(body, onResponse) {
  const data = JSON.stringify({ ...ids, ...body });
  const req = http.request(url, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(data) } }, onResponse);
  req.on('error', (e) => { console.error('executor:', e.message); process.exit(3); });
  req.end(data);
}
function update(task, state, data) {
  post({ type: 'UPDATE', update: { status: { task_id: task, state, source: 'SOURCE_EXECUTOR', uuid: randomBytes(16).toString('base64'), ...(data ? { data } : {}) } } }, (res) => res.resume());
}
post({ type: 'SUBSCRIBE', subscribe: {} }, (res) => {
  readEvents(res, (ev) => {
    if (ev.type === 'LAUNCH') update(ev.launch.task.task_id, 'TASK_RUNNING', Buffer.alloc(2_000_000, 7).toString('base64'));
    if (ev.type === 'KILL') { update(ev.kill.task_id, 'TASK_KILLED'); setTimeout(() => process.exit(0), 200); }
    if (ev.type === 'SHUTDOWN') process.exit(0);
  });
  res.on('end', () => process.exit(0));
});
`;

test('an agent with a 3 MB TaskInfo.data and a 2 MB status data re-registers after a master restart; the task stays RUNNING', async (t) => {
  const c = await startCluster(t);
  const info = frameworkInfo({ name: 'big-data-fw', failover_timeout: 3600 });
  const fw = await c.framework(info);
  const file = join(c.workDir, 'big-status-executor.mjs');
  writeFileSync(file, BIG_STATUS_EXECUTOR);
  const executor = {
    executor_id: { value: 'big-ex' },
    name: 'big-ex',
    command: { value: `${JSON.stringify(process.execPath)} ${JSON.stringify(file)}`, shell: true },
    resources: commandTask('x', 'x').resources,
  };
  const data = Buffer.alloc(3_000_000, 5).toString('base64');
  await fw.launch([{ ...commandTask('big', 'unused'), command: undefined, executor, data }]);
  const running = await fw.update('big', 'TASK_RUNNING', 20_000);
  t.is(Buffer.from(running.data, 'base64').length, 2_000_000);
  const agentId: string = running.agent_id.value;
  await Promise.all(fw.acks);

  const port = c.masterPort;
  await c.stopMaster();
  await fw.whenClosed();
  await c.until(() => !c.agents[0]!.agent.isConnected, 5000, 'the agent to notice');
  await c.startMaster(port);
  await c.until(
    async () => {
      const s = await c.getJson('/master/slaves');
      return s.slaves.length === 1 && s.slaves[0].id === agentId && s.slaves[0].active === true;
    },
    10_000,
    'the agent to re-register',
  );

  const again = await c.framework(info, { frameworkId: fw.frameworkId });
  const state = await c.getJson('/master/state');
  const task = state.frameworks.find((f: Json) => f.id === fw.frameworkId)?.tasks.find((x: Json) => x.id === 'big');
  t.like(task, { state: 'TASK_RUNNING', slave_id: agentId });
  // The agent still has the task's data: its status updates and executor are untouched.
  await again.kill('big');
  await again.update('big', 'TASK_KILLED', 10_000);
});

const reregister = (executorData: readonly number[]): Extract<AgentToMaster, { type: 'REREGISTER' }> => ({
  type: 'REREGISTER',
  agentId: 'a-S0',
  agentInfo: { hostname: 'h', port: 1, resources: [], attributes: [] },
  version: 'x',
  tasks: executorData.map((_, i) => ({
    frameworkId: 'fw',
    executorId: `ex${i}`,
    task: { name: `t${i}`, taskId: `t${i}`, agentId: 'a-S0', resources: [] },
    state: 'TASK_RUNNING' as const,
  })),
  executors: executorData.map((bytes, i) => ({
    frameworkId: 'fw',
    executorInfo: { executorId: `ex${i}`, resources: [], data: Buffer.alloc(bytes, 1).toString('base64') },
  })),
  frameworks: [{ id: 'fw', user: 'u', name: 'n', failoverTimeout: 0, checkpoint: true, role: '*', capabilities: [] }],
});

test('a re-registration larger than the master reads leaves the largest records out, with a WARN naming each, and keeps the rest', (t) => {
  const log = recordingLogger();
  const body = registrationBody(reregister([30_000, 1_000, 40_000]), log, 50_000);
  t.true(Buffer.byteLength(body) <= 50_000);
  const sent = JSON.parse(body) as Json;
  t.deepEqual(sent.executors.map((e: Json) => e.executor_info.executor_id.value).sort(), ['ex0', 'ex1']);
  t.is(sent.tasks.length, 3);
  const warned = log.records.filter((r) => r.level === 'warn');
  t.is(warned.length, 1);
  t.like(warned[0]!.fields, { frameworkId: 'fw', executorId: 'ex2' });
  t.regex(warned[0]!.msg, /re-registration is larger than the master reads; this executor/);
  // Within the limit, nothing is left out and nothing is logged.
  const small = recordingLogger();
  t.is(JSON.parse(registrationBody(reregister([1_000]), small, 50_000)).executors.length, 1);
  t.is(small.records.length, 0);
});
