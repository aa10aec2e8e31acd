#!/usr/bin/env node
/**
 * npm run bench: run every bench/*.bench.ts in turn (through tsx, with --expose-gc), printing
 * what each prints. Extra arguments go to every benchmark (`npm run bench -- --quick`).
 * Exit status is non-zero if any benchmark failed; with no benchmarks it says so and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'bench');
const benches = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith('.bench.ts'))
      .sort()
  : [];

if (benches.length === 0) {
  console.log('no benchmarks: bench/ has no *.bench.ts files');
  process.exit(0);
}

const failed = [];
for (const file of benches) {
  console.log(`\n=== bench/${file}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join('bench', file), ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    console.log(`=== bench/${file} FAILED (${r.error?.message ?? (r.signal ? `signal ${r.signal}` : `exit ${r.status}`)})`);
    failed.push(file);
  }
}
console.log(`\n${benches.length - failed.length} of ${benches.length} benchmarks ran${failed.length ? `; failed: ${failed.join(', ')}` : ''}`);
process.exit(failed.length ? 1 : 0);
