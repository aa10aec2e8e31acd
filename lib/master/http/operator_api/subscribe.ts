/**
 * SUBSCRIBE on the master's `/api/v1`: the operator event stream. A subscriber gets SUBSCRIBED
 * (the whole state, filtered as GET_STATE is for its principal) and a HEARTBEAT at once, then
 * every change in the order the master made it (events.ts), and a HEARTBEAT every 15 s. The
 * snapshot is taken and the subscriber added in one turn of the event loop, so nothing falls
 * between them and nothing comes twice.
 *
 * Each event is encoded once, then written to every subscriber allowed to see it (task and
 * framework events need VIEW_FRAMEWORK, and VIEW_TASK for tasks; agent events and heartbeats go
 * to all). The response is `Content-Type: application/json`, framed as RecordIO.
 *
 * Memory is bounded: a subscriber that does not read has its stream closed once its unread
 * backlog passes the server's `--max_stream_backlog` (counted in
 * master/operator_event_stream_overflows), and past `maxSubscribers` the oldest subscriber is
 * closed. master/operator_event_stream_subscribers is the number open.
 */
import type { Logger } from '../../../common/log.ts';
import type { TimerHandle } from '../../../common/clock.ts';
import { encodeTaskStatus } from '../../../proto/common_messages.ts';
import type { JsonObject } from '../../../proto/json.ts';
import { double, stringifyWire } from '../../../proto/json_text.ts';
import type { Request, ResponseStream } from '../../../transport/index.ts';
import type { MasterEvent } from '../../events.ts';
import type { Master } from '../../master.ts';
import type { Framework, Task } from '../../records.ts';
import { type Viewer, agentJson, frameworkJson, getState, taskJson } from './encode.ts';

export const HEARTBEAT_INTERVAL_MS = 15_000;
export const SUBSCRIBERS_GAUGE = 'master/operator_event_stream_subscribers';
export const OVERFLOWS = 'master/operator_event_stream_overflows';

interface Subscriber {
  readonly stream: ResponseStream;
  readonly viewer: Viewer;
  readonly since: number;
}

/** Who may see an event: everyone, or a framework's (and a task's) viewers. */
type Audience = { readonly kind: 'all' } | { readonly kind: 'framework'; readonly fw: Framework } | { readonly kind: 'task'; readonly task: Task };

export class OperatorEventStream {
  private readonly subscribers: Subscriber[] = [];
  private heartbeat: TimerHandle | undefined;
  private unobserve: (() => void) | undefined;

  constructor(
    private readonly master: Master,
    private readonly log: Logger,
    private readonly maxSubscribers: number,
  ) {
    master.metrics.declare(OVERFLOWS);
    master.metrics.gauge(SUBSCRIBERS_GAUGE, () => this.subscribers.length);
  }

  get size(): number {
    return this.subscribers.length;
  }

  subscribe(req: Request, viewer: Viewer): void {
    const m = this.master;
    const stream = req.startStream(200, { 'Content-Type': 'application/json' });
    const sub: Subscriber = { stream, viewer, since: m.clock.now() };
    // The snapshot and the registration in the same turn: no event between them is lost.
    stream.writeRecord(
      stringifyWire({
        type: 'SUBSCRIBED',
        subscribed: { get_state: getState(m.view, viewer), heartbeat_interval_seconds: double(HEARTBEAT_INTERVAL_MS / 1000) },
      }),
    );
    stream.writeRecord(stringifyWire({ type: 'HEARTBEAT' }));
    if (stream.closed) return this.closed(sub);
    this.subscribers.push(sub);
    while (this.subscribers.length > this.maxSubscribers) {
      const oldest = this.subscribers.shift()!;
      this.log.info(
        { principal: oldest.viewer.principal ?? null },
        'closing the oldest operator event stream: too many subscribers (--max_operator_event_stream_subscribers)',
      );
      oldest.stream.end();
    }
    stream.onClose(() => this.closed(sub));
    this.log.info(
      { principal: viewer.principal ?? null, subscribers: this.subscribers.length, remote: req.remoteAddress },
      'operator subscribed to the event stream',
    );
    this.updated();
  }

  /** End every stream (the master stops or loses the lead). */
  close(): void {
    for (const s of this.subscribers.splice(0)) s.stream.end();
    this.updated();
  }

  private closed(sub: Subscriber): void {
    const i = this.subscribers.indexOf(sub);
    if (i >= 0) this.subscribers.splice(i, 1);
    if (sub.stream.overflowBytes !== undefined) {
      this.master.metrics.inc(OVERFLOWS);
      this.log.warn(
        { principal: sub.viewer.principal ?? null, bytes: sub.stream.overflowBytes },
        `closing an operator event stream: its subscriber left ${sub.stream.overflowBytes} bytes unread (--max_stream_backlog)`,
      );
    }
    this.updated();
  }

  /** Start or stop observing the master and the heartbeat as subscribers come and go. */
  private updated(): void {
    if (this.subscribers.length > 0 && this.unobserve === undefined) {
      this.unobserve = this.master.observe((e) => this.publish(e));
      const beat = (): void => {
        this.broadcast(stringifyWire({ type: 'HEARTBEAT' }), { kind: 'all' });
        this.heartbeat = this.master.clock.setTimer(HEARTBEAT_INTERVAL_MS, beat);
      };
      this.heartbeat = this.master.clock.setTimer(HEARTBEAT_INTERVAL_MS, beat);
    } else if (this.subscribers.length === 0 && this.unobserve !== undefined) {
      this.unobserve();
      this.unobserve = undefined;
      this.heartbeat?.cancel();
      this.heartbeat = undefined;
    }
  }

  private publish(e: MasterEvent): void {
    const view = this.master.view;
    switch (e.type) {
      case 'TASK_ADDED':
        return this.broadcast(stringifyWire({ type: e.type, task_added: { task: taskJson(e.task) } }), { kind: 'task', task: e.task });
      case 'TASK_UPDATED':
        return this.broadcast(
          stringifyWire({
            type: e.type,
            task_updated: { framework_id: { value: e.task.frameworkId }, status: encodeTaskStatus(e.status), state: e.task.state },
          }),
          { kind: 'task', task: e.task },
        );
      case 'AGENT_ADDED':
        return this.broadcast(stringifyWire({ type: e.type, agent_added: { agent: agentJson(view, e.agent, undefined) } }), { kind: 'all' });
      case 'AGENT_REMOVED':
        return this.broadcast(stringifyWire({ type: e.type, agent_removed: { agent_id: { value: e.agentId } } }), { kind: 'all' });
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED': {
        const framework: JsonObject = frameworkJson(view, e.framework, undefined, true);
        const key = e.type.toLowerCase();
        return this.broadcast(stringifyWire({ type: e.type, [key]: { framework } }), { kind: 'framework', fw: e.framework });
      }
      case 'FRAMEWORK_REMOVED':
        return this.broadcast(
          stringifyWire({ type: e.type, framework_removed: { framework_info: frameworkJson(view, e.framework, undefined, true).framework_info! } }),
          {
            kind: 'framework',
            fw: e.framework,
          },
        );
    }
  }

  private broadcast(record: string, audience: Audience): void {
    // A master that may no longer act as the leader sends nothing more (its streams end as it stops).
    if (!this.master.mayAct()) return;
    for (const s of this.subscribers.slice()) {
      if (!this.sees(s.viewer, audience)) continue;
      s.stream.writeRecord(record);
    }
  }

  private sees(viewer: Viewer, a: Audience): boolean {
    switch (a.kind) {
      case 'all':
        return true;
      case 'framework':
        return viewer.framework(a.fw);
      case 'task': {
        const task = a.task;
        const fw = this.master.view.frameworks.get(task.frameworkId) ?? this.master.view.completedFrameworks.find((f) => f.id === task.frameworkId);
        return viewer.task(task, fw);
      }
    }
  }
}
