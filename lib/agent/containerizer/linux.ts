/**
 * The Linux launcher and containerizer: every container is held in a
 * cgroup `<cgroups_root>/<container id>` of the freezer controller (v1) or of the unified tree
 * (v2). The command's pid goes into it before the command runs, so everything it starts is in
 * it too; no process can leave it. Destroying a container kills all of it at once (v1: freeze,
 * SIGKILL every process, thaw; v2: cgroup.kill) and waits until it is empty; cleanup removes it.
 * When the agent stops, the root itself is removed from each hierarchy where this agent made it,
 * if no container is left in it (a stopped agent's running containers keep it).
 */
import { CorralError } from '../../common/errors.ts';
import type { CgroupController, Cgroups } from '../../linux/index.ts';
import { containerCgroup, type Launcher } from './isolator.ts';
import { SupervisorContainerizer, type SupervisorContainerizerOptions } from './supervisor_containerizer.ts';

/** Where a container is created and its processes are attached. */
const CONTROLLERS: readonly CgroupController[] = ['freezer'];
/**
 * Every controller a container may have a cgroup in (the launcher's and the isolators'): an
 * orphan is a container id found under the root in any of them, and destroying or cleaning up
 * a container covers all of them, so that an isolator's cgroup whose freezer cgroup is gone
 * (a crash between two cleanup steps) is swept too.
 */
const ALL_CONTROLLERS: readonly CgroupController[] = ['freezer', 'cpu', 'cpuacct', 'memory', 'pids'];

export class CgroupsLauncher implements Launcher {
  readonly name = 'linux';
  /** Destroys under way: a second request joins the first instead of freezing and thawing across it. */
  private readonly destroying = new Map<string, Promise<void>>();
  private readonly held: readonly CgroupController[];
  /** The controllers whose hierarchy had no `root` before this agent: close() removes it from those. */
  private readonly made: readonly CgroupController[];

  constructor(
    private readonly cgroups: Cgroups,
    /** `--cgroups_root`. */
    private readonly root: string,
    /** The controllers where `root` existed before the agent started (default: looked at now). */
    existed?: readonly CgroupController[],
  ) {
    if (!cgroups.has('freezer')) {
      throw new CorralError('ISOLATION_UNAVAILABLE', `the Linux launcher needs the freezer controller, which is not mounted under ${cgroups.hierarchy}`);
    }
    this.held = ALL_CONTROLLERS.filter((c) => cgroups.has(c));
    const before = existed ?? rootExistsIn(cgroups, root);
    this.made = this.held.filter((c) => !before.includes(c));
  }

  private path(containerId: string): string {
    return containerCgroup(this.root, containerId);
  }

  async prepare(containerId: string): Promise<void> {
    this.cgroups.create(this.path(containerId), CONTROLLERS);
  }

  async attach(containerId: string, pid: number): Promise<void> {
    this.cgroups.attach(this.path(containerId), CONTROLLERS, pid);
  }

  destroy(containerId: string): Promise<void> {
    const running = this.destroying.get(containerId);
    if (running) return running;
    const p = this.cgroups.killAll(this.path(containerId), this.held).finally(() => this.destroying.delete(containerId));
    this.destroying.set(containerId, p);
    return p;
  }

  async cleanup(containerId: string): Promise<void> {
    await this.cgroups.remove(this.path(containerId), this.held);
  }

  /** Container ids under the root, in any controller's hierarchy. */
  async list(): Promise<string[]> {
    const root = this.root.replace(/^\/+|\/+$/g, '');
    const ids = new Set<string>();
    for (const c of this.held) for (const id of this.cgroups.children(root, c)) ids.add(id);
    return [...ids];
  }

  /** Remove the root where this agent made it and nothing is left below it. */
  async close(): Promise<void> {
    const root = this.root.replace(/^\/+|\/+$/g, '');
    for (const c of this.made) {
      if (!this.cgroups.exists(root, c) || this.cgroups.children(root, c).length > 0 || this.cgroups.pids(root, c).length > 0) continue;
      await this.cgroups.remove(root, [c]).catch(() => undefined);
    }
  }
}

/** The controllers (of those a container may use) whose hierarchy has `root` now. */
export function rootExistsIn(cgroups: Cgroups, root: string): CgroupController[] {
  const path = root.replace(/^\/+|\/+$/g, '');
  return ALL_CONTROLLERS.filter((c) => cgroups.has(c) && cgroups.exists(path, c));
}

export interface LinuxContainerizerOptions extends Omit<SupervisorContainerizerOptions, 'launcher'> {
  readonly cgroups: Cgroups;
  /** `--cgroups_root`: containers are `<root>/<container id>` (default `corral`). */
  readonly cgroupsRoot?: string;
  /** The controllers where the root existed before the agent started (isolators may make it): see CgroupsLauncher. */
  readonly rootExistedIn?: readonly CgroupController[];
}

/** The supervisor containerizer with the Linux launcher. */
export class LinuxContainerizer extends SupervisorContainerizer {
  readonly cgroups: Cgroups;
  readonly cgroupsRoot: string;

  constructor(opts: LinuxContainerizerOptions) {
    const root = opts.cgroupsRoot ?? 'corral';
    super({ ...opts, launcher: new CgroupsLauncher(opts.cgroups, root, opts.rootExistedIn) });
    this.cgroups = opts.cgroups;
    this.cgroupsRoot = root;
  }
}
