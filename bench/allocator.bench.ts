/**
 * Allocator benchmark (Mesos-sized): agents × frameworks with 100 roles, port ranges and some
 * static reservations. Prints, per case: the cold first cycle (the process's first allocator,
 * before the JIT has seen a cycle), the first full allocation cycle (median over fresh
 * allocators), the cost per agent, the work of adding the agents (addAgent, median, apart from
 * any cycle), steady "decline offers" cycles (every framework declines every offer with a long
 * filter, as in Mesos's DeclineOffers benchmark; the cycles only, not the declines) and the heap
 * used. There is no peer on this machine: Mesos's own figure is printed as a reference.
 * Then the full cycle with 10k agents and 1k frameworks when every agent has a dynamic
 * reservation for one role and a persistent volume, against the same agents unreserved (issue
 * 6: no slower than 1.5x), the two kinds built and timed alternately in one fresh process.
 *
 *   npm run bench:allocator [-- --quick]
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { HierarchicalAllocator } from '../lib/master/allocator/index.ts';
import { type Resource, Resources, parseResourcesText, resource } from '../lib/common/resources/index.ts';
import type { Allocation } from '../lib/master/allocator/index.ts';

const quick = process.argv.includes('--quick');
// Each case runs in a fresh process, so one case's heap and JIT state do not tax the next.
const only = process.argv.find((a) => a.startsWith('--case='))?.slice('--case='.length);
const ROLES = 100;
const cases: [number, number][] = quick
  ? [
      [1_000, 100],
      [10_000, 1_000],
    ]
  : [
      [1_000, 100],
      [10_000, 100],
      [10_000, 1_000],
      [10_000, 3_000],
      [50_000, 1_000],
    ];

const gc = (globalThis as { gc?: () => void }).gc;

function agentResources(i: number): Resources {
  // One agent in ten has a static reservation for some role.
  const base = 'cpus:16;mem:65536;disk:1048576;ports:[31000-32000]';
  return parseResourcesText(i % 10 === 0 ? `${base};cpus(role${i % ROLES}):4;mem(role${i % ROLES}):8192` : base);
}

/** Milliseconds the last build() spent in addAgent. */
let addAgentMs = 0;

function build(agents: number, frameworks: number, shapes: Resources[]): HierarchicalAllocator {
  const a = new HierarchicalAllocator();
  for (let f = 0; f < frameworks; f++) {
    a.addFramework(`fw-${f}`, { role: `role${f % ROLES}`, revocable: false });
  }
  const t0 = performance.now();
  for (let i = 0; i < agents; i++) a.addAgent(`agent-${i}`, shapes[i % shapes.length]!);
  addAgentMs = performance.now() - t0;
  return a;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((x, y) => x - y);
  return s[s.length >> 1]!;
}

function fmt(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

const shapes = Array.from({ length: 200 }, (_, i) => agentResources(i));
if (!only) {
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(`allocator benchmark: ${ROLES} roles, agents: cpus:16;mem:64G;disk:1T;ports:[31000-32000], 1 in 10 with a static reservation`);
  console.log('each case in a fresh node process; full cycle = median of 7 fresh allocators (first, cold run included)');
  console.log('cold = the first cycle of the first allocator in its process; addAgent = all agents added, median over the 7 allocators');
  console.log('decline cycle = the 20 cycles after every framework declined every offer with a 5000 s filter (the declines not timed)');
  console.log(
    'agents x fws   | cold cycle ms | full cycle ms (median) | us/agent | addAgent ms | decline cycle ms (median, p90) | decline/full | offers/cycle | heap MB',
  );
  for (const [agents, frameworks] of cases) {
    const r = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        ...process.execArgv.filter((a) => a !== '--expose-gc'),
        fileURLToPath(import.meta.url),
        `--case=${agents},${frameworks}`,
        ...(quick ? ['--quick'] : []),
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) {
      console.error(r.stderr);
      process.exit(1);
    }
    process.stdout.write(r.stdout);
  }
  console.log('Mesos 1.7 reference (its own benchmark, 10k agents x 1k frameworks, full cycle): 1060 ms');
  console.log('targets: 10k x 1k <= 10 ms (full and decline cycles); 50k x 1k <= 50 ms; us/agent within 2x from 100 to 3k frameworks');
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', ...process.execArgv.filter((a) => a !== '--expose-gc'), fileURLToPath(import.meta.url), '--case=volumes', ...(quick ? ['--quick'] : [])],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) {
    console.error(r.stderr);
    process.exit(1);
  }
  process.stdout.write(r.stdout);
  process.exit(0);
}
if (only === 'volumes') {
  // Every agent: cpus:16;mem:64G;disk:1T;ports, of which cpus 4, mem 8G and disk 5G are
  // dynamically reserved for role (i % 100), 4G of that disk a persistent volume.
  const dyn = (name: string, v: number, role: string): Resource => resource(name, v, { role, reservation: { principal: 'ops' } });
  const base = parseResourcesText('cpus:16;mem:65536;disk:1048576;ports:[31000-32000]');
  const carved = parseResourcesText('cpus:4;mem:8192;disk:5000');
  const reservedShapes = Array.from({ length: ROLES }, (_, r) => {
    const role = `role${r}`;
    const volume = resource('disk', 4000, {
      role,
      reservation: { principal: 'ops' },
      disk: { persistence: { id: `vol-${r}`, principal: 'ops' }, volume: { mode: 'RW', containerPath: 'data' } },
    });
    return base.minus(carved).plus(Resources.of([dyn('cpus', 4, role), dyn('mem', 8192, role), dyn('disk', 1000, role), volume]));
  });
  const agents = 10_000;
  const frameworks = 1_000;
  // Rounds of one cycle of each kind, alternating which goes first. The first two rounds are
  // warm-up: the JIT still recompiles during the second (its first reserved-first round), which
  // made that reserved cycle several times slower than the rest and, as one of the ten runs
  // the median was taken from, raised it.
  const warmup = 2;
  const reps = quick ? 9 : 21;
  const times: Record<'plain' | 'reserved', number[]> = { plain: [], reserved: [] };
  let offers = { plain: 0, reserved: 0 };
  for (let r = 0; r < reps; r++) {
    for (const kind of r % 2 === 0 ? (['plain', 'reserved'] as const) : (['reserved', 'plain'] as const)) {
      gc?.();
      const a = build(agents, frameworks, kind === 'plain' ? [base] : reservedShapes);
      gc?.();
      const t0 = performance.now();
      offers = { ...offers, [kind]: a.allocate(0).length };
      times[kind].push(performance.now() - t0);
    }
  }
  const plain = median(times.plain.slice(warmup));
  const reserved = median(times.reserved.slice(warmup));
  // On a shared machine the fastest runs are the ones least disturbed by other load.
  const minPlain = Math.min(...times.plain.slice(warmup));
  const minReserved = Math.min(...times.reserved.slice(warmup));
  console.log(
    `10k x 1k, every agent with a dynamic reservation and a persistent volume: full cycle ${fmt(reserved)} ms (${offers.reserved} offers); ` +
      `unreserved ${fmt(plain)} ms (${offers.plain} offers); ratio ${(reserved / plain).toFixed(2)} (target <= 1.5; medians of ${reps - warmup}, alternating, ${warmup} warm-up rounds left out); ` +
      `fastest runs ${fmt(minReserved)} / ${fmt(minPlain)} ms = ${(minReserved / minPlain).toFixed(2)}`,
  );
  process.exit(0);
}
for (const [agents, frameworks] of [only.split(',').map(Number) as [number, number]]) {
  const reps = 7;
  const full: number[] = [];
  const adds: number[] = [];
  let offers = 0;
  let alloc: HierarchicalAllocator | undefined;
  let first: Allocation[] = [];
  for (let r = 0; r < reps; r++) {
    alloc = undefined;
    first = []; // drop the previous run's offers before measuring the next
    gc?.();
    const a = build(agents, frameworks, shapes);
    adds.push(addAgentMs);
    gc?.(); // measure the cycle, not the collection of what building left behind
    const t0 = performance.now();
    first = a.allocate(0);
    full.push(performance.now() - t0);
    offers = first.length;
    alloc = a;
  }
  const a = alloc!;
  // Steady cycles: every framework declines everything it was offered with a long filter.
  const decline: number[] = [];
  let pending = first;
  let now = 1000;
  let lastOffers = 0;
  const cycles = quick ? 10 : 20;
  for (let c = 0; c < cycles; c++) {
    for (const o of pending) a.recoverResources(o.frameworkId, o.agentId, o.resources, now, 5_000_000);
    now += 1000;
    const t0 = performance.now();
    pending = a.allocate(now);
    decline.push(performance.now() - t0);
    lastOffers = pending.length;
  }
  gc?.();
  const heap = process.memoryUsage().heapUsed / 2 ** 20; // the allocator is still live: `a` is used below
  const { agents: liveAgents } = a.stats();
  const m = median(full);
  const sorted = decline.slice().sort((x, y) => x - y);
  console.log(
    `${`${agents / 1000}k x ${frameworks}`.padEnd(14)} | ${fmt(full[0]!).padStart(13)} | ${fmt(m).padStart(22)} | ${((m * 1000) / agents).toFixed(2).padStart(8)} | ` +
      `${fmt(median(adds)).padStart(11)} | ` +
      `${`${fmt(median(decline))}, ${fmt(sorted[Math.floor(sorted.length * 0.9)]!)}`.padStart(30)} | ${(median(decline) / m).toFixed(1).padStart(12)} | ` +
      `${`${offers}->${lastOffers}`.padStart(12)} | ${heap.toFixed(0).padStart(7)}` +
      (liveAgents === agents ? '' : ' (agent count mismatch)'),
  );
}
