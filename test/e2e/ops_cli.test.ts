/**
 * The operator's commands as subprocesses against a real cluster: `corral tasks|agents|frameworks`
 * (tables, --json, filters), `corral task show`, `corral task log` (stdout, --stderr, and
 * --follow printing what the task writes after it started), and bad usage.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';
import { clearLeftoverDirs } from '../helpers/tmp_names.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test.before(() => clearLeftoverDirs());

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `corral <args>`; `onOut` sees stdout as it comes. */
function corral(args: string[], onOut?: (soFar: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS|LIBPROCESS|SSL)_/.test(k)));
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'corral.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onOut?.(stdout);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('tasks, agents and frameworks as tables and JSON; task show; task log of stdout and stderr', async (t) => {
  const c = await startCluster(t);
  const s = await c.framework(frameworkInfo({ name: 'listed' }));
  await s.launch([commandTask('done-1', 'echo out-line; echo err-line >&2'), commandTask('live-1', 'sleep 60')]);
  await s.update('done-1', 'TASK_FINISHED');
  await s.update('live-1', 'TASK_RUNNING');
  const m = `--master=${c.masterAddress}`;
  const agentId = c.agents[0]!.agent.id!;

  const tasks = await corral(['tasks', m]);
  t.is(tasks.code, 0, tasks.stderr);
  const lines = tasks.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, /^ID\s+NAME\s+STATE\s+FRAMEWORK\s+AGENT\s+RESOURCES$/);
  t.truthy(
    lines.find((l) => new RegExp(`^live-1\\s+live-1\\s+TASK_RUNNING\\s+listed \\(${s.frameworkId}\\)\\s+agent0 \\(${agentId}\\)\\s+cpus:0.1 mem:32$`).test(l)),
    tasks.stdout,
  );
  t.truthy(
    lines.find((l) => /^done-1\s+done-1\s+TASK_FINISHED\s/.test(l)),
    tasks.stdout,
  );

  const running = await corral(['task', 'list', m, '--state=running', '--json']);
  t.deepEqual(
    (JSON.parse(running.stdout) as { id: string }[]).map((x) => x.id),
    ['live-1'],
  );
  const byFramework = await corral(['tasks', m, '--framework=nobody']);
  t.is(byFramework.stdout.trimEnd().split('\n').length, 1, 'only the header');

  const agents = await corral(['agents', m]);
  t.regex(agents.stdout, new RegExp(`^${agentId}\\s+agent0\\s+127\\.0\\.0\\.1:\\d+\\s+true\\s+cpus:8 mem:8192`, 'm'));
  const fws = await corral(['framework', 'list', m, '--json']);
  t.is((JSON.parse(fws.stdout) as { name: string }[])[0]!.name, 'listed');
  t.regex((await corral(['frameworks', m])).stdout, new RegExp(`^${s.frameworkId}\\s+listed\\s+\\*\\s+active\\s+1\\s`, 'm'));

  const show = await corral(['task', 'show', 'done-1', m]);
  const shown = JSON.parse(show.stdout) as { state: string; sandbox: string; framework_name: string };
  t.is(shown.state, 'TASK_FINISHED');
  t.is(shown.framework_name, 'listed');
  t.true(shown.sandbox.startsWith(c.workDir), shown.sandbox);

  const out = await corral(['task', 'log', 'done-1', m]);
  t.is(out.code, 0, out.stderr);
  t.is(out.stdout, 'out-line\n');
  const err = await corral(['task', 'log', 'done-1', '--stderr', m]);
  t.is(err.stdout, 'err-line\n');
});

test('task log --follow prints what the task writes after it started, and ends with the task', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-follow-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const c = await startCluster(t);
  const s = await c.framework(frameworkInfo({ name: 'follow' }));
  const go = join(dir, 'go');
  await s.launch([commandTask('chatty', `echo first; while [ ! -e ${go} ]; do sleep 0.1; done; echo second; sleep 0.5; echo third`)]);
  await s.update('chatty', 'TASK_RUNNING');
  let released = false;
  const r = await corral(['task', 'tail', 'chatty', '--follow', `--master=${c.masterAddress}`], (soFar) => {
    // Once it has printed what was there, the task goes on writing.
    if (!released && soFar.includes('first\n')) {
      released = true;
      writeFileSync(go, '');
    }
  });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'first\nsecond\nthird\n');
  t.is((await s.update('chatty', 'TASK_FINISHED')).state, 'TASK_FINISHED');
});

test('bad usage: one line naming what is wrong, exit 2; an unknown task, exit 1', async (t) => {
  const c = await startCluster(t);
  const m = `--master=${c.masterAddress}`;
  const noSub = await corral(['task', m]);
  t.is(noSub.code, 2);
  t.is(noSub.stderr, "corral task: subcommand: '' is not one of: list, show, log, tail\n");
  const noId = await corral(['task', 'log', m]);
  t.is(noId.code, 2);
  t.is(noId.stderr, "corral task: log: takes TASK_ID, not ''\n");
  const badMaster = await corral(['tasks', '--master=no port']);
  t.is(badMaster.code, 2);
  t.regex(badMaster.stderr, /^corral tasks: --master/);
  const unknown = await corral(['task', 'log', 'nope', m]);
  t.is(unknown.code, 1);
  t.is(unknown.stderr, "corral task: no task 'nope' is known to the leading master\n");
  // `corral agent` still runs an agent: only `corral agent list` is the listing.
  const agentHelp = await corral(['agent', '--help']);
  t.regex(agentHelp.stdout, /--work_dir/);
  t.regex((await corral(['agent', 'list', m])).stdout, /^ID\s+HOSTNAME\s+ADDRESS/);
  const help = await corral(['task', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /corral task log TASK_ID/);
});
