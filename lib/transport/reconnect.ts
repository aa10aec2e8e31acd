/**
 * The reconnect loop shared by the v1 clients (lib/scheduler, lib/executor): one attempt after
 * another (connect, read the stream to its end), with a growing back-off between them, a pause
 * that a change (a new leader, stop()) cuts short, and a way for an attempt to end the loop.
 *
 * The back-off starts at `initialMs` and doubles up to `maxMs`; each wait is between half of it
 * and all of it (random jitter), so that clients that lost the same server do not all come back
 * at once. An attempt that got connected says `reset`: the next wait starts from `initialMs`.
 */

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** What one attempt says: end the loop, or try again after the back-off (or after `delayMs`). */
export type AttemptOutcome = 'stop' | { readonly reset?: boolean; readonly delayMs?: number };

export class ReconnectLoop {
  private attempts = 0;
  private stopped = false;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly backoff: BackoffOptions) {}

  /** The wait after `attempt` failed attempts in a row: min(maxMs, initialMs·2^attempt), less up to half of it at random. */
  delayMs(attempt: number): number {
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(attempt, 30));
    return base / 2 + (Math.random() * base) / 2;
  }

  /** Failed attempts since the last reset. */
  get attempt(): number {
    return this.attempts;
  }

  /** Run `attempt` until it says 'stop' or stop() is called; resolves then. */
  async run(attempt: () => Promise<AttemptOutcome>): Promise<void> {
    while (!this.stopped) {
      const r = await attempt();
      if (r === 'stop' || this.stopped) return;
      if (r.reset) this.attempts = 0;
      const wait = r.delayMs ?? this.delayMs(this.attempts);
      this.attempts++;
      await this.pause(wait);
    }
  }

  /** Cut the current wait short (the next attempt starts at once). */
  wake(): void {
    this.wakeUp?.();
  }

  /** No more attempts; a wait under way ends at once. */
  stop(): void {
    this.stopped = true;
    this.wakeUp?.();
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(t);
        resolve();
      };
    }).finally(() => (this.wakeUp = undefined));
  }
}
