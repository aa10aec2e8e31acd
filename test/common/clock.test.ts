/**
 * Timers of any length (issue 13 item 4): Node's setTimeout fires a timer longer than 2^31-1 ms
 * (about 24.8 days) after 1 ms, with a TimeoutOverflowWarning. The real clock chains such
 * timers, so a 30-day failover timeout, filter or kill grace waits 30 days.
 */
import test from 'ava';
import { FakeClock, MAX_TIMER_MS, chainedTimer } from '../../lib/common/clock.ts';
import { systemClock } from '../../lib/linux/system_clock.ts';

const DAY_MS = 86_400_000;

test.serial('the system clock does not fire a 30-day timer early, and Node gives no TimeoutOverflowWarning', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  let fired = false;
  const long = systemClock.setTimer(30 * DAY_MS, () => (fired = true));
  t.teardown(() => long.cancel());
  // Node runs due timers in order of their due time: a 30-day timer cut to 1 ms would run
  // before this 30 ms one (a plain ref'd timer: the clock's are unref'd).
  await new Promise((resolve) => setTimeout(resolve, 30));
  t.false(fired, 'the 30-day timer fired within 30 ms');
  // Warnings are emitted on the next tick.
  await new Promise((r) => setImmediate(r));
  t.deepEqual(
    warnings.filter((w) => w === 'TimeoutOverflowWarning'),
    [],
  );
});

test('the system clock still runs short timers, and a cancelled one never', async (t) => {
  let cancelledFired = false;
  const c = systemClock.setTimer(5, () => (cancelledFired = true));
  c.cancel();
  let shortFired = false;
  systemClock.setTimer(5, () => (shortFired = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.false(cancelledFired);
  t.true(shortFired);
});

/** A primitive timer that, like Node's, takes at most `max` ms; driven by a FakeClock. */
function limited(clock: FakeClock, max: number): { set: (ms: number, fn: () => void) => { cancel(): void }; waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    set: (ms, fn) => {
      if (ms > max) throw new Error(`asked for ${ms} ms, more than ${max}`);
      waits.push(ms);
      return clock.setTimer(ms, fn);
    },
  };
}

test('a chained timer longer than the primitive allows waits in pieces and fires once, on time', (t) => {
  const clock = new FakeClock();
  const p = limited(clock, 1000);
  const start = clock.now();
  const firedAt: number[] = [];
  chainedTimer(
    () => clock.now(),
    p.set,
    3500,
    () => firedAt.push(clock.now() - start),
    1000,
  );
  clock.advance(3499);
  t.deepEqual(firedAt, []);
  clock.advance(1);
  t.deepEqual(firedAt, [3500]);
  t.deepEqual(p.waits, [1000, 1000, 1000, 500]);
  clock.advance(10_000);
  t.deepEqual(firedAt, [3500], 'fired once');
});

test('a chained timer cancelled between pieces never fires', (t) => {
  const clock = new FakeClock();
  const p = limited(clock, 1000);
  let fired = false;
  const h = chainedTimer(
    () => clock.now(),
    p.set,
    5000,
    () => (fired = true),
    1000,
  );
  clock.advance(2500);
  h.cancel();
  clock.advance(10_000);
  t.false(fired);
  t.is(clock.pending(), 0);
});

test('a chained timer fires at once for 0, negative or NaN, and never for Infinity', (t) => {
  const clock = new FakeClock();
  const p = limited(clock, MAX_TIMER_MS);
  const fired: string[] = [];
  for (const [name, ms] of [
    ['zero', 0],
    ['negative', -5],
    ['nan', NaN],
    ['infinity', Infinity],
  ] as const) {
    chainedTimer(
      () => clock.now(),
      p.set,
      ms,
      () => fired.push(name),
    );
  }
  clock.advance(0);
  t.deepEqual(fired, ['zero', 'negative', 'nan']);
  clock.advance(1000 * 365 * DAY_MS);
  t.deepEqual(fired, ['zero', 'negative', 'nan']);
});

test('a chained timer whose piece comes back early (a wall clock set back) waits the rest', (t) => {
  const clock = new FakeClock();
  const p = limited(clock, 1000);
  let offset = 0;
  let fired = false;
  chainedTimer(
    () => clock.now() + offset,
    p.set,
    2500,
    () => (fired = true),
    1000,
  );
  clock.advance(1000);
  offset = -500; // the wall clock went back 500 ms
  clock.advance(1500);
  t.false(fired);
  clock.advance(500);
  t.true(fired);
});
