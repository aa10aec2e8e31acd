/**
 * Executor authentication end to end (`corral agent --authenticate_http_executors`): a real
 * master and agent, custom executors as real processes that know only their environment, and
 * another framework's executor as the attacker. Each custom executor gets a token (a JWT the
 * agent signs) and sends it as `Authorization: Bearer`; a call without a valid token gets 401, one
 * for another framework's executor 403, and neither learns or changes anything of that executor.
 * The key stays in the agent's work_dir (mode 0600), so a token outlives an agent restart.
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFlags } from '../../lib/agent/flags.ts';
import { parseFlags } from '../../lib/common/flags.ts';
import { signJwt } from '../../lib/transport/jwt.ts';
import { writePrivate } from '../helpers/auth_fixture.ts';
import { runCorral } from '../helpers/corral_run.ts';
import { commandTask, frameworkInfo, request, startCluster, type Cluster, type Json } from '../helpers/cluster.ts';
import { TOKEN_EXECUTOR } from '../helpers/executor_script.ts';

const AUTH = ['--authenticate_http_executors'];
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const keyFile = (c: Cluster) => join(c.workDir, 'agent0', 'meta', 'executor_secret_key');

/** An ExecutorInfo running TOKEN_EXECUTOR, with `env` in its command's environment. */
function tokenExecutor(c: Cluster, id: string, env: Record<string, string> = {}): Json {
  const file = join(c.workDir, 'token-executor.mjs');
  writeFileSync(file, TOKEN_EXECUTOR);
  return {
    executor_id: { value: id },
    name: id,
    command: {
      value: `${JSON.stringify(process.execPath)} ${JSON.stringify(file)}`,
      shell: true,
      environment: { variables: Object.entries(env).map(([name, value]) => ({ name, value })) },
    },
    resources: commandTask('x', 'x').resources,
  };
}

/** A TaskInfo for `executor` on `offer`. */
const customTask = (id: string, offer: Json, executor: Json, extra: Json = {}): Json => ({
  ...commandTask(id, 'unused'),
  command: undefined,
  agent_id: offer.agent_id,
  executor,
  ...extra,
});

/** A call to the agent's executor API as anyone on the network can make it. */
const executorCall = (c: Cluster, body: Json, headers: Record<string, string> = {}) =>
  request(c.agentUrl(0, '/api/v1/executor'), {
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    body,
    timeoutMs: 5000,
  });

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

test("--authenticate_http_executors: an executor works with its token; a forged SUBSCRIBE/UPDATE gets 401 without a valid token and 403 with another executor's, learns nothing, and the real executor keeps its stream", async (t) => {
  // The agent's own environment holds a token (it might run under another agent): no container may get it.
  process.env.MESOS_EXECUTOR_AUTHENTICATION_TOKEN = 'inherited-token';
  let c: Cluster;
  try {
    c = await startCluster(t, { agentArgs: AUTH });
  } finally {
    delete process.env.MESOS_EXECUTOR_AUTHENTICATION_TOKEN;
  }

  // The victim: a custom executor with a task holding private data, and a command task.
  const victim = await c.framework(frameworkInfo({ name: 'victim' }));
  const [offer] = await victim.offers();
  const secretData = Buffer.from('victim-private-task-data').toString('base64');
  // What is left goes to the attacker's framework.
  victim.onEvent = (e) => {
    if (e.type === 'OFFERS')
      victim
        .decline(
          (e.offers.offers as Json[]).map((o) => o.id.value),
          3600,
        )
        .catch(() => {});
  };
  await victim.accept(
    [offer.id.value],
    [
      customTask('victim-task', offer, tokenExecutor(c, 'victim-ex'), { data: secretData }),
      { ...commandTask('no-token', 'test -z "$MESOS_EXECUTOR_AUTHENTICATION_TOKEN"'), agent_id: offer.agent_id },
    ],
  );
  const running = await victim.update('victim-task', 'TASK_RUNNING', 20_000);
  t.is(running.source, 'SOURCE_EXECUTOR');
  const victimTokenHash = JSON.parse(running.message).token as string;
  t.truthy(victimTokenHash, 'the executor got a token and its calls were accepted');
  t.is((await victim.update('no-token', ['TASK_FINISHED', 'TASK_FAILED'], 20_000)).state, 'TASK_FINISHED', 'a command task gets no token');

  // The token is the JWT Mesos gives: HS256 over {fid, eid, cid} with the key kept in the work_dir.
  const key = readFileSync(keyFile(c));
  t.is(statSync(keyFile(c)).mode & 0o777, 0o600);
  const agentState = (await request(c.agentUrl(0, '/state'), { method: 'GET' })).json();
  const victimEx = (agentState.frameworks as Json[]).find((f) => f.id === victim.frameworkId).executors.find((e: Json) => e.id === 'victim-ex');
  const victimToken = signJwt({ fid: victim.frameworkId, eid: 'victim-ex', cid: victimEx.container }, key);
  t.is(sha256(victimToken), victimTokenHash);

  // The attacker: another framework's executor, which hands its own token to its framework.
  const attacker = await c.framework(frameworkInfo({ name: 'attacker' }));
  const [offer2] = await attacker.offers();
  await attacker.accept([offer2.id.value], [customTask('attacker-task', offer2, tokenExecutor(c, 'attacker-ex', { SHARE_TOKEN: '1' }))]);
  const attackerToken = JSON.parse((await attacker.update('attacker-task', 'TASK_RUNNING', 20_000)).message).shared as string;
  t.truthy(attackerToken);

  const victimIds = { framework_id: { value: victim.frameworkId }, executor_id: { value: 'victim-ex' } };
  const subscribe = { ...victimIds, type: 'SUBSCRIBE', subscribe: {} };
  const update = {
    ...victimIds,
    type: 'UPDATE',
    update: { status: { task_id: { value: 'victim-task' }, state: 'TASK_FINISHED', source: 'SOURCE_EXECUTOR', uuid: randomBytes(16).toString('base64') } },
  };
  const [h, , sig] = attackerToken.split('.');
  const reclaimed = Buffer.from(JSON.stringify({ fid: victim.frameworkId, eid: 'victim-ex', cid: victimEx.container })).toString('base64url');
  const unsigned = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  const unauthenticated: [string, Record<string, string>][] = [
    ['no token', {}],
    ['Basic credentials', { Authorization: `Basic ${Buffer.from('ops:x').toString('base64')}` }],
    ['a garbled token', bearer('not-a-jwt')],
    ["the attacker's token with the victim's claims", bearer(`${h}.${reclaimed}.${sig}`)],
    ['an unsigned token (alg none)', bearer(`${unsigned}.${reclaimed}.`)],
  ];
  const leaks = (text: string) => ['victim', secretData, victimEx.container, victimToken].some((s) => text.includes(s));
  for (const body of [subscribe, update]) {
    for (const [what, headers] of unauthenticated) {
      const r = await executorCall(c, body, headers);
      t.is(r.status, 401, `${body.type} with ${what}: ${r.text}`);
      t.is(r.headers['www-authenticate'], 'Bearer realm="mesos-agent-executor"');
      t.false(leaks(r.text), `${body.type} with ${what} answered ${r.text}`);
    }
    const r = await executorCall(c, body, bearer(attackerToken));
    t.is(r.status, 403, `${body.type} with the attacker's token: ${r.text}`);
    t.is(r.text, "The executor's token is not for this framework_id and executor_id");
  }
  // Nor does the attacker learn which frameworks or executors exist.
  const elsewhere = await executorCall(
    c,
    { framework_id: { value: 'no-such-framework' }, executor_id: { value: 'x' }, type: 'SUBSCRIBE', subscribe: {} },
    bearer(attackerToken),
  );
  t.is(elsewhere.status, 403);
  // Its token is good for its own executor.
  const own = await executorCall(
    c,
    { framework_id: { value: attacker.frameworkId }, executor_id: { value: 'attacker-ex' }, type: 'HEARTBEAT' },
    bearer(attackerToken),
  );
  t.is(own.status, 202, own.text);

  // Nothing changed for the victim: its task is still running at the master, and its executor
  // still has its stream (it gets the KILL and answers it).
  const masterState = (await request(c.url('/master/state'), { method: 'GET' })).json();
  const task = (masterState.frameworks as Json[]).find((f) => f.id === victim.frameworkId).tasks.find((x: Json) => x.id === 'victim-task');
  t.is(task.state, 'TASK_RUNNING');
  await victim.kill('victim-task');
  const killed = await victim.update('victim-task', ['TASK_KILLED', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST'], 20_000);
  t.deepEqual([killed.state, killed.message, killed.source], ['TASK_KILLED', 'killed', 'SOURCE_EXECUTOR']);

  // The victim's token shows nowhere: not in the agent's /state or /flags, the master's state,
  // or the sandbox's files.
  const sandbox = victimEx.directory as string;
  const texts = await Promise.all([
    request(c.agentUrl(0, '/state'), { method: 'GET' }),
    request(c.agentUrl(0, '/flags'), { method: 'GET' }),
    request(c.url('/master/state'), { method: 'GET' }),
    request(c.agentUrl(0, `/files/read?path=${encodeURIComponent(`${sandbox}/stdout`)}&offset=0`), { method: 'GET' }),
    request(c.agentUrl(0, `/files/read?path=${encodeURIComponent(`${sandbox}/stderr`)}&offset=0`), { method: 'GET' }),
  ]);
  for (const r of texts) {
    t.is(r.status, 200);
    t.false(r.text.includes(victimToken));
    t.false(r.text.includes('inherited-token'));
  }
  t.false(texts[0]!.text.includes(key.toString('base64')) || texts[0]!.text.includes(key.toString('hex')));
});

test("after an agent restart, a running executor's token still works (the key stays in the work_dir, mode 0600), and calls without one are still refused", async (t) => {
  const c = await startCluster(t, { agentArgs: AUTH });
  const s = await c.framework(frameworkInfo({ checkpoint: true }));
  const [offer] = await s.offers();
  await s.accept([offer.id.value], [customTask('kept', offer, tokenExecutor(c, 'kept-ex'))]);
  const first = await s.update('kept', 'TASK_RUNNING', 20_000);
  t.truthy(JSON.parse(first.message).token, 'the executor has a token');
  const key = readFileSync(keyFile(c));

  await c.restartAgent(0);
  // The executor lost its stream, subscribed again with the token it was started with, and
  // its UPDATE went through.
  const again = await s.waitFor(
    (e) => e.type === 'UPDATE' && e.update.status.task_id.value === 'kept' && e.update.status.message === 'resubscribed',
    30_000,
    'the update sent after subscribing again',
  );
  t.is(again.update.status.state, 'TASK_RUNNING');
  t.deepEqual(readFileSync(keyFile(c)), key, 'the restarted agent kept its key');
  t.is(statSync(keyFile(c)).mode & 0o777, 0o600);

  const forged = await executorCall(c, { framework_id: { value: s.frameworkId }, executor_id: { value: 'kept-ex' }, type: 'HEARTBEAT' });
  t.is(forged.status, 401);
  await s.kill('kept');
  t.is((await s.update('kept', ['TASK_KILLED', 'TASK_FAILED', 'TASK_LOST'], 20_000)).state, 'TASK_KILLED');
});

test("--executor_secret_key: the file's bytes are the key; a missing or empty file stops `corral agent` with one line (exit 2) that never repeats the value", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-execkey-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const secret = 'the-executor-secret-key-of-32-bytes!';
  const keyPath = writePrivate(dir, 'key', secret);
  const empty = writePrivate(dir, 'empty', '');
  const parsed = parseFlags(agentFlags, { argv: ['--master=127.0.0.1:1', `--work_dir=${dir}`, `--executor_secret_key=${keyPath}`], env: {} });
  t.deepEqual(parsed.values.executor_secret_key?.key, Buffer.from(secret));
  t.false(parsed.values.executor_secret_key?.readableByOthers);

  const agent = (flag: string) => runCorral(['agent', '--master=127.0.0.1:1', `--work_dir=${join(dir, 'never')}`, '--authenticate_http_executors', flag]);
  const [missing, none, inline] = await Promise.all([
    agent(`--executor_secret_key=${join(dir, 'missing')}`),
    agent(`--executor_secret_key=${empty}`),
    agent(`--executor_secret_key=file://${keyPath}`),
  ]);
  t.deepEqual(
    [missing.code, missing.stderr.trim()],
    [2, 'corral agent: --executor_secret_key: the file cannot be read (ENOENT): give the path of a file holding the key (not file://)'],
  );
  t.deepEqual([none.code, none.stderr.trim()], [2, `corral agent: --executor_secret_key: ${empty}: is empty (it must hold the key)`]);
  t.deepEqual(
    [inline.code, inline.stderr.trim()],
    [2, 'corral agent: --executor_secret_key: the file cannot be read (ENOENT): give the path of a file holding the key (not file://)'],
  );
  for (const r of [missing, none, inline]) t.false((r.stdout + r.stderr).includes(secret));
});
