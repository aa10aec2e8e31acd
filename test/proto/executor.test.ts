import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { ValidationError } from '../../lib/common/errors.ts';
import { resource } from '../../lib/common/resources/index.ts';
import {
  type ApiErrorStage,
  ApiValidationError,
  decodeExecutorCall,
  decodeExecutorEvent,
  encodeExecutorCall,
  encodeExecutorEvent,
  executorEventRecord,
} from '../../lib/proto/executor.ts';
import { stringifyWire } from '../../lib/proto/json_text.ts';
import type { ExecutorEvent, TaskInfo } from '../../lib/proto/messages.ts';
import { decodeRecords } from '../../lib/proto/recordio.ts';
import * as arb from './arbitraries.ts';

const wire = (v: unknown): unknown => JSON.parse(stringifyWire(v));

function refused(t: ExecutionContext, json: unknown, stage: ApiErrorStage, message: string, field?: string): void {
  const e = t.throws(() => decodeExecutorCall(json), { instanceOf: ApiValidationError });
  t.is(e.message, message);
  t.is(e.stage, stage, message);
  if (field !== undefined) t.is(e.field, field);
}

const IDS = { executor_id: { value: 'e1' }, framework_id: { value: 'F-0000' } };
const UUID = Buffer.alloc(16, 9).toString('base64');
const TASK_JSON = {
  name: 'task',
  task_id: { value: 't1' },
  agent_id: { value: 'S0' },
  resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 }, role: '*' }],
  executor: { executor_id: { value: 'e1' }, command: { value: './run', shell: true } },
};
const STATUS_JSON = { task_id: { value: 't1' }, state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR', uuid: UUID };

// ---------------------------------------------------------------------------------------------
// Calls

test("docs' calls decode: SUBSCRIBE (empty and with unacknowledged work), UPDATE, MESSAGE, HEARTBEAT", (t) => {
  t.deepEqual(decodeExecutorCall({ ...IDS, type: 'SUBSCRIBE', subscribe: {} }), {
    type: 'SUBSCRIBE',
    executorId: 'e1',
    frameworkId: 'F-0000',
    subscribe: { unacknowledgedTasks: [], unacknowledgedUpdates: [] },
  });
  const sub = decodeExecutorCall({
    ...IDS,
    type: 'SUBSCRIBE',
    subscribe: { unacknowledged_tasks: [TASK_JSON], unacknowledged_updates: [{ status: STATUS_JSON }] },
  });
  t.like(sub, {
    type: 'SUBSCRIBE',
    subscribe: { unacknowledgedTasks: [{ taskId: 't1', executor: { executorId: 'e1' } }], unacknowledgedUpdates: [{ status: { taskId: 't1', uuid: UUID } }] },
  });
  t.deepEqual(
    decodeExecutorCall({
      ...IDS,
      type: 'UPDATE',
      update: { status: { ...STATUS_JSON, executor_id: { value: 'e1' }, data: 'aGk=', message: 'm', healthy: true, labels: { labels: [{ key: 'k' }] } } },
    }),
    {
      type: 'UPDATE',
      executorId: 'e1',
      frameworkId: 'F-0000',
      update: {
        status: {
          taskId: 't1',
          state: 'TASK_RUNNING',
          source: 'SOURCE_EXECUTOR',
          uuid: UUID,
          executorId: 'e1',
          data: 'aGk=',
          message: 'm',
          healthy: true,
          labels: { labels: [{ key: 'k' }] },
        },
      },
    },
  );
  t.deepEqual(decodeExecutorCall({ ...IDS, type: 'MESSAGE', message: { data: 'aGk=' } }), {
    type: 'MESSAGE',
    executorId: 'e1',
    frameworkId: 'F-0000',
    message: { data: 'aGk=' },
  });
  t.deepEqual(decodeExecutorCall({ ...IDS, type: 'HEARTBEAT' }), { type: 'HEARTBEAT', executorId: 'e1', frameworkId: 'F-0000' });
});

test('executor_id and framework_id are required fields of every call', (t) => {
  refused(t, { type: 'HEARTBEAT' }, 'convert', 'Missing required fields: executor_id, framework_id');
  refused(t, { type: 'SUBSCRIBE', executor_id: { value: 'e1' }, subscribe: {} }, 'convert', 'Missing required fields: framework_id', 'framework_id');
  refused(t, { type: 'SUBSCRIBE', framework_id: { value: 'F' }, executor_id: null, subscribe: {} }, 'convert', 'Missing required fields: executor_id');
  refused(t, { ...IDS, executor_id: 'e1', type: 'HEARTBEAT' }, 'convert', "Not expecting a JSON string for field 'executor_id'");
});

test('type must be present (an unknown name is dropped); UNKNOWN is unsupported (501)', (t) => {
  refused(t, { ...IDS }, 'validate', "Expecting 'type' to be present", 'type');
  refused(t, { ...IDS, type: 'LAUNCH' }, 'validate', "Expecting 'type' to be present");
  refused(t, { ...IDS, type: 2 }, 'convert', "Not expecting a JSON number for field 'type'");
  const e = t.throws(() => decodeExecutorCall({ ...IDS, type: 'UNKNOWN' }), { instanceOf: ApiValidationError });
  t.is(e.stage, 'unsupported');
  t.is(e.code, 'UNSUPPORTED');
  t.true(e instanceof ValidationError);
});

test('SUBSCRIBE: the subscribe object is required even when empty, unless the agent chooses to tolerate it', (t) => {
  refused(t, { ...IDS, type: 'SUBSCRIBE' }, 'validate', "Expecting 'subscribe' to be present", 'subscribe');
  refused(t, { ...IDS, type: 'SUBSCRIBE', subscribe: null }, 'validate', "Expecting 'subscribe' to be present");
  t.deepEqual(decodeExecutorCall({ ...IDS, type: 'SUBSCRIBE' }, { allowMissingSubscribe: true }), {
    type: 'SUBSCRIBE',
    executorId: 'e1',
    frameworkId: 'F-0000',
    subscribe: { unacknowledgedTasks: [], unacknowledgedUpdates: [] },
  });
  refused(
    t,
    { ...IDS, type: 'SUBSCRIBE', subscribe: { unacknowledged_updates: [{}] } },
    'convert',
    'Missing required fields: subscribe.unacknowledged_updates[0].status',
  );
});

test('UPDATE: update present; status.uuid present and 16 bytes; executor_id matching; SOURCE_EXECUTOR; not TASK_STAGING', (t) => {
  const update = (status: Record<string, unknown>) => ({ ...IDS, type: 'UPDATE', update: { status: { ...STATUS_JSON, ...status } } });
  refused(t, { ...IDS, type: 'UPDATE' }, 'validate', "Expecting 'update' to be present", 'update');
  refused(t, { ...IDS, type: 'UPDATE', update: {} }, 'convert', 'Missing required fields: update.status');
  refused(t, update({ uuid: null }), 'validate', "Expecting 'uuid' to be present", 'update.status.uuid');
  refused(t, update({ uuid: Buffer.alloc(15).toString('base64') }), 'validate', 'Not a valid UUID', 'update.status.uuid');
  refused(
    t,
    update({ executor_id: { value: 'e2' } }),
    'validate',
    'ExecutorID in Call: e1 does not match ExecutorID in TaskStatus: e2',
    'update.status.executor_id',
  );
  refused(
    t,
    update({ source: 'SOURCE_AGENT' }),
    'validate',
    "Received Call from executor e1 of framework F-0000 with invalid source, expecting 'SOURCE_EXECUTOR'",
  );
  refused(t, update({ source: null }), 'validate', "Received Call from executor e1 of framework F-0000 with invalid source, expecting 'SOURCE_EXECUTOR'");
  refused(
    t,
    update({ state: 'TASK_STAGING' }),
    'validate',
    'Received TASK_STAGING from executor e1 of framework F-0000 which is not allowed',
    'update.status.state',
  );
  refused(
    t,
    update({ state: 'TASK_BORED' }),
    'convert',
    "Failed to find enum for 'TASK_BORED' in field 'state' (expected one of TASK_STAGING, TASK_STARTING, TASK_RUNNING, TASK_KILLING, TASK_FINISHED, TASK_FAILED, TASK_KILLED, TASK_ERROR, TASK_LOST, TASK_DROPPED, TASK_UNREACHABLE, TASK_GONE, TASK_GONE_BY_OPERATOR, TASK_UNKNOWN)",
  );
});

test('MESSAGE needs message with data', (t) => {
  refused(t, { ...IDS, type: 'MESSAGE' }, 'validate', "Expecting 'message' to be present", 'message');
  refused(t, { ...IDS, type: 'MESSAGE', message: {} }, 'convert', 'Missing required fields: message.data');
  refused(t, { ...IDS, type: 'MESSAGE', message: { data: '%%' } }, 'convert', "Failed to base64-decode field 'data'");
});

test('calls an executor encodes decode back to the same call', (t) => {
  for (const json of [
    { ...IDS, type: 'SUBSCRIBE', subscribe: {} },
    { ...IDS, type: 'SUBSCRIBE', subscribe: { unacknowledged_tasks: [TASK_JSON], unacknowledged_updates: [{ status: STATUS_JSON }] } },
    { ...IDS, type: 'UPDATE', update: { status: STATUS_JSON } },
    { ...IDS, type: 'MESSAGE', message: { data: 'aGk=' } },
    { ...IDS, type: 'HEARTBEAT' },
  ]) {
    const call = decodeExecutorCall(json);
    t.deepEqual(decodeExecutorCall(wire(encodeExecutorCall(call))), call);
  }
  t.deepEqual(wire(encodeExecutorCall(decodeExecutorCall({ ...IDS, type: 'SUBSCRIBE', subscribe: {} }))), { ...IDS, type: 'SUBSCRIBE', subscribe: {} });
});

// ---------------------------------------------------------------------------------------------
// Events

const TASK: TaskInfo = {
  name: 'task',
  taskId: 't1',
  agentId: 'S0',
  resources: [{ name: 'cpus', type: 'SCALAR', scalar: 0.5, role: '*' }],
  command: { uris: [{ value: 'http://x/y.tgz', extract: true }], shell: true, value: 'sleep 5', arguments: [] },
  killPolicy: { gracePeriodNs: 1_000_000_000 },
};

const SUBSCRIBED: ExecutorEvent = {
  type: 'SUBSCRIBED',
  subscribed: {
    executorInfo: { executorId: 't1', frameworkId: 'F-0000', resources: [], command: { uris: [], shell: true, value: 'sleep 5', arguments: [] } },
    frameworkInfo: { user: 'nobody', name: 'fw', id: 'F-0000', failoverTimeout: 0, checkpoint: true, role: '*', capabilities: ['TASK_KILLING_STATE'] },
    agentInfo: {
      hostname: 'agent1',
      port: 5051,
      resources: [resource('cpus', 4), resource('mem', 1024)],
      attributes: [{ name: 'rack', type: 'TEXT', text: 'r1' }],
      id: 'S0',
    },
    containerId: 'c0ffee',
  },
};

test('SUBSCRIBED as Mesos writes it: agent_info.hostname and port, defaults of the embedded messages', (t) => {
  t.is(
    stringifyWire(encodeExecutorEvent(SUBSCRIBED)),
    '{"type":"SUBSCRIBED","subscribed":{"executor_info":{"executor_id":{"value":"t1"},"framework_id":{"value":"F-0000"},"command":{"shell":true,"value":"sleep 5"}},"framework_info":{"user":"nobody","name":"fw","id":{"value":"F-0000"},"failover_timeout":0.0,"checkpoint":true,"role":"*","capabilities":[{"type":"TASK_KILLING_STATE"}]},"agent_info":{"hostname":"agent1","port":5051,"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":4.0},"role":"*"},{"name":"mem","type":"SCALAR","scalar":{"value":1024.0},"role":"*"}],"attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}}],"id":{"value":"S0"}},"container_id":{"value":"c0ffee"}}}',
  );
});

test('every executor event round-trips through its record', (t) => {
  const events: ExecutorEvent[] = [
    SUBSCRIBED,
    { type: 'LAUNCH', launch: { task: TASK } },
    { type: 'KILL', kill: { taskId: 't1' } },
    { type: 'KILL', kill: { taskId: 't1', killPolicy: { gracePeriodNs: 3_000_000_000 } } },
    { type: 'ACKNOWLEDGED', acknowledged: { taskId: 't1', uuid: UUID } },
    { type: 'MESSAGE', message: { data: 'aGk=' } },
    { type: 'ERROR', error: { message: 'oops' } },
    { type: 'SHUTDOWN' },
    { type: 'HEARTBEAT' },
  ];
  for (const e of events) {
    const [payload] = decodeRecords(executorEventRecord(e));
    t.deepEqual(decodeExecutorEvent(JSON.parse(payload!.toString('utf8'))), e);
  }
  t.is(executorEventRecord({ type: 'SHUTDOWN' }).toString('latin1'), '19\n{"type":"SHUTDOWN"}');
  t.is(
    stringifyWire(encodeExecutorEvent({ type: 'KILL', kill: { taskId: 't1', killPolicy: { gracePeriodNs: 3_000_000_000 } } })),
    '{"type":"KILL","kill":{"task_id":{"value":"t1"},"kill_policy":{"grace_period":{"nanoseconds":3000000000}}}}',
  );
});

test("the executor docs' errors: agent_info.host is not agent_info.hostname; framework_info in LAUNCH is ignored", (t) => {
  const doc = {
    type: 'SUBSCRIBED',
    subscribed: {
      executor_info: { executor_id: { value: 'e1' } },
      framework_info: { user: 'u', name: 'n' },
      agent_id: { value: 'S0' },
      agent_info: { host: 'agent1' },
    },
  };
  const e = t.throws(() => decodeExecutorEvent(doc), { instanceOf: ValidationError });
  t.true(e.message.includes('Missing required fields: subscribed.agent_info.hostname'), e.message);
  const launch = decodeExecutorEvent({ type: 'LAUNCH', framework_info: { user: 'u', name: 'n' }, launch: { task: TASK_JSON } });
  t.like(launch, { type: 'LAUNCH', launch: { task: { taskId: 't1' } } });
});

test('LAUNCH_GROUP and UNKNOWN events are refused with stage "unsupported"', (t) => {
  for (const json of [{ type: 'LAUNCH_GROUP', launch_group: { task_group: { tasks: [] } } }, { type: 'UNKNOWN' }, {}]) {
    const e = t.throws(() => decodeExecutorEvent(json), { instanceOf: ApiValidationError });
    t.is(e.stage, 'unsupported');
  }
});

test('a non-ASCII task name is escaped in the LAUNCH record and the byte count is right', (t) => {
  const e: ExecutorEvent = { type: 'LAUNCH', launch: { task: { ...TASK, name: 'tâche №1 ✓ 😀' } } };
  const record = executorEventRecord(e);
  const text = record.toString('latin1');
  const nl = text.indexOf('\n');
  const body = text.slice(nl + 1);
  t.is(Number(text.slice(0, nl)), body.length);
  t.is(Number(text.slice(0, nl)), record.length - nl - 1);
  t.regex(body, /^[\x20-\x7e]*$/);
  t.true(body.includes('"name":"t\\u00e2che \\u21161 \\u2713 \\ud83d\\ude00"'));
  t.deepEqual(decodeExecutorEvent(JSON.parse(body)), e);
});

test('property: LAUNCH and SUBSCRIBED events survive the wire unchanged', (t) => {
  fc.assert(
    fc.property(arb.taskInfo, (task) =>
      t.deepEqual(decodeExecutorEvent(wire(encodeExecutorEvent({ type: 'LAUNCH', launch: { task } }))), { type: 'LAUNCH', launch: { task } }),
    ),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(arb.executorInfo, arb.frameworkInfo, (executorInfo, frameworkInfo) => {
      const e: ExecutorEvent = {
        type: 'SUBSCRIBED',
        subscribed: {
          executorInfo,
          frameworkInfo,
          agentInfo: SUBSCRIBED.type === 'SUBSCRIBED' ? SUBSCRIBED.subscribed.agentInfo : { hostname: 'h', resources: [], attributes: [] },
        },
      };
      return t.deepEqual(decodeExecutorEvent(wire(encodeExecutorEvent(e))), e);
    }),
    { numRuns: 100 },
  );
  t.pass();
});
