/**
 * A master among several, on an election the test drives (no ZooKeeper): it follows until it
 * is elected (307 to the leader, 503 with none known, /health and /metrics always), then leads;
 * when its lead is lost or in doubt it stops at once and says why.
 */
import http from 'node:http';
import test from 'ava';
import { startMaster, type RunningMaster } from '../../lib/cli/daemons.ts';
import { parseFlags } from '../../lib/common/flags.ts';
import { type LogRecord, recordingLogger } from '../../lib/common/log.ts';
import { masterFlags } from '../../lib/master/flags.ts';
import { Scheduler, frameworkInfo, getJson, request } from '../helpers/cluster.ts';
import { leaderAt, testElection } from '../helpers/test_election.ts';

type Logged = LogRecord;

async function contendingMaster(t: import('ava').ExecutionContext, logs: Logged[] = []) {
  const election = testElection();
  const parsed = parseFlags(masterFlags, {
    argv: ['--ip=127.0.0.1', '--port=0', '--registry=in_memory', '--allocation_interval=20ms', '--hostname=127.0.0.1'],
    env: {},
  });
  const m: RunningMaster = await startMaster(parsed.values, parsed.text, recordingLogger(logs), { election });
  t.teardown(() => m.stop());
  return { m, election, base: `http://127.0.0.1:${m.port}`, address: `127.0.0.1:${m.port}` };
}

const SUBSCRIBE = { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo() } };
const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };

test('a follower redirects the operator API and the web UI to the leader, as Mesos writes it, and answers 503 with no leader', async (t) => {
  const { election, base } = await contendingMaster(t);
  const none = await request(`${base}/api/v1`, { headers: JSON_HEADERS, body: { type: 'GET_HEALTH' } });
  t.is(none.status, 503);
  t.is(none.text, 'No leader elected');
  election.detector.set(leaderAt('the-leader', '127.0.0.9', 5999, 'm2.example'));
  const api = await request(`${base}/api/v1?get_master`, { headers: JSON_HEADERS, body: { type: 'GET_MASTER' } });
  t.is(api.status, 307);
  t.is(api.headers.location, '//m2.example:5999/master/api/v1?get_master=');
  const prefixed = await request(`${base}/master/api/v1`, { headers: JSON_HEADERS, body: 'not even json' });
  t.is(prefixed.status, 307, 'before it looks at the body');
  t.is(prefixed.headers.location, '//m2.example:5999/master/api/v1');
  const ui = await request(`${base}/`, { method: 'GET' });
  t.is(ui.status, 307);
  t.is(ui.headers.location, '//m2.example:5999/');
});

test('a follower with a known leader redirects the scheduler API and the agents to it, and says who leads', async (t) => {
  const { m, election, base } = await contendingMaster(t);
  t.true(election.detector.started);
  t.is(election.contender.info?.id, m.master.id, 'it published its MasterInfo');
  t.is(election.contender.info?.port, m.port);
  election.detector.set(leaderAt('the-leader', '127.0.0.9', 5999, 'm2.example'));

  for (const path of ['/api/v1/scheduler', '/master/api/v1/scheduler']) {
    const r = await request(`${base}${path}`, { headers: JSON_HEADERS, body: SUBSCRIBE });
    t.is(r.status, 307, path);
    t.is(r.headers.location, `//m2.example:5999${path}`);
  }
  // Before it looks at the request at all, as Mesos does.
  t.is((await request(`${base}/api/v1/scheduler`, { body: 'not json' })).status, 307);
  for (const path of ['/master/redirect', '/redirect']) {
    const r = await request(`${base}${path}`, { method: 'GET' });
    t.is(r.status, 307);
    t.is(r.headers.location, '//m2.example:5999');
  }
  const frameworks = await request(`${base}/master/frameworks?framework_id=x`, { method: 'GET' });
  t.is(frameworks.status, 307);
  t.is(frameworks.headers.location, '//m2.example:5999/master/frameworks?framework_id=x');
  t.is((await request(`${base}/master/teardown`, { body: 'frameworkId=x' })).status, 307);
  t.is((await request(`${base}/internal/agent/subscribe`, { body: '{}' })).status, 307);

  t.is((await request(`${base}/health`, { method: 'GET' })).status, 200);
  t.is((await getJson(`${base}/metrics/snapshot`))['master/elected'], 0);
  const state = await getJson(`${base}/master/state`);
  t.is(state.id, m.master.id);
  t.is(state.leader, 'master@127.0.0.9:5999');
  t.like(state.leader_info, { id: 'the-leader', hostname: 'm2.example', port: 5999 });
  t.is(state.elected_time, undefined);
  t.deepEqual(state.slaves, []);
  t.deepEqual(state.frameworks, []);
});

test('a follower that knows no leader answers 503, and /health and /metrics still', async (t) => {
  const { m, election, base } = await contendingMaster(t);
  for (const path of ['/api/v1/scheduler', '/master/redirect', '/master/state', '/master/slaves', '/internal/agent/subscribe']) {
    const r = await request(`${base}${path}`, {
      method: path.includes('state') || path.includes('slaves') || path.includes('redirect') ? 'GET' : 'POST',
      body: path.includes('api') ? SUBSCRIBE : undefined,
      headers: JSON_HEADERS,
    });
    t.is(r.status, 503, path);
    t.regex(r.text, /No leader elected/);
  }
  // Its own candidacy seen lowest before the election has told it: not a leader to redirect to.
  election.detector.set({ id: m.master.id, hostPort: `127.0.0.1:${m.port}`, info: m.master.info });
  t.is((await request(`${base}/api/v1/scheduler`, { headers: JSON_HEADERS, body: SUBSCRIBE })).status, 503);
  t.is((await request(`${base}/health`, { method: 'GET' })).status, 200);
  t.is((await getJson(`${base}/metrics/snapshot`))['master/elected'], 0);
});

test('once elected it recovers and leads: frameworks subscribe, master/elected is 1, it names itself as leader', async (t) => {
  const { m, election, base, address } = await contendingMaster(t);
  election.detector.set(leaderAt('old-leader', '127.0.0.9', 5999));
  election.contender.elect();
  const end = Date.now() + 10_000;
  while (!m.master.isRecovered && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  election.detector.set({ id: m.master.id, hostPort: address, info: m.master.info });
  const fw = await Scheduler.subscribe(address);
  t.teardown(() => fw.close());
  t.is(fw.status, 200);
  await fw.waitFor((e) => e.type === 'SUBSCRIBED');
  t.is((await getJson(`${base}/metrics/snapshot`))['master/elected'], 1);
  const state = await getJson(`${base}/master/state`);
  t.is(state.leader, m.master.info.pid);
  t.is(state.leader_info.id, m.master.id);
  t.is(typeof state.elected_time, 'number');
  const r = await request(`${base}/master/redirect`, { method: 'GET' });
  t.is(r.headers.location, `//127.0.0.1:${m.port}`);
});

async function leadingWithFramework(t: import('ava').ExecutionContext, logs: Logged[]) {
  const c = await contendingMaster(t, logs);
  c.election.contender.elect();
  const end = Date.now() + 10_000;
  while (!c.m.master.isRecovered && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  const fw = await Scheduler.subscribe(c.address, frameworkInfo({ failover_timeout: 3600 }));
  t.teardown(() => fw.close());
  await fw.waitFor((e) => e.type === 'SUBSCRIBED');
  return { ...c, fw };
}

test('a leader whose election is lost stops at once: streams end, the port closes, the reason is logged at ERROR', async (t) => {
  const logs: Logged[] = [];
  const { m, election, base, fw } = await leadingWithFramework(t, logs);
  election.contender.lose('the ZooKeeper session expired');
  t.is(await m.lost, 'the ZooKeeper session expired');
  await fw.whenClosed();
  await t.throwsAsync(request(`${base}/health`, { method: 'GET' }), { code: 'ECONNREFUSED' });
  const line = logs.find((l) => l.level === 'error' && /lost the lead/.test(l.msg));
  t.truthy(line, JSON.stringify(logs.map((l) => l.msg)));
  t.regex(line!.msg, /the ZooKeeper session expired/);
  t.true(election.detector.stopped);
});

test('a leader whose lead is in doubt sends nothing more, refuses calls and stops', async (t) => {
  const logs: Logged[] = [];
  const { m, election, base, fw } = await leadingWithFramework(t, logs);
  const before = fw.events.length;
  election.contender.sure = false;
  const r = await fw.call({ type: 'REVIVE' });
  t.is(r.status, 503);
  t.regex(await m.lost, /in doubt/);
  await fw.whenClosed();
  t.is(fw.events.length, before, 'nothing was sent after the doubt');
  await t.throwsAsync(request(`${base}/health`, { method: 'GET' }), { code: 'ECONNREFUSED' });
  t.true(logs.some((l) => l.level === 'error' && /in doubt/.test(l.msg)));
});

test('a follower that loses its candidacy stops too; stop() withdraws without calling it lost', async (t) => {
  const logs: Logged[] = [];
  const a = await contendingMaster(t, logs);
  a.election.contender.lose('the candidacy znode was deleted');
  t.is(await a.m.lost, 'the candidacy znode was deleted');
  t.true(logs.some((l) => l.level === 'warn' && /lost its candidacy/.test(l.msg)));

  const b = await contendingMaster(t);
  await b.m.stop();
  t.true(b.election.contender.withdrawn);
  t.true(b.election.detector.stopped);
  const settled = await Promise.race([b.m.lost.then(() => 'lost'), new Promise((r) => setTimeout(() => r('pending'), 50))]);
  t.is(settled, 'pending');
});

/** POST an agent's REGISTER and resolve with the status once the response starts (it is a stream). */
function registerAgent(address: string): Promise<{ status: number; close(): void }> {
  const body = JSON.stringify({ type: 'REGISTER', agent_info: { hostname: 'a1', port: 5051, resources: [], attributes: [] }, version: 'test' });
  return new Promise((resolve, reject) => {
    const req = http.request(`http://${address}/internal/agent/subscribe`, {
      method: 'POST',
      agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, close: () => req.destroy() });
    });
    req.end(body);
  });
}

test('an agent that reaches a master about to lead is held until the master leads, not refused', async (t) => {
  const { m, election, address } = await contendingMaster(t);
  // The detector names this master before the election has told it (agents may see it first).
  election.detector.set({ id: m.master.id, hostPort: address, info: m.master.info });
  const answer = registerAgent(address);
  const early = await Promise.race([answer.then((r) => r.status), new Promise((r) => setTimeout(() => r('held'), 300))]);
  t.is(early, 'held', 'no 503 that would send the agent into its back-off');
  election.contender.elect();
  const r = await answer;
  t.teardown(() => r.close());
  t.is(r.status, 200);
  t.is(m.master.view.agents.size, 1);
});
