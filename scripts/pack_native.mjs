// `npm pack`'s prepack and postpack steps (see scripts/install_native.mjs for the install side).
//   node scripts/pack_native.mjs prepack: a fresh dist/ (JavaScript and .d.ts from
//     tsconfig.build.json) and the addon and supervisor of build/Release/ copied into
//     prebuilds/<platform>-<arch>/ (a build with the network isolator ships that option);
//   node scripts/pack_native.mjs postpack: prebuilds/ removed, so that an `npm install` in the
//     checkout builds with node-gyp again.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const prebuilds = join(root, 'prebuilds');
const step = process.argv[2];

if (step === 'prepack') {
  const built = join(root, 'build', 'Release');
  const files = ['corral_native.node', 'corral-containerizer'];
  const missing = files.filter((f) => !existsSync(join(built, f)));
  if (missing.length > 0) {
    console.error(`pack: build/Release/ lacks ${missing.join(' and ')}: run npm run build:native first`);
    process.exit(1);
  }
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  rmSync(prebuilds, { recursive: true, force: true });
  const out = join(prebuilds, `${process.platform}-${process.arch}`);
  mkdirSync(out, { recursive: true });
  for (const f of files) copyFileSync(join(built, f), join(out, f));
} else if (step === 'postpack') {
  rmSync(prebuilds, { recursive: true, force: true });
} else {
  console.error('usage: node scripts/pack_native.mjs prepack|postpack');
  process.exit(2);
}
