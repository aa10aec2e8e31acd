/**
 * The built-in command executor: a command task is run by the agent and the C supervisor
 * directly, with no executor process. Here are its semantics: the argv it execs, the name it
 * shows, the grace of a kill, and the terminal state its command's end means.
 */
import { coreDumped, signalDescription } from '../common/signals.ts';
import type { CommandInfo, TaskInfo, TaskState } from '../proto/messages.ts';
import type { Termination } from './containerizer/containerizer.ts';

export function commandArgv(cmd: CommandInfo): string[] {
  if (cmd.shell) return ['/bin/sh', '-c', cmd.value ?? ''];
  return [cmd.value ?? '', ...cmd.arguments.slice(cmd.arguments.length > 0 && cmd.arguments[0] === cmd.value ? 1 : 0)];
}

/** The executor name a command task's run shows (as Mesos names it). */
export function commandExecutorName(taskId: string, cmd: CommandInfo | undefined): string {
  return `Command Executor (Task: ${taskId}) (Command: ${cmd?.shell ? `sh -c '${cmd.value ?? ''}'` : (cmd?.value ?? '')})`;
}

/** The grace between SIGTERM and SIGKILL of a kill: the KILL_TASK's, else the task's kill policy, else the default. */
export function commandKillGraceMs(graceNs: number | undefined, task: TaskInfo, defaultKillGraceMs: number): number {
  return graceNs !== undefined ? graceNs / 1e6 : task.killPolicy?.gracePeriodNs !== undefined ? task.killPolicy.gracePeriodNs / 1e6 : defaultKillGraceMs;
}

/**
 * The terminal state and message of a command task whose container ended with `t`, as Mesos's
 * command executor words them: a task the agent was asked to kill (a KILL, a shutdown) is
 * TASK_KILLED however it ended; else exit status 0 is TASK_FINISHED and anything else
 * TASK_FAILED. The message says how the command ended, a signal by its description
 * ("Command terminated with signal Terminated", "… Killed", "(core dumped)" when it did).
 */
export function commandTaskEnd(t: Termination, killRequested: boolean): { state: TaskState; message: string } {
  if (t.exitCode === undefined && t.signal === undefined)
    return { state: killRequested ? 'TASK_KILLED' : 'TASK_FAILED', message: `Command failed: ${t.message ?? 'unknown'}` };
  const how =
    t.signal !== undefined
      ? `Command terminated with signal ${signalDescription(t.signal)}${coreDumped(t.status) ? ' (core dumped)' : ''}`
      : `Command exited with status ${t.exitCode}`;
  if (killRequested) return { state: 'TASK_KILLED', message: how };
  if (t.exitCode === 0) return { state: 'TASK_FINISHED', message: how };
  return { state: 'TASK_FAILED', message: t.signal === undefined && t.message ? `${how} (${t.message})` : how };
}
