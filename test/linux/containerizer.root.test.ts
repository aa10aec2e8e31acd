/**
 * corral-containerizer --user: the switch to another user, which needs root.
 */
import anyTest from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { containerizerPath } from '../../lib/linux/index.ts';
import { rootOnly } from '../helpers/root.ts';
import { Runs, clearLeftoverRuns } from './containerizer_fixture.ts';

const test = rootOnly(anyTest);
const runs = new Runs();
let bin: string;

test.before(() => {
  bin = containerizerPath();
  clearLeftoverRuns();
});
test.after.always(() => runs.cleanup());

const nobody = (): { uid: number; gid: number } => {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'));
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
  const p = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', bin, 'launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, '--user', 'nobody', '--', 'true'], {
    encoding: 'utf8',
  });
  if (p.error) return t.fail(`setpriv: ${p.error.message}`);
  t.is(p.status, 125);
  t.regex(p.stderr, /--user nobody: switching user needs root \(running as uid 65534\)/);
});
