/**
 * Reservations and persistent volumes (issue 6 figures):
 *  1. RESERVE + CREATE through the master: one framework accepts one offer per agent with a
 *     RESERVE and a CREATE (2 operations), and the operator path (/master/reserve's
 *     operatorOperation) for the same; operations per second, each with its CHECKPOINT_RESOURCES.
 *  2. The allocator's full cycle with 10k agents (1,000 frameworks, 100 roles) when every agent
 *     has a dynamic reservation and a volume, against the same agents without them and with the
 *     same amounts reserved statically (fresh allocators in rounds that rotate the three kinds;
 *     warm-up rounds left out; medians).
 *  3. What a volume adds to a launch: as root, corral-containerizer launches in a mount
 *     namespace with and without one --bind (interleaved pairs: until the command runs, and the
 *     whole run);
 *     the symlink fallback (not root) against a bare symlink(2) (median and p99 over 2,000).
 *
 *   npm run bench:volumes
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AgentPaths } from '../lib/agent/paths.ts';
import { linkVolumes, volumeMounts } from '../lib/agent/volumes.ts';
import { supervisorPath } from '../lib/linux/index.ts';
import { type Resource, Resources, parseResourcesText, resource } from '../lib/common/resources/index.ts';
import { HierarchicalAllocator } from '../lib/master/allocator/index.ts';
import { MasterRefusal } from '../lib/master/errors.ts';
import type { Operation } from '../lib/proto/messages.ts';
import { Harness, frameworkInfo } from '../test/helpers/master_harness.ts';
import { loadLine } from './common.ts';

const dyn = (name: string, v: number, role: string): Resource => resource(name, v, { role, reservation: { principal: 'ops' } });
const vol = (id: string, size: number, role: string): Resource =>
  resource('disk', size, {
    role,
    reservation: { principal: 'ops' },
    disk: { persistence: { id, principal: 'ops' }, volume: { mode: 'RW', containerPath: 'data' } },
  });
const asInput = (r: Resource) => r as unknown as import('../lib/common/resources/index.ts').ResourceInput;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function throughMaster(agents: number): Promise<void> {
  // ACCEPT: every agent offered once, each offer accepted with RESERVE + CREATE.
  {
    const h = await Harness.start();
    for (let i = 0; i < agents; i++) await h.agent('cpus:4;mem:4096;disk:10000', `host${i}`);
    const fw = h.framework(frameworkInfo({ role: 'web', principal: 'ops' }));
    h.tick(0);
    const offers = fw.offers();
    const t0 = performance.now();
    for (const [i, offer] of offers.entries()) {
      const ops: Operation[] = [
        { type: 'RESERVE', reserve: { resources: [asInput(dyn('disk', 1000, 'web'))] } },
        { type: 'CREATE', create: { volumes: [asInput(vol(`v${i}`, 500, 'web'))] } },
      ];
      fw.call({ type: 'ACCEPT', frameworkId: fw.id, accept: { offerIds: [offer.id], operations: ops } });
    }
    const ms = performance.now() - t0;
    const applied = Array.from(h.master.agents.values()).reduce((n, a) => n + a.checkpointed.size, 0);
    console.log(
      `ACCEPT with RESERVE+CREATE: ${offers.length * 2} operations (${applied} checkpointed entries) in ${ms.toFixed(1)} ms = ${Math.round((offers.length * 2) / (ms / 1000))} ops/s`,
    );
    h.master.stop();
  }
  // Operator path: the same operations without offers.
  {
    const h = await Harness.start();
    const ids: string[] = [];
    for (let i = 0; i < agents; i++) ids.push((await h.agent('cpus:4;mem:4096;disk:10000', `host${i}`)).id);
    const t0 = performance.now();
    let ok = 0;
    // A refused operation throws a MasterRefusal: it is not counted.
    const done = (operation: () => void): number => {
      try {
        operation();
        return 1;
      } catch (e) {
        if (e instanceof MasterRefusal) return 0;
        throw e;
      }
    };
    for (const [i, id] of ids.entries()) {
      ok += done(() => h.master.operatorOperation(id, 'RESERVE', [asInput(dyn('disk', 1000, 'web'))]));
      ok += done(() => h.master.operatorOperation(id, 'CREATE', [asInput(vol(`v${i}`, 500, 'web'))]));
    }
    const ms = performance.now() - t0;
    console.log(`operator RESERVE+CREATE: ${ok} operations in ${ms.toFixed(1)} ms = ${Math.round(ok / (ms / 1000))} ops/s`);
    h.master.stop();
  }
}

type CycleKind = 'plain' | 'static' | 'volumes';

function allocatorShapes(kind: CycleKind): Resources[] {
  const ROLES = 100;
  const base = parseResourcesText('cpus:16;mem:65536;disk:1048576;ports:[31000-32000]');
  const shapes: Resources[] = [];
  for (let r = 0; r < ROLES; r++) {
    const role = `role${r}`;
    if (kind === 'plain') {
      shapes.push(base);
      continue;
    }
    const reserved =
      kind === 'static'
        ? Resources.of([resource('cpus', 4, { role }), resource('mem', 8192, { role }), resource('disk', 5000, { role })])
        : Resources.of([dyn('cpus', 4, role), dyn('mem', 8192, role), dyn('disk', 1000, role), vol(`vol-${r}`, 4000, role)]);
    shapes.push(base.minus(parseResourcesText('cpus:4;mem:8192;disk:5000')).plus(reserved));
  }
  return shapes;
}

/**
 * The first full cycle of a fresh allocator for each kind, in rounds that rotate which kind goes
 * first; the first rounds are left out (the JIT is still compiling then); medians.
 */
function allocatorCycles(agents: number, frameworks: number, rounds: number): Record<CycleKind, number> {
  const kinds: CycleKind[] = ['plain', 'static', 'volumes'];
  const shapes = Object.fromEntries(kinds.map((k) => [k, allocatorShapes(k)])) as Record<CycleKind, Resources[]>;
  const times: Record<CycleKind, number[]> = { plain: [], static: [], volumes: [] };
  const warmup = 3;
  for (let round = 0; round < rounds + warmup; round++) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(round + k) % kinds.length]!;
      const a = new HierarchicalAllocator();
      for (let f = 0; f < frameworks; f++) a.addFramework(`fw-${f}`, { role: `role${f % 100}`, revocable: false });
      for (let i = 0; i < agents; i++) a.addAgent(`agent-${i}`, shapes[kind][i % 100]!);
      const t0 = performance.now();
      a.allocate(0);
      if (round >= warmup) times[kind].push(performance.now() - t0);
    }
  }
  return { plain: median(times.plain), static: median(times.static), volumes: median(times.volumes) };
}

async function linkCost(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'corral-bench-volumes-'));
  try {
    const paths = new AgentPaths(dir);
    const withVol = Resources.of([vol('v1', 100, 'web')]);
    const times: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const sandbox = join(dir, 'sandboxes', String(i));
      await mkdir(sandbox, { recursive: true });
      const t0 = performance.now();
      linkVolumes(sandbox, volumeMounts(paths, withVol));
      times.push(performance.now() - t0);
    }
    // The bare symlink(2) into a fresh directory on the same file system, for comparison.
    const raw: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const sandbox = join(dir, 'raw', String(i));
      mkdirSync(sandbox, { recursive: true });
      const t0 = performance.now();
      symlinkSync(paths.volumeDir('web', 'v1'), join(sandbox, 'data'));
      raw.push(performance.now() - t0);
    }
    console.log(
      `volume in a launch, the fallback without root (symlink into the sandbox): median ${median(times).toFixed(3)} ms, p99 ${pct(times, 0.99).toFixed(3)} ms (target ≤ 0.1 ms); ` +
        `the bare symlink(2) here: median ${median(raw).toFixed(3)} ms`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * What a --bind adds to a launch: the time from spawning the supervisor until its command runs
 * (the command, `date +%s%N`, records when it started), in a mount namespace without a --bind,
 * with one, and with one whose mount point was made beforehand (the mount alone, without the
 * mkdir of its mount point in the fresh sandbox); and the whole run to the supervisor's exit
 * (the mount namespace's teardown included).
 */
async function mountCost(n: number): Promise<void> {
  if (process.geteuid?.() !== 0) {
    console.log('volume in a launch as a bind mount: needs root (skipped)');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'corral-bench-volumes-'));
  try {
    const bin = supervisorPath();
    const vol = join(dir, 'volume');
    mkdirSync(vol);
    type Kind = 'plain' | 'bound' | 'premade';
    const kinds: Kind[] = ['plain', 'bound', 'premade'];
    const start: Record<Kind, number[]> = { plain: [], bound: [], premade: [] };
    const whole: Record<Kind, number[]> = { plain: [], bound: [], premade: [] };
    for (let i = 0; i < n; i++) {
      // Each round runs the three kinds in a rotating order.
      for (let k = 0; k < 3; k++) {
        const kind = kinds[(i + k) % 3]!;
        const sandbox = join(dir, `s${i}${kind}`);
        mkdirSync(sandbox);
        if (kind === 'premade') mkdirSync(join(sandbox, 'data'));
        const bind = kind === 'plain' ? [] : ['--bind', `${vol}:data`];
        const args = ['launch', '--sandbox', sandbox, '--run-dir', join(sandbox, 'run'), '--namespaces', 'mount', ...bind, '--', 'date', '+%s%N'];
        const wall0 = performance.timeOrigin + performance.now();
        const t0 = performance.now();
        const r = spawnSync(bin, args);
        const ms = performance.now() - t0;
        if (r.status !== 0) throw new Error(`corral-containerizer exited ${r.status}: ${String(r.stderr)}`);
        const startedAt = Number(readFileSync(join(sandbox, 'stdout'), 'utf8').trim()) / 1e6;
        start[kind].push(startedAt - wall0);
        whole[kind].push(ms);
      }
    }
    // Peer for the mount point: a bare mkdir of a directory in a fresh directory on the same disk.
    const mkdirs: number[] = [];
    for (let i = 0; i < n; i++) {
      const d = join(dir, `m${i}`);
      mkdirSync(d);
      const t0 = performance.now();
      mkdirSync(join(d, 'data'));
      mkdirs.push(performance.now() - t0);
    }
    // Each round's launches ran next to each other: the median of the rounds' differences is
    // less moved by other load on the host than the difference of the medians.
    const added = (x: Record<Kind, number[]>, kind: Kind): string => median(x[kind].map((b, i) => b - x.plain[i]!)).toFixed(3);
    console.log(
      `volume in a launch as a bind mount (${n} rounds, mount namespace): until the command runs ${median(start.plain).toFixed(3)} ms without a --bind (median); ` +
        `one --bind adds ${added(start, 'bound')} ms (its mount point made in the fresh sandbox) and ${added(start, 'premade')} ms (the mount point there already) ` +
        `(medians of paired differences; target ≤ 0.1 ms); to the whole run with the namespace's teardown ${added(whole, 'bound')} ms`,
    );
    console.log(`  peer: a bare mkdir (Node's mkdirSync) of a directory in a fresh directory on the same disk: median ${median(mkdirs).toFixed(3)} ms`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const quick = process.argv.includes('--quick');
console.log(loadLine());
await throughMaster(quick ? 200 : 1000);
const agents = quick ? 2000 : 10_000;
const cycles = allocatorCycles(agents, 1000, quick ? 5 : 15);
console.log(
  `allocator full cycle, ${agents} agents, 1000 frameworks, 100 roles (medians of rotating rounds): unreserved ${cycles.plain.toFixed(1)} ms; ` +
    `the same amounts statically reserved per role ${cycles.static.toFixed(1)} ms; dynamically reserved with a volume ${cycles.volumes.toFixed(1)} ms; ` +
    `ratio to unreserved ${(cycles.volumes / cycles.plain).toFixed(2)} (target ≤ 1.5), to static reservations ${(cycles.volumes / cycles.static).toFixed(2)}`,
);
await mountCost(quick ? 200 : 1000);
await linkCost();
