/**
 * The isolators this agent knows, in one table: for each, its Mesos name (as given in
 * `--isolation`), the agent flags it reads, whether it needs the Linux launcher (a cgroup per
 * container; every cgroups/*, namespaces/* isolator and those that make namespaces), the agent
 * resources it keeps for itself (never offered), and how it is made from the agent's flags.
 * Adding an isolator: its own file under isolators/, its name in IsolatorName and its entry in
 * ISOLATORS (the compiler holds the two together); a new flag of its own goes in ../flags.ts
 * and in IsolatorFlags.
 */
import { CorralError, ValidationError, describeError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { Resources } from '../../common/resources/index.ts';
import type { Cgroups } from '../../linux/index.ts';
import type { Isolator } from './isolator.ts';
import { CgroupsCpuIsolator } from './isolators/cgroups_cpu.ts';
import { CgroupsMemIsolator } from './isolators/cgroups_mem.ts';
import { FilesystemSharedIsolator } from './isolators/filesystem_shared.ts';
import { DockerRuntimeIsolator } from './isolators/docker_runtime.ts';
import { FilesystemLinuxIsolator } from './isolators/filesystem_linux.ts';
import { NamespacesPidIsolator } from './isolators/namespaces_pid.ts';
import { PortMappingIsolator } from './isolators/port_mapping/index.ts';
import { PosixCpuIsolator } from './isolators/posix_cpu.ts';
import { PosixMemIsolator } from './isolators/posix_mem.ts';

/**
 * The agent flags (parsed, as in ../flags.ts, whose values object is one of these) that
 * `--isolation` and the isolators read.
 */
export interface IsolatorFlags {
  readonly isolation: string;
  readonly cgroups_hierarchy: string;
  readonly cgroups_root: string;
  readonly cgroups_enable_cfs: boolean;
  readonly cgroups_limit_swap: boolean;
  readonly revocable_cpu_low_priority: boolean;
  readonly eth0_name: string | undefined;
  readonly lo_name: string | undefined;
  readonly ephemeral_ports_per_container: number;
  readonly egress_rate_limit_per_container: number | undefined;
  readonly ingress_rate_limit_per_container: number | undefined;
  readonly egress_unique_flow_per_container: boolean;
  readonly network_warm_namespaces: number;
  readonly network_enable_socket_statistics_summary: boolean;
  readonly network_enable_socket_statistics_details: boolean;
}

/** What every isolator may use besides the agent's flags. */
export interface IsolatorContext {
  /** The agent's resources, with the pools isolators keep for themselves (e.g. ephemeral_ports). */
  readonly resources?: Resources;
  readonly logger?: Logger;
}

/** What an isolator on the Linux launcher gets too. */
export interface LinuxIsolatorContext extends IsolatorContext {
  /** The cgroup hierarchy, discovered once. */
  readonly cgroups: Cgroups;
  /** `--cgroups_root`, checked. */
  readonly root: string;
}

/** The isolators, by their Mesos names (as in `--isolation`). */
export type IsolatorName =
  | 'posix/cpu'
  | 'posix/mem'
  | 'cgroups/cpu'
  | 'cgroups/mem'
  | 'namespaces/pid'
  | 'filesystem/shared'
  | 'filesystem/linux'
  | 'docker/runtime'
  | 'network/port_mapping';

interface Entry {
  /** The agent flags it reads (besides `--isolation`). */
  readonly flags: readonly (keyof IsolatorFlags)[];
  /** Resources of the agent it keeps for itself: never offered. */
  readonly ownResources?: readonly string[];
}

interface PosixEntry extends Entry {
  readonly linuxLauncher: false;
  create(flags: IsolatorFlags, ctx: IsolatorContext): Isolator;
}

interface LinuxEntry extends Entry {
  /** It needs the Linux launcher: cgroups, or namespaces made for the container. */
  readonly linuxLauncher: true;
  create(flags: IsolatorFlags, ctx: LinuxIsolatorContext): Isolator;
}

export type IsolatorEntry = PosixEntry | LinuxEntry;

/** Every isolator, in the order `--help` lists them. */
export const ISOLATORS: { readonly [N in IsolatorName]: IsolatorEntry } = {
  'posix/cpu': { flags: [], linuxLauncher: false, create: () => new PosixCpuIsolator() },
  'posix/mem': { flags: [], linuxLauncher: false, create: () => new PosixMemIsolator() },
  'cgroups/cpu': {
    flags: ['cgroups_hierarchy', 'cgroups_root', 'cgroups_enable_cfs', 'revocable_cpu_low_priority'],
    linuxLauncher: true,
    create: (f, { cgroups, root }) =>
      new CgroupsCpuIsolator({ cgroups, root, enableCfs: f.cgroups_enable_cfs, revocableCpuLowPriority: f.revocable_cpu_low_priority }),
  },
  'cgroups/mem': {
    flags: ['cgroups_hierarchy', 'cgroups_root', 'cgroups_limit_swap'],
    linuxLauncher: true,
    create: (f, { cgroups, root }) => new CgroupsMemIsolator({ cgroups, root, limitSwap: f.cgroups_limit_swap }),
  },
  'namespaces/pid': { flags: [], linuxLauncher: true, create: () => new NamespacesPidIsolator() },
  'filesystem/shared': { flags: [], linuxLauncher: true, create: () => new FilesystemSharedIsolator() },
  'filesystem/linux': { flags: [], linuxLauncher: true, create: () => new FilesystemLinuxIsolator() },
  'docker/runtime': { flags: [], linuxLauncher: true, create: () => new DockerRuntimeIsolator() },
  'network/port_mapping': {
    flags: [
      'eth0_name',
      'lo_name',
      'ephemeral_ports_per_container',
      'egress_rate_limit_per_container',
      'ingress_rate_limit_per_container',
      'egress_unique_flow_per_container',
      'network_warm_namespaces',
      'network_enable_socket_statistics_summary',
      'network_enable_socket_statistics_details',
    ],
    // ephemeral_ports is the network isolator's pool: never offered (as in Mesos).
    ownResources: ['ephemeral_ports'],
    linuxLauncher: true,
    create: (f, { resources, logger }) => {
      if (!resources) throw new CorralError('INVALID', "--isolation: network/port_mapping needs the agent's port resources", { field: '--isolation' });
      try {
        return new PortMappingIsolator({
          ports: resources.ranges('ports'),
          ephemeralPorts: resources.ranges('ephemeral_ports'),
          ephemeralPortsPerContainer: f.ephemeral_ports_per_container,
          ...(f.eth0_name === undefined ? {} : { eth0Name: f.eth0_name }),
          ...(f.lo_name === undefined ? {} : { loName: f.lo_name }),
          ...(f.egress_rate_limit_per_container ? { egressRateLimit: f.egress_rate_limit_per_container } : {}),
          ...(f.ingress_rate_limit_per_container ? { ingressRateLimit: f.ingress_rate_limit_per_container } : {}),
          socketStatisticsSummary: f.network_enable_socket_statistics_summary,
          warmNamespaces: f.network_warm_namespaces,
          socketStatisticsDetails: f.network_enable_socket_statistics_details,
          ...(logger === undefined ? {} : { logger }),
        });
      } catch (e) {
        if (e instanceof CorralError && e.code === 'INVALID') throw e;
        throw new CorralError('ISOLATION_UNAVAILABLE', `--isolation=network/port_mapping: ${describeError(e)}`, { cause: e, field: '--isolation' });
      }
    },
  },
};

export const ISOLATOR_NAMES: readonly IsolatorName[] = Object.keys(ISOLATORS) as IsolatorName[];

export function isolatorEntry(name: IsolatorName): IsolatorEntry {
  return ISOLATORS[name];
}

/** Parse `--isolation`: known names, each once. Throws ValidationError naming the bad entry. */
export function parseIsolation(text: string): IsolatorName[] {
  const out: IsolatorName[] = [];
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    if (!(ISOLATOR_NAMES as readonly string[]).includes(name)) {
      throw new ValidationError('--isolation', `unknown or unsupported isolator '${name}' (known: ${ISOLATOR_NAMES.join(', ')})`);
    }
    if (out.includes(name as IsolatorName)) throw new ValidationError('--isolation', `isolator '${name}' is listed twice`);
    out.push(name as IsolatorName);
  }
  return out;
}

/** Whether these isolators need the Linux launcher (cgroups or namespaces). */
export function needsLinuxLauncher(names: readonly IsolatorName[]): boolean {
  return names.some((n) => isolatorEntry(n).linuxLauncher);
}

/** The agent's resources without the pools isolators keep for themselves (what it offers). */
export function offeredResources(resources: Resources): Resources {
  const kept = new Set(Object.values(ISOLATORS).flatMap((e) => e.ownResources ?? []));
  return resources.filter((r) => !kept.has(r.name));
}
