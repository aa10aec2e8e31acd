/**
 * What a task of another user can do against the agent's /files endpoints and other
 * sandboxes, with tasks really switched to `nobody` and `daemon` (root needed).
 */
import anyTest from 'ava';
import http from 'node:http';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, type Json, commandTask, frameworkInfo, request, startCluster } from '../helpers/cluster.ts';
import { rootOnly } from '../helpers/root.ts';
import { buildSwapper } from '../helpers/swapper.ts';

const test = rootOnly(anyTest);

const asUser = (user: string, id: string, command: string): Json => ({ ...commandTask(id, command), command: { value: command, shell: true, user } });

/** The sandbox of the command task `id` (live or completed). */
async function sandboxOf(c: Cluster, id: string): Promise<string> {
  const fw = (await c.agentJson(0, '/state')).frameworks[0];
  return [...fw.executors, ...fw.completed_executors].find((e: Json) => e.id === id).directory;
}

test('a nobody task swapping a directory of its sandbox with a symlink to a root-only directory: /files/read, /files/download and /files/browse never serve what is outside', async (t) => {
  const secretDir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-secret-`)); // 0700, root's
  t.teardown(() => rmSync(secretDir, { recursive: true, force: true }));
  writeFileSync(join(secretDir, 'shadow'), 'ROOT-ONLY-SECRET\n', { mode: 0o600 });
  writeFileSync(join(secretDir, 'root-only-name'), '');
  const swapper = buildSwapper();
  t.teardown(() => swapper.remove());

  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo());
  await fw.launch([asUser('nobody', 'swap', `mkdir d && echo harmless > d/shadow && ln -s ${secretDir} l && exec ${swapper.path} d l`)]);
  await fw.update('swap', 'TASK_RUNNING');
  const dir = await sandboxOf(c, 'swap');
  await c.until(async () => (await c.agentJson(0, `/files/read?path=${encodeURIComponent(`${dir}/stdout`)}`)).data === 'swapping\n', 5000, 'the swapper');

  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.teardown(() => keepAlive.destroy());
  const file = encodeURIComponent(`${dir}/d/shadow`);
  const seen: Record<string, number> = {};
  const count = (what: string): void => {
    seen[what] = (seen[what] ?? 0) + 1;
  };
  const asks = [
    ...Array.from({ length: 3000 }, () => ['read', `/files/read?path=${file}&offset=0`] as const),
    ...Array.from({ length: 300 }, () => ['download', `/files/download?path=${file}`] as const),
    ...Array.from({ length: 300 }, () => ['browse', `/files/browse?path=${encodeURIComponent(`${dir}/d`)}`] as const),
  ];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < asks.length) {
      const [kind, path] = asks[next++]!;
      const r = await request(c.agentUrl(0, path), { method: 'GET', agent: keepAlive });
      if (r.status !== 200) count(`${kind} ${r.status}`);
      else if (r.text.includes('ROOT-ONLY') || r.text.includes('root-only-name')) count(`${kind} LEAKED`);
      else count(`${kind} inside`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  t.log(seen);
  t.deepEqual(
    Object.keys(seen).filter((k) => k.endsWith('LEAKED')),
    [],
    'nothing from outside the sandbox',
  );
  t.true((seen['read inside'] ?? 0) > 0, 'the file in the sandbox is still read');
  t.deepEqual(
    Object.keys(seen).filter((k) => !/ (inside|403|404)$/.test(k)),
    [],
    'only 200 (inside), 403 (a symlink out) or 404',
  );
});

test('symlinks out of the sandbox and .. are refused; files, a symlink inside and the sandbox itself are served', async (t) => {
  const outside = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-outside-`));
  t.teardown(() => rmSync(outside, { recursive: true, force: true }));
  writeFileSync(join(outside, 'secret'), 'OUTSIDE\n');
  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo());
  await fw.launch([
    asUser(
      'nobody',
      'links',
      `mkdir sub && echo hello > sub/f && ln -s sub/f in && ln -s ${outside} abs && ln -s ../../../../../../../../../../../${outside} rel && echo ok`,
    ),
  ]);
  await fw.update('links', 'TASK_FINISHED');
  const dir = await sandboxOf(c, 'links');
  const get = (endpoint: string, p: string) => request(c.agentUrl(0, `/files/${endpoint}?path=${encodeURIComponent(p)}`), { method: 'GET' });
  for (const p of [`${dir}/abs/secret`, `${dir}/rel/secret`, `${dir}/abs`]) {
    for (const endpoint of ['read', 'download', 'browse']) {
      const r = await get(endpoint, p);
      t.is(r.status, 403, `${endpoint} ${p}`);
      t.false(r.text.includes('OUTSIDE') || r.text.includes('secret'), `${endpoint} ${p}`);
    }
  }
  // '..' is resolved against the path itself: what it names is outside every sandbox.
  t.is((await get('read', `${dir}/sub/../../../../../../../../../../..${outside}/secret`)).status, 404);
  t.is((await get('read', `${dir}/../${dir.split('/').pop()}/sub/f`)).status, 200, "a '..' that stays inside is fine");
  t.is((await get('read', `${dir}/sub/f`)).json().data, 'hello\n');
  t.is((await get('read', `${dir}/in`)).json().data, 'hello\n', 'a symlink that stays inside is followed');
  const download = await get('download', `${dir}/sub/f`);
  t.is(download.status, 200);
  t.is(download.text, 'hello\n');
  t.is(download.headers['content-disposition'], 'attachment; filename=f');
  const names = (await get('browse', dir))
    .json()
    .map((e: Json) => e.path.slice(dir.length + 1))
    .sort();
  t.deepEqual(names, ['abs', 'in', 'rel', 'stderr', 'stdout', 'sub']);
  t.is((await get('browse', `${dir}/sub/f`)).status, 400);
  t.is((await get('read', `${dir}/sub`)).status, 400);
  t.is((await get('read', `${dir}/none`)).status, 404);
});

test("a nobody task cannot read another user's sandbox (its stdout); each sandbox belongs to its task's user, mode 0700", async (t) => {
  const c = await startCluster(t);
  chmodSync(c.workDir, 0o755); // the temporary work dir is root's 0700: let other users reach the sandboxes' paths
  const fw = await c.framework(frameworkInfo());
  await fw.launch([asUser('daemon', 'owner', 'echo private-output-of-daemon')]);
  await fw.update('owner', 'TASK_FINISHED');
  const ownerDir = await sandboxOf(c, 'owner');
  await fw.launch([asUser('nobody', 'snoop', `cat ${ownerDir}/stdout`)]);
  const snooped = await fw.update('snoop', ['TASK_FINISHED', 'TASK_FAILED']);
  const snoopDir = await sandboxOf(c, 'snoop');
  const out = await c.agentJson(0, `/files/read?path=${encodeURIComponent(`${snoopDir}/stdout`)}`);
  t.false(out.data.includes('private-output-of-daemon'), 'nobody read it');
  t.is(snooped.state, 'TASK_FAILED');
  const err = await c.agentJson(0, `/files/read?path=${encodeURIComponent(`${snoopDir}/stderr`)}`);
  t.regex(err.data, /Permission denied/);
  for (const [d, uid] of [
    [ownerDir, 1],
    [snoopDir, 65534],
  ] as const) {
    const st = statSync(d);
    t.is(st.uid, uid, d);
    t.is(st.mode & 0o777, 0o700, d);
  }
  t.true((statSync(join(ownerDir, '..')).mode & 0o005) === 0o005, 'the directories above stay searchable');
});
