/**
 * `corral <args>` as a subprocess from the TypeScript sources (corral_src.ts), with none of the
 * tester's CORRAL_/MESOS_/LIBPROCESS_/SSL_ variables leaking in; `env` adds some on purpose.
 * Resolves with the exit code and the whole output; killed after `timeoutMs`. For a daemon:
 * once its output matches `until`, `whileUp` runs (given the output so far), then it gets SIGTERM.
 * The run rejects (the test fails) when the child shows a crash (crash_guard.ts: an unhandled
 * rejection, a cut timer), or when a daemon that was up exits on its own with a non-zero status.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crashIn } from './crash_guard.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CorralRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
  readonly until?: RegExp;
  readonly whileUp?: (output: string) => Promise<void>;
}

export function runCorral(args: readonly string[], o: RunOptions = {}): Promise<CorralRun> {
  return runNodeScript(join(ROOT, 'test', 'helpers', 'corral_src.ts'), args, o);
}

/** runCorral for another entry script (`node --import tsx <script> <args>`), with the same checks. */
export function runNodeScript(script: string, args: readonly string[], o: RunOptions = {}): Promise<CorralRun> {
  return new Promise((resolve, reject) => {
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CORRAL|MESOS|LIBPROCESS|SSL)_/.test(k))), ...o.env };
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    let up = false;
    let stopping = false;
    const check = () => {
      if (up || !o.until?.test(stdout + stderr)) return;
      up = true;
      void (o.whileUp ?? (async () => {}))(stdout + stderr)
        .catch((e: unknown) => (stderr += `\n[test] ${String(e)}`))
        .finally(() => {
          stopping = true;
          child.kill('SIGTERM');
        });
    };
    child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), check()));
    child.stderr.on('data', (d: Buffer) => ((stderr += d.toString()), check()));
    const timer = setTimeout(() => {
      stopping = true; // a test that timed out fails on its own checks
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const crash = crashIn(stderr) ?? (up && !stopping && code !== 0 ? `it exited on its own with status ${code} while up` : undefined);
      if (crash) reject(new Error(`corral ${args.join(' ')} crashed (exit status ${code}): ${crash}\n--- its stderr (end) ---\n${stderr.slice(-3000)}`));
      else resolve({ code, stdout, stderr });
    });
  });
}
