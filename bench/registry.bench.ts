/**
 * Registry throughput: agents admitted per second by the ZooKeeper registry (ZkRegistry on a real
 * 3-server ensemble of Debian's ZooKeeper on loopback) and by the file registry (FileRegistry,
 * --registry=replicated_log), in the same run, alternately, --rounds times each.
 *
 * Each side is handed every admission at once (agents registering together, as after a restart
 * of the cluster) and timed until the last one resolved, i.e. was durable:
 *   - ZooKeeper: the admissions are batched into multis of up to 512 KiB (check of the epoch +
 *     one create per agent), 2 in flight; a multi resolves once a quorum (2 of 3 servers) has
 *     fsynced it to its transaction log. Target: >= 5,000 agents/s.
 *   - file: admissions asked while a write is under way go together in the next one, each batch
 *     appended to the registry's journal and fsynced (lib/master/registry/file.ts); it is run
 *     with --file-agents agents.
 * Also timed: recover() of the ZooKeeper registry by a second master (epoch bump + reading every
 * agent's znode), what a newly elected leader does first; and, as the peer without batching,
 * 300 updates made one at a time, each waiting for the one before (one multi each). Both write to the same disk (/tmp).
 * The records are ~1.2 KB of JSON each (test/helpers/registry_agents.ts).
 *
 *   npm run bench:registry [-- --agents=10000 --file-agents=1000 --rounds=2 --in-flight=2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRegistry, type RegistryAgent, type ZkRegistrySession, ZkRegistry } from '../lib/master/registry/index.ts';
import { ZkSession } from '../lib/transport/index.ts';
import { registryAgent } from '../test/helpers/registry_agents.ts';
import { ZkEnsemble, zookeeperMissing } from '../test/helpers/zookeeper.ts';
import { arg } from './common.ts';

const AGENTS = arg('agents', 10_000);
const FILE_AGENTS = arg('file-agents', 1_000);
const ROUNDS = arg('rounds', 2);
const IN_FLIGHT = arg('in-flight', 2);
const ONE_BY_ONE = 300;

const rate = (n: number, ms: number): string => `${Math.round((n / ms) * 1000).toLocaleString('en-US')} agents/s`;

async function zkRound(
  zk: ZkEnsemble,
  round: number,
  agents: readonly RegistryAgent[],
): Promise<{ ms: number; multis: number; recoverMs: number; oneByOneMs: number }> {
  const url = zk.zkUrl(`/bench-${process.pid}-${round}`);
  const session = await ZkSession.open({ url, field: '--zk', sessionTimeoutMs: 10_000 });
  const reader = await ZkSession.open({ url, field: '--zk', sessionTimeoutMs: 10_000 });
  try {
    let multis = 0;
    const counted: ZkRegistrySession = {
      url: session.url,
      mkdirp: (...a) => session.mkdirp(...a),
      create: (...a) => session.create(...a),
      setData: (...a) => session.setData(...a),
      getData: (...a) => session.getData(...a),
      getChildren: (...a) => session.getChildren(...a),
      exists: (...a) => session.exists(...a),
      multi: (ops) => {
        multis++;
        return session.multi(ops);
      },
    };
    const registry = new ZkRegistry({ session: counted, maxInFlight: IN_FLIGHT });
    await registry.recover();
    const t0 = performance.now();
    await Promise.all(agents.map((a) => registry.admitAgent(a)));
    const ms = performance.now() - t0;
    const t1 = performance.now();
    const successor = new ZkRegistry({ session: reader });
    const state = await successor.recover();
    const recoverMs = performance.now() - t1;
    if (state.agents.length !== agents.length) throw new Error(`recovered ${state.agents.length} agents of ${agents.length}`);
    // Without batching (by the successor: the first registry is fenced out now): one call at a
    // time, each waiting for the one before (a multi each).
    const t2 = performance.now();
    for (let i = 0; i < ONE_BY_ONE; i++) await successor.updateAgent(agents[i]!);
    const oneByOneMs = performance.now() - t2;
    return { ms, multis, recoverMs, oneByOneMs };
  } finally {
    await session.close();
    await reader.close();
  }
}

async function fileRound(agents: readonly RegistryAgent[]): Promise<{ ms: number; bytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-registry-'));
  try {
    const registry = new FileRegistry(dir);
    await registry.recover();
    const t0 = performance.now();
    await Promise.all(agents.map((a) => registry.admitAgent(a)));
    const ms = performance.now() - t0;
    const state = await new FileRegistry(dir).recover();
    if (state.agents.length !== agents.length) throw new Error(`recovered ${state.agents.length} agents of ${agents.length}`);
    return { ms, bytes: registry.size() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const [l1, l5, l15] = loadavg();
  console.log(`load average at start: ${l1!.toFixed(2)} ${l5!.toFixed(2)} ${l15!.toFixed(2)} (1, 5, 15 min) on ${cpus().length} cores`);
  const missing = zookeeperMissing();
  if (missing) {
    console.log(`skipped: ZooKeeper cannot run here: ${missing}`);
    return;
  }
  const zkAgents = Array.from({ length: AGENTS }, (_, i) => registryAgent('bench', i));
  const fileAgents = zkAgents.slice(0, FILE_AGENTS);
  const recordBytes = Math.round(zkAgents.reduce((n, a) => n + Buffer.byteLength(JSON.stringify(a)), 0) / zkAgents.length);
  console.log(`records: ${recordBytes} bytes of JSON per agent; ZooKeeper: ${AGENTS} agents, ${IN_FLIGHT} multis in flight; file: ${FILE_AGENTS} agents`);
  const zk = await ZkEnsemble.start(3);
  const zkRates: number[] = [];
  const fileRates: number[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const z = await zkRound(zk, round, zkAgents);
      zkRates.push((AGENTS / z.ms) * 1000);
      console.log(
        `round ${round} ZooKeeper: ${AGENTS} admitted in ${z.ms.toFixed(0)} ms = ${rate(AGENTS, z.ms)} (${z.multis} multis, ~${Math.round(AGENTS / z.multis)} agents each); ` +
          `recover() of them by a second registry: ${z.recoverMs.toFixed(0)} ms; ` +
          `unbatched, one at a time: ${rate(ONE_BY_ONE, z.oneByOneMs)}`,
      );
      const f = await fileRound(fileAgents);
      fileRates.push((FILE_AGENTS / f.ms) * 1000);
      console.log(
        `round ${round} file:      ${FILE_AGENTS} admitted in ${f.ms.toFixed(0)} ms = ${rate(FILE_AGENTS, f.ms)} (${FILE_AGENTS} whole-file writes, the last of ${(f.bytes / 1024).toFixed(0)} KiB)`,
      );
    }
  } finally {
    await zk.stop();
  }
  const bestZk = Math.max(...zkRates);
  const bestFile = Math.max(...fileRates);
  console.log(
    `best: ZooKeeper ${Math.round(bestZk).toLocaleString('en-US')} agents/s (${AGENTS} agents; target >= 5,000: ${bestZk >= 5000 ? 'met' : 'NOT met'}), ` +
      `file ${Math.round(bestFile).toLocaleString('en-US')} agents/s (${FILE_AGENTS} agents)`,
  );
  const [e1] = loadavg();
  console.log(`load average at the end: ${e1!.toFixed(2)} (1 min)`);
}

await main();
