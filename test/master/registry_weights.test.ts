/** The weights UPDATE_WEIGHTS sets, in the file registry: kept with the agents, recovered after a restart, a bad file refused naming it. */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRegistry, MemoryRegistry } from '../../lib/master/registry/index.ts';
import { registryAgent } from '../helpers/registry_agents.ts';

test('file registry: weights written with the agents and recovered by a new instance', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-weights-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = new FileRegistry(dir);
  t.deepEqual(await r.recover(), { agents: [] });
  await r.updateWeights({ web: 2 });
  await r.admitAgent(registryAgent('m', 0));
  const again = await new FileRegistry(dir).recover();
  t.deepEqual(again.weights, { web: 2 });
  t.is(again.agents.length, 1);
  writeFileSync(join(dir, 'registry.json'), JSON.stringify({ version: 1, agents: [], weights: { web: -1 } }));
  await t.throwsAsync(new FileRegistry(dir).recover(), { message: /registry\.json has a 'weights' that is not an object of role: positive number/ });
});

test('memory registry: weights recovered as set', async (t) => {
  const r = new MemoryRegistry();
  await r.updateWeights({ a: 1.5 });
  t.deepEqual((await r.recover()).weights, { a: 1.5 });
});
