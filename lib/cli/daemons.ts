/**
 * Composition roots: build a master or an agent from parsed flags with real dependencies
 * (clock, HTTP server, registry, containerizer) and start it. The master's is master_daemon.ts,
 * the agent's agent_daemon.ts, what they share daemon_common.ts; this file is their one entry.
 */
export type { DaemonOptions, Election, Running } from './daemon_common.ts';
export { startMaster, type RunningMaster } from './master_daemon.ts';
export { executorEnvironment, startAgent, type RunningAgent } from './agent_daemon.ts';
