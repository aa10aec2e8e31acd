/**
 * The Debian package (`npm run package`), installed with dpkg into a scratch root file system
 * (dpkg --root with --force-script-chrootless: the maintainer scripts run here with DPKG_ROOT
 * set, touching nothing outside the scratch root): its files, the corral user, the units, the
 * conffiles; `corral --version`, a master and an agent run from the installed tree with the
 * packaged flag files; an upgrade keeps the configuration and the work dirs; remove keeps them,
 * purge removes them. The units are checked with `systemd-analyze verify` and scored with
 * `systemd-analyze security --offline` (systemd need not be running). Root: useradd and dpkg.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import anyTest from 'ava';
import { runNodeScript } from '../helpers/corral_run.ts';
import { inCI, rootOnly } from '../helpers/root.ts';

const test = rootOnly(anyTest);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PREFIX = 'corral-pkgtest-';

let dir: string;
let deb1: string;
let deb2: string;

/** Scratch directories of an earlier run that crashed (their process is gone). */
function clearLeftovers(): void {
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    if (spawnSync('kill', ['-0', m[1]!]).status !== 0) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

test.before(() => {
  clearLeftovers();
  dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  const pkg = (...a: string[]) =>
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'package.mjs'), `--out=${dir}`, ...a], { cwd: ROOT, encoding: 'utf8' })
      .trim()
      .split('\n')
      .at(-1)!;
  deb1 = pkg('--revision=1');
  // The next version: the same package with its revision raised (dpkg-deb takes it apart and builds it again).
  const unpacked = join(dir, 'unpacked');
  execFileSync('dpkg-deb', ['-R', deb1, unpacked]);
  const control = join(unpacked, 'DEBIAN', 'control');
  writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: (.*)-1$/m, 'Version: $1-2'));
  deb2 = deb1.replace(/-1_([a-z0-9]+)\.deb$/, '-2_$1.deb');
  execFileSync('dpkg-deb', ['--root-owner-group', '-b', unpacked, deb2], { stdio: 'ignore' });
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** An empty root with a dpkg database and the passwd files useradd edits. */
function scratchRoot(name: string): string {
  const r = join(dir, name);
  for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'etc', 'usr/sbin']) mkdirSync(join(r, d), { recursive: true });
  for (const f of ['var/lib/dpkg/status', 'var/lib/dpkg/available']) writeFileSync(join(r, f), '');
  writeFileSync(join(r, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(r, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(r, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(r, 'etc/gshadow'), 'root:*::\n', { mode: 0o640 });
  return r;
}

function dpkg(r: string, ...a: string[]): string {
  // The scratch root has no nodejs, libc6 … packages: the dependencies are the host's.
  const deps = 'nodejs,libc6,libstdc++6,passwd,util-linux';
  return execFileSync('dpkg', [`--root=${r}`, '--force-script-chrootless', `--ignore-depends=${deps}`, ...a], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const read = (r: string, p: string): string => readFileSync(join(r, p), 'utf8');

test('install, run, upgrade, remove and purge the package in a scratch root', async (t) => {
  t.timeout(300_000);
  const r = scratchRoot('root');
  // One package per addon build: this checkout's default build is `corral`, which gives way to `corral-netiso`.
  const fields = execFileSync('dpkg-deb', ['-f', deb1, 'Package', 'Conflicts', 'Replaces', 'Depends', 'Recommends'], { encoding: 'utf8' });
  t.regex(fields, /^Package: corral\nConflicts: corral-netiso\nReplaces: corral-netiso\n/, fields);
  // Node 20 is recommended, not depended on (Debian 12's nodejs is 18).
  t.notRegex(fields, /^Depends:.*nodejs/m);
  t.regex(fields, /^Recommends: nodejs \(>= 20\)/m);
  const wrong = spawnSync(process.execPath, [join(ROOT, 'scripts', 'package.mjs'), `--out=${dir}`, '--variant=netiso'], { cwd: ROOT, encoding: 'utf8' });
  t.not(wrong.status, 0);
  t.regex(wrong.stderr, /--variant=netiso: build\/Release holds the default build \(run npm run build:native:netiso first\)/);
  t.regex(dpkg(r, '-i', deb1), /Setting up corral \(0\.1\.0-1\)/);

  // Files: compiled JavaScript, production dependencies only, the native parts, no sources.
  const lib = join(r, 'usr/lib/corral');
  for (const f of [
    'bin/corral.js',
    'dist/lib/cli/main.js',
    'build/Release/corral_native.node',
    'build/Release/corral-containerizer',
    'node_modules/node-zookeeper-client/package.json',
  ]) {
    t.true(existsSync(join(lib, f)), f);
  }
  for (const f of ['lib', 'test', 'node_modules/ava', 'node_modules/typescript', 'node_modules/tsx', '.git']) t.false(existsSync(join(lib, f)), f);
  t.true((statSync(join(r, 'usr/bin/corral')).mode & 0o111) !== 0);
  t.deepEqual(read(r, 'var/lib/dpkg/info/corral.conffiles').trim().split('\n').sort(), [
    '/etc/corral/agent/README.txt',
    '/etc/corral/agent/ip',
    '/etc/corral/agent/master',
    '/etc/corral/agent/port',
    '/etc/corral/agent/work_dir',
    '/etc/corral/master/README.txt',
    '/etc/corral/master/ip',
    '/etc/corral/master/port',
    '/etc/corral/master/work_dir',
    '/etc/default/corral',
    '/etc/default/corral-agent',
    '/etc/default/corral-master',
  ]);

  // The corral system user, owning the master's state directory.
  const user = read(r, 'etc/passwd')
    .split('\n')
    .find((l) => l.startsWith('corral:'));
  t.truthy(user, read(r, 'etc/passwd'));
  const [, , uid, gid, , home, shell] = user!.split(':');
  t.true(Number(uid) < 1000, 'a system user');
  t.is(home, '/var/lib/corral');
  t.is(shell, '/usr/sbin/nologin');
  const st = statSync(join(r, 'var/lib/corral/master'));
  t.is(st.uid, Number(uid));
  t.is(st.gid, Number(gid));
  t.is(st.mode & 0o777, 0o750);

  // The units: no interpreter path; the master hardened as its own user; the agent root with its cgroups delegated.
  const master = read(r, 'lib/systemd/system/corral-master.service');
  const agent = read(r, 'lib/systemd/system/corral-agent.service');
  for (const u of [master, agent]) t.notRegex(u, /\/usr\/bin\/node|\/opt\/corral/);
  t.regex(master, /^ExecStart=\/usr\/bin\/corral master --config_dir=\/etc\/corral\/master$/m);
  for (const line of [
    'User=corral',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'CapabilityBoundingSet=',
    'StateDirectory=corral/master',
  ])
    t.true(master.split('\n').includes(line), line);
  t.regex(agent, /^ExecStart=\/usr\/bin\/corral agent --config_dir=\/etc\/corral\/agent$/m);
  for (const line of ['User=root', 'Delegate=yes', 'KillMode=process']) t.true(agent.split('\n').includes(line), line);

  // `corral --version` from the installed tree, through /usr/bin/corral and the Node it finds.
  const env = { ...process.env, CORRAL_HOME: lib, CORRAL_NODE: process.execPath };
  t.regex(execFileSync(join(r, 'usr/bin/corral'), ['--version'], { env, encoding: 'utf8' }).trim(), /^corral 0\.1\.0 \(Mesos API \d+\.\d+\.\d+\)$/);
  const noNode = spawnSync('/bin/sh', [join(r, 'usr/bin/corral'), '--version'], { env: { CORRAL_HOME: lib, PATH: '/nonexistent' }, encoding: 'utf8' });
  t.is(noNode.status, 2);
  t.regex(noNode.stderr, /no Node\.js found .*CORRAL_NODE/);

  // `corral doctor` from the installed tree finds the packaged addon and supervisor.
  const doc = spawnSync(join(r, 'usr/bin/corral'), ['doctor'], { env, encoding: 'utf8' });
  t.regex(doc.stdout, new RegExp(`^OK +native addon: ${lib}/build/Release/corral_native\\.node loads`, 'm'), doc.stdout + doc.stderr);
  t.regex(doc.stdout, new RegExp(`^OK +supervisor: ${lib}/build/Release/corral-containerizer runs$`, 'm'));

  // A master and an agent from the installed tree with the packaged flag files (work dirs and
  // ports moved aside: this host may be running other things on 5050).
  const installed = join(lib, 'bin', 'corral.js');
  let port = '';
  await runNodeScript(installed, ['master', `--config_dir=${r}/etc/corral/master`, `--work_dir=${dir}/master`, '--port=0'], {
    until: /master started/,
    timeoutMs: 60_000,
    whileUp: async (out) => {
      port = /"port":(\d+)/.exec(out)![1]!;
      const a = await runNodeScript(
        installed,
        ['agent', `--config_dir=${r}/etc/corral/agent`, `--master=127.0.0.1:${port}`, `--work_dir=${dir}/agent`, '--port=0'],
        {
          until: /registered with the master/,
          timeoutMs: 60_000,
        },
      );
      t.regex(a.stderr, /registered with the master/);
    },
  });
  t.not(port, '');

  // systemd's own checks of the units (systemd need not run: verify against the host's unit
  // directory copied into a second root, security offline).
  if (!existsSync('/usr/bin/systemd-analyze')) {
    if (inCI()) t.fail('systemd-analyze is missing: install the systemd package (README, .ci/run)');
    else t.log('systemd-analyze is missing (the systemd package): the units are not verified');
  } else {
    const v = join(dir, 'verify');
    cpSync(r, v, { recursive: true });
    cpSync('/lib/systemd/system', join(v, 'lib/systemd/system'), { recursive: true, force: false });
    const verify = spawnSync(
      'systemd-analyze',
      ['verify', `--root=${v}`, '/lib/systemd/system/corral-master.service', '/lib/systemd/system/corral-agent.service'],
      {
        encoding: 'utf8',
      },
    );
    t.is(verify.status, 0, verify.stdout + verify.stderr);
    const score = (unit: string): number => {
      const out = spawnSync('systemd-analyze', ['security', '--offline=true', join(r, 'lib/systemd/system', unit)], { encoding: 'utf8' }).stdout;
      return Number(/Overall exposure level for \S+: ([0-9.]+)/.exec(out)?.[1]);
    };
    const m = score('corral-master.service');
    const a = score('corral-agent.service');
    t.log(`systemd-analyze security: corral-master ${m}, corral-agent ${a}`);
    t.true(m <= 2, `master exposure ${m}`);
    t.true(a < 9.6, `agent exposure ${a}`);
  }

  // Upgrade: the operator's edits and the work dirs stay.
  writeFileSync(join(r, 'etc/corral/agent/master'), 'zk://10.0.0.1:2181/corral\n');
  writeFileSync(join(r, 'var/lib/corral/agent/marker'), 'state\n');
  t.regex(dpkg(r, '-i', deb2), /Unpacking corral \(0\.1\.0-2\) over \(0\.1\.0-1\)/);
  t.regex(dpkg(r, '-s', 'corral'), /^Version: 0\.1\.0-2$/m);
  t.is(read(r, 'etc/corral/agent/master'), 'zk://10.0.0.1:2181/corral\n');
  t.true(existsSync(join(r, 'var/lib/corral/agent/marker')));
  t.is(
    read(r, 'etc/passwd')
      .split('\n')
      .filter((l) => l.startsWith('corral:')).length,
    1,
    'the user is not made twice',
  );

  // Remove: the program goes; the configuration and the state stay.
  dpkg(r, '-r', 'corral');
  t.false(existsSync(join(r, 'usr/bin/corral')));
  t.false(existsSync(lib));
  t.true(existsSync(join(r, 'etc/corral/agent/master')));
  t.true(existsSync(join(r, 'var/lib/corral/agent/marker')));

  // Purge: they go too; the system user stays (Debian leaves system users).
  dpkg(r, '-P', 'corral');
  t.false(existsSync(join(r, 'etc/corral')));
  t.false(existsSync(join(r, 'etc/default/corral')));
  t.false(existsSync(join(r, 'var/lib/corral')));
  t.false(existsSync(join(r, 'lib/systemd/system/corral-agent.service')));
  t.regex(read(r, 'etc/passwd'), /^corral:/m);
});
