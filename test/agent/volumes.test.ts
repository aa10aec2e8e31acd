import test from 'ava';
import { lstat, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../lib/agent/agent.ts';
import { AgentPaths } from '../../lib/agent/paths.ts';
import { applyCheckpointed, linkVolumes, volumeTarget } from '../../lib/agent/volumes.ts';
import { FakeClock } from '../../lib/common/clock.ts';
import { silentLogger } from '../../lib/common/log.ts';
import { Resources, type Resource, parseResourcesText, resource } from '../../lib/common/resources/index.ts';
import type { AgentToMaster } from '../../lib/proto/internal.ts';
import type { FrameworkInfo, TaskInfo } from '../../lib/proto/messages.ts';
import { FakeContainerizer } from '../helpers/fake_containerizer.ts';

const fwInfo: FrameworkInfo = { user: 'nobody', name: 'fw', id: 'F1', failoverTimeout: 0, checkpoint: true, role: 'web', capabilities: [] };
const dyn = (name: string, v: number): Resource => resource(name, v, { role: 'web', reservation: { principal: 'ops' } });
const vol = (id: string, size: number, path = id): Resource =>
  resource('disk', size, { role: 'web', reservation: { principal: 'ops' }, disk: { persistence: { id }, volume: { mode: 'RW', containerPath: path } } });

function makeAgent(dir: string) {
  const containerizer = new FakeContainerizer();
  const sent: AgentToMaster[] = [];
  const agent = new Agent({
    clock: new FakeClock(),
    logger: silentLogger,
    paths: new AgentPaths(dir),
    containerizer,
    hostname: 'h1',
    ip: '127.0.0.1',
    port: 5051,
    resources: parseResourcesText('cpus:4;mem:1024;disk:1000'),
    attributes: [],
    version: 'test',
    executorRegistrationTimeoutMs: 60_000,
    executorShutdownGracePeriodMs: 5000,
    defaultKillGraceMs: 3000,
    executorEnvironment: { PATH: '/usr/bin:/bin' },
    switchUser: false,
  });
  agent.connected((m) => sent.push(m));
  return { agent, containerizer, sent, paths: new AgentPaths(dir) };
}

function task(id: string, extra: Resource[]): TaskInfo {
  return {
    name: id,
    taskId: id,
    agentId: 'S0',
    resources: [...parseResourcesText('cpus:1;mem:64').toArray(), ...extra],
    command: { uris: [], shell: true, value: 'true', arguments: [] },
  };
}

test('CHECKPOINT_RESOURCES: written atomically, volumes made and deleted on destroy, recovered with the total after a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-volumes-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { agent, containerizer, paths } = makeAgent(dir);
  await agent.recover();
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  const set = Resources.of([dyn('disk', 300), vol('v1', 200, 'data/v')]);
  await agent.onMasterMessage({ type: 'CHECKPOINT_RESOURCES', resources: set.toArray() });
  t.true(Resources.of(JSON.parse(await readFile(paths.resourcesFile(), 'utf8'))).equals(set));
  const vdir = paths.volumeDir('web', 'v1');
  t.true((await stat(vdir)).isDirectory());
  t.is((await stat(vdir)).mode & 0o777, 0o700, 'the volume is for its task user only');
  t.true(agent.totalResources().equals(parseResourcesText('cpus:4;mem:1024;disk:500').plus(set)));

  // A task using the volume: the containerizer is asked to mount its directory at the container path.
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo, task: task('t1', [vol('v1', 200, 'data/v')]) });
  const spec = containerizer.launched[0]!;
  t.deepEqual(spec.volumes, [{ source: vdir, containerPath: 'data/v', readOnly: false }]);
  t.is((await stat(spec.sandbox)).mode & 0o777, 0o700, 'the sandbox is for its task user only');
  t.is((await stat(join(spec.sandbox, '..'))).mode & 0o777, 0o755, 'the directories above it stay searchable');
  // Without a mount namespace (not root), the fallback: a symlink; what is written through it stays.
  linkVolumes(spec.sandbox, spec.volumes!);
  const link = join(spec.sandbox, 'data/v');
  t.true((await lstat(link)).isSymbolicLink());
  t.is(await readlink(link), vdir);
  await writeFile(join(link, 'hello'), 'world');
  t.is(await readFile(join(vdir, 'hello'), 'utf8'), 'world');

  // Restart: the checkpoint is recovered and reported to the master in the total.
  const second = makeAgent(dir);
  await second.agent.recover();
  t.true(second.agent.checkpointed.equals(set));
  const reg = second.agent.registrationMessage();
  t.true(Resources.of(reg.agentInfo.resources).equals(parseResourcesText('cpus:4;mem:1024;disk:500').plus(set)));

  // DESTROY: the directory and its data are gone.
  await second.agent.onMasterMessage({ type: 'CHECKPOINT_RESOURCES', resources: [dyn('disk', 500)] });
  await t.throwsAsync(stat(vdir));
  t.true(Resources.of(JSON.parse(await readFile(paths.resourcesFile(), 'utf8'))).equals(Resources.of([dyn('disk', 500)])));
});

test('checkpointed resources that do not fit the flags are refused', (t) => {
  t.throws(() => applyCheckpointed(parseResourcesText('cpus:1;disk:100'), Resources.of([vol('v1', 200)])));
  t.true(
    applyCheckpointed(
      parseResourcesText('cpus:1;disk(web):100'),
      Resources.of([resource('disk', 60, { role: 'web', disk: { persistence: { id: 's' }, volume: { mode: 'RW', containerPath: 's' } } })]),
    ).scalar('disk') === 100,
  );
  t.throws(() => volumeTarget('/sb', '../x'));
  t.throws(() => volumeTarget('/sb', '/abs'));
  t.is(volumeTarget('/sb', 'a/b'), '/sb/a/b');
  t.is(volumeTarget('/sb', 'a//b/'), '/sb/a/b');
  t.throws(() => volumeTarget('/sb', 'a/./b'));
  t.throws(() => volumeTarget('/sb', 'a:b'));
  t.throws(() => volumeTarget('/sb', ''));
});

test('a task using a volume the agent has not checkpointed is LOST with REASON_RESOURCES_UNKNOWN', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-volumes-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { agent, containerizer, sent } = makeAgent(dir);
  await agent.recover();
  await agent.onMasterMessage({ type: 'REGISTERED', agentId: 'S0', masterId: 'M' });
  await agent.onMasterMessage({ type: 'RUN_TASK', frameworkId: 'F1', frameworkInfo: fwInfo, task: task('t1', [vol('v1', 10)]) });
  t.is(containerizer.launched.length, 0);
  const update = sent.find((m): m is Extract<AgentToMaster, { type: 'STATUS_UPDATE' }> => m.type === 'STATUS_UPDATE');
  t.like(update?.status, { taskId: 't1', state: 'TASK_LOST', reason: 'REASON_RESOURCES_UNKNOWN' });
});
