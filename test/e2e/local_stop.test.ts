/**
 * `corral local` stopped with Ctrl-C (SIGINT), as a person stops it: the tasks it ran are
 * killed (the framework hears TASK_KILLED), no task process is left, and the temporary work_dir
 * it made is removed; with --keep_tasks the task is left running, as a daemon agent leaves it.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { runNodeScript } from '../helpers/corral_run.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'corral.js');

let dir: string;
const leftovers: number[] = [];
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'corral-local-stop-'));
});
test.after.always(() => {
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The pids whose command line holds `marker`. */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(marker)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

async function until<T>(what: string, f: () => T | undefined, ms = 30_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const v = f();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Runs `corral local`, a task in it, then Ctrl-C; what was printed and what is left. */
async function runAndInterrupt(name: string, extra: string[]) {
  const tmp = join(dir, name);
  mkdirSync(tmp);
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS|LIBPROCESS|SSL)_/.test(k))), TMPDIR: tmp };
  const local = spawn(process.execPath, [BIN, 'local', '--ip=127.0.0.1', '--port=0', '--quiet', ...extra], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  local.stdout.on('data', (d: Buffer) => (out += d.toString()));
  local.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => local.on('close', (code) => resolve(code)));
  try {
    const master = await until('the cluster', () => /master at http:\/\/([0-9.]+:\d+)/.exec(out)?.[1]);
    const marker = `${Date.now() % 1_000_000}${process.pid}`;
    const task = runNodeScript(BIN, ['execute', `--master=${master}`, `--command=exec sleep ${marker}`], { timeoutMs: 60_000 });
    const pid = await until('the task', () => processesWith(marker)[0]);
    local.kill('SIGINT');
    const code = await exited;
    const framework = await task;
    return { code, out, framework, marker, pid, tmp };
  } finally {
    local.kill('SIGKILL');
  }
}

test('Ctrl-C stops the tasks, tells the framework, and removes the temporary work_dir', async (t) => {
  const r = await runAndInterrupt('default', []);
  t.is(r.code, 0, r.out);
  t.regex(r.out, /Stopping 1 task container\(s\)/);
  t.regex(r.out, /Stopped; removed .*corral-local-/);
  t.deepEqual(processesWith(r.marker), [], 'no task process is left');
  t.regex(r.framework.stdout, /TASK_KILLED/);
  t.deepEqual(
    readdirSync(r.tmp).filter((n) => n.startsWith('corral-local-')),
    [],
  );
});

test('--keep_tasks leaves the task running and the work_dir in place', async (t) => {
  const r = await runAndInterrupt('keep', ['--keep_tasks']);
  leftovers.push(...processesWith(r.marker));
  t.is(r.code, 0, r.out);
  t.notRegex(r.out, /Stopping \d+ task/);
  t.deepEqual(processesWith(r.marker), [r.pid], 'the task still runs');
  t.is(readdirSync(r.tmp).filter((n) => n.startsWith('corral-local-')).length, 1);
});
