/**
 * joinFiles: the cgroup.procs files a process writes its pid into to join another process's
 * cgroups (a health check beside its task), from the texts of /proc/PID/cgroup,
 * /proc/self/cgroup and /proc/self/mountinfo: v1 with named and co-mounted hierarchies, a
 * mount whose root is not the hierarchy's, and v2.
 */
import test from 'ava';
import { joinFiles } from '../../lib/linux/index.ts';

const MOUNTINFO_V1 = [
  '25 19 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
  '26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd',
  '29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct',
  '30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory',
  '31 25 0:28 /corral /mnt/freezer rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,freezer',
  '32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids',
].join('\n');

test('v1: only the hierarchies where the task is elsewhere, under each mount (its root taken off)', (t) => {
  const task = ['12:pids:/', '7:freezer:/corral/c1', '4:memory:/corral/c1', '3:cpu,cpuacct:/corral/c1', '1:name=systemd:/system.slice/corral.service', ''].join(
    '\n',
  );
  const self = ['12:pids:/', '7:freezer:/', '4:memory:/', '3:cpu,cpuacct:/', '1:name=systemd:/system.slice/corral.service', ''].join('\n');
  t.deepEqual(joinFiles(task, self, MOUNTINFO_V1).sort(), [
    '/mnt/freezer/c1/cgroup.procs',
    '/sys/fs/cgroup/cpu,cpuacct/corral/c1/cgroup.procs',
    '/sys/fs/cgroup/memory/corral/c1/cgroup.procs',
  ]);
  // The same cgroups as ours: nothing to join.
  t.deepEqual(joinFiles(self, self, MOUNTINFO_V1), []);
});

test('v2: the unified hierarchy', (t) => {
  const mountinfo = '35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate';
  t.deepEqual(joinFiles('0::/corral/c1\n', '0::/system.slice/corral.service\n', mountinfo), ['/sys/fs/cgroup/corral/c1/cgroup.procs']);
});

test('a hierarchy that is not mounted here is left out', (t) => {
  t.deepEqual(joinFiles('5:blkio:/corral/c1\n', '5:blkio:/\n', MOUNTINFO_V1), []);
});
