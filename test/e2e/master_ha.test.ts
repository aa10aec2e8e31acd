/**
 * Masters on ZooKeeper as real processes (issue 15): a 3-server ensemble of Debian's ZooKeeper,
 * three `corral master --zk` (2 s session timeout), two `corral agent --master=zk://…` and a
 * framework that is nothing but an HTTP client. The leader killed with -9; the leader paused
 * past its session timeout and woken up; two of three ZooKeeper servers stopped and started;
 * a registry znode with garbage; and the refusals at start. Each test has its own ensemble,
 * processes and directory, removed also when it fails. Serial: each runs a dozen processes and
 * times a failover.
 */
import anyTest, { type ExecutionContext } from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentProcess, freePort } from '../helpers/agent_process.ts';
import { type Json, Scheduler, clearLeftoverClusters, commandTask, frameworkInfo, getJson, killEverythingUnder, request } from '../helpers/cluster.ts';
import { runCorral } from '../helpers/corral_run.ts';
import { MasterProcess, leaderOf } from '../helpers/master_process.ts';
import { ZkEnsemble, waitUntil, zookeeperOnly } from '../helpers/zookeeper.ts';

const zookeeper = createRequire(import.meta.url)('node-zookeeper-client');
const test = zookeeperOnly(anyTest);

const SESSION = '--zk_session_timeout=2secs';
const RESOURCES = 'cpus:4;mem:4096;disk:10000;ports:[31000-32000]';

interface Ha {
  readonly dir: string;
  readonly zk: ZkEnsemble;
  readonly zkUrl: string;
  readonly masters: MasterProcess[];
  readonly agents: AgentProcess[];
  readonly schedulers: Scheduler[];
}

/** An ensemble, 3 masters and `agents` agents, all stopped and removed when the test ends. */
async function haCluster(t: ExecutionContext, o: { agents?: number; supervise?: boolean; masterArgs?: string[] } = {}): Promise<Ha> {
  clearLeftoverClusters();
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-ha-`));
  const ha: Ha = { dir, zk: undefined as unknown as ZkEnsemble, zkUrl: '', masters: [], agents: [], schedulers: [] };
  t.teardown(async () => {
    for (const s of ha.schedulers) s.close();
    const problems: string[] = [];
    for (const a of ha.agents) await a.stop().catch((e: Error) => problems.push(e.message));
    for (const m of ha.masters) await m.stop().catch((e: Error) => problems.push(e.message));
    await ha.zk?.stop();
    killEverythingUnder(dir);
    rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(problems.join('\n'));
  });
  const zk = await ZkEnsemble.start(3);
  Object.assign(ha, { zk, zkUrl: zk.zkUrl('/corral') });
  for (let i = 0; i < 3; i++) {
    ha.masters.push(
      await MasterProcess.start([`--zk=${ha.zkUrl}`, SESSION, '--allocation_interval=50ms', ...(o.masterArgs ?? [])], { supervise: o.supervise ?? false }),
    );
  }
  for (let i = 0; i < (o.agents ?? 2); i++) {
    ha.agents.push(
      AgentProcess.start([
        `--master=${ha.zkUrl}`,
        '--ip=127.0.0.1',
        `--port=${await freePort()}`,
        `--work_dir=${join(dir, `agent${i}`)}`,
        `--hostname=agent${i}`,
        `--resources=${RESOURCES}`,
        '--registration_backoff_factor=100ms',
      ]),
    );
  }
  return ha;
}

/** The leader's active agents, once there are `n` (their ids). */
async function activeAgents(m: MasterProcess, n: number, timeoutMs = 60_000): Promise<string[]> {
  let ids: string[] = [];
  await waitUntil(
    async () => {
      const s = await getJson(`http://${m.address}/master/slaves`).catch(() => ({ slaves: [] }));
      ids = (s.slaves as Json[]).filter((a) => a.active).map((a) => a.id as string);
      return ids.length >= n;
    },
    `${n} active agents on the master at ${m.address}`,
    timeoutMs,
  );
  return ids.sort();
}

/** Subscribe to `m` (retrying while it answers 503: still recovering). */
async function subscribe(ha: Ha, m: MasterProcess, info: Json, frameworkId?: string): Promise<Scheduler> {
  const end = Date.now() + 30_000;
  for (;;) {
    const s = await Scheduler.subscribe(m.address, info, frameworkId === undefined ? {} : { frameworkId });
    ha.schedulers.push(s);
    if (s.status === 200) {
      await s.waitFor((e) => e.type === 'SUBSCRIBED', 10_000, 'SUBSCRIBED');
      return s;
    }
    s.close();
    if (Date.now() > end) throw new Error(`SUBSCRIBE to ${m.address} refused: ${s.status} ${s.records.join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Launch one task per agent (`perAgent` maps agent index order to task), on offers from distinct agents. */
async function launchOnEach(fw: Scheduler, tasks: Json[]): Promise<Map<string, string>> {
  const placed = new Map<string, string>();
  const usedAgents = new Set<string>();
  while (placed.size < tasks.length) {
    for (const offer of await fw.offers(30_000)) {
      const agentId: string = offer.agent_id.value;
      const task = tasks[placed.size];
      if (task === undefined || usedAgents.has(agentId)) {
        await fw.decline([offer.id.value], 0);
        continue;
      }
      usedAgents.add(agentId);
      placed.set(task.task_id.value, agentId);
      await fw.accept([offer.id.value], [{ ...task, agent_id: { value: agentId } }]);
    }
  }
  return placed;
}

function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep');
  } catch {
    return false;
  }
}

async function pidIn(file: string): Promise<number> {
  let pid = 0;
  await waitUntil(() => existsSync(file) && (pid = Number(readFileSync(file, 'utf8').trim())) > 0 && alive(pid), `a pid in ${file}`, 30_000);
  return pid;
}

/** A raw client of the ensemble (not Corral's), for reading the registry's znodes. */
async function rawClient(t: ExecutionContext, zk: ZkEnsemble): Promise<Json> {
  const client = zookeeper.createClient(zk.connectString(), { sessionTimeout: 5000 });
  await new Promise<void>((resolve) => {
    client.once('connected', () => resolve());
    client.connect();
  });
  t.teardown(() => client.close());
  return client;
}

function children(client: Json, path: string): Promise<string[]> {
  return new Promise((resolve, reject) => client.getChildren(path, (e: Error | null, c: string[]) => (e ? reject(e) : resolve(c.sort()))));
}

function dataOf(client: Json, path: string): Promise<{ data: string; version: number }> {
  return new Promise((resolve, reject) =>
    client.getData(path, (e: Error | null, d: Buffer, stat: Json) => (e ? reject(e) : resolve({ data: d.toString('utf8'), version: stat.version }))),
  );
}

test.serial('kill -9 of the leader: a new leader, agents re-register, the framework fails over with its id, tasks run on, updates arrive', async (t) => {
  t.timeout(240_000);
  const ha = await haCluster(t);
  const leader = await leaderOf(ha.masters);
  const agentIds = await activeAgents(leader, 2);
  const info = frameworkInfo({ name: 'ha-fw', failover_timeout: 3600 });
  const fw = await subscribe(ha, leader, info);
  const frameworkId = fw.frameworkId;

  // A long task on each agent, and one that ends while no master leads.
  const go = join(ha.dir, 'go');
  const placed = await launchOnEach(fw, [
    commandTask('long-a', `echo $$ > ${join(ha.dir, 'pid-a')}; exec sleep 600`),
    commandTask('long-b', `echo $$ > ${join(ha.dir, 'pid-b')}; exec sleep 600`),
  ]);
  t.deepEqual([...new Set(placed.values())].sort(), agentIds, 'one long task on each agent');
  await fw.update('long-a', 'TASK_RUNNING', 30_000);
  await fw.update('long-b', 'TASK_RUNNING', 30_000);
  const during = await launchOnEach(fw, [commandTask('during', `while [ ! -e ${go} ]; do sleep 0.05; done; echo done`)]);
  await fw.update('during', 'TASK_RUNNING', 30_000);
  const pids = [await pidIn(join(ha.dir, 'pid-a')), await pidIn(join(ha.dir, 'pid-b'))];
  await Promise.all(fw.acks);

  // kill -9 the leader; a task ends meanwhile.
  const killedAt = Date.now();
  await leader.kill();
  writeFileSync(go, '');
  const next = await leaderOf(ha.masters, 60_000, leader);
  t.not(next, leader);
  t.log(`new leader after ${Date.now() - killedAt} ms`);
  t.deepEqual(await activeAgents(next, 2), agentIds, 'both agents re-registered with their ids');

  // The framework finds the new leader and fails over to it with its id.
  fw.close();
  const again = await subscribe(ha, next, info, frameworkId);
  t.is(again.frameworkId, frameworkId);
  const finished = await again.update('during', 'TASK_FINISHED', 30_000);
  t.is(finished.agent_id.value, during.get('during'), 'the update made during the failover arrived');
  await again.reconcile([
    { taskId: 'long-a', agentId: placed.get('long-a')! },
    { taskId: 'long-b', agentId: placed.get('long-b')! },
  ]);
  t.is((await again.update('long-a', undefined, 30_000)).state, 'TASK_RUNNING');
  t.is((await again.update('long-b', undefined, 30_000)).state, 'TASK_RUNNING');
  t.true(pids.every(alive), 'the tasks kept running');
  const state = await getJson(`http://${next.address}/master/state`);
  const tasks = new Map((state.frameworks[0].tasks as Json[]).map((x) => [x.id, x.state]));
  t.is(tasks.get('long-a'), 'TASK_RUNNING');
  t.is(tasks.get('long-b'), 'TASK_RUNNING');
  t.false(
    again.events.some((e) => e.type === 'UPDATE' && e.update.status.state === 'TASK_LOST'),
    'no task was reported lost',
  );

  // New tasks launch on the new leader.
  await again.launch([commandTask('after', 'true')], { timeoutMs: 30_000 });
  await again.update('after', 'TASK_FINISHED', 30_000);

  // The old leader comes back: it follows and redirects to the new one.
  leader.restart();
  await waitUntil(async () => (await leader.get('/master/redirect'))?.status === 307, 'the old leader to redirect', 60_000);
  t.is((await leader.get('/master/redirect'))!.location, `//127.0.0.1:${next.port}`);
  const r = await request(`http://${leader.address}/api/v1/scheduler`, {
    headers: { 'Content-Type': 'application/json' },
    body: { type: 'SUBSCRIBE', subscribe: { framework_info: info } },
  });
  t.is(r.status, 307);
  t.is(r.headers.location, `//127.0.0.1:${next.port}/api/v1/scheduler`);
  const metrics = await getJson(`http://${leader.address}/metrics/snapshot`);
  t.is(metrics['master/elected'], 0);
  await again.teardown();
});

test.serial('SIGSTOP of the leader past its session, then SIGCONT: it neither acts nor writes the registry, and exits', async (t) => {
  t.timeout(240_000);
  const ha = await haCluster(t, { agents: 1 });
  const leader = await leaderOf(ha.masters);
  const [agentId] = await activeAgents(leader, 1);
  const info = frameworkInfo({ name: 'paused-fw', failover_timeout: 3600 });
  const fw = await subscribe(ha, leader, info);
  await launchOnEach(fw, [commandTask('long', `echo $$ > ${join(ha.dir, 'pid')}; exec sleep 600`)]);
  await fw.update('long', 'TASK_RUNNING', 30_000);
  const pid = await pidIn(join(ha.dir, 'pid'));
  await Promise.all(fw.acks);

  leader.signal('SIGSTOP');
  const stoppedRun = leader.run;
  // While it sleeps: a new agent's REGISTER waits in its socket (it will read it when it wakes).
  const pending = request(`http://${leader.address}/internal/agent/subscribe`, {
    headers: { 'Content-Type': 'application/json' },
    body: { type: 'REGISTER', agent_info: { hostname: 'intruder', port: 5051, resources: [], attributes: [] }, version: 'test' },
    timeoutMs: 60_000,
  }).catch((e: Error) => ({ status: 0, text: e.message }));

  const next = await leaderOf(ha.masters, 60_000, leader);
  t.deepEqual(await activeAgents(next, 1), [agentId]);
  const again = await subscribe(ha, next, info, fw.frameworkId);
  await again.reconcile([{ taskId: 'long', agentId: agentId! }]);
  t.is((await again.update('long', undefined, 30_000)).state, 'TASK_RUNNING');

  // The registry as the new leader left it.
  const zk = await rawClient(t, ha.zk);
  const agentsBefore = await children(zk, '/corral/registry/agents');
  const epochBefore = await dataOf(zk, '/corral/registry/epoch');
  t.deepEqual(agentsBefore, [encodeURIComponent(agentId!)]);
  const heardBefore = fw.events.length;

  // The old leader wakes up: it must stop without telling anyone anything.
  leader.signal('SIGCONT');
  const exit = await leader.exitOf(stoppedRun, 30_000);
  t.is(exit.code, 1, 'corral master exits 1 once it lost the lead');
  const why = leader.logs.find((l) => l.level === 'error' && /lost the lead/.test(l.msg));
  t.truthy(why, leader.tail);
  const answer = await pending;
  t.log(`the paused leader answered the REGISTER with ${answer.status} ${answer.text.slice(0, 100)}; it logged: ${why?.msg}`);
  t.not(answer.status, 200, `the paused leader did not register an agent: ${answer.status} ${answer.text}`);
  t.is(fw.events.length, heardBefore, 'the framework heard nothing more from the old leader');
  t.deepEqual(await children(zk, '/corral/registry/agents'), agentsBefore, 'the registry has no agent it wrote');
  t.deepEqual(await dataOf(zk, '/corral/registry/epoch'), epochBefore, 'nor a new epoch');
  t.true(alive(pid), 'the task runs on');
  t.deepEqual(await activeAgents(next, 1), [agentId]);
  await again.teardown();
});

test.serial('2 of 3 ZooKeeper servers stopped: the leader stops leading, nothing is lost; started again, the cluster recovers', async (t) => {
  t.timeout(300_000);
  // Masters under a supervisor, as systemd runs them (Restart=always).
  const ha = await haCluster(t, { agents: 2, supervise: true });
  const leader = await leaderOf(ha.masters);
  const agentIds = await activeAgents(leader, 2);
  const info = frameworkInfo({ name: 'quorum-fw', failover_timeout: 3600 });
  const fw = await subscribe(ha, leader, info);
  const placed = await launchOnEach(fw, [
    commandTask('long-a', `echo $$ > ${join(ha.dir, 'pid-a')}; exec sleep 600`),
    commandTask('long-b', `echo $$ > ${join(ha.dir, 'pid-b')}; exec sleep 600`),
  ]);
  await fw.update('long-a', 'TASK_RUNNING', 30_000);
  await fw.update('long-b', 'TASK_RUNNING', 30_000);
  const pids = [await pidIn(join(ha.dir, 'pid-a')), await pidIn(join(ha.dir, 'pid-b'))];
  await Promise.all(fw.acks);

  const leaderRun = leader.run;
  await ha.zk.stopServer(1);
  await ha.zk.stopServer(2);
  // The leader's lease ends (2/3 of the session timeout): it stops leading and exits.
  const exit = await leader.exitOf(leaderRun, 30_000);
  t.is(exit.code, 1);
  t.truthy(leader.logs.find((l) => l.run === leaderRun && l.level === 'error' && /lost the lead/.test(l.msg)));
  await fw.whenClosed(10_000);
  t.true(pids.every(alive), 'tasks run on without a leader');

  await ha.zk.startServer(1);
  await ha.zk.startServer(2);
  const next = await leaderOf(ha.masters, 120_000);
  t.deepEqual(await activeAgents(next, 2, 60_000), agentIds, 'both agents came back with their ids');
  const again = await subscribe(ha, next, info, fw.frameworkId);
  await again.reconcile([
    { taskId: 'long-a', agentId: placed.get('long-a')! },
    { taskId: 'long-b', agentId: placed.get('long-b')! },
  ]);
  t.is((await again.update('long-a', undefined, 30_000)).state, 'TASK_RUNNING');
  t.is((await again.update('long-b', undefined, 30_000)).state, 'TASK_RUNNING');
  t.true(pids.every(alive));
  await again.launch([commandTask('after', 'true')], { timeoutMs: 30_000 });
  await again.update('after', 'TASK_FINISHED', 30_000);
  await again.teardown();
});

test.serial('a registry znode with garbage: the elected master says which znode and why, and exits 1', async (t) => {
  t.timeout(120_000);
  const zk = await ZkEnsemble.start(3);
  t.teardown(() => zk.stop());
  const client = await rawClient(t, zk);
  await new Promise<void>((resolve, reject) => client.mkdirp('/corral/registry/agents', (e: Error | null) => (e ? reject(e) : resolve())));
  await new Promise<void>((resolve, reject) =>
    client.create('/corral/registry/agents/bad-agent', Buffer.from('{not json'), (e: Error | null) => (e ? reject(e) : resolve())),
  );
  const m = await MasterProcess.start([`--zk=${zk.zkUrl('/corral')}`, SESSION]);
  t.teardown(() => m.stop());
  const exit = await m.exitOf(1, 60_000);
  t.is(exit.code, 1);
  const line = m.logs.find((l) => l.level === 'error' && /lost the lead/.test(l.msg));
  t.truthy(line, m.tail);
  t.regex(line!.msg, /\/corral\/registry\/agents\/bad-agent/);
});

test('an unreachable ensemble at start: one line naming the flag, for the master, an agent and corral execute', async (t) => {
  t.timeout(120_000);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-ha-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const url = `zk://127.0.0.1:${port}/corral`;
  const runs = await Promise.all([
    runCorral(['master', '--ip=127.0.0.1', '--port=0', `--zk=${url}`, '--zk_session_timeout=1secs'], { timeoutMs: 60_000 }),
    runCorral(['agent', `--master=${url}`, '--ip=127.0.0.1', '--port=0', `--work_dir=${join(dir, 'agent')}`, `--resources=${RESOURCES}`], {
      timeoutMs: 60_000,
    }),
    runCorral(['execute', `--master=${url}`, '--command=true'], { timeoutMs: 60_000 }),
  ]);
  for (const [i, [flag, code]] of (
    [
      ['--zk', 2],
      ['--master', 2],
      ['--master', 1],
    ] as const
  ).entries()) {
    const r = runs[i]!;
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
    t.is(r.code, code, r.stderr);
    t.is(lines.length, 1, r.stderr);
    t.regex(lines[0]!, new RegExp(`${flag}: no ZooKeeper server answered within .*127\\.0\\.0\\.1:${port}`));
  }
});

test.serial('corral local --masters=3: an embedded ensemble, three masters that elect one, agents and the demo follow it', async (t) => {
  t.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-ha-`));
  t.teardown(() => {
    killEverythingUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  let leaderPort = 0;
  let followers: number[] = [];
  const r = await runCorral(['local', '--masters=3', '--num_agents=1', '--port=0', '--demo', '--quiet', `--work_dir=${dir}`], {
    timeoutMs: 150_000,
    until: /The cluster keeps running/,
    whileUp: async (out) => {
      const m = /3 masters at (http:\/\/\S+), (http:\/\/\S+), (http:\/\/\S+) on ZooKeeper zk:\/\/\S+ \(leader: http:\/\/127\.0\.0\.1:(\d+);/.exec(out);
      if (!m) throw new Error(`no masters line in: ${out}`);
      leaderPort = Number(m[4]);
      const ports = [m[1], m[2], m[3]].map((u) => Number(u!.split(':').at(-1)));
      followers = ports.filter((p) => p !== leaderPort);
      for (const p of followers) {
        const redirect = await request(`http://127.0.0.1:${p}/master/redirect`, { method: 'GET' });
        if (redirect.status !== 307 || redirect.headers.location !== `//127.0.0.1:${leaderPort}`)
          throw new Error(`follower ${p}: ${redirect.status} ${redirect.headers.location}`);
      }
    },
  });
  t.notRegex(r.stderr, /\[test\]/, 'the followers redirect to the leader');
  t.regex(r.stdout, /Demo task exited with code 0\./, r.stdout + r.stderr);
  t.regex(r.stdout, /hello from a Corral task/);
  t.is(followers.length, 2, r.stdout);
});
