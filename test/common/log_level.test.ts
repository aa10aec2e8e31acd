/** The log level the operator API changes: DEBUG records pass only while it is raised, and it goes back by itself. */
import test from 'ava';
import { levelGate } from '../../lib/common/log_level.ts';
import { recordingLogger } from '../../lib/common/log.ts';
import { FakeClock } from '../../lib/common/clock.ts';

test('level 1 lets DEBUG through for its duration, then the daemon level is back; children share it', (t) => {
  const clock = new FakeClock();
  const base = recordingLogger();
  const { logger, control } = levelGate(base, 'info', clock);
  const child = logger.child({ component: 'x' });
  logger.debug('hidden');
  child.info('shown');
  t.is(control.level(), 0);
  control.set(1, 10_000);
  t.is(control.level(), 1);
  child.debug('now shown');
  clock.advance(10_000);
  t.is(control.level(), 0);
  logger.debug('hidden again');
  const msgs = base.records.map((r) => r.msg);
  t.true(msgs.includes('shown'));
  t.true(msgs.includes('now shown'));
  t.false(msgs.includes('hidden'));
  t.false(msgs.includes('hidden again'));
  t.true(msgs.some((m) => m.startsWith('logging level set to 1 for 10 seconds')));
  t.true(msgs.includes('logging level reverted to 0'));
});

test('--logging_level=WARNING: INFO stays out at level 0', (t) => {
  const base = recordingLogger();
  const { logger } = levelGate(base, 'warn', new FakeClock());
  logger.info('no');
  logger.warn('yes');
  t.deepEqual(
    base.records.map((r) => r.msg),
    ['yes'],
  );
});
