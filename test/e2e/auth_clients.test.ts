/**
 * Authentication from the clients' side, against real daemons: `corral execute` with --principal
 * and --secret against a master run with --authenticate_frameworks, and the agent's own endpoints
 * under --authenticate_http_readonly (plain HTTP clients, as curl would be), while its master and
 * its executors go on working.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SECRETS, basic, commonAuthFiles, writePrivate } from '../helpers/auth_fixture.ts';
import { commandTask, frameworkInfo, request, startCluster, type Json } from '../helpers/cluster.ts';
import { runCorral } from '../helpers/corral_run.ts';
import { EXECUTOR } from '../helpers/executor_script.ts';

let dir: string;
let files: { credentials: string; opsOnly: string; agentCredential: string; webCredential: string; webSecret: string };

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-authclients-`));
  const write = (name: string, text: string) => writePrivate(dir, name, text);
  files = {
    ...commonAuthFiles(dir),
    opsOnly: write('http-credentials.json', JSON.stringify({ credentials: [{ principal: 'ops', secret: SECRETS.ops }] })),
    webCredential: write('web-credential.json', JSON.stringify({ principal: 'web', secret: SECRETS.web })),
    webSecret: write('web-secret', `${SECRETS.web}\n`),
  };
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const noSecretIn = (t: { false: (v: boolean, m?: string) => void }, text: string, where: string) => {
  for (const s of Object.values(SECRETS)) t.false(text.includes(s), `a secret appears in ${where}`);
};

test('corral execute: --principal/--secret authenticate every call; none or a wrong secret is one clear line and exit 1, nothing launched', async (t) => {
  const c = await startCluster(t, {
    masterArgs: ['--authenticate_frameworks', `--credentials=${files.credentials}`],
    agentArgs: [`--credential=${files.agentCredential}`],
  });
  const master = `--master=${c.masterAddress}`;
  const [none, wrong, right, fromFile, fromEnv, mismatch] = await Promise.all([
    runCorral(['execute', master, '--command=true', '--name=no-credentials']),
    runCorral(['execute', master, '--command=true', '--name=wrong-secret', '--principal=web', '--secret=not-the-secret']),
    runCorral(['execute', master, '--command=exit 4', '--name=right-secret', '--principal=web', `--secret=${SECRETS.web}`]),
    // A credential file as the agent's --credential takes it: it names the principal.
    runCorral(['execute', master, '--command=true', '--name=credential-file', `--secret=${files.webCredential}`]),
    // Flags from the environment, the secret as a file holding it alone.
    runCorral(['execute', master, '--command=true', '--name=from-env'], { env: { MESOS_PRINCIPAL: 'web', MESOS_SECRET: `file://${files.webSecret}` } }),
    runCorral(['execute', master, '--command=true', '--name=mismatch', '--principal=ops', `--secret=${files.webCredential}`]),
  ]);
  t.is(none.code, 1, none.stdout + none.stderr);
  t.is(
    none.stderr.trim(),
    'corral execute: the master refused the subscription: 401 Unauthorized: no credentials (the master requires authentication: give --principal and --secret)',
  );
  t.is(wrong.code, 1, wrong.stdout + wrong.stderr);
  t.is(
    wrong.stderr.trim(),
    "corral execute: the master refused the subscription: 401 Unauthorized: wrong principal or secret (principal 'web') (check --principal 'web' and --secret)",
  );
  t.false(wrong.stderr.includes('not-the-secret'));
  t.is(right.code, 4, right.stdout + right.stderr);
  t.regex(right.stdout, /TASK_RUNNING[\s\S]*TASK_FAILED/);
  for (const r of [fromFile, fromEnv]) {
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /TASK_FINISHED/);
  }
  t.is(mismatch.code, 2);
  t.is(mismatch.stderr.trim(), `corral execute: --secret: the file is the credential of principal 'web', not of --principal 'ops'`);
  for (const r of [none, wrong, right, fromFile, fromEnv, mismatch]) noSecretIn(t, r.stdout + r.stderr, 'the output');

  // Only the three authenticated runs became frameworks, each with its principal, and only they ran tasks.
  const state = await request(c.url('/master/state'), { method: 'GET' });
  const done = state.json().completed_frameworks as Json[];
  t.deepEqual(done.map((f) => f.name).sort(), ['credential-file', 'from-env', 'right-secret']);
  t.true(done.every((f) => f.principal === 'web'));
  t.deepEqual(
    done.map((f) => f.completed_tasks.length),
    [1, 1, 1],
  );
});

test('agent --authenticate_http_readonly: /state, /flags, /monitor/statistics, /files/*, /metrics/snapshot need --http_credentials; /health, its master and its executors keep working', async (t) => {
  const c = await startCluster(t, {
    masterArgs: ['--authenticate_frameworks', '--authenticate_agents', `--credentials=${files.credentials}`],
    agentArgs: [`--credential=${files.agentCredential}`, '--authenticate_http_readonly', `--http_credentials=${files.opsOnly}`],
  });
  // The agent registered with its master (startCluster waits for it); now a framework runs a
  // command task that stays up and a custom executor's task through it.
  const executorFile = join(c.workDir, 'executor.mjs');
  writeFileSync(executorFile, EXECUTOR);
  const s = await c.framework(frameworkInfo({ principal: 'web' }), { headers: basic('web'), callHeaders: basic('web') });
  const [offer] = await s.offers();
  const custom = {
    ...commandTask('custom', 'unused'),
    command: undefined,
    agent_id: offer.agent_id,
    executor: {
      executor_id: { value: 'plain-executor' },
      name: 'plain-executor',
      command: { value: `${JSON.stringify(process.execPath)} ${JSON.stringify(executorFile)}`, shell: true },
      resources: commandTask('x', 'x').resources,
    },
  };
  await s.accept([offer.id.value], [{ ...commandTask('sleeper', 'echo sandbox-output; sleep 60'), agent_id: offer.agent_id }, custom]);
  await s.update('sleeper', 'TASK_RUNNING', 20_000);
  const customEnd = await s.update('custom', ['TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST', 'TASK_ERROR'], 20_000);
  t.deepEqual([customEnd.state, customEnd.message], ['TASK_FINISHED', 'in plain'], 'the custom executor reached the agent without credentials');

  const agent = (path: string, headers: Record<string, string> = {}) => request(c.agentUrl(0, path), { method: 'GET', headers });
  const state = await agent('/state', basic('ops'));
  t.is(state.status, 200, state.text);
  const sandbox = (state.json().frameworks[0].executors as Json[]).find((e) => e.id === 'sleeper').directory as string;
  const file = encodeURIComponent(`${sandbox}/stdout`);
  const paths = [
    '/state',
    '/state.json',
    '/slave(1)/state',
    '/flags',
    '/slave(1)/flags',
    '/monitor/statistics',
    '/monitor/statistics.json',
    '/metrics/snapshot',
    `/files/browse?path=${encodeURIComponent(sandbox)}`,
    `/files/read?path=${file}&offset=0`,
    `/files/download?path=${file}`,
  ];
  for (const path of paths) {
    for (const headers of [{}, basic('ops', 'wrong'), basic('web')]) {
      const r = await agent(path, headers);
      t.is(r.status, 401, `${path} ${JSON.stringify(headers)}`);
      t.is(r.headers['www-authenticate'], 'Basic realm="mesos-agent-readonly"', path);
      t.false(r.text.includes('sandbox-output') || r.text.includes('"frameworks"') || r.text.includes('slave/'), `${path} served something`);
    }
    const ok = await agent(path, basic('ops'));
    t.is(ok.status, 200, `${path}: ${ok.text.slice(0, 200)}`);
    noSecretIn(t, ok.text, path);
  }
  t.regex((await agent(`/files/download?path=${file}`, basic('ops'))).text, /sandbox-output/);
  t.is((await agent('/flags', basic('ops'))).json().flags.http_credentials, files.opsOnly);
  t.is((await agent('/health')).status, 200, '/health');
  // The executor API is in no realm: a call without credentials is judged on its content.
  const call = await request(c.agentUrl(0, '/api/v1/executor'), {
    headers: { 'Content-Type': 'application/json' },
    body: { type: 'HEARTBEAT', framework_id: { value: s.frameworkId }, executor_id: { value: 'sleeper' } },
  });
  t.is(call.status, 202, call.text);

  // The master still reaches the agent: killing the task ends it.
  await s.kill('sleeper');
  t.is((await s.update('sleeper', ['TASK_KILLED', 'TASK_FAILED'], 20_000)).state, 'TASK_KILLED');
});

test('corral agent refuses --authenticate_http* without --http_credentials, and a bad --http_credentials file (exit 2, one line)', async (t) => {
  const bad = join(dir, 'bad-http-credentials');
  writeFileSync(bad, 'ops\n');
  const work = join(dir, 'agent-never');
  const base = ['agent', '--master=127.0.0.1:1', `--work_dir=${work}`];
  const [readonly, both, badFile] = await Promise.all([
    runCorral([...base, '--authenticate_http_readonly']),
    runCorral([...base, '--authenticate_http']),
    runCorral([...base, '--authenticate_http_readonly', `--http_credentials=${bad}`]),
  ]);
  t.deepEqual(
    [readonly.code, readonly.stderr.trim()],
    [2, 'corral agent: --authenticate_http_readonly: needs --http_credentials (the principals and secrets to check)'],
  );
  t.deepEqual([both.code, both.stderr.trim()], [2, 'corral agent: --authenticate_http: needs --http_credentials (the principals and secrets to check)']);
  t.deepEqual(
    [badFile.code, badFile.stderr.trim()],
    [2, `corral agent: --http_credentials: ${bad}: line 1: expected 'principal secret' (2 words), found 1 word(s)`],
  );
});

test('corral local passes the auth flags to its master and agents; --demo authenticates with --principal/--secret', async (t) => {
  const work = join(dir, 'local');
  let master = '';
  let agentPort = 0;
  const r = await runCorral(
    [
      'local',
      '--port=0',
      '--quiet',
      '--resources=cpus:1;mem:256',
      `--work_dir=${work}`,
      '--authenticate_frameworks',
      '--authenticate_agents',
      '--authenticate_http',
      `--credentials=${files.credentials}`,
      `--credential=${files.agentCredential}`,
      '--demo',
      '--principal=web',
      `--secret=${files.webSecret}`,
    ],
    {
      until: /The cluster keeps running/,
      whileUp: async (out) => {
        master = /master at http:\/\/([0-9.]+:[0-9]+)/.exec(out)?.[1] ?? '';
        const get = (url: string, headers: Record<string, string> = {}) => request(url, { method: 'GET', headers });
        t.is((await get(`http://${master}/master/state`)).status, 401);
        const state = (await get(`http://${master}/master/state`, basic('ops'))).json();
        t.is(state.slaves.length, 1, 'the agent registered with its --credential');
        agentPort = state.slaves[0].port;
        t.is(state.completed_frameworks[0]?.principal, 'web');
        const agentState = await get(`http://127.0.0.1:${agentPort}/state`);
        t.is(agentState.status, 401);
        t.is(agentState.headers['www-authenticate'], 'Basic realm="mesos-agent-readonly"');
        t.is((await get(`http://127.0.0.1:${agentPort}/state`, basic('ops'))).status, 200);
        const sub = { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo({ principal: 'web' }) } };
        t.is((await request(`http://${master}/api/v1/scheduler`, { headers: { 'Content-Type': 'application/json' }, body: sub })).status, 401);
      },
    },
  );
  t.true(master !== '' && agentPort > 0, r.stdout + r.stderr);
  t.regex(r.stdout, /authentication required for: frameworks, agents, http/);
  t.regex(r.stdout, /Demo task exited with code 0/);
  t.false(r.stderr.includes('[test]'), r.stderr);
  t.is(r.code, 0, r.stderr);
  noSecretIn(t, r.stdout + r.stderr, 'the output');

  const refused = await runCorral([
    'local',
    '--port=0',
    `--work_dir=${join(dir, 'local-never')}`,
    '--authenticate_agents',
    `--credentials=${files.credentials}`,
  ]);
  t.deepEqual(
    [refused.code, refused.stderr.trim()],
    [2, 'corral local: --authenticate_agents: needs --credential (the principal and secret the local agents register with)'],
  );
});
