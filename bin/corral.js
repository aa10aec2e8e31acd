#!/usr/bin/env node
// The `corral` command. Runs the compiled build (npm run build) when there is one, else the
// TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/lib/cli/main.js', import.meta.url));
let mod;
if (existsSync(compiled)) {
  mod = await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import('../lib/cli/main.ts');
}
const code = await mod.main(process.argv.slice(2));
if (code >= 0) process.exit(code);
