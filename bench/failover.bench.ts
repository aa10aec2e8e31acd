/**
 * Master failover time (issue 15): `kill -9` of the leading master to the first offer the new
 * leader makes to the framework after it re-subscribed, with --zk_session_timeout=2secs, for
 * 1, 100 and 1,000 agents, each count run --rounds times (2 by default), the load average
 * printed before each run.
 *
 * The cluster: a 3-server ensemble of Debian's ZooKeeper on loopback (test/helpers/zookeeper.ts),
 * three `corral master --zk=… --zk_session_timeout=2secs` processes with their defaults
 * otherwise (the ZooKeeper registry; allocation every second), light simulated agents in a
 * process of their own (on a real cluster they are other hosts) that speak the real agent
 * protocol over Corral's HttpClient (REGISTER; REREGISTER with their id to the new leader when
 * their ZkMasterDetector names it, after a random wait up to --registration_backoff_factor (1 s)
 * and, after a refusal, again after a random wait up to a back-off that starts at 1 s and
 * doubles, as `corral agent` and Mesos agents do; PONG to pings), and a
 * framework that is a plain v1 HTTP client (test/helpers/cluster.ts's Scheduler) in this process
 * finding the leader with its own ZkMasterDetector (as a Mesos framework does with a zk://
 * master) and re-subscribing with its framework id (retried every 50 ms while the new leader
 * answers 503: it is recovering its registry).
 *
 * What is printed for each run, in ms from the kill:
 *   elected     the detector names the new leader (its candidacy is the lowest: the old
 *               leader's session expired at ZooKeeper, about the session timeout after the kill)
 *   subscribed  the framework is subscribed again (the new leader has recovered its registry)
 *   offer       the first OFFERS event from the new leader  ← the failover time
 *   agents      every agent re-registered with the new leader
 * Target: offer ≤ session timeout + 1 s at 1,000 agents. Anchors: Mesos defaults to a 10 s
 * session timeout plus re-registration; Borg reports about 10 s.
 *
 * FAILOVER_DEBUG=1 also prints the new leader's own timeline (from its log) and the framework's
 * SUBSCRIBE attempts; FAILOVER_PROF=<dir> has the masters write CPU profiles there.
 *
 *   npm run bench:failover [-- --agents=1,100,1000 --rounds=2]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../lib/common/log.ts';
import { AGENT_CALL_PATH, AGENT_ID_HEADER, AGENT_STREAM_HEADER, AGENT_SUBSCRIBE_PATH, type MasterToAgent } from '../lib/proto/internal.ts';
import { decodeMasterToAgent, encodeAgentToMaster } from '../lib/proto/internal_codec.ts';
import { stringifyWire } from '../lib/proto/json_text.ts';
import { parseResourcesText } from '../lib/common/resources/index.ts';
import { type ClientStream, HttpClient, type LeaderAddress, ZkMasterDetector } from '../lib/transport/index.ts';
import { Scheduler, frameworkInfo } from '../test/helpers/cluster.ts';
import { MasterProcess, leaderOf } from '../test/helpers/master_process.ts';
import { ZkEnsemble, zookeeperMissing } from '../test/helpers/zookeeper.ts';

const COUNTS = (process.argv.find((a) => a.startsWith('--agents='))?.slice('--agents='.length) ?? '1,100,1000').split(',').map(Number);
const ROUNDS = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 2);
const SESSION_TIMEOUT_MS = 2000;
/** The agents' --registration_backoff_factor (Corral's and Mesos's default). */
const BACKOFF_FACTOR_MS = 1000;
const RESOURCES = parseResourcesText('cpus:8;mem:16384;disk:100000;ports:[31000-32000]').toArray();

/** One simulated agent: its stream to the leader, re-made on every change of leader. */
class SimAgent {
  id = '';
  private stream: ClientStream | undefined;
  private streamId = '';
  private generation = 0;
  /** performance.now() of the last (RE)REGISTERED, and from which master. */
  registeredAt = 0;
  registeredWith = '';

  constructor(
    private readonly i: number,
    private readonly client: HttpClient,
  ) {}

  /** (Re-)register with `leader` (REREGISTER once it has an id); resolves on (RE)REGISTERED. */
  connect(leader: LeaderAddress): Promise<void> {
    this.stream?.close();
    const generation = ++this.generation;
    // As the real agent's MasterLink: the first registration at once, a re-registration with a
    // new leader after a random wait up to --registration_backoff_factor (as Mesos agents do);
    // then after a refusal a random wait up to the back-off, which starts at the factor and
    // doubles.
    let backoffMs = BACKOFF_FACTOR_MS;
    const retry = (attempt: () => Promise<void>) => {
      setTimeout(() => void attempt(), Math.random() * backoffMs);
      backoffMs = Math.min(backoffMs * 2, 60_000);
    };
    return new Promise((resolve) => {
      const attempt = async (): Promise<void> => {
        if (generation !== this.generation) return resolve();
        const agentInfo = { hostname: `sim${this.i}`, port: 5051, resources: RESOURCES, attributes: [] };
        const hello =
          this.id === ''
            ? { type: 'REGISTER' as const, agentInfo, version: 'bench' }
            : {
                type: 'REREGISTER' as const,
                agentId: this.id,
                agentInfo: { ...agentInfo, id: this.id },
                version: 'bench',
                tasks: [],
                executors: [],
                frameworks: [],
              };
        let stream: ClientStream;
        try {
          stream = await this.client.openStream({
            url: `http://${leader.hostPort}${AGENT_SUBSCRIBE_PATH}`,
            headers: { 'Content-Type': 'application/json' },
            body: stringifyWire(encodeAgentToMaster(hello)),
            timeoutMs: 30_000,
          });
        } catch {
          retry(attempt);
          return;
        }
        if (stream.status !== 200 || generation !== this.generation) {
          stream.close();
          retry(attempt); // 503 while the leader recovers
          return;
        }
        this.stream = stream;
        this.streamId = String(stream.headers[AGENT_STREAM_HEADER] ?? '');
        const headerId = String(stream.headers[AGENT_ID_HEADER] ?? '');
        try {
          for await (const record of stream.records) {
            const msg: MasterToAgent = decodeMasterToAgent(JSON.parse(record.toString('utf8')));
            if (msg.type === 'REGISTERED' || msg.type === 'REREGISTERED') {
              this.id = headerId || msg.agentId;
              this.registeredAt = performance.timeOrigin + performance.now();
              this.registeredWith = leader.hostPort;
              resolve();
            } else if (msg.type === 'PING') {
              void this.client
                .request({
                  url: `http://${leader.hostPort}${AGENT_CALL_PATH}`,
                  method: 'POST',
                  headers: { 'Content-Type': 'application/json', [AGENT_ID_HEADER]: this.id, [AGENT_STREAM_HEADER]: this.streamId },
                  body: encodeAgentToMaster({ type: 'PONG' }) as object,
                })
                .catch(() => {});
            }
          }
        } catch {
          // the leader went away: the detector names the next one
        }
      };
      if (this.id === '') void attempt();
      else setTimeout(() => void attempt(), Math.round(Math.random() * BACKOFF_FACTOR_MS));
    });
  }

  close(): void {
    this.generation++;
    this.stream?.close();
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Result {
  agents: number;
  electedMs: number;
  subscribedMs: number;
  offerMs: number;
  agentsMs: number;
}

/** Wall-clock milliseconds with sub-millisecond precision (comparable across processes). */
const wallNow = (): number => performance.timeOrigin + performance.now();

/** Messages of the simulated agents' process. */
type FromAgents = { readonly registered: number } | { readonly back: { readonly first: number; readonly last: number; readonly leader: string } };

/**
 * The simulated agents in a process of their own (this file with --sim-agents=N --zk=URL), so
 * that their work does not slow the framework's: on a real cluster they are other hosts.
 */
function startAgents(
  n: number,
  url: string,
): { child: ChildProcess; registered: Promise<void>; back: Promise<{ first: number; last: number; leader: string }> } {
  const child = fork(fileURLToPath(import.meta.url), [`--sim-agents=${n}`, `--zk=${url}`], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let registered!: () => void;
  let back!: (b: { first: number; last: number; leader: string }) => void;
  let failed!: (e: Error) => void;
  const died = new Promise<never>((_, reject) => (failed = reject));
  died.catch(() => {});
  child.on('message', (m: FromAgents) => {
    if ('registered' in m) registered();
    else back(m.back);
  });
  child.once('exit', (code, signal) => failed(new Error(`the simulated agents exited (${signal ?? code})`)));
  return {
    child,
    registered: Promise.race([new Promise<void>((resolve) => (registered = resolve)), died]),
    back: Promise.race([new Promise<{ first: number; last: number; leader: string }>((resolve) => (back = resolve)), died]),
  };
}

/** The --sim-agents process: N agents that register with the leader, then follow it. */
async function simAgentsMain(n: number, url: string): Promise<void> {
  const client = new HttpClient({ timeoutMs: 30_000 });
  const agents = Array.from({ length: n }, (_, i) => new SimAgent(i, client));
  const detector = new ZkMasterDetector({ url, field: '--master', sessionTimeoutMs: 10_000, logger: silentLogger });
  await detector.start();
  const first = await until('the agents detector to see the leader', 30_000, () => detector.current());
  // Register in waves of 200, as agents start over time.
  for (let i = 0; i < n; i += 200) await Promise.all(agents.slice(i, i + 200).map((a) => a.connect(first)));
  detector.onChange((l) => {
    if (l === undefined || l.hostPort === first.hostPort) return;
    void Promise.all(agents.map((a) => a.connect(l))).then(() => {
      const times = agents.map((a) => a.registeredAt);
      process.send!({ back: { first: Math.min(...times), last: Math.max(...times), leader: l.hostPort } } satisfies FromAgents);
    });
  });
  process.send!({ registered: n } satisfies FromAgents);
  process.on('disconnect', () => {
    for (const a of agents) a.close();
    client.close();
    void detector.stop().finally(() => process.exit(0));
  });
}

async function round(zk: ZkEnsemble, n: number, r: number): Promise<Result> {
  const url = zk.zkUrl(`/failover-${n}-${r}`);
  const masters: MasterProcess[] = [];
  const fwDetector = new ZkMasterDetector({ url, field: '--master', sessionTimeoutMs: 10_000, logger: silentLogger });
  const schedulers: Scheduler[] = [];
  let sim: ReturnType<typeof startAgents> | undefined;
  try {
    for (let i = 0; i < 3; i++)
      masters.push(
        await MasterProcess.start([`--zk=${url}`, `--zk_session_timeout=${SESSION_TIMEOUT_MS}ms`], {
          ...(process.env.FAILOVER_PROF ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${process.env.FAILOVER_PROF}`] } : {}),
        }),
      );
    const leader = await leaderOf(masters, 60_000);
    await fwDetector.start();
    sim = startAgents(n, url);
    await sim.registered;
    const info = frameworkInfo({ name: 'failover-bench', failover_timeout: 3600 });
    const fw = await Scheduler.subscribe(leader.address, info);
    schedulers.push(fw);
    await fw.waitFor((e) => e.type === 'SUBSCRIBED', 30_000, 'SUBSCRIBED');
    await fw.waitFor((e) => e.type === 'OFFERS', 30_000, 'offers from the first leader');
    const frameworkId = fw.frameworkId;

    // kill -9 the leader.
    const t0 = wallNow();
    leader.signal('SIGKILL');
    const next = await until('a new leader', 60_000, () => {
      const l = fwDetector.current();
      return l !== undefined && l.hostPort !== leader.address ? l : undefined;
    });
    const electedMs = wallNow() - t0;
    let again: Scheduler | undefined;
    for (;;) {
      const sentAt = wallNow() - t0;
      const s = await Scheduler.subscribe(next.hostPort, info, { frameworkId });
      schedulers.push(s);
      if (process.env.FAILOVER_DEBUG) console.log(`   subscribe sent ${Math.round(sentAt)} answered ${Math.round(wallNow() - t0)}: ${s.status}`);
      if (s.status === 200) {
        again = s;
        break;
      }
      s.close();
      if (wallNow() - t0 > 60_000) throw new Error(`the new leader refused the subscription: ${s.status}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    await again.waitFor((e) => e.type === 'SUBSCRIBED', 30_000, 'SUBSCRIBED');
    const subscribedMs = wallNow() - t0;
    await again.waitFor((e) => e.type === 'OFFERS', 60_000, 'offers from the new leader');
    const offerMs = again.receivedAt[again.events.findIndex((e) => e.type === 'OFFERS')]! - t0;
    const back = await Promise.race([
      sim.back,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the ${n} agents did not all re-register within 120 s`)), 120_000)),
    ]);
    if (back.leader !== next.hostPort) throw new Error(`the agents went to ${back.leader}, the framework to ${next.hostPort}`);
    const agentsMs = back.last - t0;
    if (process.env.FAILOVER_DEBUG) {
      const nm = masters.find((m) => m.address === next.hostPort)!;
      for (const l of nm.logs.filter((l) => l.time >= t0 - 1 && !/^re-registered agent/.test(l.msg)).slice(0, 30))
        console.log(`   ${Math.round(l.time - t0)} ${l.msg}`);
      const rr = nm.logs.filter((l) => /^re-registered agent/.test(l.msg));
      if (rr.length) console.log(`   re-registered (master's log): first ${Math.round(rr[0]!.time - t0)}, last ${Math.round(rr.at(-1)!.time - t0)}`);
    }
    return { agents: n, electedMs, subscribedMs, offerMs, agentsMs };
  } finally {
    for (const s of schedulers) s.close();
    if (sim?.child.connected) {
      const exited = new Promise((resolve) => sim!.child.once('exit', resolve));
      sim.child.disconnect();
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    }
    sim?.child.kill('SIGKILL');
    await fwDetector.stop();
    for (const m of masters) await m.stop().catch(() => {});
  }
}

const simAgents = process.argv.find((a) => a.startsWith('--sim-agents='));
if (simAgents !== undefined) {
  await simAgentsMain(Number(simAgents.slice('--sim-agents='.length)), process.argv.find((a) => a.startsWith('--zk='))!.slice('--zk='.length));
} else {
  await benchMain();
}

async function benchMain(): Promise<void> {
  const missing = zookeeperMissing();
  if (missing) {
    console.log(`failover bench skipped: ${missing}`);
    return;
  }
  const zk = await ZkEnsemble.start(3);
  console.log(`failover: kill -9 of the leading master → first offer from the new leader to the re-subscribed framework`);
  console.log(`3 masters (processes), 3 ZooKeeper servers (loopback), --zk_session_timeout=${SESSION_TIMEOUT_MS / 1000}secs, ${cpus().length} cores`);
  console.log('agents  round  load(1m)  elected  subscribed  first offer  all agents back   (ms after the kill)');
  try {
    for (const n of COUNTS) {
      for (let r = 1; r <= ROUNDS; r++) {
        const load = loadavg()[0]!.toFixed(2);
        const x = await round(zk, n, r);
        const f = (v: number) => String(Math.round(v)).padStart(7);
        console.log(
          `${String(n).padStart(6)}  ${String(r).padStart(5)}  ${load.padStart(8)}  ${f(x.electedMs)}  ${f(x.subscribedMs)}     ${f(x.offerMs)}      ${f(x.agentsMs)}`,
        );
      }
    }
    console.log(`target: first offer ≤ session timeout + 1 s = ${SESSION_TIMEOUT_MS + 1000} ms at 1,000 agents`);
  } finally {
    await zk.stop();
  }
}
