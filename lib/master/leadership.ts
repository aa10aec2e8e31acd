/**
 * Where this master stands among the masters, as its http/ handlers need it: leading (from its
 * election on, recovering its registry until Master.isRecovered), or following, with the
 * leader known or not. A master that runs alone leads from the start. The election itself is
 * the daemon's (a Contender); the leader is learnt from a MasterDetector. See
 * docs/architecture.md §1 (masters and leadership).
 */
import type { MasterInfo } from '../proto/messages.ts';
import type { LeaderAddress, MasterDetector } from '../transport/index.ts';

export class Leadership {
  private leadingNow: boolean;

  /**
   * @param selfId this master's id: a detector that already sees this master's own candidacy
   *   lowest, before the election says so, is not taken for another leader.
   * @param detector where the leader is; absent for a master that runs alone (it leads).
   */
  private constructor(
    private readonly selfId: string,
    private readonly detector: MasterDetector | undefined,
  ) {
    this.leadingNow = detector === undefined;
  }

  /** A master without an election: it leads from the start. */
  static alone(selfId = ''): Leadership {
    return new Leadership(selfId, undefined);
  }

  /** A master in an election: it follows the detector's leader until `elected()`. */
  static contending(selfId: string, detector: MasterDetector): Leadership {
    return new Leadership(selfId, detector);
  }

  /** This master won the election. */
  elected(): void {
    this.leadingNow = true;
  }

  get leading(): boolean {
    return this.leadingNow;
  }

  /**
   * The detector already names this master, and the election has not told it yet: it is about
   * to lead (its candidacy is the lowest).
   */
  get aboutToLead(): boolean {
    if (this.leadingNow || this.detector === undefined || this.selfId === '') return false;
    return this.detector.current()?.id === this.selfId;
  }

  /**
   * The other master that leads, while this one follows; undefined when this one leads or no
   * leader is known (also while the detector sees this master's own candidacy lowest and the
   * election has not told it yet).
   */
  leader(): LeaderAddress | undefined {
    if (this.leadingNow || this.detector === undefined) return undefined;
    const l = this.detector.current();
    if (l === undefined || (l.id !== '' && l.id === this.selfId)) return undefined;
    return l;
  }
}

/**
 * `host` and `port` to reach a leader at, as Mesos writes them into a redirect: the hostname
 * it published (else the address it is reached at), and its port.
 */
export function leaderHostPort(leader: LeaderAddress): { host: string; port: number } {
  const i = leader.hostPort.lastIndexOf(':');
  const host = leader.info?.hostname || leader.hostPort.slice(0, i);
  const port = leader.info?.port ?? Number(leader.hostPort.slice(i + 1));
  return { host, port };
}

/** The leader's MasterInfo as /master/state shows it (made from its address when it published none). */
export function leaderInfo(leader: LeaderAddress): MasterInfo {
  if (leader.info) return leader.info;
  const { host, port } = leaderHostPort(leader);
  return { id: leader.id, ip: 0, port, pid: `master@${leader.hostPort}`, hostname: host };
}
