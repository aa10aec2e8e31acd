/**
 * The agent's work_dir layout (Mesos's layout). This module is its only owner: every
 * other module asks here for a path and never joins path pieces itself.
 */
import { join } from 'node:path';

export class AgentPaths {
  constructor(readonly workDir: string) {}

  // ----- sandboxes ------------------------------------------------------------------------
  slavesDir(): string {
    return join(this.workDir, 'slaves');
  }
  agentDir(agentId: string): string {
    return join(this.slavesDir(), agentId);
  }
  frameworkDir(agentId: string, frameworkId: string): string {
    return join(this.agentDir(agentId), 'frameworks', frameworkId);
  }
  executorDir(agentId: string, frameworkId: string, executorId: string): string {
    return join(this.frameworkDir(agentId, frameworkId), 'executors', executorId);
  }
  runsDir(agentId: string, frameworkId: string, executorId: string): string {
    return join(this.executorDir(agentId, frameworkId, executorId), 'runs');
  }
  /** `runs/latest`: a symlink to the executor's current run (container id). */
  latestRunLink(agentId: string, frameworkId: string, executorId: string): string {
    return join(this.runsDir(agentId, frameworkId, executorId), 'latest');
  }
  /** The sandbox of one executor run. */
  sandbox(agentId: string, frameworkId: string, executorId: string, containerId: string): string {
    return join(this.runsDir(agentId, frameworkId, executorId), containerId);
  }

  // ----- meta (checkpoints) -----------------------------------------------------------------
  metaDir(): string {
    return join(this.workDir, 'meta');
  }
  bootIdFile(): string {
    return join(this.metaDir(), 'boot_id');
  }
  /** The key of executor tokens the agent made itself (--authenticate_http_executors without --executor_secret_key). */
  executorSecretKeyFile(): string {
    return join(this.metaDir(), 'executor_secret_key');
  }
  resourcesFile(): string {
    return join(this.metaDir(), 'resources', 'resources.info');
  }
  metaSlavesDir(): string {
    return join(this.metaDir(), 'slaves');
  }
  /** `meta/slaves/latest`: a symlink to the current agent id. */
  latestAgentLink(): string {
    return join(this.metaSlavesDir(), 'latest');
  }
  metaAgentDir(agentId: string): string {
    return join(this.metaSlavesDir(), agentId);
  }
  agentInfoFile(agentId: string): string {
    return join(this.metaAgentDir(agentId), 'slave.info');
  }
  metaFrameworksDir(agentId: string): string {
    return join(this.metaAgentDir(agentId), 'frameworks');
  }
  metaFrameworkDir(agentId: string, frameworkId: string): string {
    return join(this.metaFrameworksDir(agentId), frameworkId);
  }
  frameworkInfoFile(agentId: string, frameworkId: string): string {
    return join(this.metaFrameworkDir(agentId, frameworkId), 'framework.info');
  }
  metaExecutorsDir(agentId: string, frameworkId: string): string {
    return join(this.metaFrameworkDir(agentId, frameworkId), 'executors');
  }
  metaExecutorDir(agentId: string, frameworkId: string, executorId: string): string {
    return join(this.metaExecutorsDir(agentId, frameworkId), executorId);
  }
  executorInfoFile(agentId: string, frameworkId: string, executorId: string): string {
    return join(this.metaExecutorDir(agentId, frameworkId, executorId), 'executor.info');
  }
  metaRunsDir(agentId: string, frameworkId: string, executorId: string): string {
    return join(this.metaExecutorDir(agentId, frameworkId, executorId), 'runs');
  }
  metaRunDir(agentId: string, frameworkId: string, executorId: string, containerId: string): string {
    return join(this.metaRunsDir(agentId, frameworkId, executorId), containerId);
  }
  /** Written when a run has completed. */
  sentinelFile(agentId: string, frameworkId: string, executorId: string, containerId: string): string {
    return join(this.metaRunDir(agentId, frameworkId, executorId, containerId), 'executor.sentinel');
  }
  /** The pid of the supervisor (corral-containerizer) of the run. */
  forkedPidFile(agentId: string, frameworkId: string, executorId: string, containerId: string): string {
    return join(this.metaRunDir(agentId, frameworkId, executorId, containerId), 'pids', 'forked.pid');
  }
  /** The exit status the supervisor records for the run. */
  exitStatusFile(agentId: string, frameworkId: string, executorId: string, containerId: string): string {
    return join(this.metaRunDir(agentId, frameworkId, executorId, containerId), 'exit.status');
  }
  taskDir(agentId: string, frameworkId: string, executorId: string, containerId: string, taskId: string): string {
    return join(this.metaRunDir(agentId, frameworkId, executorId, containerId), 'tasks', taskId);
  }
  taskInfoFile(agentId: string, frameworkId: string, executorId: string, containerId: string, taskId: string): string {
    return join(this.taskDir(agentId, frameworkId, executorId, containerId, taskId), 'task.info');
  }
  /** Where a damaged checkpoint is moved aside (under --strict=false), next to it. */
  damagedCopy(file: string): string {
    return `${file}.damaged`;
  }
  taskUpdatesFile(agentId: string, frameworkId: string, executorId: string, containerId: string, taskId: string): string {
    return join(this.taskDir(agentId, frameworkId, executorId, containerId, taskId), 'task.updates');
  }

  // ----- fetcher cache ----------------------------------------------------------------------
  /**
   * The default `--fetcher_cache_dir`: inside work_dir (Mesos's default is /tmp/mesos/fetch), so
   * that agents sharing a host never share (and wipe) one cache, and cached files sit on the
   * sandboxes' filesystem, where they can be hard-linked.
   */
  fetcherCacheDir(): string {
    return join(this.workDir, 'fetch');
  }

  // ----- persistent volumes -----------------------------------------------------------------
  volumeDir(role: string, persistenceId: string): string {
    return join(this.workDir, 'volumes', 'roles', role, persistenceId);
  }
}
