/** The options of an Agent under test: a fake clock, no logging, small fixed resources. */
import type { AgentOptions } from '../../lib/agent/options.ts';
import type { Containerizer } from '../../lib/agent/containerizer/containerizer.ts';
import { AgentPaths } from '../../lib/agent/paths.ts';
import { FakeClock } from '../../lib/common/clock.ts';
import { silentLogger } from '../../lib/common/log.ts';
import { parseResourcesText } from '../../lib/common/resources/index.ts';

export function testAgentOptions(workDir: string, containerizer: Containerizer, extra: Partial<AgentOptions> = {}): AgentOptions {
  return {
    clock: new FakeClock(),
    logger: silentLogger,
    paths: new AgentPaths(workDir),
    containerizer,
    hostname: 'h1',
    ip: '127.0.0.1',
    port: 5051,
    resources: parseResourcesText('cpus:4;mem:1024'),
    attributes: [],
    version: 'test',
    executorRegistrationTimeoutMs: 60_000,
    executorShutdownGracePeriodMs: 5000,
    defaultKillGraceMs: 3000,
    executorEnvironment: { PATH: '/usr/bin:/bin' },
    switchUser: false,
    ...extra,
  };
}
