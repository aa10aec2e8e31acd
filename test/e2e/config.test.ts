/**
 * Bad configuration, from every source, refused the same way by the real `corral` command
 * (bin/corral.js): one line on stderr naming where the value came from (the flag, the
 * CORRAL_* variable, or the flag file and its line) and the reason, exit code 2, nothing made.
 * Flag files (--config_dir) and their precedence: command line, then variables, then files.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { runNodeScript, type CorralRun } from '../helpers/corral_run.ts';
import { isRoot } from '../helpers/root.ts';
import { smallTmpfs } from '../helpers/tmpfs.ts';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'corral.js');
const corral = (args: readonly string[], env: Record<string, string> = {}): Promise<CorralRun> => runNodeScript(BIN, args, { env, timeoutMs: 30_000 });

let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corral-config-'));
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** One line `corral <command>: <line>` on stderr, exit 2, nothing on stdout. */
function refused(t: import('ava').ExecutionContext, r: CorralRun, command: string, line: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  t.is(r.code, 2, r.stdout + r.stderr);
  t.is(lines.length, 1, r.stderr);
  t.true(lines[0]!.startsWith(`corral ${command}: `), lines[0]);
  t.regex(lines[0]!.slice(`corral ${command}: `.length), line);
  t.is(r.stdout, '');
}

const agentArgs = (wd: string, ...more: string[]): string[] => ['--master=127.0.0.1:1', `--work_dir=${wd}`, ...more];

test('a misspelt CORRAL_ variable is refused, naming it, with the flag it may mean', async (t) => {
  const wd = join(dir, 'wd-misspelt');
  const r = await corral(['agent', ...agentArgs(wd)], { CORRAL_RESOURCE: 'cpus:1' });
  refused(t, r, 'agent', /^CORRAL_RESOURCE: no such flag \(did you mean resources\b/);
  t.false(existsSync(wd));
});

test("a CORRAL_ variable of another command's flag is not refused (one shell for master, agent and execute)", async (t) => {
  // --num_agents is a flag of `corral local` only; the master fails later, on its own flag.
  const r = await corral(['master', '--registry=in_memory', '--port=abc'], { CORRAL_NUM_AGENTS: '2' });
  refused(t, r, 'master', /^--port: 'abc' is not a port number/);
});

test('CORRAL_PORT=abc names the variable and the flag', async (t) => {
  const r = await corral(['master', '--registry=in_memory'], { CORRAL_PORT: 'abc' });
  refused(t, r, 'master', /^CORRAL_PORT \(--port\): 'abc' is not a port number \(0-65535\)$/);
});

test('MESOS_ variables: a bad value names the variable; one that is no flag is a warning and the daemon runs', async (t) => {
  refused(
    t,
    await corral(['master', '--registry=in_memory'], { MESOS_ALLOCATION_INTERVAL: 'soon' }),
    'master',
    /^MESOS_ALLOCATION_INTERVAL \(--allocation_interval\): 'soon' is not a duration/,
  );
  const r = await runNodeScript(BIN, ['master', '--registry=in_memory', '--ip=127.0.0.1', '--port=0'], {
    env: { MESOS_ALOCATION_INTERVAL: '1secs' },
    until: /master started/,
    timeoutMs: 30_000,
  });
  t.regex(r.stderr, /MESOS_ALOCATION_INTERVAL is not a flag of this command and is ignored \(did you mean allocation_interval\?\)/);
});

test('-port=5152 is echoed as given and told to take two dashes', async (t) => {
  refused(t, await corral(['master', '-port=5152']), 'master', /^'-port=5152': flags start with two dashes: --port=5152$/);
  refused(t, await corral(['master', 'port=5152']), 'master', /^'port=5152': unexpected argument/);
  refused(t, await corral(['master', '--prot=5152']), 'master', /^--prot: unknown flag \(did you mean port\?\)/);
});

test('agent --resources, --logging_level, --max_request_body, --eth0_name: one line, exit 2, nothing made', async (t) => {
  const cases: [string, RegExp][] = [
    ['--resources=cpus:abc', /^--resources: .*'abc'/],
    ['--resources=cpus:1;mem:-5', /^--resources: .*must not be negative/],
    ['--logging_level=garbage', /^--logging_level: 'garbage' is not one of INFO, WARNING, ERROR, DEBUG$/],
    ['--max_request_body=abc', /^--max_request_body: 'abc' is not an integer/],
    ['--eth0_name=a b', /^--eth0_name: 'a b' is not a network interface name/],
    ['--usage_estimator_margin=0x0', /^--usage_estimator_margin: '0x0' is not a number in \[0, 1\)/],
    ['--qos_load_threshold_5min=Infinity', /^--qos_load_threshold_5min: 'Infinity' is not a positive number/],
  ];
  for (const [i, [arg, line]] of cases.entries()) {
    const wd = join(dir, `wd-agent-${i}`);
    refused(t, await corral(['agent', ...agentArgs(wd, arg)]), 'agent', line);
    t.false(existsSync(wd), arg);
  }
});

test('a read-only work_dir is reported as read-only (not ENOENT), naming the flag', async (t) => {
  let parent: string;
  let reason: RegExp;
  if (isRoot()) {
    parent = smallTmpfs(t, 1);
    execFileSync('mount', ['-o', 'remount,ro', parent]);
    reason = /read-only file system \(EROFS\)/;
  } else {
    parent = join(dir, 'read-only');
    await mkdir(parent);
    await chmod(parent, 0o555);
    reason = /permission denied/;
  }
  for (const command of ['master', 'agent']) {
    const wd = join(parent, 'wd');
    const args = command === 'master' ? [`--work_dir=${wd}`] : agentArgs(wd);
    refused(
      t,
      await corral([command, ...args]),
      command,
      /^--work_dir: cannot write in '.*': it is on a read-only file system \(EROFS\)$|^--work_dir: .*permission denied/,
    );
    const r = await corral([command, ...args]);
    t.regex(r.stderr, reason);
    t.notRegex(r.stderr, /ENOENT/);
  }
});

test('flag files: one per flag in --config_dir; bad values name the file and line; unknown files and second values are refused', async (t) => {
  const cfg = join(dir, 'master-config');
  await mkdir(cfg);
  await writeFile(join(cfg, 'registry'), 'in_memory\n');
  await writeFile(join(cfg, 'README.md'), 'not a flag file: skipped\n');
  await writeFile(join(cfg, 'port.dpkg-old'), 'skipped too\n');
  await writeFile(join(cfg, 'port'), '# the port\n\n  abc  \n');
  refused(t, await corral(['master', `--config_dir=${cfg}`]), 'master', new RegExp(`^${cfg}/port:3 \\(--port\\): 'abc' is not a port number`));
  // The same directory through the variable.
  refused(t, await corral(['master'], { CORRAL_CONFIG_DIR: cfg }), 'master', new RegExp(`^${cfg}/port:3 \\(--port\\)`));
  await writeFile(join(cfg, 'port'), '0\n1\n');
  refused(t, await corral(['master', `--config_dir=${cfg}`]), 'master', new RegExp(`^${cfg}/port:2: a second value`));
  await writeFile(join(cfg, 'port'), '0\n');
  await writeFile(join(cfg, 'prot'), '0\n');
  refused(
    t,
    await corral(['master', `--config_dir=${cfg}`]),
    'master',
    new RegExp(`^${cfg}/prot: 'prot' is not a flag of this command \\(did you mean port\\?\\)`),
  );
  await rm(join(cfg, 'prot'));
  await writeFile(join(cfg, 'logging_level'), '\n');
  refused(t, await corral(['master', `--config_dir=${cfg}`]), 'master', new RegExp(`^${cfg}/logging_level:1 \\(--logging_level\\): is empty`));
  await rm(join(cfg, 'logging_level'));
  refused(t, await corral(['master', `--config_dir=${join(dir, 'nonexistent')}`]), 'master', /^--config_dir: cannot read .*ENOENT/);
});

test('precedence: the command line, then CORRAL_/MESOS_ variables, then flag files, then defaults', async (t) => {
  const cfg = join(dir, 'precedence');
  await mkdir(cfg);
  await writeFile(join(cfg, 'registry'), 'in_memory\n');
  await writeFile(join(cfg, 'ip'), '127.0.0.1\n');
  await writeFile(join(cfg, 'port'), '0\n');
  await writeFile(join(cfg, 'cluster'), 'from-file\n');
  await writeFile(join(cfg, 'max_completed_tasks_per_framework'), '7\n');
  await writeFile(join(cfg, 'max_completed_frameworks'), '8\n');
  let flags: Record<string, string> = {};
  await runNodeScript(BIN, ['master', `--config_dir=${cfg}`, '--cluster=from-argv'], {
    env: { CORRAL_CLUSTER: 'from-env', CORRAL_MAX_COMPLETED_TASKS_PER_FRAMEWORK: '9' },
    until: /master started/,
    timeoutMs: 30_000,
    whileUp: async (out) => {
      const port = /"port":(\d+)/.exec(out)?.[1] ?? /port=(\d+)/.exec(out)?.[1];
      const res = await fetch(`http://127.0.0.1:${port}/flags`);
      flags = ((await res.json()) as { flags: Record<string, string> }).flags;
    },
  });
  t.is(flags.cluster, 'from-argv');
  t.is(flags.max_completed_tasks_per_framework, '9');
  t.is(flags.max_completed_frameworks, '8');
  t.is(flags.registry, 'in_memory');
  t.is(flags.allocation_interval, '1secs');
});
