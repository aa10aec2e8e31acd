/**
 * End to end: dynamic reservations and persistent volumes through the operator endpoints and
 * the scheduler API, with real task processes writing into and reading from a volume.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { type Cluster, type Json, type Scheduler, commandTask, frameworkInfo, request, startCluster } from '../helpers/cluster.ts';

const scalar = (name: string, value: number, extra: Json = {}): Json => ({ name, type: 'SCALAR', scalar: { value }, ...extra });
const reserved = (name: string, value: number): Json => scalar(name, value, { role: 'web', reservation: { principal: 'ops' } });
const volume = (id: string, size: number, path = 'data'): Json =>
  scalar('disk', size, {
    role: 'web',
    reservation: { principal: 'ops' },
    disk: { persistence: { id, principal: 'ops' }, volume: { mode: 'RW', container_path: path } },
  });

function post(c: Cluster, path: string, form: Record<string, string>) {
  return request(c.url(path), { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
}

function checkpointFile(c: Cluster): Json[] {
  const f = join(c.workDir, 'agent0', 'meta', 'resources', 'resources.info');
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : [];
}
const volumeDir = (c: Cluster, id: string) => join(c.workDir, 'agent0', 'volumes', 'roles', 'web', id);

test('operator endpoints: bad bodies, reserve (rescinding offers), 409, unreserve, create and destroy volumes', async (t) => {
  const c = await startCluster(t, { agentResources: 'cpus:2;mem:512;disk:1000' });
  const agentId: string = (await c.getJson('/master/slaves')).slaves[0].id;
  const fw = await c.framework(frameworkInfo({ name: 'holder' }));
  await fw.offers(); // the framework holds everything

  t.is((await post(c, '/master/reserve', { resources: '[]' })).status, 400);
  t.is((await post(c, '/master/reserve', { slaveId: agentId })).status, 400);
  t.is((await post(c, '/master/reserve', { slaveId: agentId, resources: 'not json' })).status, 400);
  t.is((await post(c, '/master/reserve', { slaveId: 'nope', resources: JSON.stringify([reserved('cpus', 1)]) })).status, 400);
  t.is((await post(c, '/master/reserve', { slaveId: agentId, resources: JSON.stringify([scalar('cpus', 1)]) })).status, 400, 'not dynamically reserved');
  t.is(
    (await post(c, '/master/reserve', { slaveId: agentId, resources: JSON.stringify([scalar('cpus', 1, { role: '*', reservation: { principal: 'ops' } })]) }))
      .status,
    400,
  );
  t.is((await post(c, '/master/reserve', { slaveId: agentId, resources: JSON.stringify([reserved('cpus', 100)]) })).status, 409);

  const r = await post(c, '/master/reserve', { slaveId: agentId, resources: JSON.stringify([reserved('cpus', 1), reserved('disk', 500)]) });
  t.is(r.status, 202, r.text);
  await fw.waitFor((e) => e.type === 'RESCIND', 5000, 'the offer rescinded');
  const slave = (await c.getJson('/master/slaves')).slaves[0];
  t.is(slave.reserved_resources.web.cpus, 1);
  t.is(slave.reserved_resources.web.disk, 500);
  await c.until(() => checkpointFile(c).length === 2, 5000, 'the agent to checkpoint');

  const cv = await post(c, '/master/create-volumes', { slaveId: agentId, volumes: JSON.stringify([volume('v1', 100)]) });
  t.is(cv.status, 202, cv.text);
  await c.until(() => existsSync(volumeDir(c, 'v1')), 5000, 'the volume directory');
  t.is((await post(c, '/master/create-volumes', { slaveId: agentId, volumes: JSON.stringify([volume('v1', 100)]) })).status, 400, 'duplicate id');
  t.is((await post(c, '/master/create-volumes', { slaveId: agentId, volumes: JSON.stringify([volume('v2', 5000)]) })).status, 409, 'insufficient disk');
  t.is((await post(c, '/master/unreserve', { slaveId: agentId, resources: JSON.stringify([volume('v1', 100)]) })).status, 400, 'destroy first');
  t.is((await post(c, '/master/destroy-volumes', { slaveId: agentId, volumes: JSON.stringify([volume('v9', 100)]) })).status, 400, 'not found');
  t.is((await post(c, '/master/destroy-volumes', { slaveId: agentId, volumes: JSON.stringify([volume('v1', 100)]) })).status, 202);
  await c.until(() => !existsSync(volumeDir(c, 'v1')), 5000, 'the volume directory to go');
  t.is((await post(c, '/master/unreserve', { slaveId: agentId, resources: JSON.stringify([reserved('cpus', 1), reserved('disk', 500)]) })).status, 202);
  await c.until(() => checkpointFile(c).length === 0, 5000, 'the agent to checkpoint nothing');
  t.deepEqual((await c.getJson('/master/slaves')).slaves[0].reserved_resources, {});
});

async function offerWith(fw: Scheduler, pred: (o: Json) => boolean, what: string): Promise<Json> {
  const end = Date.now() + 15_000;
  for (;;) {
    const offers = await fw.offers(Math.max(1, end - Date.now()));
    const hit = offers.find(pred);
    const others = offers.filter((o) => o !== hit).map((o) => o.id.value);
    if (others.length > 0) await fw.decline(others);
    if (hit) return hit;
    if (Date.now() > end) throw new Error(`no offer with ${what}`);
  }
}
const hasVolume = (id: string) => (o: Json) => o.resources.some((r: Json) => r.disk?.persistence?.id === id);

test('scheduler API: reserve, create a volume, task 1 writes into it, task 2 reads it, destroy deletes the data', async (t) => {
  const c = await startCluster(t, { agentResources: 'cpus:2;mem:512;disk:1000' });
  const fw = await c.framework(frameworkInfo({ name: 'volumes', role: 'web', principal: 'ops' }));
  const o1 = (await fw.offers())[0];
  await fw.must({
    type: 'ACCEPT',
    accept: {
      offer_ids: [o1.id],
      operations: [
        { type: 'RESERVE', reserve: { resources: [reserved('disk', 200)] } },
        { type: 'CREATE', create: { volumes: [volume('v1', 100)] } },
      ],
      filters: { refuse_seconds: 0 },
    },
  });
  await c.until(() => existsSync(volumeDir(c, 'v1')), 5000, 'the volume directory');

  const run = async (id: string, command: string) => {
    for (;;) {
      const offer = await offerWith(fw, hasVolume('v1'), 'the volume');
      const task = commandTask(id, command, { agent_id: offer.agent_id });
      task.resources.push(volume('v1', 100));
      await fw.accept([offer.id.value], [task]);
      const s = await fw.update(id, ['TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST', 'TASK_ERROR'], 20_000);
      // An offer made before an agent restart may have been rescinded meanwhile: take the next.
      if (s.state !== 'TASK_LOST' || s.reason !== 'REASON_INVALID_OFFERS') return s;
    }
  };
  // As root the volume is a bind mount in the task's own mount namespace (a symlink otherwise).
  const mounted = process.getuid?.() === 0 ? 'grep -q " $PWD/data " /proc/self/mountinfo && ' : '';
  const w = await run('writer', `${mounted}test -d data && echo persisted > data/file`);
  t.is(w.state, 'TASK_FINISHED', w.message);
  t.is(readFileSync(join(volumeDir(c, 'v1'), 'file'), 'utf8'), 'persisted\n');
  const r = await run('reader', 'test "$(cat data/file)" = persisted');
  t.is(r.state, 'TASK_FINISHED', r.message);

  // The agent restarts, then the master: the volume and its data are still there, and the
  // master's view (the volume is offered to the role) matches the agent's.
  await c.restartAgent(0);
  const again = await run('reader-after-agent-restart', 'test "$(cat data/file)" = persisted');
  t.is(again.state, 'TASK_FINISHED', again.message);
  const port = c.masterPort;
  await c.stopMaster();
  await c.startMaster(port);
  await c.until(async () => (await c.getJson('/master/slaves')).slaves.length === 1, 10_000, 'the agent to re-register');
  const fw2 = await c.framework(frameworkInfo({ name: 'volumes-2', role: 'web', principal: 'ops' }));
  const o3 = await offerWith(fw2, hasVolume('v1'), 'the volume after a master restart');
  const task = commandTask('reader-after-master-restart', 'test "$(cat data/file)" = persisted', { agent_id: o3.agent_id });
  task.resources.push(volume('v1', 100));
  await fw2.accept([o3.id.value], [task]);
  t.is((await fw2.update('reader-after-master-restart', ['TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST', 'TASK_ERROR'], 20_000)).state, 'TASK_FINISHED');

  // DESTROY (the volume is free again): the data is deleted.
  const o2 = await offerWith(fw2, hasVolume('v1'), 'the volume');
  await fw2.must({
    type: 'ACCEPT',
    accept: { offer_ids: [o2.id], operations: [{ type: 'DESTROY', destroy: { volumes: [volume('v1', 100)] } }], filters: { refuse_seconds: 0 } },
  });
  await c.until(() => !existsSync(volumeDir(c, 'v1')), 5000, 'the volume data to be deleted');
  const slave = (await c.getJson('/master/slaves')).slaves[0];
  t.is(slave.reserved_resources.web.disk, 200);
});
