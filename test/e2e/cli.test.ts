/**
 * The `corral` command as a subprocess: a bad flag is one line naming it and exit code 2,
 * --version, and `corral execute` against a running cluster exits with the task's exit code.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { startCluster } from '../helpers/cluster.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CORRAL = join(ROOT, 'bin', 'corral.js');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function corral(args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Flags may also come from CORRAL_*/MESOS_* variables: none of ours leak in.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS)_/.test(k)));
    const child = spawn(process.execPath, [CORRAL, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test('corral master --port=abc: exit 2 and one line on stderr naming --port', async (t) => {
  const r = await corral(['master', '--port=abc', '--registry=in_memory']);
  t.is(r.code, 2);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, /--port/);
  t.is(r.stdout, '');
});

test('corral --version', async (t) => {
  const r = await corral(['--version']);
  t.is(r.code, 0);
  t.regex(r.stdout.trim(), /^corral \d+\.\d+\.\d+/);
});

test('corral execute exits with the exit code of its task', async (t) => {
  const c = await startCluster(t);
  const [three, ok] = await Promise.all([
    corral(['execute', `--master=${c.masterAddress}`, '--command=exit 3', '--name=exit-three']),
    corral(['execute', `--master=${c.masterAddress}`, '--command=true', '--name=just-true']),
  ]);
  t.is(three.code, 3, three.stdout + three.stderr);
  t.regex(three.stdout, /TASK_FAILED/);
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.regex(ok.stdout, /TASK_FINISHED/);
  // Both frameworks tore themselves down.
  const state = await c.getJson('/master/state');
  t.is(state.frameworks.length, 0);
  t.is(state.completed_frameworks.length, 2);
});
