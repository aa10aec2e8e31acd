/**
 * The registry: the master's durable record of admitted agents, so a restarted master knows
 * which agents to expect. Backends: memory and a crash-safe file in the work dir; only
 * lib/cli/daemons.ts picks one.
 */
export type { Registry, RegistryAgent, RegistryState } from './types.ts';
export { MemoryRegistry } from './memory.ts';
export { FileRegistry } from './file.ts';
