/**
 * The containerizer for the agent's flags: the isolators of `--isolation` in its order, and the
 * launcher it needs: the Linux launcher (a cgroup per container, all-at-once kills) when any
 * isolator uses cgroups or namespaces, the posix launcher otherwise. The cgroup hierarchy is
 * discovered once, here.
 */
import { CorralError, describeError } from '../../common/errors.ts';
import { openCgroups, type Cgroups } from '../../linux/index.ts';
import { parseCgroupsRoot } from '../flags.ts';
import { parseIsolation, needsLinuxLauncher, type IsolatorName } from './isolation.ts';
import type { Isolator } from './isolator.ts';
import { CgroupsCpuIsolator } from './isolators/cgroups_cpu.ts';
import { CgroupsMemIsolator } from './isolators/cgroups_mem.ts';
import { FilesystemSharedIsolator } from './isolators/filesystem_shared.ts';
import { NamespacesPidIsolator } from './isolators/namespaces_pid.ts';
import { PortMappingIsolator, type PortMappingOptions } from './isolators/port_mapping/index.ts';
import { PosixCpuIsolator } from './isolators/posix_cpu.ts';
import { PosixMemIsolator } from './isolators/posix_mem.ts';
import { LinuxContainerizer } from './linux.ts';
import { PosixContainerizer, type PosixContainerizerOptions } from './posix.ts';

export interface ContainerizerFlags extends Omit<PosixContainerizerOptions, 'isolators' | 'launcher'> {
  /** `--isolation`. */
  readonly isolation: string;
  /** `--cgroups_hierarchy` (default /sys/fs/cgroup). */
  readonly cgroupsHierarchy?: string;
  /** `--cgroups_root` (default corral). */
  readonly cgroupsRoot?: string;
  /** `--cgroups_enable_cfs`. */
  readonly cgroupsEnableCfs?: boolean;
  /** `--cgroups_limit_swap`. */
  readonly cgroupsLimitSwap?: boolean;
  /** `--revocable_cpu_low_priority` (default true): cgroups/cpu gives revocable containers 10 shares per cpu. */
  readonly revocableCpuLowPriority?: boolean;
  /** Use these cgroups instead of discovering them at `cgroupsHierarchy`. */
  readonly cgroups?: Cgroups;
  /** network/port_mapping: its flags and the agent's port pools. */
  readonly network?: PortMappingOptions;
}

export function createContainerizer(flags: ContainerizerFlags): PosixContainerizer {
  const names = parseIsolation(flags.isolation);
  const { isolation: _i, cgroupsHierarchy, cgroupsRoot, cgroupsEnableCfs, cgroupsLimitSwap, revocableCpuLowPriority, cgroups: given, network, ...rest } = flags;
  if (!needsLinuxLauncher(names)) return new PosixContainerizer({ ...rest, isolators: names.map((n) => posixIsolator(n)) });
  const root = cgroupsRoot ?? 'corral';
  try {
    parseCgroupsRoot(root);
  } catch (e) {
    throw new CorralError('INVALID', `--cgroups_root: ${describeError(e)}`, { field: '--cgroups_root' });
  }
  let cgroups: Cgroups;
  try {
    cgroups = given ?? openCgroups(cgroupsHierarchy ?? '/sys/fs/cgroup');
  } catch (e) {
    throw new CorralError('ISOLATION_UNAVAILABLE', `--cgroups_hierarchy: --isolation=${flags.isolation} needs cgroups: ${describeError(e)}`, { cause: e, field: '--cgroups_hierarchy' });
  }
  const isolators = names.map((n): Isolator => {
    switch (n) {
      case 'cgroups/cpu':
        return new CgroupsCpuIsolator({ cgroups, root, enableCfs: cgroupsEnableCfs ?? false, revocableCpuLowPriority: revocableCpuLowPriority ?? true });
      case 'cgroups/mem':
        return new CgroupsMemIsolator({ cgroups, root, limitSwap: cgroupsLimitSwap ?? false });
      case 'namespaces/pid':
        return new NamespacesPidIsolator();
      case 'filesystem/shared':
        return new FilesystemSharedIsolator();
      case 'network/port_mapping':
        if (!network) throw new CorralError('INVALID', '--isolation: network/port_mapping needs the agent\'s port resources', { field: '--isolation' });
        try {
          return new PortMappingIsolator(network);
        } catch (e) {
          if (e instanceof CorralError && e.code === 'INVALID') throw e;
          throw new CorralError('ISOLATION_UNAVAILABLE', `--isolation=network/port_mapping: ${describeError(e)}`, { cause: e, field: '--isolation' });
        }
      default:
        return posixIsolator(n);
    }
  });
  return new LinuxContainerizer({ ...rest, isolators, cgroups, cgroupsRoot: root });
}

function posixIsolator(n: IsolatorName): Isolator {
  switch (n) {
    case 'posix/cpu':
      return new PosixCpuIsolator();
    case 'posix/mem':
      return new PosixMemIsolator();
    default:
      throw new CorralError('INVALID', `--isolation: ${n} needs the Linux launcher`, { field: '--isolation' });
  }
}
