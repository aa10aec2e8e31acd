/**
 * Time as a dependency. Code that waits or reads the time takes a Clock, so tests drive it with
 * a FakeClock and no sleeps. The real clock (global timers) is lib/linux/system_clock.ts, passed down by lib/cli.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Run `fn` once after `ms` milliseconds. Any length is valid: a timer too long for the
   * platform's timers waits in pieces; Infinity never fires; NaN or a negative one fires at once.
   */
  setTimer(ms: number, fn: () => void): TimerHandle;
}

/** The longest wait Node's timers take (a signed 32-bit count of ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A timer of any length built on one that takes at most `maxMs` (Node's setTimeout fires a
 * longer one after 1 ms): it waits in pieces of at most `maxMs` until `now()` reaches the due
 * time, so a 30-day failover timeout fires after 30 days.
 */
export function chainedTimer(
  now: () => number,
  set: (ms: number, fn: () => void) => TimerHandle,
  ms: number,
  fn: () => void,
  maxMs: number = MAX_TIMER_MS,
): TimerHandle {
  const wait = Number.isNaN(ms) ? 0 : Math.max(0, ms);
  const due = now() + wait;
  let cancelled = false;
  let current: TimerHandle | undefined;
  const arm = (left: number): void => {
    current = set(Math.min(left, maxMs), () => {
      if (cancelled) return;
      const rest = due - now();
      if (rest > 0 && left > maxMs) arm(rest);
      else fn();
    });
  };
  if (wait !== Infinity) arm(wait);
  return {
    cancel: () => {
      cancelled = true;
      current?.cancel();
    },
  };
}

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told to; timers fire in time order during `advance`. */
export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const t: FakeTimer = { at: this.time + (Number.isNaN(ms) ? 0 : Math.max(0, ms)), seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }

  /** Move time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      let next: FakeTimer | undefined;
      for (const t of this.timers) {
        if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (!next) break;
      this.time = Math.max(this.time, next.at);
      next.cancelled = true;
      next.fn();
    }
    this.time = end;
  }

  /** Timers still waiting. */
  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
