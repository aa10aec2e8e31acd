#!/usr/bin/env node
/**
 * npm test: the type check (tsc --noEmit), the lint (scripts/lint.mjs), then every ava test (TAP,
 * streamed as it comes). The last line printed is always `N passed, N failed[, N skipped]`,
 * counting ava's tests; a failed type check and a failed lint count as one more failure each. Exit status is non-zero on any failure.
 *
 *   npm test                       everything
 *   npm test -- test/linux/**      only some test files (arguments go to ava)
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);

function run(cmd, args, onLine) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', onLine ? 'pipe' : 'inherit', 'inherit'] });
    if (onLine) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        process.stdout.write(line + '\n');
        onLine(line);
      });
    }
    child.on('error', (e) => {
      console.error(`${cmd}: ${e.message}`);
      resolve(1);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

console.log('# type check: tsc --noEmit');
const tscCode = await run(bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
console.log(tscCode === 0 ? '# type check passed' : `# type check FAILED (tsc exit ${tscCode})`);

console.log('# lint: eslint, prettier --check, clang-format --dry-run');
const lintCode = await run(process.execPath, [join(root, 'scripts', 'lint.mjs')]);
console.log(lintCode === 0 ? '# lint passed' : `# lint FAILED (exit ${lintCode})`);

const counts = { pass: undefined, fail: undefined, skip: 0, todo: 0 };
const avaCode = await run(bin('ava'), ['--tap', ...process.argv.slice(2)], (line) => {
  const m = /^# (pass|fail|skip|todo) (\d+)$/.exec(line);
  if (m) counts[m[1]] = Number(m[2]);
});

const passed = counts.pass ?? 0;
let failed = counts.fail ?? 0;
if (avaCode !== 0 && failed === 0) {
  // ava failed without a failing test (a file that crashed, a timeout, no summary at all).
  console.log(`# ava exited with ${avaCode} and no failing test counted: counted as 1 failure`);
  failed = 1;
}
if (counts.pass === undefined && avaCode === 0) {
  console.log('# ava printed no summary: counted as 1 failure');
  failed += 1;
}
if (tscCode !== 0) failed += 1;
if (lintCode !== 0) failed += 1;
const skipped = counts.skip + counts.todo;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
