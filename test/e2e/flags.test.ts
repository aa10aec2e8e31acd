/**
 * Every daemon refuses a bad flag the same way, whether the flag parser or the start-up finds
 * it: one plain line on stderr naming the flag and the reason, exit code 2, and nothing made on
 * disk (no work_dir left behind). Run as an operator runs them: `corral <command> …` as a
 * process.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { makeDirectoryFlag } from '../../lib/cli/dirs.ts';
import { runCorral } from '../helpers/corral_run.ts';

let dir: string;
let busy: Server;
let busyPort: number;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corral-flags-'));
  await writeFile(join(dir, 'a-file'), 'not a directory\n');
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
});

test.after.always(async () => {
  busy?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Case {
  /** The flag the one line must name (`--name`, or a variable). */
  readonly names: string;
  readonly command: 'master' | 'agent' | 'local' | 'execute';
  /** The flags; WD stands for a work_dir that does not exist yet, BUSY for a port in use, DIR for the test's directory. */
  readonly args: readonly string[];
  readonly reason: RegExp;
  readonly env?: Record<string, string>;
}

const agent = (...more: string[]): string[] => ['--master=127.0.0.1:1', '--work_dir=WD', ...more];
const master = (...more: string[]): string[] => ['--work_dir=WD', ...more];

const CASES: readonly Case[] = [
  // The attack's list.
  { command: 'agent', names: '--max_request_body', args: agent('--max_request_body=abc'), reason: /'abc' is not an integer/ },
  { command: 'agent', names: '--max_request_body', args: agent('--max_request_body=-1'), reason: /'-1' is not an integer from 1/ },
  { command: 'agent', names: '--logging_level', args: agent('--logging_level=LOUD'), reason: /'LOUD' is not one of INFO, WARNING, ERROR, DEBUG/ },
  { command: 'agent', names: '--isolation', args: agent('--isolation='), reason: /is empty/ },
  { command: 'agent', names: '--isolation', args: agent('--isolation=,'), reason: /names no isolator/ },
  { command: 'agent', names: '--resources', args: agent('--resources=cpus:1e308'), reason: /more than 9007199254740/ },
  {
    command: 'agent',
    names: '--resources',
    args: agent('--resources=ports:[31000-32000,31500-33000]'),
    reason: /'ports'.*ranges \[31000-32000\] and \[31500-33000\] overlap/,
  },
  { command: 'agent', names: '--resources', args: agent('--resources=ports:[1-10];ports:[5-20]'), reason: /'ports'.*overlap/ },
  { command: 'agent', names: '--work_dir', args: ['--master=127.0.0.1:1', '--work_dir=/proc/corral-flags-test/x'], reason: /proc filesystem/ },
  { command: 'master', names: '--slave_ping_timeout', args: master('--slave_ping_timeout=0secs'), reason: /must be more than 0/ },
  { command: 'master', names: '--agent_reregister_timeout', args: master('--agent_reregister_timeout=0secs'), reason: /must be more than 0/ },
  { command: 'agent', names: '--cgroups_root', args: agent('--cgroups_root=/', '--isolation=cgroups/cpu'), reason: /top of the cgroup hierarchy/ },
  { command: 'agent', names: '--cgroups_root', args: agent('--cgroups_root=system.slice'), reason: /systemd/ },
  // Numbers, durations and enumerations by their type and range.
  { command: 'master', names: '--max_request_body', args: master('--max_request_body=1e3'), reason: /not an integer/ },
  { command: 'master', names: '--allocation_interval', args: master('--allocation_interval=0ms'), reason: /more than 0/ },
  { command: 'master', names: '--offer_timeout', args: master('--offer_timeout=16000weeks'), reason: /out of range/ },
  { command: 'master', names: '--max_slave_ping_timeouts', args: master('--max_slave_ping_timeouts=0'), reason: /from 1 to/ },
  { command: 'master', names: '--logging_level', args: master('--logging_level=verbose'), reason: /not one of/ },
  { command: 'master', names: '--registry', args: master('--registry=zk'), reason: /not one of replicated_log, in_memory, zookeeper/ },
  { command: 'master', names: '--registry', args: master('--registry=zookeeper'), reason: /zookeeper needs --zk/ },
  // ZooKeeper URLs (--zk, and --master of agents and execute).
  { command: 'master', names: '--zk', args: master('--zk=zk://'), reason: /names no ZooKeeper server/ },
  { command: 'master', names: '--zk', args: master('--zk=zk://127.0.0.1:2181'), reason: /needs a znode path/ },
  { command: 'master', names: '--zk', args: master('--zk=zk://127.0.0.1:2181/'), reason: /needs a znode path/ },
  { command: 'master', names: '--zk', args: master('--zk=zk://zk1:x,zk2:2181/corral'), reason: /port 'x' is not a number/ },
  { command: 'master', names: '--zk', args: master('--zk=zk://u:secret@zk1:99999/corral'), reason: /port '99999' is not a number from 1 to 65535/ },
  { command: 'master', names: '--zk', args: master('--zk=http://zk1:2181/corral'), reason: /is not a ZooKeeper URL/ },
  { command: 'master', names: '--zk', args: master('--zk=file:///nonexistent-corral/zk'), reason: /cannot read/ },
  { command: 'master', names: '--zk_session_timeout', args: master('--zk_session_timeout=0secs'), reason: /more than 0/ },
  { command: 'master', names: '--quorum', args: master('--quorum=0'), reason: /from 1 to/ },
  { command: 'agent', names: '--master', args: ['--master=zk://127.0.0.1:2181', '--work_dir=WD'], reason: /needs a znode path/ },
  { command: 'execute', names: '--master', args: ['--master=zk://:2181/corral', '--command=true'], reason: /is not a host name/ },
  { command: 'master', names: '--ip', args: master('--ip=999.1.1.1'), reason: /not an IP address/ },
  { command: 'agent', names: '--executor_registration_timeout', args: agent('--executor_registration_timeout=0secs'), reason: /more than 0/ },
  { command: 'agent', names: '--usage_estimator_window', args: agent('--usage_estimator_window=0'), reason: /from 1 to/ },
  { command: 'agent', names: '--hostname', args: agent('--hostname='), reason: /is empty/ },
  { command: 'agent', names: '--master', args: ['--master=localhost', '--work_dir=WD'], reason: /neither host:port, master@host:port nor a ZooKeeper URL/ },
  { command: 'agent', names: '--attributes', args: agent('--attributes=:x'), reason: /./ },
  { command: 'agent', names: '--executor_environment_variables', args: agent('--executor_environment_variables={"A":1}'), reason: /'A' must be a string/ },
  { command: 'agent', names: '--executor_environment_variables', args: agent('--executor_environment_variables=["A=1"]'), reason: /JSON object of strings/ },
  { command: 'local', names: '--num_agents', args: ['--num_agents=-1', '--work_dir=WD'], reason: /from 0 to 64/ },
  { command: 'local', names: '--resources', args: ['--resources=cpus:1e308', '--work_dir=WD'], reason: /more than/ },
  { command: 'execute', names: '--timeout', args: ['--master=127.0.0.1:1', '--command=true', '--timeout=0secs'], reason: /more than 0/ },
  { command: 'execute', names: '--resources', args: ['--master=127.0.0.1:1', '--command=true', '--resources=cpus:1e308'], reason: /more than/ },
  { command: 'execute', names: '--master', args: ['--master=nowhere', '--command=true'], reason: /neither host:port/ },
  // Refused at start-up: still one line, exit 2, nothing made.
  { command: 'agent', names: '--work_dir', args: ['--master=127.0.0.1:1', '--work_dir=DIR/a-file/wd'], reason: /not a directory/ },
  { command: 'master', names: '--work_dir', args: ['--work_dir=DIR/a-file'], reason: /exists and is not a directory/ },
  { command: 'agent', names: '--fetcher_cache_dir', args: agent('--fetcher_cache_dir=/sys/corral-flags-test'), reason: /sysfs/ },
  {
    command: 'agent',
    names: '--port',
    args: ['--master=127.0.0.1:1', '--work_dir=WD', '--ip=127.0.0.1', '--port=BUSY'],
    reason: /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
  },
  { command: 'master', names: '--port', args: ['--work_dir=WD', '--ip=127.0.0.1', '--port=BUSY'], reason: /EADDRINUSE/ },
  { command: 'master', names: '--work_dir', args: ['--registry=replicated_log'], reason: /is required with --registry=replicated_log/ },
  { command: 'local', names: '--port', args: ['--work_dir=WD', '--ip=127.0.0.1', '--port=BUSY'], reason: /EADDRINUSE/ },
  {
    command: 'agent',
    names: '--cgroups_hierarchy',
    args: agent('--isolation=cgroups/cpu', '--cgroups_hierarchy=/nonexistent-corral'),
    reason: /needs cgroups/,
  },
  { command: 'agent', names: '--egress_unique_flow_per_container', args: agent('--egress_unique_flow_per_container'), reason: /fq_codel/ },
  { command: 'agent', names: '--resource_estimator', args: agent('--resource_estimator=fixed'), reason: /needs --oversubscribed_resources/ },
  { command: 'agent', names: '--qos_controller', args: agent('--qos_controller=load'), reason: /threshold/ },
  { command: 'agent', names: '--credential', args: agent('--credential=/nonexistent-corral/credential'), reason: /cannot be read/ },
  { command: 'agent', names: '--authenticate_http', args: agent('--authenticate_http'), reason: /needs --http_credentials/ },
  { command: 'master', names: '--authenticate_frameworks', args: master('--authenticate_frameworks'), reason: /needs --credentials/ },
  { command: 'master', names: '--credentials', args: master('--credentials=/nonexistent-corral/credentials'), reason: /cannot be read/ },
  { command: 'master', names: '--acls', args: master('--acls={bad'), reason: /not valid JSON/ },
  {
    command: 'agent',
    names: 'LIBPROCESS_SSL_CERT_FILE',
    args: agent(),
    env: { LIBPROCESS_SSL_ENABLED: 'true', LIBPROCESS_SSL_CERT_FILE: '/nonexistent-corral/cert.pem', LIBPROCESS_SSL_KEY_FILE: '/nonexistent-corral/key.pem' },
    reason: /./,
  },
];

// Four at a time: each is a node process loading the sources.
let running = 0;
const queue: (() => void)[] = [];
async function limited<T>(f: () => Promise<T>): Promise<T> {
  if (running >= 4) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await f();
  } finally {
    running--;
    queue.shift()?.();
  }
}

for (const [i, c] of CASES.entries()) {
  test(`corral ${c.command} ${c.args.join(' ')}: one line naming ${c.names}, exit 2, nothing made`, async (t) => {
    const wd = join(dir, `wd${i}`);
    const args = c.args.map((a) => a.replace('WD', wd).replace('BUSY', String(busyPort)).replace('DIR', dir));
    const r = await limited(() => runCorral([c.command, ...args], { timeoutMs: 30_000, ...(c.env ? { env: c.env } : {}) }));
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    t.is(r.code, 2, r.stdout + r.stderr);
    t.is(lines.length, 1, r.stderr);
    t.true(lines[0]!.startsWith(`corral ${c.command}: `), lines[0]);
    t.true(lines[0]!.includes(c.names), lines[0]);
    t.regex(lines[0]!, c.reason);
    t.false(lines[0]!.includes(':secret@'), 'a password in a URL is not shown');
    t.is(r.stdout, '');
    t.false(existsSync(wd), 'the work_dir is not made');
  });
}

test('a directory that cannot be made fails at once, naming the flag (no endless mkdir under /proc)', async (t) => {
  const started = Date.now();
  await t.throwsAsync(makeDirectoryFlag('work_dir', '/proc/corral-flags-test/a/b'), {
    message: /^--work_dir: cannot make the directory '\/proc\/corral-flags-test': /,
  });
  t.true(Date.now() - started < 5000);
  t.false(existsSync('/proc/corral-flags-test'));
});

test('a directory made one level at a time: the topmost one made is returned, an existing one is left alone', async (t) => {
  const target = join(dir, 'made', 'a', 'b');
  t.is(await makeDirectoryFlag('work_dir', target), join(dir, 'made'));
  t.true(existsSync(target));
  t.is(await makeDirectoryFlag('work_dir', target), undefined);
});

test('corral local refused at start-up leaves no temporary directory behind', async (t) => {
  const tmp = join(dir, 'tmp-local');
  await mkdir(tmp);
  const r = await runCorral(['local', '--ip=127.0.0.1', `--port=${busyPort}`], { env: { TMPDIR: tmp }, timeoutMs: 30_000 });
  t.is(r.code, 2, r.stdout + r.stderr);
  t.regex(r.stderr.trim(), /^corral local: --port: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  t.deepEqual(
    (await readdir(tmp)).filter((n) => n.startsWith('corral-local-')),
    [],
  );
});
