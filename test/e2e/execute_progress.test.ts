/**
 * `corral execute` as a person sees it, against a real cluster: its progress while it waits
 * (subscribed, waiting for an offer, the offer, staging, the states), the task's sandbox path
 * (a real directory holding the task's stdout), and a fast one-line failure when the task asks
 * more than any registered agent has in all.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { startCluster } from '../helpers/cluster.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'test', 'helpers', 'corral_src.ts');

function corral(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS|LIBPROCESS|SSL)_/.test(k)));
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', SRC, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

test('corral execute prints its progress and the sandbox path while it waits', async (t) => {
  const c = await startCluster(t);
  const r = await corral(['execute', `--master=${c.masterAddress}`, '--command=echo hello-from-the-sandbox', '--name=progress']);
  t.is(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  const at = (re: RegExp) => {
    const i = lines.findIndex((l) => re.test(l));
    t.true(i >= 0, `no line ${re} in:\n${r.stdout}`);
    return i;
  };
  const agentId = c.agents[0]!.agent.id!;
  const order = [
    at(/^Subscribed with ID \S+$/),
    at(/^Waiting for an offer of cpus:0\.1;mem:32$/),
    at(new RegExp(`^Received an offer from agent agent0 \\(${agentId}\\) that fits$`)),
    at(new RegExp(`^Submitting task progress-\\w+ to agent ${agentId}$`)),
    at(/^Task progress-\w+ is staging on agent agent0; waiting for it to start$/),
    at(/^Received status update TASK_RUNNING for task progress-/),
    at(/^Received status update TASK_FINISHED for task progress-/),
  ];
  t.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
    r.stdout,
  );
  const sandbox = /^Sandbox of task (progress-\w+): agent0:(\/\S+) \(corral task log progress-\w+ \[--follow\] prints its stdout\)$/m.exec(r.stdout);
  t.truthy(sandbox, r.stdout);
  t.true(sandbox![2]!.startsWith(join(c.workDir, 'agent0')), sandbox![2]);
  t.is(readFileSync(join(sandbox![2]!, 'stdout'), 'utf8').trim().split('\n').at(-1), 'hello-from-the-sandbox');
});

test('corral execute fails at once, in one line, when the task asks more than any agent has in all', async (t) => {
  const c = await startCluster(t, { agentResources: 'cpus:2;mem:512;disk:100;ports:[31000-31010]' });
  const agentId = c.agents[0]!.agent.id!;
  const r = await corral(['execute', `--master=${c.masterAddress}`, '--command=true', '--resources=cpus:4;mem:32', '--timeout=1mins']);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.is(
    r.stderr.trim(),
    `corral execute: no agent can ever run this task: it asks cpus:4;mem:32, more than any of the 1 registered agent has in all (agent0 (${agentId}) has cpus:2;mem:512;disk:100;ports:[31000-31010])`,
  );
  t.true(r.ms < 20_000, `took ${r.ms} ms`);
  // A fitting request on the same cluster still runs (the rule looks at the totals, not at what is free).
  const ok = await corral(['execute', `--master=${c.masterAddress}`, '--command=true', '--resources=cpus:2;mem:512']);
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  const state = await c.getJson('/master/state');
  t.is(state.frameworks.length, 0, 'both frameworks tore themselves down');
});
