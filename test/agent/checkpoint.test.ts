import test from 'ava';
import { appendFile, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordLog, readJson, replaceSymlink, writeJsonAtomic } from '../../lib/agent/checkpoint.ts';
import { AgentPaths } from '../../lib/agent/paths.ts';

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'corral-ckpt-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('atomic JSON files round-trip; absent is undefined; corrupt is a clear error', async (t) => {
  const dir = await tmp(t);
  const f = join(dir, 'a', 'b', 'x.info');
  t.is(await readJson(f), undefined);
  await writeJsonAtomic(f, { hello: 'wörld' });
  t.deepEqual(await readJson(f), { hello: 'wörld' });
  await writeFile(f, '{"torn":');
  const e = await t.throwsAsync(readJson(f));
  t.regex(e!.message, /x\.info is not valid JSON/);
});

test('record log: appended records read back; a torn tail is dropped and truncated', async (t) => {
  const dir = await tmp(t);
  const f = join(dir, 'task.updates');
  const log = await RecordLog.open(f);
  await log.append({ type: 'UPDATE', n: 1 });
  await log.append({ type: 'ACK', n: 2, text: 'ünïcode' });
  await log.close();
  const good = (await stat(f)).size;
  t.deepEqual(await RecordLog.read(f), [
    { type: 'UPDATE', n: 1 },
    { type: 'ACK', n: 2, text: 'ünïcode' },
  ]);
  // A crash mid-append: the length prefix and part of the body.
  await appendFile(f, '40\n{"type":"UPD');
  t.is((await RecordLog.read(f)).length, 2);
  t.is((await stat(f)).size, good, 'truncated back to the last complete record');
  // Only a partial length prefix.
  await appendFile(f, '1');
  t.is((await RecordLog.read(f)).length, 2);
  t.is((await stat(f)).size, good);
  // Damage in the middle is an error.
  const bytes = await readFile(f);
  await writeFile(f, Buffer.concat([Buffer.from('zz\n'), bytes]));
  await t.throwsAsync(RecordLog.read(f), { message: /corrupt/ });
});

test('symlinks are replaced atomically; paths follow the Mesos layout', async (t) => {
  const dir = await tmp(t);
  const p = new AgentPaths(dir);
  await replaceSymlink('S1', p.latestAgentLink());
  await replaceSymlink('S2', p.latestAgentLink());
  t.is(await readlink(p.latestAgentLink()), 'S2');
  t.is(p.sandbox('S2', 'F', 'E', 'C'), join(dir, 'slaves/S2/frameworks/F/executors/E/runs/C'));
  t.is(p.taskUpdatesFile('S2', 'F', 'E', 'C', 'T'), join(dir, 'meta/slaves/S2/frameworks/F/executors/E/runs/C/tasks/T/task.updates'));
  t.is(p.volumeDir('ads', 'vol1'), join(dir, 'volumes/roles/ads/vol1'));
});
