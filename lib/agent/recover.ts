/**
 * Reading the agent's checkpoints back after a restart (as the Mesos agent recovers): the agent
 * id, and for every executor run the framework, executor and task infos. Runs whose framework
 * did not checkpoint have no infos; their supervisors are orphans to be stopped. A damaged
 * checkpoint is reported with its path (the agent refuses to start under `--strict`, else it
 * is skipped); reading never throws.
 *
 * Also the host's boot id (`meta/boot_id`, as Mesos keeps it): a checkpointed one that differs
 * from the running kernel's means the host rebooted since the last run, and nothing of that
 * run is recovered.
 */
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CorralError, describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { AgentInfo, ExecutorInfo, FrameworkInfo, TaskInfo } from '../proto/messages.ts';
import { readJsonSync, writeAtomic } from './checkpoint.ts';
import type { AgentPaths } from './paths.ts';

/** What executor.info holds for the built-in command executor. */
export interface CommandExecutorCheckpoint {
  readonly executorId: string;
  readonly commandTask: true;
}

export interface RecoveredRunState {
  readonly frameworkId: string;
  readonly executorId: string;
  readonly containerId: string;
  readonly runDir: string;
  readonly completed: boolean;
  readonly framework?: FrameworkInfo;
  readonly executor?: ExecutorInfo | CommandExecutorCheckpoint;
  readonly tasks: readonly { readonly info: TaskInfo; readonly updatesFile: string }[];
}

export interface RecoveredState {
  readonly agentId: string;
  readonly agentInfo: AgentInfo | undefined;
  readonly runs: readonly RecoveredRunState[];
  /** Checkpoints that could not be read, with the reason. */
  readonly problems: readonly string[];
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Everything the checkpoints hold, or undefined for a new agent (no `meta/slaves/latest`).
 * The files are read with synchronous calls: this runs once, before the agent serves anything,
 * and a few thousand small reads cost a tenth of what they cost through the thread pool (1,000
 * runs: ~0.1 s instead of ~1 s).
 */
export async function readCheckpoints(paths: AgentPaths, log: Logger): Promise<RecoveredState | undefined> {
  let agentId: string;
  try {
    agentId = readlinkSync(paths.latestAgentLink());
  } catch {
    return undefined; // a new agent
  }
  const problems: string[] = [];
  const safe = <T>(path: string): T | undefined => {
    try {
      return readJsonSync<T>(path);
    } catch (e) {
      problems.push(`${path}: ${describeError(e)}`);
      log.warn({ path, err: describeError(e) }, 'a checkpoint cannot be read (fatal under --strict, else skipped)');
      return undefined;
    }
  };
  const agentInfo = safe<AgentInfo>(paths.agentInfoFile(agentId));
  const runs: RecoveredRunState[] = [];
  for (const frameworkId of list(paths.metaFrameworksDir(agentId))) {
    const framework = safe<FrameworkInfo>(paths.frameworkInfoFile(agentId, frameworkId));
    for (const executorId of list(paths.metaExecutorsDir(agentId, frameworkId))) {
      const executor = safe<ExecutorInfo | CommandExecutorCheckpoint>(paths.executorInfoFile(agentId, frameworkId, executorId));
      for (const containerId of list(paths.metaRunsDir(agentId, frameworkId, executorId))) {
        if (containerId === 'latest') continue;
        const runDir = paths.metaRunDir(agentId, frameworkId, executorId, containerId);
        if (!isDir(runDir)) continue;
        const completed = safe<unknown>(paths.sentinelFile(agentId, frameworkId, executorId, containerId)) !== undefined;
        const tasks = [];
        for (const taskId of list(join(runDir, 'tasks'))) {
          const info = safe<TaskInfo>(paths.taskInfoFile(agentId, frameworkId, executorId, containerId, taskId));
          if (info) tasks.push({ info, updatesFile: paths.taskUpdatesFile(agentId, frameworkId, executorId, containerId, taskId) });
        }
        runs.push({ frameworkId, executorId, containerId, runDir, completed, ...(framework ? { framework } : {}), ...(executor ? { executor } : {}), tasks });
      }
    }
  }
  return { agentId, agentInfo, runs, problems };
}

/** Where the kernel tells its boot id (a new one at every boot). */
export const KERNEL_BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** The running kernel's boot id; undefined where the kernel does not offer one. */
export async function currentBootId(file: string = KERNEL_BOOT_ID_FILE): Promise<string | undefined> {
  try {
    const id = (await readFile(file, 'utf8')).trim();
    return id === '' ? undefined : id;
  } catch {
    return undefined;
  }
}

/** The boot id checkpointed by the last run; undefined when there is none (or it cannot be read). */
export async function checkpointedBootId(paths: AgentPaths): Promise<string | undefined> {
  try {
    const id = (await readFile(paths.bootIdFile(), 'utf8')).trim();
    return id === '' ? undefined : id;
  } catch {
    return undefined;
  }
}

export async function checkpointBootId(paths: AgentPaths, bootId: string): Promise<void> {
  await writeAtomic(paths.bootIdFile(), `${bootId}\n`);
}

/**
 * Forget the last run's agent id (`meta/slaves/latest`): the next registration is a new
 * agent's. Its checkpoints stay on disk (garbage for the operator or a later GC).
 */
export async function forgetAgentId(paths: AgentPaths): Promise<void> {
  await rm(paths.latestAgentLink(), { force: true });
}

/** The error of a `--strict` recovery that met damaged checkpoints: every one, with its path. */
export function strictRecoveryError(problems: readonly string[]): CorralError {
  return new CorralError(
    'RECOVERY_FAILED',
    `cannot recover (--strict): ${problems.length} damaged checkpoint(s): ${problems.join('; ')}. Repair or remove them, or start with --strict=false to skip them`,
  );
}
