/**
 * network/port_mapping benchmark (needs root and the network isolator build). Everything runs in
 * two test hosts A and B (test/helpers/test_hosts.ts); this script re-runs itself inside A's
 * network namespace (nsenter --net), so the isolator treats A as its host. The root namespace
 * is not touched.
 *
 * 1. Launch latency, COUNT `true` containers one at a time through the containerizer the agent
 *    builds: cgroups/cpu,cgroups/mem vs cgroups/cpu,cgroups/mem,network/port_mapping.
 *    launch→running (prepared, supervisor started, isolated, released) p50/p99.
 * 2. The isolator's own work per container: isolate() (veth made in the container's namespace,
 *    the whole filter set, HTB) and cleanup() (filters removed; the veth goes with the
 *    namespace, host ends left over are deleted in one group request), p50/p99; and the time
 *    until the kernel has removed every veth after a batch of COUNT containers ended.
 * 3. Throughput (what B received): iperf3 from A to a server in B, from A's own namespace (the baseline) and from
 *    a container of the isolator (same path as a task's); and the egress limit's accuracy at 10
 *    and 100 Mbit/s.
 *
 *    Also isolate() with RUNNING containers up (their ARP/ICMP copies are there).
 *
 *   npm run bench:port_mapping [-- --count=100 --seconds=5 --running=100 --warm=4]
 *   (--warm=N: --network_warm_namespaces=N, by default the agent's default; --warm=0: every
 *   container's namespace made as its command starts, the path a launch takes when none is ready)
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContainerizer } from '../lib/agent/containerizer/factory.ts';
import { agentFlagValues } from '../test/helpers/agent_flags.ts';
import { agentFlags } from '../lib/agent/flags.ts';
import { PortMappingIsolator } from '../lib/agent/containerizer/isolators/port_mapping/index.ts';
import { parseResourcesText } from '../lib/common/resources/index.ts';
import { listLinks, listNetns, nativeFeatures, openCgroups, removeNetns } from '../lib/linux/index.ts';
import { createTestHosts } from '../test/helpers/test_hosts.ts';
import { arg, loadLine, ms, pct } from './common.ts';

const COUNT = arg('count', 100);
const SECONDS = arg('seconds', 5);
const RUNNING = arg('running', 100);
const WARM = arg('warm', agentFlags.network_warm_namespaces.default ?? 0);
const WARMUP = 5;
const CHILD = process.env.CORRAL_BENCH_PM_CHILD;

interface ChildResult {
  readonly plain: number[];
  readonly network: number[];
  readonly isolate: number[];
  readonly cleanup: number[];
  readonly vethsGoneMs: number;
  readonly busy: number[];
  readonly throughput: Record<string, number>;
}

async function child(peer: string): Promise<void> {
  const cgroups = openCgroups('/sys/fs/cgroup');
  const base = mkdtempSync(join(tmpdir(), 'corral-bench-pm-'));
  const root = `corral-bench-pm-${process.pid}`;
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  // Time the isolator's own steps.
  const isolate: number[] = [];
  const cleanup: number[] = [];
  const proto = PortMappingIsolator.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const [name, into] of [
    ['isolate', isolate],
    ['cleanup', cleanup],
  ] as const) {
    const orig = proto[name]!;
    proto[name] = async function (this: unknown, ...a: unknown[]) {
      const t0 = performance.now();
      try {
        return await orig.apply(this, a);
      } finally {
        into.push(performance.now() - t0);
      }
    };
  }
  // network/port_mapping's flags and the agent's port pools.
  const network = (rate?: number) => ({
    ephemeral_ports_per_container: 128,
    network_warm_namespaces: WARM,
    ...(rate ? { egress_rate_limit_per_container: rate } : {}),
  });
  const resources = parseResourcesText('ports:[31000-32000];ephemeral_ports:[32768-57343]');
  let n = 0;
  const launchAll = async (isolation: string, count: number, rate?: number): Promise<number[]> => {
    const c = createContainerizer(
      agentFlagValues({ isolation, cgroups_root: `${root}/${n++}`, ...(isolation.includes('port_mapping') ? network(rate) : {}) }),
      { cgroups, resources },
    );
    const out: number[] = [];
    for (let i = 0; i < count + WARMUP; i++) {
      const d = join(base, String(n++));
      mkdirSync(join(d, 'sandbox'), { recursive: true });
      mkdirSync(join(d, 'run'), { recursive: true });
      const t0 = performance.now();
      const ctr = await c.launch({
        containerId: randomUUID(),
        sandbox: join(d, 'sandbox'),
        runDir: join(d, 'run'),
        argv: ['true'],
        env,
        resources: parseResourcesText('cpus:0.1;mem:64;ports:[31000-31000]'),
      });
      const t1 = performance.now();
      await ctr.termination;
      if (i >= WARMUP) out.push(t1 - t0);
    }
    await c.closeIsolators();
    c.close();
    return out;
  };
  const plain = await launchAll('cgroups/cpu,cgroups/mem', COUNT);
  isolate.length = 0;
  cleanup.length = 0;
  const withNet = await launchAll('cgroups/cpu,cgroups/mem,network/port_mapping', COUNT);
  isolate.splice(0, WARMUP);
  cleanup.splice(0, WARMUP);
  const t0 = performance.now();
  while (listLinks().some((l) => /^corralw?\d+$/.test(l.name)) && performance.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 2));
  const vethsGoneMs = performance.now() - t0;
  const isolateAlone = [...isolate];
  const cleanupAlone = [...cleanup];

  // The same with RUNNING containers already up (the ARP/ICMP copies are rewritten per chunk of 32).
  const busy: number[] = [];
  {
    const c = createContainerizer(
      agentFlagValues({ isolation: 'cgroups/cpu,cgroups/mem,network/port_mapping', cgroups_root: `${root}/${n++}`, ...network() }),
      { cgroups, resources },
    );
    const started: { containerId: string; termination: Promise<unknown> }[] = [];
    const launch = async (argv: string[]) => {
      const d = join(base, String(n++));
      mkdirSync(join(d, 'sandbox'), { recursive: true });
      mkdirSync(join(d, 'run'), { recursive: true });
      const containerId = randomUUID();
      const ctr = await c.launch({
        containerId,
        sandbox: join(d, 'sandbox'),
        runDir: join(d, 'run'),
        argv,
        env,
        resources: parseResourcesText('cpus:0.01;mem:32'),
      });
      return { containerId, termination: ctr.termination };
    };
    try {
      for (let i = 0; i < RUNNING; i++) started.push(await launch(['sleep', '600']));
      const veths = listLinks().filter((l) => /^corralw?\d+$/.test(l.name)).length;
      if (veths < RUNNING) throw new Error(`only ${veths} of ${RUNNING} containers have their network`);
      isolate.length = 0;
      for (let i = 0; i < 20; i++) await (await launch(['true'])).termination;
      busy.push(...isolate);
    } finally {
      // Also when the run failed: no container outlives the benchmark.
      for (const s of started) await c.kill(s.containerId, 0).catch(() => undefined);
      await Promise.all(started.map((s) => s.termination));
    }
    await c.closeIsolators();
    c.close();
  }

  // Throughput: iperf3 -c peer, from here and from a container; then under limits.
  const iperf = (argv: string[]): number => {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e6;
  };
  const iperfArgs = ['iperf3', '-c', peer, '-t', String(SECONDS), '-J'];
  const inContainer = async (rate?: number): Promise<number> => {
    const c = createContainerizer(
      agentFlagValues({ isolation: 'cgroups/cpu,cgroups/mem,network/port_mapping', cgroups_root: `${root}/${n++}`, ...network(rate) }),
      { cgroups, resources },
    );
    const d = join(base, String(n++));
    mkdirSync(join(d, 'sandbox'), { recursive: true });
    mkdirSync(join(d, 'run'), { recursive: true });
    const ctr = await c.launch({
      containerId: randomUUID(),
      sandbox: join(d, 'sandbox'),
      runDir: join(d, 'run'),
      argv: iperfArgs,
      env,
      resources: parseResourcesText('cpus:1;mem:256'),
    });
    await ctr.termination;
    await c.closeIsolators();
    c.close();
    const j = JSON.parse(readFileSync(join(d, 'sandbox', 'stdout'), 'utf8')) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e6;
  };
  const throughput: Record<string, number> = {};
  throughput.host = iperf(iperfArgs);
  throughput.container = await inContainer();
  throughput.limit10 = await inContainer(10e6 / 8);
  throughput.limit100 = await inContainer(100e6 / 8);
  rmSync(base, { recursive: true, force: true });
  for (const r of [root]) spawnSync('sh', ['-c', `for c in /sys/fs/cgroup/*/${r}; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \\; ; done`]);
  const result: ChildResult = { plain, network: withNet, isolate: isolateAlone, cleanup: cleanupAlone, vethsGoneMs, busy, throughput };
  process.stdout.write(JSON.stringify(result) + '\n');
}

async function main(): Promise<void> {
  console.log(loadLine());
  if (process.getuid?.() !== 0 || !nativeFeatures().networkIsolator) {
    console.log('port_mapping: needs root and `npm run build:native:netiso`; not run');
    return;
  }
  if (spawnSync('iperf3', ['--version']).error) throw new Error('iperf3 is not installed (Debian package iperf3)');
  const net = await createTestHosts(2, { subnet: '10.79.0' });
  try {
    const [a, b] = net.hosts;
    a!.execSync('sysctl', ['-w', 'net.ipv4.ip_local_port_range=57345 60999']);
    const server = b!.start('iperf3', ['-s', '--forceflush']);
    await server.waitFor(/listening/i, 10_000);
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync(
      'nsenter',
      [
        `--net=${a!.netnsPath}`,
        process.execPath,
        '--import',
        'tsx',
        self,
        `--count=${COUNT}`,
        `--seconds=${SECONDS}`,
        `--running=${RUNNING}`,
        `--warm=${WARM}`,
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, CORRAL_BENCH_PM_CHILD: b!.address },
        cwd: join(self, '..', '..'),
        maxBuffer: 1 << 24,
      },
    );
    if (r.status !== 0) throw new Error(`the run inside host A failed: ${r.stderr.trim().slice(-2000)}`);
    const f = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
    console.log(
      `port_mapping: ${COUNT} containers one at a time in test host A (after ${WARMUP} warm-up), task ports [31000-31000], ephemeral blocks of 128${WARM > 0 ? `, ${WARM} namespaces made ahead` : ', no namespace made ahead'}`,
    );
    console.log(`  launch→running, cgroups/cpu,mem:                       p50 ${ms(pct(f.plain, 50))}  p99 ${ms(pct(f.plain, 99))}`);
    console.log(`  launch→running, cgroups/cpu,mem + network/port_mapping:  p50 ${ms(pct(f.network, 50))}  p99 ${ms(pct(f.network, 99))}`);
    console.log(`  isolate (veth in the container's namespace, 30+ filters): p50 ${ms(pct(f.isolate, 50))}  p99 ${ms(pct(f.isolate, 99))}`);
    console.log(`  cleanup (filters, ARP/ICMP copies, veth to the group):    p50 ${ms(pct(f.cleanup, 50))}  p99 ${ms(pct(f.cleanup, 99))}`);
    console.log(`  every veth gone after the last container ended: ${ms(f.vethsGoneMs)}`);
    console.log(`  isolate with ${RUNNING} containers running:                  p50 ${ms(pct(f.busy, 50))}  p99 ${ms(pct(f.busy, 99))}`);
    const t = f.throughput;
    console.log(
      `  iperf3 A→B (${SECONDS} s): host namespace ${t.host!.toFixed(0)} Mbit/s, container ${t.container!.toFixed(0)} Mbit/s (${(t.container! / t.host!).toFixed(2)} of the host)`,
    );
    console.log(
      `  egress limit 10 Mbit/s: ${t.limit10!.toFixed(2)} Mbit/s (${(((t.limit10! - 10) / 10) * 100).toFixed(1)}%); 100 Mbit/s: ${t.limit100!.toFixed(1)} Mbit/s (${(((t.limit100! - 100) / 100) * 100).toFixed(1)}%)`,
    );
  } finally {
    // Namespaces the child's isolators made ahead and left pinned when it exited.
    for (const name of listNetns().filter((n) => n.startsWith('corral-warm-'))) removeNetns(name);
    await net.destroy();
  }
}

if (CHILD) await child(CHILD);
else await main();
