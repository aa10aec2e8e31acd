/** The real clock: wall time and global timers (unref'd: timers alone never keep a daemon up). */
import type { Clock, TimerHandle } from '../common/clock.ts';

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms: number, fn: () => void): TimerHandle {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
