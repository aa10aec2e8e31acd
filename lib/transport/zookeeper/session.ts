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
 * The lease (`mayAct()`, lease.ts): whether the session can still be trusted at this instant,
 * on the process's own clock, before ZooKeeper could have expired it.
 */
import { CorralError, ValidationError, describeError } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/log.ts';
import { type Watcher, type ZkAcl, type ZkClient, type ZkClientEvent, type ZkException, type ZkStat, zookeeper } from './client_api.ts';
import {
  MODES,
  type MultiResult,
  type ZkCreateMode,
  type ZkData,
  ZkError,
  type ZkOp,
  type ZkOpResult,
  type ZkState,
  type ZkWatchEvent,
  type ZkWatcher,
  buildTransaction,
  multiFailure,
  multiResults,
  toBuffer,
} from './ops.ts';
import { SessionLease, formatMs } from './lease.ts';
import { type ZkUrl, parseZkUrl } from './url.ts';

// The operations' types and errors live in ops.ts; they are part of this module's API.
export { ZkError } from './ops.ts';
export type { ZkCreateMode, ZkData, ZkOp, ZkOpResult, ZkState, ZkWatchEvent, ZkWatcher } from './ops.ts';

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

const EVENT_TYPES = new Map<number, ZkWatchEvent['type']>([
  [zookeeper.Event.NODE_CREATED, 'created'],
  [zookeeper.Event.NODE_DELETED, 'deleted'],
  [zookeeper.Event.NODE_DATA_CHANGED, 'data_changed'],
  [zookeeper.Event.NODE_CHILDREN_CHANGED, 'children_changed'],
]);

export class ZkSession {
  readonly url: ZkUrl;
  private readonly field: string;
  private readonly client: ZkClient;
  private readonly log: Logger;
  private readonly requestedTimeoutMs: number;
  private readonly stateListeners = new Set<(state: ZkState) => void>();
  private readonly wrapped = new WeakMap<ZkWatcher, Watcher>();
  private state: ZkState | 'connecting' | 'closed' = 'connecting';
  private resolveExpired!: () => void;
  private resolveEnded!: (reason: string) => void;
  /** Resolves when ZooKeeper has expired the session, or refused its credentials (it is then useless: open a new one). Never rejects. */
  readonly expired: Promise<void>;
  /** Resolves, with the reason in words, when the session ends: expired, refused, or closed. Never rejects. */
  readonly ended: Promise<string>;

  private readonly lease: SessionLease;
  /**
   * Calls waiting for ZooKeeper's answer. The client keeps a call while no server is reachable
   * (it is sent again on reconnection); close() and expiry reject those still waiting.
   */
  private readonly pending = new Set<(reason: 'SESSION_CLOSED' | 'SESSION_EXPIRED') => void>();

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
    this.lease = new SessionLease(
      {
        timeoutMs: () => this.sessionTimeoutMs,
        connected: () => this.state === 'connected',
        probe: (answered) => this.client.exists('/', undefined, (error) => answered(!error)),
        dropConnection: () => this.client.connectionManager?.socket?.destroy(),
      },
      this.log,
    );
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
      const off = this.lease.onHeld(() => {
        clearTimeout(timer);
        off();
        resolve();
      });
      this.client.connect();
      this.lease.start();
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
    return this.lease.onLost(listener);
  }

  /** May the holder of this session act on what the session holds (its ephemeral znodes) at this instant? See lease.ts. */
  mayAct(): boolean {
    return this.state !== 'expired' && this.state !== 'closed' && this.lease.valid();
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
    const abs = ops.map((o) => this.abs(o.path));
    const tx = buildTransaction(this.client.transaction(), ops, abs, (worldReadable) => this.acls(worldReadable));
    this.checkUsable('multi', abs[0]!);
    const results = await this.waiting<MultiResult[]>(`multi of ${ops.length} operations`, abs[0]!, (resolve, reject) => {
      tx.commit((error, res) => {
        if (error && res) reject(multiFailure(ops, abs, error, res, this.field));
        else if (error) reject(this.zkError('multi', abs[0]!, error));
        else resolve(res ?? []);
      });
    });
    return multiResults(results, abs, (p) => this.rel(p));
  }

  /** End the session: its ephemeral znodes are deleted at once. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasLive = this.state !== 'expired';
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.stateListeners.clear();
    this.lease.end('the ZooKeeper session was closed');
    this.resolveEnded('the ZooKeeper session was closed');
    this.failPending('SESSION_CLOSED');
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
      this.lease.probe();
    } else if (next === 'disconnected') {
      this.log.warn({ sessionId: this.sessionId }, 'ZooKeeper connection lost; reconnecting');
    } else {
      this.log.error({ sessionId: this.sessionId, reason: name }, name === 'EXPIRED' ? 'ZooKeeper session expired' : 'ZooKeeper authentication failed');
      const reason = name === 'EXPIRED' ? 'the ZooKeeper session expired' : 'ZooKeeper refused the credentials';
      this.lease.end(reason);
      this.resolveExpired();
      this.resolveEnded(reason);
      this.failPending('SESSION_EXPIRED');
    }
    for (const l of [...this.stateListeners]) l(next);
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
    return this.waiting<[A, B]>(op, path, (resolve, reject) => {
      try {
        run((e, a, b) => (e ? reject(this.zkError(op, path, e)) : resolve([a, b])));
      } catch (e) {
        reject(this.zkError(op, path, e));
      }
    });
  }

  /** A promise of ZooKeeper's answer to one call, kept in `pending` until it settles (or failPending() rejects it). */
  private waiting<T>(op: string, path: string, start: (resolve: (v: T) => void, reject: (e: unknown) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (reason: 'SESSION_CLOSED' | 'SESSION_EXPIRED'): void => {
        const why = reason === 'SESSION_CLOSED' ? 'the session was closed' : 'the session expired';
        reject(
          new ZkError(reason, `ZooKeeper ${op} ${path}: ${why} before ZooKeeper answered (whether it was applied is unknown)`, {
            path,
            field: this.field,
          }),
        );
      };
      this.pending.add(fail);
      start(
        (v) => {
          this.pending.delete(fail);
          resolve(v);
        },
        (e) => {
          this.pending.delete(fail);
          reject(e);
        },
      );
    });
  }

  /** Reject every call still waiting for ZooKeeper. */
  private failPending(reason: 'SESSION_CLOSED' | 'SESSION_EXPIRED'): void {
    const waiting = [...this.pending];
    this.pending.clear();
    for (const fail of waiting) fail(reason);
  }
}

function isZkException(e: unknown): e is ZkException {
  return e instanceof Error && typeof (e as Partial<ZkException>).code === 'number';
}
