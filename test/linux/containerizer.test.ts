/**
 * corral-containerizer, run for real: sandbox output files, durable status record, exit code.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { containerizerPath } from '../../lib/linux/index.ts';

const bin = containerizerPath();
const made: string[] = [];

interface Run {
  sandbox: string;
  statusFile: string;
}

function fresh(): Run {
  const base = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-ctr-`));
  made.push(base);
  return { sandbox: base, statusFile: join(base, 'status.json') };
}

function args(r: Run, cmd: string[]): string[] {
  return ['--sandbox', r.sandbox, '--status-file', r.statusFile, '--', ...cmd];
}

function status(r: Run): Record<string, unknown> {
  const text = readFileSync(r.statusFile, 'utf8');
  if (!text.endsWith('\n') || text.indexOf('\n') !== text.length - 1) throw new Error(`not one line: ${JSON.stringify(text)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

test.after.always(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

test('exit 0: output in the sandbox files, cwd is the sandbox, status recorded', (t) => {
  const r = fresh();
  const p = spawnSync(bin, args(r, ['sh', '-c', 'echo out; echo err >&2; pwd; test ! -t 0 && cat']), { encoding: 'utf8' });
  t.is(p.status, 0, p.stderr);
  t.is(p.stdout, '');
  t.is(readFileSync(join(r.sandbox, 'stdout'), 'utf8'), `out\n${realpathSync(r.sandbox)}\n`);
  t.is(readFileSync(join(r.sandbox, 'stderr'), 'utf8'), 'err\n');
  const s = status(r);
  t.is(s.status, 'exited');
  t.is(s.code, 0);
  t.true(typeof s.pid === 'number' && s.pid > 0);
  t.deepEqual(Object.keys(s).sort(), ['code', 'pid', 'status']);
  // Only the records we expect: no temp file left behind.
  t.deepEqual(readdirSync(r.sandbox).sort(), ['status.json', 'stderr', 'stdout']);
});

test('exit 3: the code is recorded and is the exit code', (t) => {
  const r = fresh();
  const p = spawnSync(bin, args(r, ['sh', '-c', 'exit 3']));
  t.is(p.status, 3);
  t.like(status(r), { status: 'exited', code: 3 });
});

test('killed by a signal: recorded as signaled, exit code 128+N', (t) => {
  const r = fresh();
  const p = spawnSync(bin, args(r, ['sh', '-c', 'kill -KILL $$']));
  t.is(p.status, 137);
  const s = status(r);
  t.like(s, { status: 'signaled', signal: 9 });
  t.deepEqual(Object.keys(s).sort(), ['pid', 'signal', 'status']);
});

test('SIGTERM to the supervisor is passed on to the command', async (t) => {
  const r = fresh();
  const p = spawn(bin, args(r, ['sh', '-c', 'echo started; exec sleep 30']), { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 500 && !readFileSync(join(r.sandbox, 'stdout'), { encoding: 'utf8', flag: 'a+' }).includes('started'); i++) {
    await sleep(10);
  }
  p.kill('SIGTERM');
  t.is(await exited, 128 + 15);
  t.like(status(r), { status: 'signaled', signal: 15 });
});

test('a command that does not exist: exit 127, recorded as failed with the reason', (t) => {
  const r = fresh();
  const p = spawnSync(bin, args(r, ['corral-no-such-command-xyz']), { encoding: 'utf8' });
  t.is(p.status, 127);
  t.regex(p.stderr, /exec corral-no-such-command-xyz: No such file or directory/);
  const s = status(r);
  t.like(s, { status: 'failed', code: 127 });
  t.regex(String(s.error), /No such file or directory/);
});

test('output is appended across runs in the same sandbox', (t) => {
  const r = fresh();
  spawnSync(bin, args(r, ['echo', 'one']));
  spawnSync(bin, args(r, ['echo', 'two']));
  t.is(readFileSync(join(r.sandbox, 'stdout'), 'utf8'), 'one\ntwo\n');
});

test('bad usage or a missing sandbox: exit 125, nothing recorded', (t) => {
  const r = fresh();
  t.is(spawnSync(bin, ['--sandbox', r.sandbox, '--', 'true']).status, 125);
  t.is(spawnSync(bin, ['--sandbox', r.sandbox, '--status-file', r.statusFile]).status, 125);
  t.is(spawnSync(bin, ['--bogus']).status, 125);
  const missing = spawnSync(bin, args({ sandbox: join(r.sandbox, 'nope'), statusFile: r.statusFile }, ['true']), {
    encoding: 'utf8',
  });
  t.is(missing.status, 125);
  t.regex(missing.stderr, /open sandbox .*nope: No such file or directory/);
  t.false(existsSync(r.statusFile));
  t.is(spawnSync(bin, ['--help']).status, 0);
});
