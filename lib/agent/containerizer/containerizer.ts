/**
 * What the agent asks of a containerizer: start a process tree in a sandbox under a
 * supervisor that outlives the agent, learn how it ended, stop it, and find the ones that are
 * still running after an agent restart.
 */
import type { HealthCheck } from '../../proto/health_check.ts';
import type { ProbeTarget } from './health_probes.ts';
import type { Resources } from '../../common/resources/index.ts';
import type { SupervisorRootfs } from '../../linux/supervisor.ts';
import type { VolumeMount } from '../volumes.ts';
import type { Limitation, Statistics } from './isolator.ts';

export interface LaunchSpec {
  readonly containerId: string;
  readonly sandbox: string;
  /** Where the supervisor records its pid and the exit status (checkpoint directory of the run). */
  readonly runDir: string;
  /** argv[0] is looked up in PATH; with `shell`, argv is ['/bin/sh', '-c', value]. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Run as this user (needs root); undefined = the agent's user. */
  readonly user?: string;
  readonly resources: Resources;
  /** Persistent volumes: bind-mounted in the container's own mount namespace (symlinks where none can be made). */
  readonly volumes?: readonly VolumeMount[];
  /** A root filesystem made from an image (the image provider's scratch): the command runs in it. */
  readonly rootfs?: SupervisorRootfs;
}

export interface Termination {
  /** Exit code when the process exited. */
  readonly exitCode?: number;
  /** Signal number when it was killed by a signal. */
  readonly signal?: number;
  /** Raw wait(2) status, as Mesos reports it in FAILURE events. */
  readonly status: number;
  /** Set when the containerizer itself killed it (a kill request, a limitation). */
  readonly killed?: boolean;
  readonly message?: string;
  /** The limit it went over, when that is why it ended (the agent fails its tasks with the reason). */
  readonly limitation?: Limitation;
}

export interface Container {
  readonly containerId: string;
  /** The supervisor's pid. */
  readonly pid: number;
  /** Resolves once, when the container has ended and its status is recorded. */
  readonly termination: Promise<Termination>;
}

export interface RecoveredRun {
  readonly containerId: string;
  readonly runDir: string;
  /** The run's resources, when known: usage() reports their limits. */
  readonly resources?: Resources;
}

export interface Containerizer {
  launch(spec: LaunchSpec): Promise<Container>;
  /** Ask politely (SIGTERM), then force (SIGKILL) after `graceMs`. Resolves when it ended. */
  kill(containerId: string, graceMs: number): Promise<Termination | undefined>;
  /**
   * Re-attach to runs recorded before an agent restart: a run still alive is watched again; one
   * that ended meanwhile resolves with its recorded status.
   */
  recover(runs: readonly RecoveredRun[]): Promise<Map<string, Container>>;
  /**
   * Resolves when the orphans the last recover() found (containers held by the launcher that
   * are in none of its runs) are destroyed and cleaned up.
   */
  orphansCleaned?(): Promise<void>;
  /** Resource statistics of a running container (Mesos's ResourceStatistics, snake_case). */
  usage(containerId: string): Promise<Statistics | undefined>;
  /** New resources for a running container (its isolators adjust the limits). */
  update?(containerId: string, resources: Resources): Promise<void>;
  /**
   * Run one health check of the task in a running container, in its namespaces, cgroups and as
   * its user (health_probes.ts); resolves true when healthy, false when not or over `timeoutMs`
   * (0: no limit). A containerizer without it runs no health checks.
   */
  probe?(containerId: string, check: HealthCheck, target: ProbeTarget, timeoutMs: number): Promise<boolean>;
  /** The isolators' names, in `--isolation` order. */
  readonly isolation: readonly string[];
  /** Recovery is done and the agent goes on: every isolator starts making what it keeps ready. */
  readyIsolators(): void;
  /** The agent is stopping: every isolator releases what it keeps for future containers, and the launcher an empty cgroups root it made. */
  closeIsolators(): Promise<void>;
  /** Stop watching every container (they run on; another containerizer can recover them). */
  close(): void;
}
