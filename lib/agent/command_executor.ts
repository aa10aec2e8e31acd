/**
 * The built-in command executor: a command task is run by the agent and the C supervisor
 * directly, with no executor process. Here are its semantics: the argv it execs, the name it
 * shows, the grace of a kill, and the terminal state its command's end means.
 */
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

/** The terminal state and message of a command task whose container ended with `t`. */
export function commandTaskEnd(t: Termination, killRequested: boolean): { state: TaskState; message: string } {
  let state: TaskState;
  let message: string;
  if (t.exitCode === 0) {
    state = 'TASK_FINISHED';
    message = 'Command exited with status 0';
  } else if (killRequested) {
    state = 'TASK_KILLED';
    message = t.signal !== undefined ? `Command terminated with signal ${t.signal}` : `Command exited with status ${t.exitCode}`;
  } else if (t.signal !== undefined) {
    state = 'TASK_FAILED';
    message = `Command terminated with signal ${t.signal}`;
  } else {
    state = 'TASK_FAILED';
    message =
      t.exitCode === undefined ? `Command failed: ${t.message ?? 'unknown'}` : `Command exited with status ${t.exitCode}${t.message ? ` (${t.message})` : ''}`;
  }
  return { state, message };
}
