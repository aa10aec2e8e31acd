/**
 * The scheduler client's acknowledgements (lib/scheduler/client.ts): each one is kept until the
 * master has taken it (202) and sent again after each failure (a broken connection, a 5xx, no
 * subscription: then at the next SUBSCRIBED), with the client's back-off. A 4xx other than
 * 401/403 ends it (the master will never take it). The latest ACKED_KEPT delivered ones are
 * remembered: an update that comes again after its acknowledgement was delivered (the master
 * took it but its agent never got it, as when the agent had not re-registered with a restarted
 * master yet) is acknowledged again.
 */
import { describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { TaskStatus } from '../proto/messages.ts';
import { HttpError } from '../transport/index.ts';

/** How many delivered acknowledgements are remembered to acknowledge a repeat of their update again. */
export const ACKED_KEPT = 10_000;

export interface Ack {
  readonly agentId: string;
  readonly taskId: string;
  readonly uuid: string;
}

interface PendingAck extends Ack {
  readonly done: Promise<void>;
  resolve(): void;
  reject(e: Error): void;
}

export interface AcknowledgementsOptions {
  /** Send one ACKNOWLEDGE call; resolves when the master took it. */
  send(ack: Ack): Promise<void>;
  /** Whether there is a subscription to send on now. */
  connected(): boolean;
  /** Whether the client has stopped (nothing is sent any more). */
  stopped(): boolean;
  /** The wait before the next try after `attempt` failures. */
  delayMs(attempt: number): number;
  readonly log: Logger;
}

function keyOf(s: { readonly agentId: string; readonly taskId: string; readonly uuid: string }): string {
  return `${s.agentId}/${s.taskId}/${s.uuid}`;
}

export class Acknowledgements {
  private readonly pending = new Map<string, PendingAck>();
  private readonly delivered = new Set<string>();

  constructor(private readonly o: AcknowledgementsOptions) {}

  /** Acknowledge `status` (one with agentId and uuid); the same update twice shares one promise while it is pending. */
  acknowledge(status: TaskStatus & { readonly agentId: string; readonly uuid: string }): Promise<void> {
    const key = keyOf(status);
    const known = this.pending.get(key);
    if (known) return known.done;
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => {});
    const ack: PendingAck = { agentId: status.agentId, taskId: status.taskId, uuid: status.uuid, done, resolve, reject };
    this.pending.set(key, ack);
    void this.send(key, ack, 0);
    return done;
  }

  /** True for an update whose acknowledgement was delivered before (and is not being sent again now). */
  isRepeat(status: TaskStatus): boolean {
    if (status.uuid === undefined || status.agentId === undefined) return false;
    const key = keyOf({ agentId: status.agentId, taskId: status.taskId, uuid: status.uuid });
    return this.delivered.has(key) && !this.pending.has(key);
  }

  /** Send every kept acknowledgement now (the client has just subscribed). */
  resendAll(): void {
    for (const [key, ack] of this.pending) void this.send(key, ack, 0);
  }

  /** The client ends: every kept acknowledgement fails with `e`. */
  rejectAll(e: Error): void {
    for (const a of this.pending.values()) a.reject(e);
    this.pending.clear();
  }

  private async send(key: string, ack: PendingAck, attempt: number): Promise<void> {
    if (this.o.stopped() || this.pending.get(key) !== ack) return;
    if (!this.o.connected()) return; // sent again at the next SUBSCRIBED
    try {
      await this.o.send({ agentId: ack.agentId, taskId: ack.taskId, uuid: ack.uuid });
      this.pending.delete(key);
      this.delivered.add(key);
      if (this.delivered.size > ACKED_KEPT) this.delivered.delete(this.delivered.values().next().value!);
      ack.resolve();
    } catch (e) {
      if (e instanceof HttpError && e.status >= 400 && e.status < 500 && e.status !== 401 && e.status !== 403) {
        // The master will never take it (an update it no longer knows): nothing to retry.
        this.pending.delete(key);
        ack.reject(e);
        return;
      }
      this.o.log.info({ task: ack.taskId, error: describeError(e) }, 'Acknowledgement not delivered; retrying');
      setTimeout(() => void this.send(key, ack, attempt + 1), this.o.delayMs(attempt)).unref();
    }
  }
}
