/**
 * Checkpoints and the master's registry on a full disk (issue 13 item 3), on a real 1 MiB
 * tmpfs filled to the last byte: a write fails with a clear error naming the file, leaves the
 * old content and no partial file, never leaves a torn record before later ones, and works
 * again once space returns; the status update manager forwards what it could not checkpoint;
 * a master whose registry write fails refuses the agent and applies nothing.
 */
import anyTest from 'ava';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RecordLog, writeAtomic } from '../../lib/agent/checkpoint.ts';
import { StatusUpdateManager } from '../../lib/agent/status_updates.ts';
import { FakeClock } from '../../lib/common/clock.ts';
import { isCorralError } from '../../lib/common/errors.ts';
import { silentLogger } from '../../lib/common/log.ts';
import { FileRegistry } from '../../lib/master/registry/index.ts';
import type { TaskStatus } from '../../lib/proto/messages.ts';
import { Harness, TestAgent, uuid } from '../helpers/master_harness.ts';
import { rootOnly } from '../helpers/root.ts';
import { fillDisk, smallTmpfs } from '../helpers/tmpfs.ts';

const test = rootOnly(anyTest);

function isWriteFailure(code: string, path: string) {
  return (e: unknown): boolean => isCorralError(e) && e.code === code && e.message.includes(path) && e.message.includes('no space left on the device');
}

test.serial('writeAtomic on a full disk fails naming the file, keeps the old content and leaves no temporary file; works once space returns', async (t) => {
  const dir = smallTmpfs(t, 1);
  const file = join(dir, 'meta', 'framework.info');
  await writeAtomic(file, JSON.stringify({ v: 'old' }));
  const fill = join(dir, 'fill');
  fillDisk(fill);
  const e = await t.throwsAsync(writeAtomic(file, JSON.stringify({ v: 'new', pad: 'x'.repeat(10_000) })));
  t.true(isWriteFailure('CHECKPOINT_WRITE_FAILED', file)(e), String(e));
  t.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { v: 'old' });
  t.deepEqual(readdirSync(join(dir, 'meta')), ['framework.info'], 'no temporary file left');
  rmSync(fill);
  await writeAtomic(file, JSON.stringify({ v: 'new' }));
  t.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { v: 'new' });
});

test.serial('a record log append on a full disk is undone: no torn record before later ones; appends work again once space returns', async (t) => {
  const dir = smallTmpfs(t, 1);
  const path = join(dir, 'task.updates');
  const log = await RecordLog.open(path);
  t.teardown(() => log.close());
  await log.append({ n: 1 });
  const size = statSync(path).size;
  const fill = join(dir, 'fill');
  fillDisk(fill);
  // Bigger than what is left of the file's last page: a part of it is written before ENOSPC.
  const e = await t.throwsAsync(log.append({ n: 2, pad: 'x'.repeat(20_000) }));
  t.true(isWriteFailure('CHECKPOINT_WRITE_FAILED', path)(e), String(e));
  t.is(statSync(path).size, size, 'the file is cut back to its last complete record');
  rmSync(fill);
  await log.append({ n: 3 });
  t.deepEqual(await RecordLog.read(path), [{ n: 1 }, { n: 3 }]);
});

test.serial(
  'the status update manager forwards updates it cannot checkpoint, counts them, takes their acknowledgement, and its log stays readable',
  async (t) => {
    const dir = smallTmpfs(t, 1);
    const path = join(dir, 'task.updates');
    const forwarded: TaskStatus[] = [];
    const failures: string[] = [];
    const m = new StatusUpdateManager(
      new FakeClock(),
      { forward: (_f, s) => forwarded.push(s), checkpointFailed: (_f, taskId) => failures.push(taskId) },
      silentLogger,
    );
    t.teardown(() => m.close());
    m.resume();
    const running: TaskStatus = { taskId: 't1', state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR', uuid: uuid(), timestamp: 1 };
    await m.update('fw', running, path);
    t.true(await m.acknowledge('fw', 't1', running.uuid!));
    const fill = join(dir, 'fill');
    fillDisk(fill);
    const finished: TaskStatus = { taskId: 't1', state: 'TASK_FINISHED', source: 'SOURCE_EXECUTOR', uuid: uuid(), timestamp: 2, message: 'x'.repeat(20_000) };
    await m.update('fw', finished, path); // resolves: the update goes on from memory
    t.deepEqual(
      forwarded.map((s) => s.state),
      ['TASK_RUNNING', 'TASK_FINISHED'],
    );
    t.deepEqual(failures, ['t1']);
    t.true(await m.acknowledge('fw', 't1', finished.uuid!));
    rmSync(fill);
    // What is on disk is whole: the RUNNING update and its acknowledgement.
    t.deepEqual(
      (await RecordLog.read<{ type: string }>(path)).map((r) => r.type),
      ['UPDATE', 'ACK'],
    );
  },
);

test.serial(
  'a master whose registry write fails (full disk) refuses the agent, applies nothing, counts it, and admits agents again once space returns',
  async (t) => {
    const dir = smallTmpfs(t, 1);
    const registry = new FileRegistry(dir);
    const h = await Harness.start(registry);
    t.teardown(() => h.master.stop());
    const fill = join(dir, 'fill');
    fillDisk(fill);
    const refused = new TestAgent(h, 'cpus:1;mem:1024', 'refused-host');
    const e = await t.throwsAsync(refused.register());
    t.true(isWriteFailure('REGISTRY_WRITE_FAILED', registry.journalPath)(e), String(e));
    t.is(h.master.agents.size, 0, 'the refused agent is not in the master');
    t.is(h.master.metrics.get('master/registry_write_failures'), 1);
    t.is(readFileSync(registry.journalPath, 'utf8'), '', 'nothing of the refused write is left in the journal');
    rmSync(fill);
    const admitted = await new TestAgent(h, 'cpus:1;mem:1024', 'admitted-host').register();
    const stored = await new FileRegistry(dir).recover();
    t.deepEqual(
      stored.agents.map((a) => a.info.hostname),
      ['admitted-host'],
      'the refused agent was not written with the next one',
    );
    t.deepEqual(
      stored.agents.map((a) => a.id),
      [admitted.id],
    );
  },
);
