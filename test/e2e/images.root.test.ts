/**
 * Tasks from container images, end to end: a framework gives ContainerInfo{type: MESOS,
 * mesos.image: DOCKER} through the scheduler API and an agent started with
 * --image_providers=docker pulls the image from a real registry (Debian's docker-registry on
 * loopback, an image of busybox-static built by the test) and runs the task inside it.
 */
import anyTest from 'ava';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { commandTask, startCluster } from '../helpers/cluster.ts';
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
