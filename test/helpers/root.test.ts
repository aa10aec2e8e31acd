/**
 * The root-test rule itself, against a stand-in for ava's `test` that records registrations.
 */
import test from 'ava';
import type { TestFn } from 'ava';
import { NOT_ROOT_MESSAGE, rootMode, rootOnly } from './root.ts';

interface Recorded {
  kind: string;
  title: unknown;
  impl?: (t: unknown) => unknown;
}

function fakeTest(): { fn: TestFn; calls: Recorded[] } {
  const calls: Recorded[] = [];
  const reg = (kind: string) => (title: unknown, impl?: (t: unknown) => unknown) => void calls.push({ kind, title, impl });
  const hook = (kind: string) => Object.assign(reg(kind), { always: reg(`${kind}.always`), skip: reg(`${kind}.skip`) });
  const fn = Object.assign(reg('test'), {
    skip: reg('skip'),
    serial: Object.assign(reg('serial'), { skip: reg('serial.skip') }),
    before: hook('before'),
    after: hook('after'),
    beforeEach: hook('beforeEach'),
    afterEach: hook('afterEach'),
  });
  return { fn: fn as unknown as TestFn, calls };
}

test('rootMode: root runs; off-root skips, or fails when CI=true', (t) => {
  t.is(rootMode(true, false), 'run');
  t.is(rootMode(true, true), 'run');
  t.is(rootMode(false, false), 'skip');
  t.is(rootMode(false, true), 'fail');
});

test('run: the real test function, untouched', (t) => {
  const { fn } = fakeTest();
  t.is(rootOnly(fn, 'run'), fn);
});

test('skip: tests are registered as skipped, hooks never run', (t) => {
  const { fn, calls } = fakeTest();
  const rt = rootOnly(fn, 'skip');
  rt.before(() => t.fail('hook ran'));
  rt.after.always(() => t.fail('hook ran'));
  rt('a', (tt) => tt.pass());
  rt.serial('b', (tt) => tt.pass());
  t.deepEqual(
    calls.map((c) => [c.kind, c.title]),
    [
      ['skip', 'a'],
      ['serial.skip', 'b'],
    ],
  );
});

test('fail: every test is registered and fails with the reason; hooks never run', (t) => {
  const { fn, calls } = fakeTest();
  const rt = rootOnly(fn, 'fail');
  rt.before(() => t.fail('hook ran'));
  rt.afterEach.always(() => t.fail('hook ran'));
  rt('a', () => t.fail('real body ran'));
  rt.serial('b', () => t.fail('real body ran'));
  t.deepEqual(
    calls.map((c) => [c.kind, c.title]),
    [
      ['test', 'a'],
      ['serial', 'b'],
    ],
  );
  const failures: string[] = [];
  for (const c of calls) c.impl?.({ fail: (m: string) => failures.push(m) });
  t.deepEqual(failures, [NOT_ROOT_MESSAGE, NOT_ROOT_MESSAGE]);
});
