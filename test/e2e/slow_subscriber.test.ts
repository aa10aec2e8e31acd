/**
 * Clients that open a stream and stop reading it, against a real master on loopback: a
 * scheduler flooded by RECONCILE answers, an agent flooded by framework messages. The master
 * keeps at most --max_stream_backlog unread bytes for each, then closes the stream, counts it
 * and treats the client as disconnected; the client can come back.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { residentBytes } from '../../lib/linux/index.ts';
import { runCorral } from '../helpers/corral_run.ts';
import { type Cluster, type Json, commandTask, frameworkInfo, request, startCluster } from '../helpers/cluster.ts';

const BACKLOG = '2MB';

/**
 * POST `body` to `path` on a raw socket, read the response head and the first bytes of the
 * stream until `ready` holds for what arrived, then stop reading for good (until resume()).
 */
async function silentClient(
  t: { teardown(f: () => void): void },
  port: number,
  path: string,
  body: Json,
  ready: (text: string) => boolean,
): Promise<{ text: string; socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const payload = JSON.stringify(body);
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
  );
  let text = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${path}: ${text}`)), 5000);
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      if (/^HTTP\/1\.1 [^2]/.test(text)) reject(new Error(`${path} refused: ${text}`));
      if (!ready(text)) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      resolve();
    };
    socket.on('data', onData);
  });
  return { text, socket, closed };
}

/** The pid of the process whose command line holds `marker`. */
function pidWith(marker: string): number {
  for (const d of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'latin1').includes(marker)) return Number(d);
    } catch {
      // gone
    }
  }
  throw new Error(`no process with ${marker} on its command line`);
}

async function metric(c: Cluster, name: string): Promise<number> {
  return (await c.getJson('/metrics/snapshot'))[name];
}

test('a scheduler that stops reading its stream: RECONCILE answers are bounded, the stream is closed and counted, the framework is disconnected and can subscribe again', async (t) => {
  const c = await startCluster(t, { agents: 0, masterArgs: [`--max_stream_backlog=${BACKLOG}`] });
  t.is(await metric(c, 'master/event_stream_overflows'), 0);
  const info = frameworkInfo({ name: 'not-reading', failover_timeout: 3600 });
  const sub = await silentClient(t, c.masterPort, '/api/v1/scheduler', { type: 'SUBSCRIBE', subscribe: { framework_info: info } }, (s) =>
    /"framework_id":\{"value":"[^"]+"\}/.test(s),
  );
  const frameworkId = /"framework_id":\{"value":"([^"]+)"\}/.exec(sub.text)![1]!;
  const streamId = /mesos-stream-id: (\S+)/i.exec(sub.text)![1]!;

  // 5000 unknown tasks per call: about 1.3 MB of UPDATE events each. 60 calls (80 MB) is far
  // more than the 2 MB backlog plus what the kernel's socket buffers hold.
  const tasks = Array.from({ length: 5000 }, (_, i) => ({ task_id: { value: `unknown-${i}` } }));
  const headers = { 'Content-Type': 'application/json', 'Mesos-Stream-Id': streamId };
  let calls = 0;
  let last = 202;
  while (calls < 60 && last === 202) {
    last = (await request(c.url('/api/v1/scheduler'), { headers, body: { framework_id: { value: frameworkId }, type: 'RECONCILE', reconcile: { tasks } } }))
      .status;
    calls++;
  }
  t.log(`${calls} RECONCILE calls made`);
  t.is(last, 403, `still subscribed after ${calls} calls`);
  t.is(await metric(c, 'master/event_stream_overflows'), 1);
  const fw = (await c.getJson('/master/frameworks')).frameworks.find((f: Json) => f.id === frameworkId);
  t.false(fw.active, 'the framework is disconnected');
  // The master dropped the connection: the client sees it close once it reads again.
  sub.socket.resume();
  await sub.closed;

  const again = await c.framework(info, { frameworkId });
  t.is(again.frameworkId, frameworkId);
  t.true((await c.getJson('/master/frameworks')).frameworks.find((f: Json) => f.id === frameworkId).active);
});

test('RECONCILE listing more than 100000 tasks: 400 naming reconcile.tasks and the limit', async (t) => {
  const c = await startCluster(t, { agents: 0 });
  const fw = await c.framework(frameworkInfo());
  // Short ids: 100001 of them fit in the default 4 MiB body.
  const tasks = Array.from({ length: 100_001 }, (_, i) => ({ task_id: { value: String(i) } }));
  const res = await request(c.url('/api/v1/scheduler'), {
    headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': fw.streamId },
    body: { framework_id: { value: fw.frameworkId }, type: 'RECONCILE', reconcile: { tasks } },
  });
  t.is(res.status, 400);
  t.is(
    res.text,
    "Failed to validate scheduler::Call: 'reconcile.tasks' lists 100001 tasks; at most 100000 are accepted in one call (reconcile in batches, or with no tasks for all of them)",
  );
  t.false(fw.closed, 'the subscription is untouched');
});

test('an agent that stops reading its stream: the master closes it past the backlog, counts it and marks the agent disconnected', async (t) => {
  const c = await startCluster(t, { agents: 0, masterArgs: [`--max_stream_backlog=${BACKLOG}`] });
  t.is(await metric(c, 'master/agent_stream_overflows'), 0);
  const hello = { type: 'REGISTER', agent_info: { hostname: 'deaf', port: 1, resources: [] }, version: 'x' };
  const agent = await silentClient(t, c.masterPort, '/internal/agent/subscribe', hello, (s) => /corral-agent-id: \S+/i.test(s));
  const agentId = /corral-agent-id: (\S+)/i.exec(agent.text)![1]!;
  const fw = await c.framework(frameworkInfo());

  // Framework messages of 512 KiB each are forwarded to the agent's stream.
  const data = Buffer.alloc(512 * 1024, 7).toString('base64');
  const message = { framework_id: { value: fw.frameworkId }, type: 'MESSAGE', message: { agent_id: { value: agentId }, executor_id: { value: 'e' }, data } };
  const headers = { 'Content-Type': 'application/json', 'Mesos-Stream-Id': fw.streamId };
  let calls = 0;
  while (calls < 160 && (await metric(c, 'master/agent_stream_overflows')) === 0) {
    t.is((await request(c.url('/api/v1/scheduler'), { headers, body: message })).status, 202);
    calls++;
  }
  t.log(`${calls} MESSAGE calls made`);
  t.is(await metric(c, 'master/agent_stream_overflows'), 1, `after ${calls} messages`);
  await c.until(
    async () => (await c.getJson('/master/slaves')).slaves.find((a: Json) => a.id === agentId)?.active === false,
    5000,
    'the agent to be disconnected',
  );
  agent.socket.resume();
  await agent.closed;
});

test('an executor that stops reading its stream: the agent closes it past the backlog, counts it and drops the connection', async (t) => {
  const c = await startCluster(t, { agentArgs: [`--max_stream_backlog=${BACKLOG}`] });
  const metricOf = async (): Promise<number> => (await c.agentJson(0, '/metrics/snapshot'))['slave/executor_stream_overflows'];
  t.is(await metricOf(), 0);
  const s = await c.framework(frameworkInfo());
  const [offer] = await s.offers();
  // A custom executor that never subscribes itself: the test subscribes in its place.
  const executorId = 'deaf-executor';
  const task = {
    ...commandTask('deaf', 'unused'),
    command: undefined,
    agent_id: offer.agent_id,
    executor: { executor_id: { value: executorId }, name: executorId, command: { value: 'sleep 30' }, resources: commandTask('x', 'x').resources },
  };
  await s.accept([offer.id.value], [task]);
  await c.until(
    async () => (await c.agentJson(0, '/state')).frameworks.some((f: Json) => f.executors.some((e: Json) => e.id === executorId)),
    10_000,
    'the executor to be launched',
  );
  const ids = { framework_id: { value: s.frameworkId }, executor_id: { value: executorId } };
  const ex = await silentClient(t, c.agents[0]!.port, '/api/v1/executor', { ...ids, type: 'SUBSCRIBE', subscribe: {} }, (text) =>
    text.includes('"type":"SUBSCRIBED"'),
  );

  const data = Buffer.alloc(512 * 1024, 7).toString('base64');
  const message = { framework_id: { value: s.frameworkId }, type: 'MESSAGE', message: { agent_id: offer.agent_id, executor_id: { value: executorId }, data } };
  const headers = { 'Content-Type': 'application/json', 'Mesos-Stream-Id': s.streamId };
  let calls = 0;
  while (calls < 160 && (await metricOf()) === 0) {
    t.is((await request(c.url('/api/v1/scheduler'), { headers, body: message })).status, 202);
    calls++;
  }
  t.log(`${calls} MESSAGE calls made`);
  t.is(await metricOf(), 1);
  // The agent dropped the connection: the client sees it close once it reads again.
  ex.socket.resume();
  await ex.closed;
});

test('corral master as its own process: a subscriber that never reads and 80 RECONCILE calls of 10000 unknown tasks leave its memory bounded, with a WARN naming the framework', async (t) => {
  const marker = `slow-subscriber-${randomUUID()}`;
  let growth = 0;
  const statuses: number[] = [];
  let frameworkId = '';
  const r = await runCorral(['master', '--registry=in_memory', '--port=0', '--max_stream_backlog=16MB', `--cluster=${marker}`], {
    until: /master started/,
    timeoutMs: 60_000,
    whileUp: async (out) => {
      const port = Number(/"port":(\d+)/.exec(out)?.[1] ?? /port[=: ]+(\d+)/.exec(out)?.[1]);
      const pid = pidWith(marker);
      const base = `http://127.0.0.1:${port}`;
      const info = frameworkInfo({ name: 'not-reading', failover_timeout: 3600 });
      const sub = await silentClient(t, port, '/api/v1/scheduler', { type: 'SUBSCRIBE', subscribe: { framework_info: info } }, (s) =>
        /"framework_id":\{"value":"[^"]+"\}/.test(s),
      );
      frameworkId = /"framework_id":\{"value":"([^"]+)"\}/.exec(sub.text)![1]!;
      const streamId = /mesos-stream-id: (\S+)/i.exec(sub.text)![1]!;
      const before = (await residentBytes(pid))!;
      // About 2.5 MB of UPDATE events per call: 200 MB in all for a master that keeps them.
      const tasks = Array.from({ length: 10_000 }, (_, i) => ({ task_id: { value: `unknown-task-${i}` } }));
      const body = JSON.stringify({ framework_id: { value: frameworkId }, type: 'RECONCILE', reconcile: { tasks } });
      const headers = { 'Content-Type': 'application/json', 'Mesos-Stream-Id': streamId };
      for (let i = 0; i < 80; i++) {
        statuses.push((await request(`${base}/api/v1/scheduler`, { headers, body })).status);
        growth = Math.max(growth, (await residentBytes(pid))! - before);
      }
      sub.socket.destroy();
    },
  });
  const out = r.stdout + r.stderr;
  t.log(`master RSS grew by at most ${Math.round(growth / 1e6)} MB; ${statuses.filter((s) => s === 202).length} calls answered 202, then 403`);
  t.true(frameworkId !== '', out);
  // Kept: 16 MB of backlog plus the transient work of a call (parsing, building 10000 answers).
  // The old master grew by about 560 MB here, and without bound with more calls.
  t.true(growth < 300e6, `the master's RSS grew by ${growth} bytes`);
  const first403 = statuses.indexOf(403);
  t.true(first403 > 0 && first403 < 40, 'the stream is closed once 16 MB are left unread (plus what the kernel holds)');
  t.true(
    statuses.slice(first403).every((s) => s === 403),
    'later calls are refused: the framework is not subscribed',
  );
  t.regex(out, new RegExp(`Closing the event stream of framework ${frameworkId}: \\d+ bytes not read by the subscriber`));
});
