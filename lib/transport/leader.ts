/**
 * Finding the leading master and contending to be it: the interfaces that the master, the agent
 * and the scheduler client use, whatever the mechanism (a fixed `host:port`, or ZooKeeper as in
 * `zookeeper/`). See docs/architecture.md §1 (masters and leadership).
 */
import type { MasterInfo } from '../proto/messages.ts';

/** The leading master as a detector sees it. */
export interface LeaderAddress {
  /** The master's id (MasterInfo.id); empty when only an address is known (a fixed --master). */
  readonly id: string;
  /** `host:port` to connect to (address.ip, else address.hostname, else hostname/pid; with the port). */
  readonly hostPort: string;
  /** The MasterInfo the leader published, when it published one. */
  readonly info?: MasterInfo;
}

/** Tells where the leading master is, and when that changes. */
export interface MasterDetector {
  /** Resolves once the first answer is known (a leader, or that there is none yet). */
  start(): Promise<void>;
  /** The leader now, or undefined when none is known. */
  current(): LeaderAddress | undefined;
  /** Called on every change, also to "no leader" (undefined). Returns the way to stop listening. */
  onChange(listener: (leader: LeaderAddress | undefined) => void): () => void;
  stop(): Promise<void>;
}

/** A detector for a single master given as `host:port`: it always leads. */
export class FixedMasterDetector implements MasterDetector {
  private readonly leader: LeaderAddress;

  constructor(hostPort: string) {
    this.leader = { id: '', hostPort };
  }

  async start(): Promise<void> {}

  current(): LeaderAddress {
    return this.leader;
  }

  onChange(): () => void {
    return () => {};
  }

  async stop(): Promise<void> {}
}

/** A master's candidacy in an election. */
export interface Contender {
  /** Join the election, publishing `info`; resolves once the candidacy is written. */
  contend(info: MasterInfo): Promise<void>;
  /** Resolves when this master becomes the leader. */
  readonly elected: Promise<void>;
  /**
   * Resolves, with the reason in words, when this master can no longer be sure it leads (its
   * session expired or is in doubt, the candidacy was removed, or it withdrew). Never rejects.
   */
  readonly lost: Promise<string>;
  /**
   * May this master act as the leader at this instant? False from the moment leadership is in
   * doubt, even before `lost` has resolved (e.g. the process was paused past its session
   * timeout). Checked before every message a leader sends.
   */
  mayAct(): boolean;
  /** Leave the election (the candidacy znode is deleted); `lost` resolves. */
  withdraw(): Promise<void>;
}
