import test from 'ava';
import { callClaims, messageClaims } from '../../lib/agent/master_protocol.ts';
import { Limit, MessageOrder, exclusive, shared } from '../../lib/agent/message_order.ts';
import type { FrameworkInfo, TaskInfo } from '../../lib/proto/messages.ts';

/** A piece of work that ends when the test says so, and says whether it has started. */
function gate(log: string[], name: string): { work: () => Promise<string>; end: () => void; fail: (e: Error) => void } {
  let end!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<string>((resolve, reject) => {
    end = () => resolve(name);
    fail = reject;
  });
  return {
    work: () => {
      log.push(`start ${name}`);
      return done;
    },
    end: () => end(),
    fail: (e) => fail(e),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('work on the same key runs in order, one after another; work on other keys does not wait', async (t) => {
  const order = new MessageOrder();
  const log: string[] = [];
  const [a, b, c] = [gate(log, 'a'), gate(log, 'b'), gate(log, 'c')];
  const pa = order.run([exclusive('task 1')], a.work);
  const pb = order.run([exclusive('task 1')], b.work);
  const pc = order.run([exclusive('task 2')], c.work);
  t.deepEqual(log, ['start a', 'start c'], 'c starts at once (synchronously), b waits for a');
  c.end();
  t.is(await pc, 'c');
  t.is(order.size, 2);
  a.end();
  t.is(await pa, 'a');
  await tick();
  t.deepEqual(log, ['start a', 'start c', 'start b']);
  b.end();
  t.is(await pb, 'b');
  t.is(order.size, 0);
});

test('shared holders run side by side; an exclusive one waits for them all, and later ones wait for it', async (t) => {
  const order = new MessageOrder();
  const log: string[] = [];
  const [r1, r2, w, r3, other] = ['r1', 'r2', 'w', 'r3', 'other'].map((n) => gate(log, n));
  const p1 = order.run([shared('agent'), exclusive('task 1')], r1!.work);
  const p2 = order.run([shared('agent'), exclusive('task 2')], r2!.work);
  const pw = order.run([exclusive('agent')], w!.work);
  const p3 = order.run([shared('agent'), exclusive('task 3')], r3!.work);
  const po = order.run([], other!.work);
  t.deepEqual(log, ['start r1', 'start r2', 'start other']);
  r2!.end();
  await p2;
  await tick();
  t.deepEqual(log, ['start r1', 'start r2', 'start other'], 'w still waits for r1');
  r1!.end();
  await p1;
  await tick();
  t.deepEqual(log.slice(3), ['start w']);
  w!.end();
  await pw;
  await tick();
  t.deepEqual(log.slice(4), ['start r3']);
  r3!.end();
  other!.end();
  await Promise.all([p3, po]);
  t.is(order.size, 0);
});

test('a failed piece of work rejects its caller and lets the next one start; a claim named twice counts once, exclusive', async (t) => {
  const order = new MessageOrder();
  const log: string[] = [];
  const [a, b] = [gate(log, 'a'), gate(log, 'b')];
  const pa = order.run([shared('k'), exclusive('k')], a.work);
  const pb = order.run([shared('k')], b.work);
  t.deepEqual(log, ['start a']);
  a.fail(new Error('disk full'));
  await t.throwsAsync(pa, { message: 'disk full' });
  await tick();
  t.deepEqual(log, ['start a', 'start b']);
  b.end();
  await pb;
  const thrown = order.run([exclusive('k')], () => {
    throw new Error('at once');
  });
  await t.throwsAsync(thrown, { message: 'at once' });
  t.is(order.size, 0);
});

test('Limit: at most max at once, the others in the order they came', async (t) => {
  const limit = new Limit(2);
  const log: string[] = [];
  const gates = ['a', 'b', 'c', 'd'].map((n) => gate(log, n));
  const ps = gates.map((g) => limit.use(g.work));
  await tick();
  t.deepEqual(log, ['start a', 'start b']);
  t.is(limit.waiting, 2);
  gates[1]!.end();
  await ps[1];
  await tick();
  t.deepEqual(log, ['start a', 'start b', 'start c']);
  gates[0]!.fail(new Error('x'));
  await t.throwsAsync(ps[0]!);
  await tick();
  t.deepEqual(log, ['start a', 'start b', 'start c', 'start d']);
  gates[2]!.end();
  gates[3]!.end();
  t.deepEqual(await Promise.all(ps.slice(2)), ['c', 'd']);
  t.is(limit.waiting, 0);
});

const fw: FrameworkInfo = { user: 'u', name: 'fw', id: 'F', failoverTimeout: 0, checkpoint: true, role: '*', capabilities: [] };
const task = (taskId: string, executorId?: string): TaskInfo => ({
  name: taskId,
  taskId,
  agentId: 'S',
  resources: [],
  ...(executorId ? { executor: { executorId, resources: [], command: { uris: [], shell: true, value: 'x', arguments: [] } } } : {}),
});

/** Whether `b`, coming after `a`, waits for it. */
function waits(a: ReturnType<typeof messageClaims>, b: ReturnType<typeof messageClaims>): boolean {
  const order = new MessageOrder();
  let started = false;
  void order.run(a, () => new Promise(() => {}));
  void order.run(b, async () => {
    started = true;
  });
  return !started;
}

test("the master's messages: which wait for which", (t) => {
  const run = (id: string, ex?: string) => messageClaims({ type: 'RUN_TASK', frameworkId: 'F', frameworkInfo: fw, task: task(id, ex) });
  const ack = (id: string, fwId = 'F') => messageClaims({ type: 'ACKNOWLEDGE', frameworkId: fwId, taskId: id, uuid: 'u' });
  const kill = (id: string) => messageClaims({ type: 'KILL_TASK', frameworkId: 'F', taskId: id });
  t.false(waits(run('a'), ack('b')), "an acknowledgement does not wait for another task's launch");
  t.true(waits(run('a'), run('b')), 'RUN_TASKs are handled one at a time, in order');
  t.true(waits(run('a'), kill('a')), 'a kill waits for the launch of its task');
  t.true(waits(run('a'), ack('a')));
  t.true(waits(run('a', 'e'), run('b', 'e')), 'the tasks of one executor are launched in order');
  t.true(waits(run('a', 'e'), messageClaims({ type: 'FRAMEWORK_MESSAGE', frameworkId: 'F', executorId: 'e', data: '' })));
  t.true(waits(run('a'), messageClaims({ type: 'SHUTDOWN_FRAMEWORK', frameworkId: 'F' })));
  t.false(waits(run('a'), messageClaims({ type: 'SHUTDOWN_FRAMEWORK', frameworkId: 'G' })));
  t.true(waits(messageClaims({ type: 'UPDATE_FRAMEWORK', frameworkId: 'F', frameworkInfo: fw }), ack('a')));
  t.false(waits(messageClaims({ type: 'UPDATE_FRAMEWORK', frameworkId: 'F', frameworkInfo: fw }), ack('a', 'G')));
  t.true(waits(messageClaims({ type: 'CHECKPOINT_RESOURCES', resources: [] }), run('a')));
  t.false(waits(messageClaims({ type: 'CHECKPOINT_RESOURCES', resources: [] }), ack('a')));
  t.true(waits(ack('a'), messageClaims({ type: 'SHUTDOWN', message: '' })));
  t.true(waits(messageClaims({ type: 'REREGISTERED', agentId: 'S', masterId: 'M' }), ack('a')));
  t.false(waits(run('a'), messageClaims({ type: 'PING' })), 'a PING is answered at once');
});

test('calls to the master: a task or executor keeps its order, others go side by side', (t) => {
  const update = (taskId: string, executorId?: string) =>
    callClaims({
      type: 'STATUS_UPDATE',
      frameworkId: 'F',
      status: { taskId, state: 'TASK_FINISHED', source: 'SOURCE_EXECUTOR', ...(executorId ? { executorId } : {}) },
    });
  t.true(waits(update('a', 'a'), update('a', 'a')));
  t.false(waits(update('a', 'a'), update('b', 'b')));
  t.true(
    waits(update('a', 'a'), callClaims({ type: 'EXECUTOR_EXITED', frameworkId: 'F', executorId: 'a', status: 0 })),
    "a task's update goes before its executor's end",
  );
  t.true(waits(update('a', 'e'), update('b', 'e')), 'the updates of one executor go in order');
  t.false(waits(update('a'), callClaims({ type: 'PONG' })));
});
