/**
 * The containerizer for the agent's flags: the isolators of `--isolation` in its order (made by
 * their entries in registry.ts), and the launcher they need: the Linux launcher (a cgroup per
 * container, all-at-once kills) when any of them needs it, the posix launcher otherwise. The
 * cgroup hierarchy is discovered once, here.
 */
import { CorralError, describeError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { Resources } from '../../common/resources/index.ts';
import { openCgroups, type Cgroups } from '../../linux/index.ts';
import { type AgentFlags, parseCgroupsRoot } from '../flags.ts';
import type { Containerizer } from './containerizer.ts';
import { isolatorEntry, parseIsolation, needsLinuxLauncher, type LinuxIsolatorContext } from './registry.ts';
import { LinuxContainerizer, rootExistsIn } from './linux.ts';
import { SupervisorContainerizer, type SupervisorContainerizerOptions } from './supervisor_containerizer.ts';

/** What the containerizer takes besides the agent's flags. */
export interface ContainerizerDeps extends Omit<SupervisorContainerizerOptions, 'isolators' | 'launcher'> {
  /** The agent's resources, with the pools isolators keep for themselves (network/port_mapping's ports and ephemeral_ports). */
  readonly resources?: Resources;
  readonly logger?: Logger;
  /** Use these cgroups instead of discovering them at `--cgroups_hierarchy`. */
  readonly cgroups?: Cgroups;
}

export function createContainerizer(flags: AgentFlags, deps: ContainerizerDeps = {}): Containerizer {
  const names = parseIsolation(flags.isolation);
  const { resources, logger, cgroups: given, ...rest } = deps;
  const ctx = { ...(resources === undefined ? {} : { resources }), ...(logger === undefined ? {} : { logger }) };
  if (!needsLinuxLauncher(names)) {
    return new SupervisorContainerizer({
      ...rest,
      isolators: names.map((n) => {
        const e = isolatorEntry(n);
        if (e.linuxLauncher) throw new CorralError('INVALID', `--isolation: ${n} needs the Linux launcher`, { field: '--isolation' });
        return e.create(flags, ctx);
      }),
    });
  }
  const root = flags.cgroups_root;
  try {
    parseCgroupsRoot(root);
  } catch (e) {
    throw new CorralError('INVALID', `--cgroups_root: ${describeError(e)}`, { field: '--cgroups_root' });
  }
  let cgroups: Cgroups;
  try {
    cgroups = given ?? openCgroups(flags.cgroups_hierarchy);
  } catch (e) {
    throw new CorralError('ISOLATION_UNAVAILABLE', `--cgroups_hierarchy: --isolation=${flags.isolation} needs cgroups: ${describeError(e)}`, {
      cause: e,
      field: '--cgroups_hierarchy',
    });
  }
  // Before the isolators: one of them may make the root (cgroups/mem on v2 with --cgroups_limit_swap).
  const rootExistedIn = rootExistsIn(cgroups, root);
  const linuxCtx: LinuxIsolatorContext = { ...ctx, cgroups, root };
  const isolators = names.map((n) => isolatorEntry(n).create(flags, linuxCtx));
  return new LinuxContainerizer({ ...rest, isolators, cgroups, cgroupsRoot: root, rootExistedIn });
}
