/**
 * lib/linux: the OS library. Typed wrappers over the native addon and the paths of the native
 * executables. No cluster vocabulary here: callers translate.
 */
export { NativeError, isNativeError, type NativeErrorFields } from './errors.ts';
export {
  containerizerPath,
  nativeAddonPath,
  nativeBuildDir,
  nativeFeatures,
  requireFeature,
  type LinkSummary,
  type MountInfo,
  type NativeFeatures,
  type NetnsInfo,
} from './native.ts';
export { NETNS_DIR, createNetns, getNetns, listNetns, netnsPath, removeNetns } from './netns.ts';
export { bindMount, getMount, isMountPoint, unmount, type BindMountOptions, type UnmountOptions } from './mount.ts';
export { listLinks, type ListLinksOptions } from './links.ts';
export {
  allProcStats,
  clockTicks,
  containedProcesses,
  isSameProcess,
  listPids,
  pageSize,
  parseProcStat,
  readProcStat,
  readProcStatAsync,
  residentBytes,
  type ProcStat,
} from './proc.ts';
export {
  MAX_CPU_SHARES,
  MIN_CPU_SHARES,
  cgroupsOf,
  findCgroups,
  openCgroups,
  parseKeyValues,
  readCgroupFile,
  sharesToWeight,
  writeCgroupFile,
  type CgroupController,
  type CgroupCpuStats,
  type CgroupMemoryStats,
  type Cgroups,
  type CgroupsLayout,
  type KillOptions,
} from './cgroups.ts';
export {
  SUPERVISOR_PID_FILE,
  SUPERVISOR_STATUS_FILE,
  bindArgs,
  readExitRecord,
  readPidRecord,
  startSupervisor,
  type StartedSupervisor,
  type SupervisorBind,
  type SupervisorExit,
  type SupervisorExitRecord,
  type SupervisorOptions,
  type SupervisorPidRecord,
} from './supervisor.ts';
