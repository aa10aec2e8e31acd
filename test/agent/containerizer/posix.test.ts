/**
 * SupervisorContainerizer with real corral-containerizer supervisors and real commands: exits,
 * signals, kills with a grace period, exec failures, environment, a supervisor that outlives the
 * process that launched it and is recovered by a fresh containerizer, supervisors that vanish,
 * and resource usage of a busy command.
 */
import anyTest, { type TestFn } from 'ava';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SupervisorContainerizer } from '../../../lib/agent/containerizer/supervisor_containerizer.ts';
import type { LaunchSpec, Termination } from '../../../lib/agent/containerizer/containerizer.ts';
import { FakeClock } from '../../../lib/common/clock.ts';
import { isCorralError } from '../../../lib/common/errors.ts';
import { parseResourcesText } from '../../../lib/common/resources/index.ts';
import { readProcStat } from '../../../lib/linux/index.ts';
import { Runs, alive, clearLeftoverRuns, until, type RunDirs } from '../../linux/containerizer_fixture.ts';

const test = anyTest as TestFn;
const runs = new Runs();
const containerizers: SupervisorContainerizer[] = [];

test.before(() => {
  clearLeftoverRuns();
});
test.after.always(() => {
  for (const c of containerizers) c.close();
  runs.cleanup();
});

function containerizer(opts: ConstructorParameters<typeof SupervisorContainerizer>[0] = {}): SupervisorContainerizer {
  const c = new SupervisorContainerizer(opts);
  containerizers.push(c);
  return c;
}

const PATH = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';

function spec(r: RunDirs, argv: string[], extra: Partial<LaunchSpec> = {}): LaunchSpec {
  return {
    containerId: randomUUID(),
    sandbox: r.sandbox,
    runDir: r.runDir,
    argv,
    env: { PATH },
    resources: parseResourcesText('cpus:0.5;mem:32'),
    ...extra,
  };
}

const sh = (script: string): string[] => ['/bin/sh', '-c', script];
const out = (r: RunDirs): string => readFileSync(join(r.sandbox, 'stdout'), 'utf8');
const started = (r: RunDirs): Promise<void> => until(() => out(r).includes('started'), 5000, '"started" in the sandbox stdout');

test('echo hi: exit code 0, output in the sandbox stdout', async (t) => {
  const r = runs.fresh();
  const c = containerizer();
  const ctr = await c.launch(spec(r, ['echo', 'hi']));
  t.true(ctr.pid > 0);
  const end = await ctr.termination;
  t.deepEqual(end, { exitCode: 0, status: 0 });
  t.is(out(r), 'hi\n');
  t.is(c.size, 0);
});

test('exit 3: exit code and wait status', async (t) => {
  const r = runs.fresh();
  const ctr = await containerizer().launch(spec(r, sh('exit 3')));
  t.deepEqual(await ctr.termination, { exitCode: 3, status: 3 << 8 });
});

test('killed by a signal: the signal and wait status', async (t) => {
  const r = runs.fresh();
  const ctr = await containerizer().launch(spec(r, sh('kill -KILL $$')));
  t.deepEqual(await ctr.termination, { signal: 9, status: 9 });
});

test('kill with a grace period: a command that traps SIGTERM exits 0, killed', async (t) => {
  const r = runs.fresh();
  const c = containerizer();
  const ctr = await c.launch(spec(r, sh('trap "echo bye; exit 0" TERM; echo started; while :; do sleep 0.05; done')));
  await started(r);
  const end = await c.kill(ctr.containerId, 10_000);
  t.deepEqual(end, { exitCode: 0, status: 0, killed: true });
  t.deepEqual(await ctr.termination, end);
  t.regex(out(r), /bye/);
});

test('kill with a grace period: a command that ignores SIGTERM gets SIGKILL after the grace', async (t) => {
  const r = runs.fresh();
  const c = containerizer();
  const ctr = await c.launch(spec(r, sh('trap "" TERM; echo started; sleep 60')));
  await started(r);
  const t0 = Date.now();
  const end = await c.kill(ctr.containerId, 300);
  const took = Date.now() - t0;
  t.deepEqual(end, { signal: 9, status: 9, killed: true });
  t.true(took >= 290, `ended after ${took} ms, before the grace`);
  t.true(took < 5000, `ended after ${took} ms`);
});

test('kill with a 30-day grace (longer than Node timers take): the command is not SIGKILLed after 1 ms, goes on after SIGTERM, and a kill without grace then ends it', async (t) => {
  const r = runs.fresh();
  const c = containerizer();
  const ctr = await c.launch(spec(r, sh('trap "echo term" TERM; echo started; while :; do echo tick; sleep 0.05; done')));
  await started(r);
  const killed = c.kill(ctr.containerId, 30 * 86_400_000);
  // Three ticks after the SIGTERM was handled: a SIGKILL due "after the grace" never came.
  await until(() => (out(r).split('term\n')[1] ?? '').split('tick').length > 3, 5000, 'three ticks after the SIGTERM');
  const end = await c.kill(ctr.containerId, 0);
  t.deepEqual(end, { signal: 9, status: 9, killed: true });
  t.deepEqual(await killed, end);
});

test('kill with a grace period: the grace runs on the injected clock, and usage is stamped with its time', async (t) => {
  const clock = new FakeClock();
  const r = runs.fresh();
  const c = containerizer({ clock });
  const ctr = await c.launch(spec(r, sh('trap "echo term" TERM; echo started; while :; do echo tick; sleep 0.05; done')));
  await started(r);
  t.is((await c.usage(ctr.containerId))?.timestamp, clock.now() / 1000);
  let ended = false;
  const killed = c.kill(ctr.containerId, 60_000).then((end) => ((ended = true), end));
  // Ticks after the SIGTERM was handled: the wall clock passing does not end the grace.
  await until(() => (out(r).split('term\n')[1] ?? '').split('tick').length > 3, 5000, 'three ticks after the SIGTERM');
  t.false(ended);
  clock.advance(59_999);
  const ticks = out(r).split('tick').length;
  await until(() => out(r).split('tick').length > ticks + 2, 5000, 'three more ticks');
  t.false(ended);
  clock.advance(1);
  t.deepEqual(await killed, { signal: 9, status: 9, killed: true });
});

test('kill with no grace forces at once; a second kill and kills of unknown containers are harmless', async (t) => {
  const r = runs.fresh();
  const c = containerizer();
  const ctr = await c.launch(spec(r, sh('trap "" TERM; echo started; sleep 60')));
  await started(r);
  const first = c.kill(ctr.containerId, 60_000);
  const end = await c.kill(ctr.containerId, 0);
  t.deepEqual(end, { signal: 9, status: 9, killed: true });
  t.deepEqual(await first, end);
  t.is(await c.kill(ctr.containerId, 0), undefined);
  t.is(await c.kill('no-such-container', 0), undefined);
});

test('exec failure: no such binary is a failed start, exit code 127, with the reason', async (t) => {
  const r = runs.fresh();
  const ctr = await containerizer().launch(spec(r, ['corral-no-such-binary-xyz']));
  const end = await ctr.termination;
  t.is(end.exitCode, 127);
  t.is(end.status, 127 << 8);
  t.regex(end.message ?? '', /exec corral-no-such-binary-xyz: No such file or directory/);
});

test('the environment is passed to the command, and only it', async (t) => {
  const r = runs.fresh();
  const ctr = await containerizer().launch(spec(r, sh('echo "$CORRAL_A|$CORRAL_B|${HOME-unset}"'), { env: { PATH, CORRAL_A: 'x y', CORRAL_B: 'a=b' } }));
  t.is((await ctr.termination).exitCode, 0);
  t.is(out(r), 'x y|a=b|unset\n');
});

test('a launch that cannot start fails with CONTAINER_LAUNCH_FAILED and the reason', async (t) => {
  const r = runs.fresh();
  const c = containerizer();
  const e = await t.throwsAsync(c.launch(spec(r, ['true'], { sandbox: join(r.base, 'missing') })));
  t.true(isCorralError(e) && e.code === 'CONTAINER_LAUNCH_FAILED');
  t.regex(e?.message ?? '', /open sandbox .*missing: No such file or directory/);
  t.is(c.size, 0);
});

test('a container id may run only once at a time', async (t) => {
  const r = runs.fresh();
  const c = containerizer();
  const s = spec(r, sh('echo started; sleep 60'));
  await c.launch(s);
  const e = await t.throwsAsync(c.launch(s));
  t.true(isCorralError(e) && e.code === 'CONTAINER_EXISTS');
  await c.kill(s.containerId, 0);
});

/** Launch from a short-lived Node process that exits while the command runs. */
async function launchFromChildProcess(s: LaunchSpec): Promise<{ pid: number; launcherPid: number }> {
  const posix = new URL('../../../lib/agent/containerizer/supervisor_containerizer.ts', import.meta.url).href;
  const resources = new URL('../../../lib/common/resources/index.ts', import.meta.url).href;
  const script = `
    import { SupervisorContainerizer } from ${JSON.stringify(posix)};
    import { parseResourcesText } from ${JSON.stringify(resources)};
    const s = JSON.parse(process.argv[1]);
    const c = new SupervisorContainerizer({ ref: false });
    const ctr = await c.launch({ ...s, resources: parseResourcesText('cpus:1') });
    process.stdout.write(JSON.stringify({ pid: ctr.pid }) + '\\n');
    // Nothing holds this process: it ends while the command runs on.
  `;
  const { resources: _r, ...plain } = s;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify(plain)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`launcher exited ${code}: ${stderr}`);
  return { pid: (JSON.parse(stdout) as { pid: number }).pid, launcherPid: child.pid! };
}

test('the supervisor outlives the process that launched it; a fresh containerizer recovers it', async (t) => {
  const r = runs.fresh();
  const s = spec(r, sh('echo started; while [ ! -e release ]; do sleep 0.02; done; exit 7'));
  const { pid, launcherPid } = await launchFromChildProcess(s);
  t.false(alive(launcherPid));
  await started(r);
  t.true(alive(pid), 'the supervisor runs on');
  t.not(readProcStat(pid)?.ppid, launcherPid);

  const c = containerizer({ pollMs: 60_000 }); // the file watch alone must see the end
  const recovered = await c.recover([{ containerId: s.containerId, runDir: r.runDir, resources: s.resources }]);
  const ctr = recovered.get(s.containerId);
  t.is(ctr?.pid, pid);
  const usage = await c.usage(s.containerId);
  t.is(usage?.cpus_limit, 0.5);
  writeFileSync(join(r.sandbox, 'release'), '');
  t.deepEqual(await ctr!.termination, { exitCode: 7, status: 7 << 8 });
});

test('recover: a run that ended meanwhile resolves with its recorded status; one never started is reported', async (t) => {
  const r = runs.fresh();
  const a = containerizer();
  const s = spec(r, sh('exit 4'));
  await (
    await a.launch(s)
  ).termination;
  const none = runs.fresh();
  const b = containerizer();
  const got = await b.recover([
    { containerId: s.containerId, runDir: r.runDir },
    { containerId: 'never', runDir: none.runDir },
  ]);
  t.deepEqual(await got.get(s.containerId)!.termination, { exitCode: 4, status: 4 << 8 });
  t.regex((await got.get('never')!.termination).message ?? '', /supervisor vanished: no supervisor was recorded/);
  t.is(b.size, 0);
});

test('recover: a bad exit record is a termination that says so', async (t) => {
  const r = runs.fresh();
  writeFileSync(join(r.runDir, 'exit.status'), 'garbage\n');
  const got = await containerizer().recover([{ containerId: 'x', runDir: r.runDir }]);
  const end = await got.get('x')!.termination;
  t.is(end.status, -1);
  t.regex(end.message ?? '', /exit\.status: not a JSON object/);
});

test('kill of a recovered container: signals by pid, the end is seen through the run directory', async (t) => {
  const r = runs.fresh();
  const s = spec(r, sh('trap "exit 0" TERM; echo started; while :; do sleep 0.05; done'));
  await containerizer({ ref: false }).launch(s);
  await started(r);
  const b = containerizer({ pollMs: 60_000 });
  const ctr = (await b.recover([{ containerId: s.containerId, runDir: r.runDir }])).get(s.containerId)!;
  t.deepEqual(await b.kill(s.containerId, 10_000), { exitCode: 0, status: 0, killed: true });
  t.deepEqual(await ctr.termination, { exitCode: 0, status: 0, killed: true });
});

test('a vanished supervisor (kill -9) is reported, and its orphaned command is ended', async (t) => {
  const r = runs.fresh();
  const a = containerizer();
  const s = spec(r, sh('echo $$ > task.pid; echo started; exec sleep 60'));
  const ctr = await a.launch(s);
  await started(r);
  const task = Number(readFileSync(join(r.sandbox, 'task.pid'), 'utf8'));
  // A second containerizer watches it as after an agent restart (poll only: no file event comes).
  const b = containerizer({ pollMs: 100 });
  const viaRecover = (await b.recover([{ containerId: s.containerId, runDir: r.runDir }])).get(s.containerId)!;
  process.kill(ctr.pid, 'SIGKILL');
  const parentView: Termination = await ctr.termination;
  t.is(parentView.status, -1);
  t.regex(parentView.message ?? '', /^supervisor vanished: process \d+ ended \(killed by SIGKILL\) without recording an exit status/);
  const recoveredView = await viaRecover.termination;
  t.regex(recoveredView.message ?? '', /^supervisor vanished: process \d+ is gone and recorded no exit status/);
  await until(() => !alive(task), 5000, 'the orphaned command to be killed');
});

test('usage: CPU time and resident memory of a busy command, with the limits', async (t) => {
  const r = runs.fresh();
  const c = containerizer();
  const s = spec(r, sh('echo started; while :; do :; done'), { resources: parseResourcesText('cpus:1.5;mem:64') });
  const ctr = await c.launch(s);
  await started(r);
  // Until it has had 0.2 s of CPU (on a loaded machine that takes longer than 0.2 s).
  let u: Record<string, number> | undefined;
  let cpu = 0;
  const before = Date.now() / 1000;
  for (const deadline = Date.now() + 20_000; cpu <= 0.2 && Date.now() < deadline; await sleep(100)) {
    u = (await c.usage(s.containerId)) as Record<string, number> | undefined;
    cpu = (u?.cpus_user_time_secs ?? 0) + (u?.cpus_system_time_secs ?? 0);
  }
  t.truthy(u);
  t.true(cpu > 0.2 && cpu < 10, `cpu ${cpu} s`);
  t.true(u!.mem_rss_bytes! > 100 * 1024 && u!.mem_rss_bytes! < 256 * 1024 * 1024, `rss ${u!.mem_rss_bytes}`);
  t.is(u!.cpus_limit, 1.5);
  t.is(u!.mem_limit_bytes, 64 * 1024 * 1024);
  t.true(u!.timestamp! >= before - 1 && u!.timestamp! <= Date.now() / 1000 + 1);
  t.deepEqual(Object.keys(u!).sort(), ['cpus_limit', 'cpus_system_time_secs', 'cpus_user_time_secs', 'mem_limit_bytes', 'mem_rss_bytes', 'timestamp']);
  await c.kill(s.containerId, 0);
  await ctr.termination;
  t.is(await c.usage(s.containerId), undefined);
});
