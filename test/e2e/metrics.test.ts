/**
 * `/metrics` in the Prometheus text format on a real master and agent, checked with a parser
 * written from the format's specification and against `/metrics/snapshot`; the timers an
 * operator needs (allocation runs, ACCEPT → RUNNING, status update acknowledgements, HTTP
 * durations by endpoint and code); Mesos's `system/*` keys; `/health` and `/ready`.
 */
import { cpus } from 'node:os';
import test from 'ava';
import { Metrics } from '../../lib/common/metrics.ts';
import { commandTask, frameworkInfo, request, startCluster } from '../helpers/cluster.ts';
import { parsePrometheusText, valueOf } from '../helpers/prometheus_text.ts';

/** Keys whose values move on their own between two requests. */
const MOVING = /uptime_secs|allocation_runs|outstanding_offers|offered|^system\/(load|mem_free)|_ms(\/|$)|^slave\/(cpus|mem|disk)_(revocable_)?(used|percent)/;

async function scrape(url: string) {
  const r = await request(url, { method: 'GET' });
  return { status: r.status, type: r.headers['content-type'], text: r.text, families: parsePrometheusText(r.text) };
}

test('the parser refuses what the format does not allow', (t) => {
  t.throws(() => parsePrometheusText('a 1'), { message: /newline/ });
  t.throws(() => parsePrometheusText('1a 1\n'), { message: /not a sample/ });
  t.throws(() => parsePrometheusText('a{b="x} 1\n'), { message: /bad labels/ });
  t.throws(() => parsePrometheusText('# TYPE a counter\na -1\n'), { message: /negative/ });
  t.throws(() => parsePrometheusText('a 1\nb 1\na 2\n'), { message: /not together/ });
  t.throws(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'), { message: /cumulative/ });
  t.throws(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n'), { message: /_count/ });
  const ok = parsePrometheusText('# HELP a The \\\\ help\n# TYPE a gauge\na{x="q\\"uote\\n"} 1.5e3\n');
  t.is(valueOf(ok, 'a', { x: 'q"uote\n' }), 1500);
});

test('the registry: timers with percentiles in the snapshot, histograms in seconds in Prometheus', (t) => {
  const m = new Metrics();
  m.inc('master/tasks_finished', 2);
  m.gauge('system/cpus_total', () => 4);
  for (const ms of [1, 2, 3, 4, 100]) m.observe('allocator/mesos/allocation_run_ms', ms);
  m.observe('http/request_duration_ms', 7, { endpoint: '/a"b', code: '200' });
  const snap = m.snapshot({ 'master/elected': 1 });
  t.like(snap, {
    'master/tasks_finished': 2,
    'system/cpus_total': 4,
    'master/elected': 1,
    'allocator/mesos/allocation_run_ms': 100,
    'allocator/mesos/allocation_run_ms/count': 5,
    'allocator/mesos/allocation_run_ms/min': 1,
    'allocator/mesos/allocation_run_ms/max': 100,
    'allocator/mesos/allocation_run_ms/p50': 3,
    'allocator/mesos/allocation_run_ms/p99': 100,
  });
  const f = parsePrometheusText(m.prometheus({ 'master/elected': 1 }));
  t.is(f.get('corral_master_tasks_finished')?.type, 'counter');
  t.is(f.get('corral_master_elected')?.type, 'gauge');
  t.is(f.get('corral_allocator_mesos_allocation_run_seconds')?.type, 'histogram');
  t.is(valueOf(f, 'corral_allocator_mesos_allocation_run_seconds_bucket', { le: '0.001' }), 1);
  t.is(valueOf(f, 'corral_allocator_mesos_allocation_run_seconds_bucket', { le: '0.005' }), 4);
  t.is(valueOf(f, 'corral_allocator_mesos_allocation_run_seconds_count'), 5);
  t.is(valueOf(f, 'corral_allocator_mesos_allocation_run_seconds_sum'), 0.11);
  t.is(valueOf(f, 'corral_http_request_duration_seconds_count', { endpoint: '/a"b', code: '200' }), 1);
});

test('a real master and agent: /metrics parses, agrees with /metrics/snapshot, and times what an operator needs', async (t) => {
  const c = await startCluster(t);
  const s = await c.framework(frameworkInfo({ name: 'metrics' }));
  await s.launch([commandTask('m1', 'true')]);
  await s.update('m1', 'TASK_FINISHED');
  // The agent has the acknowledgement of TASK_FINISHED once the master shows no live task.
  await c.until(async () => (await c.agentJson(0, '/metrics/snapshot'))['slave/status_update_acknowledgement_ms/count'] >= 2, 10_000, 'the acknowledgements');

  for (const [who, base] of [
    ['master', c.url('')],
    ['agent', c.agentUrl(0, '')],
  ] as const) {
    const snapshot = (await request(`${base}/metrics/snapshot`, { method: 'GET' })).json() as Record<string, number>;
    const prom = await scrape(`${base}/metrics`);
    t.is(prom.status, 200);
    t.is(prom.type, 'text/plain; version=0.0.4; charset=utf-8');
    // Every key of the snapshot has its sample, with the same value (timers: their count).
    for (const [key, value] of Object.entries(snapshot)) {
      if (MOVING.test(key)) continue;
      t.is(valueOf(prom.families, `corral_${key.replace(/[^a-zA-Z0-9_]/g, '_')}`), value, `${who} ${key}`);
    }
    t.is(snapshot['system/cpus_total'], cpus().length, who);
    for (const k of ['system/load_1min', 'system/load_5min', 'system/load_15min', 'system/mem_total_bytes', 'system/mem_free_bytes'])
      t.true(snapshot[k]! >= 0, `${who} ${k}`);
    for (const k of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_delay_p99_seconds'])
      t.true(valueOf(prom.families, k) >= 0, `${who} ${k}`);
    // This scrape's own /metrics/snapshot request, timed by endpoint, method and code.
    t.true(valueOf(prom.families, 'corral_http_request_duration_seconds_count', { endpoint: '/metrics/snapshot', method: 'GET', code: '200' }) >= 1, who);
    t.is(prom.families.get('corral_http_request_duration_seconds')?.type, 'histogram');
  }
  const master = (await scrape(c.url('/metrics'))).families;
  t.true(valueOf(master, 'corral_allocator_mesos_allocation_run_seconds_count') >= 1);
  t.is(valueOf(master, 'corral_master_task_launch_to_running_seconds_count'), 1);
  t.is(master.get('corral_master_tasks_finished')?.type, 'counter');
  t.is(valueOf(master, 'corral_master_tasks_finished'), 1);
  const agent = (await scrape(c.agentUrl(0, '/metrics'))).families;
  t.true(valueOf(agent, 'corral_slave_status_update_acknowledgement_seconds_count') >= 2);
  t.is(valueOf(agent, 'corral_slave_container_launch_seconds_count'), 1);
});

test('/health is an empty 200 as in Mesos; /ready says whether the master leads and has recovered, and whether the agent is registered', async (t) => {
  const c = await startCluster(t);
  const health = await request(c.url('/health'), { method: 'GET' });
  t.is(health.status, 200);
  t.is(health.text, '');
  t.is((await request(c.agentUrl(0, '/health'), { method: 'GET' })).status, 200);
  const ready = await request(c.url('/master/ready'), { method: 'GET' });
  t.is(ready.status, 200);
  t.deepEqual(ready.json(), { leading: true, recovered: true, leader: null });
  const agentReady = await request(c.agentUrl(0, '/ready'), { method: 'GET' });
  t.is(agentReady.status, 200);
  t.is(agentReady.json().registered, true);
  await c.stopMaster();
  await c.until(async () => (await request(c.agentUrl(0, '/ready'), { method: 'GET' })).status === 503, 10_000, 'the agent to be not ready');
  t.is((await request(c.agentUrl(0, '/ready'), { method: 'GET' })).json().registered, false);
});
