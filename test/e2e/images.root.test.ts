/**
 * Tasks from container images, end to end: a framework gives ContainerInfo{type: MESOS,
 * mesos.image: DOCKER} through the scheduler API and an agent started with
 * --image_providers=docker pulls the image from a real registry (Debian's docker-registry on
 * loopback, an image of busybox-static built by the test) and runs the task inside it.
 */
import anyTest from 'ava';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, type Json, type Scheduler, commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';
import { BUSYBOX_IMAGE, TestRegistry, registryOnly } from '../helpers/image_registry.ts';
import { clearLeftoverCgroups, removeRoot, testRoot } from '../linux/cgroups_fixture.ts';

const test = registryOnly(anyTest);
let registry: TestRegistry;
/** The agents' --cgroups_root (the Linux launcher's freezer cgroups): the test's own, removed at the end; a crashed run's cleared first. */
const root = testRoot();

test.before(async () => {
  await clearLeftoverCgroups();
  registry = await TestRegistry.start();
  registry.pushImage('test/busybox:1', BUSYBOX_IMAGE);
  registry.pushImage('test/gc-a:1', { ...BUSYBOX_IMAGE, layers: [...BUSYBOX_IMAGE.layers, { files: { '/a-only': 'a\n' } }] });
  registry.pushImage('test/gc-b:1', { ...BUSYBOX_IMAGE, layers: [...BUSYBOX_IMAGE.layers, { files: { '/b-only': 'b\n' } }] });
});
test.after.always(async () => {
  await removeRoot(root);
  await registry?.stop();
});

const image = (name: string, extra: object = {}): object => ({ type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name }, ...extra } } });

/** Every file named `name` below `dir`. */
function filesNamed(dir: string, name: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && !e.isSymbolicLink()) out.push(...filesNamed(p, name));
    else if (e.name === name) out.push(p);
  }
  return out;
}

test.serial(
  "a task runs in its image: it sees the image's files and environment, writes its sandbox, and the image's Entrypoint/Cmd run when the command names none",
  async (t) => {
    const c = await startCluster(t, {
      agentArgs: [
        '--image_providers=docker',
        `--docker_registry=http://${registry.host}`,
        '--isolation=filesystem/linux,docker/runtime,namespaces/pid',
        `--cgroups_root=${root}`,
      ],
    });
    const s = await c.framework();
    await s.launch([
      commandTask(
        'in-image',
        'cat /etc/os-release; echo "var=$IMAGE_VAR sandbox=$MESOS_SANDBOX"; pwd; echo out > $MESOS_SANDBOX/made-inside; if test -e /usr; then echo HOST-USR-VISIBLE; fi',
        {
          container: image('test/busybox:1'),
        },
      ),
      { ...commandTask('entrypoint', ''), command: { shell: false }, container: image(`${registry.host}/test/busybox:1`) },
    ]);
    const done = await s.update('in-image', ['TASK_FINISHED', 'TASK_FAILED'], 60_000);
    t.is(done.state, 'TASK_FINISHED', JSON.stringify(done));
    const ep = await s.update('entrypoint', ['TASK_FINISHED', 'TASK_FAILED'], 60_000);
    t.is(ep.state, 'TASK_FINISHED', JSON.stringify(ep));
    const outs = filesNamed(c.workDir, 'stdout').map((f) => ({ f, text: readFileSync(f, 'utf8') }));
    const first = outs.find((o) => o.text.includes('var='))!;
    t.truthy(first, outs.map((o) => o.text).join('\n---\n'));
    t.regex(first.text, /ID=corral-test/);
    t.regex(first.text, /var=from-the-image sandbox=\/mnt\/mesos\/sandbox/);
    t.regex(first.text, /\n\/etc\n/, "the image's WorkingDir");
    t.notRegex(first.text, /HOST-USR-VISIBLE/);
    t.true(existsSync(join(first.f, '..', 'made-inside')), 'written inside, found in the host sandbox');
    const stderr = readFileSync(join(first.f, '..', 'stderr'), 'utf8');
    t.regex(stderr, /Pulling image 'test\/busybox:1' from http:\/\/127\.0\.0\.1:\d+\/v2\/test\/busybox \(1\)/);
    // The entrypoint task: /bin/sh -c 'cat /etc/os-release' from the image's Entrypoint + Cmd.
    t.true(
      outs.some((o) => o.f !== first.f && /ID=corral-test/.test(o.text)),
      'the image Entrypoint+Cmd ran',
    );
    // The containers' root filesystems are removed once they ended.
    await c.until(
      () =>
        !existsSync(join(c.workDir, 'agent0', 'provisioner', 'containers')) || readdirSync(join(c.workDir, 'agent0', 'provisioner', 'containers')).length === 0,
      10_000,
      'the scratch directories removed',
    );
    t.pass();
  },
);

test.serial('an image that is not there, or an agent without an image provider: TASK_FAILED naming the image and the reason', async (t) => {
  const c = await startCluster(t, {
    agents: 2,
    agentArgs: [],
  });
  const s = await c.framework();
  await s.launch([commandTask('no-provider', 'true', { container: image(`${registry.host}/test/busybox:1`) })]);
  const st = await s.update('no-provider', 'TASK_FAILED', 30_000);
  t.is(st.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
  t.regex(st.message, /asks for the image '127\.0\.0\.1:\d+\/test\/busybox:1', and this agent runs no image provider/);

  const c2 = await startCluster(t, { agentArgs: ['--image_providers=docker', '--isolation=filesystem/linux,docker/runtime', `--cgroups_root=${root}`] });
  const s2 = await c2.framework();
  await s2.launch([commandTask('unknown', 'true', { container: image(`${registry.host}/test/nothing:1`) })]);
  const st2 = await s2.update('unknown', 'TASK_FAILED', 30_000);
  t.is(st2.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
  t.regex(st2.message, /Failed to pull image '127\.0\.0\.1:\d+\/test\/nothing:1': manifest unknown/);
});

const IMAGE_AGENT = (): string[] => [
  '--image_providers=docker',
  `--docker_registry=http://${registry.host}`,
  '--isolation=filesystem/linux,docker/runtime,namespaces/pid',
  `--cgroups_root=${root}`,
];

/** Every line of every process's mountinfo that mentions `path`. */
function mountsMentioning(path: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      for (const line of readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')) if (line.includes(path)) found.push(`${pid}: ${line}`);
    } catch {
      // gone
    }
  }
  return found;
}

/** The mount namespaces (`mnt:[inode]`) of the processes whose command line contains `text`. */
function mountNamespacesOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text)) out.add(readlinkSync(`/proc/${pid}/ns/mnt`));
    } catch {
      // gone
    }
  }
  return out;
}

/** The processes in the mount namespace `mnt`. */
function processesIn(mnt: string): string[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/mnt`) === mnt;
      } catch {
        return false;
      }
    });
}

/** The sandbox of the (only) run of `taskId` on agent 0, from the agent's /state. */
async function sandboxOf(c: Cluster, taskId: string): Promise<string> {
  const state = await c.agentJson(0, '/state');
  for (const f of state.frameworks as Json[]) {
    for (const e of [...f.executors, ...f.completed_executors] as Json[]) {
      if ([...e.tasks, ...e.completed_tasks, ...e.queued_tasks].some((x: Json) => x.id === taskId)) return e.directory as string;
    }
  }
  throw new Error(`no executor of ${taskId} in the agent's /state`);
}

const taskState = async (c: Cluster, taskId: string): Promise<string | undefined> => {
  const state = await c.agentJson(0, '/state');
  for (const f of state.frameworks as Json[]) for (const e of f.executors as Json[]) for (const x of e.tasks as Json[]) if (x.id === taskId) return x.state;
  return undefined;
};

test.serial(
  'an agent restart with a task running in an image: the task keeps running and is recovered, the store is reused (no blob fetched again), and the killed container leaves no mount and no root filesystem',
  async (t) => {
    const c = await startCluster(t, { agentArgs: IMAGE_AGENT() });
    const s = await c.framework(frameworkInfo({ checkpoint: true }));
    const gets = (): string =>
      registry
        .log()
        .split('\n')
        .filter((l) => l.includes('"GET /v2/test/busybox/blobs/') && / 200 \d+/.test(l))
        .length.toString();
    await s.launch([
      commandTask('long', 'i=0; while true; do i=$((i+1)); echo $i > $MESOS_SANDBOX/beat; /bin/busybox sleep 0.1; done', {
        container: image('test/busybox:1'),
      }),
    ]);
    t.is((await s.update('long', ['TASK_RUNNING', 'TASK_FAILED'], 60_000)).state, 'TASK_RUNNING');
    const sandbox = await sandboxOf(c, 'long');
    const beat = (): number => Number(readFileSync(join(sandbox, 'beat'), 'utf8').trim() || 0);
    await c.until(() => existsSync(join(sandbox, 'beat')), 10_000, 'the task to beat');
    const blobsBefore = gets();
    const scratches = join(c.workDir, 'agent0', 'provisioner', 'containers');
    const [containerId] = readdirSync(scratches);
    t.truthy(containerId, 'the running container has its root filesystem');
    const scratch = join(scratches, containerId!);

    await c.restartAgent(0);
    // Recovered: the agent reports it running, and it still beats.
    await c.until(async () => (await taskState(c, 'long')) === 'TASK_RUNNING', 20_000, 'the task recovered as TASK_RUNNING');
    const b0 = beat();
    await c.until(() => beat() > b0 + 2, 10_000, 'the task to go on after the restart');
    t.true(existsSync(join(scratch, 'merged')), 'the running container keeps its root filesystem');

    // A second task of the image on the restarted agent: from the store, nothing fetched again.
    let id = '';
    let again: Json;
    for (let n = 0; ; n++) {
      id = `again-${n}`;
      await s.launch([commandTask(id, 'cat /etc/os-release', { container: image('test/busybox:1') })]);
      again = await s.update(id, ['TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST'], 60_000);
      // An offer made before the restart may have been rescinded meanwhile: take the next.
      if (again.state !== 'TASK_LOST' || again.reason !== 'REASON_INVALID_OFFERS' || n > 3) break;
    }
    t.is(again.state, 'TASK_FINISHED', JSON.stringify(again));
    t.is(gets(), blobsBefore, 'the registry served no blob of the image after the restart (its access log)');
    t.regex(readFileSync(join(await sandboxOf(c, id), 'stdout'), 'utf8'), /ID=corral-test/);
    t.notRegex(readFileSync(join(await sandboxOf(c, id), 'stderr'), 'utf8'), /Pulling image/);

    // Killed after the restart: no mount of it is left in any process's mount table, and its root
    // filesystem is removed by the restarted agent.
    // The supervisor (its command line names the task's too) stays in the host's mount namespace.
    const ns = mountNamespacesOf('$MESOS_SANDBOX/beat');
    ns.delete(readlinkSync('/proc/self/ns/mnt'));
    t.is(ns.size, 1, 'the task runs in a mount namespace of its own');
    await s.kill('long');
    t.is((await s.update('long', ['TASK_KILLED', 'TASK_FAILED'], 20_000)).state, 'TASK_KILLED');
    await c.until(() => !existsSync(scratch), 10_000, "the killed container's root filesystem removed");
    t.deepEqual(mountsMentioning(scratch), [], 'no mount of the killed container anywhere');
    t.deepEqual(mountsMentioning(join(c.workDir, 'agent0', 'provisioner')), []);
    const [mnt] = [...ns];
    t.deepEqual(processesIn(mnt!), [], 'no process is left in its mount namespace: the overlay and every mount in it are gone');
  },
);

test.serial('the fetcher and a persistent volume with an image: URIs land in the sandbox inside the image, the volume is mounted there', async (t) => {
  const c = await startCluster(t, { agentArgs: IMAGE_AGENT(), agentResources: 'cpus:2;mem:512;disk:1000' });
  const files = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-uris-`));
  t.teardown(() => rmSync(files, { recursive: true, force: true }));
  writeFileSync(join(files, 'payload.txt'), 'fetched payload\n');
  writeFileSync(join(files, 'tool.sh'), '#!/bin/sh\necho tool-ran\n');
  const volume = (id: string): Json => ({
    name: 'disk',
    type: 'SCALAR',
    scalar: { value: 50 },
    role: 'web',
    reservation: { principal: 'ops' },
    disk: { persistence: { id, principal: 'ops' }, volume: { mode: 'RW', container_path: 'data' } },
  });
  const fw: Scheduler = await c.framework(frameworkInfo({ name: 'images-volumes', role: 'web', principal: 'ops' }));
  const o1 = (await fw.offers())[0];
  await fw.must({
    type: 'ACCEPT',
    accept: {
      offer_ids: [o1.id],
      operations: [
        { type: 'RESERVE', reserve: { resources: [{ ...volume('v'), disk: undefined, scalar: { value: 100 } }] } },
        { type: 'CREATE', create: { volumes: [volume('v1')] } },
      ],
      filters: { refuse_seconds: 0 },
    },
  });
  const volumeDir = join(c.workDir, 'agent0', 'volumes', 'roles', 'web', 'v1');
  await c.until(() => existsSync(volumeDir), 10_000, 'the volume directory');
  const script = [
    'cat /etc/os-release',
    'cat /mnt/mesos/sandbox/payload.txt',
    '/mnt/mesos/sandbox/tool.sh',
    'grep -q " /mnt/mesos/sandbox/data " /proc/self/mountinfo && echo volume-mounted',
    'echo from-the-image > /mnt/mesos/sandbox/data/written',
  ].join(' && ');
  let offer: Json | undefined;
  const end = Date.now() + 20_000;
  while (!offer && Date.now() < end) {
    const offers = await fw.offers();
    offer = offers.find((o: Json) => o.resources.some((r: Json) => r.disk?.persistence?.id === 'v1'));
    const others = offers.filter((o: Json) => o !== offer).map((o: Json) => o.id.value);
    if (others.length > 0) await fw.decline(others);
  }
  t.truthy(offer, 'an offer with the volume');
  const task = commandTask('uris-volume', script, {
    agent_id: offer.agent_id,
    container: image('test/busybox:1'),
  });
  task.command.uris = [{ value: join(files, 'payload.txt') }, { value: join(files, 'tool.sh'), executable: true }];
  task.resources.push(volume('v1'));
  await fw.accept([offer.id.value], [task]);
  const st = await fw.update('uris-volume', ['TASK_FINISHED', 'TASK_FAILED', 'TASK_ERROR', 'TASK_LOST'], 60_000);
  t.is(st.state, 'TASK_FINISHED', JSON.stringify(st));
  const out = readFileSync(join(await sandboxOf(c, 'uris-volume'), 'stdout'), 'utf8');
  t.regex(out, /ID=corral-test/);
  t.regex(out, /fetched payload/);
  t.regex(out, /tool-ran/);
  t.regex(out, /volume-mounted/);
  t.is(readFileSync(join(volumeDir, 'written'), 'utf8'), 'from-the-image\n');
});

test.serial(
  '--image_provisioner_backend=copy and --image_gc_config: tasks run in copies of their images; the layers of images no container uses are collected, those in use kept',
  async (t) => {
    const c = await startCluster(t, {
      agentArgs: [...IMAGE_AGENT(), '--image_provisioner_backend=copy', '--image_gc_config={"image_disk_headroom": 1, "image_disk_watch_interval": "100ms"}'],
    });
    const s = await c.framework();
    const store = join(c.workDir, 'agent0', 'store', 'docker');
    const storedImages = (): string[] => {
      try {
        return (JSON.parse(readFileSync(join(store, 'images.json'), 'utf8')) as { name: string }[]).map((i) => i.name);
      } catch {
        return [];
      }
    };
    const layers = (): string[] => (existsSync(join(store, 'layers')) ? readdirSync(join(store, 'layers')).sort() : []);
    await s.launch([commandTask('keep', 'cat /b-only > $MESOS_SANDBOX/seen; exec /bin/busybox sleep 1000', { container: image('test/gc-b:1') })]);
    t.is((await s.update('keep', ['TASK_RUNNING', 'TASK_FAILED'], 60_000)).state, 'TASK_RUNNING');
    const scratches = join(c.workDir, 'agent0', 'provisioner', 'containers');
    const [keepId] = readdirSync(scratches);
    t.true(existsSync(join(scratches, keepId!, 'rootfs', 'b-only')), 'a copy of the image');
    t.false(existsSync(join(scratches, keepId!, 'links')));
    const bLayers = layers();
    t.true(bLayers.length >= 2);

    await s.launch([commandTask('once', 'cat /a-only && echo mine > /written-in-copy', { container: image('test/gc-a:1') })]);
    const once = await s.update('once', ['TASK_FINISHED', 'TASK_FAILED'], 60_000);
    t.is(once.state, 'TASK_FINISHED', JSON.stringify(once));
    t.regex(readFileSync(join(await sandboxOf(c, 'once'), 'stdout'), 'utf8'), /^a\n/);
    // 'once' ended: its image is collected, with the one layer only it had; gc-b (in use) and the shared base stay.
    await c.until(() => !storedImages().includes('test/gc-a:1'), 10_000, 'gc-a collected');
    t.deepEqual(layers(), bLayers);
    t.deepEqual(storedImages(), ['test/gc-b:1']);
    t.is(readFileSync(join(await sandboxOf(c, 'keep'), 'seen'), 'utf8'), 'b\n');

    // 'keep' killed: nothing uses an image any more, and the store empties.
    await s.kill('keep');
    t.is((await s.update('keep', ['TASK_KILLED', 'TASK_FAILED'], 20_000)).state, 'TASK_KILLED');
    await c.until(() => layers().length === 0, 10_000, 'every layer collected');
    t.deepEqual(storedImages(), []);
    t.deepEqual(mountsMentioning(scratches), []);
  },
);
