/**
 * The Linux launcher and containerizer (spec agent-features §7.6): every container is held in a
 * cgroup `<cgroups_root>/<container id>` of the freezer controller (v1) or of the unified tree
 * (v2). The command's pid goes into it before the command runs, so everything it starts is in
 * it too; no process can leave it. Destroying a container kills all of it at once (v1: freeze,
 * SIGKILL every process, thaw; v2: cgroup.kill) and waits until it is empty; cleanup removes it.
 */
import { CorralError } from '../../common/errors.ts';
import type { CgroupController, Cgroups } from '../../linux/index.ts';
import { containerCgroup, type Launcher } from './isolator.ts';
import { PosixContainerizer, type PosixContainerizerOptions } from './posix.ts';

const CONTROLLERS: readonly CgroupController[] = ['freezer'];

export class CgroupsLauncher implements Launcher {
  readonly name = 'linux';
  /** Destroys under way: a second request joins the first instead of freezing and thawing across it. */
  private readonly destroying = new Map<string, Promise<void>>();

  constructor(
    private readonly cgroups: Cgroups,
    /** `--cgroups_root`. */
    private readonly root: string,
  ) {
    if (!cgroups.has('freezer')) {
      throw new CorralError('ISOLATION_UNAVAILABLE', `the Linux launcher needs the freezer controller, which is not mounted under ${cgroups.hierarchy}`);
    }
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
    const p = this.cgroups.killAll(this.path(containerId), CONTROLLERS).finally(() => this.destroying.delete(containerId));
    this.destroying.set(containerId, p);
    return p;
  }

  async cleanup(containerId: string): Promise<void> {
    await this.cgroups.remove(this.path(containerId), CONTROLLERS);
  }

  async list(): Promise<string[]> {
    const root = this.root.replace(/^\/+|\/+$/g, '');
    return this.cgroups.children(root, 'freezer');
  }
}

export interface LinuxContainerizerOptions extends Omit<PosixContainerizerOptions, 'launcher'> {
  readonly cgroups: Cgroups;
  /** `--cgroups_root`: containers are `<root>/<container id>` (default `corral`). */
  readonly cgroupsRoot?: string;
}

/** The supervisor containerizer with the Linux launcher. */
export class LinuxContainerizer extends PosixContainerizer {
  readonly cgroups: Cgroups;
  readonly cgroupsRoot: string;

  constructor(opts: LinuxContainerizerOptions) {
    const root = opts.cgroupsRoot ?? 'corral';
    super({ ...opts, launcher: new CgroupsLauncher(opts.cgroups, root) });
    this.cgroups = opts.cgroups;
    this.cgroupsRoot = root;
  }
}
