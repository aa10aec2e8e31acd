/**
 * The versions a client reads (issue 20): where Mesos reports its version, Corral reports the Mesos
 * release whose APIs it speaks, so that clients choosing features by it (pymesos drops
 * GPU_RESOURCES below 1.0) take it for that release; Corral's own version is beside it as
 * `corral_version`. A real master and agent, read over HTTP as a client does.
 */
import test from 'ava';
import { MESOS_VERSION, VERSION } from '../../lib/cli/version.ts';
import { getJson, startCluster } from '../helpers/cluster.ts';

test("the Mesos API level in /version, /master/state, MasterInfo and the agents' version; Corral's own as corral_version", async (t) => {
  t.regex(MESOS_VERSION, /^1\.\d+\.\d+$/);
  const c = await startCluster(t);
  t.deepEqual(await c.getJson('/version'), { version: MESOS_VERSION, corral_version: VERSION });
  t.deepEqual(await getJson(c.agentUrl(0, '/version')), { version: MESOS_VERSION, corral_version: VERSION });
  const state = await c.getJson('/master/state');
  t.is(state.version, MESOS_VERSION);
  t.is(state.corral_version, VERSION);
  t.is(state.leader_info.version, MESOS_VERSION);
  t.is(state.slaves[0].version, MESOS_VERSION);
  const agentState = await c.agentJson(0, '/state');
  t.is(agentState.version, MESOS_VERSION);
  t.is(agentState.corral_version, VERSION);
  // What a v1 client library reads: SUBSCRIBED's master_info.version.
  const fw = await c.subscribe();
  const sub = await fw.waitFor((e) => e.type === 'SUBSCRIBED', 5000);
  t.is(sub.subscribed.master_info.version, MESOS_VERSION);
  // pymesos compares the leading numbers: 1.x is not pre-1.0.
  t.true(Number(sub.subscribed.master_info.version.split('.')[0]) >= 1);
});
