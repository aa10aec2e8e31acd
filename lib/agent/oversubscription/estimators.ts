/** Built-in resource estimators: noop (default), fixed, usage. See api.ts for the contract. */
import type { Clock } from '../../common/clock.ts';
import { Resources, parseResourcesText } from '../../common/resources/index.ts';
import type { ExecutorUsage, ResourceEstimator, UsageSource } from './api.ts';

const noUsage: UsageSource = async () => ({ executors: [], total: Resources.EMPTY });

/** Mesos 0.23's noop estimator: no oversubscription, answered at once. */
export class NoopResourceEstimator implements ResourceEstimator {
  initialize(): void {}
  async oversubscribable(): Promise<Resources> {
    return Resources.EMPTY;
  }
}

/**
 * Mesos's `org_apache_mesos_FixedResourceEstimator` (module parameter `resources`, here the
 * flag `--oversubscribed_resources`): the given resources, all revocable, minus the revocable
 * resources executors already hold.
 */
export class FixedResourceEstimator implements ResourceEstimator {
  private usage: UsageSource = noUsage;
  readonly total: Resources;
  constructor(resources: string | Resources) {
    const r = typeof resources === 'string' ? parseResourcesText(resources) : resources;
    this.total = Resources.of(r.toArray().map((x) => ({ ...x, revocable: true })));
  }
  initialize(usage: UsageSource): void {
    this.usage = usage;
  }
  async oversubscribable(): Promise<Resources> {
    const u = await this.usage();
    let held = Resources.EMPTY;
    for (const e of u.executors) held = held.plus(e.allocated.revocable());
    return this.total.minus(held);
  }
}

export interface UsageEstimatorOptions {
  readonly clock: Clock;
  /** Fraction of the measured slack kept back (0.2: offer 80% of what is idle). */
  readonly margin: number;
  /** The estimate is the smallest raw estimate of this many last polls: it shrinks at once, grows slowly. */
  readonly window: number;
}

/**
 * `usage`: what non-revocable containers were given but do not use, from their cgroup
 * statistics. Per non-revocable executor, idle cpus = allocated cpus − the cpu rate since the
 * previous poll ((Δ cpus_user_time_secs + Δ cpus_system_time_secs) / Δ time), never below 0;
 * the first poll of a container counts it as busy. Raw estimate = (Σ idle) × (1 − margin) − the
 * revocable cpus executors already hold, floored at 0 and capped by the agent's total cpus. The
 * answer is the minimum of the last `window` raw estimates, so a short lull does not make offers
 * that a spike then takes back, while new load shrinks the estimate at the next poll. Only cpus
 * are estimated: memory is not compressible (Mesos advises oversubscribing only
 * compressible resources).
 */
export class UsageResourceEstimator implements ResourceEstimator {
  private usage: UsageSource = noUsage;
  private readonly last = new Map<string, { cpuSecs: number; at: number }>();
  private readonly history: number[] = [];
  constructor(private readonly opts: UsageEstimatorOptions) {
    if (!(opts.margin >= 0 && opts.margin < 1)) throw new Error('margin must be in [0, 1)');
    if (!(opts.window >= 1)) throw new Error('window must be at least 1');
  }
  initialize(usage: UsageSource): void {
    this.usage = usage;
  }

  private idleCpus(e: ExecutorUsage, now: number, seen: Set<string>): number {
    const s = e.statistics;
    const allocated = e.allocated.scalar('cpus');
    if (!s || s.cpus_user_time_secs === undefined) return 0;
    const cpuSecs = (s.cpus_user_time_secs ?? 0) + (s.cpus_system_time_secs ?? 0);
    const at = s.timestamp !== undefined ? s.timestamp * 1000 : now;
    seen.add(e.containerId);
    const prev = this.last.get(e.containerId);
    this.last.set(e.containerId, { cpuSecs, at });
    if (!prev || at <= prev.at) return 0;
    const rate = (cpuSecs - prev.cpuSecs) / ((at - prev.at) / 1000);
    return Math.max(0, allocated - Math.max(0, rate));
  }

  async oversubscribable(): Promise<Resources> {
    const u = await this.usage();
    const now = this.opts.clock.now();
    const seen = new Set<string>();
    let idle = 0;
    let revocableHeld = 0;
    for (const e of u.executors) {
      if (e.revocable) revocableHeld += e.allocated.revocable().scalar('cpus');
      else idle += this.idleCpus(e, now, seen);
    }
    for (const id of Array.from(this.last.keys())) if (!seen.has(id)) this.last.delete(id);
    const cap = u.total.nonRevocable().scalar('cpus');
    const raw = Math.max(0, Math.min(cap, idle * (1 - this.opts.margin) - revocableHeld));
    this.history.push(raw);
    while (this.history.length > this.opts.window) this.history.shift();
    // Whole thousandths, as the resource algebra keeps scalars.
    const cpus = Math.floor(Math.min(...this.history) * 1000) / 1000;
    return cpus > 0 ? Resources.of([{ name: 'cpus', type: 'SCALAR', scalar: cpus, role: '*', revocable: true }]) : Resources.EMPTY;
  }
}
