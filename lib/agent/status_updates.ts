/**
 * The status update manager (as in Mesos): one stream per task. An update is
 * checkpointed (when its framework checkpoints) before anything else happens to it; only the
 * head of a stream is in flight; the head is resent after 10 s, doubling up to 10 min, until the
 * scheduler's acknowledgement comes back through the master; sending pauses while the agent has
 * no master and resumes, resending every head, when it registers again.
 *
 * An update whose checkpoint cannot be written (a full disk) is still sent and retried from
 * memory: the framework learns the task's state, which only an agent restart before the
 * acknowledgement could lose. The failure is reported to the sink (a metric and a warning).
 */
import type { Clock, TimerHandle } from '../common/clock.ts';
import { describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { type TaskStatus, isTerminal } from '../proto/messages.ts';
import { RecordLog } from './checkpoint.ts';

export const RETRY_MIN_MS = 10_000;
export const RETRY_MAX_MS = 600_000;

type UpdateRecord = { type: 'UPDATE'; status: TaskStatus } | { type: 'ACK'; uuid: string };

class Stream {
  readonly pending: TaskStatus[] = [];
  readonly received = new Set<string>();
  readonly acknowledged = new Set<string>();
  latest: TaskStatus | undefined;
  /** Updates received whose checkpoint write is under way (not in `pending` yet). */
  writing = 0;
  terminated = false;
  timer: TimerHandle | undefined;
  retryMs = RETRY_MIN_MS;
  /** When the head was first sent (the clock's ms), and which update that was. */
  sentAt = 0;
  sentUuid: string | undefined;
  /** The stream's checkpoint, opened once: updates written at once share it and keep their order. */
  log: Promise<RecordLog> | undefined;
  /** Updates whose checkpoint write failed: their acknowledgements are not checkpointed either. */
  readonly unwritten = new Set<string>();
  closed = false;
  constructor(
    readonly frameworkId: string,
    readonly taskId: string,
    readonly checkpointPath: string | undefined,
  ) {}
}

export interface StatusUpdateSink {
  /** Send the update to the master (the agent's link decides how). */
  forward(frameworkId: string, status: TaskStatus): void;
  /** The head of a stream was acknowledged `ms` after it was first sent. */
  acknowledged?(ms: number): void;
  /** A checkpoint write of the stream failed (already logged); the update goes on from memory. */
  checkpointFailed?(frameworkId: string, taskId: string, error: unknown): void;
}

export class StatusUpdateManager {
  private readonly streams = new Map<string, Stream>();
  private connected = false;

  constructor(
    private readonly clock: Clock,
    private readonly sink: StatusUpdateSink,
    private readonly log: Logger,
  ) {}

  private key(frameworkId: string, taskId: string): string {
    return `${frameworkId}\u0000${taskId}`;
  }

  /**
   * Accept an update. Resolves once it is safely recorded (the executor may then be told it
   * was received). A duplicate uuid is accepted and otherwise ignored.
   */
  async update(frameworkId: string, status: TaskStatus, checkpointPath?: string): Promise<void> {
    if (status.uuid === undefined) throw new Error('status updates handled by the agent must carry a uuid');
    const k = this.key(frameworkId, status.taskId);
    let s = this.streams.get(k);
    if (!s) {
      s = new Stream(frameworkId, status.taskId, checkpointPath);
      this.streams.set(k, s);
    }
    if (s.received.has(status.uuid)) return;
    s.received.add(status.uuid);
    if (s.latest?.state !== status.state) {
      const why = [status.source, status.reason].filter(Boolean).join(', ');
      this.log.info(
        { taskId: status.taskId, frameworkId, state: status.state, reason: status.reason, source: status.source },
        `task ${status.taskId} of framework ${frameworkId} is now ${status.state}${why ? ` (${why})` : ''}${status.message ? `: ${status.message}` : ''}`,
      );
    }
    // The latest received, acknowledged or not: a re-registration built during the write below
    // reports it with the task.
    s.latest = status;
    if (s.checkpointPath) {
      // Counted as pending from now: the agent may describe its tasks to a master while the
      // write is under way, and a terminal task with nothing pending would be left out.
      s.writing++;
      try {
        const log = await this.logOf(s, s.checkpointPath);
        if (s.closed) return; // its framework was removed meanwhile
        await log.append({ type: 'UPDATE', status } satisfies UpdateRecord);
      } catch (e) {
        s.unwritten.add(status.uuid);
        this.checkpointFailed(s, e, { uuid: status.uuid, state: status.state });
      } finally {
        s.writing--;
      }
    }
    if (s.closed) return;
    s.pending.push(status);
    if (s.pending.length === 1) this.sendHead(s);
  }

  /**
   * The scheduler acknowledged `uuid`. Returns false when it is not the head of the stream
   * (an error by the protocol; ignored).
   */
  async acknowledge(frameworkId: string, taskId: string, uuid: string): Promise<boolean> {
    const s = this.streams.get(this.key(frameworkId, taskId));
    const head = s?.pending[0];
    if (!s || !head || head.uuid !== uuid) {
      this.log.warn({ frameworkId, taskId, uuid }, 'acknowledgement does not match the update in flight; ignored');
      return false;
    }
    if (s.checkpointPath && !s.unwritten.delete(uuid)) {
      try {
        const log = await this.logOf(s, s.checkpointPath);
        await log.append({ type: 'ACK', uuid } satisfies UpdateRecord);
      } catch (e) {
        // Taken as acknowledged: after a restart the update would be sent again (a duplicate
        // the scheduler acknowledges again), never lost.
        this.checkpointFailed(s, e, { uuid, acknowledgement: true });
      }
    }
    s.acknowledged.add(uuid);
    if (s.sentUuid === uuid) this.sink.acknowledged?.(this.clock.now() - s.sentAt);
    s.pending.shift();
    s.timer?.cancel();
    s.timer = undefined;
    s.retryMs = RETRY_MIN_MS;
    if (isTerminal(head.state)) s.terminated = true;
    if (s.pending.length > 0) this.sendHead(s);
    else if (s.terminated) await this.closeStream(s);
    return true;
  }

  /** The agent lost its master: stop sending. */
  pause(): void {
    this.connected = false;
    for (const s of this.streams.values()) {
      s.timer?.cancel();
      s.timer = undefined;
    }
  }

  /** The agent (re-)registered: resend every head. */
  resume(): void {
    this.connected = true;
    for (const s of this.streams.values()) {
      s.retryMs = RETRY_MIN_MS;
      if (s.pending.length > 0) this.sendHead(s);
    }
  }

  /** Rebuild a task's stream from its checkpointed log (agent restart). */
  async recover(frameworkId: string, taskId: string, checkpointPath: string): Promise<TaskStatus | undefined> {
    const records = await RecordLog.read<UpdateRecord>(checkpointPath);
    const s = new Stream(frameworkId, taskId, checkpointPath);
    for (const r of records) {
      if (r.type === 'UPDATE') {
        if (s.received.has(r.status.uuid!)) continue;
        s.received.add(r.status.uuid!);
        s.pending.push(r.status);
        s.latest = r.status;
      } else {
        const head = s.pending[0];
        if (!head || head.uuid !== r.uuid) {
          this.log.warn({ frameworkId, taskId, uuid: r.uuid }, 'checkpointed acknowledgement does not match; ignored');
          continue;
        }
        s.acknowledged.add(r.uuid);
        s.pending.shift();
        if (isTerminal(head.state)) s.terminated = true;
      }
    }
    if (s.terminated && s.pending.length === 0) return s.latest;
    this.streams.set(this.key(frameworkId, taskId), s);
    if (s.pending.length > 0 && this.connected) this.sendHead(s);
    return s.latest;
  }

  /** The latest update received for a task (acknowledged or not). */
  latest(frameworkId: string, taskId: string): TaskStatus | undefined {
    return this.streams.get(this.key(frameworkId, taskId))?.latest;
  }

  /** Updates not yet acknowledged, oldest first. */
  unacknowledged(frameworkId: string, taskId: string): readonly TaskStatus[] {
    return this.streams.get(this.key(frameworkId, taskId))?.pending ?? [];
  }

  /** Whether a task still has updates to deliver (one still being checkpointed counts). */
  hasPending(frameworkId: string, taskId: string): boolean {
    const s = this.streams.get(this.key(frameworkId, taskId));
    return s !== undefined && (s.pending.length > 0 || s.writing > 0);
  }

  /** Drop every stream of a framework (it was removed). */
  async removeFramework(frameworkId: string): Promise<void> {
    for (const s of Array.from(this.streams.values())) if (s.frameworkId === frameworkId) await this.closeStream(s);
  }

  async close(): Promise<void> {
    for (const s of Array.from(this.streams.values())) await this.closeStream(s);
  }

  get streamCount(): number {
    return this.streams.size;
  }

  private checkpointFailed(s: Stream, e: unknown, what: Record<string, unknown>): void {
    this.log.warn(
      { frameworkId: s.frameworkId, taskId: s.taskId, ...what, err: describeError(e) },
      'failed to checkpoint a status update; it is forwarded from memory (an agent restart before its acknowledgement would lose it)',
    );
    this.sink.checkpointFailed?.(s.frameworkId, s.taskId, e);
  }

  /** The stream's checkpoint log, opened once (a failed open is tried again next time). */
  private logOf(s: Stream, path: string): Promise<RecordLog> {
    if (!s.log) {
      const opening = RecordLog.open(path);
      s.log = opening;
      opening.catch(() => {
        if (s.log === opening) s.log = undefined;
      });
    }
    return s.log;
  }

  private async closeStream(s: Stream): Promise<void> {
    s.closed = true;
    s.timer?.cancel();
    s.timer = undefined;
    this.streams.delete(this.key(s.frameworkId, s.taskId));
    const log = s.log;
    s.log = undefined;
    await (await log?.catch(() => undefined))?.close();
  }

  private sendHead(s: Stream): void {
    if (!this.connected) return;
    const head = s.pending[0];
    if (!head) return;
    this.sink.forward(s.frameworkId, head);
    if (s.sentUuid !== head.uuid) {
      s.sentUuid = head.uuid;
      s.sentAt = this.clock.now();
    }
    s.timer?.cancel();
    s.timer = this.clock.setTimer(s.retryMs, () => {
      s.timer = undefined;
      if (s.pending[0] !== head) return;
      s.retryMs = Math.min(s.retryMs * 2, RETRY_MAX_MS);
      this.sendHead(s);
    });
  }
}
