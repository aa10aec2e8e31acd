/**
 * A task's life told in the master's and the agent's INFO lines, as an operator greps for it:
 * a real `corral execute` against a real cluster (framework subscribed, task launched with its
 * resources and container, each state change with its source and reason, the framework removed),
 * and a task a framework kills (the kill at master and agent, TASK_KILLED), with offers and
 * declines at DEBUG only.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { recordingLogger, type LogRecord } from '../../lib/common/log.ts';
import { commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function corral(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS)_/.test(k)));
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'corral.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** The lines of one role at one level, as text. */
function lines(records: LogRecord[], role: string, level: LogRecord['level'] = 'info'): string[] {
  return records.filter((r) => r.fields.role === role && r.level === level).map((r) => r.msg);
}

function find(t: { truthy(v: unknown, m?: string): void }, all: string[], re: RegExp): string {
  const hit = all.find((l) => re.test(l));
  t.truthy(hit, `no line matches ${re}:\n${all.join('\n')}`);
  return hit ?? '';
}

test('a corral execute task: its whole life is in the master and agent logs at INFO', async (t) => {
  const records: LogRecord[] = [];
  const c = await startCluster(t, { logger: recordingLogger(records) });
  const r = await corral(['execute', `--master=${c.masterAddress}`, '--command=echo hello', '--name=story', '--resources=cpus:0.1;mem:32']);
  t.is(r.code, 0, r.out);
  const agentId = c.agents[0]!.agent.id!;
  const master = lines(records, 'master');
  const agent = lines(records, 'agent0');
  const subscribed = find(t, master, /^framework (\S+) \(story\) subscribed$/);
  const fw = /^framework (\S+)/.exec(subscribed)![1]!;
  const launch = find(
    t,
    master,
    new RegExp(`^launching task (\\S+) of framework ${fw} \\(story\\) on agent ${agentId} at \\S+ with cpus\\(\\*\\):0\\.1; mem\\(\\*\\):32$`),
  );
  const task = /^launching task (\S+)/.exec(launch)![1]!;
  find(
    t,
    agent,
    new RegExp(`^launching task ${task} of framework ${fw} in container [0-9a-f-]{36} \\(executor ${task}\\) with cpus\\(\\*\\):0\\.1; mem\\(\\*\\):32$`),
  );
  for (const log of [master, agent]) {
    find(t, log, new RegExp(`^task ${task} of framework ${fw} is now TASK_RUNNING.*\\(SOURCE_EXECUTOR\\)`));
    find(t, log, new RegExp(`^task ${task} of framework ${fw} is now TASK_FINISHED.*\\(SOURCE_EXECUTOR\\): Command exited with status 0$`));
  }
  find(t, master, new RegExp(`^task ${task} of framework ${fw} is now TASK_FINISHED on agent ${agentId} `));
  find(t, master, new RegExp(`^removing framework ${fw} \\(story\\): `));
  // Offers are DEBUG, not INFO.
  t.false(
    master.some((l) => /offer/.test(l)),
    master.join('\n'),
  );
  find(t, lines(records, 'master', 'debug'), new RegExp(`^sending offer \\S+ of .* on agent ${agentId} to framework ${fw}$`));
});

test('a killed task: the kill and TASK_KILLED at master and agent; a decline at DEBUG', async (t) => {
  const records: LogRecord[] = [];
  const c = await startCluster(t, { logger: recordingLogger(records) });
  const s = await c.framework(frameworkInfo({ name: 'killer' }));
  const offers = await s.offers();
  await s.accept([offers[0].id.value], [{ ...commandTask('sleeper', 'sleep 60'), agent_id: offers[0].agent_id }]);
  await s.update('sleeper', 'TASK_RUNNING');
  const more = await s.offers();
  await s.decline([more[0].id.value], 0);
  await s.kill('sleeper');
  await s.update('sleeper', 'TASK_KILLED');
  const fw = s.frameworkId;
  const master = lines(records, 'master');
  const agent = lines(records, 'agent0');
  find(t, master, new RegExp(`^killing task sleeper of framework ${fw} on agent \\S+, as the framework asked$`));
  find(t, agent, new RegExp(`^asked to kill task sleeper of framework ${fw}$`));
  for (const log of [master, agent]) find(t, log, new RegExp(`^task sleeper of framework ${fw} is now TASK_KILLED.*\\(SOURCE_EXECUTOR`));
  find(t, lines(records, 'master', 'debug'), new RegExp(`^framework ${fw} declined offer ${more[0].id.value}$`));
});
