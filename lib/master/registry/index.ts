/**
 * The registry: the master's durable record of admitted agents, so a restarted master knows
 * which agents to expect. Backends: memory, a crash-safe file in the work dir, and ZooKeeper
 * (for several masters); only lib/cli/master_daemon.ts picks one, the master sees only `Registry`.
 */
export type { Registry, RegistryAgent, RegistryState } from './types.ts';
export { MemoryRegistry } from './memory.ts';
export { FileRegistry } from './file.ts';
export { ZkRegistry, znodeName, MAX_ZNODE_BYTES } from './zookeeper.ts';
export type { ZkRegistryOptions, ZkRegistrySession } from './zookeeper.ts';
