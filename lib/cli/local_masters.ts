/**
 * The masters of `corral local --masters=N` (N > 1): an embedded ZooKeeper ensemble
 * (local_zookeeper.ts) and N masters in this process contending on it, each started again when
 * it stops by itself (it lost the lead or its candidacy), as systemd restarts `corral master`.
 */
import { join } from 'node:path';
import { describeError } from '../common/errors.ts';
import { parseFlags } from '../common/flags.ts';
import type { Logger } from '../common/log.ts';
import { masterFlags } from '../master/flags.ts';
import type { TlsConfig } from '../transport/index.ts';
import { type Running, type RunningMaster, startMaster } from './daemons.ts';
import { LocalZooKeeper } from './local_zookeeper.ts';

/** The masters' ZooKeeper session timeout here: shorter than Mesos's 10 s, so that a failover is quick to watch. */
export const LOCAL_ZK_SESSION_TIMEOUT = '5secs';

export interface LocalMasters extends Running {
  /** The --master of agents and frameworks: `zk://127.0.0.1:P1,…/corral`. */
  readonly zkUrl: string;
  /** The masters running now (one per slot; a restarting slot is absent). */
  running(): RunningMaster[];
  /** The master that leads and has recovered, once there is one. */
  leader(): RunningMaster | undefined;
  /** Resolves once a master leads and has recovered (rejects after `timeoutMs`). */
  untilLeading(timeoutMs?: number): Promise<RunningMaster>;
}

export interface LocalMastersOptions {
  readonly masters: number;
  readonly ip: string;
  /** The first master's port (the next ones follow it); 0: any free port for each. */
  readonly port: number;
  readonly workDir: string;
  /** More master flags (authentication), as text. */
  readonly args: readonly string[];
  readonly log: Logger;
  readonly tls?: TlsConfig;
}

export async function startLocalMasters(o: LocalMastersOptions): Promise<LocalMasters> {
  const zk = await LocalZooKeeper.start(join(o.workDir, 'zookeeper'), 3);
  const zkUrl = zk.url('/corral');
  const slots: (RunningMaster | undefined)[] = Array.from({ length: o.masters }, () => undefined);
  let stopping = false;
  const start = async (i: number): Promise<RunningMaster> => {
    const argv = [
      `--ip=${o.ip}`,
      `--port=${o.port === 0 ? 0 : o.port + i}`,
      `--hostname=${o.ip}`,
      `--zk=${zkUrl}`,
      `--zk_session_timeout=${LOCAL_ZK_SESSION_TIMEOUT}`,
      '--allocation_interval=100ms',
      ...o.args,
    ];
    const parsed = parseFlags(masterFlags, { argv, env: {} });
    const log = o.log.child({ role: `master${i}` });
    const m = await startMaster(parsed.values, parsed.text, log, o.tls ? { tls: o.tls } : {});
    slots[i] = m;
    void m.lost.then((why) => {
      slots[i] = undefined;
      if (stopping) return;
      log.warn({ reason: why }, `master ${i} stopped (${why}); starting it again, as its supervisor would`);
      void restart(i, 1000);
    });
    return m;
  };
  const restart = async (i: number, waitMs: number): Promise<void> => {
    await new Promise((r) => setTimeout(r, waitMs));
    if (stopping) return;
    try {
      await start(i);
    } catch (e) {
      o.log.warn({ master: i, err: describeError(e) }, 'a master could not start again; retrying');
      void restart(i, Math.min(waitMs * 2, 10_000));
    }
  };
  try {
    for (let i = 0; i < o.masters; i++) await start(i);
  } catch (e) {
    stopping = true;
    await Promise.allSettled(slots.map((m) => m?.stop()));
    await zk.stop();
    throw e;
  }
  const leader = () => slots.find((m) => m !== undefined && m.leadership.leading && m.master.isRecovered);
  return {
    zkUrl,
    port: slots[0]!.port,
    running: () => slots.filter((m): m is RunningMaster => m !== undefined),
    leader,
    async untilLeading(timeoutMs = 60_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const l = leader();
        if (l) return l;
        if (Date.now() > end) throw new Error(`no master led within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      stopping = true;
      await Promise.allSettled(slots.map((m) => m?.stop()));
      await zk.stop();
    },
  };
}
