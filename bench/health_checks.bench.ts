/**
 * Health check benchmark (issue 20): COUNT command tasks (`sleep`) on one agent, each with a
 * health check every 10 s, and the CPU the agent spends on them. The cluster runs in this process
 * (master + agent + the framework client), so the figure is that process's CPU (user + system,
 * process.cpuUsage) over a WINDOW-second window once every task is running and has reported
 * healthy, next to the same window with the same tasks and no health checks (the control); and
 * the CPU of the agent's spawner with the processes it started and reaped in that window (the
 * `corral-containerizer probe` of each COMMAND check and what it ran).
 * (--type=none,tcp: the control, then TCP checks.) The checks: TCP and HTTP to one listener in this process (127.0.0.1, the agent connects to it
 * for each check; no process is started), COMMAND `true` (a shell per check in the task's
 * container, as Mesos does).
 *
 *   npm run bench:health [-- --count=1000 --window=30 --type=all|none,tcp,http,command]
 */
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import { Cluster, type Json, type Scheduler, commandTask, frameworkInfo } from '../test/helpers/cluster.ts';
import { arg } from './common.ts';

const COUNT = arg('count', 1000);
const WINDOW_S = arg('window', 30);
const TYPES = ((): string[] => {
  const t = process.argv.find((x) => x.startsWith('--type='))?.slice(7) ?? 'all';
  return t === 'all' ? ['none', 'tcp', 'http', 'command'] : t.split(',');
})();
const loadNow = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function check(type: string, port: number): Json | undefined {
  const every = { delay_seconds: 0, interval_seconds: 10, timeout_seconds: 5, grace_period_seconds: 60 };
  if (type === 'tcp') return { type: 'TCP', tcp: { port }, ...every };
  if (type === 'http') return { type: 'HTTP', http: { port, path: '/' }, ...every };
  if (type === 'command') return { type: 'COMMAND', command: { value: 'true' }, ...every };
  return undefined;
}

/**
 * CPU seconds of the agent's spawner (a child of this process) and of the processes it started
 * and reaped (the probes of COMMAND checks: their time lands in its cutime/cstime).
 */
function spawnerCpuS(): number {
  let total = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) !== process.pid || !readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('spawner')) continue;
      total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
    } catch {
      // gone
    }
  }
  return total;
}

/** HTTP requests and TCP connections the listener got. */
let served = 0;
let connections = 0;

async function round(c: Cluster, type: string, port: number): Promise<{ launchS: number; cpuPct: number; helperPct: number; checks: number }> {
  const fw: Scheduler = await c.framework(frameworkInfo({ name: `health-${type}` }));
  const hc = check(type, port);
  const tasks = Array.from({ length: COUNT }, (_v, i) => commandTask(`${type}-${i}`, 'exec sleep 3600', hc ? { health_check: hc } : {}));
  const t0 = Date.now();
  await fw.launch(tasks, { perAccept: 50, timeoutMs: 600_000 });
  const running = new Set<string>();
  const healthy = new Set<string>();
  await c.until(
    () => {
      for (const e of fw.events)
        if (e.type === 'UPDATE') {
          const s = e.update.status;
          if (s.state === 'TASK_RUNNING') running.add(s.task_id.value);
          if (s.healthy === true) healthy.add(s.task_id.value);
        }
      return running.size === COUNT && (hc === undefined || healthy.size === COUNT);
    },
    900_000,
    `${COUNT} tasks running${hc ? ' and healthy' : ''}`,
  );
  const launchS = (Date.now() - t0) / 1000;
  const before = process.cpuUsage();
  const helpers0 = spawnerCpuS();
  const w0 = performance.now();
  const served0 = served;
  const connections0 = connections;
  await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
  const used = process.cpuUsage(before);
  const windowMs = performance.now() - w0;
  const cpuPct = ((used.user + used.system) / 1000 / windowMs) * 100;
  const helperPct = ((spawnerCpuS() - helpers0) * 1000 * 100) / windowMs;
  const checks = type === 'tcp' ? connections - connections0 : served - served0;
  return { launchS, cpuPct, helperPct, checks };
}

async function main(): Promise<void> {
  console.log(`health checks: ${cpus().length} CPUs, load average ${loadNow()}; ${COUNT} tasks on one agent, a check every 10 s each, CPU over ${WINDOW_S} s`);
  const server = http.createServer((_req, res) => {
    served++;
    res.end('ok');
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  // A new cluster for each round: the first round's torn-down tasks are no part of the next one's figure.
  for (const type of TYPES) {
    const c = await Cluster.start({ agentResources: `cpus:${COUNT};mem:${COUNT * 64};ports:[31000-32000]` });
    try {
      const r = await round(c, type, port);
      const checks = type === 'tcp' || type === 'http' ? r.checks : undefined;
      console.log(
        `  ${type === 'none' ? 'no health checks (control)' : `${type.toUpperCase()} checks`}: all ${COUNT} running${type === 'none' ? '' : ' and healthy'} after ${r.launchS.toFixed(1)} s; ` +
          `process CPU ${r.cpuPct.toFixed(1)}% of a core over ${WINDOW_S} s, its spawner and the probes it ran ${r.helperPct.toFixed(1)}%` +
          `${checks === undefined ? '' : ` (${checks} checks answered by the listener)`}  [load ${loadNow()}]`,
      );
    } finally {
      await c.stop();
    }
  }
  server.close();
}

await main();
