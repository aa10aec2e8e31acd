/**
 * A daemon's metrics: counters and gauges with Mesos's names, and timers (durations in ms, kept
 * as a histogram and a window of recent values). Two ways to read them all:
 *
 * - `snapshot(extra)`: a flat object sorted by name, as Mesos's `/metrics/snapshot` answers
 *   (a timer `x_ms` shows as `x_ms` (the last value), `x_ms/count`, `x_ms/min`, `x_ms/max` and
 *   `x_ms/p50` … `x_ms/p9999` over its last 1,000 values);
 * - `prometheus(extra)`: the same numbers in the Prometheus text format (0.0.4): each name
 *   prefixed `corral_`, every character other than a letter, digit or `_` made `_`; counters
 *   typed counter, the rest gauge; a timer `x_ms` a histogram `corral_x_seconds` (in seconds),
 *   with its labels when it has them (such as the HTTP durations by endpoint and code).
 *
 * `extra` holds the figures a daemon computes when asked (gauges of its state).
 */

/** Upper bounds of a timer's histogram buckets, in ms. */
export const DEFAULT_BUCKETS_MS: readonly number[] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000];

/** How many recent values a timer keeps for its percentiles (Mesos keeps a window too). */
const WINDOW = 1000;

class Histogram {
  readonly counts: number[];
  count = 0;
  sum = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.count++;
    this.sum += v;
    for (let i = 0; i < this.buckets.length; i++) {
      if (v <= this.buckets[i]!) {
        this.counts[i]!++;
        break;
      }
    }
  }
}

class Timer {
  readonly byLabels = new Map<string, { labels: Record<string, string>; h: Histogram }>();
  /** The recent values (of all label sets), a ring. */
  readonly recent: number[] = [];
  next = 0;
  last = 0;
  constructor(
    readonly buckets: readonly number[],
    readonly help: string | undefined,
  ) {}
}

export type PrometheusType = 'counter' | 'gauge';

/** A figure outside the registry (process metrics) for `prometheus()`. */
export interface PrometheusSample {
  readonly name: string;
  readonly type: PrometheusType;
  readonly value: number;
  readonly help?: string;
}

export class Metrics {
  private readonly counters = new Map<string, number>();
  private readonly gauges = new Map<string, () => number>();
  private readonly timers = new Map<string, Timer>();

  inc(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  /** Make a counter appear (at 0) before anything has counted it. */
  declare(...names: string[]): void {
    for (const n of names) if (!this.counters.has(n)) this.counters.set(n, 0);
  }

  get(name: string): number {
    return this.counters.get(name) ?? this.gauges.get(name)?.() ?? 0;
  }

  gauge(name: string, read: () => number): void {
    this.gauges.set(name, read);
  }

  /** Make a timer (a name ending in `_ms`) appear before its first value, with its buckets in ms. */
  timer(name: string, o: { buckets?: readonly number[]; help?: string } = {}): void {
    if (!this.timers.has(name)) this.timers.set(name, new Timer(o.buckets ?? DEFAULT_BUCKETS_MS, o.help));
  }

  /** Record a duration of `ms` milliseconds in timer `name` (made on first use), under `labels` if given. */
  observe(name: string, ms: number, labels?: Record<string, string>): void {
    if (!Number.isFinite(ms)) return;
    let t = this.timers.get(name);
    if (!t) this.timers.set(name, (t = new Timer(DEFAULT_BUCKETS_MS, undefined)));
    const key = labels === undefined ? '' : labelText(labels);
    let series = t.byLabels.get(key);
    if (!series) t.byLabels.set(key, (series = { labels: labels ?? {}, h: new Histogram(t.buckets) }));
    series.h.observe(ms);
    t.last = ms;
    if (t.recent.length < WINDOW) t.recent.push(ms);
    else t.recent[t.next] = ms;
    t.next = (t.next + 1) % WINDOW;
  }

  /** A timer's count of values (all label sets), 0 for one never observed. */
  count(name: string): number {
    let n = 0;
    for (const s of this.timers.get(name)?.byLabels.values() ?? []) n += s.h.count;
    return n;
  }

  snapshot(extra: Record<string, number> = {}): Record<string, number> {
    const all: Record<string, number> = { ...extra };
    for (const [k, v] of this.counters) all[k] = v;
    for (const [k, read] of this.gauges) all[k] = read();
    for (const [k, t] of this.timers) {
      if (t.recent.length === 0) continue;
      const sorted = [...t.recent].sort((a, b) => a - b);
      const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
      all[k] = t.last;
      all[`${k}/count`] = this.count(k);
      all[`${k}/min`] = sorted[0]!;
      all[`${k}/max`] = sorted[sorted.length - 1]!;
      for (const [suffix, p] of [
        ['p50', 0.5],
        ['p90', 0.9],
        ['p95', 0.95],
        ['p99', 0.99],
        ['p999', 0.999],
        ['p9999', 0.9999],
      ] as const)
        all[`${k}/${suffix}`] = pct(p);
    }
    const out: Record<string, number> = {};
    for (const k of Object.keys(all).sort()) out[k] = all[k]!;
    return out;
  }

  /** Everything, and `extra`, in the Prometheus text exposition format (version 0.0.4). */
  prometheus(extra: Record<string, number> = {}, samples: readonly PrometheusSample[] = []): string {
    const out: string[] = [];
    const seen = new Set<string>();
    const flat: Record<string, number> = { ...extra };
    for (const [k, v] of this.counters) flat[k] = v;
    for (const [k, read] of this.gauges) flat[k] = read();
    for (const k of Object.keys(flat).sort()) {
      const name = prometheusName(k);
      if (seen.has(name)) continue;
      seen.add(name);
      const type: PrometheusType = this.counters.has(k) ? 'counter' : 'gauge';
      out.push(`# HELP ${name} Mesos metric ${k}`, `# TYPE ${name} ${type}`, `${name} ${numberText(flat[k]!)}`);
    }
    for (const k of [...this.timers.keys()].sort()) {
      const t = this.timers.get(k)!;
      const seconds = k.endsWith('_ms');
      const name = prometheusName(seconds ? `${k.slice(0, -3)}_seconds` : k);
      if (seen.has(name)) continue;
      seen.add(name);
      const scale = seconds ? 1 / 1000 : 1;
      out.push(`# HELP ${name} ${escapeHelp(t.help ?? `Mesos-style timer ${k}`)}`, `# TYPE ${name} histogram`);
      for (const { labels, h } of t.byLabels.values()) {
        let cumulative = 0;
        for (let i = 0; i < h.buckets.length; i++) {
          cumulative += h.counts[i]!;
          out.push(`${name}_bucket${labelText({ ...labels, le: numberText(h.buckets[i]! * scale) })} ${cumulative}`);
        }
        out.push(`${name}_bucket${labelText({ ...labels, le: '+Inf' })} ${h.count}`);
        out.push(`${name}_sum${labelText(labels)} ${numberText(h.sum * scale)}`);
        out.push(`${name}_count${labelText(labels)} ${h.count}`);
      }
    }
    for (const s of samples) {
      if (seen.has(s.name)) continue;
      seen.add(s.name);
      out.push(`# HELP ${s.name} ${escapeHelp(s.help ?? s.name)}`, `# TYPE ${s.name} ${s.type}`, `${s.name} ${numberText(s.value)}`);
    }
    return out.join('\n') + '\n';
  }
}

/** `master/tasks_running` → `corral_master_tasks_running`. */
export function prometheusName(key: string): string {
  return `corral_${key.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

function numberText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k.replace(/[^a-zA-Z0-9_]/g, '_')}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}
