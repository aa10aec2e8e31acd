/**
 * JSON nested thousands of levels deep, sent where Corral passes a value through without
 * reading it (a task's `discovery`, a status's `container_status`): JSON.parse reads it, but
 * writing it again overflows the stack. Each API refuses it where the body is parsed (400 naming
 * the field), so nothing of it is kept, and what was already running keeps working through a
 * master restart. A value nested up to the limit (100 levels in all) still goes through.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { type Cluster, type Json, type Scheduler, commandTask, frameworkInfo, request } from '../helpers/cluster.ts';
import { startCluster } from '../helpers/cluster.ts';
import { READ_EVENTS } from '../helpers/executor_script.ts';

/** JSON text of `n` nested objects: `{"a":{"a":…1…}}`. */
function nest(n: number): string {
  return `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
}

/** `body` as JSON text with the string "DEEP" replaced by `deep`. */
function withDeep(body: Json, deep: string): string {
  const text = JSON.stringify(body);
  if (!text.includes('"DEEP"')) throw new Error('no "DEEP" placeholder');
  return text.replace('"DEEP"', deep);
}

/** What must not change after a refused call: tasks, resources in use, the task counters. */
async function digest(c: Cluster): Promise<string> {
  const s = await c.getJson('/master/state');
  const m = await c.getJson('/metrics/snapshot');
  return JSON.stringify({
    tasks: s.frameworks.map((f: Json) => f.tasks.map((x: Json) => [x.id, x.state])),
    used: s.slaves.map((a: Json) => a.used_resources),
    offered: s.slaves.map((a: Json) => a.offered_resources),
    counters: Object.fromEntries(Object.entries(m).filter(([k]) => /^master\/(tasks_|task_)/.test(k))),
  });
}

function acceptBody(s: Scheduler, offer: Json, tasks: Json[]): Json {
  return {
    framework_id: { value: s.frameworkId },
    type: 'ACCEPT',
    accept: {
      offer_ids: [offer.id],
      operations: [{ type: 'LAUNCH', launch: { task_infos: tasks.map((x) => ({ ...x, agent_id: offer.agent_id })) } }],
      filters: { refuse_seconds: 0 },
    },
  };
}

test('an ACCEPT with a task whose discovery nests 5,000 deep is refused whole with 400 naming the field; nothing is held; the state endpoints keep answering; 100 levels in all still launch', async (t) => {
  const c = await startCluster(t);
  const s = await c.framework(frameworkInfo({ name: 'deep' }));
  const [offer] = await s.offers();
  const before = await digest(c);
  const api = c.url('/api/v1/scheduler');
  const headers = { 'Content-Type': 'application/json', 'Mesos-Stream-Id': s.streamId };

  const bad = commandTask('deep', 'sleep 60', { discovery: 'DEEP' });
  const good = commandTask('fine', 'sleep 60');
  const r = await request(api, { headers, body: withDeep(acceptBody(s, offer, [good, bad]), nest(5000)) });
  t.is(r.status, 400, r.text);
  t.regex(r.text, /^accept\.operations\[0\]\.launch\.task_infos\[1\]\.discovery\.a\.a\.a.*: is nested more than 100 levels deep/);
  for (const path of ['/master/state', '/master/tasks', '/master/frameworks', '/master/state-summary']) {
    t.is((await request(c.url(path), { method: 'GET' })).status, 200, path);
  }
  t.is(await digest(c), before, 'no task, no resources held, no counter moved');
  t.deepEqual((await c.agentJson(0, '/state')).frameworks, [], 'the agent was told nothing');

  // The offer is still the framework's: the same tasks with discovery at the limit (its
  // innermost object 100 levels down in the call) launch, and every endpoint can show them.
  // discovery is at level 8 of the call (accept, operations, [0], launch, task_infos, [1]).
  const r2 = await request(api, { headers, body: withDeep(acceptBody(s, offer, [good, bad]), nest(93)) });
  t.is(r2.status, 202, r2.text);
  await s.update('fine', 'TASK_RUNNING');
  await s.update('deep', 'TASK_RUNNING');
  const state = await c.getJson('/master/state');
  t.deepEqual(state.frameworks[0].tasks.map((x: Json) => x.id).sort(), ['deep', 'fine']);
  t.is((await c.getJson('/master/tasks')).tasks.length, 2);
  const onAgent = (await c.agentJson(0, '/state')).frameworks[0].executors.map((e: Json) => e.id).sort();
  t.deepEqual(onAgent, ['deep', 'fine']);
  // One more level is one too many.
  const [again] = await s.offers();
  const r3 = await request(api, { headers, body: withDeep(acceptBody(s, again, [commandTask('deeper', 'true', { discovery: 'DEEP' })]), nest(94)) });
  t.is(r3.status, 400, r3.text);
  t.regex(r3.text, /^accept\.operations\[0\]\.launch\.task_infos\[0\]\.discovery(\.a)+…: is nested more than 100 levels deep/);
});

/**
 * A custom executor that answers its LAUNCH with TASK_RUNNING, then sends one more update whose
 * container_status nests 5,000 deep, writes the agent's answer (`<status> <text>`) to
 * `attack-result` in its sandbox and stays up.
 */
const ATTACKER = `${READ_EVENTS}
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
const env = process.env;
const url = 'http://' + env.MESOS_AGENT_ENDPOINT + '/api/v1/executor';
const ids = { framework_id: { value: env.MESOS_FRAMEWORK_ID }, executor_id: { value: env.MESOS_EXECUTOR_ID } };
function post(text, onResponse) {
  const req = http.request(url, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(text) } }, onResponse);
  req.on('error', (e) => { console.error('executor:', e.message); process.exit(3); });
  req.end(text);
}
function status(task, extra) {
  return { task_id: task.task_id, state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR', uuid: randomBytes(16).toString('base64'), ...extra };
}
function answer(res, done) {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (d) => (text += d));
  res.on('end', () => done(res.statusCode, text));
}
post(JSON.stringify({ ...ids, type: 'SUBSCRIBE', subscribe: {} }), (res) => {
  readEvents(res, (ev) => {
    if (ev.type === 'LAUNCH') {
      const task = ev.launch.task;
      post(JSON.stringify({ ...ids, type: 'UPDATE', update: { status: status(task, { message: 'plain' }) } }), (r1) => answer(r1, () => {
        const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
        const text = JSON.stringify({ ...ids, type: 'UPDATE', update: { status: status(task, { message: 'deep', container_status: 'DEEP' }) } }).replace('"DEEP"', deep);
        post(text, (r2) => answer(r2, (code, body) => writeFileSync('attack-result', code + ' ' + body)));
      }));
    }
    if (ev.type === 'SHUTDOWN') process.exit(0);
  });
  res.on('end', () => process.exit(0));
});
`;

test('an executor UPDATE whose container_status nests 5,000 deep is refused with 400 naming the field; the agent and all its tasks re-register after a master restart', async (t) => {
  const c = await startCluster(t);
  const executorFile = join(c.workDir, 'attacker.mjs');
  writeFileSync(executorFile, ATTACKER);
  const info = frameworkInfo({ name: 'checkpointing', checkpoint: true, failover_timeout: 3600 });
  const otherInfo = frameworkInfo({ name: 'bystander', checkpoint: true, failover_timeout: 3600 });
  const s = await c.framework(info);
  const other = await c.framework(otherInfo);
  const attacker = {
    ...commandTask('attacked', 'unused'),
    command: undefined,
    executor: {
      executor_id: { value: 'attacker' },
      name: 'attacker',
      command: { value: `${JSON.stringify(process.execPath)} ${JSON.stringify(executorFile)}`, shell: true },
      resources: commandTask('x', 'x').resources,
    },
  };
  await s.launch([attacker]);
  await other.launch([commandTask('bystander', 'sleep 60')]);
  await s.update('attacked', 'TASK_RUNNING', 20_000);
  await other.update('bystander', 'TASK_RUNNING', 20_000);

  const sandbox: string = (await c.agentJson(0, '/state')).frameworks.find((f: Json) => f.id === s.frameworkId).executors[0].directory;
  let result = '';
  await c.until(
    () => {
      try {
        result = readFileSync(join(sandbox, 'attack-result'), 'utf8');
      } catch {
        result = '';
      }
      return result !== '';
    },
    10_000,
    'the executor to send its deep update',
  );
  t.regex(result, /^400 .*update\.status\.container_status(\.a)+…: is nested more than 100 levels deep/);
  await Promise.all([...s.acks, ...other.acks]);

  // The master restarts: the agent re-registers with both frameworks' tasks.
  const port = c.masterPort;
  const agentId = c.agents[0]!.agent.id;
  await c.stopMaster();
  await c.until(() => !c.agents[0]!.agent.isConnected, 5000, 'the agent to notice');
  await c.startMaster(port);
  await c.until(
    async () => {
      const slaves = (await c.getJson('/master/slaves')).slaves;
      return slaves.length === 1 && slaves[0].id === agentId && slaves[0].active === true;
    },
    10_000,
    'the agent to re-register',
  );
  // Both frameworks fail over to the new master and find their tasks there.
  await c.framework(info, { frameworkId: s.frameworkId });
  await c.framework(otherInfo, { frameworkId: other.frameworkId });
  const tasks = (await c.getJson('/master/tasks')).tasks.map((x: Json) => `${x.id}:${x.state}`).sort();
  t.deepEqual(tasks, ['attacked:TASK_RUNNING', 'bystander:TASK_RUNNING']);
  t.is((await request(c.url('/master/state'), { method: 'GET' })).status, 200);
});
