/**
 * corral-containerizer's protocol, run for real: pid record, pid line, sync release (--wait-go),
 * sandbox output files, signals (SIGTERM passed on, SIGUSR2 forces), durable exit records,
 * exec failures, environment, and a container that ends as a whole.
 */
import test from 'ava';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { supervisorPath, readProcStat } from '../../lib/linux/index.ts';
import { Runs, alive, clearLeftoverRuns, until, type RunDirs } from './containerizer_fixture.ts';

const bin = supervisorPath();
const runs = new Runs();

test.before(() => {
  clearLeftoverRuns();
});
test.after.always(() => runs.cleanup());

function args(r: RunDirs, cmd: string[], extra: string[] = []): string[] {
  return ['launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, ...extra, '--', ...cmd];
}

function record(file: string): Record<string, unknown> {
  const text = readFileSync(file, 'utf8');
  if (!text.endsWith('\n') || text.indexOf('\n') !== text.length - 1) throw new Error(`not one line: ${JSON.stringify(text)}`);
  return JSON.parse(text) as Record<string, unknown>;
}
const exitStatus = (r: RunDirs) => record(join(r.runDir, 'exit.status'));
const pidRecord = (r: RunDirs) => record(join(r.runDir, 'pids', 'forked.pid'));
const out = (r: RunDirs, name = 'stdout') => readFileSync(join(r.sandbox, name), 'utf8');
const procCwdIn = (pid: number, dir: string): boolean => {
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return cwd === dir || cwd.startsWith(dir + '/');
  } catch {
    return false;
  }
};

/** Start a supervisor with pipes; resolves with the command's pid from the pid line. */
async function start(
  r: RunDirs,
  cmd: string[],
  extra: string[] = [],
): Promise<{ p: ChildProcessWithoutNullStreams; childPid: number; exited: Promise<number | null> }> {
  const p = spawn(bin, args(r, cmd, extra), { stdio: 'pipe' });
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  let text = '';
  p.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    p.stdout.on('data', (d: string) => {
      text += d;
      if (text.includes('\n')) resolve();
    });
    p.on('close', () => reject(new Error(`supervisor ended before its pid line: ${text}`)));
  });
  const m = /^pid (\d+)\n$/.exec(text);
  if (!m) throw new Error(`bad pid line ${JSON.stringify(text)}`);
  return { p, childPid: Number(m[1]), exited };
}

test('exit 0: pid line, pid record, output in the sandbox, cwd is the sandbox, status recorded', (t) => {
  const r = runs.fresh();
  const p = spawnSync(bin, args(r, ['sh', '-c', 'echo out; echo err >&2; pwd; test ! -t 0 && cat']), { encoding: 'utf8' });
  t.is(p.status, 0, p.stderr);
  t.is(p.stderr, '');
  const s = exitStatus(r);
  t.is(p.stdout, `pid ${s.pid}\n`);
  t.is(out(r), `out\n${realpathSync(r.sandbox)}\n`);
  t.is(out(r, 'stderr'), 'err\n');
  t.deepEqual(s, { pid: s.pid, status: 'exited', code: 0, wstatus: 0 });
  t.true(typeof s.pid === 'number' && s.pid > 0 && s.pid !== p.pid);
  const rec = pidRecord(r);
  t.deepEqual(Object.keys(rec).sort(), ['pid', 'start_time']);
  t.is(rec.pid, p.pid);
  t.true(Number.isInteger(rec.start_time) && (rec.start_time as number) > 0);
  // Only the records we expect: no temp files left behind.
  t.deepEqual(readdirSync(r.runDir).sort(), ['exit.status', 'pids']);
  t.deepEqual(readdirSync(join(r.runDir, 'pids')), ['forked.pid']);
  t.deepEqual(readdirSync(r.sandbox).sort(), ['stderr', 'stdout']);
});

test('the pid record holds the supervisor start time from /proc', async (t) => {
  const r = runs.fresh();
  const { p, exited } = await start(r, ['sleep', '30']);
  const rec = pidRecord(r);
  t.is(rec.pid, p.pid);
  t.is(rec.start_time, readProcStat(p.pid!)?.startTime);
  p.kill('SIGTERM');
  t.is(await exited, 128 + 15);
});

test('exit 3: the code and wait status are recorded, and it is the exit code', (t) => {
  const r = runs.fresh();
  const p = spawnSync(bin, args(r, ['sh', '-c', 'exit 3']));
  t.is(p.status, 3);
  t.like(exitStatus(r), { status: 'exited', code: 3, wstatus: 3 << 8 });
});

test('killed by a signal: recorded as signaled, exit code 128+N', (t) => {
  const r = runs.fresh();
  const p = spawnSync(bin, args(r, ['sh', '-c', 'kill -KILL $$']));
  t.is(p.status, 137);
  const s = exitStatus(r);
  t.deepEqual(s, { pid: s.pid, status: 'signaled', signal: 9, wstatus: 9 });
});

test('--wait-go: the command waits in its own session until "go", then runs; stdout closes', async (t) => {
  const r = runs.fresh();
  const { p, childPid, exited } = await start(r, ['sh', '-c', 'echo ran'], ['--wait-go']);
  await until(() => readProcStat(childPid)?.session === childPid, 5000, 'the setsid');
  const st = readProcStat(childPid)!;
  t.is(st.pgrp, childPid);
  t.is(st.ppid, p.pid!);
  t.is(st.comm, 'corral-containe'); // not exec'd yet
  await sleep(100);
  t.is(out(r), '');
  t.false(existsSync(join(r.runDir, 'exit.status')));
  const stdoutClosed = new Promise((resolve) => p.stdout.on('end', resolve));
  p.stdin.end('go\n');
  await stdoutClosed;
  t.is(await exited, 0);
  t.is(out(r), 'ran\n');
  t.like(exitStatus(r), { pid: childPid, status: 'exited', code: 0 });
});

test('--wait-go: EOF instead of "go" aborts: the command never runs, "aborted" recorded', async (t) => {
  const r = runs.fresh();
  const { p, childPid, exited } = await start(r, ['sh', '-c', 'echo ran'], ['--wait-go']);
  p.stdin.end();
  t.is(await exited, 125);
  t.is(out(r), '');
  t.deepEqual(exitStatus(r), { pid: childPid, status: 'aborted' });
  t.false(alive(childPid));
});

test('--wait-go: another line than "go" aborts too', async (t) => {
  const r = runs.fresh();
  const { p, exited } = await start(r, ['true'], ['--wait-go']);
  p.stdin.end('stop\n');
  t.is(await exited, 125);
  t.like(exitStatus(r), { status: 'aborted' });
});

test('SIGTERM to the supervisor goes to the command; the supervisor survives to record it', async (t) => {
  const r = runs.fresh();
  const { p, exited } = await start(r, ['sh', '-c', 'echo started; exec sleep 30']);
  await until(() => out(r).includes('started'));
  p.kill('SIGTERM');
  t.is(await exited, 128 + 15);
  t.like(exitStatus(r), { status: 'signaled', signal: 15, wstatus: 15 });
});

test('SIGTERM reaches the whole process group: a trap can end the command cleanly', async (t) => {
  const r = runs.fresh();
  const { p, exited } = await start(r, ['sh', '-c', 'trap "echo bye; exit 0" TERM; echo started; while :; do sleep 0.05; done']);
  await until(() => out(r).includes('started'));
  p.kill('SIGTERM');
  t.is(await exited, 0);
  t.like(exitStatus(r), { status: 'exited', code: 0 });
  t.regex(out(r), /bye/);
});

test('SIGUSR2 forces: SIGKILL to a command that ignores SIGTERM', async (t) => {
  const r = runs.fresh();
  const { p, childPid, exited } = await start(r, ['sh', '-c', 'trap "" TERM; echo started; sleep 30']);
  await until(() => out(r).includes('started'));
  p.kill('SIGTERM');
  await sleep(200);
  t.true(alive(childPid));
  t.true(alive(p.pid!));
  p.kill('SIGUSR2');
  t.is(await exited, 128 + 9);
  t.like(exitStatus(r), { status: 'signaled', signal: 9 });
});

test('the container ends as a whole: what the command left behind is killed, also what left its session', async (t) => {
  const r = runs.fresh();
  const script = 'sleep 300 & echo $! > bg.pid; setsid sh -c "echo \\$\\$ > escaped.pid; sleep 301 & exec sleep 302" & sleep 0.2';
  const p = spawnSync(bin, args(r, ['sh', '-c', script]), { encoding: 'utf8' });
  t.is(p.status, 0, p.stderr);
  const bg = Number(readFileSync(join(r.sandbox, 'bg.pid'), 'utf8'));
  const escaped = Number(readFileSync(join(r.sandbox, 'escaped.pid'), 'utf8'));
  t.true(bg > 0 && escaped > 0);
  // Reaped by the supervisor before it recorded the status: gone, not even zombies.
  t.false(existsSync(`/proc/${bg}`) && alive(bg));
  t.false(existsSync(`/proc/${escaped}`) && alive(escaped));
  t.deepEqual(
    readdirSync('/proc').filter((d) => /^\d+$/.test(d) && procCwdIn(Number(d), r.sandbox)),
    [],
  );
});

test('SIGUSR2 also kills what the command left in another session', async (t) => {
  const r = runs.fresh();
  const { p, exited } = await start(r, ['sh', '-c', 'trap "" TERM; setsid sleep 303 & echo $! > escaped.pid; echo started; sleep 60']);
  await until(() => out(r).includes('started'));
  const escaped = Number(readFileSync(join(r.sandbox, 'escaped.pid'), 'utf8'));
  t.true(alive(escaped));
  p.kill('SIGUSR2');
  t.is(await exited, 128 + 9);
  t.false(alive(escaped));
});

test('a command that does not exist: exit 127, recorded as failed with the reason, nothing printed', (t) => {
  const r = runs.fresh();
  const p = spawnSync(bin, args(r, ['corral-no-such-command-xyz']), { encoding: 'utf8' });
  t.is(p.status, 127);
  t.is(p.stderr, '');
  const s = exitStatus(r);
  t.like(s, { status: 'failed', code: 127, wstatus: 127 << 8, error: 'exec corral-no-such-command-xyz: No such file or directory' });
});

test('a command that cannot be executed: exit 126, recorded as failed', (t) => {
  const r = runs.fresh();
  const script = join(r.base, 'not-executable');
  writeFileSync(script, '#!/bin/sh\necho no\n', { mode: 0o644 });
  const p = spawnSync(bin, args(r, [script]));
  t.is(p.status, 126);
  t.like(exitStatus(r), { status: 'failed', code: 126 });
  t.regex(String(exitStatus(r).error), /Permission denied/);
});

test('the command gets the supervisor environment', (t) => {
  const r = runs.fresh();
  const p = spawnSync(bin, args(r, ['sh', '-c', 'echo "$CORRAL_TEST_X|$HOME"']), {
    env: { CORRAL_TEST_X: 'a b=c', PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  t.is(p.status, 0);
  t.is(out(r), 'a b=c|\n');
});

test('output is appended across runs in the same sandbox', (t) => {
  const r = runs.fresh();
  spawnSync(bin, args(r, ['echo', 'one']));
  spawnSync(bin, args(r, ['echo', 'two']));
  t.is(out(r), 'one\ntwo\n');
});

test('bad usage or a missing sandbox: exit 125 and the reason, nothing recorded', (t) => {
  const r = runs.fresh();
  t.is(spawnSync(bin, ['launch', '--sandbox', r.sandbox, '--', 'true']).status, 125);
  t.is(spawnSync(bin, ['launch', '--sandbox', r.sandbox, '--run-dir', r.runDir]).status, 125);
  t.is(spawnSync(bin, ['launch', '--bogus']).status, 125);
  t.is(spawnSync(bin, ['launch', '--sandbox']).status, 125);
  t.is(spawnSync(bin, ['--sandbox', r.sandbox, '--status-file', join(r.runDir, 's'), '--', 'true']).status, 125);
  t.is(spawnSync(bin, []).status, 125);
  const missing = spawnSync(bin, args({ ...r, sandbox: join(r.sandbox, 'nope') }, ['true']), { encoding: 'utf8' });
  t.is(missing.status, 125);
  t.is(missing.stdout, '');
  t.regex(missing.stderr, /open sandbox .*nope: No such file or directory/);
  t.deepEqual(readdirSync(r.runDir), []);
  const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
  t.is(help.status, 0);
  t.regex(help.stdout, /usage: corral-containerizer launch --sandbox DIR --run-dir DIR/);
});
