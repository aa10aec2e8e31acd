/**
 * The v1 executor client (`corral/executor`): what a custom executor runs to talk to its agent.
 *
 * It reads where and who it is from the environment the agent gave the executor
 * (MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_CHECKPOINT,
 * MESOS_EXECUTOR_AUTHENTICATION_TOKEN, MESOS_RECOVERY_TIMEOUT, MESOS_SUBSCRIPTION_BACKOFF_MAX and
 * the LIBPROCESS_SSL_* TLS settings), POSTs SUBSCRIBE and reads the event stream. Events come to
 * `on()` listeners as typed objects; `update()` sends a task's status (with a fresh uuid) and
 * keeps it, and the task, until the agent says it was acknowledged, so that a subscription
 * after an agent restart lists what is still unacknowledged (as the v1 API asks). With
 * checkpointing the client subscribes again when its agent goes away, for up to the recovery
 * timeout, with back-off up to MESOS_SUBSCRIPTION_BACKOFF_MAX; without it, or after that, it
 * ends (`ended`), as a Mesos executor does.
 */
import { randomBytes } from 'node:crypto';
import { ValidationError, describeError } from '../common/errors.ts';
import { parseDuration } from '../common/flags.ts';
import { silentLogger, type Logger } from '../common/log.ts';
import type {
  AgentInfo,
  ExecutorCall,
  ExecutorEvent,
  ExecutorInfo,
  FrameworkInfo,
  KillPolicy,
  TaskInfo,
  TaskReason,
  TaskState,
  TaskStatus,
} from '../proto/messages.ts';
import { decodeExecutorEvent, encodeExecutorCall } from '../proto/executor.ts';
import { type ClientStream, HttpClient, type TlsConfig, loadTlsConfig } from '../transport/index.ts';
import { type AttemptOutcome, ReconnectLoop } from '../transport/reconnect.ts';
import { ExecutorClientError, ExecutorRefusal } from './errors.ts';

export interface ExecutorClientOptions {
  /** Where the MESOS_* variables are read (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** TLS to the agent (default: from the environment's LIBPROCESS_SSL_* when LIBPROCESS_SSL_ENABLED is set). */
  readonly tls?: TlsConfig;
  readonly logger?: Logger;
}

/** What `subscribed` listeners get. */
export interface ExecutorSubscribed {
  readonly executorInfo: ExecutorInfo;
  readonly frameworkInfo: FrameworkInfo;
  readonly agentInfo: AgentInfo;
  readonly containerId?: string;
  /** True after a reconnect (the agent restarted). */
  readonly resubscribed: boolean;
}

/** Listeners by event. */
export interface ExecutorClientEvents {
  subscribed: (s: ExecutorSubscribed) => void;
  /** Run this task (send its updates with `update()`). */
  launch: (task: TaskInfo) => void;
  kill: (k: { readonly taskId: string; readonly killPolicy?: KillPolicy }) => void;
  /** The framework acknowledged an update (the client forgets it). */
  acknowledged: (a: { readonly taskId: string; readonly uuid: string }) => void;
  message: (data: Buffer) => void;
  /** The agent asks the executor to end its tasks and exit. */
  shutdown: () => void;
  /** The connection to the agent was lost; with checkpointing the client subscribes again. */
  disconnected: (reason: string) => void;
  /** The client has ended for good (an ERROR event, no checkpointing, the recovery timeout passed). */
  ended: (e: Error) => void;
}

type Listeners = { [K in keyof ExecutorClientEvents]: Set<ExecutorClientEvents[K]> };

/** An update in the client's words: `update(taskId, state, { message, … })`. */
export interface UpdateOptions {
  readonly message?: string;
  readonly reason?: TaskReason;
  /** Bytes for the framework (TaskStatus.data). */
  readonly data?: string | Uint8Array;
  readonly healthy?: boolean;
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new ValidationError(name, 'is not set: the agent sets it for the executors it starts');
  return v;
}

function durationOf(env: Readonly<Record<string, string | undefined>>, name: string, fallbackMs: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallbackMs;
  try {
    return parseDuration(v);
  } catch (e) {
    throw new ValidationError(name, (e as Error).message);
  }
}

/** A custom executor's client of the v1 executor API. */
export class ExecutorClient {
  /** The agent's `host:port`. */
  readonly agentEndpoint: string;
  readonly frameworkId: string;
  readonly executorId: string;
  /** Whether the framework checkpoints (the client then survives an agent restart). */
  readonly checkpoint: boolean;
  private readonly url: string;
  private readonly http: HttpClient;
  private readonly headers: Record<string, string>;
  private readonly recoveryTimeoutMs: number;
  private readonly backoffMaxMs: number;
  private readonly log: Logger;
  private readonly listeners: Listeners = {
    subscribed: new Set(),
    launch: new Set(),
    kill: new Set(),
    acknowledged: new Set(),
    message: new Set(),
    shutdown: new Set(),
    disconnected: new Set(),
    ended: new Set(),
  };
  /** Tasks launched and without an acknowledged update yet. */
  private readonly unacknowledgedTasks = new Map<string, TaskInfo>();
  /** Updates sent and not yet acknowledged, by uuid. */
  private readonly unacknowledgedUpdates = new Map<string, TaskStatus>();
  private stream: ClientStream | undefined;
  private stopped = false;
  private subscriptions = 0;
  private loopDone: Promise<void> | undefined;
  private first: { resolve(s: ExecutorSubscribed): void; reject(e: Error): void } | undefined;
  private readonly reconnect: ReconnectLoop;
  /** When the connection to the agent was lost (undefined: never subscribed yet). */
  private lostAt: number | undefined;

  constructor(options: ExecutorClientOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new ValidationError('options', 'must be an object');
    const env = options.env ?? process.env;
    this.agentEndpoint = required(env, 'MESOS_AGENT_ENDPOINT');
    this.frameworkId = required(env, 'MESOS_FRAMEWORK_ID');
    this.executorId = required(env, 'MESOS_EXECUTOR_ID');
    this.checkpoint = env.MESOS_CHECKPOINT === '1';
    this.recoveryTimeoutMs = durationOf(env, 'MESOS_RECOVERY_TIMEOUT', 15 * 60_000);
    this.backoffMaxMs = durationOf(env, 'MESOS_SUBSCRIPTION_BACKOFF_MAX', 2000);
    const tls = options.tls ?? (env.LIBPROCESS_SSL_ENABLED === 'true' || env.LIBPROCESS_SSL_ENABLED === '1' ? loadTlsConfig(env) : undefined);
    this.http = new HttpClient(tls ? { tls } : {});
    this.url = `${this.http.scheme}://${this.agentEndpoint}/api/v1/executor`;
    const token = env.MESOS_EXECUTOR_AUTHENTICATION_TOKEN;
    this.headers = { 'Content-Type': 'application/json', Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) };
    this.log = options.logger ?? silentLogger;
    this.reconnect = new ReconnectLoop({ initialMs: 100, maxMs: this.backoffMaxMs });
  }

  /** Add a listener; returns the way to remove it. */
  on<K extends keyof ExecutorClientEvents>(event: K, listener: ExecutorClientEvents[K]): () => void {
    const set = this.listeners[event] as Set<ExecutorClientEvents[K]> | undefined;
    if (set === undefined)
      throw new ValidationError('event', `'${String(event)}' is not an event of the executor client (${Object.keys(this.listeners).join(', ')})`);
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Subscribe; resolves at SUBSCRIBED. Rejects when the agent refuses (an ExecutorRefusal) or cannot be reached. */
  start(): Promise<ExecutorSubscribed> {
    if (this.loopDone !== undefined) return Promise.reject(new ValidationError('start', 'the client was started already'));
    const first = new Promise<ExecutorSubscribed>((resolve, reject) => (this.first = { resolve, reject }));
    this.loopDone = this.reconnect.run(() => this.attempt());
    return first;
  }

  /**
   * Send a task's status update (TaskStatus with a new uuid, source SOURCE_EXECUTOR). Resolves
   * once the agent has taken it (202); it is then kept until acknowledged.
   */
  async update(taskId: string, state: TaskState, o: UpdateOptions = {}): Promise<TaskStatus> {
    if (typeof taskId !== 'string' || taskId === '') throw new ValidationError('taskId', 'must be a non-empty string');
    if (typeof state !== 'string' || !state.startsWith('TASK_'))
      throw new ValidationError('state', `must be a task state (TASK_RUNNING, …), not ${JSON.stringify(state)}`);
    const status: TaskStatus = {
      taskId,
      state,
      source: 'SOURCE_EXECUTOR',
      executorId: this.executorId,
      uuid: randomBytes(16).toString('base64'),
      timestamp: Date.now() / 1000,
      ...(o.message === undefined ? {} : { message: o.message }),
      ...(o.reason === undefined ? {} : { reason: o.reason }),
      ...(o.data === undefined ? {} : { data: Buffer.from(o.data).toString('base64') }),
      ...(o.healthy === undefined ? {} : { healthy: o.healthy }),
    };
    this.unacknowledgedUpdates.set(status.uuid!, status);
    await this.call({ type: 'UPDATE', executorId: this.executorId, frameworkId: this.frameworkId, update: { status } });
    return status;
  }

  /** Send bytes to the framework (its scheduler gets a MESSAGE event). */
  async sendMessage(data: string | Uint8Array): Promise<void> {
    await this.call({ type: 'MESSAGE', executorId: this.executorId, frameworkId: this.frameworkId, message: { data: Buffer.from(data).toString('base64') } });
  }

  /** Stop: close the stream; no more calls. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.close();
    this.reconnect.stop();
    this.first?.reject(new ExecutorClientError('CLIENT_STOPPED', 'the executor client was stopped before it subscribed'));
    await this.loopDone?.catch(() => {});
    this.http.close();
  }

  private async call(c: ExecutorCall): Promise<void> {
    if (this.stopped) throw new ExecutorClientError('CLIENT_STOPPED', `${c.type}: the executor client was stopped`);
    const r = await this.http.request({ url: this.url, method: 'POST', headers: this.headers, body: encodeExecutorCall(c) });
    if (r.status !== 202) {
      const answer = r.text().trim();
      throw new ExecutorRefusal(r.status, `${c.type} refused by the agent at ${this.agentEndpoint}: ${r.status} ${answer}`, answer);
    }
  }

  private emit<K extends keyof ExecutorClientEvents>(event: K, ...args: Parameters<ExecutorClientEvents[K]>): void {
    for (const l of [...this.listeners[event]]) {
      try {
        (l as (...a: unknown[]) => void)(...args);
      } catch (e) {
        this.log.error({ event, error: describeError(e) }, 'An executor client listener threw');
      }
    }
  }

  private end(e: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reconnect.stop();
    this.log.info({ error: e.message }, 'The executor client ends');
    if (this.first) {
      this.first.reject(e);
      this.first = undefined;
    } else this.emit('ended', e);
  }

  /** One subscription (run by the ReconnectLoop): SUBSCRIBE with what is unacknowledged, read the stream to its end. */
  private async attempt(): Promise<AttemptOutcome> {
    if (this.stopped) return 'stop';
    let reason: string;
    let reset = false;
    try {
      const stream = await this.http.openStream({
        url: this.url,
        headers: this.headers,
        body: encodeExecutorCall({
          type: 'SUBSCRIBE',
          executorId: this.executorId,
          frameworkId: this.frameworkId,
          subscribe: {
            unacknowledgedTasks: [...this.unacknowledgedTasks.values()],
            unacknowledgedUpdates: [...this.unacknowledgedUpdates.values()].map((status) => ({ status })),
          },
        }),
      });
      if (stream.status !== 200) {
        stream.close();
        const answer = stream.text.trim();
        // A refusal while the agent recovers (503) is tried again; any other ends the executor.
        if (stream.status !== 503 || this.lostAt === undefined) {
          this.end(new ExecutorRefusal(stream.status, `the agent at ${this.agentEndpoint} refused the subscription: ${stream.status} ${answer}`, answer));
          return 'stop';
        }
        reason = `the agent answered ${stream.status} ${answer}`;
      } else {
        this.stream = stream;
        reason = await this.read(stream);
        this.stream = undefined;
        if (this.stopped) return 'stop';
        this.lostAt = Date.now();
        reset = true;
        this.emit('disconnected', reason);
      }
    } catch (e) {
      if (this.lostAt === undefined) {
        this.end(new ExecutorClientError('DISCONNECTED', `cannot reach the agent at ${this.agentEndpoint}: ${describeError(e)}`, { cause: e }));
        return 'stop';
      }
      reason = describeError(e);
    }
    if (!this.checkpoint) {
      this.end(new ExecutorClientError('FRAMEWORK_ENDED', `lost the agent (${reason}) and the framework does not checkpoint`));
      return 'stop';
    }
    if (Date.now() - (this.lostAt ?? Date.now()) > this.recoveryTimeoutMs) {
      this.end(new ExecutorClientError('FRAMEWORK_ENDED', `the agent did not come back within the recovery timeout (${reason})`));
      return 'stop';
    }
    return { reset };
  }

  private async read(stream: ClientStream): Promise<string> {
    try {
      for await (const record of stream.records) {
        let event: ExecutorEvent;
        try {
          event = decodeExecutorEvent(JSON.parse(record.toString('utf8')));
        } catch (e) {
          this.log.warn({ error: describeError(e) }, 'Skipping an event that does not decode');
          continue;
        }
        this.dispatch(event);
        if (this.stopped) return 'stopped';
      }
      return 'the agent closed the event stream';
    } catch (e) {
      return `the event stream broke: ${describeError(e)}`;
    } finally {
      stream.close();
    }
  }

  private dispatch(event: ExecutorEvent): void {
    switch (event.type) {
      case 'SUBSCRIBED': {
        const s: ExecutorSubscribed = { ...event.subscribed, resubscribed: this.subscriptions++ > 0 };
        const first = this.first;
        this.first = undefined;
        first?.resolve(s);
        this.emit('subscribed', s);
        return;
      }
      case 'LAUNCH':
        this.unacknowledgedTasks.set(event.launch.task.taskId, event.launch.task);
        this.emit('launch', event.launch.task);
        return;
      case 'KILL':
        this.emit('kill', event.kill);
        return;
      case 'ACKNOWLEDGED':
        this.unacknowledgedTasks.delete(event.acknowledged.taskId);
        this.unacknowledgedUpdates.delete(event.acknowledged.uuid);
        this.emit('acknowledged', event.acknowledged);
        return;
      case 'MESSAGE':
        this.emit('message', Buffer.from(event.message.data, 'base64'));
        return;
      case 'SHUTDOWN':
        this.emit('shutdown');
        return;
      case 'ERROR':
        this.end(new ExecutorClientError('FRAMEWORK_ENDED', `the agent says: ${event.error.message}`));
        return;
      case 'HEARTBEAT':
        return;
    }
  }
}
