/**
 * Authentication and authorization end to end: a real cluster (master and agent as `corral
 * master|agent` build them) with --authenticate_frameworks, --authenticate_agents,
 * --authenticate_http, a credentials file and an ACL file, driven by plain HTTP clients as a
 * Mesos client library or curl would be; the `corral` command refusing bad files at start and
 * keeping secrets out of its logs; and once over TLS, where a verified client certificate is the
 * principal.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFlags } from '../../lib/agent/flags.ts';
import { startAgent, startMaster, type RunningAgent, type RunningMaster } from '../../lib/cli/daemons.ts';
import { parseFlags } from '../../lib/common/flags.ts';
import { silentLogger } from '../../lib/common/log.ts';
import { masterFlags } from '../../lib/master/flags.ts';
import { FileRegistry } from '../../lib/master/registry/index.ts';
import { HttpClient, loadTlsConfig } from '../../lib/transport/index.ts';
import { SECRETS, basic, commonAuthFiles, writePrivate } from '../helpers/auth_fixture.ts';
import { runCorral } from '../helpers/corral_run.ts';
import { USER, commandTask, frameworkInfo, killEverythingUnder, request, startCluster, type Cluster, type Json } from '../helpers/cluster.ts';
import { hasOpenssl, makePki, tlsEnv } from '../transport/tls_fixture.ts';

const OTHER_USER = USER === 'nobody' ? 'daemon' : 'nobody';

let dir: string;
let files: { credentials: string; acls: string; agentCredential: string };

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-auth-`));
  const write = (name: string, text: string) => writePrivate(dir, name, text);
  files = {
    ...commonAuthFiles(dir),
    acls: write(
      'acls.json',
      JSON.stringify({
        register_frameworks: [
          { principals: { values: ['web'] }, roles: { values: ['*', 'web'] } },
          { principals: { type: 'ANY' }, roles: { type: 'NONE' } },
        ],
        run_tasks: [
          { principals: { values: ['web'] }, users: { values: [USER] } },
          { principals: { type: 'ANY' }, users: { type: 'NONE' } },
        ],
        teardown_frameworks: [
          { principals: { values: ['ops'] }, framework_principals: { type: 'ANY' } },
          { principals: { type: 'ANY' }, framework_principals: { type: 'NONE' } },
        ],
        register_agents: [
          { principals: { values: ['agent'] }, agents: { type: 'ANY' } },
          { principals: { type: 'ANY' }, agents: { type: 'NONE' } },
        ],
        reserve_resources: [
          { principals: { values: ['ops'] }, roles: { values: ['web'] } },
          { principals: { type: 'ANY' }, roles: { type: 'NONE' } },
        ],
        unreserve_resources: [
          { principals: { values: ['ops'] }, reserver_principals: { values: ['ops'] } },
          { principals: { type: 'ANY' }, reserver_principals: { type: 'NONE' } },
        ],
      }),
    ),
  };
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const secured = (t: Parameters<typeof startCluster>[0]): Promise<Cluster> =>
  startCluster(t, {
    masterArgs: ['--authenticate_frameworks', '--authenticate_agents', '--authenticate_http', `--credentials=${files.credentials}`, `--acls=${files.acls}`],
    agentArgs: [`--credential=${files.agentCredential}`],
  });

function noSecretIn(t: { false: (v: boolean, m?: string) => void }, text: string, where: string): void {
  for (const s of Object.values(SECRETS)) t.false(text.includes(s), `a secret appears in ${where}`);
}

test('agents: the agent registers with its --credential; without credentials 401, with a principal register_agents does not allow 403', async (t) => {
  const c = await secured(t);
  const state = await request(c.url('/master/state'), { method: 'GET', headers: basic('ops') });
  t.is(state.json().slaves.length, 1);
  const hello = { type: 'REGISTER', agent_info: { hostname: 'intruder', port: 1, resources: [] }, version: 'x' };
  const none = await request(c.url('/internal/agent/subscribe'), { headers: { 'Content-Type': 'application/json' }, body: hello });
  t.is(none.status, 401);
  t.is(none.headers['www-authenticate'], 'Basic realm="corral-master-agent"');
  const wrong = await request(c.url('/internal/agent/subscribe'), { headers: { 'Content-Type': 'application/json', ...basic('agent', 'guess') }, body: hello });
  t.is(wrong.status, 401);
  const notAllowed = await request(c.url('/internal/agent/subscribe'), { headers: { 'Content-Type': 'application/json', ...basic('web') }, body: hello });
  t.is(notAllowed.status, 403);
  t.is(notAllowed.text, "Not authorized: principal 'web' may not register agents");
  const calls = await request(c.url('/internal/agent/call'), {
    headers: { 'Content-Type': 'application/json', 'corral-agent-id': 'x' },
    body: { type: 'PONG' },
  });
  t.is(calls.status, 401);
  t.is((await request(c.url('/master/state'), { method: 'GET', headers: basic('ops') })).json().slaves.length, 1);
});

test('frameworks: 401 without or with wrong credentials, 400 when FrameworkInfo.principal is not the authenticated one, ERROR for a role the ACLs refuse', async (t) => {
  const c = await secured(t);
  const info = frameworkInfo({ principal: 'web' });
  const none = await c.subscribe(info);
  t.is(none.status, 401);
  t.is(none.headers['www-authenticate'], 'Basic realm="mesos-master-scheduler"');
  t.is((await c.subscribe(info, { headers: basic('web', 'wrong') })).status, 401);
  const mismatch = await c.subscribe(frameworkInfo({ principal: 'ops' }), { headers: basic('web') });
  t.is(mismatch.status, 400);
  t.is(mismatch.records.join(''), "The authenticated principal 'web' is not the principal 'ops' of the framework (FrameworkInfo.principal)");
  t.is((await c.subscribe(frameworkInfo(), { headers: basic('web') })).status, 400, 'no FrameworkInfo.principal');
  const refusedRole = await c.subscribe(frameworkInfo({ principal: 'ops' }), { headers: basic('ops') });
  t.is(refusedRole.status, 200);
  const err = await refusedRole.waitFor((e) => e.type === 'ERROR', 5000);
  t.is(err.error.message, "Framework is not authorized to register with role '*'");
  await refusedRole.whenClosed();
  const s = await c.framework(info, { headers: basic('web'), callHeaders: basic('web') });
  t.truthy(s.frameworkId);
  // Calls need the credentials too; a call of another principal is refused with 400.
  const offers = await s.offers();
  const decline = { type: 'DECLINE', decline: { offer_ids: [offers[0].id], filters: { refuse_seconds: 0 } } };
  t.is((await s.call(decline, { Authorization: '' })).status, 401);
  t.is((await s.call(decline, basic('ops'))).status, 400);
  t.is((await s.call(decline)).status, 202);
});

test('run_tasks: a task as an allowed user runs (without the agent credential in its environment); as another user it gets TASK_ERROR with REASON_TASK_UNAUTHORIZED', async (t) => {
  // An agent whose credential came inline through the environment: its tasks must not see it.
  process.env.CORRAL_CREDENTIAL = `agent ${SECRETS.agent}`;
  let c: Cluster;
  try {
    c = await secured(t);
  } finally {
    delete process.env.CORRAL_CREDENTIAL;
  }
  const s = await c.framework(frameworkInfo({ principal: 'web' }), { headers: basic('web'), callHeaders: basic('web') });
  const noSecret = `! env | grep -q '${SECRETS.agent}'`;
  await s.launch([commandTask('allowed', noSecret), commandTask('other-user', 'true', { command: { value: 'true', shell: true, user: OTHER_USER } })]);
  const denied = await s.update('other-user');
  t.like(denied, { state: 'TASK_ERROR', reason: 'REASON_TASK_UNAUTHORIZED', source: 'SOURCE_MASTER' });
  t.is(denied.message, `Not authorized to run tasks as user '${OTHER_USER}'`);
  await s.update('allowed', 'TASK_FINISHED', 20_000);
  await Promise.all(s.acks);
});

test('operator endpoints: 401 without credentials, /health open, teardown only as the ACLs allow (403 names why), no secret in /flags or /state', async (t) => {
  const c = await secured(t);
  const s = await c.framework(frameworkInfo({ principal: 'web' }), { headers: basic('web'), callHeaders: basic('web') });
  const anon = await request(c.url('/master/state'), { method: 'GET' });
  t.is(anon.status, 401);
  t.is(anon.headers['www-authenticate'], 'Basic realm="mesos-master-readonly"');
  t.is((await request(c.url('/metrics/snapshot'), { method: 'GET', headers: basic('ops', 'nope') })).status, 401);
  t.is((await request(c.url('/health'), { method: 'GET' })).status, 200);
  const flags = await request(c.url('/master/flags'), { method: 'GET', headers: basic('web') });
  t.is(flags.status, 200);
  t.is(flags.json().flags.credentials, files.credentials);
  noSecretIn(t, flags.text, '/master/flags');
  const state = await request(c.url('/master/state'), { method: 'GET', headers: basic('ops') });
  noSecretIn(t, state.text, '/master/state');
  t.is(state.json().frameworks[0].principal, 'web');
  t.is((await request(c.agentUrl(0, '/flags'), { method: 'GET' })).json().flags.credential, files.agentCredential);

  const teardown = (headers: Record<string, string>) =>
    request(c.url('/master/teardown'), { headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: `frameworkId=${s.frameworkId}` });
  const anonTeardown = await teardown({});
  t.is(anonTeardown.status, 401);
  t.is(anonTeardown.headers['www-authenticate'], 'Basic realm="mesos-master-readwrite"');
  const byWeb = await teardown(basic('web'));
  t.is(byWeb.status, 403);
  t.is(byWeb.text, `Not authorized: principal 'web' may not tear down framework ${s.frameworkId} (principal 'web')`);
  t.true(c.master!.master.frameworks.has(s.frameworkId));
  t.is((await teardown(basic('ops'))).status, 200);
  t.false(c.master!.master.frameworks.has(s.frameworkId));
});

test('operator reserve/unreserve: 401 without credentials, the reservation principal must be the caller (400), ACLs deny (403) or allow (202)', async (t) => {
  const c = await secured(t);
  const agentId = c.master!.master.agents.keys().next().value!;
  const cpus = (principal: string, role = 'web') => JSON.stringify([{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role, reservation: { principal } }]);
  const post = (path: string, form: Record<string, string>, headers: Record<string, string>) =>
    request(c.url(path), { headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
  const anon = await post('/master/reserve', { slaveId: agentId, resources: cpus('ops') }, {});
  t.is(anon.status, 401);
  t.is(anon.headers['www-authenticate'], 'Basic realm="mesos-master-readwrite"');
  t.is((await post('/master/reserve', { slaveId: agentId, resources: cpus('ops') }, basic('web'))).status, 400, "web may not reserve in ops's name");
  const denied = await post('/master/reserve', { slaveId: agentId, resources: cpus('web') }, basic('web'));
  t.is(denied.status, 403);
  t.is(denied.text, "Not authorized: principal 'web' may not reserve resources for role 'web'");
  t.is((await post('/master/reserve', { slaveId: agentId, resources: cpus('ops', 'db') }, basic('ops'))).status, 403, 'ops may reserve only for web');
  const reservedCpus = async () =>
    (await request(c.url('/master/slaves'), { method: 'GET', headers: basic('ops') })).json().slaves[0].reserved_resources.web?.cpus ?? 0;
  t.is(await reservedCpus(), 0);
  const ok = await post('/master/reserve', { slaveId: agentId, resources: cpus('ops') }, basic('ops'));
  t.is(ok.status, 202, ok.text);
  t.is(await reservedCpus(), 1);
  t.is((await post('/master/unreserve', { slaveId: agentId, resources: cpus('ops') }, basic('web'))).status, 403);
  t.is(await reservedCpus(), 1);
  t.is((await post('/master/unreserve', { slaveId: agentId, resources: cpus('ops') }, basic('ops'))).status, 202);
  t.is(await reservedCpus(), 0);
});

// ---------------------------------------------------------------------------------------------
// The command

test('corral master/agent refuse to start on a bad credentials or ACL file, naming the flag, the file and the place (exit 2)', async (t) => {
  const bad = join(dir, 'bad-credentials');
  writeFileSync(bad, `ops ${SECRETS.ops}\nweb\n`);
  const badAcls = join(dir, 'bad-acls.json');
  writeFileSync(badAcls, '{"run_tasks": [{"principals": {"type": "ANY"}}]}');
  const runs = await Promise.all([
    runCorral(['master', '--registry=in_memory', '--port=0', `--credentials=${bad}`]),
    runCorral(['master', '--registry=in_memory', '--port=0', `--acls=${badAcls}`]),
    runCorral(['master', '--registry=in_memory', '--port=0', '--authenticate_frameworks']),
    runCorral(['master', '--registry=in_memory', '--port=0', '--authenticate_http', `--acls=file://${badAcls}`]),
    runCorral(['agent', '--master=127.0.0.1:1', `--work_dir=${join(dir, 'agent-never')}`, `--credential=${join(dir, 'missing')}`]),
  ]);
  const [creds, acls, noCreds, inline, agent] = runs.map((r) => ({ code: r.code, err: r.stderr.trim() }));
  t.deepEqual(creds, { code: 2, err: `corral master: --credentials: ${bad}: line 2: expected 'principal secret' (2 words), found 1 word(s)` });
  t.deepEqual(acls, { code: 2, err: `corral master: --acls: ${badAcls}: run_tasks[0].users: is required` });
  t.deepEqual(noCreds, { code: 2, err: 'corral master: --authenticate_frameworks: needs --credentials (the principals and secrets to check)' });
  t.deepEqual(inline, { code: 2, err: 'corral master: --acls: inline value: run_tasks[0].users: is required' });
  t.is(agent!.code, 2);
  t.regex(agent!.err, new RegExp(`^corral agent: --credential: ${join(dir, 'missing')}: cannot be read: ENOENT`));
  for (const r of runs) noSecretIn(t, r.stdout + r.stderr, 'the output');
});

test('corral master logs no secret, also at debug level while refusing wrong passwords', async (t) => {
  let port = 0;
  const r = await runCorral(
    [
      'master',
      '--registry=in_memory',
      '--port=0',
      '--logging_level=DEBUG',
      '--authenticate_http',
      '--authenticate_frameworks',
      `--credentials=${files.credentials}`,
    ],
    {
      until: /master started/,
      whileUp: async (out) => {
        port = Number(/"port":(\d+)/.exec(out)?.[1] ?? /port[=: ]+(\d+)/.exec(out)?.[1]);
        const base = `http://127.0.0.1:${port}`;
        t.is((await request(`${base}/master/state`, { method: 'GET', headers: basic('ops', 'not-it') })).status, 401);
        t.is((await request(`${base}/master/state`, { method: 'GET', headers: basic('ops') })).status, 200);
        const sub = { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo({ principal: 'web' }) } };
        t.is(
          (await request(`${base}/api/v1/scheduler`, { headers: { 'Content-Type': 'application/json', ...basic('web', SECRETS.ops) }, body: sub })).status,
          401,
        );
      },
    },
  );
  t.true(port > 0, r.stdout + r.stderr);
  t.regex(r.stdout + r.stderr, /request not authenticated/);
  noSecretIn(t, r.stdout + r.stderr, 'the logs');
  t.false((r.stdout + r.stderr).includes('not-it'));
});

// ---------------------------------------------------------------------------------------------
// Over TLS

const tlsTest = hasOpenssl() ? test : test.skip;

tlsTest('over TLS: the agent authenticates with --credential; a framework with a verified client certificate is its CN without a password', async (t) => {
  const pki = makePki();
  const work = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-authtls-`));
  let master: RunningMaster | undefined;
  let agent: RunningAgent | undefined;
  const client = new HttpClient({ tls: loadTlsConfig(tlsEnv(pki, {}, pki.client))!, timeoutMs: 10_000 });
  t.teardown(async () => {
    client.close();
    await agent?.stop();
    await master?.stop();
    killEverythingUnder(work);
    rmSync(work, { recursive: true, force: true });
    pki.remove();
  });
  const daemonTls = loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_VERIFY_CERT: 'true' }))!;
  const m = parseFlags(masterFlags, {
    argv: [
      '--ip=127.0.0.1',
      '--port=0',
      '--registry=in_memory',
      '--allocation_interval=20ms',
      '--authenticate_frameworks',
      '--authenticate_agents',
      `--credentials=${files.credentials}`,
    ],
    env: {},
  });
  master = await startMaster(m.values, m.text, silentLogger, { tls: daemonTls });
  const a = parseFlags(agentFlags, {
    argv: [
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      '--port=0',
      `--work_dir=${join(work, 'agent')}`,
      '--resources=cpus:2;mem:1024',
      '--registration_backoff_factor=20ms',
      `--credential=${files.agentCredential}`,
    ],
    env: {},
  });
  const started = await startAgent(a.values, a.text, silentLogger, { tls: daemonTls });
  agent = started;
  await started.registered;
  t.is(master.master.agents.size, 1);

  const url = `https://127.0.0.1:${master.port}/api/v1/scheduler`;
  const subscribe = (principal: string, headers: Record<string, string> = {}) =>
    client.openStream({
      url,
      headers: { 'Content-Type': 'application/json', ...headers },
      body: { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo({ principal }) } },
    });
  const byCert = await subscribe('test-client');
  t.is(byCert.status, 200);
  const first = await byCert.records[Symbol.asyncIterator]().next();
  const event = JSON.parse(String(first.value)) as Json;
  t.is(event.type, 'SUBSCRIBED');
  byCert.close();
  const wrongPrincipal = await subscribe('web');
  t.is(wrongPrincipal.status, 400);
  const byPassword = await subscribe('web', basic('web'));
  t.is(byPassword.status, 200);
  byPassword.close();
  const badPassword = await subscribe('web', basic('web', 'x'));
  t.is(badPassword.status, 401);
});

test("agents authenticate by default with --credentials: a rogue REREGISTER with a live agent's id gets 401 without or with wrong credentials and 403 as another principal, /master/state shows the real agent at every poll; --authenticate_agents=false opts out", async (t) => {
  // No --authenticate_agents: --credentials alone switches it on.
  const c = await startCluster(t, { masterArgs: [`--credentials=${files.credentials}`], agentArgs: [`--credential=${files.agentCredential}`] });
  t.is((await request(c.url('/master/flags'), { method: 'GET' })).json().flags.authenticate_agents, 'true');
  const master = c.master!.master;
  const [agentId, real] = master.agents.entries().next().value!;
  const streamBefore = real.streamId;
  const rogue = {
    type: 'REREGISTER',
    agent_id: { value: agentId },
    agent_info: { hostname: 'evil', port: 1, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 64 } }] },
    version: 'x',
  };
  // Poll the master's state for as long as the attempts last (and a few times after).
  const seen: string[] = [];
  let attacking = true;
  const polling = (async () => {
    for (let after = 0; attacking || after < 3; after += attacking ? 0 : 1) {
      const slaves = (await request(c.url('/master/state'), { method: 'GET' })).json().slaves as Json[];
      seen.push(slaves.map((s) => `${s.id} ${s.hostname} cpus:${s.resources.cpus}`).join(', '));
    }
  })();
  const statuses: number[] = [];
  const texts: string[] = [];
  try {
    for (const headers of [{}, basic('agent', 'guess'), basic('web')]) {
      const r = await request(c.url('/internal/agent/subscribe'), {
        headers: { 'Content-Type': 'application/json', ...headers },
        body: rogue,
        timeoutMs: 5000,
      });
      statuses.push(r.status);
      texts.push(r.text);
    }
  } finally {
    attacking = false;
    await polling;
  }
  t.deepEqual(statuses, [401, 401, 403], texts.join(' | '));
  t.is(texts[2], `Not authorized: agent ${agentId} was registered by another principal; principal 'web' may not re-register it`);
  t.true(seen.length >= 4);
  t.deepEqual([...new Set(seen)], [`${agentId} agent0 cpus:8`]);
  t.is(master.agents.get(agentId), real);
  t.true(real.connected);
  t.is(real.streamId, streamBefore, "the real agent's stream was not replaced");
  // The real agent, with its own principal, re-registers as before.
  await c.restartAgent(0);
  t.deepEqual([...master.agents.keys()], [agentId]);
  t.not(real.streamId, streamBefore);

  // Opting out: an agent without a credential registers.
  const open = await startCluster(t, { masterArgs: [`--credentials=${files.credentials}`, '--authenticate_agents=false'] });
  t.is(open.master!.master.agents.size, 1);
  t.is((await request(open.url('/master/flags'), { method: 'GET' })).json().flags.authenticate_agents, 'false');
  // corral local decides as its master does: --credentials needs the local agents' --credential.
  const local = await runCorral(['local', '--port=0', `--work_dir=${join(dir, 'local-default')}`, `--credentials=${files.credentials}`]);
  t.deepEqual(
    [local.code, local.stderr.trim()],
    [
      2,
      'corral local: --credential: is needed: with --credentials the master requires its agents to authenticate (give the local agents a --credential, or --authenticate_agents=false)',
    ],
  );
});

/** A POST that may open a stream: its status, and its text unless it is a 200 stream (then closed at once). */
function answerOf(url: string, headers: Record<string, string>, body: Json): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(data.length), ...headers },
      agent: false,
      timeout: 15_000,
    });
    req.on('response', (res) => {
      if (res.statusCode === 200) {
        res.destroy();
        resolve({ status: 200, text: '(a stream)' });
        return;
      }
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: no answer in time`)));
    req.end(data);
  });
}

test("after a master restart, another principal cannot take over an agent id: the registry keeps the agent's principal, a rogue REREGISTER gets 403 and the real agent re-registers", async (t) => {
  // No ACLs: 'web' (a framework's credential) passes the agent realm, as --credentials alone allows.
  const c = await startCluster(t, { masterArgs: [`--credentials=${files.credentials}`], agentArgs: [`--credential=${files.agentCredential}`] });
  const agentId = [...c.master!.master.agents.keys()][0]!;
  const recorded = async () => (await new FileRegistry(join(c.workDir, 'master')).recover()).agents.map((a) => [a.id, a.principal]);
  t.deepEqual(await recorded(), [[agentId, 'agent']]);

  // The agent is down while the master restarts, so the rogue is first to re-register.
  await c.stopAgent(0);
  const port = c.masterPort;
  await c.stopMaster();
  const restarted = (await c.startMaster(port)).master;
  t.true(restarted.recoveredAgents.has(agentId));
  const rogue = {
    type: 'REREGISTER',
    agent_id: { value: agentId },
    agent_info: { hostname: 'evil', port: 1, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 64 } }] },
    version: 'x',
    tasks: [],
    executors: [],
    frameworks: [],
  };
  const answer = await answerOf(c.url('/internal/agent/subscribe'), basic('web'), rogue);
  t.deepEqual(answer, { status: 403, text: `Not authorized: agent ${agentId} was registered by another principal; principal 'web' may not re-register it` });
  t.is(restarted.agents.size, 0);
  t.deepEqual(await recorded(), [[agentId, 'agent']]);

  // The real agent, with its own principal, re-registers with its id.
  await c.restartAgent(0);
  t.deepEqual([...restarted.agents.keys()], [agentId]);
  t.is(restarted.agents.get(agentId)!.info.hostname, 'agent0');
  t.is(restarted.agents.get(agentId)!.principal, 'agent');
  t.deepEqual(await recorded(), [[agentId, 'agent']]);
});

test("a registry written before principals were kept: the agent's first authenticated re-registration records its principal, another principal is refused after it", async (t) => {
  const c = await startCluster(t, { masterArgs: [`--credentials=${files.credentials}`], agentArgs: [`--credential=${files.agentCredential}`] });
  const agentId = [...c.master!.master.agents.keys()][0]!;
  const dir = join(c.workDir, 'master');
  const recorded = async () => (await new FileRegistry(dir).recover()).agents.map((a) => [a.id, a.principal]);
  const port = c.masterPort;
  await c.stopAgent(0);
  await c.stopMaster();
  // As an older master wrote it: one registry.json, no journal, no principal.
  const old = await new FileRegistry(dir).recover();
  writeFileSync(join(dir, 'registry.json'), JSON.stringify({ version: 1, agents: old.agents.map(({ principal: _, ...a }) => a) }));
  rmSync(join(dir, 'registry.journal'), { force: true });
  t.deepEqual(await recorded(), [[agentId, undefined]]);
  const restarted = (await c.startMaster(port)).master;
  await c.restartAgent(0);
  t.deepEqual([...restarted.agents.keys()], [agentId]);
  t.deepEqual(await recorded(), [[agentId, 'agent']]);
  const rogue = {
    type: 'REREGISTER',
    agent_id: { value: agentId },
    agent_info: { hostname: 'evil', port: 1, resources: [] },
    version: 'x',
    tasks: [],
    executors: [],
    frameworks: [],
  };
  t.is((await answerOf(c.url('/internal/agent/subscribe'), basic('web'), rogue)).status, 403);
  t.is(restarted.agents.get(agentId)!.info.hostname, 'agent0');
});
