/**
 * The v1 scheduler client (`corral/scheduler`): a framework's connection to the leading master.
 *
 * It finds the leader (`host:port`, or `zk://` through a ZooKeeper MasterDetector), POSTs
 * SUBSCRIBE and reads the RecordIO event stream, and keeps that subscription up: a stream that
 * ends, breaks, or brings no record (not even a HEARTBEAT) for `heartbeatMisses` heartbeat
 * intervals is dropped, and the client subscribes again, with its framework id, after a
 * growing back-off (`backoff`), to whichever master leads then (a detector's change is followed
 * at once; a 307 from a master that does not lead is followed to the master it names). Events
 * come to `on()` listeners as typed objects (lib/proto/messages.ts); calls are typed methods
 * that resolve when the master accepts them (202) and throw an HttpError with its answer when
 * it does not.
 *
 * Status updates are acknowledged for the framework (implicit acknowledgements, the default)
 * once every `update` listener has returned (or its promise resolved), or by the framework
 * through `acknowledge()`. An acknowledgement that cannot be delivered (no subscription, a broken
 * connection, a 5xx) is kept and sent again until the master takes it, also after a reconnect.
 * An update acknowledged before that comes again (the master took the acknowledgement but its
 * agent never got it: a master drops one for an agent not re-registered with it yet) is
 * acknowledged again by the client, so the task's next update is not held behind it.
 * After subscribing again, the tasks this client launched and has not seen end are reconciled,
 * so the framework hears their current states.
 */
import { userInfo } from 'node:os';
import { ValidationError, describeError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/log.ts';
import type {
  CapabilityType,
  Filters,
  FrameworkInfo,
  KillPolicy,
  MasterInfo,
  Offer,
  Operation,
  SchedulerCall,
  SchedulerEvent,
  TaskInfo,
  TaskStatus,
} from '../proto/messages.ts';
import { isTerminal } from '../proto/messages.ts';
import { HEARTBEAT_INTERVAL_SECONDS, decodeSchedulerEvent, encodeSchedulerCall } from '../proto/scheduler.ts';
import { type ClientStream, HttpClient, type LeaderAddress, type MasterDetector, basicAuthorization, createMasterDetector } from '../transport/index.ts';
import { type AttemptOutcome, ReconnectLoop } from '../transport/reconnect.ts';
import { Acknowledgements } from './acks.ts';
import { SchedulerClientError, SchedulerRefusal } from './errors.ts';
import { check, checkOptions, isNonEmptyString, labelsOf, type SchedulerClientEvents, type SchedulerClientOptions } from './options.ts';
import { reconcileUntilAnswered } from './reconcile.ts';
import { type DistributiveOmit, toTaskInfo, type TaskSpec } from './tasks.ts';

type Listeners = { [K in keyof SchedulerClientEvents]: Set<SchedulerClientEvents[K]> };

interface Subscription {
  readonly leader: LeaderAddress;
  readonly url: string;
  readonly streamId: string;
  readonly stream: ClientStream;
}

const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 10_000 };

/**
 * A framework's client of the v1 scheduler API. Create it, add listeners with `on()`, then
 * `start()`; `stop()` ends it (with `{ teardown: true }` the framework and its tasks end too).
 */
export class SchedulerClient {
  private readonly options: SchedulerClientOptions;
  private readonly detector: MasterDetector;
  private readonly ownsDetector: boolean;
  private readonly http: HttpClient;
  private readonly log: Logger;
  private readonly auth: Record<string, string>;
  private readonly info: FrameworkInfo;
  private readonly listeners: Listeners = {
    subscribed: new Set(),
    offers: new Set(),
    rescind: new Set(),
    update: new Set(),
    message: new Set(),
    failure: new Set(),
    disconnected: new Set(),
    error: new Set(),
  };
  private id: string | undefined;
  private current: Subscription | undefined;
  private subscriptions = 0;
  private stopped = false;
  /** stop() has begun: a stream that ends now (the TEARDOWN closes it) is not a disconnection. */
  private closing = false;
  private ended: Error | undefined;
  private loopDone: Promise<void> | undefined;
  private readonly reconnect: ReconnectLoop;
  private readonly acks: Acknowledgements;
  private redirect: string | undefined;
  private unlisten: (() => void) | undefined;
  /** Tasks launched through this client and not seen to end: task id → agent id. */
  private readonly live = new Map<string, string>();
  private firstSubscribed: { resolve(): void; reject(e: Error): void } | undefined;

  constructor(options: SchedulerClientOptions) {
    checkOptions(options);
    this.options = options;
    this.log = options.logger ?? silentLogger;
    if (typeof options.master === 'string') {
      this.detector = createMasterDetector(options.master, { field: 'master', logger: this.log });
      this.ownsDetector = true;
    } else {
      this.detector = options.master;
      this.ownsDetector = false;
    }
    this.http = new HttpClient(options.tls ? { tls: options.tls } : {});
    this.auth = options.credential ? { Authorization: basicAuthorization(options.credential) } : {};
    const f = options.framework;
    const principal = options.credential?.principal ?? f.principal;
    this.info = {
      user: f.user ?? userInfo().username,
      name: f.name,
      failoverTimeout: f.failoverTimeoutSeconds ?? 0,
      checkpoint: f.checkpoint ?? false,
      role: f.roles === undefined ? (f.role ?? '*') : '*',
      ...(f.roles === undefined ? {} : { roles: f.roles }),
      capabilities: f.roles === undefined ? (f.capabilities ?? []) : [...new Set<CapabilityType>([...(f.capabilities ?? []), 'MULTI_ROLE'])],
      ...(principal === undefined ? {} : { principal }),
      ...(f.hostname === undefined ? {} : { hostname: f.hostname }),
      ...(f.webuiUrl === undefined ? {} : { webuiUrl: f.webuiUrl }),
      ...(f.labels === undefined ? {} : { labels: labelsOf(f.labels)! }),
    };
    this.id = options.frameworkId;
    this.reconnect = new ReconnectLoop({
      initialMs: options.backoff?.initialMs ?? DEFAULT_BACKOFF.initialMs,
      maxMs: options.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs,
    });
    this.acks = new Acknowledgements({
      send: (a) => this.call({ type: 'ACKNOWLEDGE', acknowledge: a }),
      connected: () => this.current !== undefined,
      stopped: () => this.stopped,
      delayMs: (attempt) => this.reconnect.delayMs(attempt),
      log: this.log,
    });
  }

  /** The framework id (once subscribed, or the one given to fail over to). */
  get frameworkId(): string | undefined {
    return this.id;
  }

  /** True while a subscription is up. */
  get connected(): boolean {
    return this.current !== undefined;
  }

  /** `host:port` of the master subscribed to, while connected. */
  get master(): string | undefined {
    return this.current?.leader.hostPort;
  }

  /** Add a listener; returns the way to remove it. */
  on<K extends keyof SchedulerClientEvents>(event: K, listener: SchedulerClientEvents[K]): () => void {
    const set = this.listeners[event] as Set<SchedulerClientEvents[K]> | undefined;
    if (set === undefined)
      throw new ValidationError('event', `'${String(event)}' is not an event of the scheduler client (${Object.keys(this.listeners).join(', ')})`);
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * The next `event` whose argument satisfies `pred` (default: any), within `timeoutMs` (default
   * 30 s; an ETIMEDOUT CorralError then). Handy in tests and short scripts.
   */
  next<K extends Exclude<keyof SchedulerClientEvents, 'error'>>(
    event: K,
    pred: (arg: Parameters<SchedulerClientEvents[K]>[0]) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<Parameters<SchedulerClientEvents[K]>[0]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        offError();
        reject(new SchedulerClientError('DISCONNECTED', `no ${event} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(event, ((arg: Parameters<SchedulerClientEvents[K]>[0]) => {
        if (!pred(arg)) return;
        clearTimeout(timer);
        off();
        offError();
        resolve(arg);
      }) as SchedulerClientEvents[K]);
      const offError = this.on('error', (e) => {
        clearTimeout(timer);
        off();
        offError();
        reject(e);
      });
    });
  }

  /**
   * Find the leader and subscribe. Resolves at the first SUBSCRIBED (with the framework id);
   * rejects when the subscription is refused for good (an HttpError: 401 for credentials, 403,
   * 400 for a bad FrameworkInfo) or stop() is called first. Until then it keeps trying.
   */
  async start(): Promise<string> {
    if (this.stopped) throw new SchedulerClientError('CLIENT_STOPPED', 'the scheduler client was stopped');
    if (this.loopDone !== undefined) throw new ValidationError('start', 'the client was started already');
    const first = new Promise<void>((resolve, reject) => (this.firstSubscribed = { resolve, reject }));
    this.unlisten = this.detector.onChange((leader) => {
      const c = this.current;
      if (c !== undefined && (leader === undefined || leader.hostPort !== c.leader.hostPort || leader.id !== c.leader.id)) {
        this.log.info({ master: c.leader.hostPort, leader: leader?.hostPort ?? null }, 'The leading master changed; subscribing with the new leader');
        c.stream.close();
      }
      this.redirect = undefined;
      this.reconnect.wake();
    });
    await this.detector.start();
    this.loopDone = this.reconnect.run(() => this.attempt());
    await first;
    return this.id!;
  }

  /**
   * Stop: the stream is closed and no call is made any more. With `teardown: true` the
   * framework is torn down first (the master kills its tasks and forgets it); without, a
   * framework with a failover timeout can be taken up again by a client with its id.
   */
  async stop(o: { readonly teardown?: boolean } = {}): Promise<void> {
    this.closing = true;
    if (o.teardown && this.current !== undefined && this.id !== undefined) {
      await this.call({ type: 'TEARDOWN', frameworkId: this.id }).catch((e: unknown) => this.log.warn({ error: describeError(e) }, 'TEARDOWN failed'));
    }
    this.stopped = true;
    this.unlisten?.();
    this.current?.stream.close();
    this.reconnect.stop();
    this.firstSubscribed?.reject(new SchedulerClientError('CLIENT_STOPPED', 'the scheduler client was stopped before it subscribed'));
    await this.loopDone?.catch(() => {});
    this.acks.rejectAll(new SchedulerClientError('CLIENT_STOPPED', 'the scheduler client was stopped'));
    this.http.close();
    if (this.ownsDetector) await this.detector.stop().catch(() => {});
  }

  // ------------------------------------------------------------------------------------------
  // Calls

  /**
   * Send a call (any v1 scheduler call but SUBSCRIBE; its frameworkId is filled in). Resolves
   * when the master accepts it (202); throws an HttpError with the master's answer otherwise,
   * a TransportError when the connection fails, a SchedulerClientError DISCONNECTED when there
   * is no subscription.
   */
  async call(c: DistributiveOmit<Exclude<SchedulerCall, { type: 'SUBSCRIBE' | 'UNSUPPORTED' }>, 'frameworkId'> & { frameworkId?: string }): Promise<void> {
    if (this.stopped) throw new SchedulerClientError('CLIENT_STOPPED', `${c.type}: the scheduler client was stopped`);
    const sub = this.current;
    if (sub === undefined || this.id === undefined)
      throw new SchedulerClientError('DISCONNECTED', `${c.type}: the client is not subscribed (it is reconnecting)`);
    const body = encodeSchedulerCall({ ...c, frameworkId: this.id } as SchedulerCall);
    const r = await this.http.request({
      url: sub.url,
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': sub.streamId, ...this.auth },
      body,
    });
    if (r.status !== 202) {
      const answer = r.text().trim();
      throw new SchedulerRefusal(r.status, `${c.type} refused by the master at ${sub.leader.hostPort}: ${r.status} ${answer}`, answer);
    }
  }

  /** ACCEPT offers with these operations (LAUNCH, RESERVE, CREATE, …). */
  async accept(offerIds: readonly string[], operations: readonly Operation[], filters?: Filters): Promise<void> {
    check(Array.isArray(offerIds) && offerIds.length > 0 && offerIds.every(isNonEmptyString), 'offerIds', 'must be a non-empty array of offer ids');
    return this.call({ type: 'ACCEPT', accept: { offerIds, operations, ...(filters ? { filters } : {}) } });
  }

  /**
   * Launch tasks on an offer (or several offers of one agent): each TaskSpec becomes a TaskInfo
   * on that agent (`resources` may be text such as `cpus:0.5;mem:128`). Resources of the offers
   * that the tasks do not use go back to the allocator; `filters.refuseSeconds` (default 0)
   * says how long they are not offered again.
   */
  async launch(offers: Offer | readonly Offer[], tasks: readonly TaskSpec[], filters: Filters = { refuseSeconds: 0 }): Promise<void> {
    const list: readonly Offer[] = Array.isArray(offers) ? offers : [offers as Offer];
    check(
      list.length > 0 && list.every((o) => isNonEmptyString(o?.id) && isNonEmptyString(o?.agentId)),
      'offers',
      'must be offers (as received) with id and agentId',
    );
    const agentId = list[0]!.agentId;
    check(
      list.every((o) => o.agentId === agentId),
      'offers',
      'must all be of one agent',
    );
    check(Array.isArray(tasks), 'tasks', 'must be an array of tasks');
    const infos: TaskInfo[] = tasks.map((t, i) => toTaskInfo(t, agentId, `tasks[${i}]`));
    await this.accept(
      list.map((o) => o.id),
      [{ type: 'LAUNCH', launch: { taskInfos: infos } }],
      filters,
    );
    for (const t of infos) this.live.set(t.taskId, agentId);
  }

  /** DECLINE offers; their resources are not offered to this framework again for `refuseSeconds` (default 5, as Mesos). */
  async decline(offerIds: string | readonly string[], refuseSeconds = 5): Promise<void> {
    const ids = typeof offerIds === 'string' ? [offerIds] : offerIds;
    check(Array.isArray(ids) && ids.length > 0 && ids.every(isNonEmptyString), 'offerIds', 'must be an offer id or a non-empty array of them');
    check(typeof refuseSeconds === 'number' && refuseSeconds >= 0, 'refuseSeconds', 'must be a number of seconds, 0 or more');
    return this.call({ type: 'DECLINE', decline: { offerIds: ids, filters: { refuseSeconds } } });
  }

  /** REVIVE: offers again, clearing the filters of earlier declines (for `roles`, or all). */
  async revive(roles?: readonly string[]): Promise<void> {
    return this.call({ type: 'REVIVE', ...(roles ? { revive: { roles } } : {}) });
  }

  /** SUPPRESS: no offers until a REVIVE (for `roles`, or all). */
  async suppress(roles?: readonly string[]): Promise<void> {
    return this.call({ type: 'SUPPRESS', ...(roles ? { suppress: { roles } } : {}) });
  }

  /** KILL a task. */
  async kill(taskId: string, agentId?: string, killPolicy?: KillPolicy): Promise<void> {
    check(isNonEmptyString(taskId), 'taskId', 'must be a non-empty string');
    const agent = agentId ?? this.live.get(taskId);
    return this.call({ type: 'KILL', kill: { taskId, ...(agent ? { agentId: agent } : {}), ...(killPolicy ? { killPolicy } : {}) } });
  }

  /** SHUTDOWN an executor of the framework on an agent. */
  async shutdownExecutor(executorId: string, agentId: string): Promise<void> {
    check(isNonEmptyString(executorId), 'executorId', 'must be a non-empty string');
    check(isNonEmptyString(agentId), 'agentId', 'must be a non-empty string');
    return this.call({ type: 'SHUTDOWN', shutdown: { executorId, agentId } });
  }

  /** Send `data` to an executor of the framework. */
  async message(agentId: string, executorId: string, data: string | Uint8Array): Promise<void> {
    check(isNonEmptyString(agentId), 'agentId', 'must be a non-empty string');
    check(isNonEmptyString(executorId), 'executorId', 'must be a non-empty string');
    return this.call({ type: 'MESSAGE', message: { agentId, executorId, data: Buffer.from(data).toString('base64') } });
  }

  /**
   * Acknowledge a status update (needed with `implicitAcknowledgements: false`; an update
   * without a uuid needs none). Resolves once the master has taken it; until then it is sent
   * again after each failure, also across reconnects.
   */
  acknowledge(status: TaskStatus): Promise<void> {
    check(typeof status === 'object' && status !== null && isNonEmptyString(status.taskId), 'status', 'must be a TaskStatus from an update event');
    const { uuid, agentId } = status;
    if (uuid === undefined || agentId === undefined) return Promise.resolve();
    return this.acks.acknowledge({ ...status, uuid, agentId });
  }

  /** RECONCILE: the master answers with an update (reason REASON_RECONCILIATION) for each task, or for all the framework's tasks when `tasks` is empty. */
  async reconcile(tasks: readonly { readonly taskId: string; readonly agentId?: string }[] = []): Promise<void> {
    check(Array.isArray(tasks) && tasks.every((t) => isNonEmptyString(t?.taskId)), 'tasks', 'must be an array of { taskId, agentId? }');
    return this.call({ type: 'RECONCILE', reconcile: { tasks } });
  }

  /**
   * Explicit reconciliation until answered: RECONCILE the tasks, again every `retryMs` (default
   * 2 s) for those not yet answered, until each has an update; resolves with each task's state.
   * Rejects (ETIMEDOUT) after `timeoutMs` (default 30 s).
   */
  async reconcileTasks(
    tasks: readonly { readonly taskId: string; readonly agentId?: string }[],
    o: { readonly retryMs?: number; readonly timeoutMs?: number } = {},
  ): Promise<Map<string, TaskStatus>> {
    check(Array.isArray(tasks) && tasks.every((t) => isNonEmptyString(t?.taskId)), 'tasks', 'must be an array of { taskId, agentId? }');
    return reconcileUntilAnswered({ onUpdate: (l) => this.on('update', l), reconcile: (ts) => this.reconcile(ts) }, tasks, o);
  }

  /** TEARDOWN the framework: the master kills its tasks and forgets it; the client stops. */
  async teardown(): Promise<void> {
    await this.stop({ teardown: true });
  }

  // ------------------------------------------------------------------------------------------
  // The subscription loop

  private emit<K extends keyof SchedulerClientEvents>(event: K, arg: Parameters<SchedulerClientEvents[K]>[0]): unknown[] {
    const out: unknown[] = [];
    for (const l of [...this.listeners[event]]) {
      try {
        const r = (l as (a: typeof arg) => unknown)(arg);
        if (r instanceof Promise) {
          // An async listener's failure (a call refused while the master goes away) is logged, never an unhandled rejection.
          r.catch((e: unknown) => this.log.warn({ event, error: describeError(e) }, 'A scheduler client listener failed'));
        }
        out.push(r);
      } catch (e) {
        this.log.error({ event, error: describeError(e) }, 'A scheduler client listener threw');
        const failed = Promise.reject(e);
        failed.catch(() => {});
        out.push(failed);
      }
    }
    return out;
  }

  private fail(e: Error): void {
    if (this.ended) return;
    this.ended = e;
    this.stopped = true;
    this.log.error({ error: e.message }, 'The scheduler client stops');
    if (this.firstSubscribed) this.firstSubscribed.reject(e);
    else this.emit('error', e);
    this.reconnect.stop();
    this.acks.rejectAll(e);
  }

  private subscribeBody(): object {
    const id = this.id;
    return encodeSchedulerCall({
      type: 'SUBSCRIBE',
      ...(id === undefined ? {} : { frameworkId: id }),
      subscribe: { frameworkInfo: id === undefined ? this.info : { ...this.info, id } },
    });
  }

  /** One subscription attempt: find the leader, SUBSCRIBE, read the stream to its end (run by the ReconnectLoop). */
  private async attempt(): Promise<AttemptOutcome> {
    if (this.stopped) return 'stop';
    const leader: LeaderAddress | undefined = this.redirect !== undefined ? { id: '', hostPort: this.redirect } : this.detector.current();
    if (leader === undefined) return {};
    const url = `${this.http.scheme}://${leader.hostPort}${this.options.path ?? '/api/v1/scheduler'}`;
    let stream: ClientStream;
    try {
      stream = await this.http.openStream({
        url,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...this.auth },
        body: this.subscribeBody(),
      });
    } catch (e) {
      this.log.info({ master: leader.hostPort, error: describeError(e) }, 'Could not subscribe; retrying');
      this.redirect = undefined;
      return {};
    }
    if (stream.status !== 200) {
      stream.close();
      const location = stream.headers.location;
      if (stream.status === 307 && typeof location === 'string') {
        // A master that does not lead names the one that does: //host:port/path.
        const m = /^(?:[a-z]+:)?\/\/([^/]+)/i.exec(location);
        this.redirect = m?.[1];
        this.log.info({ master: leader.hostPort, leader: this.redirect ?? null }, 'Not the leading master; following its redirect');
        return this.reconnect.attempt === 0 ? { delayMs: 0 } : {};
      }
      this.redirect = undefined;
      if (stream.status === 307 || stream.status === 503 || stream.status >= 500) return {};
      const hint = stream.status === 401 ? (this.options.credential ? ' (check the credential)' : ' (the master requires a credential)') : '';
      const answer = stream.text.trim();
      this.fail(new SchedulerRefusal(stream.status, `the master at ${leader.hostPort} refused the subscription: ${stream.status} ${answer}${hint}`, answer));
      return 'stop';
    }
    const reason = await this.read({ leader, url, streamId: String(stream.headers['mesos-stream-id'] ?? ''), stream });
    if (this.stopped || this.closing) return 'stop';
    this.log.info({ master: leader.hostPort, reason: reason.text }, 'Disconnected from the master');
    this.emit('disconnected', { master: leader.hostPort, reason: reason.text, heartbeatLost: reason.heartbeatLost });
    if (this.options.reconnect === false) {
      this.fail(new SchedulerClientError('FRAMEWORK_ENDED', `disconnected from the master at ${leader.hostPort} (${reason.text}) and reconnect is off`));
      return 'stop';
    }
    return { reset: reason.subscribed };
  }

  /** Read one subscription's stream to its end; says why it ended. */
  private async read(sub: Subscription): Promise<{ text: string; heartbeatLost: boolean; subscribed: boolean }> {
    let heartbeatLost = false;
    let subscribed = false;
    let silenceMs = HEARTBEAT_INTERVAL_SECONDS * 1000 * ((this.options.heartbeatMisses ?? 2) + 1);
    let watchdog: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        heartbeatLost = true;
        sub.stream.close();
      }, silenceMs);
    };
    arm();
    try {
      for await (const record of sub.stream.records) {
        arm();
        let event: SchedulerEvent;
        try {
          event = decodeSchedulerEvent(JSON.parse(record.toString('utf8')));
        } catch (e) {
          this.log.warn({ error: describeError(e) }, 'Skipping an event that does not decode');
          continue;
        }
        if (event.type === 'SUBSCRIBED') {
          subscribed = true;
          silenceMs = event.subscribed.heartbeatIntervalSeconds * 1000 * ((this.options.heartbeatMisses ?? 2) + 1);
          arm();
          this.onSubscribed(sub, event.subscribed);
        } else if (event.type === 'ERROR') {
          this.fail(new SchedulerClientError('FRAMEWORK_ENDED', `the master says: ${event.error.message}`));
          return { text: `the master sent an error: ${event.error.message}`, heartbeatLost, subscribed };
        } else {
          this.dispatch(event);
        }
      }
      return { text: heartbeatLost ? 'no heartbeat from the master' : 'the master closed the event stream', heartbeatLost, subscribed };
    } catch (e) {
      return { text: heartbeatLost ? 'no heartbeat from the master' : `the event stream broke: ${describeError(e)}`, heartbeatLost, subscribed };
    } finally {
      clearTimeout(watchdog);
      if (this.current === sub) this.current = undefined;
      sub.stream.close();
    }
  }

  private onSubscribed(sub: Subscription, s: { frameworkId: string; heartbeatIntervalSeconds: number; masterInfo?: MasterInfo }): void {
    const resubscribed = this.subscriptions > 0;
    this.subscriptions++;
    this.id = s.frameworkId;
    this.current = sub;
    this.log.info({ framework: s.frameworkId, master: sub.leader.hostPort }, resubscribed ? 'Subscribed again' : 'Subscribed');
    const first = this.firstSubscribed;
    this.firstSubscribed = undefined;
    first?.resolve();
    this.emit('subscribed', {
      frameworkId: s.frameworkId,
      master: sub.leader.hostPort,
      heartbeatIntervalSeconds: s.heartbeatIntervalSeconds,
      resubscribed,
      ...(s.masterInfo ? { masterInfo: s.masterInfo } : {}),
    });
    this.acks.resendAll();
    if (resubscribed && (this.options.reconcileOnResubscribe ?? true) && this.live.size > 0) {
      const tasks = [...this.live].map(([taskId, agentId]) => ({ taskId, agentId }));
      this.reconcileTasks(tasks, { timeoutMs: 60_000 }).catch((e: unknown) =>
        this.log.info({ error: describeError(e) }, 'Reconciliation after subscribing again did not finish'),
      );
    }
  }

  private dispatch(event: Exclude<SchedulerEvent, { type: 'SUBSCRIBED' | 'ERROR' }>): void {
    switch (event.type) {
      case 'OFFERS':
        this.emit('offers', event.offers.offers);
        return;
      case 'RESCIND':
        this.emit('rescind', event.rescind.offerId);
        return;
      case 'UPDATE': {
        const s = event.update.status;
        if (isTerminal(s.state)) this.live.delete(s.taskId);
        else if (s.agentId !== undefined && this.live.has(s.taskId)) this.live.set(s.taskId, s.agentId);
        const results = this.emit('update', s);
        if (this.acks.isRepeat(s)) {
          // An update acknowledged before comes again: the agent did not get that acknowledgement
          // (the master drops one for an agent that has not re-registered with it yet, as after a
          // master restart) and resends the update; the next update of the task waits for it.
          this.log.info({ task: s.taskId, state: s.state, agent: s.agentId }, 'A status update acknowledged before came again; acknowledging it again');
          void this.acknowledge(s).catch(() => {});
        } else if ((this.options.implicitAcknowledgements ?? true) && s.uuid !== undefined) {
          void Promise.all(results).then(
            () => this.acknowledge(s).catch(() => {}),
            (e: unknown) =>
              this.log.warn({ task: s.taskId, error: describeError(e) }, 'An update listener failed: the update is not acknowledged (it will come again)'),
          );
        }
        return;
      }
      case 'MESSAGE':
        this.emit('message', { agentId: event.message.agentId, executorId: event.message.executorId, data: Buffer.from(event.message.data, 'base64') });
        return;
      case 'FAILURE':
        this.emit('failure', event.failure);
        return;
      case 'HEARTBEAT':
        return;
    }
  }
}
