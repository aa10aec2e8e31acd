/**
 * The agent's operator API while the agent recovers after a restart: every call is answered
 * 503 "Agent has not finished recovery" (as Mesos's agent does in its RECOVERING state), and
 * answered normally once recovery is over. A real agent and HTTP server on loopback; the
 * containerizer's recovery is held open by the test so that the window is certain.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../lib/agent/agent.ts';
import type { Container, RecoveredRun } from '../../lib/agent/containerizer/containerizer.ts';
import { agentApiRoutes } from '../../lib/agent/http/operator_api.ts';
import { FakeClock } from '../../lib/common/clock.ts';
import { silentLogger } from '../../lib/common/log.ts';
import { levelGate } from '../../lib/common/log_level.ts';
import { HttpServer } from '../../lib/transport/index.ts';
import { testAgentOptions } from '../helpers/agent_options.ts';
import { FakeContainerizer } from '../helpers/fake_containerizer.ts';

/** A containerizer whose recovery waits until the test lets it go. */
class SlowToRecover extends FakeContainerizer {
  release: () => void = () => {};
  private readonly gate = new Promise<void>((r) => (this.release = r));
  override async recover(runs: readonly RecoveredRun[]): Promise<Map<string, Container>> {
    await this.gate;
    return super.recover(runs);
  }
}

test("the agent's /api/v1 answers 503 while the agent recovers, and answers the call once it has", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), `corral-test-${process.pid}-api-recovery-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const containerizer = new SlowToRecover();
  const agent = new Agent(testAgentOptions(dir, containerizer));
  t.teardown(() => agent.stop());
  const server = new HttpServer({ host: '127.0.0.1', port: 0, maxBodyBytes: 1 << 20, logger: silentLogger });
  agentApiRoutes(server, {
    agent,
    flags: {},
    version: 'test',
    log: silentLogger,
    masterHostname: () => undefined,
    logLevel: levelGate(silentLogger, 'info', new FakeClock()).control,
    maxBodyBytes: 1 << 20,
  });
  const port = await server.listen();
  t.teardown(() => server.close());
  const call = (type: string) =>
    fetch(`http://127.0.0.1:${port}/api/v1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ type }),
    });

  const recovered = agent.recover();
  t.true(agent.recovering);
  for (const type of ['GET_HEALTH', 'GET_STATE', 'GET_CONTAINERS']) {
    const res = await call(type);
    t.is(res.status, 503, type);
    t.is(await res.text(), 'Agent has not finished recovery', type);
  }

  containerizer.release();
  await recovered;
  t.false(agent.recovering);
  const health = await call('GET_HEALTH');
  t.is(health.status, 200);
  t.deepEqual(await health.json(), { type: 'GET_HEALTH', get_health: { healthy: true } });
  const state = await call('GET_STATE');
  t.is(state.status, 200);
  t.is(((await state.json()) as { type: string }).type, 'GET_STATE');
});
