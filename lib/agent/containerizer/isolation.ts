/**
 * The `--isolation` flag: the isolators this agent knows, by their Mesos names, and the parsing
 * of the comma-separated list (order kept: it is the order isolators are prepared in).
 */
import { ValidationError } from '../../common/errors.ts';

export const ISOLATOR_NAMES = ['posix/cpu', 'posix/mem', 'cgroups/cpu', 'cgroups/mem', 'namespaces/pid', 'filesystem/shared', 'network/port_mapping'] as const;
export type IsolatorName = (typeof ISOLATOR_NAMES)[number];

/** Parse `--isolation`: known names, each once. Throws ValidationError naming the bad entry. */
export function parseIsolation(text: string): IsolatorName[] {
  const out: IsolatorName[] = [];
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    if (!(ISOLATOR_NAMES as readonly string[]).includes(name)) {
      throw new ValidationError('--isolation', `unknown or unsupported isolator '${name}' (known: ${ISOLATOR_NAMES.join(', ')})`);
    }
    if (out.includes(name as IsolatorName)) throw new ValidationError('--isolation', `isolator '${name}' is listed twice`);
    out.push(name as IsolatorName);
  }
  return out;
}

/** Whether these isolators need the Linux launcher (cgroups or namespaces). */
export function needsLinuxLauncher(names: readonly IsolatorName[]): boolean {
  return names.some((n) => n.startsWith('cgroups/') || n.startsWith('namespaces/') || n === 'filesystem/shared' || n === 'network/port_mapping');
}
