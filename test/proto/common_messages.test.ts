import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { ValidationError } from '../../lib/common/errors.ts';
import { resource } from '../../lib/common/resources/index.ts';
import {
  ApiValidationError,
  convertApiMessage,
  decodeAgentInfo,
  decodeCommandInfo,
  decodeExecutorInfo,
  decodeFilters,
  decodeFrameworkInfo,
  decodeKillPolicy,
  decodeMasterInfo,
  decodeOffer,
  decodeOperation,
  decodeTaskInfo,
  decodeTaskStatus,
  encodeAgentInfo,
  encodeCommandInfo,
  encodeExecutorInfo,
  encodeFilters,
  encodeFrameworkInfo,
  encodeMasterInfo,
  encodeOffer,
  encodeOperation,
  encodeResourceInput,
  encodeTaskInfo,
  encodeTaskStatus,
  isUuidBytes,
  masterInfoIp,
  readFrameworkInfo,
} from '../../lib/proto/common_messages.ts';
import { stringifyWire } from '../../lib/proto/json_text.ts';
import { encodeResource } from '../../lib/proto/resources.ts';
import * as arb from './arbitraries.ts';

/** What a peer reads: the wire text, parsed back. */
const wire = (v: unknown): unknown => JSON.parse(stringifyWire(v));

function rejects(t: ExecutionContext, fn: () => unknown, field: string, ...texts: string[]): ValidationError {
  const e = t.throws(fn, { instanceOf: ValidationError });
  t.is(e.field, field, e.message);
  for (const text of texts) t.true(e.message.includes(text), `'${e.message}' should include '${text}'`);
  return e;
}

// ---------------------------------------------------------------------------------------------
// FrameworkInfo

test('FrameworkInfo: defaults filled in on reading and always written (failover_timeout 0.0, checkpoint, role)', (t) => {
  const f = decodeFrameworkInfo({ user: 'root', name: 'fw' });
  t.deepEqual(f, { user: 'root', name: 'fw', failoverTimeout: 0, checkpoint: false, role: '*', capabilities: [] });
  t.is(stringifyWire(encodeFrameworkInfo(f)), '{"user":"root","name":"fw","failover_timeout":0.0,"checkpoint":false,"role":"*"}');
});

test('FrameworkInfo: the documented SUBSCRIBE framework_info, every field', (t) => {
  const json = {
    user: 'root',
    name: 'my-fw',
    id: { value: '0b1f-0000' },
    failover_timeout: 604800,
    checkpoint: false,
    role: '*',
    hostname: 'sched-host',
    principal: 'p',
    webui_url: 'http://sched-host:8080',
    capabilities: [{ type: 'REVOCABLE_RESOURCES' }],
    labels: { labels: [{ key: 'k', value: 'v' }] },
  };
  const f = decodeFrameworkInfo(json);
  t.deepEqual(f, {
    user: 'root',
    name: 'my-fw',
    id: '0b1f-0000',
    failoverTimeout: 604800,
    checkpoint: false,
    role: '*',
    hostname: 'sched-host',
    principal: 'p',
    webuiUrl: 'http://sched-host:8080',
    capabilities: ['REVOCABLE_RESOURCES'],
    labels: { labels: [{ key: 'k', value: 'v' }] },
  });
  t.deepEqual(wire(encodeFrameworkInfo(f)), json);
  t.true(stringifyWire(encodeFrameworkInfo(f)).includes('"failover_timeout":604800.0'));
});

test('FrameworkInfo: capabilities of unknown names (and UNKNOWN, and none) are dropped; a number is an error', (t) => {
  const f = decodeFrameworkInfo({
    user: 'u',
    name: 'n',
    capabilities: [{ type: 'MULTI_ROLE' }, { type: 'SOMETHING_NEW' }, { type: 'UNKNOWN' }, {}, null, { type: 'PARTITION_AWARE' }],
    roles: ['a', 'b'],
  });
  t.deepEqual(f.capabilities, ['MULTI_ROLE', 'PARTITION_AWARE']);
  t.deepEqual(f.roles, ['a', 'b']);
  rejects(
    t,
    () => decodeFrameworkInfo({ user: 'u', name: 'n', capabilities: [{ type: 1 }] }),
    'framework_info.capabilities[0].type',
    "Not expecting a JSON number for field 'type'",
  );
});

test('FrameworkInfo: the stout reading rules (null, strings for numbers and bools, single value for a repeated field)', (t) => {
  const f = decodeFrameworkInfo({
    user: 'u',
    name: 'n',
    id: null,
    failover_timeout: '10.5',
    checkpoint: 'true',
    role: null,
    roles: 'only',
    capabilities: { type: 'GPU_RESOURCES' },
    camelCase: 1,
  });
  t.deepEqual(f, { user: 'u', name: 'n', failoverTimeout: 10.5, checkpoint: true, role: '*', roles: ['only'], capabilities: ['GPU_RESOURCES'] });
  rejects(t, () => decodeFrameworkInfo({ user: 'u' }), 'framework_info', 'Missing required fields: framework_info.name');
  rejects(t, () => decodeFrameworkInfo({ user: ['u'], name: 'n' }), 'framework_info.user', "Not expecting a JSON array for field 'user'");
  rejects(t, () => decodeFrameworkInfo({ user: 'u', name: 'n', id: 'x' }), 'framework_info.id', "Not expecting a JSON string for field 'id'");
  rejects(t, () => decodeFrameworkInfo({ user: 'u', name: 'n', id: {} }), 'framework_info', 'Missing required fields: framework_info.id.value');
});

// ---------------------------------------------------------------------------------------------
// CommandInfo, TaskInfo, ExecutorInfo

test('CommandInfo: shell and URI extract always written (defaults true); the rest as given', (t) => {
  const c = decodeCommandInfo({
    value: 'echo hi',
    uris: [{ value: 'http://x/a.tgz' }, { value: 'http://x/b', extract: false, executable: true, cache: true, output_file: 'b' }],
  });
  t.deepEqual(c, {
    uris: [
      { value: 'http://x/a.tgz', extract: true },
      { value: 'http://x/b', extract: false, executable: true, cache: true, outputFile: 'b' },
    ],
    shell: true,
    value: 'echo hi',
    arguments: [],
  });
  t.is(
    stringifyWire(encodeCommandInfo(c)),
    '{"uris":[{"value":"http://x/a.tgz","extract":true},{"value":"http://x/b","executable":true,"extract":false,"cache":true,"output_file":"b"}],"shell":true,"value":"echo hi"}',
  );
  const argv = decodeCommandInfo({
    shell: false,
    value: '/bin/echo',
    arguments: ['echo', 'a'],
    user: 'nobody',
    environment: { variables: [{ name: 'A', value: '1' }, { name: 'B' }] },
  });
  t.deepEqual(wire(encodeCommandInfo(argv)), {
    environment: { variables: [{ name: 'A', value: '1' }, { name: 'B' }] },
    shell: false,
    value: '/bin/echo',
    arguments: ['echo', 'a'],
    user: 'nobody',
  });
  rejects(t, () => decodeCommandInfo({ uris: [{}] }), 'command', 'Missing required fields: command.uris[0].value');
});

const TASK = {
  name: 'my task',
  task_id: { value: 't1' },
  agent_id: { value: 'S0' },
  resources: [
    { name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 }, role: '*' },
    { name: 'mem', type: 'SCALAR', scalar: { value: 128 } },
  ],
  command: { value: 'sleep 10' },
  container: {
    type: 'MESOS',
    mesos: { image: { type: 'DOCKER', docker: { name: 'alpine' } } },
    volumes: [{ container_path: '/x', mode: 'RO', host_path: '/y' }],
  },
  health_check: { type: 'COMMAND', command: { value: 'true' }, interval_seconds: 5 },
  kill_policy: { grace_period: { nanoseconds: 3000000000 } },
  data: 'aGVsbG8=',
  labels: { labels: [{ key: 'a', value: 'b' }] },
  discovery: { visibility: 'FRAMEWORK', name: 'svc', ports: { ports: [{ number: 80, protocol: 'tcp' }] } },
};

test('TaskInfo: resources are read but not validated, passthroughs kept as given, kill_policy in ns', (t) => {
  const task = decodeTaskInfo(TASK);
  t.deepEqual(task.resources, [
    { name: 'cpus', type: 'SCALAR', scalar: 0.5, role: '*' },
    { name: 'mem', type: 'SCALAR', scalar: 128, role: '*' },
  ]);
  t.is(task.container, TASK.container, 'the container is the received object');
  t.deepEqual(task.healthCheck, TASK.health_check);
  t.deepEqual(task.discovery, TASK.discovery);
  t.deepEqual(task.killPolicy, { gracePeriodNs: 3_000_000_000 });
  t.is(task.data, 'aGVsbG8=');
  t.deepEqual(task.command, { uris: [], shell: true, value: 'sleep 10', arguments: [] });
  // Written back: the role default, shell, resources as doubles.
  const out = wire(encodeTaskInfo(task)) as Record<string, unknown>;
  t.deepEqual(out, { ...TASK, resources: [TASK.resources[0], { ...TASK.resources[1], role: '*' }], command: { value: 'sleep 10', shell: true } });
  t.true(stringifyWire(encodeTaskInfo(task)).includes('"scalar":{"value":128.0}'));
});

test('TaskInfo: an invalid resource is kept for the master to answer with TASK_ERROR; wire errors are errors', (t) => {
  const task = decodeTaskInfo({
    ...TASK,
    resources: [
      { name: 'cpus', type: 'TEXT', text: { value: 'x' } },
      { name: 'mem', type: 'SCALAR', scalar: { value: -1 } },
    ],
  });
  t.deepEqual(task.resources, [
    { name: 'cpus', type: 'TEXT', role: '*' },
    { name: 'mem', type: 'SCALAR', scalar: -1, role: '*' },
  ]);
  rejects(
    t,
    () => decodeTaskInfo({ ...TASK, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 'x' } }] }),
    'task.resources[0].scalar.value',
    "Failed to parse 'x'",
  );
  rejects(t, () => decodeTaskInfo({ ...TASK, resources: [{ name: 'cpus', type: 'BOGUS' }] }), 'task.resources[0].type', "Failed to find enum for 'BOGUS'");
  rejects(t, () => decodeTaskInfo({ ...TASK, container: 'docker' }), 'task.container', "Not expecting a JSON string for field 'container'");
  rejects(t, () => decodeTaskInfo({ ...TASK, data: 'not base64!' }), 'task.data', 'base64');
  rejects(
    t,
    () => decodeTaskInfo({ ...TASK, kill_policy: { grace_period: { nanoseconds: 1.5 } } }),
    'task.kill_policy.grace_period.nanoseconds',
    'whole number',
  );
  rejects(t, () => decodeTaskInfo({ name: 'x' }), 'task', 'Missing required fields: task.task_id, task.agent_id');
});

test('ExecutorInfo: every modelled field round-trips; UNKNOWN type reads as unset', (t) => {
  const json = {
    type: 'CUSTOM',
    executor_id: { value: 'e1' },
    framework_id: { value: 'F' },
    command: { value: './exec', shell: true },
    container: { type: 'MESOS' },
    resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 }, role: '*' }],
    name: 'my executor',
    source: 'src',
    data: 'AA==',
    shutdown_grace_period: { nanoseconds: 5000000000 },
    labels: { labels: [{ key: 'x' }] },
  };
  const e = decodeExecutorInfo(json);
  t.is(e.shutdownGracePeriodNs, 5_000_000_000);
  t.deepEqual(wire(encodeExecutorInfo(e)), json);
  t.is(decodeExecutorInfo({ ...json, type: 'UNKNOWN' }).type, undefined);
  t.is(decodeExecutorInfo({ ...json, type: 'FANCY' }).type, undefined);
  rejects(t, () => decodeExecutorInfo({ ...json, type: 2 }), 'executor_info.type', 'Not expecting a JSON number');
});

test('encodeResourceInput writes a validated resource exactly as encodeResource does', (t) => {
  for (const r of [
    resource('cpus', 1.5),
    resource(
      'ports',
      [
        [1, 5],
        [8, 9],
      ],
      { role: 'ads' },
    ),
    resource('bugs', ['a', 'b']),
    resource('cpus', 2, { role: 'ads', reservation: { principal: 'p', labels: [{ key: 'k', value: 'v' }] } }),
    resource('disk', 64, { role: 'ads', reservation: { principal: 'p' }, disk: { persistence: { id: 'v1' }, volume: { mode: 'RW', containerPath: 'd' } } }),
    resource('disk', 64, { disk: { source: { type: 'MOUNT', root: '/m' } } }),
    resource('cpus', 1, { revocable: true }),
  ]) {
    t.is(stringifyWire(encodeResourceInput(r)), stringifyWire(encodeResource(r)));
  }
  // Fields of the wrong JavaScript type are left out, not guessed at.
  t.deepEqual(wire(encodeResourceInput({ name: 'x', type: 'SCALAR', scalar: '1', ranges: 5, role: 7 })), { name: 'x', type: 'SCALAR' });
});

// ---------------------------------------------------------------------------------------------
// TaskStatus

/** The status of the documented UPDATE event example. */
const STATUS_EXAMPLE =
  '{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","agent_id":{"value":"0b1f…-S0"},"executor_id":{"value":"t1"},"timestamp":1724420000.123,"uuid":"q83vEjRWeJq83vEjRWeJqw==","container_status":{"container_id":{"value":"c0ffee…"},"network_infos":[{"ip_addresses":[{"protocol":"IPv4","ip_address":"10.0.0.11"}]}]},"healthy":true}';

test('TaskStatus: the documented example decodes and is written back with the same fields', (t) => {
  const json = JSON.parse(STATUS_EXAMPLE) as Record<string, unknown>;
  const s = decodeTaskStatus(json);
  t.deepEqual(s, {
    taskId: 't1',
    state: 'TASK_RUNNING',
    source: 'SOURCE_EXECUTOR',
    agentId: '0b1f…-S0',
    executorId: 't1',
    timestamp: 1724420000.123,
    uuid: 'q83vEjRWeJq83vEjRWeJqw==',
    containerStatus: json.container_status as Record<string, unknown>,
    healthy: true,
  });
  t.true(isUuidBytes(s.uuid!));
  t.deepEqual(wire(encodeTaskStatus(s)), json);
});

test('TaskStatus: every field written, in proto order; an integral timestamp keeps a fraction', (t) => {
  const s = decodeTaskStatus({
    task_id: { value: 't' },
    state: 'TASK_FAILED',
    message: 'boom',
    source: 'SOURCE_AGENT',
    reason: 'REASON_CONTAINER_LIMITATION_MEMORY',
    data: 'AQ==',
    agent_id: { value: 'a' },
    executor_id: { value: 'e' },
    timestamp: 1700000000,
    uuid: 'AAAAAAAAAAAAAAAAAAAAAA==',
    healthy: false,
    labels: { labels: [{ key: 'k', value: 'v' }] },
    container_status: { executor_pid: 42 },
  });
  t.is(
    stringifyWire(encodeTaskStatus(s)),
    '{"task_id":{"value":"t"},"state":"TASK_FAILED","message":"boom","source":"SOURCE_AGENT","reason":"REASON_CONTAINER_LIMITATION_MEMORY","data":"AQ==","agent_id":{"value":"a"},"executor_id":{"value":"e"},"timestamp":1700000000.0,"uuid":"AAAAAAAAAAAAAAAAAAAAAA==","healthy":false,"labels":{"labels":[{"key":"k","value":"v"}]},"container_status":{"executor_pid":42}}',
  );
});

test('TaskStatus: state is a required enum, source and reason optional ones', (t) => {
  rejects(t, () => decodeTaskStatus({ task_id: { value: 't' }, state: 'TASK_EXPLODED' }), 'status.state', "Failed to find enum for 'TASK_EXPLODED'");
  rejects(t, () => decodeTaskStatus({ task_id: { value: 't' }, state: 1 }), 'status.state', "Not expecting a JSON number for field 'state'");
  rejects(t, () => decodeTaskStatus({ task_id: { value: 't' } }), 'status', 'Missing required fields: status.state');
  const s = decodeTaskStatus({
    task_id: { value: 't' },
    state: 'TASK_LOST',
    reason: 'REASON_FROM_THE_FUTURE',
    source: 'SOURCE_MARS',
    healthy: null,
    timestamp: '12.5',
  });
  t.deepEqual(s, { taskId: 't', state: 'TASK_LOST', timestamp: 12.5 });
  // Every v1 reason is read, also those Corral never sends.
  t.is(decodeTaskStatus({ task_id: { value: 't' }, state: 'TASK_KILLED', reason: 'REASON_AGENT_DRAINING' }).reason, 'REASON_AGENT_DRAINING');
});

// ---------------------------------------------------------------------------------------------
// Offer, Operation

/** The offer of the documented OFFERS example (with `allocation_info`, which Corral does not model). */
const OFFER_EXAMPLE =
  '{"id":{"value":"0b1f…-O0"},"framework_id":{"value":"0b1f…-0000"},"agent_id":{"value":"0b1f…-S0"},"hostname":"agent1","url":{"scheme":"http","address":{"hostname":"agent1","ip":"10.0.0.11","port":5051},"path":"/slave(1)"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":4.0},"role":"*","allocation_info":{"role":"*"}},{"name":"mem","type":"SCALAR","scalar":{"value":6816.0},"role":"*","allocation_info":{"role":"*"}},{"name":"disk","type":"SCALAR","scalar":{"value":35164.0},"role":"*","allocation_info":{"role":"*"}},{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]},"role":"*","allocation_info":{"role":"*"}}],"attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}}],"executor_ids":[{"value":"e1"}],"allocation_info":{"role":"*"}}';

test("Offer: the docs' example decodes; written back as Mesos writes it (minus allocation_info)", (t) => {
  const o = decodeOffer(JSON.parse(OFFER_EXAMPLE));
  t.deepEqual(o, {
    id: '0b1f…-O0',
    frameworkId: '0b1f…-0000',
    agentId: '0b1f…-S0',
    hostname: 'agent1',
    url: { scheme: 'http', address: { hostname: 'agent1', ip: '10.0.0.11', port: 5051 }, path: '/slave(1)' },
    resources: [resource('cpus', 4), resource('mem', 6816), resource('disk', 35164), resource('ports', [[31000, 32000]])],
    attributes: [{ name: 'rack', type: 'TEXT', text: 'r1' }],
    executorIds: ['e1'],
  });
  const expected = OFFER_EXAMPLE.replaceAll(',"allocation_info":{"role":"*"}', '').replaceAll('…', '\\u2026');
  t.is(stringifyWire(encodeOffer(o)), expected);
});

test('Offer: empty repeated fields are left out; offered resources are validated; SET attributes refused', (t) => {
  const o = decodeOffer({ id: { value: 'o' }, framework_id: { value: 'f' }, agent_id: { value: 'a' }, hostname: 'h' });
  t.deepEqual(o, { id: 'o', frameworkId: 'f', agentId: 'a', hostname: 'h', resources: [], attributes: [], executorIds: [] });
  t.is(stringifyWire(encodeOffer(o)), '{"id":{"value":"o"},"framework_id":{"value":"f"},"agent_id":{"value":"a"},"hostname":"h"}');
  const base = { id: { value: 'o' }, framework_id: { value: 'f' }, agent_id: { value: 'a' }, hostname: 'h' };
  rejects(
    t,
    () => decodeOffer({ ...base, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: -1 } }] }),
    "offer.resources[0] 'cpus'.scalar",
    'negative',
  );
  rejects(t, () => decodeOffer({ ...base, resources: [{ type: 'SCALAR' }] }), 'offer.resources[0]', 'Missing required fields: offer.resources[0].name');
  rejects(
    t,
    () => decodeOffer({ ...base, attributes: [{ name: 'z', type: 'SET', set: { item: ['a'] } }] }),
    'offer.attributes[0].type',
    'Bad type for attribute',
  );
  rejects(t, () => decodeOffer({ ...base, url: { scheme: 'http', address: {} } }), 'offer', 'Missing required fields: offer.url.address.port');
});

test('Operation: the five Corral implements; anything else is UNSUPPORTED by name', (t) => {
  const r = { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: 'r', reservation: { principal: 'p' } };
  const vol = {
    name: 'disk',
    type: 'SCALAR',
    scalar: { value: 8 },
    role: 'r',
    reservation: { principal: 'p' },
    disk: { persistence: { id: 'v' }, volume: { mode: 'RW', container_path: 'd' } },
  };
  const ops = [
    { type: 'LAUNCH', launch: { task_infos: [TASK] } },
    { type: 'RESERVE', reserve: { resources: [r] } },
    { type: 'UNRESERVE', unreserve: { resources: [r] } },
    { type: 'CREATE', create: { volumes: [vol] } },
    { type: 'DESTROY', destroy: { volumes: [vol] } },
  ];
  for (const json of ops) {
    const op = decodeOperation(json);
    t.is(op.type as string, json.type);
    t.deepEqual(decodeOperation(wire(encodeOperation(op))), op);
  }
  t.deepEqual(decodeOperation(ops[1]), {
    type: 'RESERVE',
    reserve: { resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1, role: 'r', reservation: { principal: 'p' } }] },
  });
  t.deepEqual(decodeOperation({ type: 'LAUNCH' }), { type: 'LAUNCH', launch: { taskInfos: [] } });
  t.deepEqual(decodeOperation({ type: 'LAUNCH_GROUP', launch_group: { executor: {}, task_group: {} } }), { type: 'UNSUPPORTED', name: 'LAUNCH_GROUP' });
  t.deepEqual(decodeOperation({ type: 'GROW_VOLUME' }), { type: 'UNSUPPORTED', name: 'GROW_VOLUME' });
  t.deepEqual(decodeOperation({ type: 'TELEPORT' }), { type: 'UNSUPPORTED', name: 'TELEPORT' });
  t.deepEqual(decodeOperation({}), { type: 'UNSUPPORTED', name: 'UNKNOWN' });
  t.deepEqual(wire(encodeOperation({ type: 'UNSUPPORTED', name: 'LAUNCH_GROUP' })), { type: 'LAUNCH_GROUP' });
  rejects(t, () => decodeOperation({ type: 5 }), 'operation.type', 'Not expecting a JSON number');
  // The sub-messages Corral reads are checked whatever the type, as stout parses every field.
  rejects(
    t,
    () => decodeOperation({ type: 'RESERVE', launch: { task_infos: [{}] } }),
    'operation',
    'Missing required fields: operation.launch.task_infos[0].name',
  );
});

// ---------------------------------------------------------------------------------------------
// Filters, KillPolicy, MasterInfo, AgentInfo

test('Filters: refuse_seconds defaults to 5.0 and is always written with a fraction', (t) => {
  t.deepEqual(decodeFilters({}), { refuseSeconds: 5 });
  t.deepEqual(decodeFilters({ refuse_seconds: '0' }), { refuseSeconds: 0 });
  t.is(stringifyWire(encodeFilters(decodeFilters({}))), '{"refuse_seconds":5.0}');
  t.deepEqual(decodeKillPolicy({}), {});
  t.deepEqual(decodeKillPolicy({ grace_period: { nanoseconds: '250000000' } }), { gracePeriodNs: 250_000_000 });
});

test('MasterInfo: ip as the little-endian uint32 Mesos writes, port, id, hostname, version, pid, address', (t) => {
  t.is(masterInfoIp('127.0.0.1'), 16777343);
  t.is(masterInfoIp('10.0.0.5'), 83886090);
  t.is(masterInfoIp('255.255.255.255'), 4294967295);
  t.throws(() => masterInfoIp('1.2.3'), { instanceOf: ValidationError });
  t.throws(() => masterInfoIp('1.2.3.256'), { instanceOf: ValidationError });
  const m = {
    id: 'M',
    ip: masterInfoIp('10.0.0.5'),
    port: 5050,
    pid: 'master@10.0.0.5:5050',
    hostname: 'm1',
    version: '1.11.0',
    address: { hostname: 'm1', ip: '10.0.0.5', port: 5050 },
  };
  const text = stringifyWire(encodeMasterInfo(m));
  t.is(
    text,
    '{"id":"M","ip":83886090,"port":5050,"pid":"master@10.0.0.5:5050","hostname":"m1","version":"1.11.0","address":{"hostname":"m1","ip":"10.0.0.5","port":5050}}',
  );
  t.deepEqual(decodeMasterInfo(JSON.parse(text)), m);
  rejects(t, () => decodeMasterInfo({ id: 'M', ip: -1, port: 5050 }), 'master_info.ip', 'out of range');
  rejects(t, () => decodeMasterInfo({ id: 'M' }), 'master_info', 'Missing required fields: master_info.ip, master_info.port');
});

test('AgentInfo: port defaults to 5051 and is always written; resources validated', (t) => {
  const a = decodeAgentInfo({
    hostname: 'h',
    resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 2 } }],
    attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }],
    id: { value: 'S0' },
  });
  t.deepEqual(a, { hostname: 'h', port: 5051, resources: [resource('cpus', 2)], attributes: [{ name: 'rack', type: 'TEXT', text: 'r1' }], id: 'S0' });
  t.is(stringifyWire(encodeAgentInfo({ hostname: 'h', resources: [], attributes: [] })), '{"hostname":"h","port":5051}');
  t.deepEqual(wire(encodeAgentInfo(a)), {
    hostname: 'h',
    port: 5051,
    resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 2 }, role: '*' }],
    attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }],
    id: { value: 'S0' },
  });
});

// ---------------------------------------------------------------------------------------------
// API errors

test('convertApiMessage: reader errors become bare Mesos texts with the path in `field`', (t) => {
  const e1 = t.throws(() => convertApiMessage({ framework_info: { user: 1 } }, (r) => r.requiredMessage('framework_info', readFrameworkInfo)), {
    instanceOf: ApiValidationError,
  });
  t.is(e1.message, "Not expecting a JSON number for field 'user'");
  t.is(e1.field, 'framework_info.user');
  t.is(e1.stage, 'convert');
  t.true(e1 instanceof ValidationError);
  const e2 = t.throws(() => convertApiMessage({ framework_info: {} }, (r) => r.requiredMessage('framework_info', readFrameworkInfo)), {
    instanceOf: ApiValidationError,
  });
  t.is(e2.message, 'Missing required fields: framework_info.user, framework_info.name');
  t.is(e2.code, 'MISSING_FIELDS');
  for (const body of [null, [], 'x', 5]) {
    const e = t.throws(() => convertApiMessage(body, () => 1), { instanceOf: ApiValidationError });
    t.is(e.message, 'Expecting a JSON object');
  }
});

test('isUuidBytes: exactly 16 bytes', (t) => {
  t.true(isUuidBytes(Buffer.alloc(16, 7).toString('base64')));
  t.false(isUuidBytes(Buffer.alloc(15).toString('base64')));
  t.false(isUuidBytes(Buffer.alloc(17).toString('base64')));
  t.false(isUuidBytes(Buffer.alloc(18).toString('base64')));
});

// ---------------------------------------------------------------------------------------------
// Properties: encode → stringifyWire → JSON.parse → decode is the identity

test('property: TaskStatus survives the wire unchanged', (t) => {
  fc.assert(
    fc.property(arb.taskStatus, (s) => t.deepEqual(decodeTaskStatus(wire(encodeTaskStatus(s))), s)),
    { numRuns: 300 },
  );
  t.pass();
});

test('property: Offer survives the wire unchanged', (t) => {
  fc.assert(
    fc.property(arb.offer, (o) => t.deepEqual(decodeOffer(wire(encodeOffer(o))), o)),
    { numRuns: 300 },
  );
  t.pass();
});

test('property: FrameworkInfo, TaskInfo, ExecutorInfo and MasterInfo survive the wire unchanged', (t) => {
  fc.assert(
    fc.property(arb.frameworkInfo, (f) => t.deepEqual(decodeFrameworkInfo(wire(encodeFrameworkInfo(f))), f)),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(arb.taskInfo, (x) => t.deepEqual(decodeTaskInfo(wire(encodeTaskInfo(x))), x)),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(arb.executorInfo, (x) => t.deepEqual(decodeExecutorInfo(wire(encodeExecutorInfo(x))), x)),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(arb.masterInfo, (x) => t.deepEqual(decodeMasterInfo(wire(encodeMasterInfo(x))), x)),
    { numRuns: 200 },
  );
  t.pass();
});

test('property: the wire text is one line of ASCII', (t) => {
  fc.assert(
    fc.property(arb.taskStatus, (s) => {
      const text = stringifyWire(encodeTaskStatus(s));
      return /^[\x20-\x7e]*$/.test(text);
    }),
    { numRuns: 300 },
  );
  t.pass();
});
