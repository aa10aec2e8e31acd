/**
 * The swapper (swapper.c), compiled for a test: a process that exchanges a directory and a
 * symlink in a loop, to race whatever resolves a path through them.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./swapper.c', import.meta.url));

export interface Swapper {
  /** The executable, in a directory every user can search (0755): a task of any user can run it. */
  readonly path: string;
  /** Remove it. */
  remove(): void;
}

/** Compile the swapper with the system's C compiler (cc) into a fresh temporary directory. */
export function buildSwapper(): Swapper {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-swapper-`));
  chmodSync(dir, 0o755);
  const path = join(dir, 'swapper');
  try {
    execFileSync('cc', ['-O2', '-o', path, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
