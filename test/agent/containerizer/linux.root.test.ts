/**
 * LinuxContainerizer on the host's real cgroups (v1 here), as root, each test file with its own
 * cgroup root `corral-test-<pid>-<n>` (removed in after.always; those of crashed runs first):
 * limits visible in the cgroup files, the command in its cgroups before it runs, statistics,
 * a memory hog stopped with a memory limitation, fork bombs killed whole (by a kill, and when the
 * task's own process ends), cgroups removed at the end and after a failed launch, namespaces/pid
 * and filesystem/shared, and recovery by a fresh containerizer (running, ended, orphans).
 */
import anyTest from 'ava';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { LaunchSpec } from '../../../lib/agent/containerizer/containerizer.ts';
import { createContainerizer } from '../../../lib/agent/containerizer/factory.ts';
import { agentFlagValues } from '../../helpers/agent_flags.ts';
import type { Isolator } from '../../../lib/agent/containerizer/isolator.ts';
import { CgroupsCpuIsolator } from '../../../lib/agent/containerizer/isolators/cgroups_cpu.ts';
import { CgroupsMemIsolator } from '../../../lib/agent/containerizer/isolators/cgroups_mem.ts';
import { LinuxContainerizer } from '../../../lib/agent/containerizer/linux.ts';
import type { SupervisorContainerizer } from '../../../lib/agent/containerizer/supervisor_containerizer.ts';
import { parseResourcesText } from '../../../lib/common/resources/index.ts';
import { readCgroupFile, startSupervisor, type CgroupController } from '../../../lib/linux/index.ts';
import { rootOnly } from '../../helpers/root.ts';
import { mountPoints } from '../../helpers/tmp_names.ts';
import { TEST_CONTROLLERS, cgroupDir, clearLeftoverCgroups, hostCgroups, removeRoot, testRoot } from '../../linux/cgroups_fixture.ts';
import { Runs, alive, clearLeftoverRuns, until, type RunDirs } from '../../linux/containerizer_fixture.ts';

const test = rootOnly(anyTest);
const runs = new Runs();
const roots: string[] = [];
const containerizers: SupervisorContainerizer[] = [];

test.before(async () => {
  clearLeftoverRuns();
  await clearLeftoverCgroups();
});
test.after.always(async () => {
  for (const c of containerizers) c.close();
  runs.cleanup();
  for (const r of roots) await removeRoot(r);
});

const ALL: readonly CgroupController[] = TEST_CONTROLLERS;

function containerizer(isolation = 'cgroups/cpu,cgroups/mem', extra: { enableCfs?: boolean; limitSwap?: boolean; root?: string } = {}): LinuxContainerizer {
  const root = extra.root ?? testRoot();
  if (!roots.includes(root)) roots.push(root);
  const c = createContainerizer(
    agentFlagValues({ isolation, cgroups_root: root, cgroups_enable_cfs: extra.enableCfs ?? false, cgroups_limit_swap: extra.limitSwap ?? false }),
    { cgroups: hostCgroups() },
  );
  if (!(c instanceof LinuxContainerizer)) throw new Error('expected the Linux launcher');
  containerizers.push(c);
  return c;
}

function spec(r: RunDirs, script: string, resources = 'cpus:0.5;mem:64', extra: Partial<LaunchSpec> = {}): LaunchSpec {
  return {
    containerId: randomUUID(),
    sandbox: r.sandbox,
    runDir: r.runDir,
    argv: ['/bin/sh', '-c', script],
    env: { PATH: '/usr/bin:/bin' },
    resources: parseResourcesText(resources),
    ...extra,
  };
}

const out = (r: RunDirs): string => readFileSync(join(r.sandbox, 'stdout'), 'utf8');
const started = (r: RunDirs): Promise<void> => until(() => out(r).includes('started'), 10_000, '"started" in stdout');
const file = (path: string, c: CgroupController, name: string): string => readCgroupFile(join(cgroupDir(path, c), name)).trim();
const gone = (path: string): boolean => ALL.every((c) => !existsSync(cgroupDir(path, c)));

function withMarker(marker: string): number[] {
  const found: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'latin1').includes(marker) && alive(Number(d))) found.push(Number(d));
    } catch {
      // gone
    }
  }
  return found;
}

/** A bounded fork bomb: 2^7-1 shells (half of them leaving their session) forking sleeps for ever. */
function bomb(marker: string): string {
  const b = `: ${marker}; d=$1; if [ "$d" -lt 6 ]; then sh -c "$0" "$0" $((d+1)) & setsid sh -c "$0" "$0" $((d+1)) & fi; while :; do sleep 0.2; done`;
  return `b='${b}'; sh -c "$b" "$b" 0 & echo started; wait`;
}

test('limits are in the cgroup files before the command runs; the command is in its cgroups; usage from the cgroups; all removed at the end', async (t) => {
  const c = containerizer('cgroups/cpu,cgroups/mem', { enableCfs: true });
  const r = runs.fresh();
  const s = spec(r, 'cat /proc/self/cgroup; echo started; while [ ! -e stop ]; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; done', 'cpus:1.5;mem:96');
  const ctr = await c.launch(s);
  const path = `${c.cgroupsRoot}/${s.containerId}`;
  t.is(file(path, 'cpu', 'cpu.shares'), '1536');
  t.is(file(path, 'cpu', 'cpu.cfs_period_us'), '100000');
  t.is(file(path, 'cpu', 'cpu.cfs_quota_us'), '150000');
  t.is(file(path, 'memory', 'memory.limit_in_bytes'), String(96 * 1024 * 1024));
  t.is(file(path, 'memory', 'memory.soft_limit_in_bytes'), String(96 * 1024 * 1024));
  await started(r);
  // What the command itself saw: it ran inside its cgroups from its first instruction.
  for (const ctl of ['cpu', 'cpuacct', 'memory', 'freezer']) t.regex(out(r), new RegExp(`:${ctl}:/${path}$`, 'm'), ctl);
  let u: Record<string, number> | undefined;
  for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((res) => setTimeout(res, 100))) {
    u = (await c.usage(s.containerId)) as Record<string, number> | undefined;
    if ((u?.cpus_user_time_secs ?? 0) + (u?.cpus_system_time_secs ?? 0) >= 0.1) break;
  }
  t.truthy(u);
  t.true(u!.cpus_user_time_secs! + u!.cpus_system_time_secs! >= 0.1, JSON.stringify(u));
  t.is(u!.cpus_limit, 1.5);
  t.is(u!.mem_limit_bytes, 96 * 1024 * 1024);
  t.true(u!.mem_total_bytes! > 0);
  for (const k of [
    'mem_rss_bytes',
    'mem_cache_bytes',
    'mem_mapped_file_bytes',
    'mem_swap_bytes',
    'cpus_nr_periods',
    'cpus_nr_throttled',
    'cpus_throttled_time_secs',
  ]) {
    t.is(typeof u![k], 'number', k);
  }
  t.true(u!.processes! >= 1 && u!.threads! >= u!.processes!);
  // One statistics request for one container: a handful of small file reads (timed for real in
  // bench/isolation.bench.ts; logged here only, a loaded test host must not fail on it).
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) await c.usage(s.containerId);
  t.log(`usage(): ${(((performance.now() - t0) / 100) * 1000).toFixed(0)} µs`);
  // Update: limits follow.
  await c.update(s.containerId, parseResourcesText('cpus:2;mem:128'));
  t.is(file(path, 'cpu', 'cpu.shares'), '2048');
  t.is(file(path, 'memory', 'memory.limit_in_bytes'), String(128 * 1024 * 1024));

  mkdirSync(join(r.sandbox, 'stop'));
  t.deepEqual(await ctr.termination, { exitCode: 0, status: 0 });
  t.true(gone(path), 'every cgroup of the container is removed');
});

test('a memory hog under mem:32 is stopped and the termination says it went over its memory limit', async (t) => {
  const c = containerizer();
  const r = runs.fresh();
  const s = spec(r, 'x=a; while true; do x=$x$x; done', 'cpus:0.5;mem:32');
  const end = await (await c.launch(s)).termination;
  t.is(end.signal, 9);
  t.true(end.killed);
  t.like(end.limitation, { resource: 'mem', reason: 'REASON_CONTAINER_LIMITATION_MEMORY' });
  t.regex(end.message ?? '', /^Memory limit exceeded: Requested: 32MB Maximum Used: \d+MB\n\nMEMORY STATISTICS: \n/);
  t.true(gone(`${c.cgroupsRoot}/${s.containerId}`));
});

test('--cgroups_limit_swap: memsw limit = memory limit (raised, never lowered); a container writing 5x its limit in files counts memory pressure; a recovering agent counts from 0', async (t) => {
  const MB = 1024 * 1024;
  const c = containerizer('cgroups/mem', { limitSwap: true });
  const r = runs.fresh();
  // Anonymous memory near the limit while dd pushes 300 MB of page cache through a 64 MB cgroup
  // (the kernel reclaims in the cgroup and says how hard that was); then again on "again".
  const fill = 'head -c 40M /dev/zero | tail >/dev/null & dd if=/dev/zero of=big bs=1M count=300 2>/dev/null; wait; rm -f big';
  const s = spec(
    r,
    `${fill}; echo started; while [ ! -e again ]; do sleep 0.05; done; ${fill}; echo twice; while [ ! -e stop ]; do sleep 0.05; done`,
    'cpus:0.5;mem:64',
  );
  const ctr = await c.launch(s);
  const path = `${c.cgroupsRoot}/${s.containerId}`;
  const limits = (): [string, string] => [file(path, 'memory', 'memory.limit_in_bytes'), file(path, 'memory', 'memory.memsw.limit_in_bytes')];
  t.deepEqual(limits(), [String(64 * MB), String(64 * MB)]);
  await started(r);
  const counters = (u: Record<string, unknown> | undefined): number[] => ['low', 'medium', 'critical'].map((l) => u?.[`mem_${l}_pressure_counter`] as number);
  for (const end = Date.now() + 5000; !((counters((await c.usage(s.containerId)) as Record<string, unknown>)[0] ?? 0) > 0) && Date.now() < end;) {
    await new Promise((res) => setTimeout(res, 20));
  }
  await new Promise((res) => setTimeout(res, 100)); // the last events of each listener read
  const u = (await c.usage(s.containerId)) as Record<string, unknown>;
  const [low, medium, critical] = counters(u);
  t.log(`pressure events: low ${low}, medium ${medium}, critical ${critical}; peak ${file(path, 'memory', 'memory.max_usage_in_bytes')} bytes`);
  t.true(low! > 0 && low! >= medium! && medium! >= critical!, JSON.stringify(u));
  t.is(typeof u.mem_total_memsw_bytes, 'number');
  t.true((u.mem_total_memsw_bytes as number) > 0 && (u.mem_total_memsw_bytes as number) <= 64 * MB);
  t.true(Number(file(path, 'memory', 'memory.max_usage_in_bytes')) >= 48 * MB, 'the container came near its limit');
  t.is(file(path, 'memory', 'memory.oom_control').match(/oom_kill (\d+)/)?.[1], '0', 'reclaim, not the OOM killer');
  await c.update(s.containerId, parseResourcesText('cpus:0.5;mem:96'));
  t.deepEqual(limits(), [String(96 * MB), String(96 * MB)], 'raised: memsw first, then memory');
  await c.update(s.containerId, parseResourcesText('cpus:0.5;mem:48'));
  t.deepEqual(limits(), [String(96 * MB), String(96 * MB)], 'never lowered');
  // A restarted agent: its isolator re-listens; the counters start at 0 and count what follows.
  const again = new CgroupsMemIsolator({ cgroups: hostCgroups(), root: c.cgroupsRoot, limitSwap: true });
  t.teardown(() => again.cleanup(s.containerId).catch(() => {})); // its listeners (the cgroup goes with the containerizer's cleanup or the root's)
  await again.recover([{ containerId: s.containerId, supervisorPid: 0 }]);
  await until(() => 'mem_low_pressure_counter' in again.usage(s.containerId)!, 2000, 'the recovered container listened to');
  t.deepEqual(counters(again.usage(s.containerId) as Record<string, unknown>), [0, 0, 0]);
  mkdirSync(join(r.sandbox, 'again'));
  await until(() => out(r).includes('twice'), 10_000, '"twice" in stdout');
  await until(() => (counters(again.usage(s.containerId) as Record<string, unknown>)[0] ?? 0) > 0, 5000, 'a low pressure event after recovery');
  mkdirSync(join(r.sandbox, 'stop'));
  t.deepEqual(await ctr.termination, { exitCode: 0, status: 0 });
  t.true(gone(path));
});

test('a hog in a pipeline (head -c 1G /dev/zero | tail) under mem:32: the limitation is reported', async (t) => {
  const c = containerizer('cgroups/mem');
  const r = runs.fresh();
  const end = await (await c.launch(spec(r, 'head -c 1G /dev/zero | tail', 'cpus:0.5;mem:32'))).termination;
  t.is(end.limitation?.reason, 'REASON_CONTAINER_LIMITATION_MEMORY', JSON.stringify(end));
  t.true(end.killed);
});

test('a fork bomb within a task is killed whole by a kill; no process escapes; its cgroups are removed', async (t) => {
  const c = containerizer();
  const r = runs.fresh();
  const marker = `corral-bomb-${process.pid}-${randomUUID()}`;
  const s = spec(r, bomb(marker), 'cpus:0.5;mem:512');
  const ctr = await c.launch(s);
  await started(r);
  await until(() => withMarker(marker).length >= 127, 20_000, 'the bomb to reach its 127 shells');
  const t0 = performance.now();
  await c.kill(s.containerId, 0);
  const end = await ctr.termination;
  t.log(`killed and cleaned up in ${(performance.now() - t0).toFixed(1)} ms`);
  t.true(end.killed);
  t.true(end.signal === 9 || end.signal === 15, `signal ${end.signal}`); // SIGTERM first; the rest at once
  t.deepEqual(
    withMarker(marker).filter((p) => p !== ctr.pid),
    [],
    'nothing of the bomb is left on the host',
  );
  await until(() => !alive(ctr.pid), 5000, 'the supervisor to exit');
  t.true(gone(`${c.cgroupsRoot}/${s.containerId}`));
});

test('a fork bomb left behind by a task that exits 0 is killed at the end', async (t) => {
  const c = containerizer();
  const r = runs.fresh();
  const marker = `corral-bomb-${process.pid}-${randomUUID()}`;
  const b = `: ${marker}; d=$1; if [ "$d" -lt 4 ]; then setsid sh -c "$0" "$0" $((d+1)) & setsid sh -c "$0" "$0" $((d+1)) & fi; while :; do sleep 0.2; done`;
  const s = spec(r, `b='${b}'; setsid sh -c "$b" "$b" 0 & sleep 0.5; exit 0`, 'cpus:0.5;mem:256');
  const end = await (await c.launch(s)).termination;
  t.deepEqual(end, { exitCode: 0, status: 0 });
  t.deepEqual(withMarker(marker), []);
  t.true(gone(`${c.cgroupsRoot}/${s.containerId}`));
});

test('a launch that fails half-way removes the cgroups made so far, and the command never runs', async (t) => {
  const root = testRoot();
  roots.push(root);
  const cgroups = hostCgroups();
  const failing: Isolator = {
    name: 'test/fail',
    prepare: async () => {
      throw new Error('no room');
    },
  };
  const c = new LinuxContainerizer({
    cgroups,
    cgroupsRoot: root,
    isolators: [new CgroupsCpuIsolator({ cgroups, root, enableCfs: false }), new CgroupsMemIsolator({ cgroups, root }), failing],
  });
  containerizers.push(c);
  const r = runs.fresh();
  const s = spec(r, 'touch ran');
  await t.throwsAsync(c.launch(s), { message: /test\/fail: prepare: no room/ });
  t.true(gone(`${root}/${s.containerId}`));
  t.false(existsSync(join(r.sandbox, 'ran')));
});

test('namespaces/pid: the command is pid 1 of its own pid namespace and sees only its processes', async (t) => {
  const c = containerizer('cgroups/cpu,cgroups/mem,namespaces/pid');
  const r = runs.fresh();
  const s = spec(r, 'echo pid=$$; ls /proc | grep -c "^[0-9]"; sleep 0.2 & sleep 0.2 & wait');
  const end = await (await c.launch(s)).termination;
  t.deepEqual(end, { exitCode: 0, status: 0 });
  const lines = out(r).trim().split('\n');
  t.is(lines[0], 'pid=1');
  t.true(Number(lines[1]) <= 4, `processes seen: ${lines[1]}`);
  t.true(gone(`${c.cgroupsRoot}/${s.containerId}`));
});

test('filesystem/shared: a mount made inside the container does not show on the host', async (t) => {
  const c = containerizer('cgroups/mem,filesystem/shared');
  const r = runs.fresh();
  mkdirSync(join(r.sandbox, 'm'));
  const s = spec(r, 'mount -t tmpfs corral-test m && grep -c " $PWD/m " /proc/self/mountinfo');
  const end = await (await c.launch(s)).termination;
  t.deepEqual(end, { exitCode: 0, status: 0 }, readFileSync(join(r.sandbox, 'stderr'), 'utf8'));
  t.is(out(r).trim(), '1', 'mounted inside');
  t.false(mountPoints().includes(realpathSync(join(r.sandbox, 'm'))), 'not on the host');
});

test('recovery: a fresh containerizer re-attaches (usage from the cgroups, kill through the freezer); ended runs and orphans are cleaned up', async (t) => {
  const root = testRoot();
  const a = containerizer('cgroups/cpu,cgroups/mem', { root });
  const live = runs.fresh();
  const sLive = spec(live, 'trap "" TERM; echo started; while :; do sleep 1; done', 'cpus:0.25;mem:64');
  await a.launch(sLive);
  const done = runs.fresh();
  const sDone = spec(done, 'echo started; while [ ! -e stop ]; do sleep 0.02; done; exit 5');
  await a.launch(sDone);
  await started(live);
  await started(done);
  a.close(); // as an agent that stops: its containers run on
  // An orphan: a cgroup under the root that no run knows, with a process in it.
  const orphanPath = `${root}/orphan-${randomUUID()}`;
  hostCgroups().create(orphanPath, ALL);
  const o = runs.fresh();
  const sup = await startSupervisor({ sandbox: o.sandbox, runDir: o.runDir, argv: ['sleep', '60'], env: { PATH: '/usr/bin:/bin' } });
  hostCgroups().attach(orphanPath, ALL, sup.childPid);
  await sup.release();
  // The second run ends while nobody watches.
  mkdirSync(join(done.sandbox, 'stop'));
  await until(() => existsSync(join(done.runDir, 'exit.status')), 10_000, 'the run to end');

  const b = containerizer('cgroups/cpu,cgroups/mem', { root });
  const got = await b.recover([
    { containerId: sLive.containerId, runDir: live.runDir, resources: sLive.resources },
    { containerId: sDone.containerId, runDir: done.runDir, resources: sDone.resources },
  ]);
  t.deepEqual(await got.get(sDone.containerId)!.termination, { exitCode: 5, status: 5 << 8 });
  t.true(gone(`${root}/${sDone.containerId}`), 'the ended run is cleaned up');
  await until(() => !hostCgroups().exists(orphanPath, 'freezer'), 10_000, 'the orphan to be destroyed');
  t.false(alive(sup.childPid), "the orphan's process was killed");
  const u = await b.usage(sLive.containerId);
  t.like(u, { cpus_limit: 0.25, mem_limit_bytes: 64 * 1024 * 1024 });
  t.true((u!.processes as number) >= 1);
  t.is(typeof u?.mem_total_bytes, 'number');
  await b.kill(sLive.containerId, 0);
  t.like(await got.get(sLive.containerId)!.termination, { signal: 9, killed: true });
  t.true(gone(`${root}/${sLive.containerId}`));
});

test('the agent stopping removes the cgroups root it made once no container is in it; a root that was there before, or that holds a container, stays', async (t) => {
  // Made by this containerizer, emptied: removed from every hierarchy.
  const c = containerizer('cgroups/cpu,cgroups/mem');
  const r = runs.fresh();
  const s = spec(r, 'echo started');
  t.deepEqual(await (await c.launch(s)).termination, { exitCode: 0, status: 0 });
  t.true(gone(`${c.cgroupsRoot}/${s.containerId}`));
  t.false(gone(c.cgroupsRoot));
  await c.closeIsolators();
  t.true(gone(c.cgroupsRoot));

  // Made by this containerizer, a container still running (an agent stop leaves it running): kept.
  const busy = containerizer('cgroups/cpu,cgroups/mem');
  const r2 = runs.fresh();
  const s2 = spec(r2, 'echo started; exec sleep 600');
  const running = await busy.launch(s2);
  await started(r2);
  await busy.closeIsolators();
  t.false(gone(`${busy.cgroupsRoot}/${s2.containerId}`));
  await busy.kill(s2.containerId, 0);
  await running.termination;

  // There before the containerizer: kept, even empty.
  const root = testRoot();
  hostCgroups().create(root, ALL);
  const old = containerizer('cgroups/cpu,cgroups/mem', { root });
  await old.closeIsolators();
  t.true(ALL.every((ctl) => existsSync(cgroupDir(root, ctl))));
});
