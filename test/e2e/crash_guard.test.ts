/**
 * No unhandled rejection goes unnoticed (issue 13 item 3): a daemon that meets one logs it and
 * exits 1, and the helpers that run daemons as children (runCorral, AgentProcess) fail the
 * test; in-process daemons share ava's process, and ava (workerThreads: false, as configured)
 * fails a run whose test file leaves a rejection unhandled.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UNHANDLED_REJECTION } from '../../lib/cli/main.ts';
import { crashIn } from '../helpers/crash_guard.ts';
import { runCorral, runNodeScript } from '../helpers/corral_run.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('a daemon with an unhandled rejection logs it, exits 1, and runCorral fails the test', async (t) => {
  const script = join(ROOT, 'test', 'helpers', 'fixtures', 'rejecting_corral.ts');
  const e = await t.throwsAsync(runNodeScript(script, ['master', '--registry=in_memory', '--ip=127.0.0.1', '--port=0']));
  t.regex(e!.message, /crashed \(exit status 1\)/);
  t.true(e!.message.includes(UNHANDLED_REJECTION), e!.message);
  t.regex(e!.message, /a deliberate rejection nobody handles/);
});

test('a daemon that runs and stops cleanly passes the guard', async (t) => {
  const r = await runCorral(['master', '--registry=in_memory', '--ip=127.0.0.1', '--port=0'], { until: /master started/ });
  t.is(r.code, 0);
});

test("crashIn spots the daemons' log line and Node's own reports, and nothing else", (t) => {
  t.truthy(crashIn(`{"level":"error","msg":"${UNHANDLED_REJECTION}"}`));
  t.truthy(crashIn('(node:123) TimeoutOverflowWarning: 2592000000 does not fit into a 32-bit signed integer.'));
  t.truthy(crashIn('[UnhandledPromiseRejection: This error originated either by throwing inside of an async function'));
  t.is(crashIn('{"level":"warn","msg":"failed to checkpoint"}\n{"level":"info","msg":"agent started"}'), undefined);
});

test('ava (as configured: workerThreads false) fails a test file that leaves a rejection unhandled', (t) => {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-ava-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', ava: { files: ['*.test.mjs'], workerThreads: false } }));
  writeFileSync(
    join(dir, 'rejects.test.mjs'),
    "import test from 'ava';\ntest('passes, but leaves a rejection behind', async (t) => {\n  void Promise.reject(new Error('left unhandled'));\n  await new Promise((r) => setTimeout(r, 50));\n  t.pass();\n});\n",
  );
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), '--tap'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
  t.not(r.status, 0, `ava passed: ${r.stdout}${r.stderr}`);
  // ava reports the rejection as a failure of its own, and the worker's exit status 1.
  t.regex(r.stdout, /^not ok \d+ - Error: left unhandled$/m);
  t.regex(r.stdout, /rejects\.test\.mjs exited with a non-zero exit code: 1/);
});
