import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../lib/common/clock.ts';
import { silentLogger } from '../../lib/common/log.ts';
import { StatusUpdateManager } from '../../lib/agent/status_updates.ts';
import type { TaskStatus } from '../../lib/proto/messages.ts';

let n = 0;
function status(taskId: string, state: TaskStatus['state']): TaskStatus {
  return { taskId, state, source: 'SOURCE_EXECUTOR', uuid: Buffer.from(`uuid-${String(++n).padStart(11, '0')}`).toString('base64') };
}

function setup() {
  const clock = new FakeClock();
  const sent: [string, TaskStatus][] = [];
  const m = new StatusUpdateManager(clock, { forward: (fw, s) => sent.push([fw, s]) }, silentLogger);
  m.resume();
  return { clock, sent, m };
}

test('only the head is in flight; the next goes when the head is acknowledged', async (t) => {
  const { sent, m } = setup();
  const a = status('t1', 'TASK_RUNNING');
  const b = status('t1', 'TASK_FINISHED');
  await m.update('f', a);
  await m.update('f', b);
  t.deepEqual(
    sent.map(([, s]) => s.state),
    ['TASK_RUNNING'],
  );
  t.false(await m.acknowledge('f', 't1', b.uuid!), 'acknowledging a non-head update is refused');
  t.true(await m.acknowledge('f', 't1', a.uuid!));
  t.deepEqual(
    sent.map(([, s]) => s.state),
    ['TASK_RUNNING', 'TASK_FINISHED'],
  );
  t.true(await m.acknowledge('f', 't1', b.uuid!));
  t.is(m.streamCount, 0, 'the stream ends once its terminal update is acknowledged');
});

test('unacknowledged heads are resent after 10 s, doubling to 10 min', async (t) => {
  const { clock, sent, m } = setup();
  await m.update('f', status('t1', 'TASK_RUNNING'));
  const times: number[] = [];
  const start = clock.now();
  for (let i = 0; i < 9; i++) {
    const before = sent.length;
    while (sent.length === before) clock.advance(1000);
    times.push((clock.now() - start) / 1000);
  }
  // Sent at 0, then after 10, 20, 40, 80, 160, 320, 600, 600, 600 s more.
  t.deepEqual(times, [10, 30, 70, 150, 310, 630, 1230, 1830, 2430]);
});

test('paused while disconnected, resent on resume; duplicates are ignored', async (t) => {
  const { clock, sent, m } = setup();
  m.pause();
  const a = status('t1', 'TASK_RUNNING');
  await m.update('f', a);
  await m.update('f', a);
  clock.advance(60_000);
  t.is(sent.length, 0);
  m.resume();
  t.is(sent.length, 1);
  t.deepEqual(
    m.unacknowledged('f', 't1').map((s) => s.uuid),
    [a.uuid],
  );
});

test('checkpointed streams are rebuilt after a restart, acknowledged ones not resent', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-sum-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'task.updates');
  const first = setup();
  const a = status('t1', 'TASK_RUNNING');
  const b = status('t1', 'TASK_FAILED');
  await first.m.update('f', a, file);
  await first.m.acknowledge('f', 't1', a.uuid!);
  await first.m.update('f', b, file);
  await first.m.close();

  const second = setup();
  const latest = await second.m.recover('f', 't1', file);
  t.is(latest?.state, 'TASK_FAILED');
  t.deepEqual(
    second.sent.map(([, s]) => s.uuid),
    [b.uuid],
    'only the unacknowledged update is resent',
  );
  t.true(await second.m.acknowledge('f', 't1', b.uuid!));
  const third = setup();
  t.is((await third.m.recover('f', 't1', file))?.state, 'TASK_FAILED');
  t.is(third.sent.length, 0);
  t.is(third.m.streamCount, 0);
});

test('an update counts as pending from the moment it is received, while its checkpoint is being written', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-sum-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { m } = setup();
  const done = m.update('f', status('t1', 'TASK_FINISHED'), join(dir, 'task.updates'));
  // The agent builds its re-registration at any moment: a terminal task whose update is still
  // being written must not look acknowledged (the master would call it lost), and is reported
  // with that update as its latest.
  t.true(m.hasPending('f', 't1'));
  t.is(m.latest('f', 't1')?.state, 'TASK_FINISHED');
  await done;
  t.true(m.hasPending('f', 't1'));
  t.false(m.hasPending('f', 'other'));
});

test('updates of one task received at once keep their order, in the stream and in its checkpoint', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-sum-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { m, sent } = setup();
  const file = join(dir, 'task.updates');
  const states = ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED'] as const;
  const updates = states.map((st) => status('t1', st));
  // Not awaited one by one: the executor's calls and the agent's own may overlap.
  await Promise.all(updates.map((u) => m.update('f', u, file)));
  t.deepEqual(
    sent.map(([, s]) => s.state),
    ['TASK_STARTING'],
    'the head goes first',
  );
  t.deepEqual(
    m.unacknowledged('f', 't1').map((s) => s.state),
    [...states],
  );
  await m.close();
  const again = setup();
  await again.m.recover('f', 't1', file);
  t.deepEqual(
    again.m.unacknowledged('f', 't1').map((s) => s.state),
    [...states],
    'the checkpoint has them in order',
  );
});
