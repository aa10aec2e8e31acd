import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resources, type Resource, type ResourceInput, parseResourcesText, resource } from '../../lib/common/resources/index.ts';
import { FileRegistry, type RegistryAgent } from '../../lib/master/registry/index.ts';
import type { Offer, Operation } from '../../lib/proto/messages.ts';
import { Harness, TestAgent, type TestFramework, commandTask, frameworkInfo } from '../helpers/master_harness.ts';

const dyn = (name: string, v: number, role = 'web', principal = 'ops'): Resource => resource(name, v, { role, reservation: { principal } });
const vol = (id: string, size: number, role = 'web', principal = 'ops', path = id): Resource =>
  resource('disk', size, { role, reservation: { principal }, disk: { persistence: { id, principal }, volume: { mode: 'RW', containerPath: path } } });
const input = (r: Resource): ResourceInput => r as unknown as ResourceInput;

function accept(fw: TestFramework, offer: Offer, operations: Operation[]): void {
  fw.call({ type: 'ACCEPT', frameworkId: fw.id, accept: { offerIds: [offer.id], operations } });
}
const reserve = (...rs: Resource[]): Operation => ({ type: 'RESERVE', reserve: { resources: rs.map(input) } });
const unreserve = (...rs: Resource[]): Operation => ({ type: 'UNRESERVE', unreserve: { resources: rs.map(input) } });
const create = (...rs: Resource[]): Operation => ({ type: 'CREATE', create: { volumes: rs.map(input) } });
const destroy = (...rs: Resource[]): Operation => ({ type: 'DESTROY', destroy: { volumes: rs.map(input) } });

function lastOffer(fw: TestFramework): Offer {
  const o = fw.offers();
  return o[o.length - 1]!;
}
const res = (o: Offer) => Resources.of(o.resources);

async function setup() {
  const h = await Harness.start();
  const agent = await h.agent('cpus:4;mem:1024;disk:1000');
  const web = h.framework(frameworkInfo({ role: 'web', principal: 'ops' }));
  h.tick(0);
  return { h, agent, web };
}

test('RESERVE: the reservation is checkpointed on the agent and offered only to its role', async (t) => {
  const { h, agent, web } = await setup();
  const offer = lastOffer(web);
  const reserved = Resources.of([dyn('cpus', 2), dyn('mem', 512)]);
  accept(web, offer, [reserve(dyn('cpus', 2), dyn('mem', 512))]);
  const cp = agent.sink.of('CHECKPOINT_RESOURCES');
  t.is(cp.length, 1);
  t.true(Resources.of(cp[0]!.resources).equals(reserved));
  const a = h.master.agents.get(agent.id)!;
  t.true(a.total.equals(parseResourcesText('cpus:2;mem:512;disk:1000').plus(reserved)));
  t.true(h.allocator.free(agent.id).equals(a.total)); // everything went back (converted: no filter)
  // Another role never sees the reservation.
  web.call({ type: 'SUPPRESS', frameworkId: web.id });
  const other = h.framework(frameworkInfo({ role: 'db' }));
  h.tick(6000);
  const o2 = lastOffer(other);
  t.true(res(o2).equals(parseResourcesText('cpus:2;mem:512;disk:1000')));
  other.call({ type: 'DECLINE', frameworkId: other.id, decline: { offerIds: [o2.id], filters: { refuseSeconds: 1000 } } });
  other.call({ type: 'SUPPRESS', frameworkId: other.id });
  web.call({ type: 'REVIVE', frameworkId: web.id });
  h.tick(6000);
  const o3 = lastOffer(web);
  t.true(res(o3).contains(reserved));
  t.deepEqual(o3.resources.find((r) => r.reservation !== undefined)?.reservation, { principal: 'ops' });
  // UNRESERVE turns it back into '*'.
  accept(web, o3, [unreserve(dyn('cpus', 2), dyn('mem', 512))]);
  t.true(h.master.agents.get(agent.id)!.total.equals(parseResourcesText('cpus:4;mem:1024;disk:1000')));
  t.deepEqual(agent.sink.of('CHECKPOINT_RESOURCES')[1]!.resources, []);
});

test('CREATE a volume: offered back as a volume, a task uses it, DESTROY refused while in use, then done', async (t) => {
  const { h, agent, web } = await setup();
  accept(web, lastOffer(web), [reserve(dyn('disk', 500)), create(vol('v1', 200))]);
  const cp = agent.sink.of('CHECKPOINT_RESOURCES');
  t.is(cp.length, 2);
  t.true(Resources.of(cp[1]!.resources).equals(Resources.of([dyn('disk', 300), vol('v1', 200)])));
  h.tick(6000);
  const offer = lastOffer(web);
  const v = offer.resources.find((r) => r.disk?.persistence) as Resource | undefined;
  t.is(v?.disk?.persistence?.id, 'v1');
  t.is(v?.disk?.volume?.containerPath, 'v1');
  // A LAUNCH using the volume.
  const task = { ...commandTask(offer, 't1'), resources: [...parseResourcesText('cpus:1;mem:128').toArray(), vol('v1', 200)] };
  accept(web, offer, [{ type: 'LAUNCH', launch: { taskInfos: [task] } }]);
  const run = agent.runTasks()[0]!;
  t.truthy((run.task.resources as readonly Resource[]).find((r) => r.disk?.persistence?.id === 'v1'));
  // DESTROY while the task runs: dropped.
  h.tick(6000);
  const o2 = lastOffer(web);
  t.falsy(o2.resources.find((r) => r.disk?.persistence));
  accept(web, o2, [reserve(dyn('cpus', 1)), destroy(vol('v1', 200))]);
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 3); // only the RESERVE applied
  t.true(h.master.agents.get(agent.id)!.checkpointed.persistentVolumes().size === 1);
  // The task ends; the volume comes back and can be destroyed.
  agent.update(web.id, 't1', 'TASK_FINISHED');
  h.tick(6000);
  const o3 = lastOffer(web);
  t.truthy(o3.resources.find((r) => r.disk?.persistence?.id === 'v1'));
  accept(web, o3, [destroy(vol('v1', 200))]);
  const last = agent.sink.of('CHECKPOINT_RESOURCES').at(-1)!;
  t.true(Resources.of(last.resources).equals(Resources.of([dyn('disk', 500), dyn('cpus', 1)])));
});

test('invalid operations are dropped without effect', async (t) => {
  const { h, agent, web } = await setup();
  const before = h.master.agents.get(agent.id)!.total;
  const cases: Operation[] = [
    reserve(resource('cpus', 1, { role: 'web' })), // static form: not dynamically reserved
    reserve(dyn('cpus', 1, 'db')), // not the framework's role
    reserve(dyn('cpus', 1, 'web', 'someone-else')), // principal mismatch
    reserve(dyn('cpus', 8)), // more than offered
    reserve(vol('v0', 10)), // a volume
    unreserve(dyn('cpus', 1)), // nothing reserved
    create(vol('v1', 100)), // on unreserved disk: Insufficient disk resources
    create(resource('disk', 10, { role: '*', disk: { persistence: { id: 'x' }, volume: { mode: 'RW', containerPath: 'x' } } }) as Resource), // unreserved volume
    destroy(vol('nope', 10)), // not found
  ];
  for (const op of cases) {
    h.tick(6000);
    const offer = lastOffer(web);
    accept(web, offer, [op]);
    t.true(h.master.agents.get(agent.id)!.total.equals(before), JSON.stringify(op));
  }
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 0);
  // Duplicate persistence id: within one CREATE, and against an existing volume.
  h.tick(6000);
  accept(web, lastOffer(web), [reserve(dyn('disk', 500)), create(vol('v1', 100), vol('v1', 100, 'web', 'ops', 'other'))]);
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 1);
  h.tick(6000);
  accept(web, lastOffer(web), [create(vol('v1', 100))]);
  h.tick(6000);
  accept(web, lastOffer(web), [create(vol('v1', 100, 'web', 'ops', 'again'))]);
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 2);
  // Volume principal must match the framework's.
  h.tick(6000);
  accept(web, lastOffer(web), [
    create(
      vol('v2', 100, 'web', 'ops').disk
        ? resource('disk', 100, {
            role: 'web',
            reservation: { principal: 'ops' },
            disk: { persistence: { id: 'v2', principal: 'eve' }, volume: { mode: 'RW', containerPath: 'v2' } },
          })
        : vol('v2', 1),
    ),
  ]);
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 2);
  // Unreserving a volume's disk is refused: destroy first.
  h.tick(6000);
  accept(web, lastOffer(web), [unreserve(vol('v1', 100))]);
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 2);
});

test('static reservations keep working: a volume on statically reserved disk', async (t) => {
  const h = await Harness.start();
  const agent = await h.agent('cpus:2;mem:512;disk(web):100');
  const web = h.framework(frameworkInfo({ role: 'web' }));
  h.tick(0);
  const offer = lastOffer(web);
  t.true(res(offer).equals(parseResourcesText('cpus:2;mem:512;disk(web):100')));
  const v = resource('disk', 60, { role: 'web', disk: { persistence: { id: 's1' }, volume: { mode: 'RW', containerPath: 'data' } } });
  accept(web, offer, [create(v)]);
  t.true(h.master.agents.get(agent.id)!.total.equals(parseResourcesText('cpus:2;mem:512;disk(web):40').plus(v)));
  t.is(agent.sink.of('CHECKPOINT_RESOURCES')[0]!.resources.length, 1);
});

/** A FileRegistry that tells when a write of the checkpointed resources has reached the disk. */
class WrittenRegistry extends FileRegistry {
  private durable: readonly RegistryAgent[] = [];
  private readonly waiters = new Set<() => void>();

  override async updateAgents(agents: readonly RegistryAgent[]): Promise<void> {
    await super.updateAgents(agents);
    this.durable = agents;
    for (const w of this.waiters) w();
  }

  /** Resolves once a completed write holds agents for which `done` is true. */
  written(done: (agents: readonly RegistryAgent[]) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!done(this.durable)) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }
}

test('a restarted master keeps the checkpointed resources from its registry and sends them to the agent', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-registry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const registry = new WrittenRegistry(dir);
  const h1 = await Harness.start(registry);
  const agent = await h1.agent('cpus:4;mem:1024;disk:1000');
  const web = h1.framework(frameworkInfo({ role: 'web', principal: 'ops' }));
  h1.tick(0);
  accept(web, lastOffer(web), [reserve(dyn('disk', 500)), create(vol('v1', 200))]);
  // The master records the operations in its registry after answering the call: wait until
  // that write is on disk (a fixed sleep lost the race against fsync on a loaded machine).
  await registry.written((agents) => agents.find((a) => a.id === agent.id)?.checkpointedResources?.length === 2);
  h1.master.stop();
  const h2 = await Harness.start(new FileRegistry(dir));
  t.deepEqual(h2.master.recoveredAgents.get(agent.id)?.checkpointedResources?.length, 2);
  // The agent reports only its plain resources (its checkpoint was lost): the master's view wins.
  const again = new TestAgent(h2);
  await h2.master.reregisterAgent(
    {
      type: 'REREGISTER',
      agentId: agent.id,
      agentInfo: { hostname: 'host1', port: 5051, resources: agent.resourceList, attributes: [] },
      version: 'test',
      tasks: [],
      executors: [],
      frameworks: [],
    },
    again.sink,
    '127.0.0.1',
  );
  const expected = parseResourcesText('cpus:4;mem:1024;disk:500').plus(Resources.of([dyn('disk', 300), vol('v1', 200)]));
  t.true(h2.master.agents.get(agent.id)!.total.equals(expected));
  t.true(Resources.of(again.sink.of('CHECKPOINT_RESOURCES')[0]!.resources).equals(Resources.of([dyn('disk', 300), vol('v1', 200)])));
  h2.master.stop();
});
