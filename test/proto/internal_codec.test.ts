import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { ValidationError } from '../../lib/common/errors.ts';
import { resource } from '../../lib/common/resources/index.ts';
import type { AgentToMaster, MasterToAgent } from '../../lib/proto/internal.ts';
import { decodeAgentToMaster, decodeMasterToAgent, encodeAgentToMaster, encodeMasterToAgent } from '../../lib/proto/internal_codec.ts';
import { stringifyWire } from '../../lib/proto/json_text.ts';
import type { AgentInfo, FrameworkInfo, TaskInfo, TaskStatus } from '../../lib/proto/messages.ts';
import * as arb from './arbitraries.ts';

const wire = (v: unknown): unknown => JSON.parse(stringifyWire(v));

function rejects(t: ExecutionContext, fn: () => unknown, field: string, ...texts: string[]): void {
  const e = t.throws(fn, { instanceOf: ValidationError });
  t.is(e.field, field, e.message);
  for (const text of texts) t.true(e.message.includes(text), `'${e.message}' should include '${text}'`);
}

const AGENT: AgentInfo = {
  hostname: 'agent1',
  port: 5051,
  resources: [resource('cpus', 4), resource('ports', [[31000, 32000]])],
  attributes: [{ name: 'rack', type: 'TEXT', text: 'r1' }],
  id: 'M-S0',
  checkpoint: true,
};
const FW: FrameworkInfo = { user: 'nobody', name: 'fw', id: 'M-0000', failoverTimeout: 60, checkpoint: true, role: '*', capabilities: ['PARTITION_AWARE'] };
const TASK: TaskInfo = {
  name: 'sleep',
  taskId: 't1',
  agentId: 'M-S0',
  resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1, role: '*' }],
  command: { uris: [], shell: true, value: 'sleep 100', arguments: [] },
};
const STATUS: TaskStatus = {
  taskId: 't1',
  state: 'TASK_RUNNING',
  source: 'SOURCE_EXECUTOR',
  agentId: 'M-S0',
  executorId: 't1',
  timestamp: 1700000000.5,
  uuid: Buffer.alloc(16, 3).toString('base64'),
};

const AGENT_TO_MASTER: AgentToMaster[] = [
  // REGISTER carries no agent id yet.
  {
    type: 'REGISTER',
    agentInfo: { hostname: AGENT.hostname, port: 5051, resources: AGENT.resources, attributes: AGENT.attributes, checkpoint: true },
    version: '0.1.0',
  },
  {
    type: 'REREGISTER',
    agentId: 'M-S0',
    agentInfo: AGENT,
    version: '0.1.0',
    tasks: [
      { frameworkId: 'M-0000', executorId: 't1', task: TASK, state: 'TASK_RUNNING', latestStatus: STATUS },
      { frameworkId: 'M-0000', task: { ...TASK, taskId: 't2' }, state: 'TASK_STAGING' },
    ],
    executors: [
      { frameworkId: 'M-0000', executorInfo: { executorId: 't1', frameworkId: 'M-0000', resources: [{ name: 'mem', type: 'SCALAR', scalar: 32, role: '*' }] } },
    ],
    frameworks: [FW],
  },
  {
    type: 'REREGISTER',
    agentId: 'M-S0',
    agentInfo: { hostname: 'h', port: 5051, resources: [], attributes: [] },
    version: '0.1.0',
    tasks: [],
    executors: [],
    frameworks: [],
  },
  { type: 'STATUS_UPDATE', frameworkId: 'M-0000', status: STATUS },
  { type: 'EXECUTOR_EXITED', frameworkId: 'M-0000', executorId: 'e1', status: 9 },
  { type: 'EXECUTOR_MESSAGE', frameworkId: 'M-0000', executorId: 'e1', data: 'aGk=' },
  { type: 'PONG' },
  { type: 'UPDATE_OVERSUBSCRIBED', oversubscribed: [resource('cpus', 2, { revocable: true })] },
  { type: 'UPDATE_OVERSUBSCRIBED', oversubscribed: [] },
];

const MASTER_TO_AGENT: MasterToAgent[] = [
  { type: 'REGISTERED', agentId: 'M-S0', masterId: 'M' },
  { type: 'REREGISTERED', agentId: 'M-S0', masterId: 'M' },
  { type: 'RUN_TASK', frameworkId: 'M-0000', frameworkInfo: FW, task: TASK },
  { type: 'KILL_TASK', frameworkId: 'M-0000', taskId: 't1' },
  { type: 'KILL_TASK', frameworkId: 'M-0000', taskId: 't1', killPolicy: { gracePeriodNs: 2_000_000_000 } },
  { type: 'ACKNOWLEDGE', frameworkId: 'M-0000', taskId: 't1', uuid: STATUS.uuid! },
  { type: 'SHUTDOWN_FRAMEWORK', frameworkId: 'M-0000' },
  { type: 'SHUTDOWN_EXECUTOR', frameworkId: 'M-0000', executorId: 'e1' },
  { type: 'FRAMEWORK_MESSAGE', frameworkId: 'M-0000', executorId: 'e1', data: 'aGk=' },
  { type: 'UPDATE_FRAMEWORK', frameworkId: 'M-0000', frameworkInfo: { ...FW, name: 'renamed' } },
  {
    type: 'CHECKPOINT_RESOURCES',
    resources: [
      resource('cpus', 2, { role: 'ads', reservation: { principal: 'ops' } }),
      resource('disk', 64, {
        role: 'ads',
        reservation: { principal: 'ops' },
        disk: { persistence: { id: 'v1' }, volume: { mode: 'RW', containerPath: 'data' } },
      }),
    ],
  },
  { type: 'CHECKPOINT_RESOURCES', resources: [] },
  { type: 'PING' },
  { type: 'SHUTDOWN', message: 'Agent removed by operator' },
];

for (const [i, m] of AGENT_TO_MASTER.entries()) {
  test(`agent → master #${i} ${m.type} round-trips`, (t) => {
    t.deepEqual(decodeAgentToMaster(wire(encodeAgentToMaster(m))), m);
  });
}

for (const [i, m] of MASTER_TO_AGENT.entries()) {
  test(`master → agent #${i} ${m.type} round-trips`, (t) => {
    t.deepEqual(decodeMasterToAgent(wire(encodeMasterToAgent(m))), m);
  });
}

test('the wire form: a type and snake_case fields, ids wrapped, v1 messages embedded', (t) => {
  t.is(
    stringifyWire(encodeMasterToAgent({ type: 'KILL_TASK', frameworkId: 'F', taskId: 't1', killPolicy: { gracePeriodNs: 5 } })),
    '{"type":"KILL_TASK","framework_id":{"value":"F"},"task_id":{"value":"t1"},"kill_policy":{"grace_period":{"nanoseconds":5}}}',
  );
  t.is(
    stringifyWire(encodeMasterToAgent({ type: 'REGISTERED', agentId: 'M-S0', masterId: 'M' })),
    '{"type":"REGISTERED","agent_id":{"value":"M-S0"},"master_id":"M"}',
  );
  t.is(stringifyWire(encodeMasterToAgent({ type: 'CHECKPOINT_RESOURCES', resources: [] })), '{"type":"CHECKPOINT_RESOURCES","resources":[]}');
  const reg = wire(encodeAgentToMaster({ type: 'REGISTER', agentInfo: AGENT, version: '1' })) as { agent_info: Record<string, unknown> };
  t.deepEqual(reg.agent_info, {
    hostname: 'agent1',
    port: 5051,
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 4 }, role: '*' },
      { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 32000 }] }, role: '*' },
    ],
    attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }],
    id: { value: 'M-S0' },
    checkpoint: true,
  });
  const run = stringifyWire(encodeMasterToAgent({ type: 'RUN_TASK', frameworkId: 'F', frameworkInfo: FW, task: TASK }));
  t.true(run.includes('"framework_info":{"user":"nobody","name":"fw","id":{"value":"M-0000"},"failover_timeout":60.0,"checkpoint":true,"role":"*"'));
  t.true(
    run.includes(
      '"task":{"name":"sleep","task_id":{"value":"t1"},"agent_id":{"value":"M-S0"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1.0},"role":"*"}],"command":{"shell":true,"value":"sleep 100"}}',
    ),
  );
});

test('decoding names the offending field', (t) => {
  rejects(t, () => decodeAgentToMaster({}), 'type', 'Missing required fields: type');
  rejects(t, () => decodeAgentToMaster({ type: 'HELLO' }), 'type', "Failed to find enum for 'HELLO'");
  rejects(t, () => decodeMasterToAgent({ type: 'REGISTERED' }), 'agent_id', 'Missing required fields: agent_id, master_id');
  rejects(t, () => decodeMasterToAgent(null), '', 'Not expecting a JSON null');
  rejects(
    t,
    () => decodeAgentToMaster({ type: 'STATUS_UPDATE', framework_id: { value: 'F' }, status: { task_id: { value: 't' }, state: 'TASK_NAPPING' } }),
    'status.state',
    "Failed to find enum for 'TASK_NAPPING'",
  );
  rejects(
    t,
    () =>
      decodeAgentToMaster({
        type: 'REREGISTER',
        agent_id: { value: 'S' },
        agent_info: { hostname: 'h' },
        version: '1',
        tasks: [{ framework_id: { value: 'F' }, state: 'TASK_RUNNING', task: { name: 'x', agent_id: { value: 'S' } } }],
      }),
    'tasks[0].task.task_id',
    'Missing required fields: tasks[0].task.task_id',
  );
  rejects(
    t,
    () => decodeAgentToMaster({ type: 'UPDATE_OVERSUBSCRIBED', oversubscribed: [{ name: 'cpus', type: 'SCALAR', scalar: { value: -2 } }] }),
    "oversubscribed[0] 'cpus'.scalar",
    'negative',
  );
  rejects(
    t,
    () => decodeMasterToAgent({ type: 'CHECKPOINT_RESOURCES', resources: [{ name: 'disk', type: 'SCALAR' }] }),
    "resources[0] 'disk'.scalar",
    'required',
  );
  rejects(
    t,
    () => decodeAgentToMaster({ type: 'EXECUTOR_EXITED', framework_id: { value: 'F' }, executor_id: { value: 'e' }, status: 2 ** 31 }),
    'status',
    'out of range',
  );
  rejects(
    t,
    () =>
      decodeAgentToMaster({ type: 'REGISTER', agent_info: { hostname: 'h', attributes: [{ name: 'z', type: 'SET', set: { item: ['a'] } }] }, version: '1' }),
    'agent_info.attributes[0].type',
    'Bad type for attribute',
  );
  rejects(t, () => decodeMasterToAgent({ type: 'ACKNOWLEDGE', framework_id: { value: 'F' }, task_id: { value: 't' }, uuid: '***' }), 'uuid', 'base64');
});

test('the stout rules apply here too: null unset, numeric strings, single values for lists', (t) => {
  t.deepEqual(decodeAgentToMaster({ type: 'EXECUTOR_EXITED', framework_id: { value: 'F' }, executor_id: { value: 'e' }, status: '15', extra: null }), {
    type: 'EXECUTOR_EXITED',
    frameworkId: 'F',
    executorId: 'e',
    status: 15,
  });
  const m = decodeAgentToMaster({
    type: 'REREGISTER',
    agent_id: { value: 'S' },
    agent_info: { hostname: 'h', checkpoint: null },
    version: '1',
    frameworks: { user: 'u', name: 'n' },
    tasks: null,
  });
  t.like(m, { type: 'REREGISTER', tasks: [], executors: [], frameworks: [{ user: 'u', name: 'n', role: '*' }], agentInfo: { hostname: 'h', port: 5051 } });
});

test('property: RUN_TASK and STATUS_UPDATE of random content round-trip', (t) => {
  fc.assert(
    fc.property(arb.frameworkInfo, arb.taskInfo, (frameworkInfo, task) => {
      const m: MasterToAgent = { type: 'RUN_TASK', frameworkId: 'F', frameworkInfo, task };
      return t.deepEqual(decodeMasterToAgent(wire(encodeMasterToAgent(m))), m);
    }),
    { numRuns: 150 },
  );
  fc.assert(
    fc.property(arb.taskStatus, (status) => {
      const m: AgentToMaster = { type: 'STATUS_UPDATE', frameworkId: 'F', status };
      return t.deepEqual(decodeAgentToMaster(wire(encodeAgentToMaster(m))), m);
    }),
    { numRuns: 150 },
  );
  t.pass();
});
