/**
 * Drives the pure allocator: a full allocation run every `intervalMs` (`--allocation_interval`)
 * and, between them, runs over just the agents whose resources changed, batched so that all
 * events of one moment lead to one run.
 */
import type { Clock, TimerHandle } from '../common/clock.ts';
import type { Allocation, HierarchicalAllocator } from './allocator/index.ts';

export class AllocationLoop {
  private periodic: TimerHandle | undefined;
  private soon: TimerHandle | undefined;
  private running = false;
  private pendingScope: 'all' | 'changed' = 'changed';

  constructor(
    private readonly allocator: HierarchicalAllocator,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly deliver: (allocations: Allocation[]) => void,
    /** Told each run's wall time in ms (allocator/mesos/allocation_run_ms). */
    private readonly ran?: (ms: number) => void,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedulePeriodic();
  }

  stop(): void {
    this.running = false;
    this.periodic?.cancel();
    this.soon?.cancel();
    this.periodic = undefined;
    this.soon = undefined;
  }

  /**
   * Something changed: allocate soon. 'changed' looks only at agents whose resources changed
   * (resources recovered, an agent came); 'all' looks at every agent (a framework came, revived
   * or was activated, so agents it was not offered before may now go to it).
   */
  request(scope: 'all' | 'changed' = 'changed'): void {
    if (!this.running) return;
    if (scope === 'all') this.pendingScope = 'all';
    if (this.soon) return;
    this.soon = this.clock.setTimer(0, () => {
      this.soon = undefined;
      const s = this.pendingScope;
      this.pendingScope = 'changed';
      this.run(s);
    });
  }

  /** Run now over every agent (also used by the periodic timer). */
  runNow(): void {
    this.run('all');
  }

  private schedulePeriodic(): void {
    this.periodic = this.clock.setTimer(this.intervalMs, () => {
      if (!this.running) return;
      this.run('all');
      this.schedulePeriodic();
    });
  }

  private run(scope: 'all' | 'changed'): void {
    const t0 = performance.now();
    const allocations = this.allocator.allocate(this.clock.now(), scope);
    this.ran?.(performance.now() - t0);
    if (allocations.length > 0) this.deliver(allocations);
  }
}
