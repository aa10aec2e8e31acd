/**
 * The package's root entry (lib/cli/index.ts, `corral`): a local cluster, a master and an agent
 * started in this process through it, used by a framework on the scheduler client library, and
 * stopped cleanly (ports closed, tasks gone, the temporary work directory removed).
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlagError, startAgent, startLocalCluster, startMaster } from '../../lib/cli/index.ts';
import { SchedulerClient, offerFits } from '../../lib/scheduler/index.ts';
import { USER } from '../helpers/cluster.ts';
import { clearLeftoverDirs } from '../helpers/tmp_names.ts';
import { processesUnder } from '../helpers/cluster.ts';

function refused(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const s = net.connect(Number(port), host!);
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}

test('startLocalCluster: a master and two agents in process; a framework runs a task on it; stop() ends the task, closes the ports and removes the work directory', async (t) => {
  const cluster = await startLocalCluster({ agents: 2, resources: 'cpus:2;mem:1024;disk:1000;ports:[31000-31100]' });
  t.teardown(() => cluster.stop());
  t.is(cluster.agents.length, 2);
  t.true(cluster.agents.every((a) => a.agentId() !== ''));
  const client = new SchedulerClient({ master: cluster.master, framework: { name: 'embed', user: USER } });
  t.teardown(() => client.stop());
  await client.start();
  const offers = await client.next('offers', (os) => os.some((o) => offerFits(o, 'cpus:0.1;mem:32')));
  const running = client.next('update', (s) => s.state === 'TASK_RUNNING');
  await client.launch(
    offers.find((o) => offerFits(o, 'cpus:0.1;mem:32'))!,
    [{ taskId: 'sleeper', resources: 'cpus:0.1;mem:32', command: 'sleep 120' }],
  );
  await running;
  t.true(processesUnder(cluster.workDir).length > 0, 'the task runs under the work directory');
  await client.stop();
  await cluster.stop();
  t.false(existsSync(cluster.workDir), 'the work directory is gone');
  t.true(await refused(cluster.master), 'the master port is closed');
  for (const a of cluster.agents) t.true(await refused(a.address));
  await cluster.stop(); // twice is fine
});

test('startMaster and startAgent: flags as an object; the agent registers; both stop', async (t) => {
  clearLeftoverDirs();
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-embed-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const master = await startMaster({ flags: { allocation_interval: '50ms' } });
  t.teardown(() => master.stop());
  const agent = await startAgent({ master: master.address, flags: { work_dir: join(dir, 'agent'), resources: 'cpus:1;mem:256' } });
  t.teardown(() => agent.stop());
  await agent.registered;
  t.regex(agent.agentId(), /.+/);
  await agent.stop();
  await master.stop();
  t.true(await refused(master.address));
});

test('bad input is one FlagError naming the flag or option', async (t) => {
  await t.throwsAsync(startMaster({ flags: { no_such_flag: 1 } }), { instanceOf: FlagError, message: /no_such_flag/ });
  await t.throwsAsync(startMaster({ flags: { port: 'abc' } }), { instanceOf: FlagError, message: /port/ });
  await t.throwsAsync(startMaster({ flags: ['port=1'] }), { instanceOf: FlagError, message: /flags/ });
  await t.throwsAsync(startAgent({ master: '' }), { instanceOf: FlagError, message: /master/ });
  await t.throwsAsync(startLocalCluster({ agents: 100 }), { instanceOf: FlagError, message: /agents/ });
  await t.throwsAsync(startLocalCluster({ agents: 0, masterFlags: { allocation_interval: 'often' } }), {
    instanceOf: FlagError,
    message: /allocation_interval/,
  });
});
