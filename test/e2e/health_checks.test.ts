/**
 * Health checks of command tasks (TaskInfo.health_check) as Mesos's command executor runs them
 * (issue 20), on a real agent with real tasks: COMMAND, HTTP and TCP checks that pass, fail, time
 * out, recover, and kill the task after `consecutive_failures` (an HTTP check follows redirects);
 * each change of health a TASK_RUNNING update with `healthy` and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, the kill's
 * terminal update TASK_KILLED with healthy false. The master refuses an invalid check with
 * TASK_ERROR in Mesos's words. The checks of tasks recovered after an agent restart go on.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Json, commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';

const FAST = { delay_seconds: 0, interval_seconds: 0.2, timeout_seconds: 1, grace_period_seconds: 0 };

/** A task that runs `command` with `check` (FAST unless overridden), holding `ports`. */
function checked(id: string, command: string, check: Json, ports: number[] = []): Json {
  return commandTask(id, command, {
    health_check: { ...FAST, ...check },
    ...(ports.length > 0
      ? {
          resources: [...commandTask(id, command).resources, { name: 'ports', type: 'RANGES', ranges: { range: ports.map((p) => ({ begin: p, end: p })) } }],
        }
      : {}),
  });
}

/** A Python HTTP server on 127.0.0.1:port (200 for /, 404 elsewhere), started after `after` seconds. */
const httpServer = (port: number, after = 0) => `${after > 0 ? `sleep ${after}; ` : ''}exec python3 -m http.server ${port} --bind 127.0.0.1`;
/** A listener that accepts TCP connections and never answers. */
const silent = (port: number) =>
  `exec python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', ${port})); s.listen(64); time.sleep(120)"`;

/** The health updates of `taskId` so far, as 'H' (healthy) / 'U' (unhealthy), and its terminal update when there is one. */
function healthOf(fw: Json, taskId: string): { marks: string; updates: Json[]; terminal: Json | undefined } {
  const updates = (fw.events as Json[]).filter((e) => e.type === 'UPDATE' && e.update.status.task_id.value === taskId).map((e) => e.update.status);
  const health = updates.filter((s) => s.reason === 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED');
  return {
    marks: health.map((s) => (s.healthy ? 'H' : 'U')).join(''),
    updates,
    terminal: updates.find((s) => ['TASK_KILLED', 'TASK_FAILED', 'TASK_FINISHED', 'TASK_LOST', 'TASK_ERROR'].includes(s.state)),
  };
}

test('COMMAND, HTTP and TCP health checks: pass, fail, time out, recover, kill after consecutive_failures', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo({ name: 'health' }));
  const base = 31000 + Math.floor(Math.random() * 900);
  const [pHttp, pHttpLate, pSilent] = [base, base + 1, base + 2];
  const closed = base + 50; // nobody listens there
  // A server in this process whose /go redirects to a page it does not have: followed (as
  // Mesos's `curl -L` follows it), the check fails.
  const redirecting = http.createServer((req, res) => {
    res.writeHead(req.url === '/go' ? 302 : 404, req.url === '/go' ? { location: '/missing' } : {});
    res.end();
  });
  await new Promise<void>((r) => redirecting.listen(0, '127.0.0.1', r));
  t.teardown(() => redirecting.close());
  const pRedirect = (redirecting.address() as AddressInfo).port;
  const tasks = [
    // COMMAND: in the sandbox, with the task's environment and the check's own.
    // The ones that should pass have a grace period: failures before their first success (the task still starting) are not counted.
    checked('cmd-ok', 'touch ready; exec sleep 60', {
      type: 'COMMAND',
      grace_period_seconds: 15,
      command: {
        value: 'test -f ready && test "$CHECK_VAR" = yes && test "$MESOS_SANDBOX" = "$PWD"',
        environment: { variables: [{ name: 'CHECK_VAR', value: 'yes' }] },
      },
    }),
    checked('cmd-recover', 'sleep 1.5; touch healthy; exec sleep 60', { type: 'COMMAND', command: { value: 'test -f healthy' }, consecutive_failures: 1000 }),
    checked('cmd-kill', 'exec sleep 60', { type: 'COMMAND', command: { value: 'exit 1' }, consecutive_failures: 3 }),
    checked('cmd-timeout', 'exec sleep 60', { type: 'COMMAND', command: { value: 'exec sleep 30' }, timeout_seconds: 0.3, consecutive_failures: 2 }),
    // HTTP
    checked('http-ok', httpServer(pHttp), { type: 'HTTP', http: { port: pHttp, path: '/' }, grace_period_seconds: 15 }, [pHttp]),
    checked('http-recover', httpServer(pHttpLate, 1.5), { type: 'HTTP', http: { port: pHttpLate }, consecutive_failures: 1000 }, [pHttpLate]),
    checked('http-kill', 'exec sleep 60', { type: 'HTTP', http: { port: pHttp, path: '/no-such-page' }, consecutive_failures: 2 }),
    checked('http-redirect', 'exec sleep 60', { type: 'HTTP', http: { port: pRedirect, path: '/go' }, consecutive_failures: 2 }),
    checked('http-timeout', silent(pSilent), { type: 'HTTP', http: { port: pSilent }, timeout_seconds: 0.3, consecutive_failures: 2 }, [pSilent]),
    // TCP
    checked('tcp-ok', 'exec sleep 60', { type: 'TCP', tcp: { port: pHttp }, grace_period_seconds: 15 }),
    checked('tcp-kill', 'exec sleep 60', { type: 'TCP', tcp: { port: closed }, consecutive_failures: 2 }),
  ];
  await fw.launch(tasks);

  const until = (what: string, cond: () => boolean) => c.until(cond, 20_000, what);
  // Healthy on the first success, and only then (no update per passing check).
  for (const id of ['cmd-ok', 'http-ok', 'tcp-ok']) await until(`${id} healthy`, () => healthOf(fw, id).marks.startsWith('H'));
  // Unhealthy while failing, then healthy once it passes: one update per counted failure, one for the recovery.
  for (const id of ['cmd-recover', 'http-recover']) await until(`${id} to recover`, () => /^U+H$/.test(healthOf(fw, id).marks));
  // consecutive_failures in a row: killed, TASK_KILLED with healthy false.
  for (const [id, n] of [
    ['cmd-kill', 3],
    ['cmd-timeout', 2],
    ['http-kill', 2],
    ['http-redirect', 2],
    ['http-timeout', 2],
    ['tcp-kill', 2],
  ] as const) {
    await until(`${id} killed`, () => healthOf(fw, id).terminal !== undefined);
    const h = healthOf(fw, id);
    t.is(h.marks, 'U'.repeat(n), `${id}: ${n} unhealthy updates, then the kill`);
    t.like(h.terminal, { state: 'TASK_KILLED', healthy: false, source: 'SOURCE_EXECUTOR' }, id);
  }
  await new Promise((r) => setTimeout(r, 1000));
  for (const id of ['cmd-ok', 'http-ok', 'tcp-ok']) t.is(healthOf(fw, id).marks, 'H', `${id}: one healthy update while it stays healthy`);
  for (const id of ['cmd-recover', 'http-recover']) t.regex(healthOf(fw, id).marks, /^U+H$/, id);
  // What a health update looks like on the wire.
  const sample = healthOf(fw, 'http-ok').updates.find((s) => s.reason === 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED');
  t.like(sample, { state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR', healthy: true, executor_id: { value: 'http-ok' } });
  // The ones still running are not marked in their fresh statuses.
  t.is(healthOf(fw, 'cmd-ok').updates.find((s) => s.state === 'TASK_RUNNING' && s.reason === undefined)?.healthy, undefined);
});

test('an invalid health check is TASK_ERROR from the master, in Mesos words', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo({ name: 'bad-health' }));
  await fw.launch([
    commandTask('bad-scheme', 'sleep 1', { health_check: { type: 'HTTP', http: { port: 80, scheme: 'ftp' } } }),
    commandTask('no-type', 'sleep 1', { health_check: { tcp: { port: 80 } } }),
    commandTask('negative', 'sleep 1', { health_check: { type: 'TCP', tcp: { port: 80 }, interval_seconds: -1 } }),
  ]);
  const err = async (id: string) => fw.update(id, 'TASK_ERROR', 10_000);
  t.like(await err('bad-scheme'), { reason: 'REASON_TASK_INVALID', message: "Task uses invalid health check: Unsupported HTTP health check scheme: 'ftp'" });
  t.like(await err('no-type'), { message: "Task uses invalid health check: HealthCheck must specify 'type'" });
  t.like(await err('negative'), { message: "Task uses invalid health check: Expecting 'interval_seconds' to be non-negative" });
});

test('the checks of a task recovered after an agent restart go on from its last reported health', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'corral-health-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sick = join(dir, 'sick');
  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo({ name: 'health-restart', checkpoint: true }));
  writeFileSync(`${sick}-2`, '');
  await fw.launch([
    // Healthy until the test makes the file `sick`.
    checked('restarted', 'exec sleep 120', { type: 'COMMAND', command: { value: `test ! -e ${sick}` }, consecutive_failures: 3 }),
    // Unhealthy until the test removes `sick` (made before the launch).
    checked('restarted-unhealthy', 'exec sleep 120', { type: 'COMMAND', command: { value: `test ! -e ${sick}-2` }, consecutive_failures: 1000 }),
  ]);
  const until = (what: string, cond: () => boolean) => c.until(cond, 20_000, what);
  await until('the first task healthy', () => healthOf(fw, 'restarted').marks === 'H');
  await until('the second task unhealthy', () => healthOf(fw, 'restarted-unhealthy').marks.includes('U'));
  await c.restartAgent(0);
  // The agent is back: the same tasks, the same containers, checked again.
  writeFileSync(sick, '');
  rmSync(`${sick}-2`);
  await until('the first task killed by its checks after the restart', () => healthOf(fw, 'restarted').terminal !== undefined);
  const h = healthOf(fw, 'restarted');
  // No second "healthy" for the restart itself: the checker went on from the last report.
  t.is(h.marks, 'HUUU');
  t.like(h.terminal, { state: 'TASK_KILLED', healthy: false });
  await until('the second task healthy again after the restart', () => /^.*U+H$/.test(healthOf(fw, 'restarted-unhealthy').marks));
});
