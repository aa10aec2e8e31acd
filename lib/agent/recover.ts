/**
 * Reading the agent's checkpoints back after a restart (spec agent-features §7.3): the agent
 * id, and for every executor run the framework, executor and task infos. Runs whose framework
 * did not checkpoint have no infos; their supervisors are orphans to be stopped. A damaged
 * checkpoint is reported with its path and skipped, never fatal.
 */
import { readdir, readlink } from 'node:fs/promises';
import { describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { AgentInfo, ExecutorInfo, FrameworkInfo, TaskInfo } from '../proto/messages.ts';
import { readJson } from './checkpoint.ts';
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

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await readdir(path);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOTDIR';
  }
}

export async function readCheckpoints(paths: AgentPaths, log: Logger): Promise<RecoveredState | undefined> {
  let agentId: string;
  try {
    agentId = await readlink(paths.latestAgentLink());
  } catch {
    return undefined; // a new agent
  }
  const problems: string[] = [];
  const safe = async <T>(path: string): Promise<T | undefined> => {
    try {
      return await readJson<T>(path);
    } catch (e) {
      problems.push(`${path}: ${describeError(e)}`);
      log.warn({ path, err: describeError(e) }, 'cannot read a checkpoint; skipping it');
      return undefined;
    }
  };
  const agentInfo = await safe<AgentInfo>(paths.agentInfoFile(agentId));
  const runs: RecoveredRunState[] = [];
  for (const frameworkId of await list(paths.metaFrameworksDir(agentId))) {
    const framework = await safe<FrameworkInfo>(paths.frameworkInfoFile(agentId, frameworkId));
    for (const executorId of await list(paths.metaExecutorsDir(agentId, frameworkId))) {
      const executor = await safe<ExecutorInfo | CommandExecutorCheckpoint>(paths.executorInfoFile(agentId, frameworkId, executorId));
      for (const containerId of await list(paths.metaRunsDir(agentId, frameworkId, executorId))) {
        if (containerId === 'latest') continue;
        const runDir = paths.metaRunDir(agentId, frameworkId, executorId, containerId);
        const completed = (await safe<unknown>(paths.sentinelFile(agentId, frameworkId, executorId, containerId))) !== undefined;
        const tasks = [];
        const tasksDir = `${runDir}/tasks`;
        for (const taskId of await list(tasksDir)) {
          const info = await safe<TaskInfo>(paths.taskInfoFile(agentId, frameworkId, executorId, containerId, taskId));
          if (info) tasks.push({ info, updatesFile: paths.taskUpdatesFile(agentId, frameworkId, executorId, containerId, taskId) });
        }
        if (!(await exists(runDir))) continue;
        runs.push({ frameworkId, executorId, containerId, runDir, completed, ...(framework ? { framework } : {}), ...(executor ? { executor } : {}), tasks });
      }
    }
  }
  return { agentId, agentInfo, runs, problems };
}
