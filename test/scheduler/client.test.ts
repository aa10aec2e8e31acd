/**
 * The scheduler client library (lib/scheduler, `corral/scheduler`) against a real master and
 * agent in this process (test/helpers/cluster.ts), and against small fake masters where the
 * real one cannot misbehave on demand (a master that goes silent, one that redirects).
 */
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ValidationError } from '../../lib/common/errors.ts';
import { SchedulerClient, SchedulerClientError, SchedulerRefusal, offerFits, type Offer, type TaskStatus } from '../../lib/scheduler/index.ts';
import { USER, startCluster } from '../helpers/cluster.ts';
import { createLogger } from '../../lib/cli/logger.ts';

/** CORRAL_E2E_LOG=debug|info: the client logs too (as the cluster's daemons do). */
const clientLog = process.env.CORRAL_E2E_LOG
  ? { logger: createLogger({ level: process.env.CORRAL_E2E_LOG === 'debug' ? 'debug' : 'info' }).child({ role: 'client' }) }
  : {};

function client(master: string, extra: Partial<ConstructorParameters<typeof SchedulerClient>[0]> = {}): SchedulerClient {
  return new SchedulerClient({
    master,
    framework: { name: 'lib-test', user: USER, failoverTimeoutSeconds: 60 },
    backoff: { initialMs: 50, maxMs: 500 },
    ...clientLog,
    ...extra,
  });
}

/** Launch one command task on the first offer that fits; resolves with the agent id. */
async function launchOne(c: SchedulerClient, taskId: string, command: string): Promise<string> {
  const offers: readonly Offer[] = await c.next('offers', (os) => os.some((o) => offerFits(o, 'cpus:0.1;mem:32')));
  const offer = offers.find((o) => offerFits(o, 'cpus:0.1;mem:32'))!;
  await c.launch(offer, [{ taskId, resources: 'cpus:0.1;mem:32', command }]);
  return offer.agentId;
}

test('subscribe, launch on a typed offer, implicit acknowledgements: the task runs and ends, its updates acknowledged', async (t) => {
  const cluster = await startCluster(t);
  const c = client(cluster.masterAddress);
  t.teardown(() => c.stop());
  const updates: TaskStatus[] = [];
  c.on('update', (s) => void updates.push(s));
  const id = await c.start();
  t.regex(id, /.+/);
  t.is(c.frameworkId, id);
  t.is(c.master, cluster.masterAddress);
  const agentId = await launchOne(c, 'hello', 'echo hello');
  await c.next('update', (s) => s.taskId === 'hello' && s.state === 'TASK_FINISHED');
  t.deepEqual(
    updates.map((s) => s.state),
    ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED'].filter((s) => updates.some((u) => u.state === s)),
  );
  t.true(updates.every((s) => s.agentId === agentId));
  // Acknowledged: the agent keeps no update of the task waiting for one.
  await cluster.until(
    async () => {
      const state = await cluster.agentJson(0, '/state');
      const f = [...state.frameworks, ...state.completed_frameworks].find((x: { id: string }) => x.id === id);
      const ex = f ? [...f.executors, ...f.completed_executors] : [];
      return ex.length > 0 && ex.every((e: { tasks: unknown[]; queued_tasks: unknown[] }) => e.tasks.length === 0);
    },
    10_000,
    'the task to be done on the agent',
  );
  await c.stop({ teardown: true });
  const state = await cluster.getJson('/master/state');
  t.true(
    state.completed_frameworks.some((f: { id: string }) => f.id === id),
    'torn down',
  );
});

// The restarted master may take the client's acknowledgement of TASK_RUNNING before the agent has
// re-registered with it: it drops it (as Mesos's does), the agent resends TASK_RUNNING when it
// re-registers, and the client acknowledges that repeat itself (the test's listener does not);
// otherwise TASK_KILLED would wait behind it. Both orders happen here, about half the runs each.
test('a master restart: the client reconnects with back-off, subscribes again with its framework id, and reconciliation tells it the task still runs; an acknowledgement made while disconnected is delivered after', async (t) => {
  const cluster = await startCluster(t);
  const c = client(cluster.masterAddress, { implicitAcknowledgements: false });
  t.teardown(() => c.stop());
  const subscribed: boolean[] = [];
  c.on('subscribed', (s) => void subscribed.push(s.resubscribed));
  // Explicit acknowledgements: every update but TASK_RUNNING is acknowledged at once (the agent
  // sends a task's next update only once the one before is acknowledged); TASK_RUNNING's waits.
  c.on('update', (s) => {
    if (s.state !== 'TASK_RUNNING') void c.acknowledge(s).catch(() => {});
  });
  const id = await c.start();
  const runningUpdate = c.next('update', (s) => s.taskId === 'long' && s.state === 'TASK_RUNNING');
  await launchOne(c, 'long', 'sleep 60');
  const running = await runningUpdate;

  const lost = c.next('disconnected');
  await cluster.stopMaster();
  const d = await lost;
  t.is(d.master, cluster.masterAddress);
  t.false(d.heartbeatLost);
  t.false(c.connected);
  // Acknowledged while no master is there: kept, and sent once subscribed again.
  let acked = false;
  const ack = c.acknowledge(running).then(() => (acked = true));
  await new Promise((r) => setTimeout(r, 300));
  t.false(acked, 'not delivered without a master');
  await t.throwsAsync(c.revive(), { instanceOf: SchedulerClientError, code: 'DISCONNECTED' });

  const again = c.next('subscribed');
  await cluster.startMaster();
  const s = await again;
  t.true(s.resubscribed);
  t.is(s.frameworkId, id, 'the same framework');
  await ack;
  t.true(acked);
  // Once the agent is back with the restarted master, explicit reconciliation says the task runs.
  await cluster.until(
    async () => (await cluster.getJson('/master/state')).frameworks.some((f: { tasks: { id: string }[] }) => f.tasks.some((x) => x.id === 'long')),
    30_000,
    'the agent to re-register with its task',
  );
  const answers = await c.reconcileTasks([{ taskId: 'long' }], { timeoutMs: 30_000 });
  t.is(answers.get('long')?.state, 'TASK_RUNNING');
  t.deepEqual(subscribed, [false, true]);
  const killed = c.next('update', (x) => x.taskId === 'long' && x.state === 'TASK_KILLED');
  await c.kill('long');
  await killed;
});

/** A fake master: answers SUBSCRIBE with `answer(n, body)` (n counts from 0). */
async function fakeMaster(
  answer: (n: number, body: Record<string, unknown>, res: http.ServerResponse) => void,
): Promise<{ address: string; close(): Promise<void> }> {
  let n = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => answer(n++, JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>, res));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function record(event: object): string {
  const text = JSON.stringify(event);
  return `${Buffer.byteLength(text)}\n${text}`;
}

test('a master that goes silent: heartbeat loss is detected after the missed heartbeats, and the client subscribes again with its framework id', async (t) => {
  const bodies: Record<string, unknown>[] = [];
  const fake = await fakeMaster((n, body, res) => {
    bodies.push(body);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Mesos-Stream-Id': `stream-${n}` });
    // A 0.1 s heartbeat interval, then silence.
    res.write(record({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw-1' }, heartbeat_interval_seconds: 0.1 } }));
  });
  t.teardown(() => fake.close());
  const c = client(fake.address, { heartbeatMisses: 1 });
  t.teardown(() => c.stop());
  const started = Date.now();
  const lost = c.next('disconnected');
  t.is(await c.start(), 'fw-1');
  const d = await lost;
  t.true(d.heartbeatLost);
  t.regex(d.reason, /heartbeat/);
  t.true(Date.now() - started < 5000);
  const s = await c.next('subscribed');
  t.true(s.resubscribed);
  t.is(bodies.length >= 2, true);
  t.is(bodies[0]!.framework_id, undefined, 'the first SUBSCRIBE has no framework id');
  t.deepEqual(bodies[1]!.framework_id, { value: 'fw-1' });
  t.deepEqual((bodies[1]!.subscribe as { framework_info: { id: unknown } }).framework_info.id, { value: 'fw-1' });
});

test('an update acknowledged before that comes again (its acknowledgement lost, as when the agent had not re-registered with a restarted master) is acknowledged again by the client', async (t) => {
  const uuid = Buffer.alloc(16, 7).toString('base64');
  const update = record({
    type: 'UPDATE',
    update: { status: { task_id: { value: 't1' }, state: 'TASK_RUNNING', uuid, agent_id: { value: 'a1' }, source: 'SOURCE_EXECUTOR' } },
  });
  const acks: Record<string, unknown>[] = [];
  let stream: http.ServerResponse | undefined;
  const fake = await fakeMaster((_n, body, res) => {
    if (body.type === 'SUBSCRIBE') {
      stream = res;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Mesos-Stream-Id': 'stream-0' });
      res.write(record({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw-1' }, heartbeat_interval_seconds: 15 } }));
      res.write(update);
      return;
    }
    if (body.type === 'ACKNOWLEDGE') {
      acks.push(body.acknowledge as Record<string, unknown>);
      // The master takes the first one (202) but its agent never gets it: the update comes again.
      if (acks.length === 1) setTimeout(() => stream?.write(update), 50);
    }
    res.writeHead(202);
    res.end();
  });
  t.teardown(() => fake.close());
  const c = client(fake.address, { implicitAcknowledgements: false });
  t.teardown(() => c.stop());
  // A framework that acknowledges each update once, by its uuid (a repeat is not acknowledged by it).
  const seen = new Set<string>();
  let updates = 0;
  c.on('update', (s) => {
    updates++;
    if (!seen.has(s.uuid!)) {
      seen.add(s.uuid!);
      void c.acknowledge(s);
    }
  });
  await c.start();
  const end = Date.now() + 10_000;
  while (acks.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  t.is(updates, 2, 'the update came twice');
  t.is(acks.length, 2, 'acknowledged twice: the repeat by the client');
  t.deepEqual(acks[1], { agent_id: { value: 'a1' }, task_id: { value: 't1' }, uuid });
});

test('a master that does not lead: its 307 is followed to the leader it names', async (t) => {
  const cluster = await startCluster(t, { agents: 0 });
  const follower = await fakeMaster((_n, _body, res) => {
    res.writeHead(307, { Location: `//${cluster.masterAddress}/api/v1/scheduler` });
    res.end();
  });
  t.teardown(() => follower.close());
  const c = client(follower.address);
  t.teardown(() => c.stop());
  await c.start();
  t.is(c.master, cluster.masterAddress);
});

test("a subscription refused for good (an ERROR for a bad FrameworkInfo, a 403) rejects start() with the master's answer; an ERROR later ends the client", async (t) => {
  const cluster = await startCluster(t, { agents: 0 });
  const bad = new SchedulerClient({ master: cluster.masterAddress, framework: { name: 'x', user: USER, role: 'bad role' } });
  t.teardown(() => bad.stop());
  const e = await t.throwsAsync(bad.start(), { instanceOf: SchedulerClientError, code: 'FRAMEWORK_ENDED' });
  t.is(e!.message, "the master says: Invalid role 'bad role': must not contain whitespace");

  const refusing = await fakeMaster((_n, _body, res) => {
    res.writeHead(403);
    res.end('Forbidden: not for you\n');
  });
  t.teardown(() => refusing.close());
  const denied = client(refusing.address);
  const r = await t.throwsAsync(denied.start(), { instanceOf: SchedulerRefusal });
  t.is(r!.status, 403);
  t.is(r!.answer, 'Forbidden: not for you');
  t.is(r!.message, `the master at ${refusing.address} refused the subscription: 403 Forbidden: not for you`);
  await denied.stop();

  const fake = await fakeMaster((_n, _body, res) => {
    res.writeHead(200, { 'Mesos-Stream-Id': 's' });
    res.write(record({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw-2' }, heartbeat_interval_seconds: 15 } }));
    res.end(record({ type: 'ERROR', error: { message: 'Framework has been removed' } }));
  });
  t.teardown(() => fake.close());
  const c = client(fake.address);
  t.teardown(() => c.stop());
  const ended = new Promise<Error>((resolve) => c.on('error', resolve));
  await c.start();
  const err = await ended;
  t.true(err instanceof SchedulerClientError);
  t.is((err as SchedulerClientError).code, 'FRAMEWORK_ENDED');
  t.is(err.message, 'the master says: Framework has been removed');
  await t.throwsAsync(c.revive(), { code: 'CLIENT_STOPPED' });
});

test('bad input: one ValidationError naming the field', async (t) => {
  const make = (o: unknown) => () => new SchedulerClient(o as ConstructorParameters<typeof SchedulerClient>[0]);
  t.throws(make({ master: '', framework: { name: 'x' } }), { instanceOf: ValidationError, message: /^master: / });
  t.throws(make({ master: 'nohost', framework: { name: 'x' } }), { instanceOf: ValidationError, message: /^master: / });
  t.throws(make({ master: '127.0.0.1:5050' }), { instanceOf: ValidationError, message: /^framework: / });
  t.throws(make({ master: '127.0.0.1:5050', framework: { name: '' } }), { instanceOf: ValidationError, message: /^framework\.name: / });
  t.throws(make({ master: '127.0.0.1:5050', framework: { name: 'x', failoverTimeoutSeconds: -1 } }), { message: /^framework\.failoverTimeoutSeconds: / });
  t.throws(make({ master: '127.0.0.1:5050', framework: { name: 'x' }, backoff: { initialMs: 0 } }), { message: /^backoff\.initialMs: / });
  t.throws(make({ master: '127.0.0.1:5050', framework: { name: 'x' }, credential: { secret: 's' } }), { message: /^credential: / });
  const c = client('127.0.0.1:1');
  const offer = { id: 'o1', agentId: 'a1' } as Offer;
  await t.throwsAsync(c.launch(offer, [{ taskId: '', resources: 'cpus:1', command: 'true' }]), { message: /^tasks\[0\]\.taskId: / });
  await t.throwsAsync(c.launch(offer, [{ taskId: 't', resources: 'cpus:x', command: 'true' }]), { message: /cpus/ });
  await t.throwsAsync(c.launch(offer, [{ taskId: 't', resources: 'cpus:1' }]), { message: /^tasks\[0\]: needs exactly one of command and executor/ });
  await t.throwsAsync(c.decline([]), { message: /^offerIds: / });
  t.throws(() => c.on('nope' as 'offers', () => {}), { message: /^event: / });
  await c.stop();
});
