#!/usr/bin/env node
/**
 * `npm run package [-- --revision=N --out=DIR]`: the Debian package of Corral, built with
 * dpkg-deb. It holds the compiled JavaScript (npm run build), the production dependencies from
 * node_modules, the native addon and corral-containerizer as built here (build/Release: the
 * default build, or the network-isolator one after `npm run build:native:netiso`), /usr/bin/corral,
 * the systemd units and /etc/corral with its defaults (conffiles). The host it is installed on
 * needs neither a compiler nor the npm registry: only Node.js 20+ (Debian's nodejs package).
 * Prints the path of the .deb.
 *
 * One package per addon build, named after it: `corral` holds the default build, `corral-netiso`
 * the network-isolator one (`npm run build:native:netiso` first). Each Provides, Conflicts with
 * and Replaces the other, so installing one over the other switches builds in place (the
 * configuration and the work dirs stay; running tasks survive as in an upgrade). The build is
 * read from the addon itself (its `features.networkIsolator`); `--variant=default|netiso` makes a
 * mismatch an error instead.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PKG = join(ROOT, 'packaging', 'deb');
const args = Object.fromEntries(process.argv.slice(2).map((a) => /^--([^=]+)=(.*)$/.exec(a)?.slice(1) ?? [a, 'true']));
const revision = args.revision ?? '1';
const out = args.out ?? join(ROOT, 'dist', 'deb');
if (!/^[0-9][0-9a-z.+~]*$/.test(revision)) throw new Error(`--revision=${revision}: not a Debian revision`);

const run = (cmd, argv, o = {}) => execFileSync(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...o });

const version = `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}-${revision}`;
const arch = run('dpkg', ['--print-architecture']).trim();
for (const f of ['corral_native.node', 'corral-containerizer']) {
  if (!existsSync(join(ROOT, 'build', 'Release', f))) throw new Error(`build/Release/${f} is missing: run npm run build:native first`);
}
// Which addon build is in build/Release: it names the package.
const built = createRequire(import.meta.url)(join(ROOT, 'build', 'Release', 'corral_native.node')).features?.networkIsolator ? 'netiso' : 'default';
if (args.variant !== undefined && args.variant !== built) {
  throw new Error(
    `--variant=${args.variant}: build/Release holds the ${built} build (run npm run build:native${args.variant === 'netiso' ? ':netiso' : ''} first)`,
  );
}
const name = built === 'netiso' ? 'corral-netiso' : 'corral';
const other = built === 'netiso' ? 'corral' : 'corral-netiso';
const stage = mkdtempSync(join(tmpdir(), 'corral-package-'));
try {
  // Compiled into the staging directory, not dist/: bin/corral.js in this checkout runs dist/
  // when it is newer than the sources, and must never see one half written.
  const js = join(stage, 'js');
  run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', js, '--sourceMap', 'false'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const root = join(stage, 'root');
  const lib = join(root, 'usr', 'lib', 'corral');
  mkdirSync(join(lib, 'bin'), { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(lib, 'package.json'));
  copyFileSync(join(ROOT, 'binding.gyp'), join(lib, 'binding.gyp')); // how lib/linux/native.ts finds build/Release
  copyFileSync(join(ROOT, 'bin', 'corral.js'), join(lib, 'bin', 'corral.js'));
  cpSync(join(js, 'lib'), join(lib, 'dist', 'lib'), { recursive: true });
  mkdirSync(join(lib, 'build', 'Release'), { recursive: true });
  for (const f of ['corral_native.node', 'corral-containerizer']) copyFileSync(join(ROOT, 'build', 'Release', f), join(lib, 'build', 'Release', f));
  // The production dependencies, as Node resolves them from here: package.json's
  // `dependencies`, then theirs, each found in the nearest node_modules (nested first).
  const copied = new Set();
  const visit = (name, from) => {
    for (let d = from; ; d = dirname(d)) {
      const dep = join(d, 'node_modules', name);
      if (existsSync(join(dep, 'package.json'))) {
        if (copied.has(dep)) return;
        copied.add(dep);
        cpSync(dep, join(lib, relative(ROOT, dep)), { recursive: true, dereference: true, filter: (src) => !src.startsWith(join(dep, 'node_modules')) });
        const pj = JSON.parse(readFileSync(join(dep, 'package.json'), 'utf8'));
        for (const n of Object.keys(pj.dependencies ?? {})) visit(n, dep);
        for (const n of Object.keys(pj.optionalDependencies ?? {}))
          if (existsSync(join(ROOT, 'node_modules', n)) || existsSync(join(dep, 'node_modules', n))) visit(n, dep);
        return;
      }
      if (d === ROOT) throw new Error(`the dependency ${name} (of ${relative(ROOT, from) || 'corral'}) is not installed: run npm install`);
    }
  };
  for (const n of Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies ?? {})) visit(n, ROOT);
  // /usr/bin/corral, the units, /etc, the docs.
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  copyFileSync(join(PKG, 'corral.sh'), join(root, 'usr', 'bin', 'corral'));
  chmodSync(join(root, 'usr', 'bin', 'corral'), 0o755);
  mkdirSync(join(root, 'lib', 'systemd', 'system'), { recursive: true });
  for (const u of ['corral-master.service', 'corral-agent.service']) copyFileSync(join(PKG, u), join(root, 'lib', 'systemd', 'system', u));
  cpSync(join(PKG, 'etc'), join(root, 'etc'), { recursive: true });
  const doc = join(root, 'usr', 'share', 'doc', 'corral');
  mkdirSync(doc, { recursive: true });
  copyFileSync(join(ROOT, 'README.md'), join(doc, 'README.md'));
  copyFileSync(join(ROOT, 'LICENSE'), join(doc, 'copyright'));

  // DEBIAN/: control, conffiles (everything under /etc), the maintainer scripts.
  const debian = join(root, 'DEBIAN');
  mkdirSync(debian);
  const files = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
  writeFileSync(
    join(debian, 'conffiles'),
    files(join(root, 'etc'))
      .map((f) => '/' + relative(root, f))
      .sort()
      .join('\n') + '\n',
  );
  const kib = files(root).reduce((n, f) => n + Math.ceil(statSync(f).size / 1024), 0);
  writeFileSync(
    join(debian, 'control'),
    [
      `Package: ${name}`,
      // One build installed at a time; either satisfies a dependency on corral.
      ...(name === 'corral' ? [] : ['Provides: corral']),
      `Conflicts: ${other}`,
      `Replaces: ${other}`,
      `Version: ${version}`,
      `Architecture: ${arch}`,
      'Maintainer: Corral developers <corral@localhost>',
      'Section: admin',
      'Priority: optional',
      `Installed-Size: ${kib}`,
      // Node.js 20+ is recommended, not a dependency: Debian 12's nodejs is 18, and a hard
      // dependency would refuse the package there even with a Node 20 installed another way
      // (NodeSource's nodejs package satisfies the recommendation; a tarball is named with
      // CORRAL_NODE in /etc/default/corral: README, Installing). /usr/bin/corral refuses a Node
      // older than 20 with one line saying so, and postinst warns when it finds none.
      'Depends: libc6 (>= 2.34), libstdc++6, passwd, util-linux',
      'Recommends: nodejs (>= 20), iproute2, tar, gzip, bzip2, xz-utils, unzip',
      'Suggests: zookeeper',
      'Description: cluster resource manager compatible with the Mesos v1 HTTP APIs',
      ' Corral is a master and an agent that do what Apache Mesos does and speak its v1',
      ' HTTP APIs. This package holds both, with systemd units (corral-master,',
      ' corral-agent) and their flag files in /etc/corral.',
      ...(built === 'netiso'
        ? [' .', ' This build has the network isolator (network/port_mapping) compiled in.']
        : [' .', ' The default build: corral-netiso is the one with the network isolator.']),
      '',
    ].join('\n'),
  );
  for (const s of ['postinst', 'prerm', 'postrm']) {
    copyFileSync(join(PKG, s), join(debian, s));
    chmodSync(join(debian, s), 0o755);
  }
  mkdirSync(out, { recursive: true });
  const deb = join(out, `${name}_${version}_${arch}.deb`);
  rmSync(deb, { force: true });
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
  console.log(deb);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
