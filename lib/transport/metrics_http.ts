/**
 * What every daemon adds to its metrics: Mesos's `system/*` figures (load, cpus, memory) as
 * gauges, the process's figures for Prometheus (CPU time, memory, start time, event-loop delay),
 * the `/metrics` answer in the Prometheus text format, and the HTTP request durations by
 * endpoint and status code (`HttpServer.recordRequestsIn`).
 */
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Metrics, PrometheusSample } from '../common/metrics.ts';
import type { HttpResponse } from './http_types.ts';

/** The timer of HTTP request durations (labels: endpoint, method, code). */
export const HTTP_REQUEST_TIMER = 'http/request_duration_ms';

/** Mesos's system/* gauges: cpus_total, load_1min/5min/15min, mem_total_bytes, mem_free_bytes. */
export function addSystemGauges(metrics: Metrics): void {
  metrics.gauge('system/cpus_total', () => cpus().length);
  metrics.gauge('system/load_1min', () => loadavg()[0]!);
  metrics.gauge('system/load_5min', () => loadavg()[1]!);
  metrics.gauge('system/load_15min', () => loadavg()[2]!);
  metrics.gauge('system/mem_total_bytes', () => totalmem());
  metrics.gauge('system/mem_free_bytes', () => freemem());
}

let loopDelay: ReturnType<typeof monitorEventLoopDelay> | undefined;

/** The process's figures under the names Prometheus's client libraries use. */
export function processSamples(): PrometheusSample[] {
  if (loopDelay === undefined) {
    loopDelay = monitorEventLoopDelay({ resolution: 20 });
    loopDelay.enable();
  }
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const p99 = loopDelay.count > 0 ? loopDelay.percentile(99) / 1e9 : 0;
  const max = loopDelay.count > 0 ? loopDelay.max / 1e9 : 0;
  loopDelay.reset();
  return [
    { name: 'process_cpu_user_seconds_total', type: 'counter', value: cpu.user / 1e6, help: 'User CPU time spent, in seconds' },
    { name: 'process_cpu_system_seconds_total', type: 'counter', value: cpu.system / 1e6, help: 'System CPU time spent, in seconds' },
    { name: 'process_cpu_seconds_total', type: 'counter', value: (cpu.user + cpu.system) / 1e6, help: 'User and system CPU time spent, in seconds' },
    { name: 'process_resident_memory_bytes', type: 'gauge', value: mem.rss, help: 'Resident memory size, in bytes' },
    { name: 'nodejs_heap_used_bytes', type: 'gauge', value: mem.heapUsed, help: 'V8 heap in use, in bytes' },
    { name: 'nodejs_heap_total_bytes', type: 'gauge', value: mem.heapTotal, help: 'V8 heap size, in bytes' },
    {
      name: 'process_start_time_seconds',
      type: 'gauge',
      value: Math.round((Date.now() - process.uptime() * 1000) / 1000),
      help: 'Start time of the process, in seconds since the epoch',
    },
    {
      name: 'nodejs_eventloop_delay_p99_seconds',
      type: 'gauge',
      value: p99,
      help: 'The 99th percentile of the event loop delay since the last scrape, in seconds',
    },
    { name: 'nodejs_eventloop_delay_max_seconds', type: 'gauge', value: max, help: 'The longest event loop delay since the last scrape, in seconds' },
  ];
}

/** `GET /metrics`: the registry, `extra` and the process's figures in the Prometheus text format. */
export function prometheusResponse(metrics: Metrics, extra: Record<string, number>): HttpResponse {
  return {
    status: 200,
    headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' },
    body: metrics.prometheus(extra, processSamples()),
  };
}
