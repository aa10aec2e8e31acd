/**
 * cgroups/cpu and cgroups/mem, the Linux launcher and createContainerizer over cgroup v2 — against
 * a FAKE v2 tree (a temp directory with the v2 files), since the test hosts run cgroup v1 (v1 is
 * tested for real in linux.root.test.ts). What is checked: which file gets which value, what
 * usage() reads, OOM from memory.events, and that cleanup removes the container's cgroup.
 * Also: `--isolation` parsing and the launcher it picks.
 */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createContainerizer } from '../../../lib/agent/containerizer/factory.ts';
import { agentFlagValues } from '../../helpers/agent_flags.ts';
import { parseIsolation, needsLinuxLauncher } from '../../../lib/agent/containerizer/registry.ts';
import { CgroupsCpuIsolator } from '../../../lib/agent/containerizer/isolators/cgroups_cpu.ts';
import { CgroupsMemIsolator } from '../../../lib/agent/containerizer/isolators/cgroups_mem.ts';
import { CgroupsLauncher, LinuxContainerizer } from '../../../lib/agent/containerizer/linux.ts';
import { SupervisorContainerizer } from '../../../lib/agent/containerizer/supervisor_containerizer.ts';
import { agentFlags } from '../../../lib/agent/flags.ts';
import { parseFlags } from '../../../lib/common/flags.ts';
import { parseResourcesText } from '../../../lib/common/resources/index.ts';
import { cgroupsOf, sharesToWeight, type Cgroups } from '../../../lib/linux/index.ts';

const made: string[] = [];
test.after.always(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function fakeCgroup(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    'cgroup.controllers': 'cpu memory pids\n',
    'cgroup.subtree_control': '',
    'cgroup.procs': '',
    'cgroup.threads': '',
    'cgroup.kill': '',
    'cpu.max': 'max 100000\n',
    'cpu.weight': '100\n',
    'cpu.stat': 'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 12\nnr_throttled 3\nthrottled_usec 250000\n',
    'memory.max': 'max\n',
    'memory.current': '3145728\n',
    'memory.peak': '33554432\n',
    'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
    'memory.stat': 'anon 2097152\nfile 1048576\nfile_mapped 524288\n',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** A fake v2 hierarchy where the cgroups of `ids` under `root` "exist" (the kernel would make their files). */
function fakeV2(root: string, ids: string[]): { top: string; cg: Cgroups } {
  const top = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-v2iso-`));
  made.push(top);
  fakeCgroup(top);
  fakeCgroup(join(top, root));
  for (const id of ids) fakeCgroup(join(top, root, id));
  return { top, cg: cgroupsOf({ version: 2, hierarchy: top }) };
}

const read = (...p: string[]): string => readFileSync(join(...p), 'utf8');
const config = (containerId: string, res: string) => ({ containerId, sandbox: '/nonexistent', resources: parseResourcesText(res) });

test('cgroups/cpu on v2 (fake tree): weight from 1024 shares per cpu, CFS quota in cpu.max, usage from cpu.stat', async (t) => {
  const { top, cg } = fakeV2('corral', ['c1']);
  const cpu = new CgroupsCpuIsolator({ cgroups: cg, root: 'corral', enableCfs: true });
  await cpu.prepare(config('c1', 'cpus:1.5;mem:64'));
  const dir = join(top, 'corral', 'c1');
  t.is(read(dir, 'cpu.weight'), String(sharesToWeight(1536)));
  t.is(read(dir, 'cpu.max'), '150000 100000');
  t.is(read(top, 'cgroup.subtree_control'), '+cpu');
  await cpu.isolate('c1', 4321);
  t.is(read(dir, 'cgroup.procs'), '4321');
  writeFileSync(join(dir, 'cgroup.procs'), '4321\n');
  writeFileSync(join(dir, 'cgroup.threads'), '4321\n4322\n');
  t.deepEqual(cpu.usage('c1'), {
    cpus_user_time_secs: 1,
    cpus_system_time_secs: 0.5,
    cpus_nr_periods: 12,
    cpus_nr_throttled: 3,
    cpus_throttled_time_secs: 0.25,
    processes: 1,
    threads: 2,
  });
  // Tiny cpus: the minimum quota and weight.
  await cpu.update('c1', parseResourcesText('cpus:0.001'));
  t.is(read(dir, 'cpu.max'), '1000 100000');
  t.is(read(dir, 'cpu.weight'), '1');
  await cpu.cleanup('c1');
  t.false(existsSync(dir));
  t.is(cpu.usage('c1'), undefined);
  await cpu.cleanup('c1'); // again: done
});

test('cgroups/cpu without CFS reports no throttling fields and leaves cpu.max alone', async (t) => {
  const { top, cg } = fakeV2('corral', ['c1']);
  const cpu = new CgroupsCpuIsolator({ cgroups: cg, root: 'corral', enableCfs: false });
  await cpu.prepare(config('c1', 'cpus:2'));
  t.is(read(top, 'corral', 'c1', 'cpu.max'), 'max 100000\n');
  t.is(read(top, 'corral', 'c1', 'cpu.weight'), String(sharesToWeight(2048)));
  t.deepEqual(Object.keys(cpu.usage('c1')!).sort(), ['cpus_system_time_secs', 'cpus_user_time_secs', 'processes', 'threads']);
});

test('cgroups/mem on v2 (fake tree): memory.max = max(mem, 32 MB), only raised; usage; OOM from memory.events', async (t) => {
  const { top, cg } = fakeV2('corral', ['m1', 'm2']);
  const mem = new CgroupsMemIsolator({ cgroups: cg, root: 'corral' });
  await mem.prepare(config('m1', 'cpus:1;mem:16'));
  const dir = join(top, 'corral', 'm1');
  t.is(read(dir, 'memory.max'), String(32 * 1024 * 1024), 'at least 32 MB');
  await mem.update('m1', parseResourcesText('mem:128'));
  t.is(read(dir, 'memory.max'), String(128 * 1024 * 1024));
  await mem.update('m1', parseResourcesText('mem:64'));
  t.is(read(dir, 'memory.max'), String(128 * 1024 * 1024), 'never lowered');
  t.deepEqual(mem.usage('m1'), {
    mem_total_bytes: 3145728,
    mem_rss_bytes: 2097152,
    mem_anon_bytes: 2097152,
    mem_cache_bytes: 1048576,
    mem_file_bytes: 1048576,
    mem_mapped_file_bytes: 524288,
  });
  t.is(await mem.limitationAtEnd('m1'), undefined);
  const watched = mem.watch('m1');
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n');
  const l = await Promise.race([watched, sleep(3000).then(() => undefined)]);
  t.is(l?.reason, 'REASON_CONTAINER_LIMITATION_MEMORY');
  t.is(l?.resource, 'mem');
  t.regex(l?.message ?? '', /^Memory limit exceeded: Requested: 128MB Maximum Used: 32MB\n\nMEMORY STATISTICS: \nanon 2097152\n/);
  t.is((await mem.limitationAtEnd('m1'))?.reason, 'REASON_CONTAINER_LIMITATION_MEMORY');
  await mem.cleanup('m1');
  t.false(existsSync(dir));
  // A container it never prepared: cleanup removes its cgroup all the same (orphans, half-prepared).
  await mem.cleanup('m2');
  t.false(existsSync(join(top, 'corral', 'm2')));
  await t.throwsAsync(mem.update('m2', parseResourcesText('mem:64')), { code: 'CONTAINER_NOT_FOUND' });
});

test('cgroups/mem --cgroups_limit_swap on v2 (fake tree): memory.swap.max 0 with memory.max; mem_total_memsw_bytes = memory.current + memory.swap.current; no pressure counters', async (t) => {
  const { top, cg } = fakeV2('corral', ['s1']);
  const dir = join(top, 'corral', 's1');
  // The kernel shows memory.swap.* in every non-root cgroup when it accounts swap.
  for (const d of [join(top, 'corral'), dir]) {
    writeFileSync(join(d, 'memory.swap.max'), 'max\n');
    writeFileSync(join(d, 'memory.swap.current'), '1048576\n');
  }
  const mem = new CgroupsMemIsolator({ cgroups: cg, root: 'corral', limitSwap: true });
  await mem.prepare(config('s1', 'cpus:1;mem:64'));
  t.is(read(dir, 'memory.max'), String(64 * 1024 * 1024));
  t.is(read(dir, 'memory.swap.max'), '0');
  await mem.isolate('s1', 4321);
  await mem.update('s1', parseResourcesText('mem:128'));
  t.is(read(dir, 'memory.max'), String(128 * 1024 * 1024));
  t.is(read(dir, 'memory.swap.max'), '0');
  const u = mem.usage('s1')!;
  t.is(u.mem_total_memsw_bytes, 3145728 + 1048576);
  t.is(u.mem_swap_bytes, 1048576);
  t.false('mem_low_pressure_counter' in u, 'v2 has no pressure levels: the counters are left out, not made up');
  // Without the flag: swap untouched, no memsw figure.
  const plain = new CgroupsMemIsolator({ cgroups: cg, root: 'corral' });
  writeFileSync(join(dir, 'memory.swap.max'), 'max\n');
  await plain.prepare(config('s1', 'cpus:1;mem:64'));
  t.is(read(dir, 'memory.swap.max'), 'max\n');
  t.false('mem_total_memsw_bytes' in plain.usage('s1')!);
  await mem.cleanup('s1');
  t.false(existsSync(dir));
});

test('--cgroups_limit_swap where the kernel does not account swap: refused at start, naming the flag', (t) => {
  const { top, cg } = fakeV2('corral', []);
  t.throws(() => new CgroupsMemIsolator({ cgroups: cg, root: 'corral', limitSwap: true }), {
    code: 'ISOLATION_UNAVAILABLE',
    message: /^--cgroups_limit_swap: this kernel does not account swap per cgroup \(no memory.swap.max in .*\/corral;.*leave the flag off$/,
  });
  t.throws(
    () => createContainerizer(agentFlagValues({ isolation: 'cgroups/cpu,cgroups/mem', cgroups_root: 'corral', cgroups_limit_swap: true }), { cgroups: cg }),
    { message: /^--cgroups_limit_swap: / },
  );
  // Off, or without cgroups/mem: nothing to check.
  createContainerizer(agentFlagValues({ isolation: 'cgroups/cpu,cgroups/mem', cgroups_root: 'corral' }), { cgroups: cg }).close();
  createContainerizer(agentFlagValues({ isolation: 'cgroups/cpu', cgroups_root: 'corral', cgroups_limit_swap: true }), { cgroups: cg }).close();
  // v1 without memory.memsw.* (a fake v1 memory hierarchy).
  const v1 = join(top, 'v1memory');
  mkdirSync(v1);
  writeFileSync(join(v1, 'memory.limit_in_bytes'), '9223372036854771712\n');
  const cg1 = cgroupsOf({ version: 1, hierarchy: top, mounts: new Map([['memory', v1]]) });
  t.throws(() => new CgroupsMemIsolator({ cgroups: cg1, root: 'corral', limitSwap: true }), {
    code: 'ISOLATION_UNAVAILABLE',
    message: /^--cgroups_limit_swap: this kernel does not account swap per cgroup \(no memory.memsw.limit_in_bytes in the memory hierarchy under /,
  });
});

test('--cgroups_limit_swap: a boolean, false by default; a bad value names the flag', (t) => {
  const base = ['--master=m:5050', '--work_dir=/tmp/w', '--isolation=cgroups/mem'];
  t.false(parseFlags(agentFlags, { argv: base, env: {} }).values.cgroups_limit_swap);
  t.true(parseFlags(agentFlags, { argv: [...base, '--cgroups_limit_swap'], env: {} }).values.cgroups_limit_swap);
  t.false(parseFlags(agentFlags, { argv: [...base, '--cgroups_limit_swap=false'], env: {} }).values.cgroups_limit_swap);
  t.true(parseFlags(agentFlags, { argv: base, env: { MESOS_CGROUPS_LIMIT_SWAP: 'true' } }).values.cgroups_limit_swap);
  t.throws(() => parseFlags(agentFlags, { argv: [...base, '--cgroups_limit_swap=maybe'], env: {} }), {
    message: /^--cgroups_limit_swap: 'maybe' is not a boolean/,
  });
});

test('the Linux launcher on v2 (fake tree): the cgroup is the container; destroy uses cgroup.kill; list shows the containers', async (t) => {
  const { top, cg } = fakeV2('corral', ['a', 'b']);
  const l = new CgroupsLauncher(cg, 'corral');
  await l.prepare('a');
  await l.attach('a', 777);
  t.is(read(top, 'corral', 'a', 'cgroup.procs'), '777');
  t.deepEqual((await l.list()).sort(), ['a', 'b']);
  writeFileSync(join(top, 'corral', 'a', 'cgroup.procs'), '99999997\n');
  const kernel = (async () => {
    while (read(top, 'corral', 'a', 'cgroup.kill') !== '1') await sleep(2);
    writeFileSync(join(top, 'corral', 'a', 'cgroup.procs'), '');
  })();
  await l.destroy('a');
  await kernel;
  await l.cleanup('a');
  t.deepEqual(await l.list(), ['b']);
});

test('--isolation: known names in order, each once; the launcher it needs', (t) => {
  t.deepEqual(parseIsolation('cgroups/mem, cgroups/cpu,namespaces/pid'), ['cgroups/mem', 'cgroups/cpu', 'namespaces/pid']);
  t.deepEqual(parseIsolation(''), []);
  t.throws(() => parseIsolation('posix/cpu,network/cni'), { message: /--isolation: unknown or unsupported isolator 'network\/cni'/ });
  t.true(needsLinuxLauncher(['network/port_mapping']));
  t.throws(() => parseIsolation('posix/cpu,posix/cpu'), { message: /listed twice/ });
  t.false(needsLinuxLauncher(['posix/cpu', 'posix/mem']));
  t.true(needsLinuxLauncher(['posix/cpu', 'cgroups/mem']));
  t.true(needsLinuxLauncher(['namespaces/pid']));
  t.true(needsLinuxLauncher(['filesystem/shared']));
  const f = parseFlags(agentFlags, { argv: ['--master=m:5050', '--work_dir=/tmp/w', '--isolation=cgroups/cpu,cgroups/mem', '--cgroups_enable_cfs'], env: {} });
  t.is(f.values.isolation, 'cgroups/cpu,cgroups/mem');
  t.true(f.values.cgroups_enable_cfs);
  t.is(f.values.cgroups_hierarchy, '/sys/fs/cgroup');
  t.is(f.values.cgroups_root, 'corral');
  t.throws(() => parseFlags(agentFlags, { argv: ['--master=m:5050', '--work_dir=/w', '--isolation=cgroups/blkio'], env: {} }), {
    message: /^--isolation: .*unknown or unsupported isolator 'cgroups\/blkio'/,
  });
});

test('createContainerizer: posix isolators keep the posix launcher; cgroups ones get the Linux launcher', (t) => {
  const posix = createContainerizer(agentFlagValues({ isolation: 'posix/cpu,posix/mem' }));
  t.true(posix instanceof SupervisorContainerizer && !(posix instanceof LinuxContainerizer));
  t.deepEqual(posix.isolation, ['posix/cpu', 'posix/mem']);
  posix.close();
  const { cg } = fakeV2('corral', []);
  const linux = createContainerizer(
    agentFlagValues({ isolation: 'cgroups/cpu,cgroups/mem,posix/cpu,namespaces/pid,filesystem/shared', cgroups_root: 'corral/test' }),
    { cgroups: cg },
  );
  t.true(linux instanceof LinuxContainerizer);
  t.deepEqual(linux.isolation, ['cgroups/cpu', 'cgroups/mem', 'posix/cpu', 'namespaces/pid', 'filesystem/shared']);
  t.is((linux as LinuxContainerizer).cgroupsRoot, 'corral/test');
  linux.close();
  t.throws(() => createContainerizer(agentFlagValues({ isolation: 'cgroups/cpu', cgroups_root: '../x' }), { cgroups: cg }), {
    message: /--cgroups_root: '..\/x' is not a cgroup path/,
  });
  // The top of the hierarchy would make every cgroup on the machine one of the agent's orphans.
  t.throws(() => createContainerizer(agentFlagValues({ isolation: 'cgroups/cpu', cgroups_root: '/' }), { cgroups: cg }), {
    message: /--cgroups_root: '\/' is the top of the cgroup hierarchy/,
  });
  t.throws(() => createContainerizer(agentFlagValues({ isolation: 'cgroups/cpu', cgroups_hierarchy: '/nonexistent/cgroup' })), {
    code: 'ISOLATION_UNAVAILABLE',
    message: /needs cgroups: no cgroup hierarchy at \/nonexistent\/cgroup/,
  });
  const noMemory = fakeV2('corral', []);
  writeFileSync(join(noMemory.top, 'cgroup.controllers'), 'cpu\n');
  t.throws(() => createContainerizer(agentFlagValues({ isolation: 'cgroups/mem' }), { cgroups: cgroupsOf({ version: 2, hierarchy: noMemory.top }) }), {
    code: 'ISOLATION_UNAVAILABLE',
    message: /cgroups\/mem needs the memory controller/,
  });
});
