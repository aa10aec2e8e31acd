/**
 * ZkRegistry against a real 3-server ZooKeeper ensemble (test/helpers/zookeeper.ts): the Registry
 * calls and recovery, the fence (a second master's recovery shuts the first one out, also with
 * its writes in flight), znodes with garbage, batching of 10,000 admissions, requests split under
 * the size limit, and writes while the quorum is lost.
 *
 * One ensemble serves the file; each test works under a path of its own. The quorum test stops
 * servers, so it runs serially (ava runs serial tests before the concurrent ones) and restarts
 * them whatever happens.
 */
import anyTest, { type ExecutionContext } from 'ava';
import { isDeepStrictEqual } from 'node:util';
import { CorralError } from '../../lib/common/errors.ts';
import type { Logger } from '../../lib/common/log.ts';
import { ZkRegistry, type RegistryAgent, type ZkRegistrySession, znodeName } from '../../lib/master/registry/index.ts';
import { ZkSession, type ZkOp } from '../../lib/transport/index.ts';
import { registryAgent } from '../helpers/registry_agents.ts';
import { ZkEnsemble, zookeeperOnly } from '../helpers/zookeeper.ts';

const test = zookeeperOnly(anyTest);
let zk: ZkEnsemble;
let paths = 0;

test.before(async () => {
  zk = await ZkEnsemble.start(3);
});
test.after.always(async () => {
  await zk?.stop();
});

/** A session under `path` (a new one per test unless given), closed when the test ends. */
async function open(t: ExecutionContext, path: string, sessionTimeoutMs = 10_000): Promise<ZkSession> {
  const s = await ZkSession.open({ url: zk.zkUrl(path), field: '--zk', sessionTimeoutMs });
  t.teardown(() => s.close());
  return s;
}

const newPath = (): string => `/reg${process.pid}-${paths++}`;

/** The session's calls, with the multis counted and their sizes kept. */
function counted(s: ZkSession): { session: ZkRegistrySession; multis: ZkOp[][] } {
  const multis: ZkOp[][] = [];
  const session: ZkRegistrySession = {
    url: s.url,
    mkdirp: (...a) => s.mkdirp(...a),
    create: (...a) => s.create(...a),
    setData: (...a) => s.setData(...a),
    getData: (...a) => s.getData(...a),
    getChildren: (...a) => s.getChildren(...a),
    exists: (...a) => s.exists(...a),
    multi: (ops) => {
      multis.push([...ops]);
      return s.multi(ops);
    },
  };
  return { session, multis };
}

/** A logger that keeps its error lines. */
function recording(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn() {},
    error: (obj, msg) => errors.push(typeof obj === 'string' ? obj : (msg ?? '')),
    child: () => logger,
  };
  return { logger, errors };
}

async function stored(s: ZkSession, id: string): Promise<RegistryAgent | undefined> {
  const node = await s.getData(`/registry/agents/${znodeName(id)}`);
  return node === undefined ? undefined : (JSON.parse(node.data.toString('utf8')) as RegistryAgent);
}

const byId = (agents: readonly RegistryAgent[]): Map<string, RegistryAgent> => new Map(agents.map((a) => [a.id, a]));

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('admit, update, remove, and a new registry recovers what was written', async (t) => {
  const path = newPath();
  const s = await open(t, path);
  const r = new ZkRegistry({ session: s, owner: 'master-1' });
  t.deepEqual(await r.recover(), { agents: [] });
  t.is(r.size(), 0);
  const [a, b, c] = [registryAgent('m1', 0), registryAgent('m1', 1), registryAgent('m1', 2)];
  await r.admitAgent(a);
  await r.admitAgent(b);
  await r.updateAgents([{ ...a, principal: 'other' }, c]);
  await r.updateAgent(registryAgent('m1', 1, 1));
  await r.removeAgent(c.id);
  await r.removeAgent('never-admitted');
  t.deepEqual(await stored(s, a.id), { ...a, principal: 'other' });
  t.deepEqual(await stored(s, b.id), registryAgent('m1', 1, 1));
  t.is(await stored(s, c.id), undefined);
  const size = Buffer.byteLength(JSON.stringify({ ...a, principal: 'other' })) + Buffer.byteLength(JSON.stringify(registryAgent('m1', 1, 1)));
  t.is(r.size(), size);

  // Another master (its own session) takes over and finds both agents.
  const s2 = await open(t, path);
  const r2 = new ZkRegistry({ session: s2, owner: 'master-2' });
  const state = await r2.recover();
  t.deepEqual(byId(state.agents), byId([{ ...a, principal: 'other' }, registryAgent('m1', 1, 1)]));
  t.is(r2.size(), size);
  // Read through the session that bumped it: another session's server may not have applied the bump yet.
  const epoch = await s2.getData('/registry/epoch');
  t.is(epoch?.version, 2);
  t.is(JSON.parse(epoch!.data.toString()).owner, 'master-2');
});

test("a record the znode already holds is not written again (a failover's re-registrations cost no write); a changed one, or one after a queued change, is", async (t) => {
  const path = newPath();
  const first = new ZkRegistry({ session: await open(t, path), owner: 'master-1' });
  await first.recover();
  const agents = Array.from({ length: 50 }, (_, i) => registryAgent('m1', i));
  await Promise.all(agents.map((a) => first.admitAgent(a)));

  // The successor recovers them, then every agent re-registers with the same record, its keys
  // in another order: nothing is written; the calls share multis that only check the epoch.
  const raw = await open(t, path);
  const { session, multis } = counted(raw);
  const r = new ZkRegistry({ session, owner: 'master-2' });
  await r.recover();
  const reverse = (v: unknown): unknown =>
    v === null || typeof v !== 'object'
      ? v
      : Array.isArray(v)
        ? v.map(reverse)
        : Object.fromEntries(
            Object.entries(v)
              .reverse()
              .map(([k, x]) => [k, reverse(x)]),
          );
  const reordered = (a: RegistryAgent): RegistryAgent => reverse(a) as RegistryAgent;
  t.not(JSON.stringify(reordered(agents[0]!)), JSON.stringify(agents[0]));
  await Promise.all(agents.map((a) => r.updateAgent(reordered(a))));
  await r.updateAgents(agents.slice(0, 10));
  t.deepEqual(
    multis.flat().map((op) => op.op),
    multis.map(() => 'check'),
  );
  t.true(multis.length <= 3, `${multis.length} multis`);

  // A changed record is written; going back to the old one while it is queued is written too, after it.
  await Promise.all([r.updateAgent(registryAgent('m1', 3, 1)), r.updateAgent(agents[3]!)]);
  t.is(multis.flat().filter((op) => op.op === 'set').length, 2);
  t.deepEqual(await stored(raw, agents[3]!.id), agents[3]);
  // Written and confirmed: the same record again writes nothing.
  await r.updateAgent(agents[3]!);
  t.is(multis.flat().filter((op) => op.op === 'set').length, 2);

  // Fenced by a third master: an unchanged record is refused as a write would be.
  await new ZkRegistry({ session: await open(t, path), owner: 'master-3' }).recover();
  await t.throwsAsync(r.updateAgent(agents[5]!), { instanceOf: CorralError, code: 'REGISTRY_FENCED' });
});

test('an agent removed, then admitted again, is written', async (t) => {
  const path = newPath();
  const s = await open(t, path);
  const r = new ZkRegistry({ session: s, owner: 'master-1' });
  await r.recover();
  const agents = [registryAgent('m1', 0), registryAgent('m1', 4)];
  await Promise.all(agents.map((a) => r.admitAgent(a)));
  await r.removeAgent(agents[1]!.id);
  t.is(await stored(s, agents[1]!.id), undefined);
  await r.admitAgent(agents[1]!);
  t.deepEqual(await stored(s, agents[1]!.id), agents[1]);
});

test('weights (UPDATE_WEIGHTS): written fenced, replaced whole, recovered by the next master with the agents', async (t) => {
  const path = newPath();
  const s = await open(t, path);
  const r = new ZkRegistry({ session: s, owner: 'master-1' });
  t.deepEqual(await r.recover(), { agents: [] });
  await r.admitAgent(registryAgent('m1', 0));
  await r.updateWeights({ web: 2 });
  await r.updateWeights({ web: 3, db: 0.5 });
  const s2 = await open(t, path);
  const r2 = new ZkRegistry({ session: s2, owner: 'master-2' });
  const state = await r2.recover();
  t.deepEqual(state.weights, { web: 3, db: 0.5 });
  t.is(state.agents.length, 1);
  // The first master is fenced: its weights write fails and changes nothing.
  await t.throwsAsync(r.updateWeights({ web: 9 }), { instanceOf: CorralError, code: 'REGISTRY_FENCED' } as never);
  await r2.updateWeights({ web: 4 });
  // Read on the writer's session: ZooKeeper orders reads per session.
  t.deepEqual(JSON.parse((await s2.getData('/registry/weights'))!.data.toString('utf8')), { web: 4 });
});

test('writes before recover() are refused', async (t) => {
  const r = new ZkRegistry({ session: await open(t, newPath()) });
  const e = await t.throwsAsync(r.admitAgent(registryAgent('m', 0)), { instanceOf: CorralError });
  t.is(e?.code, 'REGISTRY_WRITE_FAILED');
  t.regex(e?.message ?? '', /before it was recovered/);
});

test('agent ids that are not znode names are encoded, and come back as they were', async (t) => {
  const path = newPath();
  const s = await open(t, path);
  const r = new ZkRegistry({ session: s });
  await r.recover();
  const ids = ['a/b', '.', '..', 'zoë 1', '%41'];
  await r.updateAgents(ids.map((id) => ({ ...registryAgent('m', 0), id })));
  t.deepEqual((await s.getChildren('/registry/agents')).sort(), ['%2541', '%2E', '%2E%2E', 'a%2Fb', 'zo%C3%AB%201']);
  const state = await new ZkRegistry({ session: await open(t, path) }).recover();
  t.deepEqual(state.agents.map((a) => a.id).sort(), [...ids].sort());
});

test('a second master recovering fences the first: its writes fail with REGISTRY_FENCED, change nothing, and are logged once', async (t) => {
  const path = newPath();
  const first = counted(await open(t, path));
  const { logger, errors } = recording();
  const r1 = new ZkRegistry({ session: first.session, logger });
  await r1.recover();
  const a = registryAgent('m1', 0);
  await r1.admitAgent(a);

  const s2 = await open(t, path);
  const r2 = new ZkRegistry({ session: s2 });
  await r2.recover();

  const e = await t.throwsAsync(r1.admitAgent(registryAgent('m1', 1)), { instanceOf: CorralError });
  t.is(e?.code, 'REGISTRY_FENCED');
  t.regex(
    e?.message ?? '',
    new RegExp(
      `the registry ${path}/registry is no longer this master's to write: another master recovered it \\(the epoch znode ${path}/registry/epoch is at version 2, this master recovered version 1\\)`,
    ),
  );
  const sent = first.multis.length;
  // Every later call fails the same way without reaching ZooKeeper.
  for (const call of [r1.updateAgent({ ...a, principal: 'x' }), r1.removeAgent(a.id), r1.updateAgents([registryAgent('m1', 2)])]) {
    t.is((await t.throwsAsync(call, { instanceOf: CorralError }))?.code, 'REGISTRY_FENCED');
  }
  t.is(first.multis.length, sent);
  t.deepEqual(await stored(s2, a.id), a);
  t.is(await stored(s2, registryAgent('m1', 1).id), undefined);
  t.is(await stored(s2, registryAgent('m1', 2).id), undefined);
  t.is(errors.length, 1);
  // The successor writes on.
  await r2.admitAgent(registryAgent('m2', 0));
  t.truthy(await stored(s2, registryAgent('m2', 0).id));
});

test('fenced with writes in flight: every acknowledged write is recovered by the successor, every refused one is absent', async (t) => {
  const path = newPath();
  const s1 = await open(t, path);
  const r1 = new ZkRegistry({ session: s1 });
  await r1.recover();
  const r2 = new ZkRegistry({ session: await open(t, path) });
  const acked: string[] = [];
  const refused: string[] = [];
  let recovering: Promise<{ agents: readonly RegistryAgent[] }> | undefined;
  // Agents arrive one after the other, 4 at a time, until the first master is shut out; the
  // successor recovers once a few have been admitted.
  await Promise.all(
    Array.from({ length: 4 }, async (_, lane) => {
      for (let i = lane; ; i += 4) {
        const agent = registryAgent('m1', i);
        try {
          await r1.admitAgent(agent);
          acked.push(agent.id);
          if (acked.length === 20) recovering = r2.recover();
        } catch (e) {
          t.is((e as CorralError).code, 'REGISTRY_FENCED', String(e));
          refused.push(agent.id);
          return;
        }
      }
    }),
  );
  const state = await recovering!;
  const recovered = new Set(state.agents.map((a) => a.id));
  t.true(acked.length >= 20);
  t.is(refused.length, 4);
  for (const id of acked) t.true(recovered.has(id), `acknowledged ${id} was lost`);
  for (const id of refused) t.is(await stored(s1, id), undefined, `refused ${id} was written`);
  t.is(recovered.size, acked.length);
});

test('a znode with garbage fails recovery with an error naming the znode and the reason', async (t) => {
  const cases: [name: string, data: string, reason: RegExp][] = [
    ['m-S1', '{"id": "m-S1", "info": ', /is not valid JSON: /],
    ['m-S2', '', /is empty \(it should hold an agent as JSON\)/],
    ['m-S3', '[1, 2]', /does not hold a JSON object/],
    ['m-S4', '{"id": "m-S4"}', /has no object 'info'/],
    ['m-S5', JSON.stringify(registryAgent('m', 6)), /holds agent 'm-S6' but is named for agent 'm-S5'/],
    ['%zz', JSON.stringify(registryAgent('m', 7)), /is not named for an agent id/],
    ['m-S8', JSON.stringify({ ...registryAgent('m', 8), checkpointedResources: 'none' }), /has a 'checkpointedResources' that is not a list/],
  ];
  for (const [name, data, reason] of cases) {
    const path = newPath();
    const s = await open(t, path);
    const good = new ZkRegistry({ session: s });
    await good.recover();
    await good.admitAgent(registryAgent('m', 0));
    await s.create(`/registry/agents/${name}`, data, 'persistent');
    const e = await t.throwsAsync(new ZkRegistry({ session: s }).recover(), { instanceOf: CorralError });
    t.is(e?.code, 'REGISTRY');
    t.true(e?.message.startsWith(`the registry znode ${path}/registry/agents/${name} `), e?.message);
    t.regex(e?.message ?? '', reason);
  }
});

test('a record too big for a znode is refused and nothing is written', async (t) => {
  const s = await open(t, newPath());
  const r = new ZkRegistry({ session: s });
  await r.recover();
  const big = {
    ...registryAgent('m', 0),
    info: { ...registryAgent('m', 0).info, attributes: [{ name: 'blob', type: 'TEXT' as const, text: 'x'.repeat(1_100_000) }] },
  };
  const e = await t.throwsAsync(r.updateAgents([registryAgent('m', 1), big]), { instanceOf: CorralError });
  t.is(e?.code, 'REGISTRY_WRITE_FAILED');
  t.regex(e?.message ?? '', /cannot write agent m-S0 to the registry .*: its record is \d+ bytes, more than a znode may hold/);
  t.deepEqual(await s.getChildren('/registry/agents'), []);
});

test('10,000 agents admitted at once go in a few batched multis, and all are recovered', async (t) => {
  const path = newPath();
  const { session, multis } = counted(await open(t, path));
  const r = new ZkRegistry({ session });
  await r.recover();
  const agents = Array.from({ length: 10_000 }, (_, i) => registryAgent('m', i));
  await Promise.all(agents.map((a) => r.admitAgent(a)));
  t.log(`${multis.length} multis, the largest of ${Math.max(...multis.map((m) => m.length))} operations`);
  t.true(multis.length <= 100, `${multis.length} multis`);
  for (const m of multis) t.deepEqual(m[0], { op: 'check', path: '/registry/epoch', version: 1 });
  const state = await new ZkRegistry({ session: await open(t, path) }).recover();
  t.is(state.agents.length, 10_000);
  const got = byId(state.agents);
  for (const i of [0, 1, 4999, 9999]) t.deepEqual(got.get(agents[i]!.id), agents[i]);
  t.is(
    r.size(),
    agents.reduce((n, a) => n + Buffer.byteLength(JSON.stringify(a)), 0),
  );
});

test('an update bigger than one request is split into requests under the limit, in order', async (t) => {
  const path = newPath();
  const { session, multis } = counted(await open(t, path));
  const limit = 16 * 1024;
  const r = new ZkRegistry({ session, maxRequestBytes: limit, maxInFlight: 3 });
  await r.recover();
  const agents = Array.from({ length: 200 }, (_, i) => registryAgent('m', i));
  const later = registryAgent('m', 0, 1);
  await Promise.all([r.updateAgents(agents), r.updateAgent(later)]);
  t.true(multis.length >= 15, `${multis.length} multis`);
  for (const m of multis) {
    const bytes = m.reduce((n, op) => n + op.path.length + 160 + ('data' in op && op.data ? Buffer.byteLength(op.data) : 0), 0);
    t.true(bytes <= limit, `a multi of ${bytes} bytes`);
  }
  const state = await new ZkRegistry({ session: await open(t, path) }).recover();
  t.is(state.agents.length, 200);
  t.deepEqual(byId(state.agents).get(later.id), later);
});

test("an agent's znode removed behind the registry's back: that write fails, the next reads back and succeeds", async (t) => {
  const s = await open(t, newPath());
  const r = new ZkRegistry({ session: s });
  await r.recover();
  const a = registryAgent('m', 0);
  await r.admitAgent(a);
  await s.remove(`/registry/agents/${znodeName(a.id)}`);
  const e = await t.throwsAsync(r.updateAgent({ ...a, principal: 'p' }), { instanceOf: CorralError });
  t.is(e?.code, 'REGISTRY_WRITE_FAILED');
  t.regex(e?.message ?? '', /created or removed by someone else/);
  await r.updateAgent({ ...a, principal: 'q' });
  t.deepEqual(await stored(s, a.id), { ...a, principal: 'q' });
});

test.serial('without a quorum nothing is acknowledged; once it is back writes go on and nothing acknowledged is lost', async (t) => {
  const stopped: number[] = [];
  t.teardown(async () => {
    for (const id of stopped.splice(0)) await zk.startServer(id);
  });
  const path = newPath();
  const s = await open(t, path, 10_000);
  const r = new ZkRegistry({ session: s });
  await r.recover();
  await r.admitAgent(registryAgent('m', 0));
  let lost = false;
  s.onLeaseLost(() => (lost = true));
  for (const id of [2, 3]) {
    await zk.stopServer(id);
    stopped.push(id);
  }
  const pending = [r.admitAgent(registryAgent('m', 1)), r.updateAgent(registryAgent('m', 0, 1))].map((p) =>
    p.then(
      () => 'written' as const,
      (e: unknown) => e,
    ),
  );
  const outcomes: unknown[] = [undefined, undefined];
  pending.forEach((p, i) => void p.then((o) => (outcomes[i] = o)));
  // The session cannot be sure of anything any more (2/3 of its timeout without an answer):
  // nothing can have been acknowledged.
  await until('the ZooKeeper lease to be lost', () => lost);
  t.deepEqual(
    outcomes.filter((o) => o === 'written'),
    [],
  );
  for (const id of stopped.splice(0)) await zk.startServer(id);
  const settled = await Promise.all(pending);
  for (const o of settled) if (o !== 'written') t.is((o as CorralError).code, 'REGISTRY_WRITE_FAILED', String(o));
  t.log(`while the quorum was lost: ${settled.map((o) => (o === 'written' ? 'written once it was back' : (o as Error).message)).join('; ')}`);
  await r.admitAgent(registryAgent('m', 2));
  const state = byId((await new ZkRegistry({ session: await open(t, path) }).recover()).agents);
  t.deepEqual(state.get(registryAgent('m', 2).id), registryAgent('m', 2));
  if (settled[0] === 'written') t.truthy(state.get(registryAgent('m', 1).id));
  // The update is there when acknowledged; without an answer it may or may not have been applied.
  const a0 = state.get(registryAgent('m', 0).id);
  t.true(isDeepStrictEqual(a0, registryAgent('m', 0, 1)) || (settled[1] !== 'written' && isDeepStrictEqual(a0, registryAgent('m', 0))));
});
