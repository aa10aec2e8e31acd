/**
 * Corral as an installed package (issue 23): `npm pack` the checkout, install the tarball into
 * a fresh project under the temp dir (offline: dependencies from npm's cache; the project sees
 * nothing of the source tree), and there import every entry point from a plain .mjs and from a
 * TypeScript file that tsc type-checks against the package's .d.ts files, using the native
 * bindings (a network namespace created and removed, as root) and the resource parser.
 *
 * Figures (t.log): the tarball's size, the installed package's size, `import('corral/linux')`.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot } from '../helpers/root.ts';
import { clearLeftoverDirs, clearLeftoverNetns } from '../helpers/tmp_names.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** The entry points the package exports, and a name each must export. */
export const ENTRY_POINTS: Record<string, string> = {
  corral: 'startLocalCluster',
  'corral/linux': 'createNetns',
  'corral/resources': 'parseResourcesText',
  'corral/scheduler': 'SchedulerClient',
  'corral/executor': 'ExecutorClient',
};

/** An environment without what an enclosing npm run sets (npm_config_*), so the inner npm uses its defaults. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return env;
}

function run(cmd: string, args: readonly string[], cwd: string, timeoutMs = 300_000): string {
  const r = spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The package's production dependencies, all the way down, as the checkout's node_modules holds them (flat). */
function productionDependencies(): string[] {
  const seen = new Set<string>();
  const visit = (pkgJson: string): void => {
    const deps = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {};
    for (const name of Object.keys(deps)) {
      if (seen.has(name)) continue;
      seen.add(name);
      visit(join(repo, 'node_modules', name, 'package.json'));
    }
  };
  visit(join(repo, 'package.json'));
  return [...seen].sort();
}

function duBytes(path: string): number {
  return Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);
}

const CHECK_MJS = `
import { performance } from 'node:perf_hooks';
const t0 = performance.now();
const linux = await import('corral/linux');
const importMs = performance.now() - t0;
const { parseResourcesText } = await import('corral/resources');
const root = await import('corral');
const names = JSON.parse(process.argv[2]);
const exported = {};
for (const [spec, name] of Object.entries(names)) exported[spec] = typeof (await import(spec))[name];
const r = parseResourcesText('cpus:2;mem:1024;ports:[31000-31009]');
let bad;
try { parseResourcesText('cpus:two'); } catch (e) { bad = { name: e.constructor.name, code: e.code, message: e.message }; }
const out = { importMs, exported, addon: linux.nativeAddonPath, features: linux.nativeFeatures(), cpus: r.scalar('cpus'), ports: r.ranges('ports'), bad, version: root.version };
const netns = process.argv[3];
if (netns) {
  out.created = linux.createNetns(netns);
  out.inode = linux.getNetns(netns)?.inode;
  out.removed = linux.removeNetns(netns);
  out.after = linux.getNetns(netns) ?? null;
  try { linux.removeNetns('bad/name'); } catch (e) { out.nativeError = { name: e.constructor.name, code: e.code }; }
}
console.log(JSON.stringify(out));
`;

const CHECK_TS = `
import { createNetns, removeNetns, nativeFeatures, NativeError, type NetnsInfo } from 'corral/linux';
import { parseResourcesText, Resources } from 'corral/resources';
import { startLocalCluster, CorralError, type LocalCluster } from 'corral';
import { SchedulerClient, type Offer, type TaskStatus } from 'corral/scheduler';
import { ExecutorClient, type TaskInfo } from 'corral/executor';

const r: Resources = parseResourcesText('cpus:1');
const cpus: number = r.scalar('cpus');
const info: NetnsInfo | undefined = undefined;
const f: boolean = nativeFeatures().networkIsolator;
const start: (o?: { agents?: number }) => Promise<LocalCluster> = startLocalCluster;
const e: CorralError = new NativeError('x', { code: 'EPERM', errno: 1, op: 'x', detail: 'y' });
// @ts-expect-error: a number is not a resource string
parseResourcesText(1);
const client = new SchedulerClient({ master: '127.0.0.1:5050', framework: { name: 'typed' } });
client.on('offers', (offers: readonly Offer[]) => void offers);
client.on('update', (s: TaskStatus) => void s.state);
const onLaunch = (ex: ExecutorClient) => ex.on('launch', (task: TaskInfo) => void task.taskId);
// @ts-expect-error: not an event of the scheduler client
client.on('offer', () => {});
export { cpus, info, f, start, e, createNetns, removeNetns, onLaunch };
`;

test('npm pack: the tarball installs offline into a fresh project, and each entry point works there from JavaScript and TypeScript', async (t) => {
  t.timeout(900_000);
  clearLeftoverDirs();
  clearLeftoverNetns();
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-pack-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  // Pack (prepack builds dist/ and copies the addon into prebuilds/; postpack removes those).
  run('npm', ['pack', '--pack-destination', dir, '--ignore-scripts=false'], repo);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  t.truthy(tarball, 'npm pack made a tarball');
  const tgz = join(dir, tarball!);
  const listed = execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).split('\n').filter(Boolean);
  t.true(listed.includes('package/dist/lib/linux/index.js'));
  t.true(listed.includes('package/dist/lib/linux/index.d.ts'));
  t.true(listed.includes(`package/prebuilds/${process.platform}-${process.arch}/corral_native.node`));
  t.deepEqual(
    listed.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts')),
    [],
    'no TypeScript sources',
  );
  t.deepEqual(
    listed.filter((f) => f.startsWith('package/test/') || f.startsWith('package/bench/') || f.startsWith('package/dist/bench/')),
    [],
  );

  // A fresh project, installed offline from the tarball.
  const project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-corral', version: '1.0.0', private: true, type: 'module' }));
  // No registry here: the dependencies are copied in from the checkout's node_modules first, so
  // npm finds them satisfied and fetches nothing.
  const deps = productionDependencies();
  t.true(deps.includes('node-zookeeper-client'));
  for (const name of deps) cpSync(join(repo, 'node_modules', name), join(project, 'node_modules', name), { recursive: true, dereference: true });
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts=false', tgz], project);
  const installed = join(project, 'node_modules', 'corral');
  t.true(statSync(join(installed, 'build', 'Release', 'corral_native.node')).isFile(), "the addon is in the package's own build/Release");
  t.false(readdirSync(join(project, 'node_modules')).includes('ava'), 'no devDependencies');

  // From JavaScript.
  const netns = isRoot() ? `corral-test-${process.pid}-pack` : '';
  writeFileSync(join(project, 'check.mjs'), CHECK_MJS);
  const out = JSON.parse(
    run(process.execPath, ['check.mjs', JSON.stringify(ENTRY_POINTS), netns], project)
      .trim()
      .split('\n')
      .at(-1)!,
  );
  t.is(out.addon, join(installed, 'build', 'Release', 'corral_native.node'));
  t.is(typeof out.features.networkIsolator, 'boolean');
  t.deepEqual(out.exported, Object.fromEntries(Object.keys(ENTRY_POINTS).map((k) => [k, 'function'])));
  t.is(out.cpus, 2);
  t.deepEqual(out.ports, [{ begin: 31000, end: 31009 }]);
  t.is(out.bad.code, 'INVALID');
  t.regex(out.bad.message, /cpus/);
  t.regex(out.version, /^\d+\.\d+\.\d+/);
  if (netns) {
    t.true(out.created);
    t.true(out.inode > 0);
    t.true(out.removed);
    t.is(out.after, null);
    t.is(out.nativeError.name, 'NativeError');
  }

  // From TypeScript, type-checked against the .d.ts files (the compiler and Node's types linked in).
  mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
  symlinkSync(join(repo, 'node_modules', 'typescript'), join(project, 'node_modules', 'typescript'));
  symlinkSync(join(repo, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'));
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
      files: ['check.ts'],
    }),
  );
  writeFileSync(join(project, 'check.ts'), CHECK_TS);
  run(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], project);

  // The example framework, compiled against the installed types, runs against a local cluster
  // that it starts through the library.
  writeFileSync(join(project, 'run_tasks.ts'), readFileSync(join(repo, 'examples', 'run_tasks.ts'), 'utf8'));
  writeFileSync(
    join(project, 'tsconfig.example.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        outDir: 'out',
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['run_tasks.ts'],
    }),
  );
  run(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.example.json'], project);
  const example = run(process.execPath, [join('out', 'run_tasks.js'), '--tasks=3'], project, 120_000);
  t.regex(example, /task-1 ended TASK_FAILED; launching it again/);
  t.regex(example, /all 3 tasks finished/);

  t.log(
    `tarball ${(statSync(tgz).size / 1024).toFixed(0)} KiB; installed package ${(duBytes(installed) / 1024).toFixed(0)} KiB; import('corral/linux') ${out.importMs.toFixed(1)} ms`,
  );
});
