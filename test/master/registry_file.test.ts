/**
 * The file registry's snapshot and journal (lib/master/registry/file.ts): batched writes, what a
 * restarted master recovers, a line cut short by a crash, a bad line, compaction, and no write
 * for an unchanged record.
 */
import test from 'ava';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRegistry, type RegistryAgent } from '../../lib/master/registry/index.ts';

const agent = (i: number, host = `h${i}`): RegistryAgent => ({
  id: `S${i}`,
  info: { hostname: host, port: 5051, resources: [{ name: 'cpus', type: 'SCALAR', scalar: 4, role: '*' }], attributes: [] } as unknown as RegistryAgent['info'],
});

function tempDir(t: { teardown(f: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'corral-registry-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('1,000 admissions at once are batched into a few journal writes, and a new registry recovers them all with the weights', async (t) => {
  const dir = tempDir(t);
  const r = new FileRegistry(dir);
  await r.recover();
  await Promise.all([...Array.from({ length: 1000 }, (_, i) => r.admitAgent(agent(i))), r.updateWeights({ web: 2 })]);
  await r.removeAgent('S7');
  const lines = readFileSync(r.journalPath, 'utf8').trimEnd().split('\n');
  t.is(lines.length, 1002, 'one line per change');
  const state = await new FileRegistry(dir).recover();
  t.is(state.agents.length, 999);
  t.false(state.agents.some((a) => a.id === 'S7'));
  t.deepEqual(state.weights, { web: 2 });
});

test('an unchanged record writes nothing; a changed one is one line', async (t) => {
  const dir = tempDir(t);
  const r = new FileRegistry(dir);
  await r.recover();
  await r.admitAgent(agent(1));
  const size = statSync(r.journalPath).size;
  await r.updateAgent(agent(1));
  t.is(statSync(r.journalPath).size, size, 'the same record again: no write');
  await r.updateAgent(agent(1, 'renamed'));
  t.true(statSync(r.journalPath).size > size);
  t.is((await new FileRegistry(dir).recover()).agents[0]!.info.hostname, 'renamed');
});

test('a last line cut short by a crash is dropped (it was never acknowledged) and the next write replaces it', async (t) => {
  const dir = tempDir(t);
  const r = new FileRegistry(dir);
  await r.recover();
  await r.admitAgent(agent(1));
  appendFileSync(r.journalPath, '{"set":{"id":"S2","inf');
  const again = new FileRegistry(dir);
  t.deepEqual(
    (await again.recover()).agents.map((a) => a.id),
    ['S1'],
  );
  await again.admitAgent(agent(3));
  t.deepEqual(
    (await new FileRegistry(dir).recover()).agents.map((a) => a.id),
    ['S1', 'S3'],
  );
  t.notRegex(readFileSync(r.journalPath, 'utf8'), /"inf\b/, 'the torn line is gone from the journal');
});

test('a bad complete line is an error naming the journal and the line', async (t) => {
  const dir = tempDir(t);
  const r = new FileRegistry(dir);
  await r.recover();
  await r.admitAgent(agent(1));
  appendFileSync(r.journalPath, '{"set":{"id":5}}\n');
  await t.throwsAsync(new FileRegistry(dir).recover(), {
    message: `the registry journal ${r.journalPath}:2 is not a change the registry knows (set an agent, remove an id, or set the weights)`,
  });
  writeFileSync(r.journalPath, 'garbage\n');
  await t.throwsAsync(new FileRegistry(dir).recover(), { message: new RegExp(`^the registry journal ${r.journalPath}:1 is not valid JSON`) });
});

test('once the journal outgrows the snapshot it is folded into a new snapshot, and nothing is lost', async (t) => {
  const dir = tempDir(t);
  const r = new FileRegistry(dir);
  await r.recover();
  // About 1.3 MB of changes: past the 1 MiB floor.
  for (let round = 0; round < 3; round++)
    await Promise.all(Array.from({ length: 2000 }, (_, i) => r.updateAgent(agent(i, `host-${round}-${i}-${'x'.repeat(60)}`))));
  t.true(existsSync(r.path), 'a snapshot was written');
  t.true(statSync(r.journalPath).size < statSync(r.path).size, 'the journal was emptied into it');
  const snapshot = JSON.parse(readFileSync(r.path, 'utf8'));
  t.is(snapshot.version, 1);
  const state = await new FileRegistry(dir).recover();
  t.is(state.agents.length, 2000);
  t.true(state.agents.every((a, i) => a.info.hostname === `host-2-${i}-${'x'.repeat(60)}`));
});
