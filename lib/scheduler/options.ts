/**
 * The scheduler client's options and event types (lib/scheduler/client.ts), and the check of
 * the options: one ValidationError naming the field and the reason.
 */
import { ValidationError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { CapabilityType, Labels, MasterInfo, Offer, TaskStatus } from '../proto/messages.ts';
import type { Credential, MasterDetector, TlsConfig } from '../transport/index.ts';

/** The framework as the client subscribes it (FrameworkInfo in the client's words). */
export interface FrameworkOptions {
  /** The framework's name (required). */
  readonly name: string;
  /** The user tasks run as by default (default: the user running this process). */
  readonly user?: string;
  /** Its role (default `*`). */
  readonly role?: string;
  /** Several roles (MULTI_ROLE); then `role` is not sent. */
  readonly roles?: readonly string[];
  /**
   * How long the master keeps the framework and its tasks while it is away (seconds; default 0:
   * a framework whose connection drops is ended at once). A client that should survive a
   * master failover or its own restart sets this.
   */
  readonly failoverTimeoutSeconds?: number;
  /** Ask agents to checkpoint its tasks (they survive an agent restart). */
  readonly checkpoint?: boolean;
  /** FrameworkInfo.principal (set from `credential` when that is given). */
  readonly principal?: string;
  readonly hostname?: string;
  readonly webuiUrl?: string;
  readonly capabilities?: readonly CapabilityType[];
  readonly labels?: Readonly<Record<string, string>>;
}

/** Back-off between subscription attempts: `initialMs`, doubling to `maxMs`, each with up to half of it as random jitter. */
export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
}

export interface SchedulerClientOptions {
  /**
   * The master: `host:port`, `zk://host:2181,…/path` (follow the leader of a ZooKeeper group),
   * or a MasterDetector of your own.
   */
  readonly master: string | MasterDetector;
  readonly framework: FrameworkOptions;
  /** Subscribe as this framework id (fail over to a framework that was subscribed before). */
  readonly frameworkId?: string;
  /** Sent as HTTP Basic on every call (a master run with --authenticate_frameworks). */
  readonly credential?: Credential;
  /** Connect over TLS (`loadTlsConfig(process.env)` reads LIBPROCESS_SSL_*). */
  readonly tls?: TlsConfig;
  /** Acknowledge each update after the `update` listeners (default true). False: call acknowledge(). */
  readonly implicitAcknowledgements?: boolean;
  /** Subscribe again when the subscription is lost (default true). False: the client stops instead. */
  readonly reconnect?: boolean;
  readonly backoff?: BackoffOptions;
  /** Heartbeats that may be missed before the connection is taken as lost (default 2: 3 intervals of silence). */
  readonly heartbeatMisses?: number;
  /** After subscribing again, reconcile the tasks this client launched and has not seen end (default true). */
  readonly reconcileOnResubscribe?: boolean;
  /** The endpoint path (default /api/v1/scheduler). */
  readonly path?: string;
  readonly logger?: Logger;
}

/** What `subscribed` listeners get. */
export interface Subscribed {
  readonly frameworkId: string;
  /** `host:port` of the master subscribed to. */
  readonly master: string;
  readonly masterInfo?: MasterInfo;
  readonly heartbeatIntervalSeconds: number;
  /** True when this is not the client's first subscription (a reconnect, a failover). */
  readonly resubscribed: boolean;
}

/** What `disconnected` listeners get. */
export interface Disconnected {
  /** `host:port` of the master the subscription was with, when there was one. */
  readonly master?: string;
  /** What happened, in words: the stream ended, broke, went silent, the leader changed. */
  readonly reason: string;
  /** True when the stream brought nothing for `heartbeatMisses` + 1 heartbeat intervals. */
  readonly heartbeatLost: boolean;
}

/** Listeners by event. A listener may return a promise (awaited only for implicit acknowledgement of an update). */
export interface SchedulerClientEvents {
  subscribed: (s: Subscribed) => void;
  offers: (offers: readonly Offer[]) => void;
  rescind: (offerId: string) => void;
  /** A task's status update. With implicit acknowledgements it is acknowledged once every listener is done. */
  update: (status: TaskStatus) => void | Promise<void>;
  message: (m: { readonly agentId: string; readonly executorId: string; readonly data: Buffer }) => void;
  failure: (f: { readonly agentId?: string; readonly executorId?: string; readonly status?: number }) => void;
  disconnected: (d: Disconnected) => void;
  /** The client has stopped for good (the master ended the framework, or the subscription was refused); `stop()` does not emit it. */
  error: (e: Error) => void;
}

export function check(cond: boolean, field: string, reason: string): void {
  if (!cond) throw new ValidationError(field, reason);
}

export function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

export function checkOptions(o: SchedulerClientOptions): void {
  check(typeof o === 'object' && o !== null, 'options', 'must be an object');
  const m = o.master as unknown;
  check(
    isNonEmptyString(m) || (typeof m === 'object' && m !== null && typeof (m as MasterDetector).current === 'function'),
    'master',
    'must be host:port, zk://host:port/path or a MasterDetector',
  );
  const f = o.framework as unknown as Record<string, unknown> | undefined;
  check(typeof f === 'object' && f !== null, 'framework', 'must be an object with at least a name');
  check(isNonEmptyString(f!.name), 'framework.name', 'must be a non-empty string');
  if (f!.user !== undefined) check(isNonEmptyString(f!.user), 'framework.user', 'must be a non-empty string');
  if (f!.role !== undefined) check(isNonEmptyString(f!.role), 'framework.role', 'must be a non-empty string');
  if (f!.roles !== undefined) check(Array.isArray(f!.roles) && f!.roles.every(isNonEmptyString), 'framework.roles', 'must be an array of role names');
  if (f!.failoverTimeoutSeconds !== undefined)
    check(
      typeof f!.failoverTimeoutSeconds === 'number' && Number.isFinite(f!.failoverTimeoutSeconds) && f!.failoverTimeoutSeconds >= 0,
      'framework.failoverTimeoutSeconds',
      'must be a number of seconds, 0 or more',
    );
  if (o.frameworkId !== undefined) check(isNonEmptyString(o.frameworkId), 'frameworkId', 'must be a non-empty string');
  if (o.credential !== undefined)
    check(isNonEmptyString(o.credential?.principal) && typeof o.credential.secret === 'string', 'credential', 'must be { principal, secret }');
  for (const k of ['initialMs', 'maxMs'] as const) {
    const v = o.backoff?.[k];
    if (v !== undefined) check(typeof v === 'number' && v > 0 && Number.isFinite(v), `backoff.${k}`, 'must be a positive number of milliseconds');
  }
  if (o.heartbeatMisses !== undefined) check(Number.isInteger(o.heartbeatMisses) && o.heartbeatMisses >= 0, 'heartbeatMisses', 'must be an integer, 0 or more');
  if (o.path !== undefined) check(isNonEmptyString(o.path) && o.path.startsWith('/'), 'path', "must start with '/'");
}

export function labelsOf(l: Readonly<Record<string, string>> | undefined): Labels | undefined {
  return l === undefined ? undefined : { labels: Object.entries(l).map(([key, value]) => ({ key, value })) };
}
