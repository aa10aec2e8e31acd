import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { ValidationError } from '../../lib/common/errors.ts';
import { resource } from '../../lib/common/resources/index.ts';
import { masterInfoIp } from '../../lib/proto/common_messages.ts';
import { stringifyWire } from '../../lib/proto/json_text.ts';
import type { SchedulerCall, SchedulerEvent } from '../../lib/proto/messages.ts';
import { decodeRecords } from '../../lib/proto/recordio.ts';
import {
  type ApiErrorStage,
  ApiValidationError,
  decodeSchedulerCall,
  decodeSchedulerEvent,
  encodeSchedulerCall,
  encodeSchedulerEvent,
  MAX_RECONCILE_TASKS,
  schedulerEventRecord,
} from '../../lib/proto/scheduler.ts';
import * as arb from './arbitraries.ts';

const wire = (v: unknown): unknown => JSON.parse(stringifyWire(v));

/** Expect the call to be refused with exactly Mesos's `message`, at `stage`, about `field`. */
function refused(t: ExecutionContext, json: unknown, stage: ApiErrorStage, message: string, field?: string): void {
  const e = t.throws(() => decodeSchedulerCall(json), { instanceOf: ApiValidationError });
  t.true(e instanceof ValidationError);
  t.is(e.message, message);
  t.is(e.stage, stage, message);
  if (field !== undefined) t.is(e.field, field);
}

const FW = { value: '0b1f-0000' };
const UUID = 'q83vEjRWeJq83vEjRWeJqw==';
const TASK = {
  name: 'task',
  task_id: { value: 't1' },
  agent_id: { value: '0b1f-S0' },
  resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: '*' }],
  command: { value: 'sleep 1' },
};

// ---------------------------------------------------------------------------------------------
// Every Call example of Mesos's scheduler API docs (their `…` and `//` remarks replaced by values)

const CALL_EXAMPLES: Record<string, unknown> = {
  SUBSCRIBE: {
    type: 'SUBSCRIBE',
    framework_id: FW,
    subscribe: {
      framework_info: {
        user: 'root',
        name: 'my-fw',
        id: FW,
        failover_timeout: 604800,
        checkpoint: false,
        role: '*',
        hostname: 'sched-host',
        principal: 'p',
        webui_url: 'http://sched-host:8080',
        capabilities: [{ type: 'REVOCABLE_RESOURCES' }],
        labels: { labels: [{ key: 'k', value: 'v' }] },
      },
      suppressed_roles: ['r2'],
      offer_constraints: { role_constraints: {} },
    },
  },
  TEARDOWN: { framework_id: FW, type: 'TEARDOWN' },
  ACCEPT: {
    framework_id: FW,
    type: 'ACCEPT',
    accept: { offer_ids: [{ value: '0b1f-O12' }], operations: [{ type: 'LAUNCH', launch: { task_infos: [TASK] } }], filters: { refuse_seconds: 5.0 } },
  },
  DECLINE: { framework_id: FW, type: 'DECLINE', decline: { offer_ids: [{ value: '0b1f-O12' }], filters: { refuse_seconds: 5.0 } } },
  REVIVE: { framework_id: FW, type: 'REVIVE' },
  REVIVE_ROLES: { framework_id: FW, type: 'REVIVE', revive: { roles: ['r1'] } },
  KILL: {
    framework_id: FW,
    type: 'KILL',
    kill: { task_id: { value: 't1' }, agent_id: { value: '0b1f-S0' }, kill_policy: { grace_period: { nanoseconds: 5000000000 } } },
  },
  SHUTDOWN: { framework_id: FW, type: 'SHUTDOWN', shutdown: { executor_id: { value: 'e1' }, agent_id: { value: '0b1f-S0' } } },
  ACKNOWLEDGE: { framework_id: FW, type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: '0b1f-S0' }, task_id: { value: 't1' }, uuid: UUID } },
  RECONCILE: { framework_id: FW, type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 't1' }, agent_id: { value: '0b1f-S0' } }] } },
  MESSAGE: { framework_id: FW, type: 'MESSAGE', message: { agent_id: { value: '0b1f-S0' }, executor_id: { value: 'e1' }, data: 'aGk=' } },
  REQUEST: {
    framework_id: FW,
    type: 'REQUEST',
    request: { requests: [{ agent_id: { value: '0b1f-S0' }, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }] }] },
  },
  SUPPRESS: { framework_id: FW, type: 'SUPPRESS' },
  SUPPRESS_ROLES: { framework_id: FW, type: 'SUPPRESS', suppress: { roles: ['r1'] } },
  ACCEPT_INVERSE_OFFERS: { framework_id: FW, type: 'ACCEPT_INVERSE_OFFERS', accept_inverse_offers: { inverse_offer_ids: [{ value: 'i1' }], filters: {} } },
  DECLINE_INVERSE_OFFERS: { framework_id: FW, type: 'DECLINE_INVERSE_OFFERS', decline_inverse_offers: { inverse_offer_ids: [{ value: 'i1' }] } },
  ACKNOWLEDGE_OPERATION_STATUS: {
    framework_id: FW,
    type: 'ACKNOWLEDGE_OPERATION_STATUS',
    acknowledge_operation_status: { agent_id: { value: '0b1f-S0' }, resource_provider_id: { value: 'rp' }, uuid: UUID, operation_id: { value: 'op1' } },
  },
  RECONCILE_OPERATIONS: {
    framework_id: FW,
    type: 'RECONCILE_OPERATIONS',
    reconcile_operations: { operations: [{ operation_id: { value: 'op1' }, agent_id: { value: '0b1f-S0' }, resource_provider_id: { value: 'rp' } }] },
  },
  UPDATE_FRAMEWORK: {
    framework_id: FW,
    type: 'UPDATE_FRAMEWORK',
    update_framework: { framework_info: { user: 'root', name: 'my-fw', id: FW }, suppressed_roles: ['r2'] },
  },
};

const EXPECTED: Record<string, SchedulerCall> = {
  SUBSCRIBE: {
    type: 'SUBSCRIBE',
    frameworkId: FW.value,
    subscribe: {
      frameworkInfo: {
        user: 'root',
        name: 'my-fw',
        id: FW.value,
        failoverTimeout: 604800,
        checkpoint: false,
        role: '*',
        hostname: 'sched-host',
        principal: 'p',
        webuiUrl: 'http://sched-host:8080',
        capabilities: ['REVOCABLE_RESOURCES'],
        labels: { labels: [{ key: 'k', value: 'v' }] },
      },
      suppressedRoles: ['r2'],
    },
  },
  TEARDOWN: { type: 'TEARDOWN', frameworkId: FW.value },
  ACCEPT: {
    type: 'ACCEPT',
    frameworkId: FW.value,
    accept: {
      offerIds: ['0b1f-O12'],
      operations: [
        {
          type: 'LAUNCH',
          launch: {
            taskInfos: [
              {
                name: 'task',
                taskId: 't1',
                agentId: '0b1f-S0',
                resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1, role: '*' }],
                command: { uris: [], shell: true, value: 'sleep 1', arguments: [] },
              },
            ],
          },
        },
      ],
      filters: { refuseSeconds: 5 },
    },
  },
  DECLINE: { type: 'DECLINE', frameworkId: FW.value, decline: { offerIds: ['0b1f-O12'], filters: { refuseSeconds: 5 } } },
  REVIVE: { type: 'REVIVE', frameworkId: FW.value },
  REVIVE_ROLES: { type: 'REVIVE', frameworkId: FW.value, revive: { roles: ['r1'] } },
  KILL: { type: 'KILL', frameworkId: FW.value, kill: { taskId: 't1', agentId: '0b1f-S0', killPolicy: { gracePeriodNs: 5_000_000_000 } } },
  SHUTDOWN: { type: 'SHUTDOWN', frameworkId: FW.value, shutdown: { executorId: 'e1', agentId: '0b1f-S0' } },
  ACKNOWLEDGE: { type: 'ACKNOWLEDGE', frameworkId: FW.value, acknowledge: { agentId: '0b1f-S0', taskId: 't1', uuid: UUID } },
  RECONCILE: { type: 'RECONCILE', frameworkId: FW.value, reconcile: { tasks: [{ taskId: 't1', agentId: '0b1f-S0' }] } },
  MESSAGE: { type: 'MESSAGE', frameworkId: FW.value, message: { agentId: '0b1f-S0', executorId: 'e1', data: 'aGk=' } },
  REQUEST: {
    type: 'REQUEST',
    frameworkId: FW.value,
    request: { requests: [{ agent_id: { value: '0b1f-S0' }, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }] }] },
  },
  SUPPRESS: { type: 'SUPPRESS', frameworkId: FW.value },
  SUPPRESS_ROLES: { type: 'SUPPRESS', frameworkId: FW.value, suppress: { roles: ['r1'] } },
  ACCEPT_INVERSE_OFFERS: { type: 'ACCEPT_INVERSE_OFFERS', frameworkId: FW.value },
  DECLINE_INVERSE_OFFERS: { type: 'DECLINE_INVERSE_OFFERS', frameworkId: FW.value },
  ACKNOWLEDGE_OPERATION_STATUS: { type: 'UNSUPPORTED', frameworkId: FW.value, name: 'ACKNOWLEDGE_OPERATION_STATUS' },
  RECONCILE_OPERATIONS: { type: 'UNSUPPORTED', frameworkId: FW.value, name: 'RECONCILE_OPERATIONS' },
  UPDATE_FRAMEWORK: { type: 'UNSUPPORTED', frameworkId: FW.value, name: 'UPDATE_FRAMEWORK' },
};

for (const [name, json] of Object.entries(CALL_EXAMPLES)) {
  test(`documented ${name} call decodes`, (t) => {
    t.deepEqual(decodeSchedulerCall(json), EXPECTED[name]);
  });
}

test('calls a client encodes decode back to the same call', (t) => {
  for (const [name, json] of Object.entries(CALL_EXAMPLES)) {
    const call = decodeSchedulerCall(json);
    if (call.type === 'UNSUPPORTED') continue;
    t.deepEqual(decodeSchedulerCall(wire(encodeSchedulerCall(call))), call, name);
  }
  t.deepEqual(wire(encodeSchedulerCall(decodeSchedulerCall(CALL_EXAMPLES.KILL))), CALL_EXAMPLES.KILL);
  t.deepEqual(wire(encodeSchedulerCall(decodeSchedulerCall(CALL_EXAMPLES.ACKNOWLEDGE))), CALL_EXAMPLES.ACKNOWLEDGE);
});

// ---------------------------------------------------------------------------------------------
// Generic validation (Mesos's validation::scheduler::call::validate)

test('type must be present; an unknown name is dropped by stout and so is absent', (t) => {
  refused(t, { framework_id: FW }, 'validate', "Expecting 'type' to be present", 'type');
  refused(t, { framework_id: FW, type: null }, 'validate', "Expecting 'type' to be present");
  refused(t, { framework_id: FW, type: 'LAUNCH_ROCKETS' }, 'validate', "Expecting 'type' to be present");
  refused(t, { type: 'subscribe', subscribe: { framework_info: { user: 'u', name: 'n' } } }, 'validate', "Expecting 'type' to be present");
  // Conversion comes first: a broken sub-message is reported before the missing type.
  refused(t, { type: 'subscribe', subscribe: {} }, 'convert', 'Missing required fields: subscribe.framework_info');
});

test('an enum given as a number is a conversion error', (t) => {
  refused(t, { framework_id: FW, type: 3 }, 'convert', "Not expecting a JSON number for field 'type'", 'type');
  refused(
    t,
    { framework_id: FW, type: 'ACCEPT', accept: { offer_ids: [], operations: [{ type: 1 }] } },
    'convert',
    "Not expecting a JSON number for field 'type'",
    'accept.operations[0].type',
  );
});

test('UNKNOWN and the known but unimplemented types are UNSUPPORTED (501), after framework_id is checked', (t) => {
  t.deepEqual(decodeSchedulerCall({ framework_id: FW, type: 'UNKNOWN' }), { type: 'UNSUPPORTED', frameworkId: FW.value, name: 'UNKNOWN' });
  refused(t, { type: 'UNKNOWN' }, 'validate', "Expecting 'framework_id' to be present", 'framework_id');
  refused(t, { framework_id: FW, type: 'UPDATE_FRAMEWORK' }, 'validate', "Expecting 'update_framework' to be present");
  refused(t, { framework_id: FW, type: 'ACKNOWLEDGE_OPERATION_STATUS' }, 'validate', "Expecting 'acknowledge_operation_status' to be present");
  refused(t, { framework_id: FW, type: 'RECONCILE_OPERATIONS' }, 'validate', "Expecting 'reconcile_operations' to be present");
  refused(
    t,
    { framework_id: FW, type: 'ACKNOWLEDGE_OPERATION_STATUS', acknowledge_operation_status: { uuid: UUID } },
    'convert',
    'Missing required fields: acknowledge_operation_status.operation_id',
  );
});

test('every type but SUBSCRIBE needs framework_id; each needs its sub-message where Mesos does', (t) => {
  for (const type of [
    'TEARDOWN',
    'ACCEPT',
    'DECLINE',
    'REVIVE',
    'KILL',
    'SHUTDOWN',
    'ACKNOWLEDGE',
    'RECONCILE',
    'MESSAGE',
    'REQUEST',
    'SUPPRESS',
    'ACCEPT_INVERSE_OFFERS',
  ]) {
    refused(t, { type }, 'validate', "Expecting 'framework_id' to be present", 'framework_id');
  }
  const keyed: Record<string, string> = {
    ACCEPT: 'accept',
    DECLINE: 'decline',
    KILL: 'kill',
    SHUTDOWN: 'shutdown',
    ACKNOWLEDGE: 'acknowledge',
    RECONCILE: 'reconcile',
    MESSAGE: 'message',
    REQUEST: 'request',
    ACCEPT_INVERSE_OFFERS: 'accept_inverse_offers',
    DECLINE_INVERSE_OFFERS: 'decline_inverse_offers',
  };
  for (const [type, key] of Object.entries(keyed)) {
    refused(t, { framework_id: FW, type }, 'validate', `Expecting '${key}' to be present`, key);
    refused(t, { framework_id: FW, type, [key]: null }, 'validate', `Expecting '${key}' to be present`, key);
  }
  // TEARDOWN, REVIVE and SUPPRESS need nothing more; an empty sub-message is fine where allowed.
  t.deepEqual(decodeSchedulerCall({ framework_id: FW, type: 'REVIVE', revive: {} }), { type: 'REVIVE', frameworkId: FW.value, revive: {} });
  t.deepEqual(decodeSchedulerCall({ framework_id: FW, type: 'RECONCILE', reconcile: {} }), {
    type: 'RECONCILE',
    frameworkId: FW.value,
    reconcile: { tasks: [] },
  });
  t.deepEqual(decodeSchedulerCall({ framework_id: FW, type: 'ACCEPT', accept: {} }), {
    type: 'ACCEPT',
    frameworkId: FW.value,
    accept: { offerIds: [], operations: [] },
  });
});

test('SUBSCRIBE: subscribe present, framework_id equal to framework_info.id (an unset one reads as "")', (t) => {
  const info = { user: 'u', name: 'n' };
  refused(t, { type: 'SUBSCRIBE' }, 'validate', "Expecting 'subscribe' to be present", 'subscribe');
  refused(t, { type: 'SUBSCRIBE', subscribe: {} }, 'convert', 'Missing required fields: subscribe.framework_info', 'subscribe.framework_info');
  refused(
    t,
    { type: 'SUBSCRIBE', subscribe: { framework_info: {} } },
    'convert',
    'Missing required fields: subscribe.framework_info.user, subscribe.framework_info.name',
  );
  refused(
    t,
    { type: 'SUBSCRIBE', framework_id: { value: 'a' }, subscribe: { framework_info: { ...info, id: { value: 'b' } } } },
    'validate',
    "'framework_id' differs from 'subscribe.framework_info.id'",
    'framework_id',
  );
  refused(
    t,
    { type: 'SUBSCRIBE', framework_id: { value: 'a' }, subscribe: { framework_info: info } },
    'validate',
    "'framework_id' differs from 'subscribe.framework_info.id'",
  );
  refused(
    t,
    { type: 'SUBSCRIBE', subscribe: { framework_info: { ...info, id: { value: 'b' } } } },
    'validate',
    "'framework_id' differs from 'subscribe.framework_info.id'",
  );
  t.deepEqual(decodeSchedulerCall({ type: 'SUBSCRIBE', subscribe: { framework_info: info } }), {
    type: 'SUBSCRIBE',
    subscribe: { frameworkInfo: { user: 'u', name: 'n', failoverTimeout: 0, checkpoint: false, role: '*', capabilities: [] } },
  });
  // Both set to "" are equal, as in Mesos.
  t.is(decodeSchedulerCall({ type: 'SUBSCRIBE', framework_id: { value: '' }, subscribe: { framework_info: info } }).type, 'SUBSCRIBE');
});

test('ACKNOWLEDGE: uuid must hold exactly 16 bytes (Mesos: "Not a valid UUID"), and be base64', (t) => {
  const ack = (uuid: unknown) => ({ framework_id: FW, type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: 'S0' }, task_id: { value: 't1' }, uuid } });
  refused(t, ack(Buffer.alloc(15, 1).toString('base64')), 'validate', 'Not a valid UUID', 'acknowledge.uuid');
  refused(t, ack(Buffer.alloc(17, 1).toString('base64')), 'validate', 'Not a valid UUID', 'acknowledge.uuid');
  refused(t, ack(''), 'validate', 'Not a valid UUID');
  refused(t, ack('not base64!'), 'convert', "Failed to base64-decode field 'uuid'", 'acknowledge.uuid');
  refused(t, ack(null), 'convert', 'Missing required fields: acknowledge.uuid');
  refused(
    t,
    { framework_id: FW, type: 'ACKNOWLEDGE', acknowledge: {} },
    'convert',
    'Missing required fields: acknowledge.agent_id, acknowledge.task_id, acknowledge.uuid',
  );
  t.is(decodeSchedulerCall(ack(Buffer.alloc(16, 1).toString('base64'))).type, 'ACKNOWLEDGE');
});

test("REQUEST: the nesting is request.requests; the docs' top-level `requests` is refused as Mesos refuses it", (t) => {
  refused(t, { framework_id: FW, type: 'REQUEST', requests: [{ agent_id: { value: 'S0' } }] }, 'validate', "Expecting 'request' to be present");
  refused(
    t,
    { framework_id: FW, type: 'REQUEST', request: { requests: [{ agent_id: {} }] } },
    'convert',
    'Missing required fields: request.requests[0].agent_id.value',
  );
  t.deepEqual(decodeSchedulerCall({ framework_id: FW, type: 'REQUEST', request: {} }), { type: 'REQUEST', frameworkId: FW.value, request: { requests: [] } });
});

// ---------------------------------------------------------------------------------------------
// The stout reading rules, seen through calls

test('null fields are unset; unknown keys are ignored; camelCase is not recognised', (t) => {
  t.deepEqual(
    decodeSchedulerCall({
      framework_id: FW,
      type: 'KILL',
      subscribe: null,
      accept: null,
      kill: { task_id: { value: 't1' }, agent_id: null, kill_policy: null, extra: 1 },
      frameworkId: 'ignored',
    }),
    { type: 'KILL', frameworkId: FW.value, kill: { taskId: 't1' } },
  );
  refused(t, { frameworkId: FW, type: 'TEARDOWN' }, 'validate', "Expecting 'framework_id' to be present");
  refused(t, { framework_id: FW, type: 'KILL', kill: { taskId: { value: 't1' } } }, 'convert', 'Missing required fields: kill.task_id');
});

test('integers may be numeric strings; doubles may be strings; bools may be "true"/"false"', (t) => {
  const call = decodeSchedulerCall({
    framework_id: FW,
    type: 'KILL',
    kill: { task_id: { value: 't1' }, kill_policy: { grace_period: { nanoseconds: '5000000000' } } },
  });
  t.deepEqual(call, { type: 'KILL', frameworkId: FW.value, kill: { taskId: 't1', killPolicy: { gracePeriodNs: 5_000_000_000 } } });
  const decline = decodeSchedulerCall({ framework_id: FW, type: 'DECLINE', decline: { offer_ids: [], filters: { refuse_seconds: '3600' } } });
  t.deepEqual(decline, { type: 'DECLINE', frameworkId: FW.value, decline: { offerIds: [], filters: { refuseSeconds: 3600 } } });
  const sub = decodeSchedulerCall({
    type: 'SUBSCRIBE',
    subscribe: { framework_info: { user: 'u', name: 'n', checkpoint: 'true', failover_timeout: 'Infinity' } },
  });
  t.like(sub, { subscribe: { frameworkInfo: { checkpoint: true, failoverTimeout: Infinity } } });
  refused(
    t,
    { framework_id: FW, type: 'KILL', kill: { task_id: { value: 't1' }, kill_policy: { grace_period: { nanoseconds: 'soon' } } } },
    'convert',
    "Failed to parse 'soon' as a JSON number for field 'nanoseconds'",
  );
});

test('a non-array value for a repeated field is taken as one element', (t) => {
  const call = decodeSchedulerCall({
    framework_id: FW,
    type: 'ACCEPT',
    accept: { offer_ids: { value: 'o1' }, operations: { type: 'LAUNCH', launch: { task_infos: TASK } } },
  });
  t.is(call.type, 'ACCEPT');
  if (call.type !== 'ACCEPT') return;
  t.deepEqual(call.accept.offerIds, ['o1']);
  t.is(call.accept.operations.length, 1);
  t.like(call.accept.operations[0], { type: 'LAUNCH', launch: { taskInfos: [{ taskId: 't1' }] } });
  t.like(decodeSchedulerCall({ framework_id: FW, type: 'SUPPRESS', suppress: { roles: 'r1' } }), { suppress: { roles: ['r1'] } });
});

test('type mismatches name the field as stout does', (t) => {
  refused(t, { framework_id: 'F', type: 'TEARDOWN' }, 'convert', "Not expecting a JSON string for field 'framework_id'", 'framework_id');
  refused(
    t,
    { framework_id: FW, type: 'DECLINE', decline: { offer_ids: ['o1'] } },
    'convert',
    "Not expecting a JSON string for field 'offer_ids'",
    'decline.offer_ids[0]',
  );
  refused(
    t,
    { framework_id: FW, type: 'MESSAGE', message: { agent_id: { value: 'a' }, executor_id: { value: 1 }, data: 'aGk=' } },
    'convert',
    "Not expecting a JSON number for field 'value'",
    'message.executor_id.value',
  );
  refused(t, [], 'convert', 'Expecting a JSON object');
});

test('sub-messages of other types are parsed too, as stout parses every field it knows', (t) => {
  refused(t, { framework_id: FW, type: 'TEARDOWN', kill: {} }, 'convert', 'Missing required fields: kill.task_id');
  refused(t, { framework_id: FW, type: 'REVIVE', accept: { offer_ids: 'x' } }, 'convert', "Not expecting a JSON string for field 'offer_ids'");
});

test('operations: resources are wire-checked only; types other than the five are UNSUPPORTED', (t) => {
  const call = decodeSchedulerCall({
    framework_id: FW,
    type: 'ACCEPT',
    accept: {
      offer_ids: [{ value: 'o1' }],
      operations: [
        { type: 'RESERVE', reserve: { resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: -1 }, role: '*', reservation: {} }] } },
        { type: 'LAUNCH_GROUP', launch_group: {} },
        { type: 'SHRINK_VOLUME' },
        { type: 'WARP' },
      ],
    },
  });
  t.deepEqual(call.type === 'ACCEPT' && call.accept.operations, [
    { type: 'RESERVE', reserve: { resources: [{ name: 'cpus', type: 'SCALAR', scalar: -1, role: '*', reservation: {} }] } },
    { type: 'UNSUPPORTED', name: 'LAUNCH_GROUP' },
    { type: 'UNSUPPORTED', name: 'SHRINK_VOLUME' },
    { type: 'UNSUPPORTED', name: 'WARP' },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Events: exact text

test('HEARTBEAT is exactly the 20-byte record `20\\n{"type":"HEARTBEAT"}`', (t) => {
  t.is(schedulerEventRecord({ type: 'HEARTBEAT' }).toString('latin1'), '20\n{"type":"HEARTBEAT"}');
});

test('SUBSCRIBED prints heartbeat_interval_seconds 15.0 and the master_info', (t) => {
  const e: SchedulerEvent = {
    type: 'SUBSCRIBED',
    subscribed: {
      frameworkId: '0b1f-0000',
      heartbeatIntervalSeconds: 15,
      masterInfo: {
        id: '0b1f',
        ip: masterInfoIp('127.0.0.1'),
        port: 5050,
        pid: 'master@127.0.0.1:5050',
        hostname: 'localhost',
        version: '1.11.0',
        address: { hostname: 'localhost', ip: '127.0.0.1', port: 5050 },
      },
    },
  };
  const text = stringifyWire(encodeSchedulerEvent(e));
  t.is(
    text,
    '{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"0b1f-0000"},"heartbeat_interval_seconds":15.0,"master_info":{"id":"0b1f","ip":16777343,"port":5050,"pid":"master@127.0.0.1:5050","hostname":"localhost","version":"1.11.0","address":{"hostname":"localhost","ip":"127.0.0.1","port":5050}}}}',
  );
  const record = schedulerEventRecord(e);
  t.is(record.toString('latin1'), `${text.length}\n${text}`);
  t.deepEqual(decodeSchedulerEvent(JSON.parse(text)), e);
});

test('OFFERS is nested offers.offers; scalars print with a fraction; empty lists are left out', (t) => {
  const e: SchedulerEvent = {
    type: 'OFFERS',
    offers: {
      offers: [
        {
          id: 'O1',
          frameworkId: 'F',
          agentId: 'S0',
          hostname: 'agent1',
          url: { scheme: 'http', address: { hostname: 'agent1', ip: '10.0.0.11', port: 5051 }, path: '/slave(1)' },
          resources: [resource('cpus', 4), resource('ports', [[31000, 32000]])],
          attributes: [{ name: 'rack', type: 'TEXT', text: 'r1' }],
          executorIds: [],
        },
      ],
    },
  };
  t.is(
    stringifyWire(encodeSchedulerEvent(e)),
    '{"type":"OFFERS","offers":{"offers":[{"id":{"value":"O1"},"framework_id":{"value":"F"},"agent_id":{"value":"S0"},"hostname":"agent1","url":{"scheme":"http","address":{"hostname":"agent1","ip":"10.0.0.11","port":5051},"path":"/slave(1)"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":4.0},"role":"*"},{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]},"role":"*"}],"attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}}]}]}}',
  );
});

test('UPDATE, RESCIND, MESSAGE, FAILURE, ERROR as Mesos writes them', (t) => {
  const cases: [SchedulerEvent, string][] = [
    [{ type: 'RESCIND', rescind: { offerId: 'O1' } }, '{"type":"RESCIND","rescind":{"offer_id":{"value":"O1"}}}'],
    [
      {
        type: 'UPDATE',
        update: {
          status: {
            taskId: 't1',
            state: 'TASK_LOST',
            source: 'SOURCE_MASTER',
            reason: 'REASON_RECONCILIATION',
            message: 'Reconciliation: Latest task state',
            timestamp: 1724420000,
          },
        },
      },
      '{"type":"UPDATE","update":{"status":{"task_id":{"value":"t1"},"state":"TASK_LOST","message":"Reconciliation: Latest task state","source":"SOURCE_MASTER","reason":"REASON_RECONCILIATION","timestamp":1724420000.0}}}',
    ],
    [
      { type: 'MESSAGE', message: { agentId: 'S0', executorId: 'e1', data: 'aGk=' } },
      '{"type":"MESSAGE","message":{"agent_id":{"value":"S0"},"executor_id":{"value":"e1"},"data":"aGk="}}',
    ],
    [{ type: 'FAILURE', failure: { agentId: 'S0' } }, '{"type":"FAILURE","failure":{"agent_id":{"value":"S0"}}}'],
    [
      { type: 'FAILURE', failure: { agentId: 'S0', executorId: 'e1', status: 256 } },
      '{"type":"FAILURE","failure":{"agent_id":{"value":"S0"},"executor_id":{"value":"e1"},"status":256}}',
    ],
    [{ type: 'ERROR', error: { message: 'Framework failed over' } }, '{"type":"ERROR","error":{"message":"Framework failed over"}}'],
  ];
  for (const [e, text] of cases) {
    t.is(stringifyWire(encodeSchedulerEvent(e)), text);
    t.deepEqual(decodeSchedulerEvent(JSON.parse(text)), e);
  }
});

test('non-ASCII text is escaped and the record counts bytes right', (t) => {
  const e: SchedulerEvent = { type: 'UPDATE', update: { status: { taskId: 'tâche-✓', state: 'TASK_FAILED', message: 'échec 😀 – “quoted”\n' } } };
  const record = schedulerEventRecord(e);
  const text = record.toString('latin1');
  const nl = text.indexOf('\n');
  const body = text.slice(nl + 1);
  t.is(Number(text.slice(0, nl)), record.length - nl - 1);
  t.regex(body, /^[\x20-\x7e]*$/, 'pure ASCII, one line');
  t.true(body.includes('"value":"t\\u00e2che-\\u2713"'));
  t.true(body.includes('\\ud83d\\ude00'));
  const [one] = decodeRecords(record);
  t.deepEqual(decodeSchedulerEvent(JSON.parse(one!.toString('utf8'))), e);
});

// ---------------------------------------------------------------------------------------------
// Events: the documented examples and the errors in Mesos's docs

test('documented example stream decodes (SUBSCRIBED, HEARTBEAT, OFFERS, UPDATE)', (t) => {
  const subscribed = decodeSchedulerEvent(
    JSON.parse(
      '{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"0b1f…-0000"},"heartbeat_interval_seconds":15.0,"master_info":{"id":"0b1f","ip":16777343,"port":5050,"hostname":"m"}}}',
    ),
  );
  t.deepEqual(subscribed, {
    type: 'SUBSCRIBED',
    subscribed: { frameworkId: '0b1f…-0000', heartbeatIntervalSeconds: 15, masterInfo: { id: '0b1f', ip: 16777343, port: 5050, hostname: 'm' } },
  });
  t.deepEqual(decodeSchedulerEvent({ type: 'HEARTBEAT' }), { type: 'HEARTBEAT' });
  const offers = decodeSchedulerEvent(
    JSON.parse(
      '{"type":"OFFERS","offers":{"offers":[{"id":{"value":"0b1f…-O0"},"framework_id":{"value":"0b1f…-0000"},"agent_id":{"value":"0b1f…-S0"},"hostname":"agent1","url":{"scheme":"http","address":{"hostname":"agent1","ip":"10.0.0.11","port":5051},"path":"/slave(1)"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":4.0},"role":"*","allocation_info":{"role":"*"}},{"name":"mem","type":"SCALAR","scalar":{"value":6816.0},"role":"*","allocation_info":{"role":"*"}},{"name":"disk","type":"SCALAR","scalar":{"value":35164.0},"role":"*","allocation_info":{"role":"*"}},{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]},"role":"*","allocation_info":{"role":"*"}}],"attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}}],"executor_ids":[{"value":"e1"}],"allocation_info":{"role":"*"}}]}}',
    ),
  );
  t.is(offers.type, 'OFFERS');
  if (offers.type === 'OFFERS') {
    t.is(offers.offers.offers.length, 1);
    t.deepEqual(offers.offers.offers[0]!.resources, [resource('cpus', 4), resource('mem', 6816), resource('disk', 35164), resource('ports', [[31000, 32000]])]);
    t.deepEqual(offers.offers.offers[0]!.executorIds, ['e1']);
  }
  const update = decodeSchedulerEvent(
    JSON.parse(
      '{"type":"UPDATE","update":{"status":{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","agent_id":{"value":"0b1f…-S0"},"executor_id":{"value":"t1"},"timestamp":1724420000.123,"uuid":"q83vEjRWeJq83vEjRWeJqw==","container_status":{"container_id":{"value":"c0ffee…"},"network_infos":[{"ip_addresses":[{"protocol":"IPv4","ip_address":"10.0.0.11"}]}]},"healthy":true}}}',
    ),
  );
  t.like(update, { type: 'UPDATE', update: { status: { taskId: 't1', state: 'TASK_RUNNING', uuid: 'q83vEjRWeJq83vEjRWeJqw==', healthy: true } } });
});

test("the docs' errors are not accepted: OFFERS without the inner level, ERROR with a top-level message", (t) => {
  const offersDoc = { type: 'OFFERS', offers: [{ id: { value: 'o' }, framework_id: { value: 'f' }, agent_id: { value: 'a' }, hostname: 'h' }] };
  const e1 = t.throws(() => decodeSchedulerEvent(offersDoc), { instanceOf: ValidationError });
  t.is(e1.field, 'offers');
  t.true(e1.message.includes("Not expecting a JSON array for field 'offers'"));
  const e2 = t.throws(() => decodeSchedulerEvent({ type: 'ERROR', message: 'Framework failed over' }), { instanceOf: ValidationError });
  t.true(e2.message.includes('Missing required fields: error'), e2.message);
  t.deepEqual(decodeSchedulerEvent({ type: 'ERROR', error: { message: 'Framework failed over' } }), {
    type: 'ERROR',
    error: { message: 'Framework failed over' },
  });
  // The model always writes the right shapes.
  t.is(stringifyWire(encodeSchedulerEvent({ type: 'OFFERS', offers: { offers: [] } })), '{"type":"OFFERS","offers":{}}');
});

test('events the model does not carry are refused with stage "unsupported", so a client can skip them', (t) => {
  for (const json of [
    { type: 'INVERSE_OFFERS', inverse_offers: { inverse_offers: [] } },
    { type: 'UPDATE_OPERATION_STATUS' },
    { type: 'UNKNOWN' },
    { type: 'NEWFANGLED' },
    {},
  ]) {
    const e = t.throws(() => decodeSchedulerEvent(json), { instanceOf: ApiValidationError });
    t.is(e.stage, 'unsupported');
    t.is(e.code, 'UNSUPPORTED');
  }
  t.throws(() => decodeSchedulerEvent({ type: 8 }), { instanceOf: ValidationError, message: /Not expecting a JSON number for field 'type'/ });
});

test('SUBSCRIBED without heartbeat_interval_seconds reads as 15 (the only interval Mesos uses)', (t) => {
  t.deepEqual(decodeSchedulerEvent({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'F' } } }), {
    type: 'SUBSCRIBED',
    subscribed: { frameworkId: 'F', heartbeatIntervalSeconds: 15 },
  });
});

// ---------------------------------------------------------------------------------------------
// Property

test('property: any SchedulerEvent survives encode → stringifyWire → JSON.parse → decode unchanged', (t) => {
  fc.assert(
    fc.property(arb.schedulerEvent, (e) => {
      const record = schedulerEventRecord(e);
      const [payload] = decodeRecords(record);
      return t.deepEqual(decodeSchedulerEvent(JSON.parse(payload!.toString('utf8'))), e);
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('RECONCILE: up to MAX_RECONCILE_TASKS tasks are accepted, one more is refused naming reconcile.tasks and the limit', (t) => {
  const call = (n: number) => ({
    type: 'RECONCILE',
    framework_id: { value: 'f' },
    reconcile: { tasks: Array.from({ length: n }, (_, i) => ({ task_id: { value: `t${i}` } })) },
  });
  const ok = decodeSchedulerCall(call(MAX_RECONCILE_TASKS));
  t.is(ok.type === 'RECONCILE' ? ok.reconcile.tasks.length : 0, MAX_RECONCILE_TASKS);
  refused(
    t,
    call(MAX_RECONCILE_TASKS + 1),
    'validate',
    `'reconcile.tasks' lists ${MAX_RECONCILE_TASKS + 1} tasks; at most ${MAX_RECONCILE_TASKS} are accepted in one call (reconcile in batches, or with no tasks for all of them)`,
    'reconcile.tasks',
  );
});
