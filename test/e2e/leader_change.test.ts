/**
 * Two masters on one registry and an election the test drives (no ZooKeeper), one real agent
 * and a framework with a long task: when the leader changes, the agent leaves the old one and
 * re-registers with the new one after a random wait up to its --registration_backoff_factor (as
 * a Mesos agent does; not after the doubled back-off of a broken stream), with its task; the framework
 * re-subscribes there with its id and finds the task running.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { agentFlags } from '../../lib/agent/flags.ts';
import { execute } from '../../lib/cli/execute.ts';
import { startAgent, startMaster, type RunningMaster } from '../../lib/cli/daemons.ts';
import { parseFlags } from '../../lib/common/flags.ts';
import { silentLogger } from '../../lib/common/log.ts';
import { masterFlags } from '../../lib/master/flags.ts';
import type { LeaderAddress } from '../../lib/transport/index.ts';
import { DEFAULT_AGENT_RESOURCES, Scheduler, clearLeftoverClusters, commandTask, frameworkInfo, getJson, killEverythingUnder } from '../helpers/cluster.ts';
import { TestDetector, testElection } from '../helpers/test_election.ts';

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function addressOf(m: RunningMaster): LeaderAddress {
  return { id: m.master.id, hostPort: `127.0.0.1:${m.port}`, info: m.master.info };
}

/** Masters A and B (A elected) on one registry, and one agent following a detector the test sets. */
async function twoMastersAndAnAgent(t: ExecutionContext, backoff: string) {
  clearLeftoverClusters();
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-leader-`));
  const stops: (() => Promise<unknown>)[] = [];
  const schedulers: Scheduler[] = [];
  t.teardown(async () => {
    for (const s of schedulers) s.close();
    for (const stop of stops.reverse()) await stop().catch(() => {});
    killEverythingUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  const startContender = async () => {
    const election = testElection();
    const argv = ['--ip=127.0.0.1', '--port=0', `--work_dir=${join(dir, 'master')}`, '--allocation_interval=20ms', '--hostname=127.0.0.1'];
    const parsed = parseFlags(masterFlags, { argv, env: {} });
    const m = await startMaster(parsed.values, parsed.text, silentLogger, { election });
    stops.push(() => m.stop());
    return { m, election };
  };
  const a = await startContender();
  const b = await startContender();
  a.election.contender.elect();
  await until(() => a.m.master.isRecovered, 10_000, 'A to recover');
  for (const d of [a.election.detector, b.election.detector]) d.set(addressOf(a.m));
  const detector = new TestDetector();
  detector.set(addressOf(a.m));
  const argv = [
    '--master=127.0.0.1:1',
    '--ip=127.0.0.1',
    '--port=0',
    `--work_dir=${join(dir, 'agent')}`,
    '--hostname=agent0',
    `--resources=${DEFAULT_AGENT_RESOURCES}`,
    `--registration_backoff_factor=${backoff}`,
  ];
  const parsedAgent = parseFlags(agentFlags, { argv, env: {} });
  const agent = await startAgent(parsedAgent.values, parsedAgent.text, silentLogger, { masterDetector: detector });
  stops.push(() => agent.stop());
  await agent.registered;
  /** A loses the lead and stops; B is elected and recovers (the detectors still name A). */
  const failOver = async () => {
    a.election.contender.lose('test: the session expired');
    await a.m.lost;
    b.election.contender.elect();
    await until(() => b.m.master.isRecovered, 10_000, 'B to recover');
  };
  /** The detectors name B. */
  const announceB = () => {
    b.election.detector.set(addressOf(b.m));
    detector.set(addressOf(b.m));
  };
  return { a, b, dir, agent, detector, schedulers, failOver, announceB };
}

test('an agent re-registers with a new leader within its back-off factor, with its running task; the framework re-subscribes there', async (t) => {
  // The agent's back-off factor is 3 s: the broken stream's retry may wait up to that, then 6 s,
  // 12 s...; the leader change resets it and the agent re-registers within 3 s of it.
  const { a, b, agent, schedulers, failOver, announceB } = await twoMastersAndAnAgent(t, '3secs');

  const info = frameworkInfo({ name: 'ha-fw', failover_timeout: 3600 });
  const fw = await Scheduler.subscribe(`127.0.0.1:${a.m.port}`, info);
  schedulers.push(fw);
  await fw.waitFor((e) => e.type === 'SUBSCRIBED');
  const placed = await fw.launch([commandTask('long', 'exec sleep 60')]);
  await fw.update('long', 'TASK_RUNNING');
  const agentId = placed.get('long')!;

  // A loses the lead and stops; B is elected, then the detectors name it.
  await failOver();
  await fw.whenClosed();
  t.is(b.m.master.recoveredAgents.size, 1, 'B knows the agent from the registry');
  const changedAt = Date.now();
  announceB();
  await until(
    async () => {
      const s = await getJson(`http://127.0.0.1:${b.m.port}/master/slaves`);
      return s.slaves.some((x: { id: string; active: boolean }) => x.id === agentId && x.active);
    },
    20_000,
    'the agent to re-register with B',
  );
  const took = Date.now() - changedAt;
  t.log(`re-registered with the new leader ${took} ms after the change`);
  t.true(took < 3000 + 5000, `re-registered ${took} ms after the change (its back-off factor is 3 s)`);
  t.true(agent.agent.isConnected);

  const again = await Scheduler.subscribe(`127.0.0.1:${b.m.port}`, info, { frameworkId: fw.frameworkId });
  schedulers.push(again);
  await again.waitFor((e) => e.type === 'SUBSCRIBED');
  t.is(again.frameworkId, fw.frameworkId);
  await again.reconcile([{ taskId: 'long', agentId }]);
  const status = await again.update('long');
  t.is(status.state, 'TASK_RUNNING', 'the task kept running and is known to the new leader');
  const state = await getJson(`http://127.0.0.1:${b.m.port}/master/state`);
  t.is(state.frameworks[0].tasks.find((x: { id: string }) => x.id === 'long').state, 'TASK_RUNNING');
  await again.teardown();
});

test("corral execute follows the leader: it subscribes again with its id and gets its task's end from the new leader", async (t) => {
  const { a, dir, detector, failOver, announceB } = await twoMastersAndAnAgent(t, '100ms');
  const go = join(dir, 'go');
  const printed: string[] = [];
  let sawRunning!: () => void;
  const running = new Promise<void>((resolve) => (sawRunning = resolve));
  const run = execute({
    master: `127.0.0.1:${a.m.port}`,
    detector,
    name: 'follow',
    command: `while [ ! -e ${go} ]; do sleep 0.05; done; exit 3`,
    resources: 'cpus:0.1;mem:32',
    role: '*',
    timeoutMs: 60_000,
    print: (line) => {
      printed.push(line);
      if (line.includes('TASK_RUNNING')) sawRunning();
    },
  });
  await running;
  await failOver();
  // The task ends while no leader is known to the agent: its update waits for the new one.
  writeFileSync(go, '');
  announceB();
  t.is(await run, 3, printed.join('\n'));
  t.true(
    printed.some((l) => l.startsWith('Subscribed again with ID')),
    printed.join('\n'),
  );
  t.true(printed.some((l) => l.includes('TASK_FAILED')));
});
