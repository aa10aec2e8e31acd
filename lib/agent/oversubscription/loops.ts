/**
 * The agent's two oversubscription loops (estimator, QoS), apart from the agent so they can be
 * driven with a fake clock:
 *
 * - estimator: oversubscribable(); total = revocable resources held by executors + the
 *   estimate; sent as UPDATE_OVERSUBSCRIBED when registered and different from the last sent;
 *   next poll after `estimateIntervalMs`. The last total is sent again on every (re-)registration.
 * - QoS: corrections(); each KILL handed to `preempt`; next call `correctionIntervalMs` after
 *   the answer, but never sooner than MIN_CORRECTION_GAP_MS: Mesos's default of 0 with a
 *   controller that answers at once (load) would otherwise spin a core.
 */
import type { Clock, TimerHandle } from '../../common/clock.ts';
import { describeError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { Resources } from '../../common/resources/index.ts';
import type { QoSController, QoSCorrection, ResourceEstimator, ResourceUsage } from './api.ts';

export const MIN_CORRECTION_GAP_MS = 100;

export interface LoopHost {
  usage(): Promise<ResourceUsage>;
  /** Whether the agent is registered (RUNNING) and may talk to the master. */
  readonly registered: boolean;
  sendOversubscribed(total: Resources): void;
  /** Evict an executor; skipped when unknown or not REGISTERING/RUNNING. */
  preempt(frameworkId: string, executorId: string): Promise<void>;
}

export class OversubscriptionLoops {
  private lastSent: Resources = Resources.EMPTY;
  private estimateTimer: TimerHandle | undefined;
  private correctionTimer: TimerHandle | undefined;
  private stopped = true;
  /** The usage of the poll under way: the estimator and the held sum see the same snapshot. */
  private snapshot: Promise<ResourceUsage> | undefined;
  /** Finished estimator polls and correction rounds (tests wait on these). */
  polls = 0;
  rounds = 0;

  constructor(
    private readonly host: LoopHost,
    private readonly estimator: ResourceEstimator,
    private readonly controller: QoSController,
    private readonly opts: { clock: Clock; logger: Logger; estimateIntervalMs: number; correctionIntervalMs: number },
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const usage = () => this.snapshot ?? this.host.usage();
    this.estimator.initialize(usage);
    this.controller.initialize(usage);
    void this.poll();
    void this.correct();
  }

  stop(): void {
    this.stopped = true;
    this.estimateTimer?.cancel();
    this.correctionTimer?.cancel();
  }

  /** The agent (re-)registered: tell the (perhaps new) master what it last computed. */
  registered(): void {
    if (!this.lastSent.isEmpty()) this.host.sendOversubscribed(this.lastSent);
  }

  get lastTotal(): Resources {
    return this.lastSent;
  }

  async poll(): Promise<void> {
    try {
      // One usage snapshot per poll: a task launched meanwhile must not be counted once as held
      // and not subtracted by the estimator (that would send a spurious change and rescind offers).
      this.snapshot = this.host.usage();
      this.snapshot.catch(() => {}); // handled below, after the estimator
      const estimate = await this.estimator.oversubscribable();
      const usage = await this.snapshot;
      let held = Resources.EMPTY;
      for (const e of usage.executors) held = held.plus(e.allocated.revocable());
      const total = held.plus(Resources.of(estimate.toArray().map((r) => ({ ...r, revocable: true }))));
      if (!this.stopped && this.host.registered && !total.equals(this.lastSent)) {
        this.opts.logger.info({ oversubscribed: total.toString() }, 'sending the oversubscribed resources to the master');
        this.host.sendOversubscribed(total);
        this.lastSent = total;
      }
    } catch (e) {
      this.opts.logger.warn({ err: describeError(e) }, 'the resource estimator failed');
    } finally {
      this.snapshot = undefined;
    }
    this.polls++;
    if (!this.stopped) this.estimateTimer = this.opts.clock.setTimer(this.opts.estimateIntervalMs, () => void this.poll());
  }

  async correct(): Promise<void> {
    let corrections: QoSCorrection[] = [];
    try {
      corrections = await this.controller.corrections();
    } catch (e) {
      this.opts.logger.warn({ err: describeError(e) }, 'the QoS controller failed');
    }
    if (this.stopped) return;
    for (const c of corrections) {
      if (c.type !== 'KILL' || !c.kill?.frameworkId || !c.kill.executorId) continue;
      this.opts.logger.info({ frameworkId: c.kill.frameworkId, executorId: c.kill.executorId }, 'QoS correction: evicting the executor');
      await this.host.preempt(c.kill.frameworkId, c.kill.executorId).catch((e) => this.opts.logger.warn({ err: describeError(e) }, 'QoS eviction failed'));
    }
    this.rounds++;
    if (!this.stopped)
      this.correctionTimer = this.opts.clock.setTimer(Math.max(MIN_CORRECTION_GAP_MS, this.opts.correctionIntervalMs), () => void this.correct());
  }
}
