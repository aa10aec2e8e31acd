/**
 * SupervisorContainerizer with LaunchSpec.user: the command runs as that user (needs root).
 */
import anyTest from 'ava';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SupervisorContainerizer } from '../../../lib/agent/containerizer/supervisor_containerizer.ts';
import { parseResourcesText } from '../../../lib/common/resources/index.ts';
import { rootOnly } from '../../helpers/root.ts';
import { Runs, clearLeftoverRuns } from '../../linux/containerizer_fixture.ts';

const test = rootOnly(anyTest);
const runs = new Runs();
const c = new SupervisorContainerizer();

test.before(() => {
  clearLeftoverRuns();
});
test.after.always(() => {
  c.close();
  runs.cleanup();
});

test('user nobody: the command runs as nobody and can write its sandbox', async (t) => {
  const r = runs.fresh();
  const ctr = await c.launch({
    containerId: randomUUID(),
    sandbox: r.sandbox,
    runDir: r.runDir,
    argv: ['/bin/sh', '-c', 'id -un; echo x > file && echo wrote'],
    env: { PATH: '/usr/bin:/bin' },
    user: 'nobody',
    resources: parseResourcesText('cpus:0.1'),
  });
  t.deepEqual(await ctr.termination, { exitCode: 0, status: 0 });
  t.is(readFileSync(join(r.sandbox, 'stdout'), 'utf8'), 'nobody\nwrote\n');
});

test('an unknown user: the launch fails with the reason', async (t) => {
  const r = runs.fresh();
  const e = await t.throwsAsync(
    c.launch({
      containerId: randomUUID(),
      sandbox: r.sandbox,
      runDir: r.runDir,
      argv: ['true'],
      env: {},
      user: 'corral-no-such-user',
      resources: parseResourcesText('cpus:0.1'),
    }),
  );
  t.regex(e?.message ?? '', /--user corral-no-such-user: no such user/);
});
