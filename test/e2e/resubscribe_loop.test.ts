/**
 * A client that re-SUBSCRIBEs a torn-down framework in a loop (issue 20: pymesos reconnected
 * 7,284 times in 5 s after its framework was torn down). Each SUBSCRIBE gets ERROR "Framework has
 * been removed" and a closed stream, as in Mesos; the master (a real `corral master` process)
 * must stay healthy for the other frameworks. Measured: the loop's calls, the master's CPU (its
 * /proc/<pid>/stat), and the round trip of another framework's RECONCILE, without and with
 * `--rate_limits` (Mesos's per-principal framework rate limiting, its JSON format).
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import test from 'ava';
import { type Json, Scheduler, frameworkInfo, getJson } from '../helpers/cluster.ts';
import { runCorral } from '../helpers/corral_run.ts';
import { MasterProcess } from '../helpers/master_process.ts';

const LOOP_MS = 5000;
const CONCURRENCY = 4;

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime: fields 14 and 15 of stat(5), 12 and 13 after the command.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** One SUBSCRIBE on a fresh connection, read to its end: the status and the events' types. */
function subscribeOnce(master: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const req = http.request(`http://${master}/api/v1/scheduler`, {
      method: 'POST',
      agent: false,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': String(Buffer.byteLength(body)) },
    });
    req.on('error', () => resolve({ status: 0, text: '' }));
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.end(body);
  });
}

interface LoopResult {
  readonly removed: number;
  readonly refused: number;
  readonly other: number;
}

/** CONCURRENCY clients, each re-SUBSCRIBing at once after every answer, for LOOP_MS. */
async function loop(master: string, frameworkId: string, principal: string): Promise<LoopResult> {
  const body = JSON.stringify({
    type: 'SUBSCRIBE',
    framework_id: { value: frameworkId },
    subscribe: { framework_info: frameworkInfo({ name: 'looper', principal, id: { value: frameworkId }, failover_timeout: 0 }) },
  });
  const end = Date.now() + LOOP_MS;
  const r = { removed: 0, refused: 0, other: 0 };
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        const a = await subscribeOnce(master, body);
        if (a.status === 200 && a.text.includes('Framework has been removed')) r.removed++;
        else if (a.status === 429) r.refused++;
        else r.other++;
      }
    }),
  );
  return r;
}

interface Phase {
  readonly loop: LoopResult;
  readonly cpuPercent: number;
  readonly reconcileMs: number[];
}

/** A master (with `args`), a framework torn down and looped on, another framework reconciling every 50 ms meanwhile. */
async function phase(t: { teardown: (f: () => Promise<void>) => void }, args: readonly string[]): Promise<Phase> {
  const m = await MasterProcess.start(['--registry=in_memory', ...args]);
  t.teardown(() => m.stop());
  await m.waitForLog(/master started/);
  const looper = await Scheduler.subscribe(m.address, frameworkInfo({ name: 'looper', principal: 'looper', failover_timeout: 0 }));
  const sub = await looper.waitFor((e: Json) => e.type === 'SUBSCRIBED', 10_000);
  const id = sub.subscribed.framework_id.value;
  t.teardown(async () => looper.close());
  await looper.must({ type: 'TEARDOWN' });
  const good = await Scheduler.subscribe(m.address, frameworkInfo({ name: 'good', principal: 'good' }));
  t.teardown(async () => good.close());
  await good.waitFor((e: Json) => e.type === 'SUBSCRIBED', 10_000);

  const pid = m.pid!;
  const cpu0 = cpuSeconds(pid);
  const t0 = Date.now();
  const looping = loop(m.address, id, 'looper');
  const reconcileMs: number[] = [];
  for (let i = 0; Date.now() - t0 < LOOP_MS; i++) {
    const taskId = `probe-${i}`;
    const sent = performance.now();
    await good.must({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: taskId } }] } });
    await good.waitFor((e: Json) => e.type === 'UPDATE' && e.update.status.task_id.value === taskId, 10_000, `the answer to ${taskId}`);
    reconcileMs.push(performance.now() - sent);
    await new Promise((r) => setTimeout(r, 50));
  }
  const result = await looping;
  const cpuPercent = ((cpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000)) * 100;
  // Still healthy afterwards: it answers, and the good framework is subscribed and connected.
  const state = await getJson(`http://${m.address}/master/state`);
  const goodState = state.frameworks.find((f: Json) => f.name === 'good');
  if (!goodState?.connected) throw new Error('the good framework lost its subscription');
  return { loop: result, cpuPercent, reconcileMs };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

test('a client looping re-SUBSCRIBE of a torn-down framework: ERROR each time; other frameworks unaffected; --rate_limits caps its calls and the master CPU they cost', async (t) => {
  const free = await phase(t, []);
  const limits = JSON.stringify({ limits: [{ principal: 'looper', qps: 20, capacity: 10 }, { principal: 'good' }] });
  const limited = await phase(t, [`--rate_limits=${limits}`]);
  for (const [name, p] of [
    ['no --rate_limits', free],
    ['--rate_limits looper 20 qps', limited],
  ] as const) {
    t.log(
      `${name}: ${p.loop.removed} SUBSCRIBEs answered "Framework has been removed", ${p.loop.refused} refused (429), ${p.loop.other} other in ${LOOP_MS / 1000} s by ${CONCURRENCY} looping clients; ` +
        `master CPU ${p.cpuPercent.toFixed(0)}% of a core; another framework's RECONCILE round trip p50 ${pct(p.reconcileMs, 50).toFixed(1)} ms, p99 ${pct(p.reconcileMs, 99).toFixed(1)} ms (${p.reconcileMs.length} probes)`,
    );
    t.is(p.loop.other, 0, `${name}: every SUBSCRIBE got ERROR or 429`);
    t.true(p.reconcileMs.length >= 20, `${name}: the other framework kept being answered`);
    t.true(pct(p.reconcileMs, 99) < 1000, `${name}: the other framework's calls stay answered within a second`);
  }
  // Without limits the loop runs at the speed of the master; with them, at 20 calls a second.
  t.true(free.loop.removed > 500, `the loop ran freely: ${free.loop.removed}`);
  t.true(limited.loop.removed <= 20 * (LOOP_MS / 1000) + 10 + 5, `at most qps × seconds + capacity: ${limited.loop.removed}`);
  t.true(limited.cpuPercent < free.cpuPercent, 'the limit saves the master CPU');
  t.true(limited.cpuPercent < 30, `master CPU ${limited.cpuPercent.toFixed(0)}% under a limited loop`);
});

test('--rate_limits: a bad value is one error naming the field; calls over capacity get 429', async (t) => {
  for (const [value, field] of [
    ['{"limits":[{"qps":1}]}', /rate_limits\.limits\[0\]\.principal/],
    ['{"limits":[{"principal":"a","qps":0}]}', /rate_limits\.limits\[0\]\.qps.*positive/],
    ['{"limits":[{"principal":"a"},{"principal":"a"}]}', /listed twice/],
    ['{"aggregate_default_qps":-1}', /aggregate_default_qps/],
    ['{"limit":[]}', /rate_limits\.limit\b.*not a field/],
    ['not json', /rate_limits/],
  ] as const) {
    const r = await runCorral(['master', '--registry=in_memory', '--port=0', `--rate_limits=${value}`], { timeoutMs: 20_000 });
    t.is(r.code, 2, `${value}: ${r.stderr}`);
    t.regex(r.stderr, field);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // One call a second, one may wait: of 4 SUBSCRIBEs at once, one goes now, one waits, two get 429.
  const m = await MasterProcess.start(['--registry=in_memory', '--rate_limits={"aggregate_default_qps":1,"aggregate_default_capacity":1}']);
  t.teardown(() => m.stop());
  await m.waitForLog(/master started/);
  const body = JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo({ name: 'burst' }) } });
  const answers = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const r = await subscribeOnce429(m.address, body);
      return r;
    }),
  );
  const statuses = answers.map((a) => a.status).sort();
  t.deepEqual(statuses, [200, 200, 429, 429]);
  t.regex(answers.find((a) => a.status === 429)!.text, /capacity/);
});

/** A SUBSCRIBE whose answer is taken as soon as its headers (and, for a 429, its body) are in; the stream is then dropped. */
function subscribeOnce429(master: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`http://${master}/api/v1/scheduler`, {
      method: 'POST',
      agent: false,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': String(Buffer.byteLength(body)) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode === 200) {
        resolve({ status: 200, text: '' });
        res.destroy();
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.end(body);
  });
}
