/**
 * Counters and gauges with Mesos's metric names. A snapshot is a flat object sorted by name,
 * as `/metrics/snapshot` answers.
 */
export class Metrics {
  private readonly counters = new Map<string, number>();
  private readonly gauges = new Map<string, () => number>();

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

  snapshot(extra: Record<string, number> = {}): Record<string, number> {
    const all: Record<string, number> = { ...extra };
    for (const [k, v] of this.counters) all[k] = v;
    for (const [k, read] of this.gauges) all[k] = read();
    const out: Record<string, number> = {};
    for (const k of Object.keys(all).sort()) out[k] = all[k]!;
    return out;
  }
}
