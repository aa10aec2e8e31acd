/**
 * The scheduler client library (`corral/scheduler`) with `zk://` against HA masters: a 3-server
 * ZooKeeper ensemble (Debian's), three `corral master --zk` processes and one agent on
 * `--master=zk://…`. The client finds the leader through ZooKeeper; the leader is killed with
 * -9; the client follows the new leader, subscribes again with its framework id, and an
 * acknowledgement made while no master led is delivered (the task's next update, held behind
 * the acknowledged one on the agent, arrives). Everything it starts is stopped and removed, also
 * when it fails.
 */
import anyTest from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../lib/cli/logger.ts';
import { SchedulerClient, offerFits, type Offer, type TaskStatus } from '../../lib/scheduler/index.ts';
import { AgentProcess, freePort } from '../helpers/agent_process.ts';
import { type Json, USER, clearLeftoverClusters, getJson, killEverythingUnder } from '../helpers/cluster.ts';
import { MasterProcess, leaderOf } from '../helpers/master_process.ts';
import { ZkEnsemble, waitUntil, zookeeperOnly } from '../helpers/zookeeper.ts';

const test = zookeeperOnly(anyTest);
const clientLog = process.env.CORRAL_E2E_LOG ? { logger: createLogger({ level: 'info' }).child({ role: 'client' }) } : {};

test.serial(
  'zk://: the client finds the leader, follows the next one after a kill -9, subscribes again with its framework id; an acknowledgement made during the failover is delivered',
  async (t) => {
    t.timeout(240_000);
    clearLeftoverClusters();
    const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-libzk-`));
    const masters: MasterProcess[] = [];
    const agents: AgentProcess[] = [];
    let zk: ZkEnsemble | undefined;
    let client: SchedulerClient | undefined;
    t.teardown(async () => {
      await client?.stop().catch(() => {});
      for (const a of agents) await a.stop().catch(() => {});
      for (const m of masters) await m.stop().catch(() => {});
      await zk?.stop();
      killEverythingUnder(dir);
      rmSync(dir, { recursive: true, force: true });
    });
    zk = await ZkEnsemble.start(3);
    const zkUrl = zk.zkUrl('/corral');
    for (let i = 0; i < 3; i++) masters.push(await MasterProcess.start([`--zk=${zkUrl}`, '--zk_session_timeout=2secs', '--allocation_interval=50ms']));
    agents.push(
      AgentProcess.start([
        `--master=${zkUrl}`,
        '--ip=127.0.0.1',
        `--port=${await freePort()}`,
        `--work_dir=${join(dir, 'agent0')}`,
        '--hostname=agent0',
        '--resources=cpus:4;mem:4096;disk:10000;ports:[31000-32000]',
        '--registration_backoff_factor=100ms',
      ]),
    );
    const leader = await leaderOf(masters);
    await waitUntil(
      async () => ((await getJson(`http://${leader.address}/master/slaves`).catch(() => ({ slaves: [] }))).slaves as Json[]).some((a) => a.active),
      'the agent to register',
      60_000,
    );

    const c = (client = new SchedulerClient({
      master: zkUrl,
      framework: { name: 'lib-zk', user: USER, failoverTimeoutSeconds: 3600 },
      implicitAcknowledgements: false,
      backoff: { initialMs: 100, maxMs: 1000 },
      ...clientLog,
    }));
    // Every update but TASK_RUNNING is acknowledged at once; TASK_RUNNING's waits for the failover.
    c.on('update', (s) => {
      if (s.state !== 'TASK_RUNNING') void c.acknowledge(s).catch(() => {});
    });
    const subscribed: { master: string; resubscribed: boolean; frameworkId: string }[] = [];
    c.on('subscribed', (s) => void subscribed.push(s));
    const id = await c.start();
    t.is(c.master, leader.address, 'found the leader through ZooKeeper');

    const running = c.next('update', (s) => s.taskId === 'long' && s.state === 'TASK_RUNNING', 60_000);
    const offers: readonly Offer[] = await c.next('offers', (os) => os.some((o) => offerFits(o, 'cpus:0.1;mem:32')), 60_000);
    await c.launch(
      offers.find((o) => offerFits(o, 'cpus:0.1;mem:32'))!,
      [{ taskId: 'long', resources: 'cpus:0.1;mem:32', command: 'exec sleep 600' }],
    );
    const runningUpdate: TaskStatus = await running;

    // kill -9 of the leader: acknowledged while no master leads.
    const lost = c.next('disconnected', undefined, 60_000);
    const again = c.next('subscribed', undefined, 90_000);
    await leader.kill();
    await lost;
    const ack = c.acknowledge(runningUpdate);
    const next = await leaderOf(masters, 60_000, leader);
    const s = await again;
    t.true(s.resubscribed);
    t.is(s.frameworkId, id, 'subscribed again with its framework id');
    t.is(s.master, next.address, 'to the new leader');
    t.is(c.master, next.address);
    await ack;

    // The acknowledgement reached the agent: the task's next update (held behind TASK_RUNNING until it is acknowledged) arrives.
    const killed = c.next('update', (x) => x.taskId === 'long' && x.state === 'TASK_KILLED', 60_000);
    await waitUntil(
      async () => ((await getJson(`http://${next.address}/master/slaves`).catch(() => ({ slaves: [] }))).slaves as Json[]).some((a) => a.active),
      'the agent to re-register with the new leader',
      60_000,
    );
    await c.kill('long');
    await killed;
    t.deepEqual(
      subscribed.map((x) => x.resubscribed),
      [false, true],
    );
  },
);
