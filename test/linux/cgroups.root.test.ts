/**
 * lib/linux/cgroups on the real (v1) hierarchy of this host, as root: cgroups made under a
 * unique root (`corral-test-<pid>-<n>`), limits visible in the kernel's files, processes held
 * by a corral-containerizer supervisor until they are attached (so nothing starts outside),
 * statistics, the OOM eventfd, killing a fork bomb at once, removal, and the cleaning of
 * leftovers of a crashed test process.
 */
import anyTest from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readCgroupFile, startSupervisor, type CgroupController, type StartedSupervisor } from '../../lib/linux/index.ts';
import { rootOnly } from '../helpers/root.ts';
import { TEST_PREFIX } from '../helpers/tmp_names.ts';
import { TEST_CONTROLLERS, cgroupDir, clearLeftoverCgroups, hostCgroups, removeRoot, testRoot } from './cgroups_fixture.ts';
import { Runs, alive, clearLeftoverRuns, until } from './containerizer_fixture.ts';

const test = rootOnly(anyTest);
const runs = new Runs();
const roots: string[] = [];
const started: StartedSupervisor[] = [];

test.before(async () => {
  clearLeftoverRuns();
  await clearLeftoverCgroups();
});
test.after.always(async () => {
  for (const s of started) s.abort();
  for (const r of roots) await removeRoot(r);
  runs.cleanup();
});

const ALL: readonly CgroupController[] = TEST_CONTROLLERS;

/** A memory control file of cgroup `path`, trimmed. */
const file = (path: string, name: string): string => readCgroupFile(join(cgroupDir(path, 'memory'), name)).trim();

function root(): string {
  const r = testRoot();
  roots.push(r);
  return r;
}

/** A supervisor whose command waits for "go": attach its pid, then release it. */
async function held(argv: string[]): Promise<StartedSupervisor> {
  const r = runs.fresh();
  const s = await startSupervisor({ sandbox: r.sandbox, runDir: r.runDir, argv, env: { PATH: '/usr/bin:/bin' } });
  started.push(s);
  return s;
}

/** Processes whose command line contains `marker`. */
function withMarker(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'latin1').includes(marker) && alive(Number(d))) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

test('the host is v1 with the controllers the isolators use', (t) => {
  const cg = hostCgroups();
  t.is(cg.version, 1);
  for (const c of ALL) t.true(cg.has(c), c);
});

test('limits are visible in the cgroup files; the attached process is in every hierarchy; stats and counts', async (t) => {
  const cg = hostCgroups();
  const path = `${root()}/c1`;
  t.true(cg.create(path, ALL));
  t.false(cg.create(path, ALL), 'idempotent');
  cg.setCpuShares(path, 1536);
  cg.setCpuQuota(path, 150_000, 100_000);
  cg.setMemoryLimit(path, 64 * 1024 * 1024);
  cg.setMemorySoftLimit(path, 64 * 1024 * 1024);
  t.is(readCgroupFile(join(cgroupDir(path, 'cpu'), 'cpu.shares')).trim(), '1536');
  t.is(readCgroupFile(join(cgroupDir(path, 'cpu'), 'cpu.cfs_period_us')).trim(), '100000');
  t.is(readCgroupFile(join(cgroupDir(path, 'cpu'), 'cpu.cfs_quota_us')).trim(), '150000');
  t.is(readCgroupFile(join(cgroupDir(path, 'memory'), 'memory.limit_in_bytes')).trim(), String(64 * 1024 * 1024));
  t.is(readCgroupFile(join(cgroupDir(path, 'memory'), 'memory.soft_limit_in_bytes')).trim(), String(64 * 1024 * 1024));
  t.is(cg.memoryLimit(path), 64 * 1024 * 1024);
  cg.setCpuQuota(path, undefined, 100_000);
  t.is(readCgroupFile(join(cgroupDir(path, 'cpu'), 'cpu.cfs_quota_us')).trim(), '-1');

  const s = await held(['/bin/sh', '-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 30']);
  cg.attach(path, ALL, s.childPid);
  await s.release();
  for (const c of ALL) t.deepEqual(cg.pids(path, c), [s.childPid], c);
  const own = readFileSync(`/proc/${s.childPid}/cgroup`, 'utf8');
  t.regex(own, new RegExp(`:memory:/${path}$`, 'm'));
  t.regex(own, new RegExp(`:freezer:/${path}$`, 'm'));
  await until(() => cg.pids(path, 'cpu').length === 2, 20_000, 'the loop to finish and sleep to start');
  const cpu = cg.cpuStats(path);
  t.true((cpu.userSecs ?? 0) + (cpu.systemSecs ?? 0) > 0, JSON.stringify(cpu));
  t.is(typeof cpu.nrPeriods, 'number');
  t.is(typeof cpu.throttledSecs, 'number');
  const mem = cg.memoryStats(path);
  t.true((mem.totalBytes ?? 0) > 0, JSON.stringify(mem));
  t.is(typeof mem.rssBytes, 'number');
  t.is(typeof mem.cacheBytes, 'number');
  t.deepEqual(cg.counts(path, 'cpu'), { processes: 2, threads: 2 });
  t.is(cg.oomKills(path), 0);

  await cg.killAll(path, ALL);
  for (const c of ALL) t.deepEqual(cg.pids(path, c), []);
  await cg.remove(path, ALL);
  for (const c of ALL) t.false(existsSync(cgroupDir(path, c)), c);
  t.deepEqual(cg.children(path.split('/')[0]!, 'memory'), []);
});

test('OOM: over its memory limit a process is killed by the kernel and the eventfd listener is called', async (t) => {
  const cg = hostCgroups();
  const path = `${root()}/hog`;
  cg.create(path, ['memory', 'freezer']);
  cg.setMemoryLimit(path, 32 * 1024 * 1024);
  let events = 0;
  const stop = cg.watchOom(path, () => events++);
  const s = await held(['/bin/sh', '-c', 'x=a; while true; do x=$x$x; done']);
  cg.attach(path, ['memory', 'freezer'], s.childPid);
  await s.release();
  const exit = await s.exited;
  t.is(exit.code, 128 + 9, 'the command was SIGKILLed');
  await until(() => events > 0, 5000, 'the OOM event');
  stop();
  t.true((cg.oomKills(path) ?? 0) >= 1);
  t.true((cg.memoryPeak(path) ?? 0) >= 30 * 1024 * 1024);
  await cg.remove(path, ['memory', 'freezer']);
  t.is(events >= 1, true);
});

test('swap limited with the memory: memory.memsw.limit_in_bytes follows memory.limit_in_bytes up and down (the kernel refuses memsw < memory)', (t) => {
  const cg = hostCgroups();
  const path = `${root()}/swap`;
  cg.create(path, ['memory']);
  t.true(cg.hasSwapAccounting(path), 'this host accounts swap (memory.memsw.*)');
  t.true(cg.hasMemoryPressureLevels(), 'this host has memory.pressure_level');
  const limits = (): [string, string] => [file(path, 'memory.limit_in_bytes'), file(path, 'memory.memsw.limit_in_bytes')];
  const MB = 1024 * 1024;
  for (const mb of [64, 128, 32, 256]) {
    cg.setMemoryLimitWithSwap(path, mb * MB);
    t.deepEqual(limits(), [String(mb * MB), String(mb * MB)], `${mb} MB`);
  }
  // The order matters: written the other way round, the kernel says EINVAL.
  t.throws(() => writeFileSync(join(cgroupDir(path, 'memory'), 'memory.memsw.limit_in_bytes'), String(128 * MB)), { code: 'EINVAL' });
  cg.setMemoryLimitWithSwap(path, Infinity);
  t.is(cg.memoryLimit(path), Infinity);
  t.true(Number(file(path, 'memory.memsw.limit_in_bytes')) >= 2 ** 62, 'memsw unlimited again');
  t.is(typeof cg.memoryAndSwapUsage(path), 'number');
});

test('killAll: a fork bomb (shells that fork, leave their session, and fork sleeps without end) is killed at once; nothing escapes', async (t) => {
  const cg = hostCgroups();
  const path = `${root()}/bomb`;
  cg.create(path, ALL);
  const marker = `corral-bomb-${process.pid}-${Date.now()}`;
  // Bounded to 2^7 shells, each forking a sleep 5 times a second, so the host stays usable.
  const script = `: ${marker}; d=$1; if [ "$d" -lt 6 ]; then sh -c "$0" "$0" $((d+1)) & setsid sh -c "$0" "$0" $((d+1)) & fi; while :; do sleep 0.2; done`;
  const s = await held(['/bin/sh', '-c', script, script, '0']);
  cg.attach(path, ALL, s.childPid);
  await s.release();
  await until(() => withMarker(marker).length >= 127, 20_000, 'the bomb to grow to its 127 shells');
  const before = cg.pids(path, 'freezer').length;
  t.true(before >= 127, `${before} processes`);
  const t0 = performance.now();
  await cg.killAll(path, ['freezer']);
  const ms = performance.now() - t0;
  t.deepEqual(cg.pids(path, 'freezer'), []);
  t.is((await s.exited).code, 128 + 9, 'the supervisor saw its command SIGKILLed');
  t.deepEqual(withMarker(marker), [], 'no shell of the bomb is left anywhere on the host');
  t.log(`${before} processes killed in ${ms.toFixed(1)} ms`);
  t.is(readCgroupFile(join(cgroupDir(path, 'freezer'), 'freezer.state')).trim(), 'THAWED');
  await cg.remove(path, ALL);
  for (const c of ALL) t.false(existsSync(cgroupDir(path, c)));
});

test('leftovers: the cgroups of a test process that is gone are emptied and removed; those of live ones are kept', async (t) => {
  const cg = hostCgroups();
  // A pid that is gone: a short process that has ended.
  const gone = await new Promise<number>((resolve) => {
    const p = spawn('true');
    p.on('close', () => resolve(p.pid!));
  });
  const leftover = `${TEST_PREFIX}${gone}-7`;
  const mine = root();
  cg.create(`${leftover}/c`, ALL);
  cg.create(`${mine}/c`, ALL);
  const s = await held(['sleep', '30']);
  cg.attach(`${leftover}/c`, ALL, s.childPid);
  await s.release();
  const removed = await clearLeftoverCgroups();
  t.true(removed.includes(leftover));
  t.false(removed.includes(mine));
  for (const c of ALL) t.false(existsSync(cgroupDir(leftover, c)), c);
  t.true(existsSync(cgroupDir(`${mine}/c`, 'memory')));
  t.false(alive(s.childPid), 'its process was killed');
});

test('a missing cgroup: stats fail with ENOENT; removal and killAll are done at once', async (t) => {
  const cg = hostCgroups();
  const path = `${root()}/none`;
  t.throws(() => cg.memoryStats(path), { code: 'ENOENT' });
  t.throws(() => cg.setCpuShares(path, 1024), { code: 'ENOENT' });
  await cg.killAll(path, ALL);
  await cg.remove(path, ALL);
  t.deepEqual(cg.pids(path, 'cpu'), []);
  t.false(cg.exists(path, 'cpu'));
});

test('a cgroup a task made inside its own cgroup is removed with it', async (t) => {
  const cg = hostCgroups();
  const path = `${root()}/nested`;
  cg.create(path, ['memory']);
  mkdirSync(join(cgroupDir(path, 'memory'), 'inner', 'deeper'), { recursive: true });
  writeFileSync(join(cgroupDir(path, 'memory'), 'inner', 'memory.limit_in_bytes'), String(16 * 1024 * 1024));
  await cg.remove(path, ['memory']);
  t.false(existsSync(cgroupDir(path, 'memory')));
  await sleep(0);
});
