/**
 * A task's environment is built, not inherited: a `corral agent` process started with secrets
 * and its own configuration in its environment runs `env` as a task (through `corral execute`),
 * and the task's stdout shows none of them. With --executor_environment_variables the task gets
 * exactly that environment, plus the MESOS_* variables the agent sets for its executor.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { freePort } from '../helpers/agent_process.ts';
import { startCluster } from '../helpers/cluster.ts';
import { runCorral } from '../helpers/corral_run.ts';

const SECRET = 'agent-http-s3cret';

/** Every file named `name` below `dir`. */
async function filesNamed(dir: string, name: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesNamed(p, name)));
    else if (e.name === name) out.push(p);
  }
  return out;
}

/** Start `corral agent` with `env` and `extra` flags, run `env` as a task on it, and return the task's environment. */
async function taskEnvironment(t: ExecutionContext, env: Record<string, string>, extra: string[]): Promise<Map<string, string>> {
  const c = await startCluster(t, { agents: 0 });
  const dir = await mkdtemp(join(tmpdir(), 'corral-task-env-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const workDir = join(dir, 'agent');
  const args = [
    'agent',
    `--master=${c.masterAddress}`,
    '--ip=127.0.0.1',
    `--port=${await freePort()}`,
    `--work_dir=${workDir}`,
    '--resources=cpus:1;mem:256;disk:100;ports:[31000-31010]',
    '--registration_backoff_factor=10ms',
    ...extra,
  ];
  let ran: { code: number | null; stdout: string; stderr: string } | undefined;
  const agent = await runCorral(args, {
    env,
    until: /"agent started"/,
    timeoutMs: 60_000,
    whileUp: async () => {
      ran = await runCorral(
        [
          'execute',
          `--master=${c.masterAddress}`,
          '--name=env',
          '--command=/usr/bin/env',
          '--resources=cpus:0.1;mem:32',
          ...(process.getuid?.() === 0 ? ['--user=nobody'] : []),
        ],
        { timeoutMs: 45_000 },
      );
    },
  });
  t.truthy(ran, agent.stderr.slice(-3000));
  t.is(ran!.code, 0, `${ran!.stdout}\n${ran!.stderr}\nagent: ${agent.stderr.slice(-3000)}`);
  const [stdout] = await filesNamed(workDir, 'stdout');
  t.truthy(stdout, 'the task has a sandbox stdout');
  const vars = new Map<string, string>();
  for (const line of (await readFile(stdout!, 'utf8')).split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) vars.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return vars;
}

async function withCredentials(t: ExecutionContext, extra: string[]): Promise<Map<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'corral-task-env-creds-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const creds = join(dir, 'http_credentials');
  await writeFile(creds, `ops ${SECRET}\n`, { mode: 0o600 });
  return taskEnvironment(
    t,
    {
      CORRAL_HTTP_CREDENTIALS: creds,
      MESOS_FOO: 'mesos-foo',
      LIBPROCESS_BAR: 'libprocess-bar',
      SSL_KEY_FILE: '/etc/ssl/agent-key.pem',
      SECRET_FILE: creds,
      SECRET_URL: `file://${creds}`,
      KEEP_ME: 'kept',
    },
    extra,
  );
}

test("a task does not inherit the agent's configuration, secrets, nor where it read them", async (t) => {
  const vars = await withCredentials(t, []);
  for (const name of ['CORRAL_HTTP_CREDENTIALS', 'MESOS_FOO', 'LIBPROCESS_BAR', 'SSL_KEY_FILE', 'SECRET_FILE', 'SECRET_URL'])
    t.false(vars.has(name), `${name} is not in the task's environment`);
  for (const value of vars.values()) t.false(value.includes(SECRET) || value.includes('http_credentials'), value);
  t.is(vars.get('KEEP_ME'), 'kept', "the rest of the agent's environment is inherited");
  t.truthy(vars.get('PATH'));
  t.truthy(vars.get('MESOS_SANDBOX'), 'the variables the agent sets for its executor are there');
  t.truthy(vars.get('MESOS_FRAMEWORK_ID'));
});

test('--executor_environment_variables is exactly the environment tasks start from', async (t) => {
  const vars = await withCredentials(t, ['--executor_environment_variables={"A":"1"}']);
  t.is(vars.get('A'), '1');
  for (const name of ['PATH', 'KEEP_ME', 'CORRAL_HTTP_CREDENTIALS', 'MESOS_FOO', 'LIBPROCESS_BAR', 'SECRET_FILE'])
    t.false(vars.has(name), `${name} is not in the task's environment`);
  t.truthy(vars.get('MESOS_SANDBOX'), 'the variables the agent sets for its executor are there');
});
