/**
 * The resident spawner of supervisors (lib/linux/supervisor_spawner.ts,
 * native/containerizer/spawner.c) under SupervisorContainerizer, with real processes: one
 * spawner for many launches and the parent of their supervisors; the agent's stop ends it; and
 * when it dies, a launch in flight fails clearly (its command never runs), a running container
 * is still seen to end, and the next launch starts a new spawner.
 */
import anyTest, { type TestFn } from 'ava';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SupervisorContainerizer } from '../../../lib/agent/containerizer/supervisor_containerizer.ts';
import type { LaunchSpec } from '../../../lib/agent/containerizer/containerizer.ts';
import type { Isolator } from '../../../lib/agent/containerizer/isolator.ts';
import { isCorralError } from '../../../lib/common/errors.ts';
import { parseResourcesText } from '../../../lib/common/resources/index.ts';
import { readExitRecord, readProcStat } from '../../../lib/linux/index.ts';
import { Runs, alive, clearLeftoverRuns, until, type RunDirs } from '../../linux/containerizer_fixture.ts';

const test = anyTest as TestFn;
const runs = new Runs();
const containerizers: SupervisorContainerizer[] = [];

test.before(() => {
  clearLeftoverRuns();
});
test.after.always(async () => {
  for (const c of containerizers) {
    c.close();
    await c.closeIsolators();
  }
  runs.cleanup();
});

function containerizer(opts: ConstructorParameters<typeof SupervisorContainerizer>[0] = {}): SupervisorContainerizer {
  const c = new SupervisorContainerizer(opts);
  containerizers.push(c);
  return c;
}

const PATH = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';

function spec(r: RunDirs, argv: string[]): LaunchSpec {
  return { containerId: randomUUID(), sandbox: r.sandbox, runDir: r.runDir, argv, env: { PATH }, resources: parseResourcesText('cpus:0.5;mem:32') };
}

const sh = (script: string): string[] => ['/bin/sh', '-c', script];

test('one spawner starts every supervisor and is their parent; closeIsolators ends it and leaves no process', async (t) => {
  const c = containerizer();
  t.is(c.spawner.pid, undefined, 'not started before the first launch');
  const rs = [runs.fresh(), runs.fresh(), runs.fresh()];
  const ctrs = await Promise.all(rs.map((r) => c.launch(spec(r, sh('echo started; read x < /dev/null; sleep 30')))));
  const spawnerPid = c.spawner.pid!;
  t.true(spawnerPid > 0 && alive(spawnerPid));
  for (const ctr of ctrs) t.is(readProcStat(ctr.pid)?.ppid, spawnerPid, 'the supervisor is the spawner child');
  t.not(spawnerPid, process.pid);
  // The supervisors are in sessions of their own, as before.
  for (const ctr of ctrs) t.is(readProcStat(ctr.pid)?.session, ctr.pid);
  await Promise.all(ctrs.map((ctr) => c.kill(ctr.containerId, 0)));
  const ends = await Promise.all(ctrs.map((ctr) => ctr.termination));
  for (const e of ends) t.true(e.killed);
  await c.closeIsolators();
  t.false(alive(spawnerPid), 'the spawner is gone after the stop');
  for (const ctr of ctrs) t.false(alive(ctr.pid));
});

test('the spawner killed while a launch waits for its release: the launch fails naming the spawner, the command never runs, nothing is left', async (t) => {
  const lost: { how: string; inFlight: number }[] = [];
  let killSpawner: (() => void) | undefined;
  const killer: Isolator = {
    name: 'test/kill-spawner',
    isolate: async () => {
      killSpawner?.();
      await new Promise((r) => setTimeout(r, 200)); // the spawner's end is seen meanwhile
    },
  };
  const c = containerizer({ isolators: [killer], onSpawnerLost: (how, inFlight) => lost.push({ how, inFlight }) });
  // A first launch starts the spawner.
  const warm = await c.launch(spec(runs.fresh(), ['true']));
  t.is((await warm.termination).exitCode, 0);
  const first = c.spawner.pid!;
  const r = runs.fresh();
  const marker = join(r.base, 'ran');
  killSpawner = () => process.kill(first, 'SIGKILL');
  const err = await t.throwsAsync(c.launch(spec(r, sh(`touch ${marker}`))));
  t.true(isCorralError(err) && err.code === 'CONTAINER_LAUNCH_FAILED', String(err));
  t.regex(err!.message, /supervisor spawner \(pid \d+\) was killed by SIGKILL; the launch was abandoned/);
  t.deepEqual(
    lost.map((l) => l.inFlight),
    [1],
  );
  t.regex(lost[0]!.how, /SIGKILL/);
  // The supervisor read EOF instead of "go": it aborted; the command never ran.
  await until(() => existsSync(join(r.runDir, 'exit.status')), 5000, 'the aborted record');
  t.is((await readExitRecord(r.runDir))?.status, 'aborted');
  t.false(existsSync(marker));
  // The container's teardown ran (its watch found the record): it is not left in the table.
  await until(() => c.size === 0, 5000, 'the container to be torn down');
  // The next launch starts a new spawner.
  killSpawner = undefined;
  const next = await c.launch(spec(runs.fresh(), ['true']));
  t.is((await next.termination).exitCode, 0);
  t.not(c.spawner.pid, first);
  t.true(alive(c.spawner.pid!));
});

test('the spawner killed while a container runs: its end is still reported, from its run directory', async (t) => {
  const c = containerizer({ pollMs: 100 });
  const r = runs.fresh();
  const go = join(r.base, 'go');
  const ctr = await c.launch(spec(r, sh(`echo started; while [ ! -e ${go} ]; do sleep 0.05; done; exit 7`)));
  const spawnerPid = c.spawner.pid!;
  process.kill(spawnerPid, 'SIGKILL');
  await until(() => !alive(spawnerPid), 5000, 'the spawner to die');
  t.true(alive(ctr.pid), 'the supervisor outlives its spawner');
  writeFileSync(go, '');
  const end = await ctr.termination;
  t.is(end.exitCode, 7);
  t.is(readFileSync(join(r.sandbox, 'stdout'), 'utf8'), 'started\n');
});
