/**
 * The isolator pipeline of the supervisor containerizer, with recording fake isolators and a
 * fake launcher around real corral-containerizer supervisors (no root needed): the order of
 * every step, cleanup of a half-prepared container in reverse order, a failed isolate that
 * aborts the supervisor before the command runs, cleanup failures collected with every step
 * still attempted, limitations from watch() and at the end, usage merged from partial results,
 * and update.
 */
import anyTest, { type TestFn } from 'ava';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LaunchSpec } from '../../../lib/agent/containerizer/containerizer.ts';
import type { ContainerConfig, Isolator, Launcher, LaunchRequirements, Limitation, Statistics } from '../../../lib/agent/containerizer/isolator.ts';
import { SupervisorContainerizer } from '../../../lib/agent/containerizer/supervisor_containerizer.ts';
import { isCorralError } from '../../../lib/common/errors.ts';
import { parseResourcesText, type Resources } from '../../../lib/common/resources/index.ts';
import { Runs, clearLeftoverRuns, until, type RunDirs } from '../../linux/containerizer_fixture.ts';

const test = anyTest as TestFn;
const runs = new Runs();
const containerizers: SupervisorContainerizer[] = [];

test.before(() => {
  clearLeftoverRuns();
});
test.after.always(() => {
  for (const c of containerizers) c.close();
  runs.cleanup();
});

type Step = 'prepare' | 'isolate' | 'watch' | 'update' | 'usage' | 'limitationAtEnd' | 'cleanup';

/** An isolator that records its calls in `log` and fails at the steps in `failAt`. */
class FakeIsolator implements Isolator {
  readonly calls: string[] = [];
  failAt = new Set<Step>();
  stats: Statistics | undefined;
  atEnd: Limitation | undefined;
  limit: ((l: Limitation) => void) | undefined;
  seenPid: number | undefined;
  seenConfig: ContainerConfig | undefined;
  ranBeforeIsolate: boolean | undefined;
  requirements: LaunchRequirements | undefined;
  updated: Resources | undefined;

  constructor(
    readonly name: string,
    private readonly log: string[],
    private readonly runDirs?: RunDirs,
  ) {}

  private step(s: Step): void {
    this.log.push(`${this.name}:${s}`);
    if (this.failAt.has(s)) throw new Error(`${s} of ${this.name} fails`);
  }

  async prepare(config: ContainerConfig): Promise<LaunchRequirements | void> {
    this.seenConfig = config;
    this.step('prepare');
    return this.requirements;
  }

  async isolate(_id: string, pid: number): Promise<void> {
    this.seenPid = pid;
    if (this.runDirs) this.ranBeforeIsolate = existsSync(join(this.runDirs.sandbox, 'ran'));
    this.step('isolate');
  }

  watch(): Promise<Limitation> {
    this.log.push(`${this.name}:watch`);
    return new Promise((resolve) => (this.limit = resolve));
  }

  async update(_id: string, resources: Resources): Promise<void> {
    this.updated = resources;
    this.step('update');
  }

  usage(): Statistics | undefined {
    if (this.failAt.has('usage')) throw new Error('no usage');
    return this.stats;
  }

  async limitationAtEnd(): Promise<Limitation | undefined> {
    this.step('limitationAtEnd');
    return this.atEnd;
  }

  async cleanup(): Promise<void> {
    this.step('cleanup');
  }
}

class FakeLauncher implements Launcher {
  readonly name = 'fake';
  failAt = new Set<string>();
  constructor(private readonly log: string[]) {}
  private step(s: string): void {
    this.log.push(`launcher:${s}`);
    if (this.failAt.has(s)) throw new Error(`launcher ${s} fails`);
  }
  async prepare(): Promise<void> {
    this.step('prepare');
  }
  async attach(): Promise<void> {
    this.step('attach');
  }
  async destroy(): Promise<void> {
    this.step('destroy');
  }
  async cleanup(): Promise<void> {
    this.step('cleanup');
  }
}

function setup(n = 3, withRun = true) {
  const log: string[] = [];
  const r = runs.fresh();
  const isolators = Array.from({ length: n }, (_v, i) => new FakeIsolator(String.fromCharCode(97 + i), log, withRun ? r : undefined));
  const launcher = new FakeLauncher(log);
  const cleanupErrors: { id: string; errors: readonly string[] }[] = [];
  const c = new SupervisorContainerizer({ isolators, launcher, onCleanupError: (id, errors) => cleanupErrors.push({ id, errors }) });
  containerizers.push(c);
  return { log, r, isolators, launcher, c, cleanupErrors };
}

function spec(r: RunDirs, script: string, extra: Partial<LaunchSpec> = {}): LaunchSpec {
  return {
    containerId: randomUUID(),
    sandbox: r.sandbox,
    runDir: r.runDir,
    argv: ['/bin/sh', '-c', script],
    env: { PATH: '/usr/bin:/bin' },
    resources: parseResourcesText('cpus:0.5;mem:64'),
    ...extra,
  };
}

test('the steps run in --isolation order around the supervisor; cleanup in reverse, after destroy', async (t) => {
  const { log, r, isolators, c } = setup();
  const s = spec(r, 'touch ran; exit 3');
  const ctr = await c.launch(s);
  const end = await ctr.termination;
  t.deepEqual(end, { exitCode: 3, status: 3 << 8 });
  t.deepEqual(log, [
    'launcher:prepare',
    'a:prepare',
    'b:prepare',
    'c:prepare',
    'launcher:attach',
    'a:isolate',
    'b:isolate',
    'c:isolate',
    'a:watch',
    'b:watch',
    'c:watch',
    'launcher:destroy',
    'a:limitationAtEnd',
    'b:limitationAtEnd',
    'c:limitationAtEnd',
    'c:cleanup',
    'b:cleanup',
    'a:cleanup',
    'launcher:cleanup',
  ]);
  for (const i of isolators) {
    t.false(i.ranBeforeIsolate, `${i.name}: the command had not run when it was isolated`);
    t.is(i.seenPid, Number(JSON.parse(readFileSync(join(r.runDir, 'exit.status'), 'utf8')).pid));
    t.is(i.seenConfig?.containerId, s.containerId);
    t.is(i.seenConfig?.sandbox, r.sandbox);
  }
  t.true(existsSync(join(r.sandbox, 'ran')));
  t.is(c.size, 0);
});

test('a clean exit (0) is not searched for a limitation', async (t) => {
  const { log, r, c } = setup(1);
  await (
    await c.launch(spec(r, 'true'))
  ).termination;
  t.false(log.includes('a:limitationAtEnd'));
});

test('a failed prepare: the isolators prepared so far (the failing one too) are cleaned up in reverse; the command never runs', async (t) => {
  const { log, r, isolators, c } = setup();
  isolators[1]!.failAt.add('prepare');
  const s = spec(r, 'touch ran');
  const e = await t.throwsAsync(c.launch(s));
  t.true(isCorralError(e) && e.code === 'CONTAINER_LAUNCH_FAILED');
  t.regex(e?.message ?? '', /b: prepare: prepare of b fails/);
  t.deepEqual(log, ['launcher:prepare', 'a:prepare', 'b:prepare', 'b:cleanup', 'a:cleanup', 'launcher:cleanup']);
  t.false(existsSync(join(r.sandbox, 'ran')));
  t.false(existsSync(join(r.runDir, 'pids')), 'no supervisor was started');
  t.is(c.size, 0);
  // The id is free again.
  isolators[1]!.failAt.clear();
  t.deepEqual(await (await c.launch(s)).termination, { exitCode: 0, status: 0 });
});

test('a failed isolate: the supervisor is aborted before the command runs, the container destroyed and cleaned up', async (t) => {
  const { log, r, isolators, c } = setup();
  isolators[2]!.failAt.add('isolate');
  const e = await t.throwsAsync(c.launch(spec(r, 'touch ran')));
  t.regex(e?.message ?? '', /container .*: c: isolate: isolate of c fails/);
  t.deepEqual(log, [
    'launcher:prepare',
    'a:prepare',
    'b:prepare',
    'c:prepare',
    'launcher:attach',
    'a:isolate',
    'b:isolate',
    'c:isolate',
    'launcher:destroy',
    'c:cleanup',
    'b:cleanup',
    'a:cleanup',
    'launcher:cleanup',
  ]);
  t.false(existsSync(join(r.sandbox, 'ran')));
  t.deepEqual(JSON.parse(readFileSync(join(r.runDir, 'exit.status'), 'utf8')).status, 'aborted');
});

test('a failed launcher prepare is cleaned up too (no isolator was prepared), and a failing cleanup is added to the error', async (t) => {
  const { log, r, launcher, c } = setup(1);
  launcher.failAt.add('prepare');
  launcher.failAt.add('cleanup');
  const e = await t.throwsAsync(c.launch(spec(r, 'touch ran')));
  t.regex(e?.message ?? '', /launcher prepare fails \(cleaning up after it failed too: fake launcher: cleanup: launcher cleanup fails\)/);
  t.deepEqual(log, ['launcher:prepare', 'launcher:cleanup']);
});

test('cleanup failures at the end: every step is still attempted, all failures reported together', async (t) => {
  const { log, r, isolators, launcher, c, cleanupErrors } = setup();
  isolators[0]!.failAt.add('cleanup');
  isolators[2]!.failAt.add('cleanup');
  launcher.failAt.add('destroy');
  const s = spec(r, 'exit 0');
  t.deepEqual(await (await c.launch(s)).termination, { exitCode: 0, status: 0 });
  t.deepEqual(log.slice(-5), ['launcher:destroy', 'c:cleanup', 'b:cleanup', 'a:cleanup', 'launcher:cleanup']);
  t.deepEqual(cleanupErrors, [
    {
      id: s.containerId,
      errors: ['fake launcher: destroy: launcher destroy fails', 'c: cleanup: cleanup of c fails', 'a: cleanup: cleanup of a fails'],
    },
  ]);
  t.is(c.destroyErrors, 1);
});

test('a limitation from watch() destroys the container; the termination carries it', async (t) => {
  const { log, r, isolators, c } = setup(2);
  const s = spec(r, 'echo started; exec sleep 30');
  const ctr = await c.launch(s);
  await until(() => readFileSync(join(r.sandbox, 'stdout'), 'utf8').includes('started'));
  const limitation: Limitation = { resource: 'mem', reason: 'REASON_CONTAINER_LIMITATION_MEMORY', message: 'Memory limit exceeded: Requested: 64MB' };
  isolators[1]!.limit!(limitation);
  const end = await ctr.termination;
  t.deepEqual(end, { signal: 9, status: 9, killed: true, message: limitation.message, limitation });
  t.true(log.indexOf('launcher:destroy') > log.indexOf('b:watch'));
  t.false(log.includes('a:limitationAtEnd'), 'known already');
});

test('a limitation found at the end (the process was gone before the event came)', async (t) => {
  const { r, isolators, c } = setup(2);
  const limitation: Limitation = { resource: 'mem', reason: 'REASON_CONTAINER_LIMITATION_MEMORY', message: 'Memory limit exceeded' };
  isolators[1]!.atEnd = limitation;
  const end = await (await c.launch(spec(r, 'exit 137'))).termination;
  t.deepEqual(end, { exitCode: 137, status: 137 << 8, killed: true, message: 'Memory limit exceeded', limitation });
});

test("usage: the isolators' statistics merged (one failing), with timestamp and the limits; update reaches every isolator", async (t) => {
  const { r, isolators, c } = setup(3);
  isolators[0]!.stats = { cpus_user_time_secs: 1.5, processes: 1 };
  isolators[1]!.failAt.add('usage');
  isolators[2]!.stats = { mem_rss_bytes: 4096, processes: 2 };
  const s = spec(r, 'echo started; exec sleep 30');
  const ctr = await c.launch(s);
  const u = await c.usage(s.containerId);
  t.like(u, { cpus_user_time_secs: 1.5, mem_rss_bytes: 4096, processes: 2, cpus_limit: 0.5, mem_limit_bytes: 64 * 1024 * 1024 });
  t.true(Math.abs((u!.timestamp as number) - Date.now() / 1000) < 5);
  await c.update(s.containerId, parseResourcesText('cpus:2;mem:128'));
  for (const i of isolators) t.is(i.updated?.scalar('cpus'), 2);
  t.like(await c.usage(s.containerId), { cpus_limit: 2, mem_limit_bytes: 128 * 1024 * 1024 });
  isolators[1]!.failAt.add('update');
  await t.throwsAsync(c.update(s.containerId, parseResourcesText('cpus:1')), { message: /b: update: update of b fails/ });
  await t.throwsAsync(c.update('nope', parseResourcesText('cpus:1')), { code: 'CONTAINER_NOT_FOUND' });
  await c.kill(s.containerId, 0);
  await ctr.termination;
  t.is(await c.usage(s.containerId), undefined);
});

test('default isolation is posix/cpu, posix/mem', (t) => {
  const c = new SupervisorContainerizer();
  containerizers.push(c);
  t.deepEqual(c.isolation, ['posix/cpu', 'posix/mem']);
});
