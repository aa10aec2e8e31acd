/**
 * The operator API's event stream and the web UI, against a master and an agent run as separate
 * `node bin/corral.js` processes on loopback (no authentication):
 *
 * (a) the master's CPU and memory during a burst of --tasks `true` tasks (100 per ACCEPT as
 *     offers come, from the first ACCEPT to the last TASK_FINISHED), with 10 operator SUBSCRIBE
 *     subscribers reading every event (RecordIO, each record parsed) and with none, alternated
 *     (0, 10, 0, 10, …, --rounds times each) so that the master's growth from run to run and the
 *     load from elsewhere hit both alike. CPU is the master's utime+stime from /proc over the
 *     burst; RSS is VmRSS sampled every 100 ms (peak, and after the burst); the V8 heap is the
 *     master's own nodejs_heap_used_bytes (GET /metrics) sampled every 250 ms (peak).
 * (b) the time from a task's state change to the UI showing it, measured in the browser: Debian's
 *     chromium (headless, through playwright-core) shows the tasks page; a MutationObserver
 *     stamps (performance.timeOrigin + performance.now(), the host's clock) the first time each
 *     task's row shows each state. The start is the moment the master sent the event, as seen by
 *     an operator subscriber of this process on the same host (the same clock), and also the
 *     status's own timestamp (the agent's time of the change). Tasks: --steady tasks 10 per
 *     ACCEPT as offers come (every change fits on the first page), then during a burst of
 *     --tasks with 10 subscribers (only what reaches the first page of 50 rows can be seen).
 * (c) the UI's first load: a fresh browser context (empty cache) opens `/`; the time from the
 *     navigation's start to the overview showing the agent, and the bytes of HTML, JS and CSS on
 *     the wire (gzip); then a reload with the cache (304s).
 * (d) the tasks page with 100,000 tasks in the page's model (put there as SUBSCRIBED would):
 *     first render, a search, a state filter, the next page, and one live update redrawn.
 *
 *   npm run bench:operator_ui [-- --tasks=1000 --rounds=2 --steady=300]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type Json, RecordIoDecoder, Scheduler, commandTask, frameworkInfo, getJson, killEverythingUnder } from '../test/helpers/cluster.ts';
import { freePort } from '../lib/transport/free_port.ts';
import { arg, ms, pct } from './common.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TASKS = arg('tasks', 1000);
const ROUNDS = arg('rounds', 2);
const STEADY = arg('steady', 300);
const SUBSCRIBERS = 10;
const CHROMIUM = '/usr/bin/chromium';
const AGENT_RESOURCES = 'cpus:64;mem:262144;disk:100000;ports:[31000-32000]';
const TICK = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
const now = (): number => performance.timeOrigin + performance.now();
const loadNow = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function corral(args: string[]): ChildProcess {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS)_/.test(k)));
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'corral.js'), ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
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

/** utime + stime of `pid`, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICK;
}

function rssBytes(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
}

/** The master's own V8 heap in use (GET /metrics, Prometheus text). */
function heapUsed(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://${address}/metrics`, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(Number(/^nodejs_heap_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN)));
      })
      .on('error', reject);
  });
}

/** An operator subscriber: POST /api/v1 SUBSCRIBE, every record decoded and parsed; `onEvent` sees each with its arrival time. */
class Subscriber {
  events = 0;
  bytes = 0;
  subscribed = false;
  private req: http.ClientRequest | undefined;
  constructor(
    readonly address: string,
    readonly onEvent?: (e: Json, at: number) => void,
  ) {}
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const body = JSON.stringify({ type: 'SUBSCRIBE' });
      const req = http.request(`http://${this.address}/api/v1`, {
        method: 'POST',
        agent: false,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': String(Buffer.byteLength(body)) },
      });
      this.req = req;
      req.on('error', reject);
      req.on('response', (res) => {
        if (res.statusCode !== 200) return reject(new Error(`SUBSCRIBE: ${res.statusCode}`));
        const decoder = new RecordIoDecoder();
        res.on('data', (chunk: Buffer) => {
          const at = now();
          this.bytes += chunk.length;
          for (const r of decoder.push(chunk)) {
            const e = JSON.parse(r.toString('utf8')) as Json;
            this.events++;
            if (e.type === 'SUBSCRIBED' && !this.subscribed) {
              this.subscribed = true;
              resolve();
            }
            this.onEvent?.(e, at);
          }
        });
        res.on('error', () => {});
      });
      req.end(body);
    });
  }
  close(): void {
    this.req?.destroy();
  }
}

function task(id: string, command: string): Json {
  return {
    ...commandTask(id, command),
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.01 } },
      { name: 'mem', type: 'SCALAR', scalar: { value: 4 } },
    ],
  };
}

function scalarOf(resources: Json[], name: string): number {
  return resources.filter((r) => r.name === name).reduce((a, r) => a + r.scalar.value, 0);
}

/** Launch `tasks` as offers come, up to `per` per ACCEPT (as many as fit). */
async function launchAsOffersCome(fw: Scheduler, tasks: Json[], per: number): Promise<void> {
  let next = 0;
  while (next < tasks.length) {
    const offers = await fw.offers(30_000);
    for (const offer of offers) {
      const fits = Math.min(...['cpus', 'mem'].map((n) => Math.floor(scalarOf(offer.resources, n) / scalarOf(tasks[0]!.resources, n) + 1e-9)));
      const fit = next < tasks.length ? Math.min(per, fits) : 0;
      if (fit === 0) {
        await fw.decline([offer.id.value], 0);
        continue;
      }
      const batch = tasks.slice(next, next + fit).map((t) => ({ ...t, agent_id: offer.agent_id }));
      next += batch.length;
      await fw.accept([offer.id.value], batch);
    }
  }
}

/** Run `n` `true` tasks in a framework of their own, `per` per ACCEPT; resolves when all have finished and the framework is torn down. */
async function runTasks(address: string, name: string, n: number, per: number): Promise<{ wallMs: number }> {
  const fw = await Scheduler.subscribe(address, frameworkInfo({ name }), { keepAlive: true });
  await fw.waitFor((e) => e.type === 'SUBSCRIBED', 10_000);
  const finished = new Set<string>();
  fw.onEvent = (e) => {
    if (e.type === 'UPDATE' && e.update.status.state === 'TASK_FINISHED') finished.add(e.update.status.task_id.value);
  };
  const tasks = Array.from({ length: n }, (_v, i) => task(`${name}-${i}`, 'true'));
  const t0 = performance.now();
  await launchAsOffersCome(fw, tasks, per);
  await until(() => finished.size === n, 120_000, `${n} tasks to finish`);
  const wallMs = performance.now() - t0;
  await Promise.all(fw.acks);
  await fw.teardown();
  fw.close();
  return { wallMs };
}

interface BurstFigures {
  subscribers: number;
  wallMs: number;
  cpuMs: number;
  rssBefore: number;
  rssPeak: number;
  rssAfter: number;
  heapPeak: number;
  events: number;
}

/** One burst with `subscribers` operator subscribers connected (and reading) throughout. */
function burst(address: string, pid: number, subscribers: number, tag: string): Promise<BurstFigures> {
  return burstOf(address, pid, subscribers, tag, TASKS);
}

async function burstOf(address: string, pid: number, subscribers: number, tag: string, tasks: number): Promise<BurstFigures> {
  const subs = Array.from({ length: subscribers }, () => new Subscriber(address));
  await Promise.all(subs.map((s) => s.start()));
  await sleep(500);
  const rssBefore = rssBytes(pid);
  let rssPeak = rssBefore;
  let heapPeak = await heapUsed(address);
  const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(pid))), 100);
  const heapTimer = setInterval(() => void heapUsed(address).then((h) => (heapPeak = Math.max(heapPeak, h))), 250);
  const events0 = subs.reduce((a, s) => a + s.events, 0);
  const cpu0 = cpuMs(pid);
  try {
    const { wallMs } = await runTasks(address, tag, tasks, 100);
    const cpu = cpuMs(pid) - cpu0;
    await sleep(300); // the last events reach the subscribers
    return {
      subscribers,
      wallMs,
      cpuMs: cpu,
      rssBefore,
      rssPeak,
      rssAfter: rssBytes(pid),
      heapPeak,
      events: subs.reduce((a, s) => a + s.events, 0) - events0,
    };
  } finally {
    clearInterval(rssTimer);
    clearInterval(heapTimer);
    for (const s of subs) s.close();
  }
}

function printBurst(f: BurstFigures, load: string): void {
  console.log(
    `  ${String(f.subscribers).padStart(2)} subscribers: burst ${ms(f.wallMs)}, master CPU ${f.cpuMs.toFixed(0)} ms (${((f.cpuMs / f.wallMs) * 100).toFixed(0)}% of a core), ` +
      `RSS ${mib(f.rssBefore)} → peak ${mib(f.rssPeak)} → ${mib(f.rssAfter)} after, heap peak ${mib(f.heapPeak)}` +
      `${f.subscribers ? `, ${f.events} events read (${(f.events / f.subscribers).toFixed(0)} each)` : ''}  [load ${load}]`,
  );
}

// ----- (b) the browser ----------------------------------------------------------------------

/** Installed before the page's scripts: stamps the first time each task row shows each state, and when the agent count first shows. */
const OBSERVER = `
  window.__seen = new Map();
  window.__firstAgents = 0;
  const stamp = () => performance.timeOrigin + performance.now();
  new MutationObserver(() => {
    const at = stamp();
    if (!window.__firstAgents) {
      const n = document.getElementById('agents-count');
      if (n && Number(n.textContent) > 0) window.__firstAgents = performance.now();
    }
    for (const row of document.querySelectorAll('tr[data-task]')) {
      const key = row.dataset.task + ' ' + (row.querySelector('.state')?.textContent ?? '');
      if (!window.__seen.has(key)) window.__seen.set(key, at);
    }
  }).observe(document, { childList: true, subtree: true, characterData: true });
`;

interface Latencies {
  fromMaster: number[];
  fromStatus: number[];
  changes: number;
}

/** Tasks run while the page shows the tasks page; each change's delay from the master's event (and from the status's timestamp) to the row showing it. */
async function uiLatency(page: Page, address: string, name: string, n: number, per: number, subscribers: number): Promise<Latencies> {
  const sent = new Map<string, { at: number; status: number }>();
  const watcher = new Subscriber(address, (e, at) => {
    if (e.type === 'TASK_ADDED') {
      const t = e.task_added.task;
      if (t.task_id.value.startsWith(name)) sent.set(`${t.task_id.value} ${t.state}`, { at, status: NaN });
    } else if (e.type === 'TASK_UPDATED') {
      const s = e.task_updated.status;
      if (s.task_id.value.startsWith(name)) sent.set(`${s.task_id.value} ${e.task_updated.state}`, { at, status: s.timestamp * 1000 });
    }
  });
  await watcher.start();
  const others = Array.from({ length: subscribers }, () => new Subscriber(address));
  await Promise.all(others.map((s) => s.start()));
  try {
    await page.evaluate('window.__seen.clear()');
    await runTasks(address, name, n, per);
    await sleep(1000);
    const seen = new Map((await page.evaluate('[...window.__seen.entries()]')) as [string, number][]);
    const fromMaster: number[] = [];
    const fromStatus: number[] = [];
    for (const [key, s] of sent) {
      const shown = seen.get(key);
      if (shown === undefined) continue;
      fromMaster.push(shown - s.at);
      if (!Number.isNaN(s.status)) fromStatus.push(shown - s.status);
    }
    return { fromMaster, fromStatus, changes: sent.size };
  } finally {
    watcher.close();
    for (const s of others) s.close();
  }
}

function printLatency(label: string, l: Latencies, load: string): void {
  const p = (xs: number[]) => (xs.length ? `p50 ${ms(pct(xs, 50))}  p99 ${ms(pct(xs, 99))}  max ${ms(Math.max(...xs))}` : 'none seen');
  console.log(`  ${label}: ${l.fromMaster.length} of ${l.changes} changes seen on the page  [load ${load}]`);
  console.log(`    master's event → row shows it:             ${p(l.fromMaster)}`);
  console.log(`    status timestamp (agent) → row shows it:    ${p(l.fromStatus)}`);
}

async function firstLoad(browser: Browser, base: string): Promise<{ ms: number; bytes: number; transfer: number; warmMs: number; files: number }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    await context.addInitScript(OBSERVER);
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.waitForFunction('window.__firstAgents > 0', undefined, { timeout: 30_000 });
    const cold = (await page.evaluate(`(() => {
      const files = performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource').filter((e) => /\\/ui\\/[^/]+\\.(js|css)$/.test(new URL(e.name).pathname)));
      return { ms: window.__firstAgents, bytes: files.reduce((a, e) => a + e.encodedBodySize, 0), transfer: files.reduce((a, e) => a + e.transferSize, 0), files: files.length };
    })()`)) as { ms: number; bytes: number; transfer: number; files: number };
    await page.reload();
    await page.waitForFunction('window.__firstAgents > 0', undefined, { timeout: 30_000 });
    const warmMs = (await page.evaluate('window.__firstAgents')) as number;
    return { ...cold, warmMs };
  } finally {
    await context.close();
  }
}

interface BigTable {
  render: number;
  search: number;
  filter: number;
  next: number;
  live: number;
}

async function bigTable(browser: Browser, base: string): Promise<BigTable> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();
    await page.goto(`${base}/#/tasks`);
    await page.locator('#task-list').waitFor();
    // After SUBSCRIBED (which replaces the model) has come.
    await page.waitForFunction("document.body.dataset.link === 'up'", undefined, { timeout: 30_000 });
    const render = (await page.evaluate(`(async () => {
      const { store } = await import('/ui/store.js');
      const states = ['TASK_RUNNING', 'TASK_FINISHED', 'TASK_FAILED'];
      for (let i = 0; i < 100000; i++) {
        const id = 'bulk-' + i;
        store.tasks.set('fw/' + id, {
          name: 'bulk ' + i, task_id: { value: id }, framework_id: { value: 'fw' }, agent_id: { value: 'a' }, state: states[i % 3],
          resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }, { name: 'mem', type: 'SCALAR', scalar: { value: 32 } }],
          statuses: [{ state: states[i % 3], timestamp: 1700000000 + i }],
        });
      }
      store.revision++;
      const t0 = performance.now();
      window.dispatchEvent(new HashChangeEvent('hashchange'));
      return performance.now() - t0;
    })()`)) as number;
    // (the master's own tasks from (a)–(c) are in the model too)
    await page.locator('.pager', { hasText: /^1\d{5} tasks/ }).waitFor();
    const renderMs = async (): Promise<number> => Number(await page.locator('main').getAttribute('data-render-ms'));
    await page.locator('#task-search').fill('bulk-9999');
    await page.locator('.pager', { hasText: '11 tasks' }).waitFor();
    const search = await renderMs();
    await page.locator('#task-search').fill('');
    await page.locator('#task-state').selectOption('TASK_FAILED');
    await page.locator('.pager', { hasText: '33333 tasks' }).waitFor();
    const filter = await renderMs();
    await page.locator('a[data-page="next"]').click();
    await page.locator('.pager', { hasText: 'page 2 of' }).waitFor();
    const next = await renderMs();
    // One task changes (as TASK_UPDATED would): the page redraws on the next frame.
    await page.evaluate(`(async () => {
      const { store } = await import('/ui/store.js');
      document.querySelector('main').dataset.renderMs = '';
      const t = store.tasks.get('fw/bulk-5');
      t.state = 'TASK_FAILED';
      t.statuses.push({ state: 'TASK_FAILED', timestamp: 1800000000 });
      store.revision++;
    })()`);
    // The store's own change path (the next event) triggers the redraw; a refresh tick does too.
    await page.waitForFunction("document.querySelector('main').dataset.renderMs !== ''", undefined, { timeout: 15_000 });
    const live = await renderMs();
    return { render, search, filter, next, live };
  } finally {
    await context.close();
  }
}

// ----- main ----------------------------------------------------------------------------------

interface Daemons {
  address: string;
  pid: number;
  stop(): Promise<void>;
}

/** A master and an agent as separate processes under `dir`, the agent registered. */
async function daemons(dir: string): Promise<Daemons> {
  const masterPort = await freePort();
  const agentPort = await freePort();
  const master = corral(['master', '--ip=127.0.0.1', `--port=${masterPort}`, `--work_dir=${join(dir, 'master')}`, '--allocation_interval=20ms', '--quiet']);
  const agent = corral([
    'agent',
    `--master=127.0.0.1:${masterPort}`,
    '--ip=127.0.0.1',
    `--port=${agentPort}`,
    `--work_dir=${join(dir, 'agent')}`,
    `--resources=${AGENT_RESOURCES}`,
    '--hostname=bench-agent',
    '--registration_backoff_factor=100ms',
    '--quiet',
  ]);
  const stop = async () => {
    await stopProcess(agent);
    await stopProcess(master);
    killEverythingUnder(dir);
  };
  const address = `127.0.0.1:${masterPort}`;
  try {
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
  } catch (e) {
    await stop();
    throw e;
  }
  return { address, pid: master.pid!, stop };
}

async function main(): Promise<void> {
  const [l1] = loadavg();
  console.log(`operator_ui: ${cpus().length} CPUs, load average ${loadNow()}${l1! > 0.5 ? '  (WARNING: the machine is not quiet)' : ''}`);
  const base = mkdtempSync(join(tmpdir(), `corral-bench-${process.pid}-operator-ui-`));
  let browser: Browser | undefined;
  let d: Daemons | undefined;
  try {
    console.log(
      `(a) the master (a separate process) during a burst of ${TASKS} \`true\` tasks, 100 per ACCEPT, 1 agent; 0 and ${SUBSCRIBERS} operator subscribers in turns, each run on a fresh master and agent after a warm-up burst of 200 tasks with the same subscribers:`,
    );
    const runs: BurstFigures[] = [];
    let k = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const n of [0, SUBSCRIBERS]) {
        d = await daemons(join(base, `a${k++}`));
        await burstOf(d.address, d.pid, n, `warm-${r}-${n}`, Math.min(200, TASKS));
        const load = loadNow();
        const f = await burst(d.address, d.pid, n, `burst-${r}-${n}`);
        runs.push(f);
        printBurst(f, load);
        await d.stop();
        d = undefined;
      }
    }
    const avg = (n: number, k: keyof BurstFigures) => {
      const xs = runs.filter((f) => f.subscribers === n).map((f) => f[k]);
      return xs.reduce((a, x) => a + x, 0) / xs.length;
    };
    const cpuPerTask = (n: number) => avg(n, 'cpuMs') / TASKS;
    console.log(
      `  mean master CPU per task: ${cpuPerTask(0).toFixed(2)} ms with 0 subscribers, ${cpuPerTask(SUBSCRIBERS).toFixed(2)} ms with ${SUBSCRIBERS} (+${(((cpuPerTask(SUBSCRIBERS) - cpuPerTask(0)) / cpuPerTask(0)) * 100).toFixed(0)}%); ` +
        `peak RSS ${mib(avg(0, 'rssPeak'))} vs ${mib(avg(SUBSCRIBERS, 'rssPeak'))}; peak heap ${mib(avg(0, 'heapPeak'))} vs ${mib(avg(SUBSCRIBERS, 'heapPeak'))}`,
    );

    d = await daemons(join(base, 'ui'));
    const address = d.address;
    if (!existsSync(CHROMIUM)) {
      console.log(`(b)–(d): not run: ${CHROMIUM} is missing`);
      return;
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-default-apps', '--no-first-run'],
    });
    const ui = `http://${address}`;

    console.log(`(b) a task's change → the tasks page showing it, in headless chromium (MutationObserver; same host clock):`);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(OBSERVER);
    const page = await context.newPage();
    await page.goto(`${ui}/#/tasks`);
    await page.locator('#task-list').waitFor();
    await sleep(1000);
    const clock = (await page.evaluate('performance.timeOrigin + performance.now() - Date.now()')) as number;
    console.log(
      `  (clock check: the page's high-resolution time − its Date.now() = ${clock.toFixed(2)} ms; this process: ${(now() - Date.now()).toFixed(2)} ms)`,
    );
    for (let r = 0; r < ROUNDS; r++) {
      const load = loadNow();
      printLatency(`${STEADY} tasks, 10 per ACCEPT as offers come, run ${r + 1}`, await uiLatency(page, address, `steady-${r}`, STEADY, 10, 0), load);
    }
    for (let r = 0; r < ROUNDS; r++) {
      const load = loadNow();
      printLatency(
        `a burst of ${TASKS} tasks (100 per ACCEPT) with ${SUBSCRIBERS} more subscribers, run ${r + 1} (the first page holds 50 rows: most changes are pushed off before a frame)`,
        await uiLatency(page, address, `uiburst-${r}`, TASKS, 100, SUBSCRIBERS),
        load,
      );
    }
    await context.close();

    console.log(`(c) the UI's first load (fresh context, empty cache): navigation start → the overview shows the agent:`);
    for (let r = 0; r < ROUNDS; r++) {
      const load = loadNow();
      const f = await firstLoad(browser, ui);
      console.log(
        `  run ${r + 1}: ${ms(f.ms)} (reload with the cache: ${ms(f.warmMs)}); HTML+JS+CSS: ${f.files} files, ${(f.bytes / 1024).toFixed(1)} KiB compressed bodies, ${(f.transfer / 1024).toFixed(1)} KiB on the wire with headers   [target ≤ 200 KB]  [load ${load}]`,
      );
    }

    console.log(`(d) the tasks page with 100,000 tasks in the page's model (render times measured in the page):`);
    for (let r = 0; r < ROUNDS; r++) {
      const load = loadNow();
      const f = await bigTable(browser, ui);
      console.log(
        `  run ${r + 1}: first render ${ms(f.render)}, search ${ms(f.search)}, state filter ${ms(f.filter)}, next page ${ms(f.next)}, redraw after one task changed ${ms(f.live)}  [load ${load}]`,
      );
    }
  } finally {
    await browser?.close();
    await d?.stop();
    killEverythingUnder(base);
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
