/**
 * Random bodies against every JSON API of a real master and agent (fast-check, bounded runs):
 * each call type's body with one part replaced by a random value (any JSON type, huge, or
 * nested hundreds or thousands of levels deep), and whole random bodies. The daemons must never
 * answer 5xx (but 501 for a call type not implemented), and a call refused must change nothing
 * the master or the agent shows.
 */
import http from 'node:http';
import test from 'ava';
import fc from 'fast-check';
import { describeError } from '../../lib/common/errors.ts';
import { type Cluster, type Json, type Scheduler, commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';

/** A marker that JSON.stringify writes as `"\u0000HOLE"`, replaced by the random value's text. */
const HOLE = '\u0000HOLE';
const HOLE_TEXT = JSON.stringify(HOLE);

const scalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(2 ** 64, -(2 ** 63), 1e300, 0.5, -1),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', 'Infinity', '-1', '1e400', '0x10', 'true', 'TASK_RUNNING', 'SCALAR', 'RANGES', 'LAUNCH', 'AAAAAAAAAAAAAAAAAAAAAA==', '*', '..'),
);

/** JSON text of a random value: a scalar, a small structure, a large one, or a deep one. */
const valueText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: scalar.map((v) => JSON.stringify(v)) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 200_000 }).map((n) => JSON.stringify('x'.repeat(n))) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 3000 }), scalar).map(([n, v]) => JSON.stringify(Array.from({ length: n }, () => v))) },
  {
    weight: 3,
    arbitrary: fc
      .record({
        depth: fc.integer({ min: 90, max: 6000 }),
        arrays: fc.double({ min: 0, max: 1, noNaN: true }),
        key: fc.constantFrom('a', 'value', 'labels', 'container_status', 'discovery'),
        leaf: scalar,
      })
      .map(({ depth, arrays, key, leaf }) => {
        const opens: string[] = [];
        const closes: string[] = [];
        for (let i = 0; i < depth; i++) {
          const array = (i * 7919) % 1000 < arrays * 1000;
          opens.push(array ? '[' : `{${JSON.stringify(key)}:`);
          closes.push(array ? ']' : '}');
        }
        return `${opens.join('')}${JSON.stringify(leaf)}${closes.reverse().join('')}`;
      }),
  },
);

/** Every path to a value inside `v` (the root excluded). */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([...at, i]), paths(x, [...at, i], out)));
  else if (typeof v === 'object' && v !== null)
    for (const [k, x] of Object.entries(v)) {
      out.push([...at, k]);
      paths(x, [...at, k], out);
    }
  return out;
}

function replaced(v: unknown, path: readonly (string | number)[]): unknown {
  if (path.length === 0) return HOLE;
  const [k, ...rest] = path;
  if (Array.isArray(v)) return v.map((x, i) => (i === k ? replaced(x, rest) : x));
  return { ...(v as object), [k!]: replaced((v as Record<string, unknown>)[k!], rest) };
}

/**
 * A body: `skeleton` with one value (or one new key) replaced by a random one, or a whole random
 * body, or bytes that are not JSON at all.
 */
function bodies(skeletons: readonly Json[]): fc.Arbitrary<string> {
  const mutated = fc
    .tuple(fc.constantFrom(...skeletons), fc.nat(), fc.boolean(), fc.constantFrom('type', 'extra', 'labels', 'x'), valueText)
    .map(([sk, n, addKey, key, text]) => {
      const all = paths(sk);
      const path = all[n % all.length]!;
      const target = addKey ? [...path.slice(0, -1), key] : path;
      return JSON.stringify(replaced(sk, target)).replace(HOLE_TEXT, text);
    });
  return fc.oneof(
    { weight: 8, arbitrary: mutated },
    { weight: 1, arbitrary: fc.constantFrom(...skeletons).map((sk) => JSON.stringify(sk)) },
    { weight: 1, arbitrary: valueText },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  );
}

interface Answer {
  status: number;
  text: string;
}

/**
 * POST `body`; resolves with the status and (for a non-200, or a 200 that is not a stream) the
 * text. A stream (a SUBSCRIBE that went through) is read up to its first record and closed.
 */
function post(url: string, body: string, headers: Record<string, string>): Promise<Answer & { first?: Json }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
      timeout: 15_000,
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: no answer in time`)));
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      const streaming = res.statusCode === 200 && res.headers['content-length'] === undefined;
      res.on('data', (d: Buffer) => {
        parts.push(d);
        if (!streaming) return;
        const text = Buffer.concat(parts).toString('utf8');
        const nl = text.indexOf('\n');
        if (nl < 0 || text.length < nl + 1 + Number(text.slice(0, nl))) return;
        res.destroy();
        resolve({ status: 200, text: '', first: JSON.parse(text.slice(nl + 1, nl + 1 + Number(text.slice(0, nl)))) });
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, text: '' }));
    });
    req.end(body);
  });
}

/** What a refused call must not change, on the master and on the agent. */
async function digest(c: Cluster): Promise<string> {
  const s = await c.getJson('/master/state');
  const m = await c.getJson('/metrics/snapshot');
  const a = await c.agentJson(0, '/state');
  return JSON.stringify({
    frameworks: s.frameworks.map((f: Json) => [f.id, f.name, f.active, f.roles, f.tasks.map((x: Json) => [x.id, x.state]), f.completed_tasks.length]),
    completed: s.completed_frameworks.map((f: Json) => f.id),
    slaves: s.slaves.map((x: Json) => [x.id, x.active, x.used_resources, x.reserved_resources_full]),
    counters: Object.fromEntries(Object.entries(m).filter(([k]) => /^master\/(tasks_|frameworks_|slaves_)/.test(k))),
    agent: a.frameworks.map((f: Json) => [f.id, f.executors.map((e: Json) => e.id)]),
    reserved: a.reserved_resources_full,
  });
}

async function fuzz(
  t: { log(...v: unknown[]): void },
  c: Cluster,
  what: string,
  numRuns: number,
  arb: fc.Arbitrary<string>,
  send: (body: string) => Promise<Answer & { first?: Json }>,
): Promise<void> {
  const statuses = new Map<number, number>();
  const out = await fc.check(
    fc.asyncProperty(arb, async (body) => {
      const before = await digest(c);
      const r = await send(body);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      // 501 is Mesos's answer to a call type it does not implement; any other 5xx is a failure.
      if (r.status >= 500 && r.status !== 501)
        throw new Error(`${what}: ${r.status} ${r.text.slice(0, 300)} for a body of ${body.length} bytes: ${body.slice(0, 300)}`);
      if (r.status >= 400) {
        const after = await digest(c);
        if (after !== before)
          throw new Error(`${what}: ${r.status} ${r.text.slice(0, 200)} changed the state:\n${before}\n${after}\nbody: ${body.slice(0, 300)}`);
      }
    }),
    { numRuns, endOnFailure: true },
  );
  t.log(what, Object.fromEntries(statuses));
  if (out.failed) throw new Error(`${describeError(out.errorInstance)}\n(${what}: seed ${out.seed}, after ${out.numRuns} runs)`);
}

function schedulerSkeletons(s: Scheduler, agentId: string): Json[] {
  const fid = { value: s.frameworkId };
  const task = {
    ...commandTask('fz', 'true'),
    agent_id: { value: agentId },
    labels: { labels: [{ key: 'k', value: 'v' }] },
    discovery: { visibility: 'FRAMEWORK', name: 'd', ports: { ports: [{ number: 80, protocol: 'tcp' }] } },
    container: { type: 'MESOS' },
  };
  const resource = { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, reservations: [{ type: 'DYNAMIC', role: 'r1', principal: 'p' }] };
  return [
    { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo({ name: 'fz', roles: ['r1'], capabilities: [{ type: 'MULTI_ROLE' }] }) } },
    { framework_id: { value: 'not-mine' }, type: 'TEARDOWN' },
    {
      framework_id: fid,
      type: 'ACCEPT',
      accept: {
        offer_ids: [{ value: 'OFFER' }],
        operations: [{ type: 'LAUNCH', launch: { task_infos: [task, { ...task, task_id: { value: 'fz2' }, labels: undefined }] } }],
        filters: { refuse_seconds: 0 },
      },
    },
    {
      framework_id: fid,
      type: 'ACCEPT',
      accept: {
        offer_ids: [{ value: 'OFFER' }],
        operations: [
          { type: 'RESERVE', reserve: { resources: [resource] } },
          {
            type: 'CREATE',
            create: { volumes: [{ ...resource, name: 'disk', disk: { persistence: { id: 'v1' }, volume: { container_path: 'd', mode: 'RW' } } }] },
          },
        ],
      },
    },
    { framework_id: fid, type: 'DECLINE', decline: { offer_ids: [{ value: 'OFFER' }], filters: { refuse_seconds: 0 } } },
    { framework_id: fid, type: 'ACCEPT_INVERSE_OFFERS', accept_inverse_offers: { inverse_offer_ids: [{ value: 'x' }] } },
    { framework_id: fid, type: 'DECLINE_INVERSE_OFFERS', decline_inverse_offers: { inverse_offer_ids: [{ value: 'x' }] } },
    { framework_id: fid, type: 'REVIVE', revive: { roles: ['*'] } },
    { framework_id: fid, type: 'SUPPRESS', suppress: { roles: ['r9'] } },
    { framework_id: fid, type: 'KILL', kill: { task_id: { value: 'nope' }, agent_id: { value: agentId }, kill_policy: { grace_period: { nanoseconds: 5 } } } },
    { framework_id: fid, type: 'SHUTDOWN', shutdown: { executor_id: { value: 'nope' }, agent_id: { value: agentId } } },
    {
      framework_id: fid,
      type: 'ACKNOWLEDGE',
      acknowledge: { agent_id: { value: agentId }, task_id: { value: 'nope' }, uuid: Buffer.alloc(16, 1).toString('base64') },
    },
    {
      framework_id: fid,
      type: 'ACKNOWLEDGE_OPERATION_STATUS',
      acknowledge_operation_status: { uuid: Buffer.alloc(16, 1).toString('base64'), operation_id: { value: 'o' } },
    },
    { framework_id: fid, type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'nope' }, agent_id: { value: agentId } }] } },
    { framework_id: fid, type: 'RECONCILE_OPERATIONS', reconcile_operations: { operations: [{ operation_id: { value: 'o' } }] } },
    { framework_id: fid, type: 'MESSAGE', message: { agent_id: { value: agentId }, executor_id: { value: 'nope' }, data: 'aGk=' } },
    { framework_id: fid, type: 'REQUEST', request: { requests: [{ agent_id: { value: agentId }, resources: [resource] }] } },
    { framework_id: fid, type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { ...frameworkInfo({ name: 'fuzzed' }), id: fid } } },
    { framework_id: fid, type: 'UNKNOWN' },
  ];
}

test('fuzz: random bodies for every scheduler, executor, operator and agent call never get a 5xx, and a 4xx changes nothing', async (t) => {
  t.timeout(180_000);
  const c = await startCluster(t);
  const s = await c.framework(frameworkInfo({ name: 'fuzz-target' }));
  const agentId: string = (await c.getJson('/master/slaves')).slaves[0].id;
  const json = { 'Content-Type': 'application/json' };

  // The scheduler API. ACCEPT and DECLINE name the framework's latest offer ("OFFER"), so that
  // a task goes as far as being launched; after a call that went through the test waits until
  // every task has ended and been acknowledged. A SUBSCRIBE that goes through is torn down at
  // once. So nothing a call made is left to change the state under a later call.
  const latestOffer = async (): Promise<string> => {
    const e = await s.waitFor((x) => x.type === 'OFFERS', 3000, 'an offer').catch(() => undefined);
    return e === undefined ? 'no-offer' : (e.offers.offers[0].id.value as string);
  };
  const quiet = async (): Promise<boolean> => {
    const state = await c.getJson('/master/state');
    return state.frameworks.every((f: Json) => f.tasks.length === 0) && Array.from(c.agents[0]!.agent.liveExecutors()).length === 0;
  };
  await fuzz(t, c, 'scheduler', 300, bodies(schedulerSkeletons(s, agentId)), async (body) => {
    const subscribe = body.includes('"SUBSCRIBE"');
    if (body.includes('"OFFER"')) body = body.replace('"OFFER"', JSON.stringify(await latestOffer()));
    const r = await post(c.url('/api/v1/scheduler'), body, subscribe ? { ...json, Accept: 'application/json' } : { ...json, 'Mesos-Stream-Id': s.streamId });
    if (r.status < 300) await c.until(quiet, 20_000, 'the tasks a fuzzed call launched to end');
    if (r.first?.type === 'SUBSCRIBED') {
      const form = `frameworkId=${encodeURIComponent(r.first.subscribed.framework_id.value)}`;
      const down = await post(c.url('/master/teardown'), form, { 'Content-Type': 'application/x-www-form-urlencoded' });
      // The subscription's connection is closed once its first event is read: a fuzzed
      // failover_timeout of 0 has the master remove the framework at once, before the teardown.
      const gone = down.status === 400 && /No framework found/.test(down.text);
      if (down.status !== 200 && !gone) throw new Error(`teardown of a fuzzed framework: ${down.status} ${down.text}`);
    }
    return r;
  });

  // The executor API, for this framework and an executor it does not run.
  const ids = { framework_id: { value: s.frameworkId }, executor_id: { value: 'fuzz-executor' } };
  const status = {
    task_id: { value: 't' },
    state: 'TASK_RUNNING',
    source: 'SOURCE_EXECUTOR',
    uuid: Buffer.alloc(16, 2).toString('base64'),
    container_status: { network_infos: [{ ip_addresses: [{ ip_address: '10.0.0.1' }] }] },
    labels: { labels: [{ key: 'k' }] },
  };
  const executorSkeletons = [
    {
      ...ids,
      type: 'SUBSCRIBE',
      subscribe: { unacknowledged_tasks: [commandTask('t', 'true')], unacknowledged_updates: [{ framework_id: ids.framework_id, status }] },
    },
    { ...ids, type: 'UPDATE', update: { status } },
    { ...ids, type: 'MESSAGE', message: { data: 'aGk=' } },
    { ...ids, type: 'HEARTBEAT' },
    { ...ids, type: 'UNKNOWN' },
  ];
  await fuzz(t, c, 'executor', 150, bodies(executorSkeletons), (body) =>
    post(c.agentUrl(0, '/api/v1/executor'), body, { ...json, Accept: 'application/json' }),
  );

  // The operator's reservation and volume endpoints (form bodies whose resource lists are JSON)
  // and teardown (of frameworks that do not exist).
  const resources = [
    { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: 'r1', reservation: { principal: 'ops', labels: { labels: [{ key: 'k', value: 'v' }] } } },
  ];
  const volumes = [
    {
      name: 'disk',
      type: 'SCALAR',
      scalar: { value: 1 },
      role: 'r1',
      reservation: { principal: 'ops' },
      disk: { persistence: { id: 'v' }, volume: { container_path: 'p', mode: 'RW' } },
    },
  ];
  const operator = fc.tuple(
    fc.constantFrom('reserve', 'unreserve', 'create-volumes', 'destroy-volumes', 'teardown'),
    fc.boolean(),
    bodies([resources, volumes]),
  );
  await fuzz(
    t,
    c,
    'operator',
    100,
    operator.map(([op, realAgent, list]) => JSON.stringify([op, realAgent, list])),
    async (spec) => {
      const [op, realAgent, list] = JSON.parse(spec) as [string, boolean, string];
      const form = new URLSearchParams(
        op === 'teardown'
          ? { frameworkId: list.slice(0, 40) || 'x' }
          : { slaveId: realAgent ? agentId : 'no-such-agent', [op.endsWith('volumes') ? 'volumes' : 'resources']: list },
      );
      return post(c.url(`/master/${op}`), form.toString(), { 'Content-Type': 'application/x-www-form-urlencoded' });
    },
  );

  // The agents' call endpoint, as an agent the master does not know.
  const task = { ...commandTask('t', 'true'), agent_id: { value: agentId } };
  const agentSkeletons = [
    { type: 'STATUS_UPDATE', framework_id: { value: s.frameworkId }, status: { ...status, source: 'SOURCE_AGENT' } },
    { type: 'EXECUTOR_EXITED', framework_id: { value: s.frameworkId }, executor_id: { value: 'e' }, status: 0 },
    { type: 'EXECUTOR_MESSAGE', framework_id: { value: s.frameworkId }, executor_id: { value: 'e' }, data: 'aGk=' },
    { type: 'PONG' },
    { type: 'UPDATE_OVERSUBSCRIBED', oversubscribed: resources },
    {
      type: 'REREGISTER',
      agent_id: { value: 'a' },
      agent_info: { hostname: 'h', resources },
      version: '1',
      tasks: [{ framework_id: { value: 'f' }, task, state: 'TASK_RUNNING' }],
      executors: [],
      frameworks: [frameworkInfo()],
    },
  ];
  await fuzz(t, c, 'agent calls', 100, bodies(agentSkeletons), (body) =>
    post(c.url('/internal/agent/call'), body, { ...json, 'corral-agent-id': 'no-such-agent', 'corral-agent-stream-id': 'no-such-stream' }),
  );

  // The framework was there throughout and still works.
  t.true((await c.getJson('/master/frameworks')).frameworks.some((f: Json) => f.id === s.frameworkId && f.active));
});
