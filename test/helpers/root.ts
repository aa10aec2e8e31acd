/**
 * The one rule for tests that need root (real-kernel `*.root.test.ts`, docs/architecture.md §6):
 *   - run as root: the tests run;
 *   - not root, CI unset: every test is registered as skipped (hooks do not run);
 *   - not root, CI=true: every test is registered and fails, saying why, so a CI that lost
 *     its root privileges cannot pass by skipping the kernel tests.
 *
 * Usage, in place of ava's `test`:
 *
 *   import anyTest from 'ava';
 *   import { rootOnly } from '../helpers/root.ts';
 *   const test = rootOnly(anyTest);
 *   test.before(...); test.after.always(...); test('...', (t) => {...}); test.serial(...)
 */
import type { TestFn } from 'ava';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function inCI(): boolean {
  return process.env.CI === 'true';
}

export type RootMode = 'run' | 'skip' | 'fail';

/** What rootOnly does here: 'run' as root, else 'fail' when CI=true, else 'skip'. */
export function rootMode(root: boolean = isRoot(), ci: boolean = inCI()): RootMode {
  if (root) return 'run';
  return ci ? 'fail' : 'skip';
}

export const NOT_ROOT_MESSAGE = 'this test needs root (uid 0); CI=true, so it fails instead of being skipped';

const HOOKS = new Set(['before', 'beforeEach', 'after', 'afterEach']);

/** A hook stand-in that registers nothing, whatever chain (`.always`, `.skip`) is used on it. */
function noopHook(): unknown {
  const fn: (...args: unknown[]) => void = () => {};
  return new Proxy(fn, { get: () => noopHook() });
}

/**
 * `test` itself as root; otherwise a stand-in with the same shape whose tests are skipped
 * (mode 'skip') or fail with NOT_ROOT_MESSAGE (mode 'fail'), and whose hooks never run.
 */
export function rootOnly<Context = unknown>(test: TestFn<Context>, mode: RootMode = rootMode()): TestFn<Context> {
  if (mode === 'run') return test;
  const wrap = (target: Record<string, unknown> & ((...a: unknown[]) => unknown)): unknown =>
    new Proxy(target, {
      apply(_fn, _this, args: unknown[]) {
        const [title, ...rest] = args;
        if (mode === 'skip') return (target.skip as (...a: unknown[]) => void)(title, ...(rest.length ? rest : [() => {}]));
        // A failing test in place of the real one; macros' titles are functions: keep a string.
        const name = typeof title === 'string' ? title : 'root test';
        return target(name, (t: { fail(m: string): void }) => t.fail(NOT_ROOT_MESSAGE));
      },
      get(obj, prop, receiver) {
        if (typeof prop === 'string' && HOOKS.has(prop)) return noopHook();
        if (prop === 'serial' || prop === 'only') return wrap(Reflect.get(obj, prop, receiver) as never);
        return Reflect.get(obj, prop, receiver);
      },
    });
  return wrap(test as never) as TestFn<Context>;
}
