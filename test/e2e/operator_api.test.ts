/**
 * The master's v1 operator API (`POST /api/v1`) end to end: a real cluster on loopback, driven
 * by plain HTTP as an operator tool (or curl) drives Mesos: every call with the response shapes
 * of Mesos, the status codes of bad and unknown calls, the event stream (SUBSCRIBE) seeing a
 * task go ADDED → RUNNING → FINISHED in order, weights kept across a master restart, a slow
 * subscriber cut off, and what the ACLs let a principal see and do.
 */
import test from 'ava';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { basic, commonAuthFiles, writePrivate } from '../helpers/auth_fixture.ts';
import { type Cluster, type Json, RecordIoDecoder, USER, commandTask, frameworkInfo, request, startCluster } from '../helpers/cluster.ts';

const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };

function api(c: Cluster, body: Json, headers: Record<string, string> = {}) {
  return request(c.url('/api/v1'), { headers: { ...JSON_HEADERS, ...headers }, body });
}

async function call(c: Cluster, body: Json, headers: Record<string, string> = {}): Promise<Json> {
  const r = await api(c, body, headers);
  if (r.status !== 200) throw new Error(`${body.type}: ${r.status} ${r.text}`);
  return r.json();
}

const scalar = (name: string, value: number, extra: Json = {}): Json => ({ name, type: 'SCALAR', scalar: { value }, ...extra });

/** An operator event stream read into a list of events. */
class Events {
  readonly events: Json[] = [];
  status = 0;
  contentType = '';
  private req: http.ClientRequest | undefined;
  private waiters: (() => void)[] = [];

  static open(c: Cluster, headers: Record<string, string> = {}): Promise<Events> {
    const e = new Events();
    return new Promise((resolve, reject) => {
      const body = JSON.stringify({ type: 'SUBSCRIBE' });
      e.req = http.request(c.url('/api/v1'), { method: 'POST', agent: false, headers: { ...JSON_HEADERS, ...headers, 'Content-Length': String(body.length) } });
      e.req.on('error', reject);
      e.req.on('response', (res) => {
        e.status = res.statusCode ?? 0;
        e.contentType = String(res.headers['content-type']);
        const decoder = new RecordIoDecoder();
        res.on('data', (d: Buffer) => {
          for (const r of decoder.push(d)) e.events.push(JSON.parse(r.toString('utf8')));
          for (const w of e.waiters.splice(0)) w();
        });
        res.on('error', () => {});
        resolve(e);
      });
      e.req.end(body);
    });
  }

  async until(pred: (e: Json) => boolean, what: string, timeoutMs = 15_000): Promise<Json> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(pred);
      if (found) return found;
      if (Date.now() > end) throw new Error(`no ${what} in ${JSON.stringify(this.events.map((x) => x.type))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  close(): void {
    this.req?.destroy();
  }
}

test('every master call: shapes, statuses, reservations and volumes, weights kept across a restart, teardown, mark gone', async (t) => {
  const c = await startCluster(t, { agentResources: 'cpus:4;mem:1024;disk:1000;ports:[31000-31010]', masterArgs: ['--weights=web=2'] });
  const fw = await c.framework(frameworkInfo({ name: 'api', role: 'web' }));
  await fw.launch([commandTask('sleeper', 'sleep 30')]);
  await fw.update('sleeper', 'TASK_RUNNING');

  const health = await call(c, { type: 'GET_HEALTH' });
  t.deepEqual(health, { type: 'GET_HEALTH', get_health: { healthy: true } });

  const flags = (await call(c, { type: 'GET_FLAGS' })).get_flags.flags;
  t.deepEqual(
    flags.map((f: Json) => f.name),
    [...flags.map((f: Json) => f.name)].sort(),
    'sorted by name',
  );
  t.is(flags.find((f: Json) => f.name === 'port').value, String(c.masterPort));

  t.regex((await call(c, { type: 'GET_VERSION' })).get_version.version_info.version, /^\d+\.\d+/);

  const noMetrics = await api(c, { type: 'GET_METRICS' });
  t.is(noMetrics.status, 400);
  t.is(noMetrics.text, "Failed to validate master::Call: Expecting 'get_metrics' to be present");
  const metrics = (await call(c, { type: 'GET_METRICS', get_metrics: {} })).get_metrics.metrics;
  t.is(metrics.find((m: Json) => m.name === 'master/tasks_running').value, 1);
  t.is(metrics.find((m: Json) => m.name === 'master/slaves_active').value, 1);

  // The log level: raised for a second, then back by itself.
  t.deepEqual(await call(c, { type: 'GET_LOGGING_LEVEL' }), { type: 'GET_LOGGING_LEVEL', get_logging_level: { level: 0 } });
  const set = await api(c, { type: 'SET_LOGGING_LEVEL', set_logging_level: { level: 1, duration: { nanoseconds: 1_000_000_000 } } });
  t.is(set.status, 200);
  t.is(set.text, '');
  t.is((await call(c, { type: 'GET_LOGGING_LEVEL' })).get_logging_level.level, 1);
  await c.until(async () => (await call(c, { type: 'GET_LOGGING_LEVEL' })).get_logging_level.level === 0, 5000, 'the level to come back');
  const badLevel = await api(c, { type: 'SET_LOGGING_LEVEL', set_logging_level: { level: 1 } });
  t.is(badLevel.status, 400);
  t.is(badLevel.text, 'Failed to convert JSON into Call protobuf: Missing required fields: set_logging_level.duration');

  t.is((await api(c, { type: 'LIST_FILES', list_files: { path: '/master/log' } })).status, 404);
  const badRead = await api(c, { type: 'READ_FILE', read_file: { offset: 0 } });
  t.is(badRead.status, 400);
  t.regex(badRead.text, /read_file\.path/);

  // State: the agent, the framework, its executor-less command task.
  const state = (await call(c, { type: 'GET_STATE' })).get_state;
  t.deepEqual(Object.keys(state), ['get_tasks', 'get_executors', 'get_frameworks', 'get_agents']);
  const agent = state.get_agents.agents[0];
  const agentId: string = agent.agent_info.id.value;
  t.is(agent.agent_info.hostname, 'agent0');
  t.true(agent.active);
  t.false(agent.deactivated);
  t.regex(agent.pid, /^slave\(1\)@127\.0\.0\.1:\d+$/);
  t.true(agent.registered_time.nanoseconds > 1e18);
  t.is(agent.total_resources.find((r: Json) => r.name === 'cpus').scalar.value, 4);
  t.deepEqual(state.get_agents.recovered_agents, []);
  const task = state.get_tasks.tasks[0];
  t.is(task.task_id.value, 'sleeper');
  t.is(task.framework_id.value, fw.frameworkId);
  t.is(task.agent_id.value, agentId);
  t.is(task.state, 'TASK_RUNNING');
  t.deepEqual(
    task.statuses.map((s: Json) => s.state),
    ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING'].filter((s) => task.statuses.some((x: Json) => x.state === s)),
  );
  t.is(typeof task.statuses.at(-1).uuid, 'string');
  t.deepEqual(state.get_tasks.completed_tasks, []);
  t.deepEqual(state.get_tasks.unreachable_tasks, []);
  const framework = state.get_frameworks.frameworks[0];
  t.is(framework.framework_info.name, 'api');
  t.is(framework.framework_info.id.value, fw.frameworkId);
  t.true(framework.active);
  t.true(framework.connected);
  t.false(framework.recovered);
  t.true(Array.isArray(framework.offers));
  t.deepEqual(await call(c, { type: 'GET_TASKS' }), { type: 'GET_TASKS', get_tasks: state.get_tasks });
  t.deepEqual((await call(c, { type: 'GET_EXECUTORS' })).get_executors, { executors: [] });
  t.is((await call(c, { type: 'GET_AGENTS' })).get_agents.agents[0].agent_info.id.value, agentId);
  t.is((await call(c, { type: 'GET_FRAMEWORKS' })).get_frameworks.frameworks[0].framework_info.id.value, fw.frameworkId);
  const roles = (await call(c, { type: 'GET_ROLES' })).get_roles.roles;
  const web = roles.find((r: Json) => r.name === 'web');
  t.is(web.weight, 2);
  t.deepEqual(web.frameworks, [{ value: fw.frameworkId }]);
  t.true(web.resources.find((r: Json) => r.name === 'cpus').scalar.value >= 0.1);

  const master = (await call(c, { type: 'GET_MASTER' })).get_master;
  t.is(master.master_info.port, c.masterPort);
  t.true(master.start_time > 1e9 && master.start_time < 1e10, 'seconds');
  t.true(master.elected_time >= master.start_time);

  // Weights: changed, refused for a bad role, kept in the registry across a restart.
  t.deepEqual((await call(c, { type: 'GET_WEIGHTS' })).get_weights, { weight_infos: [{ weight: 2, role: 'web' }] });
  t.is(
    (
      await api(c, {
        type: 'UPDATE_WEIGHTS',
        update_weights: {
          weight_infos: [
            { role: 'web', weight: 3.5 },
            { role: 'db', weight: 0.5 },
          ],
        },
      })
    ).status,
    200,
  );
  const badWeight = await api(c, { type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: [{ role: 'a b', weight: 1 }] } });
  t.is(badWeight.status, 400);
  t.regex(badWeight.text, /update_weights\.weight_infos\[0\]\.role/);
  t.is((await api(c, { type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: [{ role: 'x', weight: -1 }] } })).status, 400);

  // Reservations and volumes: 202, then seen on the agent.
  const reserved = (name: string, v: number) => scalar(name, v, { role: 'web', reservation: {} });
  const volume = scalar('disk', 100, { role: 'web', reservation: {}, disk: { persistence: { id: 'vol1' }, volume: { mode: 'RW', container_path: 'data' } } });
  t.is((await api(c, { type: 'RESERVE_RESOURCES', reserve_resources: { agent_id: { value: 'nope' }, resources: [reserved('cpus', 1)] } })).status, 400);
  t.is((await api(c, { type: 'RESERVE_RESOURCES', reserve_resources: { agent_id: { value: agentId }, resources: [reserved('cpus', 100)] } })).status, 409);
  const reserve = await api(c, {
    type: 'RESERVE_RESOURCES',
    reserve_resources: { agent_id: { value: agentId }, resources: [reserved('cpus', 1), reserved('disk', 200)] },
  });
  t.is(reserve.status, 202, reserve.text);
  const totals = async () => (await call(c, { type: 'GET_AGENTS' })).get_agents.agents[0].total_resources as Json[];
  t.true((await totals()).some((r) => r.name === 'cpus' && r.role === 'web' && r.scalar.value === 1));
  t.is((await api(c, { type: 'CREATE_VOLUMES', create_volumes: { agent_id: { value: agentId }, volumes: [volume] } })).status, 202);
  t.true((await totals()).some((r) => r.disk?.persistence?.id === 'vol1'));
  t.is((await api(c, { type: 'DESTROY_VOLUMES', destroy_volumes: { agent_id: { value: agentId }, volumes: [volume] } })).status, 202);
  t.is(
    (
      await api(c, {
        type: 'UNRESERVE_RESOURCES',
        unreserve_resources: { agent_id: { value: agentId }, resources: [reserved('cpus', 1), reserved('disk', 200)] },
      })
    ).status,
    202,
  );
  t.false((await totals()).some((r) => r.role === 'web'));
  const noAgent = await api(c, { type: 'CREATE_VOLUMES', create_volumes: { volumes: [volume] } });
  t.is(noAgent.status, 400);
  t.regex(noAgent.text, /create_volumes\.agent_id/);

  // The master restarts on its work dir: the weights come back from the registry.
  await c.stopMaster();
  await c.startMaster();
  await c.until(async () => (await c.getJson('/master/slaves')).slaves.length === 1, 15_000, 'the agent to re-register');
  t.deepEqual(
    (await call(c, { type: 'GET_WEIGHTS' })).get_weights.weight_infos.sort((a: Json, b: Json) => a.role.localeCompare(b.role)),
    [
      { weight: 0.5, role: 'db' },
      { weight: 3.5, role: 'web' },
    ],
  );

  // Teardown and mark gone.
  const fw2 = await c.framework(frameworkInfo({ name: 'doomed' }));
  t.is((await api(c, { type: 'TEARDOWN', teardown: { framework_id: { value: 'nope' } } })).status, 400);
  t.is((await api(c, { type: 'TEARDOWN', teardown: { framework_id: { value: fw2.frameworkId } } })).status, 200);
  const completed = (await call(c, { type: 'GET_FRAMEWORKS' })).get_frameworks.completed_frameworks;
  t.true(completed.some((f: Json) => f.framework_info.id.value === fw2.frameworkId));
  t.is((await api(c, { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: 'nope' } } })).status, 404);
  t.is((await api(c, { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: agentId } } })).status, 200);
  t.deepEqual((await call(c, { type: 'GET_AGENTS' })).get_agents.agents, []);
});

test('bad calls: one clear status and message each; /master/api/v1 and query strings work', async (t) => {
  const c = await startCluster(t, { agents: 0 });
  const raw = (body: string | undefined, headers: Record<string, string>, method = 'POST') =>
    request(c.url('/api/v1'), { method, headers, ...(body === undefined ? {} : { body }) });
  let r = await raw('{"type":"GET_HEALTH"}', {});
  t.is(r.status, 400);
  t.is(r.text, "Expecting 'Content-Type' to be present");
  r = await raw('{"type":"GET_HEALTH"}', { 'Content-Type': 'text/plain' });
  t.is(r.status, 415);
  r = await raw('{"type":"GET_HEALTH"}', { 'Content-Type': 'application/x-protobuf' });
  t.is(r.status, 415);
  r = await raw('{"type":9}', JSON_HEADERS);
  t.is(r.status, 400);
  t.is(r.text, "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'type'");
  r = await raw('{}', JSON_HEADERS);
  t.is(r.status, 400);
  t.is(r.text, "Failed to validate master::Call: Expecting 'type' to be present");
  r = await raw('{"type":"GET_CONTAINERS"}', JSON_HEADERS);
  t.is(r.status, 400, 'an agent call is unknown to the master: dropped, so no type');
  r = await raw('not json', JSON_HEADERS);
  t.is(r.status, 400);
  r = await raw('{"type":"UNKNOWN"}', JSON_HEADERS);
  t.is(r.status, 501);
  r = await raw('{"type":"GET_QUOTA"}', JSON_HEADERS);
  t.is(r.status, 501);
  t.is(r.text, 'Received an unsupported call type: GET_QUOTA');
  r = await raw('{"type":"GET_HEALTH"}', { 'Content-Type': 'application/json', Accept: 'text/html' });
  t.is(r.status, 406);
  r = await raw('{"type":"GET_HEALTH"}', { 'Content-Type': 'application/json', Accept: 'application/recordio' });
  t.is(r.status, 406);
  r = await raw(undefined, {}, 'GET');
  t.is(r.status, 405);
  r = await raw('{"type":"TEARDOWN","teardown":{"framework_id":{}}}', JSON_HEADERS);
  t.is(r.status, 400);
  t.is(r.text, 'Failed to convert JSON into Call protobuf: Missing required fields: teardown.framework_id.value');
  r = await request(c.url('/master/api/v1?GET_HEALTH'), { headers: JSON_HEADERS, body: { type: 'GET_HEALTH' } });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  r = await raw('{"type":"GET_HEALTH"}', { 'Content-Type': 'application/json' });
  t.is(r.status, 200, 'no Accept: JSON');
});

test('SUBSCRIBE: SUBSCRIBED with the state, HEARTBEAT, then a task ADDED → RUNNING → FINISHED in order, frameworks and agents come and go', async (t) => {
  const c = await startCluster(t);
  const ev = await Events.open(c);
  t.teardown(() => ev.close());
  t.is(ev.status, 200);
  t.is(ev.contentType, 'application/json');
  const subscribed = await ev.until((e) => e.type === 'SUBSCRIBED', 'SUBSCRIBED');
  t.is(ev.events[0], subscribed);
  t.is(subscribed.subscribed.heartbeat_interval_seconds, 15);
  t.is(subscribed.subscribed.get_state.get_agents.agents.length, 1);
  await ev.until((e) => e.type === 'HEARTBEAT', 'HEARTBEAT');
  t.is(ev.events[1].type, 'HEARTBEAT');

  const fw = await c.framework(frameworkInfo({ name: 'watched' }));
  await ev.until((e) => e.type === 'FRAMEWORK_ADDED', 'FRAMEWORK_ADDED');
  await fw.launch([commandTask('short', 'sleep 0.3')]);
  await fw.update('short', 'TASK_FINISHED', 15_000);
  await ev.until((e) => e.type === 'TASK_UPDATED' && e.task_updated.state === 'TASK_FINISHED', 'TASK_FINISHED');
  const mine = ev.events.filter(
    (e) =>
      (e.type === 'TASK_ADDED' && e.task_added.task.task_id.value === 'short') ||
      (e.type === 'TASK_UPDATED' && e.task_updated.status.task_id.value === 'short'),
  );
  const states = mine.map((e) => (e.type === 'TASK_ADDED' ? `ADDED ${e.task_added.task.state}` : e.task_updated.state));
  t.is(states[0], 'ADDED TASK_STAGING');
  t.is(states.at(-1), 'TASK_FINISHED');
  t.true(states.indexOf('TASK_RUNNING') > 0 && states.indexOf('TASK_RUNNING') < states.length - 1, states.join(' → '));
  const finished = mine.at(-1);
  t.is(finished.task_updated.framework_id.value, fw.frameworkId);
  t.is(finished.task_updated.status.source, 'SOURCE_EXECUTOR');
  const added = mine[0].task_added.task;
  t.is(added.resources.find((r: Json) => r.name === 'cpus').scalar.value, 0.1);

  // Torn down: FRAMEWORK_REMOVED; the agent marked gone: AGENT_REMOVED.
  t.is((await api(c, { type: 'TEARDOWN', teardown: { framework_id: { value: fw.frameworkId } } })).status, 200);
  const removed = await ev.until((e) => e.type === 'FRAMEWORK_REMOVED', 'FRAMEWORK_REMOVED');
  t.is(removed.framework_removed.framework_info.id.value, fw.frameworkId);
  const agentId = subscribed.subscribed.get_state.get_agents.agents[0].agent_info.id.value;
  t.is((await api(c, { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: agentId } } })).status, 200);
  t.is((await ev.until((e) => e.type === 'AGENT_REMOVED', 'AGENT_REMOVED')).agent_removed.agent_id.value, agentId);
  t.is((await c.getJson('/metrics/snapshot'))['master/operator_event_stream_subscribers'], 1);
});

test('a subscriber that stops reading is cut off past --max_stream_backlog (its backlog, so the master memory, bounded) and counted', async (t) => {
  const c = await startCluster(t, { agents: 0, masterArgs: ['--max_stream_backlog=2MB'] });
  const socket = net.connect(c.masterPort, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(
    `POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 20\r\n\r\n{"type":"SUBSCRIBE"}`,
  );
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.pause();
  const metric = async (name: string) => (await c.getJson('/metrics/snapshot'))[name];
  t.is(await metric('master/operator_event_stream_subscribers'), 1);
  // Each re-subscription of a framework with 256 KiB of labels is a FRAMEWORK_UPDATED of that size.
  const labels = { labels: [{ key: 'big', value: 'x'.repeat(256 * 1024) }] };
  const info = frameworkInfo({ name: 'big', failover_timeout: 3600, labels });
  const first = await c.framework(info);
  let n = 0;
  while (n < 120 && (await metric('master/operator_event_stream_overflows')) === 0) {
    const again = await c.framework(info, { frameworkId: first.frameworkId });
    again.close();
    n++;
  }
  t.log(`${n} re-subscriptions`);
  t.is(await metric('master/operator_event_stream_overflows'), 1);
  t.is(await metric('master/operator_event_stream_subscribers'), 0);
  socket.resume();
  await closed;
});

test('authentication and the ACLs: 401 without credentials; what a principal may see is filtered, on the stream too; denied calls are 403', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-opapi-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files = commonAuthFiles(dir);
  const acls = writePrivate(
    dir,
    'acls.json',
    JSON.stringify({
      view_frameworks: [
        { principals: { values: ['ops'] }, users: { type: 'ANY' } },
        { principals: { type: 'ANY' }, users: { type: 'NONE' } },
      ],
      view_flags: [{ principals: { values: ['web'] }, flags: { type: 'NONE' } }],
      update_weights: [{ principals: { values: ['web'] }, roles: { type: 'NONE' } }],
      set_log_level: [{ principals: { values: ['web'] }, level: { type: 'NONE' } }],
    }),
  );
  const c = await startCluster(t, { masterArgs: ['--authenticate_http_readwrite', `--http_credentials=${files.credentials}`, `--acls=${acls}`] });
  t.is((await api(c, { type: 'GET_HEALTH' })).status, 401);
  t.regex(String((await api(c, { type: 'GET_HEALTH' })).headers['www-authenticate']), /realm="mesos-master-readwrite"/);
  const ops = basic('ops');
  const web = basic('web');
  const opsEvents = await Events.open(c, ops);
  const webEvents = await Events.open(c, web);
  t.teardown(() => {
    opsEvents.close();
    webEvents.close();
  });
  const fw = await c.framework(frameworkInfo({ name: 'secret', user: USER }));
  await fw.launch([commandTask('hidden', 'sleep 0.2')]);
  await fw.update('hidden', 'TASK_FINISHED', 15_000);
  await opsEvents.until((e) => e.type === 'TASK_UPDATED' && e.task_updated.state === 'TASK_FINISHED', 'the task finishing (ops)');
  t.is((await call(c, { type: 'GET_FRAMEWORKS' }, ops)).get_frameworks.frameworks.length, 1);
  t.is((await call(c, { type: 'GET_FRAMEWORKS' }, web)).get_frameworks.frameworks.length, 0);
  const webTasks = (await call(c, { type: 'GET_TASKS' }, web)).get_tasks;
  t.is(webTasks.tasks.length + webTasks.completed_tasks.length, 0);
  t.is((await call(c, { type: 'GET_AGENTS' }, web)).get_agents.agents.length, 1, 'agents are not hidden');
  t.false(
    webEvents.events.some((e) => e.type.startsWith('TASK_') || e.type.startsWith('FRAMEWORK_')),
    'web saw no task or framework event',
  );
  t.true(webEvents.events.some((e) => e.type === 'SUBSCRIBED'));
  t.is((await api(c, { type: 'GET_FLAGS' }, web)).status, 403);
  t.is((await api(c, { type: 'GET_FLAGS' }, ops)).status, 200);
  t.is((await api(c, { type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: [{ role: 'r', weight: 2 }] } }, web)).status, 403);
  t.is((await api(c, { type: 'SET_LOGGING_LEVEL', set_logging_level: { level: 1, duration: { nanoseconds: 1e9 } } }, web)).status, 403);
  t.is((await api(c, { type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: [{ role: 'r', weight: 2 }] } }, ops)).status, 200);
});

test('the agent: every call with its shape, the sandbox through LIST_FILES and READ_FILE, containers with statistics, bad calls', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo({ name: 'on-agent' }));
  await fw.launch([commandTask('talker', 'echo hello-from-the-task; sleep 30')]);
  await fw.update('talker', 'TASK_RUNNING');
  const agentApi = (body: Json, headers: Record<string, string> = JSON_HEADERS) => request(c.agentUrl(0, '/api/v1'), { headers, body });
  const agentCall = async (body: Json): Promise<Json> => {
    const r = await agentApi(body);
    if (r.status !== 200) throw new Error(`${body.type}: ${r.status} ${r.text}`);
    return r.json();
  };
  t.deepEqual(await agentCall({ type: 'GET_HEALTH' }), { type: 'GET_HEALTH', get_health: { healthy: true } });
  t.true((await agentCall({ type: 'GET_FLAGS' })).get_flags.flags.some((f: Json) => f.name === 'hostname' && f.value === 'agent0'));
  t.regex((await agentCall({ type: 'GET_VERSION' })).get_version.version_info.version, /^\d+\.\d+/);
  const metrics = (await agentCall({ type: 'GET_METRICS', get_metrics: {} })).get_metrics.metrics;
  t.is(metrics.find((m: Json) => m.name === 'slave/tasks_running').value, 1);
  t.is((await agentCall({ type: 'GET_LOGGING_LEVEL' })).get_logging_level.level, 0);
  t.is((await agentApi({ type: 'SET_LOGGING_LEVEL', set_logging_level: { level: 2, duration: { nanoseconds: 60e9 } } })).status, 200);
  t.is((await agentCall({ type: 'GET_LOGGING_LEVEL' })).get_logging_level.level, 2);

  const agentInfo = (await agentCall({ type: 'GET_AGENT' })).get_agent.agent_info;
  t.is(agentInfo.hostname, 'agent0');
  t.is(agentInfo.port, c.agents[0]!.port);
  t.is(typeof agentInfo.id.value, 'string');

  const frameworks = (await agentCall({ type: 'GET_FRAMEWORKS' })).get_frameworks;
  t.is(frameworks.frameworks[0].framework_info.id.value, fw.frameworkId);
  t.deepEqual(frameworks.completed_frameworks, []);
  const executors = (await agentCall({ type: 'GET_EXECUTORS' })).get_executors;
  t.is(executors.executors[0].executor_info.executor_id.value, 'talker');
  const tasks = (await agentCall({ type: 'GET_TASKS' })).get_tasks;
  t.deepEqual(Object.keys(tasks), ['pending_tasks', 'queued_tasks', 'launched_tasks', 'terminated_tasks', 'completed_tasks']);
  t.is(tasks.launched_tasks[0].task_id.value, 'talker');
  t.is(tasks.launched_tasks[0].state, 'TASK_RUNNING');
  t.is(tasks.launched_tasks[0].statuses[0].state, 'TASK_RUNNING');
  const state = (await agentCall({ type: 'GET_STATE' })).get_state;
  t.deepEqual(Object.keys(state), ['get_tasks', 'get_executors', 'get_frameworks']);

  const containers = (await agentCall({ type: 'GET_CONTAINERS' })).get_containers.containers;
  t.is(containers.length, 1);
  t.is(containers[0].executor_id.value, 'talker');
  t.is(containers[0].framework_id.value, fw.frameworkId);
  t.is(typeof containers[0].container_id.value, 'string');
  t.true(containers[0].resource_statistics.mem_rss_bytes > 0);
  t.is(containers[0].resource_statistics.cpus_limit, 0.1);

  // The sandbox: its real path from the agent's /state, listed and read through the API.
  const agentState = await c.agentJson(0, '/state');
  const sandbox: string = agentState.frameworks[0].executors[0].directory;
  await c.until(
    async () => {
      const r = await agentCall({ type: 'READ_FILE', read_file: { path: `${sandbox}/stdout`, offset: 0 } });
      return Buffer.from(r.read_file.data, 'base64').toString().includes('hello-from-the-task');
    },
    10_000,
    'the task output',
  );
  const listed = (await agentCall({ type: 'LIST_FILES', list_files: { path: sandbox } })).list_files.file_infos;
  const stdout = listed.find((f: Json) => f.path === `${sandbox}/stdout`);
  t.truthy(stdout, JSON.stringify(listed.map((f: Json) => f.path)));
  t.is(stdout.mode & 0o170000, 0o100000, 'a regular file');
  t.true(stdout.mtime.nanoseconds > 1e18);
  t.deepEqual(
    listed.map((f: Json) => f.path),
    [...listed.map((f: Json) => f.path)].sort(),
  );
  const probe = (await agentCall({ type: 'READ_FILE', read_file: { path: `${sandbox}/stdout`, offset: 0, length: 0 } })).read_file;
  t.true(probe.size > 0);
  t.is(probe.data, '');
  const tail = (await agentCall({ type: 'READ_FILE', read_file: { path: `${sandbox}/stdout`, offset: 6 } })).read_file;
  t.is(Buffer.from(tail.data, 'base64').toString().split('\n')[0], 'from-the-task');
  t.is((await agentApi({ type: 'READ_FILE', read_file: { path: `${sandbox}/nope`, offset: 0 } })).status, 404);
  t.is((await agentApi({ type: 'READ_FILE', read_file: { path: '/etc/passwd', offset: 0 } })).status, 404);
  t.is((await agentApi({ type: 'READ_FILE', read_file: { path: sandbox, offset: 0 } })).status, 400);
  t.is((await agentApi({ type: 'LIST_FILES', list_files: { path: '/etc' } })).status, 404);

  // Bad calls.
  const noPath = await agentApi({ type: 'LIST_FILES', list_files: {} });
  t.is(noPath.status, 400);
  t.is(noPath.text, 'Failed to convert JSON into Call protobuf: Missing required fields: list_files.path');
  const noSub = await agentApi({ type: 'GET_METRICS' });
  t.is(noSub.status, 400);
  t.is(noSub.text, "Failed to validate agent::Call: Expecting 'get_metrics' to be present");
  t.is((await agentApi({ type: 'LAUNCH_NESTED_CONTAINER' })).status, 501);
  t.is((await agentApi({ type: 'GET_AGENTS' })).status, 400, 'a master call is unknown to the agent');
  t.is((await agentApi({ type: 'GET_HEALTH' }, { 'Content-Type': 'text/plain' })).status, 415);
  t.is((await request(c.agentUrl(0, '/slave(1)/api/v1'), { headers: JSON_HEADERS, body: { type: 'GET_HEALTH' } })).status, 200);
});
