/**
 * corral-containerizer --namespaces: the argument is checked before anything is done (no root
 * needed for that); running in new namespaces is tested as root through the containerizer
 * (test/agent/containerizer/linux.root.test.ts: namespaces/pid, filesystem/shared).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { supervisorPath } from '../../lib/linux/index.ts';
import { Runs, clearLeftoverRuns } from './containerizer_fixture.ts';

const runs = new Runs();
test.before(() => {
  clearLeftoverRuns();
});
test.after.always(() => runs.cleanup());

test('an unknown namespace is refused with exit 125, naming it; nothing is recorded', (t) => {
  const r = runs.fresh();
  const p = spawnSync(supervisorPath(), ['launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, '--namespaces', 'pid,uts', '--', 'true'], {
    encoding: 'utf8',
  });
  t.is(p.status, 125);
  t.regex(p.stderr, /--namespaces: unknown namespace 'uts' \(pid, mount, net\)/);
  t.false(existsSync(join(r.runDir, 'pids')));
});

test('--namespaces is in the usage text', (t) => {
  const p = spawnSync(supervisorPath(), ['--help'], { encoding: 'utf8' });
  t.is(p.status, 0);
  t.regex(p.stdout, /\[--namespaces pid,mount,net\]/);
});
