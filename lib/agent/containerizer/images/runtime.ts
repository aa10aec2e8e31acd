/**
 * `docker/runtime`: how an image's config and a task's CommandInfo make the command, its
 * environment and its working directory, as Mesos combines them (docs/architecture.md §7).
 */
import type { CommandInfo } from '../../../proto/messages.ts';
import type { ImageConfig } from './store.ts';

export interface RuntimeCommand {
  /** The argv from the image's Entrypoint/Cmd; undefined when the command's own value is run (shell, or shell=false with a value). */
  readonly argv: readonly string[] | undefined;
  /** The image's Env (below the task's own environment). */
  readonly env: Readonly<Record<string, string>>;
  readonly workdir: string | undefined;
}

/** Throws Error with the reason when there is nothing to run. */
export function runtimeCommand(command: CommandInfo, config: ImageConfig): RuntimeCommand {
  const env: Record<string, string> = {};
  for (const e of config.env) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  let argv: string[] | undefined;
  if (command.shell) {
    if (command.value === undefined || command.value === '') throw new Error('Shell specified but no command value provided');
  } else if (command.value === undefined || command.value === '') {
    const entry = config.entrypoint ?? [];
    const cmd = config.cmd ?? [];
    if (entry.length > 0) argv = [...entry, ...(command.arguments.length > 0 ? command.arguments : cmd)];
    else if (cmd.length > 0) argv = [cmd[0]!, ...(command.arguments.length > 0 ? command.arguments : cmd.slice(1))];
    else throw new Error('No executable is found: the command has no value and the image neither an Entrypoint nor a Cmd');
  }
  return { argv, env, workdir: config.workingDir };
}
