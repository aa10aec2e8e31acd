/**
 * lib/linux/cgroups without root: discovery from mountinfo / /proc/cgroups text (v1 hybrid as on
 * the test hosts, v1 co-mounted, v2, nothing), the parsers, and cgroup v2 against a FAKE tree:
 * a temp directory holding the v2 files (cgroup.controllers, cgroup.subtree_control, cpu.max,
 * cpu.weight, memory.max, memory.events, cgroup.procs, cgroup.kill, cpu.stat, memory.stat). The
 * test hosts run cgroup v1, so v2 is checked this way only: what is written where, and what is
 * read from which file. v1 is tested for real in cgroups.root.test.ts.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupsOf, findCgroups, parseKeyValues, sharesToWeight, type Cgroups } from '../../lib/linux/index.ts';

const PROC_CGROUPS = `#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
cpuacct\t2\t1\t1
memory\t4\t41\t1
freezer\t6\t1\t1
net_cls\t0\t2\t1
pids\t8\t1\t1
hugetlb\t0\t1\t0
`;

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

test('discovery: v1 hybrid: one mount per controller under the hierarchy; named and v2 mounts ignored', (t) => {
  const l = findCgroups('/sys/fs/cgroup', HYBRID, PROC_CGROUPS);
  t.is(l.version, 1);
  if (l.version !== 1) return;
  t.deepEqual(Object.fromEntries(l.mounts), {
    cpu: '/sys/fs/cgroup/cpu',
    cpuacct: '/sys/fs/cgroup/cpuacct',
    memory: '/sys/fs/cgroup/memory',
    freezer: '/sys/fs/cgroup/freezer',
    pids: '/sys/fs/cgroup/pids',
  });
  t.is(findCgroups('/sys/fs/cgroup/', HYBRID, PROC_CGROUPS).hierarchy, '/sys/fs/cgroup');
});

test('discovery: v1 with co-mounted cpu,cpuacct; a disabled controller is left out', (t) => {
  const mi = `1 0 0:1 / /cg rw - tmpfs tmpfs rw
2 1 0:2 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
3 1 0:3 / /cg/hugetlb rw - cgroup cgroup rw,hugetlb
`;
  const l = findCgroups('/cg', mi, PROC_CGROUPS);
  t.is(l.version, 1);
  if (l.version === 1) t.deepEqual(Object.fromEntries(l.mounts), { cpu: '/cg/cpu,cpuacct', cpuacct: '/cg/cpu,cpuacct' });
  const cg = cgroupsOf(l);
  t.true(cg.has('cpu') && cg.has('cpuacct'));
  t.false(cg.has('memory'));
  // Co-mounted controllers share one directory: made and removed once.
  t.deepEqual(cg.dirs('corral/x', ['cpu', 'cpuacct']), ['/cg/cpu,cpuacct/corral/x']);
});

test('discovery: v2 when the hierarchy is a cgroup2 mount; the last mount on a point wins; nothing is an error', (t) => {
  const v2 = '30 1 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n';
  t.deepEqual(findCgroups('/sys/fs/cgroup', v2, PROC_CGROUPS), { version: 2, hierarchy: '/sys/fs/cgroup' });
  // A tmpfs mounted over the cgroup2 mount hides it.
  t.is(findCgroups('/sys/fs/cgroup', v2 + HYBRID, PROC_CGROUPS).version, 1);
  // The hybrid's cgroup2 mount, asked for directly.
  t.is(findCgroups('/sys/fs/cgroup/unified', HYBRID, PROC_CGROUPS).version, 2);
  const e = t.throws(() => findCgroups('/nowhere', HYBRID, PROC_CGROUPS));
  t.is((e as { code?: string }).code, 'CGROUPS_NOT_FOUND');
  t.regex(e?.message ?? '', /no cgroup hierarchy at \/nowhere/);
});

test('discovery: escaped mount points (\\040) are decoded', (t) => {
  const mi = '1 0 0:1 / /my\\040cg rw - tmpfs tmpfs rw\n2 1 0:2 / /my\\040cg/memory rw - cgroup cgroup rw,memory\n';
  const l = findCgroups('/my cg', mi, PROC_CGROUPS);
  t.is(l.version === 1 ? l.mounts.get('memory') : undefined, '/my cg/memory');
});

test('parsers: key-value files, shares to weight', (t) => {
  t.deepEqual(Object.fromEntries(parseKeyValues('user 12\nsystem 3\n')), { user: 12, system: 3 });
  t.deepEqual(Object.fromEntries(parseKeyValues('a 1\nbad\nb 2')), { a: 1, b: 2 });
  t.is(sharesToWeight(2), 1);
  t.is(sharesToWeight(1024), 39);
  t.is(sharesToWeight(262_144), 10_000);
  t.is(sharesToWeight(1), 1);
  t.is(sharesToWeight(10 ** 9), 10_000);
});

// ----- cgroup v2 against a fake tree ----------------------------------------------------------

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The files the kernel makes in every v2 cgroup (a fake: plain files with typical contents). */
function fakeCgroup(dir: string, controllers = 'cpu memory pids'): void {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    'cgroup.controllers': `${controllers}\n`,
    'cgroup.subtree_control': '',
    'cgroup.procs': '',
    'cgroup.kill': '',
    'cpu.max': 'max 100000\n',
    'cpu.weight': '100\n',
    'cpu.stat': 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 7\nthrottled_usec 350000\n',
    'memory.max': 'max\n',
    'memory.current': '7340032\n',
    'memory.events': 'low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n',
    'memory.stat': 'anon 4194304\nfile 2097152\nkernel 65536\nfile_mapped 1048576\nunevictable 0\n',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** A fake v2 hierarchy with cgroup `root/id` already made (as mkdir would on cgroupfs). */
function fakeTree(root = 'corral', id = 'c1'): { top: string; cg: Cgroups; dir: string; path: string } {
  const top = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-v2-`));
  dirs.push(top);
  fakeCgroup(top);
  fakeCgroup(join(top, root));
  fakeCgroup(join(top, root, id));
  return { top, cg: cgroupsOf({ version: 2, hierarchy: top }), dir: join(top, root, id), path: `${root}/${id}` };
}

const read = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8');

test("v2 (fake tree): create enables the controllers in every ancestor's subtree_control, in one write each", (t) => {
  const { top, cg, path } = fakeTree();
  t.is(cg.version, 2);
  t.true(cg.has('cpu') && cg.has('cpuacct') && cg.has('memory') && cg.has('freezer'));
  cg.create(path, ['cpu', 'cpuacct', 'memory', 'freezer']);
  t.is(read(top, 'cgroup.subtree_control'), '+cpu +memory');
  t.is(read(join(top, 'corral'), 'cgroup.subtree_control'), '+cpu +memory');
  t.is(read(join(top, 'corral', 'c1'), 'cgroup.subtree_control'), '', 'the container itself is a leaf');
  // Enabled already: nothing is written again.
  writeFileSync(join(top, 'cgroup.subtree_control'), 'cpu memory\n');
  writeFileSync(join(top, 'corral', 'cgroup.subtree_control'), 'cpu\n');
  cg.create(path, ['memory', 'cpu']);
  t.is(read(top, 'cgroup.subtree_control'), 'cpu memory\n');
  t.is(read(join(top, 'corral'), 'cgroup.subtree_control'), '+memory');
});

test('v2 (fake tree): a controller the hierarchy lacks is refused', (t) => {
  const { top, path } = fakeTree();
  writeFileSync(join(top, 'cgroup.controllers'), 'cpu\n');
  const cg = cgroupsOf({ version: 2, hierarchy: top });
  t.false(cg.has('memory'));
  t.throws(() => cg.create(path, ['memory']), { code: 'ENOENT', message: /memory controller is not available/ });
});

test('v2 (fake tree): limits go to cpu.weight, cpu.max and memory.max; the pid to cgroup.procs', (t) => {
  const { cg, dir, path } = fakeTree();
  cg.setCpuShares(path, 1536);
  t.is(read(dir, 'cpu.weight'), String(sharesToWeight(1536)));
  cg.setCpuQuota(path, 150_000, 100_000);
  t.is(read(dir, 'cpu.max'), '150000 100000');
  cg.setCpuQuota(path, undefined, 100_000);
  t.is(read(dir, 'cpu.max'), 'max 100000');
  cg.setMemoryLimit(path, 64 * 1024 * 1024);
  t.is(read(dir, 'memory.max'), String(64 * 1024 * 1024));
  t.is(cg.memoryLimit(path), 64 * 1024 * 1024);
  cg.setMemoryLimit(path, Infinity);
  t.is(read(dir, 'memory.max'), 'max');
  t.is(cg.memoryLimit(path), Infinity);
  t.false(cg.setMemorySoftLimit(path, 1), 'no soft limit on v2');
  cg.attach(path, ['cpu', 'memory'], 4242);
  t.is(read(dir, 'cgroup.procs'), '4242');
  // A file that is not there is an error, never created.
  t.throws(() => cg.setCpuShares('corral/missing', 1024), { code: 'ENOENT' });
  t.false(existsSync(join(dir, '..', 'missing')));
});

test('v2 (fake tree): statistics from cpu.stat, memory.current, memory.stat; counts; OOM kills from memory.events', (t) => {
  const { cg, dir, path } = fakeTree();
  t.deepEqual(cg.cpuStats(path), { userSecs: 2, systemSecs: 0.5, nrPeriods: 40, nrThrottled: 7, throttledSecs: 0.35 });
  t.deepEqual(cg.memoryStats(path), { totalBytes: 7340032, rssBytes: 4194304, cacheBytes: 2097152, mappedFileBytes: 1048576, unevictableBytes: 0 });
  writeFileSync(join(dir, 'memory.swap.current'), '4096\n');
  t.is(cg.memoryStats(path).swapBytes, 4096);
  writeFileSync(join(dir, 'cgroup.procs'), '10\n11\n');
  writeFileSync(join(dir, 'cgroup.threads'), '10\n11\n12\n');
  t.deepEqual(cg.counts(path, 'cpu'), { processes: 2, threads: 3 });
  t.deepEqual(cg.pids(path, 'memory'), [10, 11]);
  t.is(cg.oomKills(path), 0);
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n');
  t.is(cg.oomKills(path), 1);
  t.regex(cg.memoryStatText(path) ?? '', /^anon 4194304$/m);
  t.is(cg.memoryPeak(path), undefined, 'no memory.peak in this tree');
  t.deepEqual(cg.children('corral', 'cpu'), ['c1']);
  t.deepEqual(cg.children('', 'cpu'), ['corral']);
});

test('v2 (fake tree): swap limited = memory.max and memory.swap.max 0; memory + swap in use; no pressure levels', (t) => {
  const { cg, dir, path } = fakeTree();
  t.false(cg.hasSwapAccounting(path), 'no memory.swap.max: no swap accounting');
  t.is(cg.memoryAndSwapUsage(path), undefined);
  writeFileSync(join(dir, 'memory.swap.max'), 'max\n');
  writeFileSync(join(dir, 'memory.swap.current'), '1048576\n');
  t.true(cg.hasSwapAccounting(path));
  cg.setMemoryLimitWithSwap(path, 64 * 1024 * 1024);
  t.is(read(dir, 'memory.max'), String(64 * 1024 * 1024));
  t.is(read(dir, 'memory.swap.max'), '0');
  t.is(cg.memoryAndSwapUsage(path), 7340032 + 1048576);
  t.false(cg.hasMemoryPressureLevels());
  t.throws(() => cg.watchMemoryPressure(path, 'low', () => {}), { code: 'ENOTSUP', message: /cgroup v2 has no memory.pressure_level/ });
});

test('v2 (fake tree): watchOom fires when memory.events shows a new oom_kill, and stops', async (t) => {
  const { cg, dir, path } = fakeTree();
  let fired = 0;
  const stop = cg.watchOom(path, () => fired++);
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 4\noom 0\noom_kill 0\n'); // no kill: nothing
  await sleep(100);
  t.is(fired, 0);
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n');
  for (let i = 0; i < 100 && fired === 0; i++) await sleep(10);
  t.is(fired, 1);
  stop();
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n');
  await sleep(100);
  t.is(fired, 1, 'stopped');
});

test('v2 (fake tree): killAll writes cgroup.kill and waits until cgroup.procs is empty; remove takes the directory', async (t) => {
  const { top, cg, dir, path } = fakeTree();
  // Pids above any pid_max: nothing real is ever signalled by this test.
  writeFileSync(join(dir, 'cgroup.procs'), '99999991\n99999992\n');
  let killed = '';
  const kernel = (async () => {
    for (let i = 0; i < 200 && (killed = read(dir, 'cgroup.kill')) !== '1'; i++) await sleep(5);
    writeFileSync(join(dir, 'cgroup.procs'), ''); // the "kernel" ends them
  })();
  await cg.killAll(path, ['freezer']);
  await kernel;
  t.is(killed, '1');
  await cg.remove(path, ['cpu', 'memory']);
  t.false(existsSync(dir));
  t.true(existsSync(join(top, 'corral')), 'the root stays');
  await cg.remove(path, ['cpu']); // gone: done
  await cg.killAll(path, ['freezer']); // gone: nothing to kill
});

test('v2 (fake tree): without cgroup.kill, the cgroup is frozen (cgroup.freeze), killed and thawed', async (t) => {
  const { cg, dir, path } = fakeTree();
  rmSync(join(dir, 'cgroup.kill'));
  writeFileSync(join(dir, 'cgroup.freeze'), '0\n');
  writeFileSync(join(dir, 'cgroup.events'), 'populated 1\nfrozen 0\n');
  writeFileSync(join(dir, 'cgroup.procs'), '99999993\n');
  const kernel = (async () => {
    for (let i = 0; i < 200 && read(dir, 'cgroup.freeze') !== '1'; i++) await sleep(2);
    writeFileSync(join(dir, 'cgroup.events'), 'populated 1\nfrozen 1\n');
    for (let i = 0; i < 200 && read(dir, 'cgroup.freeze') !== '0'; i++) await sleep(2);
    writeFileSync(join(dir, 'cgroup.procs'), '');
  })();
  await cg.killAll(path, ['freezer']);
  await kernel;
  t.is(read(dir, 'cgroup.freeze'), '0', 'thawed again');
  t.deepEqual(cg.pids(path, 'cpu'), []);
});

test('paths must stay inside the hierarchy', (t) => {
  const { cg } = fakeTree();
  for (const bad of ['/abs', '../up', 'a/../../up', '.', '']) t.throws(() => cg.create(bad, ['cpu']), { code: 'EINVAL' });
});
