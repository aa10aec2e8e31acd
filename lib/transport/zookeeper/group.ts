/**
 * Leader election and detection through ZooKeeper, as Mesos does it (mesos-api.md §7.2–7.3):
 * each master contends with an ephemeral sequential child `json.info_<seq>` of the URL's path
 * holding its MasterInfo as JSON; the child with the lowest sequence leads; anyone can find the
 * leader by listing the children, so third-party Mesos clients find Corral's leader too.
 */
import { ValidationError, describeError } from '../../common/errors.ts';
import { parseHostPort } from '../../common/flags.ts';
import { type Logger, silentLogger } from '../../common/log.ts';
import { encodeMasterInfo } from '../../proto/common_messages.ts';
import type { MasterInfo } from '../../proto/messages.ts';
import { type Contender, FixedMasterDetector, type LeaderAddress, type MasterDetector } from '../leader.ts';
import { CANDIDACY_PREFIX, decodeMember, lowestMember } from './members.ts';
import { ZkError, ZkSession } from './session.ts';
import { type ZkUrl, isZkUrl, parseZkUrl } from './url.ts';

// ---------------------------------------------------------------------------------------------
// Contending

export interface ZkContenderOptions {
  readonly logger?: Logger;
}

/**
 * A master's candidacy on a ZkSession (the session's URL path is the election path). Elected
 * when its child has the lowest sequence. `lost` resolves, and mayAct() is false from then on,
 * when: the session expires or is closed, the child is deleted (by an operator, or ZooKeeper),
 * withdraw() is called, or — once elected — the session's lease lapses (the session may have
 * expired without the client knowing yet: paused process, lost connection). A lost candidacy
 * does not come back: contend again on a new session (Mesos restarts the master).
 */
export class ZkContender implements Contender {
  readonly elected: Promise<void>;
  readonly lost: Promise<string>;
  private resolveElected!: () => void;
  private resolveLost!: (reason: string) => void;
  private readonly session: ZkSession;
  private readonly log: Logger;
  private node: string | undefined;
  private isElected = false;
  private lostReason: string | undefined;
  private checking = false;
  private recheck = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly watcher = (): void => this.check();

  constructor(session: ZkSession, options: ZkContenderOptions = {}) {
    this.session = session;
    this.log = options.logger ?? silentLogger;
    this.elected = new Promise((resolve) => (this.resolveElected = resolve));
    this.lost = new Promise((resolve) => (this.resolveLost = resolve));
    void session.ended.then((reason) => this.lose(reason));
    this.unsubscribe.push(
      session.onLeaseLost((reason) => {
        const ended = session.currentState === 'expired' || session.currentState === 'closed';
        if (ended) this.lose(reason);
        else if (this.isElected) this.lose(`leadership in doubt: ${reason}`);
      }),
      session.onState((state) => {
        if (state === 'connected' && this.node !== undefined) this.check();
      }),
    );
  }

  /** The candidacy's child name (`json.info_0000000003`) once contending. */
  get candidacy(): string | undefined {
    return this.node;
  }

  /** Create the candidacy (and the election path, readable by anyone); resolves once it is written. */
  async contend(info: MasterInfo): Promise<void> {
    // A caller's bug, not a condition to handle: plain Errors.
    if (this.node !== undefined) throw new Error('this contender is already contending (a contender contends once)');
    if (this.lostReason !== undefined) throw new Error(`this contender cannot contend: ${this.lostReason}`);
    await this.session.mkdirp('/', { worldReadable: true });
    const data = JSON.stringify(encodeMasterInfo(info));
    let name: string | undefined;
    for (let attempt = 0; name === undefined; attempt++) {
      try {
        name = (await this.session.create(`/${CANDIDACY_PREFIX}`, data, 'ephemeral_sequential', { worldReadable: true })).slice(1);
      } catch (e) {
        // The connection dropped with the create in flight: it may have been applied. Ours is the child holding our id.
        if (!(e instanceof ZkError && e.zk === 'CONNECTION_LOSS') || attempt >= 5) throw e;
        name = await this.findOwn(info.id);
      }
    }
    this.node = name;
    this.log.info({ candidacy: `${this.session.url.path}/${name}` }, 'contending for leadership');
    this.check();
  }

  mayAct(): boolean {
    return this.isElected && this.lostReason === undefined && this.session.mayAct();
  }

  /** Delete the candidacy; `lost` resolves. The session stays open (it is the caller's). */
  async withdraw(): Promise<void> {
    const node = this.node;
    this.lose('withdrew from the election');
    if (node === undefined) return;
    try {
      await this.session.remove(`/${node}`);
    } catch (e) {
      if (!(e instanceof ZkError && (e.zk === 'NO_NODE' || e.zk === 'SESSION_EXPIRED' || e.zk === 'SESSION_CLOSED'))) throw e;
    }
  }

  private async findOwn(id: string): Promise<string | undefined> {
    try {
      for (const child of await this.session.getChildren('/')) {
        if (!child.startsWith(CANDIDACY_PREFIX)) continue;
        const got = await this.session.getData(`/${child}`);
        if (!got) continue;
        try {
          if ((JSON.parse(got.data.toString('utf8')) as { id?: unknown }).id === id) return child;
        } catch {
          // another member's garbage: not ours
        }
      }
    } catch (e) {
      if (!(e instanceof ZkError && e.zk === 'CONNECTION_LOSS')) throw e;
    }
    return undefined;
  }

  /** List the children (setting a watch) and decide: elected, still waiting, or lost. Serialised; retried on failure. */
  private check(): void {
    if (this.lostReason !== undefined || this.node === undefined) return;
    if (this.checking) {
      this.recheck = true;
      return;
    }
    this.checking = true;
    this.recheck = false;
    const node = this.node;
    this.session
      .getChildren('/', this.watcher)
      .then(
        (children) => {
          if (!children.includes(node)) {
            this.lose(`the candidacy znode ${this.session.url.path}/${node} was deleted`);
            return;
          }
          const lowest = lowestMember(children);
          if (lowest?.name === node && !this.isElected) {
            this.isElected = true;
            this.log.info({ candidacy: `${this.session.url.path}/${node}` }, 'elected leader');
            this.resolveElected();
          }
        },
        (e: unknown) => {
          if (e instanceof ZkError && (e.zk === 'SESSION_EXPIRED' || e.zk === 'SESSION_CLOSED')) {
            this.lose(e.zk === 'SESSION_EXPIRED' ? 'the ZooKeeper session expired' : 'the ZooKeeper session was closed');
            return;
          }
          if (e instanceof ZkError && e.zk === 'NO_NODE') {
            this.lose(`the election path ${this.session.url.path} was deleted`);
            return;
          }
          this.log.warn({ error: describeError(e) }, 'listing the candidates failed; retrying');
          this.retryTimer = setTimeout(() => this.check(), 200);
        },
      )
      .finally(() => {
        this.checking = false;
        if (this.recheck) this.check();
      });
  }

  private lose(reason: string): void {
    if (this.lostReason !== undefined) return;
    this.lostReason = reason;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const off of this.unsubscribe) off();
    if (this.isElected) this.log.error({ reason }, 'leadership lost');
    else if (this.node !== undefined) this.log.warn({ reason }, 'candidacy lost');
    this.resolveLost(reason);
  }
}

// ---------------------------------------------------------------------------------------------
// Detecting

export interface ZkMasterDetectorOptions {
  /** The URL (parsed, or its text) whose path holds the masters' children. */
  readonly url: ZkUrl | string;
  /** The flag the URL came from, for messages (`--master`, `--zk`). */
  readonly field: string;
  /** For the detector's own session (default 10 s, Mesos's). */
  readonly sessionTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** A session to use instead of opening one (a master's own); stop() leaves it open. */
  readonly session?: ZkSession;
  readonly logger?: Logger;
}

/**
 * Finds the leading master (§7.3): watches the children of the URL's path, takes the member
 * with the lowest sequence and decodes what it holds. No members, a missing path, or a leader
 * whose data does not decode (logged, naming the znode) is "no leader". With its own session
 * it opens a new one when ZooKeeper expires it, and keeps the last leader known meanwhile.
 */
export class ZkMasterDetector implements MasterDetector {
  private readonly options: ZkMasterDetectorOptions;
  private readonly url: ZkUrl;
  private readonly log: Logger;
  private readonly listeners = new Set<(leader: LeaderAddress | undefined) => void>();
  private session: ZkSession | undefined;
  private leader: LeaderAddress | undefined;
  private started: Promise<void> | undefined;
  private stopped = false;
  private detecting = false;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private generation = 0;
  private readonly watch = (): void => void this.detect();

  constructor(options: ZkMasterDetectorOptions) {
    this.options = options;
    this.url = options.session?.url ?? (typeof options.url === 'string' ? parseZkUrl(options.url, options.field) : options.url);
    this.log = options.logger ?? silentLogger;
  }

  start(): Promise<void> {
    this.started ??= this.begin();
    return this.started;
  }

  current(): LeaderAddress | undefined {
    return this.leader;
  }

  onChange(listener: (leader: LeaderAddress | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.listeners.clear();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const s = this.session;
    this.session = undefined;
    if (s && !this.options.session) await s.close();
  }

  private async begin(): Promise<void> {
    await this.useSession(this.options.session ?? (await this.openSession()));
  }

  private openSession(): Promise<ZkSession> {
    return ZkSession.open({
      url: this.url,
      field: this.options.field,
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? 10_000,
      ...(this.options.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.options.connectTimeoutMs } : {}),
      ...(this.options.logger ? { logger: this.options.logger } : {}),
    });
  }

  private async useSession(session: ZkSession): Promise<void> {
    if (this.stopped) {
      if (!this.options.session) await session.close();
      return;
    }
    this.session = session;
    const generation = ++this.generation;
    void session.expired.then(() => {
      if (this.stopped || generation !== this.generation) return;
      if (this.options.session) {
        this.log.warn({}, 'the ZooKeeper session expired: no leader known any more');
        this.publish(undefined);
        return;
      }
      this.log.warn({}, 'the ZooKeeper session of the master detector expired; opening a new one');
      void this.reopen(generation);
    });
    await this.detect();
  }

  private async reopen(generation: number): Promise<void> {
    for (let attempt = 0; !this.stopped && generation === this.generation; attempt++) {
      try {
        await this.useSession(await this.openSession());
        return;
      } catch (e) {
        this.log.warn({ error: describeError(e) }, 'cannot open a ZooKeeper session for the master detector; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    }
  }

  /** One detection round (§7.3), serialised; a watch event during a round runs another one after it. */
  private async detect(): Promise<void> {
    if (this.detecting) {
      this.again = true;
      return;
    }
    this.detecting = true;
    try {
      do {
        this.again = false;
        await this.detectOnce();
      } while (this.again && !this.stopped);
    } finally {
      this.detecting = false;
    }
  }

  private async detectOnce(): Promise<void> {
    const session = this.session;
    if (!session || this.stopped) return;
    const watch = this.watch;
    try {
      let children: string[];
      try {
        children = await session.getChildren('/', watch);
      } catch (e) {
        if (!(e instanceof ZkError && e.zk === 'NO_NODE')) throw e;
        // No master has created the path yet: wait for it.
        if ((await session.exists('/', watch)) !== undefined) this.again = true;
        this.publish(undefined);
        return;
      }
      const lowest = lowestMember(children);
      if (!lowest) {
        this.publish(undefined);
        return;
      }
      const got = await session.getData(`/${lowest.name}`);
      if (!got) {
        this.again = true; // gone meanwhile
        return;
      }
      try {
        this.publish(decodeMember(lowest, got.data, `${this.url.path}/${lowest.name}`));
      } catch (e) {
        this.log.error(
          { znode: `${this.url.path}/${lowest.name}`, error: describeError(e) },
          'the leading master znode holds data that does not decode: no leader',
        );
        this.publish(undefined);
      }
    } catch (e) {
      if (this.stopped || (e instanceof ZkError && (e.zk === 'SESSION_EXPIRED' || e.zk === 'SESSION_CLOSED'))) return;
      this.log.warn({ error: describeError(e) }, 'detecting the leading master failed; retrying');
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => void this.detect(), 200);
    }
  }

  private publish(leader: LeaderAddress | undefined): void {
    const before = this.leader;
    if (before?.id === leader?.id && before?.hostPort === leader?.hostPort) return;
    this.leader = leader;
    if (this.stopped) return;
    this.log.info(leader ? { leader: leader.hostPort, id: leader.id } : {}, leader ? 'leading master detected' : 'no leading master');
    for (const l of [...this.listeners]) l(leader);
  }
}

// ---------------------------------------------------------------------------------------------
// A --master value

/** A master flag's value: a ZooKeeper URL, or a single master `host:port` (also `master@host:port`). */
export type MasterLocation = { readonly zk: ZkUrl } | { readonly hostPort: string };

/** Parse `--master` (or a scheduler's master): `zk://…`, `file://…` holding a zk:// URL, `host:port` or `master@host:port`. */
export function parseMasterLocation(value: string, field: string): MasterLocation {
  const v = value.trim();
  if (isZkUrl(v)) return { zk: parseZkUrl(v, field) };
  const bare = v.startsWith('master@') ? v.slice('master@'.length) : v;
  try {
    return { hostPort: parseHostPort(bare) };
  } catch {
    throw new ValidationError(field, `'${v}' is neither host:port, master@host:port nor a ZooKeeper URL (zk://host:port[,host:port...]/path)`);
  }
}

export interface MasterDetectorOptions {
  readonly field: string;
  readonly sessionTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly logger?: Logger;
}

/** The detector for a master flag: a FixedMasterDetector for host:port, a ZkMasterDetector for a ZooKeeper URL. */
export function createMasterDetector(master: string | MasterLocation, options: MasterDetectorOptions): MasterDetector {
  const where = typeof master === 'string' ? parseMasterLocation(master, options.field) : master;
  if ('hostPort' in where) return new FixedMasterDetector(where.hostPort);
  return new ZkMasterDetector({ url: where.zk, ...options });
}
