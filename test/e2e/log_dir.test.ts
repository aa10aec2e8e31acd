/**
 * `--log_dir` on real `corral master` and `corral agent` processes: the lines land in the files
 * (text for the master, JSON lines for an agent with --log_format=json), a file is rotated at
 * --max_log_size, only --max_log_files of them are kept, `corral-master.log` links the current
 * one; and a directory that cannot be made stops the daemon with exit 2 and the reason.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Scheduler, commandTask, frameworkInfo } from '../helpers/cluster.ts';
import { runCorral } from '../helpers/corral_run.ts';
import { clearLeftoverDirs } from '../helpers/tmp_names.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'test', 'helpers', 'corral_src.ts');

test.before(() => clearLeftoverDirs());

interface Daemon {
  readonly child: ChildProcess;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function daemon(args: string[]): Daemon {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS|LIBPROCESS|SSL|JOURNAL)_/.test(k)));
  const child = spawn(process.execPath, ['--import', 'tsx', SRC, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env });
  const d: Daemon = { child, stderr: '', exited: new Promise((r) => child.once('exit', (code) => r(code))) };
  child.stderr!.on('data', (b: Buffer) => (d.stderr += b.toString()));
  return d;
}

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TEXT_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR) \S/;

test('master and agent write rotated, pruned log files in --log_dir', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-logdir-`));
  const logs = join(dir, 'logs');
  const daemons: Daemon[] = [];
  t.teardown(async () => {
    for (const d of daemons) d.child.kill('SIGKILL');
    await Promise.all(daemons.map((d) => d.exited));
    rmSync(dir, { recursive: true, force: true });
  });
  const master = daemon([
    'master',
    '--ip=127.0.0.1',
    '--port=0',
    `--work_dir=${join(dir, 'master')}`,
    '--registry=in_memory',
    '--allocation_interval=20ms',
    `--log_dir=${logs}`,
    '--max_log_size=2KB',
    '--max_log_files=3',
  ]);
  daemons.push(master);
  const port = await until('the master', () => (/"msg":"master started"/.test(master.stderr) ? /"port":(\d+)/.exec(master.stderr)?.[1] : undefined));
  const agent = daemon([
    'agent',
    `--master=127.0.0.1:${port}`,
    '--ip=127.0.0.1',
    '--port=0',
    `--work_dir=${join(dir, 'agent')}`,
    '--resources=cpus:4;mem:1024;disk:100;ports:[31000-31010]',
    '--registration_backoff_factor=20ms',
    `--log_dir=${logs}`,
    '--log_format=json',
    '--max_log_size=1KB',
    '--max_log_files=2',
  ]);
  daemons.push(agent);
  await until('the agent to register', () => (/registered with the master/.test(agent.stderr) ? true : undefined));

  const s = await Scheduler.subscribe(`127.0.0.1:${port}`, frameworkInfo({ name: 'logdir' }));
  t.teardown(() => s.close());
  const ids = Array.from({ length: 12 }, (_, i) => `logged-${i}`);
  await s.launch(
    ids.map((id) => commandTask(id, 'true')),
    { perAccept: 4 },
  );
  for (const id of ids) await s.update(id, 'TASK_FINISHED', 30_000);
  await s.teardown();
  // A clean stop flushes what is still buffered.
  agent.child.kill('SIGTERM');
  t.is(await agent.exited, 0, agent.stderr.slice(-2000));
  master.child.kill('SIGTERM');
  t.is(await master.exited, 0, master.stderr.slice(-2000));

  const host = hostname().replace(/[^\w.-]/g, '_');
  const of = (name: string) =>
    readdirSync(logs)
      .filter((f) => f.startsWith(`${name}.${host}.`) && f.endsWith('.log'))
      .sort();
  const masterFiles = of('corral-master');
  const agentFiles = of('corral-agent');
  t.is(masterFiles.length, 3, `kept: ${masterFiles.join(' ')}`);
  t.is(agentFiles.length, 2, `kept: ${agentFiles.join(' ')}`);
  // Rotated several times: the sequence numbers of the kept files go past the ones pruned.
  const seq = (f: string) => Number(/\.(\d{6})\.log$/.exec(f)![1]);
  t.true(seq(masterFiles[0]!) >= 2, masterFiles.join(' '));
  t.true(seq(agentFiles[0]!) >= 2, agentFiles.join(' '));
  // The link names the newest file.
  t.true(lstatSync(join(logs, 'corral-master.log')).isSymbolicLink());
  t.is(readlinkSync(join(logs, 'corral-master.log')), masterFiles.at(-1)!);
  t.is(readlinkSync(join(logs, 'corral-agent.log')), agentFiles.at(-1)!);
  // No file past its size (each line is far shorter than a file).
  for (const f of masterFiles) t.true(statSync(join(logs, f)).size <= 2048, `${f}: ${statSync(join(logs, f)).size} bytes`);
  for (const f of agentFiles) t.true(statSync(join(logs, f)).size <= 1024, `${f}: ${statSync(join(logs, f)).size} bytes`);

  // The master's files are dated text lines; the stop is the last of them.
  const masterLines = masterFiles.flatMap((f) => readFileSync(join(logs, f), 'utf8').trimEnd().split('\n'));
  for (const l of masterLines) t.regex(l, TEXT_LINE);
  t.regex(masterLines.at(-1)!, /INFO {2}received SIGTERM; stopping|INFO {2}master stopped/);
  t.true(
    masterLines.some((l) => /logged-11/.test(l)),
    masterLines.join('\n'),
  );
  // The agent's (--log_format=json) are JSON records.
  const agentLines = agentFiles.flatMap((f) => readFileSync(join(logs, f), 'utf8').trimEnd().split('\n'));
  const recs = agentLines.map((l) => JSON.parse(l) as { level: string; msg: string });
  t.true(recs.every((r) => typeof r.msg === 'string' && typeof r.level === 'string'));
  t.true(
    recs.some((r) => r.msg === 'received SIGTERM; stopping'),
    agentLines.join('\n'),
  );
});

test('a --log_dir that cannot be made stops the daemon: exit 2, one line naming the flag and the cause', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-logdir-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a-file'), '');
  const r = await runCorral([
    'master',
    '--ip=127.0.0.1',
    '--port=0',
    '--registry=in_memory',
    `--work_dir=${join(dir, 'w')}`,
    `--log_dir=${join(dir, 'a-file', 'logs')}`,
  ]);
  t.is(r.code, 2);
  t.is(
    r.stderr.trim(),
    `corral master: --log_dir: cannot write log files in '${join(dir, 'a-file', 'logs')}': ENOTDIR: not a directory, mkdir '${join(dir, 'a-file', 'logs')}'`,
  );
  const proc = await runCorral(['agent', '--master=127.0.0.1:1', `--work_dir=${join(dir, 'w2')}`, '--log_dir=/proc/corral-logs']);
  t.is(proc.code, 2);
  t.regex(proc.stderr.trim(), /^corral agent: --log_dir: cannot write log files in '\/proc\/corral-logs': ENOENT: no such file or directory, mkdir/);
  const size = await runCorral(['agent', '--master=127.0.0.1:1', `--work_dir=${join(dir, 'w2')}`, '--max_log_size=10B']);
  t.is(size.code, 2);
  t.is(size.stderr.trim(), "corral agent: --max_log_size: '10B' is not a size of at least 1KB (e.g. 100MB)");
});
