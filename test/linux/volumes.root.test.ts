/**
 * Persistent volumes as bind mounts, on the real kernel (root): the containerizer hands a
 * task's volumes to corral-containerizer --bind, which mounts them in the container's own mount
 * namespace. A task writes through the mount, the data stays in the volume directory, a later
 * task sees it, a read-only volume refuses writes, the host never sees the mount (not while
 * the task runs, not after), no process anywhere keeps it mounted afterwards, a symlink in the
 * sandbox cannot lead the mount out of it, and a task run as another user is given the volume.
 */
import anyTest from 'ava';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LaunchSpec } from '../../lib/agent/containerizer/containerizer.ts';
import type { VolumeMount } from '../../lib/agent/volumes.ts';
import { SupervisorContainerizer } from '../../lib/agent/containerizer/supervisor_containerizer.ts';
import { parseResourcesText } from '../../lib/common/resources/index.ts';
import { rootOnly } from '../helpers/root.ts';
import { buildSwapper } from '../helpers/swapper.ts';
import { Runs, clearLeftoverRuns, until, type RunDirs } from './containerizer_fixture.ts';

const test = rootOnly(anyTest);
const runs = new Runs();
const containerizers: SupervisorContainerizer[] = [];

test.before(() => {
  clearLeftoverRuns();
});
test.after.always(() => {
  for (const c of containerizers) c.close();
  runs.cleanup();
});

function containerizer(mountVolumes = true): SupervisorContainerizer {
  const c = new SupervisorContainerizer({ mountVolumes });
  containerizers.push(c);
  return c;
}

function spec(r: RunDirs, script: string, volumes: VolumeMount[]): LaunchSpec {
  return {
    containerId: randomUUID(),
    sandbox: r.sandbox,
    runDir: r.runDir,
    argv: ['/bin/sh', '-c', script],
    env: { PATH: '/usr/bin:/bin' },
    resources: parseResourcesText('cpus:0.1;mem:32'),
    volumes,
  };
}

/** A volume directory of its own, in a fresh run base (so cleanup removes it). */
function volumeDir(): string {
  const dir = join(runs.fresh().base, 'volume');
  mkdirSync(dir);
  return dir;
}

const out = (r: RunDirs): string => readFileSync(join(r.sandbox, 'stdout'), 'utf8');
const err = (r: RunDirs): string => readFileSync(join(r.sandbox, 'stderr'), 'utf8');

/** Mount points at or below `dir` in the mount table of `pid`'s namespace. */
function mountsBelow(dir: string, pid: number | 'self' = 'self'): string[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  } catch {
    return []; // the process is gone
  }
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/** Every process on the host whose mount namespace has something mounted at or below `dir`. */
function anyoneMounting(dir: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => mountsBelow(dir, pid).length > 0);
}

test('a task writes through the bind mount; the host never sees it; the data stays; a second task reads it; nothing stays mounted', async (t) => {
  const c = containerizer();
  const vol = volumeDir();
  const r1 = runs.fresh();
  const mount: VolumeMount = { source: vol, containerPath: 'data/v', readOnly: false };
  // The task shows its own mount table's line for the volume, writes, then waits for "stop".
  const ctr = await c.launch(
    spec(r1, `grep " $PWD/data/v " /proc/self/mountinfo; echo written > data/v/file; echo started; while [ ! -e stop ]; do sleep 0.02; done`, [mount]),
  );
  await until(() => out(r1).includes('started'), 10_000, '"started" in stdout');
  const line = out(r1).split('\n')[0]!;
  t.regex(line, new RegExp(` ${r1.sandbox}/data/v rw[, ]`), 'mounted read-write in the container');
  // While it runs: the host sees an empty mount point, no mount, and the data in the volume.
  t.deepEqual(mountsBelow(r1.sandbox), [], 'not mounted in the host namespace');
  t.true(lstatSync(join(r1.sandbox, 'data/v')).isDirectory(), 'a directory, not a symlink');
  t.deepEqual(readdirSync(join(r1.sandbox, 'data/v')), []);
  t.is(readFileSync(join(vol, 'file'), 'utf8'), 'written\n');

  writeFileSync(join(r1.sandbox, 'stop'), '');
  const end = await ctr.termination;
  t.is(end.exitCode, 0, err(r1));
  t.is(readFileSync(join(vol, 'file'), 'utf8'), 'written\n', 'the data stays');
  t.deepEqual(readdirSync(join(r1.sandbox, 'data/v')), [], 'not visible under the sandbox path');
  t.deepEqual(anyoneMounting(r1.sandbox), [], 'no namespace keeps the mount');

  // A later task in another sandbox sees what the first wrote, and adds to it.
  const r2 = runs.fresh();
  const second = await c.launch(spec(r2, 'cat data/v/file && echo more >> data/v/file', [mount]));
  t.is((await second.termination).exitCode, 0, err(r2));
  t.is(out(r2), 'written\n');
  t.is(readFileSync(join(vol, 'file'), 'utf8'), 'written\nmore\n');
  t.deepEqual(anyoneMounting(r2.sandbox), []);
});

test('a read-only volume can be read and refuses writes', async (t) => {
  const c = containerizer();
  const vol = volumeDir();
  writeFileSync(join(vol, 'file'), 'kept\n');
  const r = runs.fresh();
  const ctr = await c.launch(
    spec(r, 'cat ro/file; grep " $PWD/ro " /proc/self/mountinfo; echo no > ro/new', [{ source: vol, containerPath: 'ro', readOnly: true }]),
  );
  const end = await ctr.termination;
  t.not(end.exitCode, 0, 'the write failed');
  const [content, line] = out(r).split('\n');
  t.is(content, 'kept');
  t.regex(line!, new RegExp(` ${r.sandbox}/ro ro[, ]`));
  t.regex(err(r), /Read-only file system/);
  t.false(existsSync(join(vol, 'new')));
  t.deepEqual(readdirSync(vol), ['file']);
  t.deepEqual(anyoneMounting(r.sandbox), []);
});

test('two volumes, one nested in the other; with pid and mount namespaces together', async (t) => {
  const c = new SupervisorContainerizer({ mountVolumes: true, isolators: [{ name: 'test/pid', prepare: async () => ({ namespaces: ['pid'] }) }] });
  containerizers.push(c);
  const a = volumeDir();
  const b = volumeDir();
  const r = runs.fresh();
  const ctr = await c.launch(
    spec(r, 'echo a > outer/a && echo b > outer/inner/b && echo $$', [
      { source: a, containerPath: 'outer', readOnly: false },
      { source: b, containerPath: 'outer/inner', readOnly: false },
    ]),
  );
  t.is((await ctr.termination).exitCode, 0, err(r));
  t.is(out(r), '1\n', 'pid 1 of its own pid namespace');
  t.is(readFileSync(join(a, 'a'), 'utf8'), 'a\n');
  t.is(readFileSync(join(b, 'b'), 'utf8'), 'b\n');
  t.deepEqual(readdirSync(a).sort(), ['a', 'inner'], 'the mount point of the nested volume was made in the outer one');
  t.deepEqual(anyoneMounting(r.sandbox), []);
});

test('a symlink in the sandbox cannot lead the mount out of it: the launch fails, nothing is made or mounted outside', async (t) => {
  const c = containerizer();
  const vol = volumeDir();
  const outside = join(runs.fresh().base, 'outside');
  mkdirSync(outside);
  const r = runs.fresh();
  symlinkSync(outside, join(r.sandbox, 'data'));
  const ctr = await c.launch(spec(r, 'echo ran > ran', [{ source: vol, containerPath: 'data/v', readOnly: false }]));
  const end = await ctr.termination;
  t.is(end.exitCode, 126);
  t.regex(end.message ?? '', /bind mount .* onto data\/v in the sandbox: .*symbolic link.*refused/);
  t.false(existsSync(join(r.sandbox, 'ran')), 'the command never ran');
  t.deepEqual(readdirSync(outside), []);
  t.deepEqual(anyoneMounting(outside), []);
  t.deepEqual(anyoneMounting(r.sandbox), []);
});

test('with a user: the volume is given to the user (as the sandbox is), so the task can write into it', async (t) => {
  const c = containerizer();
  const vol = volumeDir();
  mkdirSync(join(vol, 'sub'));
  writeFileSync(join(vol, 'sub', 'old'), 'old\n');
  const r = runs.fresh();
  const ctr = await c.launch({
    ...spec(r, 'id -u; echo new > data/new && echo more >> data/sub/old', [{ source: vol, containerPath: 'data', readOnly: false }]),
    user: 'nobody',
  });
  t.is((await ctr.termination).exitCode, 0, err(r));
  const uid = Number(out(r).trim());
  t.not(uid, 0);
  for (const f of ['', 'new', 'sub', 'sub/old']) t.is(statSync(join(vol, f)).uid, uid, `${f || 'the volume'} belongs to the user`);
  t.is(readFileSync(join(vol, 'sub', 'old'), 'utf8'), 'old\nmore\n');
});

test('with a user: a directory of the volume swapped for a symlink out of it while the volume is given to the user: nothing outside is given', async (t) => {
  const c = containerizer();
  const vol = volumeDir();
  const outside = join(runs.fresh().base, 'outside'); // root's
  mkdirSync(outside);
  mkdirSync(join(vol, 'd'));
  const names = Array.from({ length: 2000 }, (_v, i) => `f${i}`);
  for (const n of names) {
    writeFileSync(join(vol, 'd', n), '');
    writeFileSync(join(outside, n), '');
  }
  symlinkSync(outside, join(vol, 'l'));
  // What a process of the volume's former user could do while the next user's task starts.
  const swapper = buildSwapper();
  t.teardown(() => swapper.remove());
  const p = spawn(swapper.path, ['d', 'l'], { cwd: vol, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => p.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    p.stdout.once('data', () => resolve());
    p.once('exit', (code) => reject(new Error(`swapper exited with ${code}`)));
  });
  for (let i = 0; i < 5; i++) {
    chownSync(vol, 0, 0); // the volume is walked again only when its top is not the user's
    const r = runs.fresh();
    const ctr = await c.launch({ ...spec(r, 'true', [{ source: vol, containerPath: 'data', readOnly: false }]), user: 'nobody' });
    t.is((await ctr.termination).exitCode, 0, err(r));
  }
  p.kill('SIGKILL');
  const given = names.filter((n) => statSync(join(outside, n)).uid !== 0);
  t.deepEqual(given, [], 'files outside the volume given to nobody');
  t.is(statSync(outside).uid, 0);
  t.not(statSync(vol).uid, 0, 'the volume itself was given');
});

test('without mount namespaces (mountVolumes: false, the non-root fallback): a symlink to the volume', async (t) => {
  const c = containerizer(false);
  const vol = volumeDir();
  const r = runs.fresh();
  const ctr = await c.launch(spec(r, 'echo via-link > data/file', [{ source: vol, containerPath: 'data', readOnly: false }]));
  t.is((await ctr.termination).exitCode, 0, err(r));
  t.true(lstatSync(join(r.sandbox, 'data')).isSymbolicLink());
  t.is(readFileSync(join(vol, 'file'), 'utf8'), 'via-link\n');
});
