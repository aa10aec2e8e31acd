/**
 * Cluster benchmark: the whole path, framework → master → agent → corral-containerizer → task
 * and back, through the v1 scheduler API over loopback HTTP (the e2e test client: plain HTTP,
 * wire JSON, every update with a uuid acknowledged, calls on kept-alive connections).
 *
 * (a) launch latency, ACCEPT sent → TASK_RUNNING received by the framework, p50/p99 over
 *     --latency tasks (`sleep 30`) on an in-process cluster with one agent, three ways:
 *       one task per ACCEPT, the next ACCEPT when the previous task runs (the path alone);
 *       10 tasks per ACCEPT, an ACCEPT on every offer as offers come (pipelined, with queueing);
 *       a burst of 100 tasks in one ACCEPT (--bursts times), each task's own latency.
 * (b) throughput: --throughput short `true` tasks launched and finished per second on one
 *     agent (ACCEPTs of up to 50 tasks as offers come; wall time from the first ACCEPT to the
 *     last TASK_FINISHED); how the TASK_RUNNING and TASK_FINISHED updates spread over that
 *     time; how long after its exit each task's TASK_FINISHED reached the framework (the exit
 *     time is the mtime of the supervisor's exit record, exit.status, which it writes right
 *     after it has reaped the command: the kernel stamps files with its coarse clock, so each
 *     figure can read up to one tick, 4 ms at HZ=250, long, never short); and, as the peer, a
 *     bare runtime: crun's rate for 200 trivial containers 4 at a time in the same run (the
 *     bundle and driver of bench/launch.bench.ts: no API, no master, no checkpoints) and the
 *     ratio.
 * (c) memory: master and agent as separate `node bin/corral.js` processes: their VmRSS idle
 *     and with --sleepers running `sleep` tasks, and VmRSS/Pss per supervisor.
 * (d) the cost of INFO logging (--only=d): --log-rounds rounds alternating off, on, off, on …
 *     (off: the daemons' real logger at WARNING, so no task line is written; on: at INFO, every
 *     task's lines formatted and written asynchronously to a file), each on a fresh in-process
 *     cluster with one agent and a burst of --log-tasks `true` tasks as in (b). Per side: the
 *     median and range of launches/s, of the CPU time (user+sys) of this process (master, agent
 *     and the framework client: the same on both sides) per task, and of the event loop's
 *     largest delay during the burst (perf_hooks.monitorEventLoopDelay, 10 ms resolution).
 *
 *   npm run bench:cluster [-- --latency=500 --bursts=3 --throughput=1000 --sleepers=1000]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, statfsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, type Json, Scheduler, commandTask, frameworkInfo, getJson, killEverythingUnder } from '../test/helpers/cluster.ts';
import { arg, crunBundle, pct, ms } from './common.ts';
import { freePort } from '../lib/transport/free_port.ts';
import { createLogger } from '../lib/cli/logger.ts';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LATENCY_TASKS = arg('latency', 500);
const BURSTS = arg('bursts', 3);
const BURST_TASKS = 100;
const THROUGHPUT_TASKS = arg('throughput', 1000);
const SLEEPERS = arg('sleepers', 1000);
const CRUN_COUNT = 200;
const CRUN_PARALLEL = 4;
/** --only=a|b|c (or a combination, e.g. --only=ab): run only those parts. */
const ONLY = process.argv.find((x) => x.startsWith('--only='))?.slice(7) ?? 'abc';
/** --profile=DIR: the master and agent processes of (c) write CPU profiles there. */
const PROFILE_DIR = process.argv.find((x) => x.startsWith('--profile='))?.slice(10);
const LOG_ROUNDS = arg('log-rounds', 6);
const LOG_TASKS = arg('log-tasks', 1000);
const AGENT_RESOURCES = 'cpus:64;mem:262144;disk:100000;ports:[31000-32000]';

const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

/** A small task: 0.01 cpus, 4 MB (not enforced: the posix isolation does not limit). */
function task(id: string, command: string): Json {
  return {
    ...commandTask(id, command),
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.01 } },
      { name: 'mem', type: 'SCALAR', scalar: { value: 4 } },
    ],
  };
}

/** When each task reached each state, as the framework saw it (performance.now()). */
function track(fw: Scheduler): Map<string, Map<string, number>> {
  const seen = new Map<string, Map<string, number>>();
  fw.onEvent = (e) => {
    if (e.type !== 'UPDATE') return;
    const s = e.update.status;
    let m = seen.get(s.task_id.value);
    if (!m) seen.set(s.task_id.value, (m = new Map()));
    if (!m.has(s.state)) m.set(s.state, performance.now());
  };
  return seen;
}

/** The wall clock time (ms since the epoch) of a performance.now() reading. */
const epochMs = (t: number): number => performance.timeOrigin + t;

/** The machine's load average, as printed before each part. */
const loadNow = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A scalar of an offer (0 when it has none). */
function scalarOf(resources: Json[], name: string): number {
  return resources.filter((r) => r.name === name).reduce((a, r) => a + r.scalar.value, 0);
}

/**
 * How many of `task` fit in `offer`: an agent can have several offers out at once (the
 * resources of tasks that ended meanwhile come in an offer of their own), some small.
 */
function fitting(offer: Json, task: Json): number {
  return Math.min(...['cpus', 'mem'].map((n) => Math.floor(scalarOf(offer.resources, n) / scalarOf(task.resources, n) + 1e-9)));
}

/**
 * Launch `tasks` on offers as they come, up to `per` per ACCEPT (one ACCEPT per offer, as many
 * as fit in it), without waiting for anything else. Returns when all are sent; `sentAt` has
 * each task's send time.
 */
async function launchAsOffersCome(fw: Scheduler, tasks: Json[], per: number, sentAt: Map<string, number>): Promise<void> {
  let next = 0;
  while (next < tasks.length) {
    const offers = await fw.offers(30_000);
    for (const offer of offers) {
      const fit = next < tasks.length ? Math.min(per, fitting(offer, tasks[next])) : 0;
      if (fit === 0) {
        await fw.decline([offer.id.value], 0);
        continue;
      }
      const batch = tasks.slice(next, next + fit).map((t) => ({ ...t, agent_id: offer.agent_id }));
      next += batch.length;
      const now = performance.now();
      for (const t of batch) sentAt.set(t.task_id.value, now);
      await fw.accept([offer.id.value], batch);
    }
  }
}

/** Tear the framework down and wait until the agent has ended its tasks. */
async function finish(c: Cluster, fw: Scheduler): Promise<void> {
  await fw.teardown();
  fw.close();
  await until(() => Array.from(c.agents[0]!.agent.liveExecutors()).length === 0, 60_000, 'the agent to end the tasks');
}

// ----- (a) latency ---------------------------------------------------------------------------

async function latencyOneAtATime(c: Cluster, n: number): Promise<number[]> {
  const fw = await c.framework(frameworkInfo({ name: 'bench-latency-1' }), { keepAlive: true });
  const seen = track(fw);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const [offer, ...rest] = await fw.offers(30_000);
    if (rest.length > 0)
      await fw.decline(
        rest.map((o: Json) => o.id.value),
        0,
      );
    const id = `one-${i}`;
    const t0 = performance.now();
    await fw.accept([offer.id.value], [{ ...task(id, 'sleep 30'), agent_id: offer.agent_id }]);
    await fw.update(id, 'TASK_RUNNING', 30_000);
    out.push(seen.get(id)!.get('TASK_RUNNING')! - t0);
  }
  await finish(c, fw);
  return out;
}

async function latencyPipelined(c: Cluster, n: number, per: number): Promise<{ lat: number[]; wallMs: number }> {
  const fw = await c.framework(frameworkInfo({ name: 'bench-latency-10' }), { keepAlive: true });
  const seen = track(fw);
  const sentAt = new Map<string, number>();
  const tasks = Array.from({ length: n }, (_v, i) => task(`ten-${i}`, 'sleep 30'));
  const t0 = performance.now();
  await launchAsOffersCome(fw, tasks, per, sentAt);
  await until(() => tasks.every((t) => seen.get(t.task_id.value)?.has('TASK_RUNNING')), 60_000, 'all tasks to run');
  const wallMs = performance.now() - t0;
  const lat = tasks.map((t) => seen.get(t.task_id.value)!.get('TASK_RUNNING')! - sentAt.get(t.task_id.value)!);
  await finish(c, fw);
  return { lat, wallMs };
}

/** `rounds` bursts of `n` tasks, each burst in one ACCEPT: each task's ACCEPT → TASK_RUNNING. */
async function latencyBursts(c: Cluster, rounds: number, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const fw = await c.framework(frameworkInfo({ name: `bench-burst-${r}` }), { keepAlive: true });
    const seen = track(fw);
    const sentAt = new Map<string, number>();
    const tasks = Array.from({ length: n }, (_v, i) => task(`burst-${r}-${i}`, 'sleep 30'));
    await launchAsOffersCome(fw, tasks, n, sentAt);
    await until(() => tasks.every((t) => seen.get(t.task_id.value)?.has('TASK_RUNNING')), 60_000, 'the burst to run');
    for (const t of tasks) out.push(seen.get(t.task_id.value)!.get('TASK_RUNNING')! - sentAt.get(t.task_id.value)!);
    await finish(c, fw);
  }
  return out;
}

// ----- (b) throughput ------------------------------------------------------------------------

interface Throughput {
  perSec: number;
  wallMs: number;
  endToEnd: number[];
  /** How many ACCEPTs, and the time from the first to the last one sent. */
  accepts: number;
  acceptsMs: number;
  /** First to last arrival of each state, and how many TASK_FINISHED came in the last second. */
  runningSpreadMs: number;
  finishedSpreadMs: number;
  finishedInLastSecond: number;
  /** Each task's TASK_FINISHED received − its exit (the supervisor's exit record), ms. */
  exitToFinished: number[];
}

/** The mtime (ms since the epoch) of the exit record of each command task's only run. */
function exitTimes(c: Cluster, frameworkId: string, taskIds: readonly string[]): Map<string, number> {
  const agent = c.agents[0]!.agent;
  const paths = agent.options.paths;
  const out = new Map<string, number>();
  for (const id of taskIds) {
    const runs = paths.metaRunsDir(agent.id!, frameworkId, id);
    const [containerId] = readdirSync(runs).filter((d) => d !== 'latest');
    const st = statSync(paths.exitStatusFile(agent.id!, frameworkId, id, containerId!), { bigint: true });
    out.set(id, Number(st.mtimeNs) / 1e6);
  }
  return out;
}

async function throughput(c: Cluster, n: number): Promise<Throughput> {
  const fw = await c.framework(frameworkInfo({ name: 'bench-throughput' }), { keepAlive: true });
  const seen = track(fw);
  const sentAt = new Map<string, number>();
  const tasks = Array.from({ length: n }, (_v, i) => task(`true-${i}`, 'true'));
  const t0 = performance.now();
  await launchAsOffersCome(fw, tasks, 50, sentAt);
  await until(() => tasks.every((t) => seen.get(t.task_id.value)?.has('TASK_FINISHED')), 120_000, 'all tasks to finish');
  const at = (state: string) => tasks.map((t) => seen.get(t.task_id.value)!.get(state)!);
  const [running, finished] = [at('TASK_RUNNING'), at('TASK_FINISHED')];
  const last = Math.max(...finished);
  const wallMs = last - t0;
  const failed = tasks.filter((t) => seen.get(t.task_id.value)!.size !== 2 || !seen.get(t.task_id.value)!.has('TASK_RUNNING'));
  if (failed.length > 0) throw new Error(`${failed.length} tasks did not go RUNNING → FINISHED`);
  const endToEnd = tasks.map((t) => seen.get(t.task_id.value)!.get('TASK_FINISHED')! - sentAt.get(t.task_id.value)!);
  const exits = exitTimes(
    c,
    fw.frameworkId,
    tasks.map((t) => t.task_id.value),
  );
  const exitToFinished = tasks.map((t) => epochMs(seen.get(t.task_id.value)!.get('TASK_FINISHED')!) - exits.get(t.task_id.value)!);
  const sends = [...new Set(sentAt.values())];
  await Promise.all(fw.acks);
  await finish(c, fw);
  return {
    perSec: n / (wallMs / 1000),
    wallMs,
    endToEnd,
    accepts: sends.length,
    acceptsMs: Math.max(...sends) - Math.min(...sends),
    runningSpreadMs: Math.max(...running) - Math.min(...running),
    finishedSpreadMs: last - Math.min(...finished),
    finishedInLastSecond: finished.filter((f) => f > last - 1000).length,
    exitToFinished,
  };
}

// ----- crun (as bench/launch.bench.ts runs it) -----------------------------------------------

const CGROUP2_SUPER_MAGIC = 0x63677270;

/** launch.bench.ts --crun-driver: CRUN_COUNT containers CRUN_PARALLEL at a time; launches/s. */
function crunRate(base: string): { perSec: number; how: string } {
  if (spawnSync('crun', ['--version']).error) throw new Error('crun is not installed (Debian package crun)');
  const bundle = join(base, 'crun');
  mkdirSync(bundle);
  crunBundle(bundle);
  const node = [
    process.execPath,
    '--import',
    'tsx',
    join(ROOT, 'bench', 'launch.bench.ts'),
    '--crun-driver',
    bundle,
    `--count=${CRUN_COUNT}`,
    `--parallel=${CRUN_PARALLEL}`,
  ];
  const unified = statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC;
  const cmd = unified ? node : ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount -t cgroup2 none /sys/fs/cgroup && exec "$0" "$@"', ...node];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', cwd: ROOT });
  if (r.error || r.status !== 0) throw new Error(`crun driver failed: ${r.error?.message ?? r.stderr.trim()}`);
  const f = JSON.parse(r.stdout.trim().split('\n').pop()!) as { wallMs: number };
  return {
    perSec: CRUN_COUNT / (f.wallMs / 1000),
    how: unified ? 'cgroup v2 host' : 'hybrid cgroups: in a private mount namespace with cgroup2 on /sys/fs/cgroup',
  };
}

// ----- (c) memory, separate processes --------------------------------------------------------

interface Mem {
  rssKb: number;
  pssKb: number;
}

function memOf(pid: number): Mem {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  let pss = NaN;
  try {
    pss = Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
  } catch {
    // no smaps_rollup
  }
  return { rssKb: rss, pssKb: pss };
}

const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;

function corral(args: string[]): ChildProcess {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS)_/.test(k)));
  const prof = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...prof, join(ROOT, 'bin', 'corral.js'), ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGKILL') console.error(`corral ${args[0]} exited ${code ?? signal}: ${err.trim()}`);
  });
  return child;
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

function supervisorsUnder(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (cmd[0]!.endsWith('corral-containerizer') && cmd.some((a) => a.startsWith(dir))) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

function commandsUnder(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/cwd`).startsWith(dir + '/') && readFileSync(`/proc/${name}/cmdline`, 'utf8').startsWith('sleep')) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

async function memory(base: string, n: number): Promise<void> {
  const workDir = join(base, 'procs');
  const masterPort = await freePort();
  const agentPort = await freePort();
  const master = corral(['master', '--ip=127.0.0.1', `--port=${masterPort}`, `--work_dir=${join(workDir, 'master')}`, '--allocation_interval=20ms', '--quiet']);
  const agent = corral([
    'agent',
    `--master=127.0.0.1:${masterPort}`,
    '--ip=127.0.0.1',
    `--port=${agentPort}`,
    `--work_dir=${join(workDir, 'agent')}`,
    `--resources=${AGENT_RESOURCES}`,
    '--hostname=bench-agent',
    '--registration_backoff_factor=100ms',
    '--quiet',
  ]);
  let fw: Scheduler | undefined;
  try {
    const address = `127.0.0.1:${masterPort}`;
    await until(
      async () => {
        try {
          const s = await getJson(`http://${address}/master/slaves`);
          return s.slaves.length === 1 && s.slaves[0].active;
        } catch {
          return false;
        }
      },
      30_000,
      'the agent to register',
    );
    await sleep(2000);
    const idleMaster = memOf(master.pid!);
    const idleAgent = memOf(agent.pid!);

    fw = await Scheduler.subscribe(address, frameworkInfo({ name: 'bench-memory' }), { keepAlive: true });
    await fw.waitFor((e) => e.type === 'SUBSCRIBED', 10_000);
    const seen = track(fw);
    const tasks = Array.from({ length: n }, (_v, i) => task(`sleeper-${i}`, 'exec sleep 600'));
    const t0 = performance.now();
    await launchAsOffersCome(fw, tasks, 100, new Map());
    await until(() => tasks.every((t) => seen.get(t.task_id.value)?.has('TASK_RUNNING')), 120_000, `${n} tasks to run`);
    const launchMs = performance.now() - t0;
    await Promise.all(fw.acks);
    await sleep(1000);
    const busyMaster = memOf(master.pid!);
    const busyAgent = memOf(agent.pid!);
    const sups = supervisorsUnder(workDir).map(memOf);
    const cmds = commandsUnder(workDir).map(memOf);
    const avg = (xs: Mem[], k: keyof Mem) => xs.reduce((a, x) => a + x[k], 0) / Math.max(1, xs.length);

    console.log(`(c) memory: master and agent as separate \`node bin/corral.js\` processes (TypeScript through tsx), ${n} \`sleep\` tasks`);
    console.log(
      `  ${n} sleeping tasks launched through the API in ${(launchMs / 1000).toFixed(2)} s (${(n / (launchMs / 1000)).toFixed(0)}/s, 100 per ACCEPT)`,
    );
    console.log(
      `  master VmRSS: idle ${mb(idleMaster.rssKb)}, with ${n} running tasks ${mb(busyMaster.rssKb)} (+${((busyMaster.rssKb - idleMaster.rssKb) / n).toFixed(1)} KB/task)`,
    );
    console.log(
      `  agent  VmRSS: idle ${mb(idleAgent.rssKb)}, with ${n} running tasks ${mb(busyAgent.rssKb)} (+${((busyAgent.rssKb - idleAgent.rssKb) / n).toFixed(1)} KB/task)`,
    );
    console.log(
      `  supervisors: ${sups.length} running, VmRSS ${avg(sups, 'rssKb').toFixed(0)} KB each (Pss ${avg(sups, 'pssKb').toFixed(0)} KB: shared pages split), total Pss ${mb(sups.reduce((a, x) => a + x.pssKb, 0))}`,
    );
    console.log(
      `  (the tasks themselves, \`sleep\`: ${cmds.length} running, VmRSS ${avg(cmds, 'rssKb').toFixed(0)} KB, Pss ${avg(cmds, 'pssKb').toFixed(0)} KB each)`,
    );

    await fw.teardown();
    await until(() => supervisorsUnder(workDir).length === 0 && commandsUnder(workDir).length === 0, 60_000, 'the tasks to be killed');
  } finally {
    fw?.close();
    await stopProcess(agent);
    await stopProcess(master);
    killEverythingUnder(workDir);
  }
}

// ----- (d) logging cost ----------------------------------------------------------------------

interface LogRound {
  readonly on: boolean;
  readonly perSec: number;
  readonly cpuUsPerTask: number;
  readonly maxDelayMs: number;
  readonly p99DelayMs: number;
  readonly lines: number;
}

async function loggingRound(base: string, on: boolean, n: number): Promise<LogRound> {
  const file = join(base, `log-${on ? 'on' : 'off'}-${Date.now()}.log`);
  const fd = openSync(file, 'w');
  const logger = createLogger({ level: on ? 'info' : 'warn', format: 'json', journald: false, fd });
  const c = await Cluster.start({ agentResources: AGENT_RESOURCES, logger });
  try {
    await latencyPipelined(c, 50, 10); // warm-up
    const h = monitorEventLoopDelay({ resolution: 10 });
    const cpu0 = process.cpuUsage();
    h.enable();
    const tp = await throughput(c, n);
    h.disable();
    const cpu = process.cpuUsage(cpu0);
    await sleep(200); // the asynchronous writes land
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"msg"')).length;
    return { on, perSec: tp.perSec, cpuUsPerTask: (cpu.user + cpu.system) / n, maxDelayMs: h.max / 1e6, p99DelayMs: h.percentile(99) / 1e6, lines };
  } finally {
    await c.stop();
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

async function loggingCost(base: string): Promise<void> {
  console.log(
    `(d) INFO logging on vs off: ${LOG_ROUNDS} rounds alternating off/on, each a fresh in-process cluster and a burst of ${LOG_TASKS} \`true\` tasks [load ${loadNow()}]:`,
  );
  const rounds: LogRound[] = [];
  for (let i = 0; i < LOG_ROUNDS; i++) {
    const r = await loggingRound(base, i % 2 === 1, LOG_TASKS);
    rounds.push(r);
    console.log(
      `  round ${i + 1} ${r.on ? 'on ' : 'off'}: ${r.perSec.toFixed(1)} tasks/s, ${(r.cpuUsPerTask / 1000).toFixed(2)} ms CPU/task, event loop max ${r.maxDelayMs.toFixed(1)} ms (p99 ${r.p99DelayMs.toFixed(1)}), ${r.lines} lines written [load ${loadNow()}]`,
    );
  }
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const side = (on: boolean) => rounds.filter((r) => r.on === on);
  const fmt = (xs: number[], d: number) => `median ${med(xs).toFixed(d)} (range ${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
  for (const on of [false, true]) {
    const rs = side(on);
    console.log(
      `  ${on ? 'on ' : 'off'}: tasks/s ${fmt(
        rs.map((r) => r.perSec),
        1,
      )}; CPU ms/task ${fmt(
        rs.map((r) => r.cpuUsPerTask / 1000),
        3,
      )}; event loop max ms ${fmt(
        rs.map((r) => r.maxDelayMs),
        1,
      )}; lines/task ${(med(rs.map((r) => r.lines)) / LOG_TASKS).toFixed(1)}`,
    );
  }
  const tOff = med(side(false).map((r) => r.perSec));
  const tOn = med(side(true).map((r) => r.perSec));
  const cOff = med(side(false).map((r) => r.cpuUsPerTask));
  const cOn = med(side(true).map((r) => r.cpuUsPerTask));
  console.log(
    `  on vs off: launches/s ${(((tOn - tOff) / tOff) * 100).toFixed(1)} %, CPU per task ${(((cOn - cOff) / cOff) * 100).toFixed(1)} % (${((cOn - cOff) / 1000).toFixed(3)} ms) (target: within 3 %)`,
  );
}

// ----- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const [l1] = loadavg();
  console.log(`cluster: ${cpus().length} CPUs, load average ${loadNow()}${l1! > 0.5 ? '  (WARNING: the machine is not quiet)' : ''}`);
  const base = mkdtempSync(join(tmpdir(), `corral-bench-${process.pid}-cluster-`));
  try {
    if (ONLY === 'd') {
      await loggingCost(base);
      return;
    }
    const c = await Cluster.start({ agentResources: AGENT_RESOURCES });
    try {
      // Warm-up: the code paths compiled, the allocator and sockets in use.
      await latencyPipelined(c, 50, 10);

      if (ONLY.includes('a')) {
        console.log(`(a) launch latency, ACCEPT sent → TASK_RUNNING received, in-process master + 1 agent, \`sleep 30\` tasks [load ${loadNow()}]:`);
        const one = await latencyOneAtATime(c, LATENCY_TASKS);
        console.log(
          `  one task per ACCEPT, one at a time (${LATENCY_TASKS} tasks):  p50 ${ms(pct(one, 50))}  p99 ${ms(pct(one, 99))}  max ${ms(Math.max(...one))}   [target p99 ≤ 20 ms]`,
        );
        const ten = await latencyPipelined(c, LATENCY_TASKS, 10);
        console.log(
          `  10 tasks per ACCEPT, an ACCEPT per offer as offers come (${LATENCY_TASKS} tasks, all running after ${ms(ten.wallMs)}):  p50 ${ms(pct(ten.lat, 50))}  p99 ${ms(pct(ten.lat, 99))}`,
        );
        const bursts = await latencyBursts(c, BURSTS, BURST_TASKS);
        console.log(
          `  each task of a burst of ${BURST_TASKS} in one ACCEPT (${BURSTS} bursts, ${bursts.length} tasks):  p50 ${ms(pct(bursts, 50))}  p99 ${ms(pct(bursts, 99))}  max ${ms(Math.max(...bursts))}   [target p99 ≤ 50 ms]`,
        );
      }
      if (ONLY.includes('b')) {
        console.log(`(b) throughput: ${THROUGHPUT_TASKS} \`true\` tasks, up to 50 per ACCEPT as offers come, 1 agent [load ${loadNow()}]:`);
        const tp = await throughput(c, THROUGHPUT_TASKS);
        console.log(
          `  ${tp.perSec.toFixed(0)} tasks launched and finished per second (${ms(tp.wallMs)} from the first ACCEPT to the last TASK_FINISHED)   [target ≥ 300/s]`,
        );
        console.log(`  per task ACCEPT sent → TASK_FINISHED received: p50 ${ms(pct(tp.endToEnd, 50))}  p99 ${ms(pct(tp.endToEnd, 99))}`);
        console.log(
          `  ${tp.accepts} ACCEPTs sent within ${ms(tp.acceptsMs)}; TASK_RUNNING arrived over ${ms(tp.runningSpreadMs)}, TASK_FINISHED over ${ms(tp.finishedSpreadMs)} (${tp.finishedInLastSecond} of ${THROUGHPUT_TASKS} in the last second)`,
        );
        console.log(
          `  each task's exit (its supervisor's exit record) → its TASK_FINISHED received: p50 ${ms(pct(tp.exitToFinished, 50))}  p99 ${ms(pct(tp.exitToFinished, 99))}  max ${ms(Math.max(...tp.exitToFinished))}   [target p99 ≤ 20 ms]`,
        );
        try {
          if (process.argv.includes('--no-crun')) throw new Error('--no-crun');
          const cr = crunRate(base);
          console.log(
            `  peer, a bare runtime (no API, no master or agent, no checkpoints): crun run, ${CRUN_COUNT} \`true\` containers ${CRUN_PARALLEL} at a time [${cr.how}; --cgroup-manager=disabled]: ${cr.perSec.toFixed(0)} containers/s`,
          );
          console.log(`  ratio corral (through the scheduler API) / crun (bare runtime): ${(tp.perSec / cr.perSec).toFixed(2)}x`);
        } catch (e) {
          console.log(`  crun: not run: ${(e as Error).message}`);
        }
      }
    } finally {
      await c.stop();
    }
    if (ONLY.includes('c')) await memory(base, SLEEPERS);
    if (ONLY.includes('d')) await loggingCost(base);
  } finally {
    killEverythingUnder(base);
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
