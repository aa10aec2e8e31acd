/**
 * Container image benchmarks (issue 22), each side by side with a peer in the same run, against
 * a real registry (Debian's docker-registry on loopback, started here; images built from
 * busybox-static with umoci and pushed with skopeo, as the tests do). The load average is
 * printed at the start and after each part.
 *
 *   npm run bench:image_pull        [-- --mib=100 --rounds=2]
 *   npm run bench:image_launch      [-- --count=100]
 *   npm run bench:image_concurrent  [-- --count=50]
 *
 * pull: a cold pull of an image of about MIB MiB (busybox and four layers of random, so
 *   incompressible, bytes) into an empty store: corral's DockerStore (manifest, config, layers
 *   streamed, digests checked while streaming, gunzipped and unpacked into the store: files on
 *   disk) against `skopeo copy docker://… dir:…` of the same image in the same run (downloads
 *   and checks the same blobs and writes them as files, compressed, without unpacking). In
 *   turns, ROUNDS rounds; the best of each. Target: corral's rate ≥ 0.9 of skopeo's.
 * launch: COUNT tasks one after another from the cached busybox image with the overlay backend:
 *   the agent's ImageProvider.prepare (store lookup, the scratch with its layer links and
 *   image.json) and the containerizer's launch (a supervisor from the resident spawner, pid and
 *   mount namespaces, the overlay mounted, /proc, /sys, /dev and the sandbox, pivot_root) of
 *   `/bin/busybox true` to its termination, against `crun run` of the same image unpacked by
 *   `umoci unpack` to a bundle with the same namespaces (pid, mount) and no cgroups
 *   (--cgroup-manager=disabled; corral's Linux launcher makes a freezer cgroup per container),
 *   which also returns at the container's end (and deletes it). Neither side's clean-up of the
 *   scratch is timed. Target: corral's p50 ≤ crun's p50.
 * concurrent: COUNT tasks launched at once on the cached image (each `/bin/busybox sleep 2`):
 *   launches/s until all run, and the disk used by their root filesystems (the provisioner's
 *   directory: with overlay only each container's empty upper directory) next to the store's
 *   layers, with the overlay and the copy backend.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContainerizer } from '../lib/agent/containerizer/factory.ts';
import type { Containerizer } from '../lib/agent/containerizer/containerizer.ts';
import { ImageProvider } from '../lib/agent/containerizer/images/provider.ts';
import { DockerStore } from '../lib/agent/containerizer/images/store.ts';
import { silentLogger } from '../lib/common/log.ts';
import { parseResourcesText } from '../lib/common/resources/index.ts';
import { openCgroups } from '../lib/linux/index.ts';
import type { CommandInfo } from '../lib/proto/messages.ts';
import { agentFlagValues } from '../test/helpers/agent_flags.ts';
import { BUSYBOX_IMAGE, TestRegistry, registryMissing } from '../test/helpers/image_registry.ts';
import { arg, ms, pct, removeBenchCgroupRoots } from './common.ts';

const MODE = process.argv[2] ?? 'pull';
const ROOT = `corral-bench-${process.pid}`;
const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function du(path: string): number {
  const r = spawnSync('du', ['-s', '-B1', '-x', path], { encoding: 'utf8' });
  return Number(r.stdout.split('\t')[0] ?? 0);
}
const mib = (b: number): string => `${(b / (1 << 20)).toFixed(1)} MiB`;

function runCmd(cmd: string, args: string[], cwd?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(cwd ? { cwd } : {}) });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

async function pull(registry: TestRegistry, base: string): Promise<void> {
  const total = arg('mib', 100);
  const rounds = arg('rounds', 2);
  const files = join(base, 'random');
  mkdirSync(files);
  const layers = [...BUSYBOX_IMAGE.layers];
  for (let i = 0; i < 4; i++) {
    const f = join(files, `blob${i}`);
    writeFileSync(f, randomBytes(Math.round((total / 4) * (1 << 20))));
    layers.push({ files: { [`/data/blob${i}`]: { copy: f } } });
  }
  const t0 = performance.now();
  registry.pushImage('bench/big:1', { ...BUSYBOX_IMAGE, layers });
  console.log(`built and pushed bench/big:1 (${layers.length} layers, ~${total} MiB of random data) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const name = `${registry.host}/bench/big:1`;
  const size = (
    JSON.parse(spawnSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' }).stdout) as {
      layers: { size: number }[];
    }
  ).layers.reduce((n, l) => n + l.size, 0);
  let bestOurs = Infinity;
  let bestSkopeo = Infinity;
  for (let r = 0; r < rounds; r++) {
    const dir = join(base, `store-${r}`);
    const store = new DockerStore({ dir, defaultRegistry: new URL(`http://${registry.host}`), stallTimeoutMs: 60_000, log: silentLogger });
    await store.open();
    const a = performance.now();
    await store.get(name);
    const ours = performance.now() - a;
    const out = join(base, `skopeo-${r}`);
    const theirs = await runCmd('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${name}`, `dir:${out}`]);
    console.log(
      `  round ${r + 1}: corral ${ms(ours)} (${mib(size / (ours / 1000))}/s, unpacked ${mib(du(join(dir, 'layers')))}); skopeo copy ${ms(theirs)} (${mib(size / (theirs / 1000))}/s, wrote ${mib(du(out))}); load ${load()}`,
    );
    bestOurs = Math.min(bestOurs, ours);
    bestSkopeo = Math.min(bestSkopeo, theirs);
    rmSync(dir, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
  console.log(`cold pull of ${mib(size)} compressed, best of ${rounds}: corral ${ms(bestOurs)}, skopeo copy ${ms(bestSkopeo)}`);
  console.log(`  corral's rate / skopeo's: ${(bestSkopeo / bestOurs).toFixed(2)} (target ≥ 0.9)`);
}

const COMMAND: CommandInfo = { uris: [], shell: false, value: '/bin/busybox', arguments: ['true'] };

async function withImages(
  registry: TestRegistry,
  base: string,
  backend: 'overlay' | 'copy',
  f: (p: ImageProvider, c: Containerizer, name: string, dirs: (i: number) => { sandbox: string; runDir: string }) => Promise<void>,
): Promise<void> {
  const name = `${registry.host}/test/busybox:1`;
  const p = new ImageProvider(
    { dir: join(base, 'store'), defaultRegistry: new URL(`http://${registry.host}`), stallTimeoutMs: 10_000, log: silentLogger },
    join(base, `provisioner-${backend}`),
    backend,
  );
  await p.open();
  await p.store.get(name); // cached
  const cgroups = openCgroups('/sys/fs/cgroup');
  await removeBenchCgroupRoots(cgroups, ['freezer'], false);
  const c = createContainerizer(agentFlagValues({ isolation: 'filesystem/linux,docker/runtime,namespaces/pid', cgroups_root: `${ROOT}/corral` }), { cgroups });
  const dirs = (i: number): { sandbox: string; runDir: string } => {
    const d = { sandbox: join(base, backend, String(i), 'sandbox'), runDir: join(base, backend, String(i), 'run') };
    mkdirSync(d.sandbox, { recursive: true });
    mkdirSync(d.runDir, { recursive: true });
    return d;
  };
  try {
    await f(p, c, name, dirs);
  } finally {
    c.close();
    await c.closeIsolators();
    await removeBenchCgroupRoots(cgroups, ['freezer'], true);
  }
}

async function launchOne(p: ImageProvider, c: Containerizer, name: string, d: { sandbox: string; runDir: string }, command = COMMAND): Promise<number> {
  const id = randomUUID();
  const t0 = performance.now();
  const prep = await p.prepare(id, { name, cached: true }, command, () => undefined);
  const ctr = await c.launch({
    containerId: id,
    ...d,
    argv: prep.argv ?? [command.value!, ...command.arguments],
    env: { PATH: '/bin', ...prep.env },
    resources: parseResourcesText('cpus:0.1;mem:32'),
    rootfs: prep.rootfs,
  });
  const end = await ctr.termination;
  const took = performance.now() - t0;
  if (end.exitCode !== 0) throw new Error(`the task ended with ${JSON.stringify(end)}: ${readFileSync(join(d.sandbox, 'stderr'), 'utf8')}`);
  await p.cleanup(id);
  return took;
}

async function launch(registry: TestRegistry, base: string): Promise<void> {
  const count = arg('count', 100);
  const ours: number[] = [];
  await withImages(registry, base, 'overlay', async (p, c, name, dirs) => {
    for (let i = 0; i < 5; i++) await launchOne(p, c, name, dirs(i));
    for (let i = 0; i < count; i++) ours.push(await launchOne(p, c, name, dirs(100 + i)));
  });
  // crun: the same image, unpacked by umoci into a bundle.
  const layout = join(base, 'oci');
  await runCmd('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/test/busybox:1`, `oci:${layout}:img`]);
  const bundle = join(base, 'bundle');
  await runCmd('umoci', ['unpack', '--image', `${layout}:img`, bundle]);
  const cfg = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
    process: { args: string[]; terminal: boolean };
    linux: { namespaces: { type: string }[] };
    hostname?: string;
  };
  cfg.process.args = ['/bin/busybox', 'true'];
  cfg.process.terminal = false;
  cfg.linux.namespaces = [{ type: 'pid' }, { type: 'mount' }];
  delete cfg.hostname;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(cfg));
  // crun refuses a v1/v2 hybrid host even without cgroups: its loop runs in a private mount
  // namespace without the hybrid's cgroup2 mount (this file's `crun-loop` part), as bench:launch does.
  const self = new URL(import.meta.url).pathname;
  const loop = spawnSync(
    'unshare',
    [
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      `umount /sys/fs/cgroup/unified 2>/dev/null; exec "${process.execPath}" --import tsx "${self}" crun-loop "${bundle}" ${count}`,
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (loop.status !== 0) throw new Error(`the crun loop failed: ${loop.stderr}`);
  const theirs = JSON.parse(loop.stdout.trim().split('\n').pop()!) as number[];
  console.log(`launch of a task from a cached image, ${count} one after another, to its end; load ${load()}`);
  console.log(`  corral (overlay)  p50 ${ms(pct(ours, 50))}  p90 ${ms(pct(ours, 90))}  p99 ${ms(pct(ours, 99))}`);
  console.log(`  crun run          p50 ${ms(pct(theirs, 50))}  p90 ${ms(pct(theirs, 90))}  p99 ${ms(pct(theirs, 99))}`);
  console.log(`  corral p50 / crun p50: ${(pct(ours, 50) / pct(theirs, 50)).toFixed(2)} (target ≤ 1)`);
}

async function concurrent(registry: TestRegistry, base: string): Promise<void> {
  const count = arg('count', 50);
  const sleep: CommandInfo = { uris: [], shell: false, value: '/bin/busybox', arguments: ['sleep', '2'] };
  for (const backend of ['overlay', 'copy'] as const) {
    await withImages(registry, base, backend, async (p, c, name, dirs) => {
      const t0 = performance.now();
      let running = 0;
      let allRunning = 0;
      let diskAtRun = 0;
      const ends = Array.from({ length: count }, async (_v, i) => {
        const id = randomUUID();
        const prep = await p.prepare(id, { name, cached: true }, sleep, () => undefined);
        const ctr = await c.launch({
          containerId: id,
          ...dirs(i),
          argv: ['/bin/busybox', 'sleep', '2'],
          env: { PATH: '/bin', ...prep.env },
          resources: parseResourcesText('cpus:0.1;mem:32'),
          rootfs: prep.rootfs,
        });
        if (++running === count) {
          allRunning = performance.now() - t0;
          diskAtRun = du(join(base, `provisioner-${backend}`));
        }
        const end = await ctr.termination;
        if (end.exitCode !== 0) throw new Error(`a task ended with ${JSON.stringify(end)}`);
        await p.cleanup(id);
      });
      await Promise.all(ends);
      const layers = du(join(base, 'store', 'layers'));
      console.log(
        `  ${backend.padEnd(7)}: ${count} launched at once, all running after ${ms(allRunning)}: ${(count / (allRunning / 1000)).toFixed(1)} launches/s; their root filesystems use ${mib(diskAtRun)} (the store's layers ${mib(layers)}, once); load ${load()}`,
      );
    });
  }
}

async function crunLoop(bundle: string, count: number): Promise<void> {
  const crun = (): Promise<number> => runCmd('crun', ['--cgroup-manager=disabled', 'run', '--bundle', bundle, `corral-bench-${randomUUID()}`]);
  for (let i = 0; i < 5; i++) await crun();
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(await crun());
  console.log(JSON.stringify(out));
}

async function main(): Promise<void> {
  if (MODE === 'crun-loop') return crunLoop(process.argv[3]!, Number(process.argv[4]));
  const missing = registryMissing();
  if (missing) throw new Error(missing);
  if (process.getuid?.() !== 0) throw new Error('the image benchmarks need root (overlay mounts, namespaces)');
  const base = mkdtempSync(join(tmpdir(), `corral-bench-${process.pid}-images-`));
  console.log(`images ${MODE}: ${cpus().length} CPUs; load average ${load()}; work dir ${base}`);
  const registry = await TestRegistry.start();
  try {
    registry.pushImage('test/busybox:1', BUSYBOX_IMAGE);
    if (MODE === 'pull') await pull(registry, base);
    else if (MODE === 'launch') await launch(registry, base);
    else if (MODE === 'concurrent') await concurrent(registry, base);
    else throw new Error(`unknown part '${MODE}' (pull, launch, concurrent)`);
  } finally {
    await registry.stop();
    rmSync(base, { recursive: true, force: true });
  }
  console.log(`load average at the end ${load()}`);
}

await main();
