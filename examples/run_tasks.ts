/**
 * An example framework on `corral/scheduler`: it runs N command tasks, launches a task again
 * when it fails (up to 3 attempts), survives a master failover (a failover timeout, and the
 * client subscribes again with its framework id and reconciles), and exits 0 once every task
 * has finished.
 *
 *   node run_tasks.js [--master=host:port|zk://host:2181/corral] [--tasks=N]
 *
 * Without --master it starts a local cluster in this process (`corral`'s startLocalCluster)
 * and stops it at the end. Every other task fails on its first attempt, to show the retry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCluster } from 'corral';
import { parseResourcesText } from 'corral/resources';
import { SchedulerClient, isTerminal, offerResources, type Offer } from 'corral/scheduler';

const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const count = Number(arg('tasks') ?? 5);
const local = arg('master') === undefined ? await startLocalCluster({ agents: 2 }) : undefined;
const master = arg('master') ?? local!.master;
const markers = mkdtempSync(join(tmpdir(), 'run-tasks-'));

const need = 'cpus:0.1;mem:32';
const needed = parseResourcesText(need);
const pending: string[] = Array.from({ length: count }, (_, i) => `task-${i}`);
const attempts = new Map<string, number>();
const finished = new Set<string>();
let done!: (ok: boolean) => void;
const result = new Promise<boolean>((resolve) => (done = resolve));

const client = new SchedulerClient({ master, framework: { name: 'run-tasks', failoverTimeoutSeconds: 60 } });
client.on('subscribed', (s) => console.log(`${s.resubscribed ? 'subscribed again' : 'subscribed'} as ${s.frameworkId} at ${s.master}`));
client.on('disconnected', (d) => console.log(`lost the master (${d.reason}); reconnecting`));
client.on('error', (e) => {
  console.error(`framework ended: ${e.message}`);
  done(false);
});
client.on('offers', async (offers: readonly Offer[]) => {
  for (const offer of offers) {
    // As many waiting tasks as the offer holds.
    let left = offerResources(offer);
    const batch: string[] = [];
    while (pending.length > 0 && left.contains(needed)) {
      batch.push(pending.shift()!);
      left = left.minus(needed);
    }
    if (batch.length === 0) {
      await client.decline(offer.id, 1);
      continue;
    }
    const tasks = batch.map((name) => {
      const attempt = (attempts.get(name) ?? 0) + 1;
      attempts.set(name, attempt);
      const odd = Number(name.slice('task-'.length)) % 2 === 1;
      const marker = join(markers, name);
      // Odd tasks fail on their first attempt.
      const command = odd ? `[ -e ${marker} ] || { touch ${marker}; exit 1; }` : 'true';
      return { taskId: `${name}.${attempt}`, resources: need, command };
    });
    await client.launch(offer, tasks);
  }
});
client.on('update', (status) => {
  if (!isTerminal(status.state)) return;
  const name = status.taskId.slice(0, status.taskId.lastIndexOf('.'));
  if (status.state === 'TASK_FINISHED') {
    finished.add(name);
    console.log(`${name} finished (attempt ${attempts.get(name)})`);
    if (finished.size === count) done(true);
  } else if ((attempts.get(name) ?? 0) < 3) {
    console.log(`${name} ended ${status.state}; launching it again`);
    pending.push(name);
    void client.revive();
  } else {
    console.log(`${name} ended ${status.state} 3 times; giving up`);
    done(false);
  }
});

await client.start();
const ok = await result;
await client.stop({ teardown: true });
await local?.stop();
rmSync(markers, { recursive: true, force: true });
console.log(ok ? `all ${count} tasks finished` : 'not all tasks finished');
process.exit(ok ? 0 : 1);
