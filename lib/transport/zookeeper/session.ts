/**
 * One ZooKeeper session, with a promise API, and a lease that says whether the session can still
 * be trusted at this instant.
 *
 * Paths: every path given to or returned by a ZkSession is relative to the URL's path, written
 * the way a ZooKeeper chroot writes them: `/` is the URL's path itself (e.g. `/corral`),
 * `/registry/epoch` is `/corral/registry/epoch`. Errors and logs show the full path.
 *
 * ACLs: with credentials in the URL the session authenticates with `digest user:password`, and
 * what it creates is readable and writable by those credentials only (`auth` ALL), or also
 * readable by anyone when asked (`worldReadable`: the masters' `json.info_` znodes and the path
 * above them, which third-party clients read). Without credentials znodes are open to all.
 *
 * The lease (`mayAct()`): ZooKeeper expires a session the session timeout T after the last
 * message it got from the client, and a client learns of it only when it reconnects. A process
 * that acts on an ephemeral znode (a leader) must therefore stop trusting its session on its own
 * clock, before T has passed. The session sends a probe (an `exists`) every T/5; a probe that is
 * answered proves the server heard the client at or after the probe was sent, so the session
 * cannot have expired before send time + T. mayAct() is true while the last answered probe was
 * sent less than 2/3·T ago, so a client that is disconnected, or talks to a server that stopped
 * answering, loses the lease with T/3 to spare. A watchdog timer measures its own gaps: an event
 * loop that stalled more than T/2 (SIGSTOP, a swap storm) cancels the lease until a probe sent
 * after the stall is answered; mayAct() checks the same gap itself, so a caller that runs first
 * after SIGCONT, before any timer, already gets false.
 */
import { CorralError, ValidationError, describeError } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/log.ts';
import { type Watcher, type ZkAcl, type ZkClient, type ZkClientEvent, type ZkException, type ZkStat, OP, zookeeper } from './client_api.ts';
import { type ZkUrl, parseZkUrl } from './url.ts';

export type ZkCreateMode = 'persistent' | 'ephemeral' | 'ephemeral_sequential' | 'persistent_sequential';
export type ZkState = 'connected' | 'disconnected' | 'expired';

/** A watch that fired. Watches fire once; set a new one to keep watching. */
export interface ZkWatchEvent {
  readonly type: 'created' | 'deleted' | 'data_changed' | 'children_changed';
  /** Relative to the URL's path, like every ZkSession path. */
  readonly path: string;
}
export type ZkWatcher = (event: ZkWatchEvent) => void;

export type ZkData = Buffer | Uint8Array | string;

/** One operation of a multi(): all of them apply, or none. */
export type ZkOp =
  | { readonly op: 'create'; readonly path: string; readonly data?: ZkData; readonly mode?: ZkCreateMode; readonly worldReadable?: boolean }
  | { readonly op: 'set'; readonly path: string; readonly data: ZkData; readonly version?: number }
  | { readonly op: 'remove'; readonly path: string; readonly version?: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number };

export type ZkOpResult =
  { readonly op: 'create'; readonly path: string } | { readonly op: 'set'; readonly version: number } | { readonly op: 'remove' } | { readonly op: 'check' };

/**
 * A ZooKeeper operation that failed. `zk` is ZooKeeper's name for the reason (NO_NODE,
 * NODE_EXISTS, BAD_VERSION, NOT_EMPTY, NO_AUTH, CONNECTION_LOSS, SESSION_EXPIRED, …); callers
 * branch on it. For a multi(), `opIndex` is the operation that failed.
 */
export class ZkError extends CorralError {
  readonly zk: string;
  /** The full znode path (with the URL's path), when the failure is about one. */
  readonly path: string | undefined;
  readonly opIndex: number | undefined;

  constructor(zk: string, message: string, options: { path?: string; opIndex?: number; field?: string; cause?: unknown } = {}) {
    super('ZOOKEEPER', message, options);
    this.name = 'ZkError';
    this.zk = zk;
    this.path = options.path;
    this.opIndex = options.opIndex;
  }
}

export interface ZkSessionOptions {
  /** A parsed URL, or the text of one (parsed with `field`). */
  readonly url: ZkUrl | string;
  /** The flag the URL came from (`--zk`, `--master`), for error messages. */
  readonly field: string;
  /** Asked of the servers; they may negotiate it into their [min, max] (see `sessionTimeoutMs`). */
  readonly sessionTimeoutMs: number;
  /** How long open() waits for a first server to answer (default: the larger of 10 s and the session timeout). */
  readonly connectTimeoutMs?: number;
  readonly logger?: Logger;
}

const MODES: Record<ZkCreateMode, number> = {
  persistent: zookeeper.CreateMode.PERSISTENT,
  ephemeral: zookeeper.CreateMode.EPHEMERAL,
  ephemeral_sequential: zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL,
  persistent_sequential: zookeeper.CreateMode.PERSISTENT_SEQUENTIAL,
};

const EVENT_TYPES = new Map<number, ZkWatchEvent['type']>([
  [zookeeper.Event.NODE_CREATED, 'created'],
  [zookeeper.Event.NODE_DELETED, 'deleted'],
  [zookeeper.Event.NODE_DATA_CHANGED, 'data_changed'],
  [zookeeper.Event.NODE_CHILDREN_CHANGED, 'children_changed'],
]);

/** The lease lasts this share of the session timeout from the send of the last answered probe. */
const LEASE_SHARE = 2 / 3;
/** An event-loop gap longer than this share of the session timeout cancels the lease. */
const STALL_SHARE = 1 / 2;
const PROBE_SHARE = 1 / 5;

export class ZkSession {
  readonly url: ZkUrl;
  private readonly field: string;
  private readonly client: ZkClient;
  private readonly log: Logger;
  private readonly requestedTimeoutMs: number;
  private readonly stateListeners = new Set<(state: ZkState) => void>();
  private readonly leaseListeners = new Set<(reason: string) => void>();
  private readonly wrapped = new WeakMap<ZkWatcher, Watcher>();
  private state: ZkState | 'connecting' | 'closed' = 'connecting';
  private resolveExpired!: () => void;
  private resolveEnded!: (reason: string) => void;
  /** Resolves when ZooKeeper has expired the session, or refused its credentials (it is then useless: open a new one). Never rejects. */
  readonly expired: Promise<void>;
  /** Resolves, with the reason in words, when the session ends: expired, refused, or closed. Never rejects. */
  readonly ended: Promise<string>;

  // The lease (performance.now() milliseconds).
  private leaseFrom: number | undefined;
  private lastStall = -Infinity;
  private lastTick = performance.now();
  private probeSentAt: number | undefined;
  private leaseHeld = false;
  private watchdog: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;

  private constructor(url: ZkUrl, options: ZkSessionOptions) {
    this.url = url;
    this.field = options.field;
    this.log = (options.logger ?? silentLogger).child({ zk: url.redacted });
    this.requestedTimeoutMs = options.sessionTimeoutMs;
    this.expired = new Promise((resolve) => (this.resolveExpired = resolve));
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.client = zookeeper.createClient(url.servers.join(','), {
      sessionTimeout: options.sessionTimeoutMs,
      // After every server was tried once, wait up to this long (a random share) before the next round.
      spinDelay: Math.min(1000, Math.max(50, Math.floor(options.sessionTimeoutMs / 10))),
      retries: 0,
    });
    if (url.credentials) this.client.addAuthInfo('digest', Buffer.from(`${url.credentials.user}:${url.credentials.password}`));
    this.client.on('state', (s) => this.onClientState(s.name));
  }

  /**
   * Connect to the ensemble and wait for a session (and its first lease). Rejects with a
   * CorralError (code ZOOKEEPER_UNREACHABLE) naming the field and the servers when none answers in
   * time, or a ValidationError when the URL does not parse.
   */
  static async open(options: ZkSessionOptions): Promise<ZkSession> {
    const url = typeof options.url === 'string' ? parseZkUrl(options.url, options.field) : options.url;
    if (!Number.isFinite(options.sessionTimeoutMs) || options.sessionTimeoutMs <= 0) {
      throw new ValidationError(options.field, `the ZooKeeper session timeout must be a positive duration (got ${options.sessionTimeoutMs} ms)`);
    }
    const session = new ZkSession(url, options);
    const connectTimeoutMs = options.connectTimeoutMs ?? Math.max(10_000, options.sessionTimeoutMs);
    await session.connect(connectTimeoutMs);
    return session;
  }

  private connect(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        void this.close();
        reject(
          new CorralError(
            'ZOOKEEPER_UNREACHABLE',
            `${this.field}: no ZooKeeper server answered within ${formatMs(timeoutMs)} (servers ${this.url.servers.join(', ')}, path ${this.url.path})`,
            { field: this.field },
          ),
        );
      }, timeoutMs);
      const off = this.onLeaseChange((held) => {
        if (!held) return;
        clearTimeout(timer);
        off();
        resolve();
      });
      this.client.connect();
      this.startTimers();
    });
  }

  /** The session timeout the servers granted (what the lease is measured against). */
  get sessionTimeoutMs(): number {
    const t = this.client.getSessionTimeout();
    return t > 0 ? t : this.requestedTimeoutMs;
  }

  /** The session id as ZooKeeper's tools print it (hex), for logs. */
  get sessionId(): string {
    return (
      '0x' +
      this.client
        .getSessionId()
        .toString('hex')
        .replace(/^0+(?=.)/, '')
    );
  }

  /** `ip:port` of the server the session is connected to now, or undefined while it is not. */
  get connectedServer(): string | undefined {
    const socket = this.client.connectionManager?.socket;
    if (this.state !== 'connected' || !socket?.remoteAddress) return undefined;
    return `${socket.remoteAddress}:${socket.remotePort}`;
  }

  /** The connection state now. */
  get currentState(): ZkState | 'connecting' | 'closed' {
    return this.state;
  }

  /** Called on each change of the connection state. Returns the way to stop listening. */
  onState(listener: (state: ZkState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Called with the reason when the lease is lost (mayAct() turned false). Returns the way to stop listening. */
  onLeaseLost(listener: (reason: string) => void): () => void {
    this.leaseListeners.add(listener);
    return () => this.leaseListeners.delete(listener);
  }

  /** May the holder of this session act on what the session holds (its ephemeral znodes) at this instant? See the file comment. */
  mayAct(): boolean {
    const now = performance.now();
    if (this.state === 'expired' || this.state === 'closed') return false;
    if (now - this.lastTick > this.sessionTimeoutMs * STALL_SHARE) return false; // a stall the watchdog has not seen yet
    return this.leaseValid(now);
  }

  private leaseValid(now: number): boolean {
    return this.leaseFrom !== undefined && this.leaseFrom > this.lastStall && now - this.leaseFrom < this.sessionTimeoutMs * LEASE_SHARE;
  }

  // ------------------------------------------------------------------------------- operations

  /** Create a znode; returns its path (relative; with the sequence number for a sequential one). */
  async create(path: string, data: ZkData | undefined, mode: ZkCreateMode = 'persistent', options: { worldReadable?: boolean } = {}): Promise<string> {
    const abs = this.abs(path);
    const created = await this.call<string>('create', abs, (cb) =>
      this.client.create(abs, toBuffer(data), this.acls(options.worldReadable === true), MODES[mode], cb),
    );
    return this.rel(created);
  }

  /** Create the znode and every missing one above it (persistent, empty); existing ones are left as they are. */
  async mkdirp(path: string, options: { worldReadable?: boolean } = {}): Promise<void> {
    const abs = this.abs(path);
    const parts = abs.split('/').filter(Boolean);
    let current = '';
    for (const part of parts) {
      current += '/' + part;
      const at = current;
      if ((await this.call<ZkStat | null>('exists', at, (cb) => this.client.exists(at, undefined, cb))) !== null) continue;
      try {
        await this.call<string>('create', at, (cb) => this.client.create(at, undefined, this.acls(options.worldReadable === true), MODES.persistent, cb));
      } catch (e) {
        if (!(e instanceof ZkError && e.zk === 'NODE_EXISTS')) throw e;
      }
    }
  }

  /** The znode's data version, or undefined when it does not exist. A watcher fires when it is created, deleted or changed. */
  async exists(path: string, watcher?: ZkWatcher): Promise<number | undefined> {
    const abs = this.abs(path);
    const stat = await this.call<ZkStat | null>('exists', abs, (cb) => this.client.exists(abs, this.wrap(watcher), cb));
    return stat ? stat.version : undefined;
  }

  /** The znode's data and version, or undefined when it does not exist (then no watch is set). */
  async getData(path: string, watcher?: ZkWatcher): Promise<{ data: Buffer; version: number } | undefined> {
    const abs = this.abs(path);
    try {
      const [data, stat] = await this.call2<Buffer | null, ZkStat>('getData', abs, (cb) => this.client.getData(abs, this.wrap(watcher), cb));
      return { data: data ?? Buffer.alloc(0), version: stat.version };
    } catch (e) {
      if (e instanceof ZkError && e.zk === 'NO_NODE') return undefined;
      throw e;
    }
  }

  /** Set the data (when `version` is given, only if the znode is at that version); returns the new version. */
  async setData(path: string, data: ZkData, version = -1): Promise<number> {
    const abs = this.abs(path);
    const stat = await this.call<ZkStat>('setData', abs, (cb) => this.client.setData(abs, toBuffer(data) ?? Buffer.alloc(0), version, cb));
    return stat.version;
  }

  /** The children's names (unordered). A missing znode is a ZkError NO_NODE. A watcher fires when a child comes or goes, or the znode is deleted. */
  async getChildren(path: string, watcher?: ZkWatcher): Promise<string[]> {
    const abs = this.abs(path);
    return this.call<string[]>('getChildren', abs, (cb) => this.client.getChildren(abs, this.wrap(watcher), cb));
  }

  /** Delete the znode (when `version` is given, only at that version). */
  async remove(path: string, version = -1): Promise<void> {
    const abs = this.abs(path);
    await this.call<void>('remove', abs, (cb) => this.client.remove(abs, version, (e) => cb(e, undefined)));
  }

  /**
   * Apply all the operations atomically, or none of them. A failure is a ZkError whose `zk` is the
   * failing operation's reason and `opIndex` its place.
   */
  async multi(ops: readonly ZkOp[]): Promise<ZkOpResult[]> {
    if (ops.length === 0) return [];
    const tx = this.client.transaction();
    const abs = ops.map((o) => this.abs(o.path));
    ops.forEach((o, i) => {
      const p = abs[i]!;
      switch (o.op) {
        case 'create':
          tx.create(p, toBuffer(o.data), this.acls(o.worldReadable === true), MODES[o.mode ?? 'persistent']);
          break;
        case 'set':
          tx.setData(p, toBuffer(o.data) ?? Buffer.alloc(0), -1);
          break;
        case 'remove':
          tx.remove(p, -1);
          break;
        case 'check':
          tx.check(p, -1);
          break;
      }
      // The client turns a version of 0 into -1 (any version): set it here.
      const v = o.op === 'create' ? undefined : (o.version ?? -1);
      if (v !== undefined) tx.ops[i]!.version = v;
    });
    this.checkUsable('multi', abs[0]!);
    const results = await new Promise<{ type: number; err?: number; path?: string; stat?: ZkStat }[]>((resolve, reject) => {
      tx.commit((error, res) => {
        if (error && res) {
          const index = res.findIndex((r) => r.type === OP.ERROR && r.err !== 0 && r.err !== zookeeper.Exception.RUNTIME_INCONSISTENCY);
          const at = index >= 0 ? index : 0;
          const op = ops[at]!;
          const what = `${op.op} ${abs[at]}${'version' in op && op.version !== undefined ? ` at version ${op.version}` : ''}`;
          reject(
            new ZkError(error.name, `ZooKeeper multi of ${ops.length} operations failed at operation ${at + 1} (${what}): ${error.name}`, {
              path: abs[at]!,
              opIndex: at,
              field: this.field,
              cause: error,
            }),
          );
        } else if (error) reject(this.zkError('multi', abs[0]!, error));
        else resolve(res ?? []);
      });
    });
    return results.map((r, i): ZkOpResult => {
      switch (r.type) {
        case OP.CREATE:
          return { op: 'create', path: this.rel(r.path ?? abs[i]!) };
        case OP.SET_DATA:
          return { op: 'set', version: r.stat?.version ?? -1 };
        case OP.DELETE:
          return { op: 'remove' };
        default:
          return { op: 'check' };
      }
    });
  }

  /** End the session: its ephemeral znodes are deleted at once. Idempotent. */
  async close(): Promise<void> {
    this.stopTimers();
    if (this.state === 'closed') return;
    const wasLive = this.state !== 'expired';
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.stateListeners.clear();
    this.leaseListeners.clear();
    this.resolveEnded('the ZooKeeper session was closed');
    if (!wasLive) return;
    if (!wasConnected) {
      // No server to tell: drop whatever connection attempt is under way.
      this.client.close();
      this.client.connectionManager?.socket?.destroy();
      this.client.removeAllListeners();
      return;
    }
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      // The client has no "closed" event: its state goes to DISCONNECTED once the server has
      // answered the close and dropped the connection.
      this.client.on('state', (s) => {
        if (s.name === 'DISCONNECTED' || s.name === 'EXPIRED') done();
      });
      const timer = setTimeout(() => {
        this.client.connectionManager?.socket?.destroy();
        done();
      }, 2000);
      this.client.close();
    });
    this.client.removeAllListeners();
  }

  // ------------------------------------------------------------------------------- internals

  private onClientState(name: string): void {
    if (this.state === 'closed') return;
    let next: ZkState | undefined;
    if (name === 'SYNC_CONNECTED' || name === 'CONNECTED_READ_ONLY') next = 'connected';
    else if (name === 'DISCONNECTED') next = 'disconnected';
    else if (name === 'EXPIRED' || name === 'AUTH_FAILED') next = 'expired';
    if (next === undefined || next === this.state) return;
    this.state = next;
    if (next === 'connected') {
      this.log.info({ sessionId: this.sessionId, sessionTimeoutMs: this.sessionTimeoutMs }, 'ZooKeeper session connected');
      this.probe();
    } else if (next === 'disconnected') {
      this.log.warn({ sessionId: this.sessionId }, 'ZooKeeper connection lost; reconnecting');
    } else {
      this.log.error({ sessionId: this.sessionId, reason: name }, name === 'EXPIRED' ? 'ZooKeeper session expired' : 'ZooKeeper authentication failed');
      this.stopTimers();
      const reason = name === 'EXPIRED' ? 'the ZooKeeper session expired' : 'ZooKeeper refused the credentials';
      this.loseLease(reason);
      this.resolveExpired();
      this.resolveEnded(reason);
    }
    for (const l of [...this.stateListeners]) l(next);
  }

  private startTimers(): void {
    const T = this.requestedTimeoutMs;
    this.lastTick = performance.now();
    this.watchdog = setInterval(() => this.tick(), Math.max(10, Math.min(250, Math.floor(T / 10))));
    this.probeTimer = setInterval(() => this.probe(), Math.max(20, Math.floor(T * PROBE_SHARE)));
    this.watchdog.unref();
    this.probeTimer.unref();
  }

  private stopTimers(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.watchdog = this.probeTimer = undefined;
  }

  private tick(): void {
    const now = performance.now();
    const gap = now - this.lastTick;
    this.lastTick = now;
    const T = this.sessionTimeoutMs;
    if (gap > T * STALL_SHARE) {
      this.lastStall = now;
      this.log.error({ stalledMs: Math.round(gap), sessionTimeoutMs: T }, 'the event loop stalled past half the ZooKeeper session timeout');
      this.loseLease(`the process stalled for ${formatMs(gap)} (more than half the ZooKeeper session timeout of ${formatMs(T)})`);
      this.probe();
      return;
    }
    if (this.leaseHeld && !this.leaseValid(now)) {
      const since = this.leaseFrom === undefined ? 0 : now - this.leaseFrom;
      this.loseLease(
        this.state === 'connected'
          ? `no answer from ZooKeeper for ${formatMs(since)} (the lease ends at 2/3 of the session timeout of ${formatMs(T)})`
          : `disconnected from ZooKeeper for ${formatMs(since)} (the lease ends at 2/3 of the session timeout of ${formatMs(T)})`,
      );
    }
    // A server that keeps the connection open but stopped answering: drop it, the client reconnects elsewhere.
    if (this.state === 'connected' && this.probeSentAt !== undefined && now - this.probeSentAt > T * LEASE_SHARE) {
      this.log.warn({ waitedMs: Math.round(now - this.probeSentAt) }, 'the ZooKeeper server stopped answering; reconnecting');
      this.probeSentAt = undefined;
      this.client.connectionManager?.socket?.destroy();
    }
  }

  /** Send one `exists` probe (one at a time); its answer renews the lease from its send time. */
  private probe(): void {
    if (this.probeSentAt !== undefined || this.state !== 'connected') return;
    const sentAt = performance.now();
    this.probeSentAt = sentAt;
    this.client.exists('/', undefined, (error) => {
      if (this.probeSentAt === sentAt) this.probeSentAt = undefined;
      if (error || this.state === 'closed' || this.state === 'expired') return;
      if (this.leaseFrom === undefined || sentAt > this.leaseFrom) this.leaseFrom = sentAt;
      const now = performance.now();
      if (!this.leaseHeld && this.leaseValid(now) && now - this.lastTick <= this.sessionTimeoutMs * STALL_SHARE) {
        this.leaseHeld = true;
        for (const l of [...this.leaseChangeListeners]) l(true);
      }
    });
  }

  private readonly leaseChangeListeners = new Set<(held: boolean) => void>();

  private onLeaseChange(listener: (held: boolean) => void): () => void {
    this.leaseChangeListeners.add(listener);
    return () => this.leaseChangeListeners.delete(listener);
  }

  private loseLease(reason: string): void {
    if (!this.leaseHeld) return;
    this.leaseHeld = false;
    this.log.warn({ reason }, 'ZooKeeper lease lost');
    for (const l of [...this.leaseChangeListeners]) l(false);
    for (const l of [...this.leaseListeners]) l(reason);
  }

  private acls(worldReadable: boolean): ZkAcl[] {
    if (!this.url.credentials) return zookeeper.ACL.OPEN_ACL_UNSAFE;
    const acls = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('auth', ''))];
    if (worldReadable) acls.push(new zookeeper.ACL(zookeeper.Permission.READ, new zookeeper.Id('world', 'anyone')));
    return acls;
  }

  private wrap(watcher: ZkWatcher | undefined): Watcher | undefined {
    if (!watcher) return undefined;
    let w = this.wrapped.get(watcher);
    if (!w) {
      w = (event: ZkClientEvent) => {
        const type = EVENT_TYPES.get(event.type);
        if (type && this.state !== 'closed') watcher({ type, path: this.rel(event.path) });
      };
      this.wrapped.set(watcher, w);
    }
    return w;
  }

  /** `/x` relative to the URL's path → the full path. */
  private abs(path: string): string {
    if (typeof path !== 'string' || !path.startsWith('/'))
      throw new ZkError('BAD_ARGUMENTS', `znode path '${String(path)}' must start with '/'`, { field: this.field });
    if (path === '/') return this.url.path;
    if (path.endsWith('/') || path.includes('//') || /\/\.\.?(\/|$)/.test(path)) {
      throw new ZkError('BAD_ARGUMENTS', `znode path '${path}' is not a valid path (no trailing '/', empty, '.' or '..' components)`, { field: this.field });
    }
    return this.url.path + path;
  }

  private rel(full: string): string {
    if (full === this.url.path) return '/';
    return full.startsWith(this.url.path + '/') ? full.slice(this.url.path.length) : full;
  }

  private checkUsable(op: string, path: string): void {
    if (this.state === 'closed') throw new ZkError('SESSION_CLOSED', `ZooKeeper ${op} ${path}: the session was closed`, { path, field: this.field });
    if (this.state === 'expired') throw new ZkError('SESSION_EXPIRED', `ZooKeeper ${op} ${path}: the session has expired`, { path, field: this.field });
  }

  private zkError(op: string, path: string, e: unknown): ZkError {
    const name = isZkException(e) ? e.name : 'SYSTEM_ERROR';
    return new ZkError(name, `ZooKeeper ${op} ${path} failed: ${isZkException(e) ? e.name : describeError(e)}`, { path, field: this.field, cause: e });
  }

  private call<T>(op: string, path: string, run: (cb: (e: ZkException | null | undefined, value: T) => void) => void): Promise<T> {
    return this.call2<T, unknown>(op, path, (cb) => run((e, v) => cb(e, v, undefined))).then(([v]) => v);
  }

  private call2<A, B>(op: string, path: string, run: (cb: (e: ZkException | null | undefined, a: A, b: B) => void) => void): Promise<[A, B]> {
    this.checkUsable(op, path);
    return new Promise((resolve, reject) => {
      try {
        run((e, a, b) => (e ? reject(this.zkError(op, path, e)) : resolve([a, b])));
      } catch (e) {
        reject(this.zkError(op, path, e));
      }
    });
  }
}

function isZkException(e: unknown): e is ZkException {
  return e instanceof Error && typeof (e as Partial<ZkException>).code === 'number';
}

function toBuffer(data: ZkData | undefined): Buffer | undefined {
  if (data === undefined) return undefined;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
