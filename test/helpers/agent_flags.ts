/**
 * The agent's flag values as `corral agent` would parse them with no flags but the required ones,
 * with `given` on top (taken as they are, unparsed: a test can hand a bad value to the code that
 * checks it again).
 */
import { agentFlags, type AgentFlags } from '../../lib/agent/flags.ts';
import { parseFlags } from '../../lib/common/flags.ts';

export function agentFlagValues(given: Partial<AgentFlags> = {}): AgentFlags {
  return { ...parseFlags(agentFlags, { argv: ['--master=127.0.0.1:5050', '--work_dir=/nonexistent-corral-work-dir'], env: {} }).values, ...given };
}
