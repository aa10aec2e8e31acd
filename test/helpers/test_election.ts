/**
 * An election the test drives by hand, for a master started by `startMaster` with
 * `DaemonOptions.election`: the contender is elected, loses or doubts when told, and the
 * detector shows whichever leader the test sets. No ZooKeeper.
 */
import type { MasterInfo } from '../../lib/proto/messages.ts';
import type { Contender, LeaderAddress, MasterDetector } from '../../lib/transport/index.ts';
import type { Election } from '../../lib/cli/daemons.ts';

export class TestContender implements Contender {
  /** What the master published when it joined. */
  info: MasterInfo | undefined;
  withdrawn = false;
  /** What mayAct() answers once elected (the test sets it false to put the lead in doubt). */
  sure = true;
  private isElected = false;
  private isLost = false;
  readonly elected: Promise<void>;
  readonly lost: Promise<string>;
  private markElected!: () => void;
  private markLost!: (why: string) => void;

  constructor() {
    this.elected = new Promise((resolve) => (this.markElected = resolve));
    this.lost = new Promise((resolve) => (this.markLost = resolve));
  }

  async contend(info: MasterInfo): Promise<void> {
    this.info = info;
  }

  elect(): void {
    this.isElected = true;
    this.markElected();
  }

  lose(why: string): void {
    this.isLost = true;
    this.markLost(why);
  }

  mayAct(): boolean {
    return this.isElected && !this.isLost && this.sure;
  }

  async withdraw(): Promise<void> {
    this.withdrawn = true;
    this.lose('withdrew');
  }
}

export class TestDetector implements MasterDetector {
  private leader: LeaderAddress | undefined;
  private readonly listeners = new Set<(l: LeaderAddress | undefined) => void>();
  started = false;
  stopped = false;

  async start(): Promise<void> {
    this.started = true;
  }

  current(): LeaderAddress | undefined {
    return this.leader;
  }

  set(leader: LeaderAddress | undefined): void {
    this.leader = leader;
    for (const l of this.listeners) l(leader);
  }

  onChange(listener: (l: LeaderAddress | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}

export function testElection(): Election & { contender: TestContender; detector: TestDetector } {
  return { contender: new TestContender(), detector: new TestDetector() };
}

/** A leader as a detector reports it from a published MasterInfo. */
export function leaderAt(id: string, ip: string, port: number, hostname = ip): LeaderAddress {
  return {
    id,
    hostPort: `${ip}:${port}`,
    info: { id, ip: 0, port, pid: `master@${ip}:${port}`, hostname, version: '1.11.0', address: { hostname, ip, port } },
  };
}
