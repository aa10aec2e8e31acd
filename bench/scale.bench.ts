/**
 * The master at scale (issue 21): one real `corral master` process (the file registry, its
 * defaults otherwise) against N simulated agents that speak the real agent protocol over real
 * HTTP on loopback (test/helpers/sim_agents.ts: register with resources and attributes, answer
 * pings, "run" the tasks they get and report TASK_RUNNING then TASK_FINISHED with uuids, retrying
 * until acknowledged, re-register with all their tasks after a master restart), several
 * processes of them, and frameworks on the real v1 scheduler API (Corral's own client,
 * test/helpers/scale_framework.ts) that launch, acknowledge and decline. All on this machine:
 * the simulated agents and the frameworks share its cores with the master.
 *
 * For each agent count it prints:
 *   registration storm   all agents registering at once: agents admitted per second
 *   RSS per agent        master RSS growth over the registration, per agent (and heap used)
 *   live tasks           L `sleep inf` tasks launched by one framework: placements/s, RSS per task
 *   state endpoints      /master/state and /master/state-summary with L live tasks: latency, size,
 *                        and the master's longest event-loop delay while it served them
 *   placement rate       T short tasks (`sleep 1`) over F frameworks: placements/s from the first
 *                        ACCEPT to the last, status updates/s delivered to the frameworks
 *   allocation cycle     the running master's allocation run time (p50/p99/max, /metrics/snapshot)
 *   event loop           the master's longest event-loop delay over the run (scraped every second)
 *   re-registration      kill -9 and restart of the master: agents re-registered with all their
 *                        tasks per second
 *   false removals       agents told SHUTDOWN by the master (target 0)
 * The master's open-file limit is raised with prlimit (root) to fit N streams.
 *
 *   npm run bench:scale [-- --agents=10000,50000 --live=100000 --tasks=200000 --frameworks=10 --processes=5]
 */
import { loadavg, cpus, tmpdir } from 'node:os';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { request } from '../test/helpers/cluster.ts';
import { MasterProcess } from '../test/helpers/master_process.ts';
import { ScaleFramework } from '../test/helpers/scale_framework.ts';
import { SimFleet, hardFileLimit, raiseFileLimit } from '../test/helpers/sim_fleet.ts';

const arg = (name: string, dflt: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const COUNTS = arg('agents', '10000,50000').split(',').map(Number);
const LIVE = Number(arg('live', '100000'));
const TASKS = Number(arg('tasks', '200000'));
const FRAMEWORKS = Number(arg('frameworks', '10'));
const PROCESSES = Number(arg('processes', '5'));

const mb = (b: number) => (b / 2 ** 20).toFixed(0);
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve()
      .then(probe)
      .catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** The master's Prometheus figures we follow (one scrape). */
async function scrape(m: MasterProcess): Promise<Record<string, number>> {
  const r = await request(`http://${m.address}/metrics`, { method: 'GET', timeoutMs: 60_000 });
  const out: Record<string, number> = {};
  for (const line of r.text.split('\n')) {
    const x = /^(nodejs_eventloop_delay_max_seconds|nodejs_heap_used_bytes|process_cpu_seconds_total) (\S+)$/.exec(line);
    if (x) out[x[1]!] = Number(x[2]);
  }
  return out;
}

/** Scrapes every second, keeping the longest event-loop delay seen since `reset()`. */
class LoopWatch {
  private maxS = 0;
  private timer: NodeJS.Timeout;
  constructor(private readonly m: MasterProcess) {
    this.timer = setInterval(() => void this.tick(), 1000);
  }
  async tick(): Promise<void> {
    try {
      const s = await scrape(this.m);
      this.maxS = Math.max(this.maxS, s.nodejs_eventloop_delay_max_seconds ?? 0);
    } catch {
      // the master restarting
    }
  }
  async take(): Promise<number> {
    await this.tick();
    const v = this.maxS;
    this.maxS = 0;
    return v * 1000;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

async function timedGet(m: MasterProcess, path: string): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const r = await request(`http://${m.address}${path}`, { method: 'GET', timeoutMs: 300_000 });
  if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
  return { ms: performance.now() - t0, bytes: Buffer.byteLength(r.text) };
}

async function run(n: number): Promise<void> {
  console.log(
    `\n=== ${n.toLocaleString('en')} agents (load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  );
  const workDir = mkdtempSync(join(tmpdir(), 'corral-bench-scale-'));
  const master = await MasterProcess.start([`--work_dir=${workDir}`], { nodeArgs: ['--max-old-space-size=8192'] });
  let fleet: SimFleet | undefined;
  const frameworks: ScaleFramework[] = [];
  let watch: LoopWatch | undefined;
  try {
    await until('the master', 60_000, async () => ((await master.get('/health'))?.status === 200 ? true : undefined));
    if (n + 10_000 > limit) raiseFileLimit(master.pid!, n + 20_000);
    const rss0 = rssOf(master.pid!);
    watch = new LoopWatch(master);

    // Registration storm: every process registers all its agents at once.
    const t0 = performance.now();
    fleet = await SimFleet.start({ master: master.address, agents: n, processes: PROCESSES, taskMs: 1000, wave: Math.ceil(n / PROCESSES) });
    const regS = (performance.now() - t0) / 1000;
    await sleep(2000);
    const rss1 = rssOf(master.pid!);
    const m1 = await scrape(master);
    console.log(
      `registration storm    ${n} agents in ${regS.toFixed(1)} s (from forking the agents' processes): ${(n / regS).toFixed(0)} agents/s; event loop max ${(await watch.take()).toFixed(0)} ms`,
    );
    console.log(
      `RSS per agent         ${((rss1 - rss0) / n / 1024).toFixed(1)} KiB (master RSS ${mb(rss0)} → ${mb(rss1)} MiB, heap used ${mb(m1.nodejs_heap_used_bytes!)} MiB)`,
    );

    // Live tasks.
    const live = new ScaleFramework({ master: master.address, name: 'live', tasks: LIVE, command: 'sleep inf', perOffer: Math.max(1, Math.ceil(LIVE / n)) });
    frameworks.push(live);
    const tl = performance.now();
    await live.start();
    await until(`${LIVE} live tasks running`, 1_800_000, () => (live.running >= LIVE ? true : undefined));
    const liveS = (performance.now() - tl) / 1000;
    await sleep(2000);
    if (live.launchFailures > 0)
      console.log(`   (${live.launchFailures} ACCEPTs did not reach the master and were made again; the last error: ${live.lastLaunchError})`);
    const rss2 = rssOf(master.pid!);
    const m2 = await scrape(master);
    console.log(
      `live tasks            ${LIVE} running after ${liveS.toFixed(1)} s: ${(LIVE / liveS).toFixed(0)} placements/s; RSS per task ${((rss2 - rss1) / LIVE / 1024).toFixed(2)} KiB (RSS ${mb(rss2)} MiB, heap used ${mb(m2.nodejs_heap_used_bytes!)} MiB); event loop max ${(await watch.take()).toFixed(0)} ms`,
    );

    // The state endpoints with the live tasks.
    for (const path of ['/master/state', '/master/state-summary']) {
      await watch.take();
      const g = await timedGet(master, path);
      console.log(`${path.padEnd(22)}${g.ms.toFixed(0)} ms, ${mb(g.bytes)} MiB; event loop max meanwhile ${(await watch.take()).toFixed(0)} ms`);
    }

    // Sustained placement: short tasks over several frameworks.
    const per = Math.ceil(TASKS / FRAMEWORKS);
    const shorts = Array.from(
      { length: FRAMEWORKS },
      (_, i) => new ScaleFramework({ master: master.address, name: `short${i}`, tasks: per, command: 'sleep 1' }),
    );
    frameworks.push(...shorts);
    const cpu0 = (await scrape(master)).process_cpu_seconds_total!;
    const ts = performance.now();
    await Promise.all(shorts.map((f) => f.start()));
    await Promise.race([Promise.all(shorts.map((f) => f.done)), sleep(3_600_000)]);
    const shortS = (performance.now() - ts) / 1000;
    const first = Math.min(...shorts.map((f) => f.launchTimes[0] ?? Infinity));
    const lastRunning = Math.max(...shorts.map((f) => f.runningTimes.at(-1) ?? 0));
    const placed = shorts.reduce((a, f) => a + f.running, 0);
    const updates = shorts.reduce((a, f) => a + f.updates, 0);
    const cpu1 = (await scrape(master)).process_cpu_seconds_total!;
    const ended = shorts.reduce((a, f) => a + f.terminal.size, 0);
    console.log(
      `placement rate        ${placed} tasks placed (first ACCEPT to last TASK_RUNNING at the framework) in ${((lastRunning - first) / 1000).toFixed(1)} s: ${(placed / ((lastRunning - first) / 1000)).toFixed(0)} placements/s; ${ended}/${per * FRAMEWORKS} ended after ${shortS.toFixed(1)} s: ${(ended / shortS).toFixed(0)} tasks/s end to end, ${(updates / shortS).toFixed(0)} status updates/s to the frameworks; master CPU ${(((cpu1 - cpu0) / shortS) * 100).toFixed(0)} % of a core; event loop max ${(await watch.take()).toFixed(0)} ms`,
    );
    const dup = shorts.reduce((a, f) => a + f.duplicateTerminal + f.unknownUpdates, 0);
    const snap = JSON.parse((await request(`http://${master.address}/metrics/snapshot`, { method: 'GET', timeoutMs: 60_000 })).text);
    const a = 'allocator/mesos/allocation_run_ms';
    console.log(
      `allocation cycle      p50 ${Number(snap[`${a}/p50`]).toFixed(1)} ms, p99 ${Number(snap[`${a}/p99`]).toFixed(1)} ms, max ${Number(snap[`${a}/max`]).toFixed(1)} ms over ${snap[`${a}/count`]} runs`,
    );
    const rss3 = rssOf(master.pid!);
    console.log(`after ${per * FRAMEWORKS} finished   RSS ${mb(rss3)} MiB; duplicate or unknown updates at the frameworks: ${dup}`);

    // Restart: every agent re-registers with its live tasks.
    await master.kill();
    const tr = performance.now();
    master.restart();
    const before = fleet.counters().reregistrations;
    await until('the master back', 120_000, async () => ((await master.get('/health'))?.status === 200 ? true : undefined));
    if (n + 10_000 > limit) raiseFileLimit(master.pid!, n + 20_000);
    await fleet.until('every agent re-registered', (c) => c.reregistrations - before >= n && c.connected === n, 1_800_000);
    const rrS = (performance.now() - tr) / 1000;
    console.log(
      `re-registration       ${n} agents with ${LIVE} tasks back in ${rrS.toFixed(1)} s after the restart: ${(n / rrS).toFixed(0)} agents/s; event loop max ${(await watch.take()).toFixed(0)} ms; RSS ${mb(rssOf(master.pid!))} MiB`,
    );
    const c = fleet.counters();
    console.log(
      `false removals        ${c.shutdowns} (agents told SHUTDOWN); updates re-sent ${c.updatesResent}; stale acks ${c.staleAcks}; call errors ${c.callErrors}`,
    );
  } finally {
    watch?.stop();
    fleet?.stop();
    for (const f of frameworks) await f.client.stop().catch(() => {});
    await master.stop().catch((e: unknown) => console.log(String(e)));
    rmSync(workDir, { recursive: true, force: true });
  }
}

console.log(`master at scale: 1 master process, simulated agents in ${PROCESSES} processes, frameworks in this process; ${cpus().length} cores`);
const limit = hardFileLimit();
for (const n of COUNTS) {
  // Each agent holds one connection to the master: the master needs n open files and more.
  if (n + 10_000 > limit) {
    try {
      raiseFileLimit(process.pid, n + 20_000);
    } catch (e) {
      console.log(
        `\n=== ${n.toLocaleString('en')} agents: not run. The master needs more than ${n} open files and this machine's hard limit is ${limit}, which this root cannot raise (prlimit: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()})`,
      );
      continue;
    }
  }
  await run(n);
}
// Sockets of the frameworks' clients may outlive their stop: the figures are printed, end here.
process.exit(0);
