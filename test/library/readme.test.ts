/**
 * README.md's "Using Corral as a library" examples, run as written so that they cannot rot:
 * every ```ts run block is written to a file in a temporary project whose node_modules/corral
 * links to this checkout (its `corral-source` export condition maps the entry points to the
 * TypeScript sources), type-checked with tsc, and run with node; the ```ts run=executor block is
 * the executor of a task launched on a local cluster.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalCluster } from '../../lib/cli/index.ts';
import { removeNetns } from '../../lib/linux/index.ts';
import { SchedulerClient, offerFits } from '../../lib/scheduler/index.ts';
import { USER } from '../helpers/cluster.ts';
import { clearLeftoverDirs } from '../helpers/tmp_names.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const tsx = import.meta.resolve('tsx');

interface Block {
  readonly name: string;
  readonly code: string;
}

/** The ```ts run[=name] blocks of the README section "Using Corral as a library". */
function readmeBlocks(): Block[] {
  const text = readFileSync(join(repo, 'README.md'), 'utf8');
  const start = text.indexOf('\n## Using Corral as a library\n');
  if (start < 0) throw new Error('README.md has no section "Using Corral as a library"');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  const blocks: Block[] = [];
  const re = /```ts run(?:=(\w+))?\n([\s\S]*?)```/g;
  for (let m = re.exec(section); m !== null; m = re.exec(section)) blocks.push({ name: m[1] ?? `example${blocks.length}`, code: m[2]! });
  return blocks;
}

function project(t: { teardown(f: () => void): void }): string {
  clearLeftoverDirs();
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-readme-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(repo, join(dir, 'node_modules', 'corral'));
  symlinkSync(join(repo, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-examples', private: true, type: 'module' }));
  return dir;
}

function node(dir: string, file: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--conditions=corral-source', '--import', tsx, file], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
}

test('README: the library examples type-check and run', async (t) => {
  t.timeout(300_000);
  const blocks = readmeBlocks();
  t.deepEqual(
    blocks.map((b) => b.name),
    ['example0', 'executor', 'example2'],
  );
  const dir = project(t);
  for (const b of blocks) writeFileSync(join(dir, `${b.name}.ts`), b.code);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        allowImportingTsExtensions: true,
        customConditions: ['corral-source'],
        types: ['node'],
      },
      files: blocks.map((b) => `${b.name}.ts`),
    }),
  );
  const tsc = spawnSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
  t.is(tsc.status, 0, tsc.stdout + tsc.stderr);

  const framework = node(dir, 'example0.ts');
  t.is(framework.status, 0, framework.stdout + framework.stderr);
  t.is(framework.stdout.trim(), 'task hello-1 finished');

  t.teardown(() => void removeNetnsQuietly('corral-readme'));
  const linux = node(dir, 'example2.ts');
  t.is(linux.status, 0, linux.stdout + linux.stderr);
  const lines = linux.stdout.trim().split('\n');
  t.is(lines[0], 'true cpus(*):3.5; mem(*):7680; ports(*):[31001-32000]');
  t.regex(lines[1]!, /^network isolator built in: (true|false)$/);
  if (process.getuid?.() === 0) t.regex(lines[2]!, /^namespace inode \d+$/);

  // The executor block, as the executor of a task.
  const cluster = await startLocalCluster({ agents: 1 });
  t.teardown(() => cluster.stop());
  const client = new SchedulerClient({ master: cluster.master, framework: { name: 'readme-executor', user: USER } });
  t.teardown(() => client.stop());
  await client.start();
  const offers = await client.next('offers', (os) => os.some((o) => offerFits(o, 'cpus:0.2;mem:96')));
  const done = client.next('update', (s) => s.taskId === 'by-executor' && s.state === 'TASK_FINISHED', 60_000);
  const command = `cd ${JSON.stringify(dir)} && exec ${JSON.stringify(process.execPath)} --conditions=corral-source --import ${JSON.stringify(tsx)} executor.ts`;
  await client.launch(
    offers.find((o) => offerFits(o, 'cpus:0.2;mem:96'))!,
    [{ taskId: 'by-executor', resources: 'cpus:0.1;mem:32', executor: { executorId: 'readme', command, resources: 'cpus:0.1;mem:64' } }],
  );
  t.is((await done).message, 'done by my executor');
});

function removeNetnsQuietly(name: string): void {
  try {
    removeNetns(name);
  } catch {
    // not root, or gone
  }
}
