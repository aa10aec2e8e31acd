/**
 * corral-containerizer --user: the switch to another user, which needs root; and the --bind
 * volumes given to that user, where nothing a symlink in the volume points at may be given.
 */
import anyTest from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { supervisorPath } from '../../lib/linux/index.ts';
import { rootOnly } from '../helpers/root.ts';
import { smallTmpfs } from '../helpers/tmpfs.ts';
import { Runs, clearLeftoverRuns } from './containerizer_fixture.ts';

const test = rootOnly(anyTest);
const runs = new Runs();
let bin: string;

test.before(() => {
  bin = supervisorPath();
  clearLeftoverRuns();
});
test.after.always(() => runs.cleanup());

const nobody = (): { uid: number; gid: number } => {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  if (!line) throw new Error('no user nobody in /etc/passwd');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
};

test('--user nobody: the command runs as nobody, with its groups, in a sandbox it owns', (t) => {
  const r = runs.fresh();
  const p = spawnSync(bin, ['launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, '--user', 'nobody', '--', 'sh', '-c', 'id -u; id -g; touch mine']);
  t.is(p.status, 0, String(p.stderr));
  const { uid, gid } = nobody();
  t.is(readFileSync(join(r.sandbox, 'stdout'), 'utf8'), `${uid}\n${gid}\n`);
  t.is(statSync(r.sandbox).uid, uid);
  t.is(statSync(join(r.sandbox, 'stdout')).uid, uid);
  t.is(statSync(join(r.sandbox, 'mine')).uid, uid);
  // The supervisor stays root: its records are root's.
  t.is(statSync(join(r.runDir, 'exit.status')).uid, 0);
});

test('--user with an unknown name: exit 125 and the reason', (t) => {
  const r = runs.fresh();
  const p = spawnSync(bin, ['launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, '--user', 'corral-no-such-user', '--', 'true'], { encoding: 'utf8' });
  t.is(p.status, 125);
  t.regex(p.stderr, /--user corral-no-such-user: no such user/);
});

test('--user when not root: exit 125, "needs root"', (t) => {
  const r = runs.fresh();
  const p = spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', bin, 'launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, '--user', 'nobody', '--', 'true'],
    {
      encoding: 'utf8',
    },
  );
  if (p.error) return t.fail(`setpriv: ${p.error.message}`);
  t.is(p.status, 125);
  t.regex(p.stderr, /--user nobody: switching user needs root \(running as uid 65534\)/);
});

/** A --bind launch as nobody of `vol` (mounted at data in the sandbox), running `true`. */
const launchWithVolume = (vol: string) => {
  const r = runs.fresh();
  return spawnSync(bin, ['launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, '--user', 'nobody', '--bind', `${vol}:data`, '--', 'true'], {
    encoding: 'utf8',
  });
};

test('--bind --user: the volume is given to the user, but not what a symlink in it points at', (t) => {
  const base = runs.fresh().base;
  const vol = join(base, 'volume');
  const outside = join(base, 'outside');
  mkdirSync(join(vol, 'sub'), { recursive: true });
  writeFileSync(join(vol, 'sub', 'mine'), 'x');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'root only');
  symlinkSync(outside, join(vol, 'link'));
  symlinkSync(join(outside, 'secret'), join(vol, 'sub', 'file-link'));
  const p = launchWithVolume(vol);
  t.is(p.status, 0, p.stderr);
  const { uid, gid } = nobody();
  for (const f of ['', 'sub', 'sub/mine', 'link', 'sub/file-link']) {
    const st = lstatSync(join(vol, f));
    t.deepEqual([st.uid, st.gid], [uid, gid], `${f || 'the volume'} is the user's`);
  }
  for (const f of ['', 'secret']) t.is(statSync(join(outside, f)).uid, 0, `outside/${f} is still root's`);
});

// The volume's user can rename inside it from the host while the supervisor walks it: a
// directory swapped for a symlink to a directory of root's must not lead the walk there.
test('--bind --user: a directory swapped for a symlink during the walk gives nothing outside the volume', async (t) => {
  const base = runs.fresh().base;
  const vol = join(base, 'volume');
  const outside = join(base, 'outside');
  const files = 2000;
  mkdirSync(join(vol, 'dir'), { recursive: true });
  mkdirSync(outside);
  for (let i = 0; i < files; i++) {
    writeFileSync(join(vol, 'dir', `f${i}`), '');
    writeFileSync(join(outside, `f${i}`), '');
  }
  symlinkSync(outside, join(vol, 'link'));
  // renameat2(RENAME_EXCHANGE) of dir and link, as fast as it goes (coreutils here has no mv --exchange).
  const src = join(base, 'swap.c');
  writeFileSync(
    src,
    '#define _GNU_SOURCE\n#include <fcntl.h>\n#include <stdio.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n' +
      'int main(int c, char **v) { (void)c; for (;;) if (syscall(SYS_renameat2, AT_FDCWD, v[1], AT_FDCWD, v[2], 2) < 0) { perror("renameat2"); return 1; } }\n',
  );
  const cc = spawnSync('cc', ['-O2', '-o', join(base, 'swap'), src], { encoding: 'utf8' });
  t.is(cc.status, 0, cc.stderr);
  const swapper = spawn(join(base, 'swap'), [join(vol, 'dir'), join(vol, 'link')], { cwd: base, stdio: ['ignore', 'ignore', 'pipe'] });
  let swapErr = '';
  swapper.stderr.on('data', (d: Buffer) => (swapErr += d.toString()));
  const swapperGone = new Promise((resolve) => swapper.on('exit', resolve));
  t.teardown(() => swapper.kill('SIGKILL'));
  const chownedOutside = (): string[] => readdirSync(outside).filter((f) => statSync(join(outside, f)).uid !== 0);
  const end = Date.now() + 3000;
  let launches = 0;
  while (Date.now() < end && chownedOutside().length === 0) {
    chownSync(vol, 0, 0); // the top back to root: the next launch walks the whole tree again
    const p = launchWithVolume(vol);
    t.is(p.status, 0, p.stderr);
    launches++;
  }
  swapper.kill('SIGKILL');
  await swapperGone;
  t.is(swapErr, '', 'the swapper ran throughout');
  t.deepEqual(chownedOutside(), [], `after ${launches} launches nothing outside the volume was given to nobody`);
  t.is(statSync(outside).uid, 0);
  // Still, with nothing racing, the walk gives the user every file of the volume.
  chownSync(vol, 0, 0);
  const p = launchWithVolume(vol);
  t.is(p.status, 0, p.stderr);
  const { uid } = nobody();
  const dir = lstatSync(join(vol, 'dir')).isDirectory() ? join(vol, 'dir') : join(vol, 'link');
  t.deepEqual(
    readdirSync(dir).filter((f) => statSync(join(dir, f)).uid !== uid),
    [],
  );
});

test('a run directory on a full disk: exit 125 before anything runs, saying the exit status has no space', (t) => {
  const dir = smallTmpfs(t, 1);
  const r = runs.fresh();
  const runDir = join(dir, 'run');
  mkdirSync(runDir);
  spawnSync('sh', ['-c', `cat /dev/zero > ${join(dir, 'fill')} 2>/dev/null`]);
  const p = spawnSync(bin, ['launch', '--sandbox', r.sandbox, '--run-dir', runDir, '--', 'touch', 'ran'], { encoding: 'utf8' });
  t.is(p.status, 125);
  t.regex(p.stderr, /reserving space for .*\/exit\.status: write: No space left on device/);
  t.false(existsSync(join(r.sandbox, 'ran')), 'the command never ran');
  t.deepEqual(readdirSync(runDir), ['pids'], 'no record, no temp file left');
});
