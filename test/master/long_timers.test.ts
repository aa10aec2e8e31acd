/**
 * User-supplied durations of any valid length (issue 13 item 4), on the master with a fake
 * clock: a 30-day failover timeout, 30-day filters, and refuse_seconds values that are not
 * durations (Mesos: negative or out of range → the default 5 s). test/common/clock.test.ts
 * shows the real clock waits that long too.
 */
import test from 'ava';
import { Harness, commandTask, frameworkInfo } from '../helpers/master_harness.ts';

const SECOND = 1000;
const DAY = 86_400_000;

/** Periodic allocation once a day and pings that never time out: a month passes in a few hundred timer runs. */
function start(): Promise<Harness> {
  return Harness.start(undefined, { allocationIntervalMs: DAY, agentPingTimeoutMs: 365 * DAY });
}

test('a framework with a 30-day failover timeout disconnects and keeps its tasks for 30 days, then is removed', async (t) => {
  const h = await start();
  t.teardown(() => h.master.stop());
  const agent = await h.agent();
  const fw = h.framework(frameworkInfo({ failoverTimeout: 30 * 86_400 }));
  h.tick(0);
  const offer = fw.offers()[0]!;
  fw.launch(offer, [commandTask(offer, 't1')]);
  agent.update(fw.id, 't1', 'TASK_RUNNING');
  fw.disconnect();
  const present = (): boolean => h.master.frameworks.has(fw.id) && h.master.frameworks.get(fw.id)!.tasks.has('t1');
  h.tick(5 * SECOND);
  t.true(present(), 'gone a few seconds after the disconnection');
  h.tick(25 * DAY - 5 * SECOND);
  t.true(present(), 'gone after 25 days (past the 24.8 days a Node timer takes)');
  h.tick(5 * DAY - 1);
  t.true(present(), 'gone before 30 days');
  t.is(agent.sink.of('SHUTDOWN_FRAMEWORK').length, 0);
  h.tick(1);
  t.false(h.master.frameworks.has(fw.id), 'still there after 30 days');
  t.deepEqual(
    agent.sink.of('SHUTDOWN_FRAMEWORK').map((m) => m.frameworkId),
    [fw.id],
  );
});

test('failover_timeout: up to about 292 years is a duration; beyond, or infinite, SUBSCRIBE gets an ERROR naming the field', async (t) => {
  const h = await start();
  t.teardown(() => h.master.stop());
  const ok = h.framework(frameworkInfo({ failoverTimeout: 1e9 })); // 31 years
  t.is(ok.sink.of('SUBSCRIBED').length, 1);
  for (const failoverTimeout of [1e300, 1e10, Infinity, NaN, -1]) {
    const bad = h.framework(frameworkInfo({ failoverTimeout }));
    const [e] = bad.sink.events;
    t.is(e?.type, 'ERROR', `failover_timeout ${failoverTimeout}`);
    t.regex((e as { error: { message: string } }).error.message, /^Invalid failover_timeout /);
    t.true(bad.sink.closed);
  }
});

test('DECLINE with refuse_seconds of 30 days filters the agent for 30 days, not 1 ms', async (t) => {
  const h = await start();
  t.teardown(() => h.master.stop());
  const agent = await h.agent();
  const fw = h.framework();
  h.tick(0);
  const offer = fw.offers()[0]!;
  fw.sink.take();
  const declinedAt = h.clock.now();
  fw.call({ type: 'DECLINE', frameworkId: fw.id, decline: { offerIds: [offer.id], filters: { refuseSeconds: 30 * 86_400 } } });
  t.true(h.allocator.hasFilter(fw.id, agent.id, declinedAt + 25 * DAY));
  t.false(h.allocator.hasFilter(fw.id, agent.id, declinedAt + 30 * DAY));
  h.tick(25 * DAY);
  t.is(fw.offers().length, 0, 'offered again within 25 days');
  h.tick(6 * DAY); // the next daily allocation after the filter expired
  t.is(fw.offers().length, 1);
});

test('refuse_seconds that is negative or not a duration (1e308, Infinity, NaN) gets the default 5 s filter; a huge valid one is capped at 365 days', async (t) => {
  const h = await start();
  t.teardown(() => h.master.stop());
  const agent = await h.agent();
  const fw = h.framework();
  const filterFor = (refuseSeconds: number): { at5s: boolean; justBefore5s: boolean; at365d: boolean; justBefore365d: boolean } => {
    fw.call({ type: 'REVIVE', frameworkId: fw.id });
    fw.sink.take();
    h.tick(0);
    const offer = fw.offers()[0]!;
    const now = h.clock.now();
    fw.call({ type: 'DECLINE', frameworkId: fw.id, decline: { offerIds: [offer.id], filters: { refuseSeconds } } });
    return {
      justBefore5s: h.allocator.hasFilter(fw.id, agent.id, now + 5 * SECOND - 1),
      at5s: h.allocator.hasFilter(fw.id, agent.id, now + 5 * SECOND),
      justBefore365d: h.allocator.hasFilter(fw.id, agent.id, now + 365 * DAY - 1),
      at365d: h.allocator.hasFilter(fw.id, agent.id, now + 365 * DAY),
    };
  };
  const defaultFilter = { justBefore5s: true, at5s: false, justBefore365d: false, at365d: false };
  for (const v of [-1, 1e308, Infinity, NaN]) t.deepEqual(filterFor(v), defaultFilter, `refuse_seconds ${v}`);
  t.deepEqual(filterFor(1e9), { justBefore5s: true, at5s: true, justBefore365d: true, at365d: false }, 'refuse_seconds 1e9 (31 years)');
});
