/**
 * Control groups, v1 and v2, behind one interface (`Cgroups`), with the layout found at start-up
 * from /proc/self/mountinfo and /proc/cgroups.
 *
 *   - v1 (also "hybrid", as on this project's test hosts): one hierarchy per controller (or per
 *     set of co-mounted controllers) under the hierarchy directory, e.g. /sys/fs/cgroup/memory;
 *     a cgroup `P` of controller `c` is the directory <mount of c>/P.
 *   - v2 (unified): one tree at the hierarchy directory; a cgroup is one directory, the
 *     controllers it may use are those enabled in every ancestor's cgroup.subtree_control.
 *
 * Paths given to the methods are relative to the hierarchy (`corral/abc`). Callers name the
 * controllers as v1 does: `cpu` (weight, CFS quota, throttling), `cpuacct` (user/system time),
 * `memory`, `freezer`, `pids`. On v2 `cpuacct` is served by `cpu`, and `freezer` by the core
 * files every cgroup has (cgroup.freeze, cgroup.kill).
 *
 * The steps that wait (freezing, killing, removing) are async and poll with short timers; the
 * rest is synchronous (io.ts). Errors are CorralErrors whose code is the errno name (`ENOENT`,
 * `EBUSY`, `EINVAL`...) and whose message names the file; CGROUPS_NOT_FOUND when discovery
 * finds no usable hierarchy.
 *
 * This folder: types.ts (the interface), discover.ts (the layout at start-up), io.ts (control
 * files and the addon's listeners), stats.ts (their text formats), kill.ts (SIGKILL, freezer,
 * waiting), base.ts (what v1 and v2 share), v1.ts, v2.ts.
 */
export { cgroupsOf, findCgroups, openCgroups } from './discover.ts';
export { cgroupJoinFiles, joinFiles } from './membership.ts';
export { readCgroupFile, writeCgroupFile } from './io.ts';
export { parseKeyValues } from './stats.ts';
export { sharesToWeight } from './v2.ts';
export {
  MAX_CPU_SHARES,
  MIN_CPU_SHARES,
  type CgroupController,
  type CgroupCpuStats,
  type CgroupMemoryStats,
  type Cgroups,
  type CgroupsLayout,
  type KillOptions,
  type MemoryPressureLevel,
} from './types.ts';
