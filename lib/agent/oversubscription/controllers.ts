/** Built-in QoS controllers: noop (default) and load. See api.ts for the contract. */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import type { QoSController, QoSCorrection, UsageSource } from './api.ts';

/** Never answers: no corrections (as Mesos's). */
export class NoopQoSController implements QoSController {
  initialize(): void {}
  corrections(): Promise<QoSCorrection[]> {
    return new Promise(() => {});
  }
}

export interface LoadQoSOptions {
  /** Evict when the 5-minute load average is above this (undefined: not checked). */
  readonly threshold5min?: number;
  /** Evict when the 15-minute load average is above this (undefined: not checked). */
  readonly threshold15min?: number;
  /** [1, 5, 15]-minute load averages; default os.loadavg(). Injectable for tests. */
  readonly loadavg?: () => readonly number[] | Promise<readonly number[]>;
}

/** Load averages from a file in /proc/loadavg's format (`--qos_loadavg_file`, for tests and drills). */
export function loadavgFromFile(path: string): () => Promise<readonly number[]> {
  return async () => {
    const fields = (await readFile(path, 'utf8')).trim().split(/\s+/).slice(0, 3).map(Number);
    if (fields.length < 3 || fields.some((x) => !Number.isFinite(x))) throw new Error(`${path}: not in /proc/loadavg format`);
    return fields;
  };
}

/**
 * Mesos 0.27's `org_apache_mesos_LoadQoSController` (parameters load_threshold_5min and
 * load_threshold_15min; here --qos_load_threshold_5min / _15min): when the 5-minute load is
 * above its threshold or the 15-minute load above its, a KILL for every executor that holds
 * any revocable resource. The 1-minute load is ignored on purpose (too jumpy). Answers at once.
 */
export class LoadQoSController implements QoSController {
  private usage: UsageSource | undefined;
  private readonly loadavg: () => readonly number[] | Promise<readonly number[]>;
  constructor(private readonly opts: LoadQoSOptions) {
    if (opts.threshold5min === undefined && opts.threshold15min === undefined) {
      throw new Error('the load QoS controller needs --qos_load_threshold_5min or --qos_load_threshold_15min');
    }
    this.loadavg = opts.loadavg ?? loadavg;
  }
  initialize(usage: UsageSource): void {
    this.usage = usage;
  }
  async corrections(): Promise<QoSCorrection[]> {
    if (!this.usage) return [];
    const [, l5 = 0, l15 = 0] = await this.loadavg();
    const over =
      (this.opts.threshold5min !== undefined && l5 > this.opts.threshold5min) || (this.opts.threshold15min !== undefined && l15 > this.opts.threshold15min);
    if (!over) return [];
    const u = await this.usage();
    return u.executors.filter((e) => e.revocable).map((e) => ({ type: 'KILL' as const, kill: { frameworkId: e.frameworkId, executorId: e.executorId } }));
  }
}
