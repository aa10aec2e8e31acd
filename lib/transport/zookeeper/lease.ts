/**
 * The lease of a ZooKeeper session: may its holder act on what the session holds (its ephemeral
 * znodes, hence its leadership) at this instant?
 *
 * ZooKeeper expires a session the session timeout T after the last message it got from the
 * client, and a client learns of it only when it reconnects. A process that acts because of an
 * ephemeral znode (a leader) must therefore stop trusting its session on its own clock, before T
 * has passed. The lease sends a probe (an `exists`) every T/5; a probe that is answered proves
 * the server heard the client at or after the probe was sent, so the session cannot expire
 * before send time + T. The lease is valid while the last answered probe was sent less than
 * 2/3·T ago: a client that is disconnected, or talks to a server that stopped answering, loses
 * it with T/3 to spare. A watchdog timer measures its own gaps: an event loop that stalled more
 * than T/2 (SIGSTOP, a swap storm) cancels the lease until a probe sent after the stall is
 * answered; valid() checks the same gap itself, so a caller that runs first after SIGCONT, before
 * any timer, already gets false. Times are performance.now() milliseconds (monotonic).
 */
import type { Logger } from '../../common/log.ts';

/** The lease lasts this share of the session timeout from the send of the last answered probe. */
const LEASE_SHARE = 2 / 3;
/** An event-loop gap longer than this share of the session timeout cancels the lease. */
const STALL_SHARE = 1 / 2;
const PROBE_SHARE = 1 / 5;

/** What the lease needs of its session. */
export interface LeaseSession {
  /** The session timeout granted (or asked, before a server granted one). */
  timeoutMs(): number;
  connected(): boolean;
  /** Send one cheap request; call `answered(true)` when the server answered it. */
  probe(answered: (ok: boolean) => void): void;
  /** Drop the connection (the server stopped answering): the client reconnects to another server. */
  dropConnection(): void;
}

export class SessionLease {
  private readonly session: LeaseSession;
  private readonly log: Logger;
  private readonly lostListeners = new Set<(reason: string) => void>();
  private readonly heldListeners = new Set<() => void>();
  private leaseFrom: number | undefined;
  private lastStall = -Infinity;
  private lastTick = performance.now();
  private probeSentAt: number | undefined;
  private held = false;
  private ended = false;
  private watchdog: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;

  constructor(session: LeaseSession, log: Logger) {
    this.session = session;
    this.log = log;
  }

  /** Start the watchdog and the probes (timers that do not keep the process alive). */
  start(): void {
    const T = this.session.timeoutMs();
    this.lastTick = performance.now();
    this.watchdog = setInterval(() => this.tick(), Math.max(10, Math.min(250, Math.floor(T / 10))));
    this.probeTimer = setInterval(() => this.probe(), Math.max(20, Math.floor(T * PROBE_SHARE)));
    this.watchdog.unref();
    this.probeTimer.unref();
  }

  /** End the lease for good (the session expired or was closed); `reason` goes to the listeners if it was held. */
  end(reason: string): void {
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.watchdog = this.probeTimer = undefined;
    this.lose(reason);
    this.ended = true;
    this.lostListeners.clear();
    this.heldListeners.clear();
  }

  /** Is the lease valid at this instant? */
  valid(): boolean {
    const now = performance.now();
    if (this.ended) return false;
    if (now - this.lastTick > this.session.timeoutMs() * STALL_SHARE) return false; // a stall the watchdog has not seen yet
    return this.validAt(now);
  }

  /** Called with the reason each time a held lease is lost. Returns the way to stop listening. */
  onLost(listener: (reason: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Called each time the lease is (again) held. Returns the way to stop listening. */
  onHeld(listener: () => void): () => void {
    this.heldListeners.add(listener);
    return () => this.heldListeners.delete(listener);
  }

  /** Send one probe unless one is in flight (also called when the session connects). */
  probe(): void {
    if (this.ended || this.probeSentAt !== undefined || !this.session.connected()) return;
    const sentAt = performance.now();
    this.probeSentAt = sentAt;
    this.session.probe((ok) => {
      if (this.probeSentAt === sentAt) this.probeSentAt = undefined;
      if (!ok || this.ended) return;
      if (this.leaseFrom === undefined || sentAt > this.leaseFrom) this.leaseFrom = sentAt;
      if (!this.held && this.valid()) {
        this.held = true;
        for (const l of [...this.heldListeners]) l();
      }
    });
  }

  private validAt(now: number): boolean {
    return this.leaseFrom !== undefined && this.leaseFrom > this.lastStall && now - this.leaseFrom < this.session.timeoutMs() * LEASE_SHARE;
  }

  private tick(): void {
    const now = performance.now();
    const gap = now - this.lastTick;
    this.lastTick = now;
    const T = this.session.timeoutMs();
    if (gap > T * STALL_SHARE) {
      this.lastStall = now;
      this.log.error({ stalledMs: Math.round(gap), sessionTimeoutMs: T }, 'the event loop stalled past half the ZooKeeper session timeout');
      this.lose(`the process stalled for ${formatMs(gap)} (more than half the ZooKeeper session timeout of ${formatMs(T)})`);
      this.probe();
      return;
    }
    if (this.held && !this.validAt(now)) {
      const since = this.leaseFrom === undefined ? 0 : now - this.leaseFrom;
      const how = this.session.connected() ? 'no answer from ZooKeeper' : 'disconnected from ZooKeeper';
      this.lose(`${how} for ${formatMs(since)} (the lease ends at 2/3 of the session timeout of ${formatMs(T)})`);
    }
    // A server that keeps the connection open but stopped answering: drop it, the client reconnects elsewhere.
    if (this.session.connected() && this.probeSentAt !== undefined && now - this.probeSentAt > T * LEASE_SHARE) {
      this.log.warn({ waitedMs: Math.round(now - this.probeSentAt) }, 'the ZooKeeper server stopped answering; reconnecting');
      this.probeSentAt = undefined;
      this.session.dropConnection();
    }
  }

  private lose(reason: string): void {
    if (!this.held) return;
    this.held = false;
    this.log.warn({ reason }, 'ZooKeeper lease lost');
    for (const l of [...this.lostListeners]) l(reason);
  }
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
