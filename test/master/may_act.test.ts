/**
 * MasterOptions.mayAct: once it answers false, the master sends nothing more to any framework
 * or agent (offers, RUN_TASK, updates, heartbeats, SUBSCRIBED, SHUTDOWN), by any path.
 */
import test from 'ava';
import { ArraySink, Harness, TestFramework, commandTask, frameworkInfo } from '../helpers/master_harness.ts';
import type { MasterToAgent } from '../../lib/proto/internal.ts';

test('without the hook the master always acts', async (t) => {
  const h = await Harness.start();
  t.true(h.master.mayAct());
});

test('a master that may not act sends nothing, on any path, and counts what it dropped', async (t) => {
  let may = true;
  let asked = 0;
  const h = await Harness.start(undefined, {
    mayAct: () => {
      asked++;
      return may;
    },
  });
  const agent = await h.agent();
  const fw = h.framework(frameworkInfo({ failoverTimeout: 3600 }));
  h.tick(1000);
  const [offer] = fw.offers();
  t.truthy(offer, 'an offer while it may act');
  t.true(asked > 0, 'the hook was asked');
  const sentToAgent = agent.sink.events.length;
  const sentToFramework = fw.sink.events.length;

  may = false;
  t.false(h.master.mayAct());
  // A launch, a status update, heartbeats, a new subscription, a new agent: nothing goes out.
  fw.launch(offer!, [commandTask(offer!, 't1')]);
  agent.update(fw.id, 'unknown-task', 'TASK_RUNNING');
  h.tick(60_000);
  const late = new TestFramework(h).subscribe(frameworkInfo({ name: 'late' }));
  const unknown = new ArraySink<MasterToAgent>();
  await h.master.reregisterAgent(
    {
      type: 'REREGISTER',
      agentId: 'no-such-agent',
      agentInfo: { hostname: 'x', port: 5051, resources: [], attributes: [] },
      version: 'test',
      tasks: [],
      executors: [],
      frameworks: [],
    },
    unknown,
    '127.0.0.1',
  );
  t.is(agent.sink.events.length, sentToAgent, 'no RUN_TASK, ping or other message to the agent');
  t.is(fw.sink.events.length, sentToFramework, 'no update, offer or heartbeat to the framework');
  t.deepEqual(late.sink.events, [], 'no SUBSCRIBED to a new framework');
  t.deepEqual(unknown.events, [], 'no SHUTDOWN to an unknown agent');
  t.true(h.master.metrics.get('master/dropped_messages') > 0);

  // The http/ handlers name the sink they were given: the master still finds the framework.
  fw.disconnect();
  t.false(h.master.view.frameworks.get(fw.id)!.connected);
});
