/**
 * The isolator interface (Mesos's isolator steps): what an isolator may do around a
 * container's life. Every step is optional. The containerizer runs them in `--isolation` order:
 *
 *   prepare (one after another, before the supervisor starts)
 *   → isolate(pid) (the command's pid, before it is released to exec)
 *   → watch (a limitation resolves it; the container is then destroyed)
 *   → update / usage while it runs
 *   → limitationAtEnd (once every process has ended: a limit that ended it but was not seen yet)
 *   → cleanup (in reverse order, every one attempted, failures collected).
 *
 * `cleanup` must work for a container the isolator knows nothing or only part of (a failed
 * prepare, an orphan found after a restart): derive what to remove from the container id and
 * treat "not there" as done.
 *
 * Isolators live in isolators/<name>.ts and import only common, linux and this file.
 */
import type { Resources } from '../../common/resources/index.ts';
import type { TaskReason } from '../../proto/messages.ts';
import { type ProcStat, allProcStats, containedProcesses } from '../../linux/index.ts';

/** Namespaces the supervisor clones the command into (the union of what isolators ask). */
export type Namespace = 'pid' | 'mount' | 'net';

export interface ContainerConfig {
  readonly containerId: string;
  readonly sandbox: string;
  readonly resources: Resources;
  /** The user the command runs as, if not the agent's. */
  readonly user?: string;
}

/** What an isolator asks of the launch. */
export interface LaunchRequirements {
  readonly namespaces?: readonly Namespace[];
  /** A network namespace the command joins (a file of one, e.g. /run/netns/NAME), made beforehand. */
  readonly netns?: string;
}

/** A limit the container went over: the containerizer destroys it and reports this. */
export interface Limitation {
  /** The resource: `mem`, `cpus`, `disk`. */
  readonly resource: string;
  /** The reason the task is failed with (REASON_CONTAINER_LIMITATION_MEMORY, ...). */
  readonly reason: TaskReason;
  readonly message: string;
}

/** A container that is running again after an agent restart. */
export interface RecoveredContainer {
  readonly containerId: string;
  /** Its resources, when known (the limits to report). */
  readonly resources?: Resources;
  /** The supervisor's pid. */
  readonly supervisorPid: number;
  /** The command's pid, when found. */
  readonly pid?: number;
}

/** One entry of ResourceStatistics.net_traffic_control_statistics (a qdisc's counters). */
export interface TrafficControlStatistics {
  readonly id: string;
  readonly backlog: number;
  readonly bytes: number;
  readonly drops: number;
  readonly overlimits: number;
  readonly packets: number;
  readonly qlen: number;
  readonly ratebps: number;
  readonly ratepps: number;
  readonly requeues: number;
}

/**
 * ResourceStatistics fields (Mesos's names), snake_case: numbers, and the one list,
 * `net_traffic_control_statistics`.
 */
export type Statistics = Record<string, number | readonly TrafficControlStatistics[]>;

/** The numeric fields only (what the resource estimators and QoS controllers read). */
export function numericStatistics(s: Statistics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s)) if (typeof v === 'number') out[k] = v;
  return out;
}

export interface Isolator {
  /** The `--isolation` name (`cgroups/mem`). */
  readonly name: string;
  prepare?(config: ContainerConfig): Promise<LaunchRequirements | void>;
  /** `pid` is the command (not yet running its program); `supervisorPid` its supervisor. */
  isolate?(containerId: string, pid: number, supervisorPid: number): Promise<void>;
  /** Resolves when the container goes over a limit; may never resolve. Called after isolate. */
  watch?(containerId: string): Promise<Limitation>;
  update?(containerId: string, resources: Resources): Promise<void>;
  usage?(containerId: string): Promise<Statistics | undefined> | Statistics | undefined;
  /** After every process of the container has ended, before cleanup. */
  limitationAtEnd?(containerId: string): Promise<Limitation | undefined>;
  cleanup?(containerId: string): Promise<void>;
  /** Rebuild what the isolator keeps for containers still running after an agent restart. */
  recover?(containers: readonly RecoveredContainer[]): Promise<void>;
  /** Recovery is done and the agent goes on serving: start making what is kept for future containers. */
  ready?(): void;
  /** The agent is stopping: release what is kept for future containers (not the running ones'). */
  close?(): Promise<void>;
}

/**
 * How the processes of a container are held and killed. The posix launcher has none
 * of these steps (the supervisor's session and child-subreaper do the work); the Linux launcher
 * holds every container in a cgroup so that all its processes can be killed at once.
 */
export interface Launcher {
  readonly name: string;
  /** Before the supervisor starts. */
  prepare?(containerId: string): Promise<void>;
  /** The command's pid, before it is released. */
  attach?(containerId: string, pid: number): Promise<void>;
  /** Kill every process of the container at once; resolves when none is left. */
  destroy?(containerId: string): Promise<void>;
  /** Remove what prepare made; works on a half-prepared container. */
  cleanup?(containerId: string): Promise<void>;
  /** Containers it holds (e.g. cgroups under its root) after a restart, by id. */
  list?(): Promise<string[]>;
  /** The agent is stopping: release what the launcher made for all containers (never a container's own). */
  close?(): Promise<void>;
}

/** The cgroup of a container: `<cgroups_root>/<container id>`. */
export function containerCgroup(root: string, containerId: string): string {
  return `${root.replace(/^\/+|\/+$/g, '')}/${containerId}`;
}

/**
 * For isolators that only observe a container's processes (posix/cpu, posix/mem): each
 * container is known by its supervisor, whose process tree and the command's session are the
 * container.
 */
export abstract class ProcessTreeIsolator implements Isolator {
  abstract readonly name: string;
  private readonly supervisors = new Map<string, number>();

  async isolate(containerId: string, _pid: number, supervisorPid: number): Promise<void> {
    this.supervisors.set(containerId, supervisorPid);
  }

  async recover(containers: readonly RecoveredContainer[]): Promise<void> {
    for (const c of containers) this.supervisors.set(c.containerId, c.supervisorPid);
  }

  async cleanup(containerId: string): Promise<void> {
    this.supervisors.delete(containerId);
  }

  /** The container's processes now, or undefined for a container this isolator does not know. */
  protected async processes(containerId: string): Promise<ProcStat[] | undefined> {
    const sup = this.supervisors.get(containerId);
    return sup === undefined ? undefined : containedProcesses(await allProcStats(), sup);
  }
}
