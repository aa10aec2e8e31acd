// npm's `install` step. In a package made by `npm pack`, prebuilds/<platform>-<arch>/ holds the
// addon and the supervisor built when it was packed: when that addon loads on this host they are
// copied into build/Release/, where lib/linux/native.ts looks (no toolchain needed). Otherwise (a
// git checkout, another platform or architecture) the native code is built with node-gyp, as
// `npm run build:native` does.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const files = ['corral_native.node', 'corral-containerizer'];

function prebuiltLoads() {
  if (!files.every((f) => existsSync(join(prebuilt, f)))) return false;
  // In a child: a binary that does not load here (another libc, an older Node) must not crash npm.
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(prebuilt, files[0]))})`], { stdio: 'ignore' });
  return r.status === 0;
}

if (prebuiltLoads()) {
  const out = join(root, 'build', 'Release');
  mkdirSync(out, { recursive: true });
  for (const f of files) copyFileSync(join(prebuilt, f), join(out, f));
  chmodSync(join(out, 'corral-containerizer'), 0o755);
  console.log(`corral: using the prebuilt native addon for ${process.platform}-${process.arch}`);
} else {
  if (existsSync(prebuilt)) console.log(`corral: the prebuilt native addon does not load here; building it with node-gyp`);
  const r = spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.error) {
    console.error(`corral: could not run node-gyp (${r.error.message}); install a C/C++ toolchain and node-gyp, then run npm rebuild corral`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}
