/**
 * The real clock: wall time and global timers (unref'd: timers alone never keep a daemon up).
 * The one Clock that is not a fake: the daemons (lib/cli) pass it down, and code that may be
 * given no clock falls back on it.
 */
import { type Clock, type TimerHandle, chainedTimer } from '../common/clock.ts';

function nodeTimer(ms: number, fn: () => void): TimerHandle {
  const t = setTimeout(fn, ms);
  t.unref();
  return { cancel: () => clearTimeout(t) };
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // Node fires a timer longer than 2^31-1 ms after 1 ms: longer ones are chained.
  setTimer: (ms: number, fn: () => void): TimerHandle => chainedTimer(Date.now, nodeTimer, ms, fn),
};
