#!/usr/bin/env node
// The `corral` command. Runs the compiled build (npm run build) when there is one that is not
// older than the sources, else the TypeScript sources through tsx (a stale build after a
// `git pull` would otherwise run old code).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/lib/cli/main.js', import.meta.url));
const sources = fileURLToPath(new URL('../lib', import.meta.url));

/** The newest modification time of a .ts file below `dir` (0 if there is none). */
function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

let mod;
if (existsSync(compiled) && (!existsSync(sources) || statSync(compiled).mtimeMs >= newestSource(sources))) {
  mod = await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import('../lib/cli/main.ts');
}
const code = await mod.main(process.argv.slice(2));
if (code >= 0) process.exit(code);
