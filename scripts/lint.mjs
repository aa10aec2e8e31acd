#!/usr/bin/env node
/**
 * npm run lint: ESLint (eslint.config.js), Prettier's check of the TypeScript and scripts
 * (.prettierrc.json), and clang-format's check of native/ (.clang-format). Exits non-zero when
 * any of them finds something; `npm run format` rewrites what Prettier and clang-format would.
 * `npm test` runs it after the type check.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
export const PRETTIER_FILES = ['lib/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.{mjs,js,ts}', 'bin/**/*.js', 'eslint.config.js'];

function run(what, cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) {
    console.error(`# lint: ${what}: ${r.error.code === 'ENOENT' ? `${cmd} is not installed (Debian: apt-get install clang-format)` : r.error.message}`);
    return false;
  }
  if (r.status !== 0) console.error(`# lint: ${what} found problems (exit ${r.status})`);
  return r.status === 0;
}

function nativeFiles() {
  const r = spawnSync('git', ['ls-files', 'native/*.c', 'native/*.h', 'native/*.cc'], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

const write = process.argv.includes('--write');
const results = write
  ? [run('prettier', bin('prettier'), ['--log-level=warn', '--write', ...PRETTIER_FILES]), run('clang-format', 'clang-format', ['-i', ...nativeFiles()])]
  : [
      run('eslint', bin('eslint'), ['--max-warnings=0', '.']),
      run('prettier', bin('prettier'), ['--log-level=warn', '--check', ...PRETTIER_FILES]),
      run('clang-format', 'clang-format', ['--dry-run', '--Werror', ...nativeFiles()]),
    ];
process.exit(results.every(Boolean) ? 0 : 1);
