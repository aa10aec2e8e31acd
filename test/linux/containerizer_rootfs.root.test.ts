/**
 * corral-containerizer --rootfs: a command run in a root filesystem made from image layers
 * pulled from a real registry (Debian's docker-registry, an image of busybox-static): it sees the
 * image's files, not the host's; its writes go to its own upper directory; the sandbox and the
 * volumes bound into it show at /mnt/mesos/sandbox; an image cannot lead a mount out of itself;
 * and no mount is left anywhere once the container has ended.
 */
import anyTest, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerStore } from '../../lib/agent/containerizer/images/store.ts';
import { Provisioner } from '../../lib/agent/containerizer/images/provisioner.ts';
import { silentLogger } from '../../lib/common/log.ts';
import { supervisorPath } from '../../lib/linux/index.ts';
import { BUSYBOX_IMAGE, TestRegistry, registryOnly } from '../helpers/image_registry.ts';
import { type RunDirs, Runs, clearLeftoverRuns } from './containerizer_fixture.ts';

const test = registryOnly(anyTest);
const runs = new Runs();
let registry: TestRegistry;
let store: DockerStore;
let storeBase: RunDirs;

test.before(async () => {
  clearLeftoverRuns();
  registry = await TestRegistry.start();
  registry.pushImage('test/busybox:1', BUSYBOX_IMAGE);
  registry.pushImage('test/layered:1', {
    ...BUSYBOX_IMAGE,
    layers: [...BUSYBOX_IMAGE.layers, { remove: ['/etc/os-release'] }, { files: { '/etc/motd': 'hi\n' } }],
  });
  registry.pushImage('test/escape:1', { layers: [...BUSYBOX_IMAGE.layers, { files: { '/mnt': { symlink: '/etc' } } }] });
  storeBase = runs.fresh();
  store = new DockerStore({
    dir: join(storeBase.base, 'store'),
    defaultRegistry: new URL(`http://${registry.host}`),
    stallTimeoutMs: 10_000,
    log: silentLogger,
  });
  await store.open();
});
test.after.always(async () => {
  runs.cleanup();
  await registry?.stop();
});

/** Run `script` with `sh -c` in a container of `image`; returns the sandbox, the scratch, stdout, stderr and the supervisor's exit. */
async function run(
  t: ExecutionContext,
  image: string,
  script: string,
  extra: string[] = [],
  backend: 'overlay' | 'copy' = 'overlay',
): Promise<{ r: RunDirs; scratch: string; out: string; err: string; code: number | null; stderr: string }> {
  const img = await store.get(`${registry.host}/${image}`);
  const r = runs.fresh();
  const prov = new Provisioner(join(r.base, 'provisioner'), backend);
  const scratch = await prov.provision('c1', img.layerPaths);
  t.teardown(() => prov.destroy('c1'));
  const p = spawnSync(
    supervisorPath(),
    ['launch', '--sandbox', r.sandbox, '--run-dir', r.runDir, '--namespaces', 'pid,mount', '--rootfs', scratch, ...extra, '--', '/bin/sh', '-c', script],
    { encoding: 'utf8', env: { PATH: '/bin' }, timeout: 20_000 },
  );
  const read = (f: string): string => (existsSync(join(r.sandbox, f)) ? readFileSync(join(r.sandbox, f), 'utf8') : '');
  return { r, scratch, out: read('stdout'), err: read('stderr'), code: p.status, stderr: p.stderr };
}

/** Every mount of every process whose source or target mentions `path`. */
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

test.serial("the command sees the image's files, not the host's; /proc, /dev and the sandbox are there", async (t) => {
  const { out, err, code, scratch } = await run(
    t,
    'test/busybox:1',
    'cat /etc/os-release; ls /; echo pid=$$; echo x > /dev/null && echo devnull-ok; ls /dev; pwd; echo in-sandbox > /mnt/mesos/sandbox/written',
  );
  t.is(code, 0, err);
  t.regex(out, /ID=corral-test/);
  const root = out.split('\n');
  t.true(root.includes('bin') && root.includes('proc') && root.includes('mnt'), out);
  t.false(root.includes('usr') || root.includes('work'), 'no host directory shows');
  t.regex(out, /pid=1\n/);
  t.regex(out, /devnull-ok/);
  t.regex(out, /\nurandom\n/);
  t.regex(out, /\n\/mnt\/mesos\/sandbox\n/, 'the working directory defaults to the sandbox');
  t.deepEqual(mountsMentioning(scratch), [], 'no mount of the container is left anywhere');
});

test.serial("writes go to the container's upper directory; the layers stay as pulled; --workdir; a volume shows in the sandbox", async (t) => {
  const img = await store.get(`${registry.host}/test/busybox:1`);
  const vol = join(runs.fresh().base, 'vol');
  mkdirSync(vol);
  writeFileSync(join(vol, 'data'), 'volume data\n');
  const { r, out, err, code, scratch } = await run(t, 'test/busybox:1', 'pwd; echo mine > /etc/new-file; cat /mnt/mesos/sandbox/vol/data', [
    '--workdir',
    '/etc',
    '--bind',
    `${vol}:vol:ro`,
  ]);
  t.is(code, 0, err);
  t.regex(out, /^\/etc\n/);
  t.regex(out, /volume data/);
  t.is(readFileSync(join(scratch, 'upper/etc/new-file'), 'utf8'), 'mine\n');
  t.false(img.layerPaths.some((l) => existsSync(join(l, 'etc/new-file'))));
  t.false(existsSync(join(r.sandbox, 'vol', 'data')), 'the volume was mounted only inside the container');
});

test.serial('an image whose /mnt is a symlink to /etc cannot take the sandbox mount out of the image', async (t) => {
  const before = readdirSync('/etc').length;
  const { code, stderr, r, scratch } = await run(t, 'test/escape:1', 'echo ran');
  t.is(code, 126);
  t.is(readdirSync('/etc').length, before, "the host's /etc is untouched");
  const status = readFileSync(join(r.runDir, 'exit.status'), 'utf8');
  t.regex(status, /bind the sandbox into the image: Too many levels of symbolic links/, stderr);
  t.deepEqual(mountsMentioning(scratch), []);
});

test.serial("the copy backend: the layers copied with their whiteouts applied, the container's writes in its own copy, no mount left", async (t) => {
  const img = await store.get(`${registry.host}/test/layered:1`);
  const { out, err, code, scratch } = await run(
    t,
    'test/layered:1',
    'cat /etc/motd; test -e /etc/os-release || echo no-os-release; echo mine > /etc/new-file; ls /bin/busybox; grep -c " / " /proc/self/mountinfo',
    [],
    'copy',
  );
  t.is(code, 0, err);
  t.regex(out, /^hi\n/);
  t.regex(out, /no-os-release/, "the whiteout of the second layer hides the first layer's file");
  t.regex(out, /\/bin\/busybox/);
  t.false(existsSync(join(scratch, 'links')), 'no overlay');
  t.is(readFileSync(join(scratch, 'rootfs/etc/new-file'), 'utf8'), 'mine\n');
  t.throws(() => lstatSync(join(scratch, 'rootfs/etc/os-release')), { code: 'ENOENT' }, 'no whiteout device copied into the rootfs');
  t.false(
    img.layerPaths.some((l) => existsSync(join(l, 'etc/new-file'))),
    'the layers stay as pulled',
  );
  t.deepEqual(mountsMentioning(scratch), [], 'no mount of the container is left anywhere');
});
