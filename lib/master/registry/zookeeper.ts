/**
 * The registry in ZooKeeper (--registry=zookeeper), for several masters of which one leads.
 *
 * Layout, under the session's chroot (the --zk path):
 *   registry/epoch              its data says who recovered last; its VERSION is the fence
 *   registry/agents/<agentId>   one znode per admitted agent: the RegistryAgent as JSON
 *                               (the id URI-encoded, so any id is a valid znode name)
 *   registry/weights            the role weights UPDATE_WEIGHTS set, as a JSON object (absent
 *                               until one is set); written through the same fenced multis
 *
 * Fencing. recover() (called by a newly elected leader) bumps the epoch's version with an
 * unconditional setData and remembers the new version. Every write afterwards is one multi()
 * that starts with check(epoch, thatVersion): once a successor has recovered, a multi of the old
 * leader fails as a whole, so a master paused past its session and woken up again changes
 * nothing. Its calls, that one and every later one, fail with REGISTRY_FENCED.
 *
 * Batching. Calls made while multis are in flight queue up and go together in the next multi
 * (several when they would exceed 512 KiB, well under ZooKeeper's 1 MiB jute.maxbuffer);
 * up to `maxInFlight` multis are pipelined (a session's requests are applied in order). A call
 * resolves only once every multi holding its changes succeeded, i.e. once ZooKeeper's quorum has
 * logged them: nothing is acknowledged before it is durable. A call whose changes fit in one
 * request (every call the master makes but an updateAgents of hundreds of agents) is atomic.
 *
 * Whether an agent's znode exists, and what it holds, is known here (this master is the only
 * writer while it holds the epoch), so a change is a create, a setData or a delete without asking
 * first, and a record that is already in its znode, with no other change of that agent under way,
 * is not written again (each agent re-registering with a new leader sends the record the registry
 * has): such a call only rides the next multi, whose epoch check confirms that this master still
 * holds the registry, and costs it no bytes. A multi that
 * failed without an answer (connection lost) may or may not have been applied: the agents it
 * touched are read again, with the epoch, before the next write.
 */
import { CorralError, describeError } from '../../common/errors.ts';
import { silentLogger, type Logger } from '../../common/log.ts';
import { type ZkOp, type ZkSession, ZkError } from '../../transport/index.ts';
import { isWeights } from './file.ts';
import type { Registry, RegistryAgent, RegistryState } from './types.ts';

/** The key of the weights znode among the changes (agent ids never start with '/'). */
const WEIGHTS_KEY = '/weights';

/** What the registry uses of a ZooKeeper session (a ZkSession; tests may wrap one). */
export type ZkRegistrySession = Pick<ZkSession, 'url' | 'mkdirp' | 'create' | 'setData' | 'getData' | 'getChildren' | 'exists' | 'multi'>;

export interface ZkRegistryOptions {
  readonly session: ZkRegistrySession;
  /** The registry's znode, relative to the session's URL path (default `/registry`). */
  readonly path?: string;
  /** Written into the epoch znode when this master recovers, for people reading it. */
  readonly owner?: string;
  readonly logger?: Logger;
  /** Multis in flight at once (default 2). */
  readonly maxInFlight?: number;
  /** Soft limit of one multi's size in bytes (default 512 KiB); one change bigger than it goes alone. */
  readonly maxRequestBytes?: number;
}

/** ZooKeeper refuses a request above jute.maxbuffer (1 MiB - 1 by default); keep a margin for the framing. */
export const MAX_ZNODE_BYTES = 1_000_000;
const DEFAULT_REQUEST_BYTES = 512 * 1024;
/** A multi op's bytes besides its path and data: op header, flags, ACL list (a digest ACL is ~80 B). */
const OP_OVERHEAD = 160;
/** getData requests in flight at once while recovering. */
const READ_WINDOW = 512;

/** An agent's new record (`data`), or its removal (`data` undefined). */
interface Change {
  readonly id: string;
  readonly data: Buffer | undefined;
  /** The record as canonical JSON (keys sorted), to tell an unchanged record; undefined for a removal. */
  readonly canonical: string | undefined;
  /** The znode already holds the record: nothing to write, only the epoch to check. */
  readonly unchanged?: true;
}

/** A call of the Registry interface: settled when all its changes are written, or one failed. */
interface Call {
  remaining: number;
  failed: boolean;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

interface Item {
  readonly change: Change;
  readonly call: Call;
}

export class ZkRegistry implements Registry {
  private readonly session: ZkRegistrySession;
  private readonly log: Logger;
  private readonly root: string;
  private readonly agentsDir: string;
  private readonly epochPath: string;
  private readonly weightsPath: string;
  private readonly chroot: string;
  private readonly owner: string | undefined;
  private readonly maxInFlight: number;
  private readonly maxRequestBytes: number;

  /** The epoch's version this master set when it recovered; undefined before. */
  private epochVersion: number | undefined;
  /** Set once a successor recovered: every call fails with it. */
  private fencedError: CorralError | undefined;
  /** The agents whose znode exists once every multi sent has succeeded. */
  private readonly planned = new Set<string>();
  /** Agents touched by a multi that failed without an answer: read again before the next write. */
  private readonly doubt = new Set<string>();
  /** The epoch is read again before the next write (a multi failed without an answer). */
  private epochInDoubt = false;
  /** Data bytes of each agent's znode as last confirmed, and their sum (for size()). */
  private readonly stored = new Map<string, number>();
  private bytes = 0;
  /** Each agent's record as canonical JSON, as its znode holds it for sure (not known: absent). */
  private readonly content = new Map<string, string>();
  /** Changes queued or in flight, per agent. */
  private readonly pending = new Map<string, number>();

  private queue: Item[] = [];
  private head = 0;
  private inFlight = 0;
  private syncing = false;
  private pumpQueued = false;

  constructor(opts: ZkRegistryOptions) {
    this.session = opts.session;
    this.log = opts.logger ?? silentLogger;
    this.root = (opts.path ?? '/registry').replace(/\/+$/, '');
    this.agentsDir = `${this.root}/agents`;
    this.epochPath = `${this.root}/epoch`;
    this.weightsPath = `${this.root}/weights`;
    this.chroot = opts.session.url.path.replace(/\/+$/, '');
    this.owner = opts.owner;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 2);
    this.maxRequestBytes = Math.min(MAX_ZNODE_BYTES, opts.maxRequestBytes ?? DEFAULT_REQUEST_BYTES);
  }

  /**
   * Take over the registry: bump the epoch (from here on a previous leader can write nothing),
   * then read every agent. A znode that does not hold an agent fails recovery with an error
   * naming it.
   */
  async recover(): Promise<RegistryState> {
    this.epochVersion = undefined;
    const epochData = Buffer.from(JSON.stringify({ owner: this.owner ?? null, recovered: new Date().toISOString() }));
    let version: number;
    let names: readonly string[];
    try {
      await this.session.mkdirp(this.agentsDir);
      if ((await this.session.exists(this.epochPath)) === undefined) {
        await this.session.create(this.epochPath, epochData, 'persistent').catch((e: unknown) => {
          if (zkErrorName(e) !== 'NODE_EXISTS') throw e; // another master created it meanwhile
        });
      }
      version = await this.session.setData(this.epochPath, epochData);
      names = await this.session.getChildren(this.agentsDir);
    } catch (e) {
      throw new CorralError('REGISTRY', `cannot recover the registry ${this.show(this.root)}: ${describeError(e)}`, { cause: e });
    }
    if (!Number.isInteger(version) || version < 1) {
      // A check with version 0 would not fence anything (see multi's check); a bump never gives 0.
      throw new CorralError('REGISTRY', `cannot recover the registry ${this.show(this.root)}: the epoch znode's version is ${version} after the bump`);
    }
    const agents = await this.readAgents(names);
    const weights = await this.readWeights();
    this.planned.clear();
    this.doubt.clear();
    this.stored.clear();
    this.content.clear();
    this.pending.clear();
    this.bytes = 0;
    for (const { agent, bytes } of agents) {
      this.planned.add(agent.id);
      this.stored.set(agent.id, bytes);
      this.content.set(agent.id, canonicalJson(agent));
      this.bytes += bytes;
    }
    if (weights !== undefined) this.planned.add(WEIGHTS_KEY);
    this.epochInDoubt = false;
    this.fencedError = undefined;
    this.epochVersion = version;
    this.log.info({ registry: this.show(this.root), epoch: version, agents: agents.length }, 'recovered the registry');
    return { agents: agents.map((a) => a.agent), ...(weights === undefined ? {} : { weights }) };
  }

  admitAgent(agent: RegistryAgent): Promise<void> {
    return this.submit([agent]);
  }

  updateAgent(agent: RegistryAgent): Promise<void> {
    return this.submit([agent]);
  }

  updateAgents(agents: readonly RegistryAgent[]): Promise<void> {
    return this.submit(agents);
  }

  removeAgent(id: string): Promise<void> {
    return this.enqueue([{ id, data: undefined, canonical: undefined }]);
  }

  updateWeights(weights: Readonly<Record<string, number>>): Promise<void> {
    return this.enqueue([{ id: WEIGHTS_KEY, data: Buffer.from(JSON.stringify(weights)), canonical: canonicalJson(weights) }]);
  }

  /** Bytes of the agents' znodes as last written. */
  size(): number {
    return this.bytes;
  }

  /** The znode of agent `id`, as the session addresses it. */
  agentPath(id: string): string {
    return `${this.agentsDir}/${znodeName(id)}`;
  }

  /** The znode a change of `id` writes: an agent's, or the weights'. */
  private pathOf(id: string): string {
    return id === WEIGHTS_KEY ? this.weightsPath : this.agentPath(id);
  }

  /** The stored weights, if any were ever set. */
  private async readWeights(): Promise<Record<string, number> | undefined> {
    let node: { data: Buffer } | undefined;
    try {
      node = await this.session.getData(this.weightsPath);
    } catch (e) {
      throw new CorralError('REGISTRY', `cannot read the registry znode ${this.show(this.weightsPath)}: ${describeError(e)}`, { cause: e });
    }
    if (node === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(node.data.toString('utf8'));
    } catch (e) {
      throw new CorralError('REGISTRY', `the registry znode ${this.show(this.weightsPath)} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    if (!isWeights(parsed))
      throw new CorralError('REGISTRY', `the registry znode ${this.show(this.weightsPath)} does not hold an object of role: positive number`);
    return parsed;
  }

  private submit(agents: readonly RegistryAgent[]): Promise<void> {
    const changes: Change[] = [];
    for (const a of agents) {
      const data = Buffer.from(JSON.stringify(a));
      const cost = data.length + this.agentPath(a.id).length + OP_OVERHEAD;
      if (cost > MAX_ZNODE_BYTES) {
        return Promise.reject(
          new CorralError(
            'REGISTRY_WRITE_FAILED',
            `cannot write agent ${a.id} to the registry ${this.show(this.root)}: its record is ${data.length} bytes, more than a znode may hold (${MAX_ZNODE_BYTES - OP_OVERHEAD})`,
          ),
        );
      }
      const canonical = canonicalJson(a);
      // Already in its znode, and nothing else of this agent on its way: nothing to write.
      if (this.content.get(a.id) === canonical && !this.pending.has(a.id) && !this.doubt.has(a.id)) {
        changes.push({ id: a.id, data: undefined, canonical, unchanged: true });
        continue;
      }
      changes.push({ id: a.id, data, canonical });
    }
    return this.enqueue(changes);
  }

  private enqueue(changes: readonly Change[]): Promise<void> {
    if (this.fencedError) return Promise.reject(this.fencedError);
    if (this.epochVersion === undefined) {
      return Promise.reject(new CorralError('REGISTRY_WRITE_FAILED', `the registry ${this.show(this.root)} is written before it was recovered`));
    }
    if (changes.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const call: Call = { remaining: changes.length, failed: false, resolve, reject };
      for (const change of changes) {
        this.queue.push({ change, call });
        if (!change.unchanged) this.pending.set(change.id, (this.pending.get(change.id) ?? 0) + 1);
      }
      this.schedulePump();
    });
  }

  /** Send once the current turn's calls are queued, so that they share a multi. */
  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.head < this.queue.length && this.inFlight < this.maxInFlight && !this.syncing) {
      if (this.fencedError) return this.failQueued(this.fencedError);
      if (this.doubt.size > 0 || this.epochInDoubt) {
        // What a multi without an answer did is read back once nothing else is in flight.
        if (this.inFlight === 0) void this.resync();
        return;
      }
      const batch = this.takeBatch();
      if (batch.items.length === 0) break;
      this.send(batch.ops, batch.items);
    }
    if (this.head === this.queue.length && this.head > 0) {
      this.queue = [];
      this.head = 0;
    }
  }

  /** The next multi: the fence, then queued changes up to the request size (at least one). */
  private takeBatch(): { ops: ZkOp[]; items: Item[] } {
    const ops: ZkOp[] = [{ op: 'check', path: this.epochPath, version: this.epochVersion! }];
    const items: Item[] = [];
    let bytes = this.epochPath.length + OP_OVERHEAD;
    while (this.head < this.queue.length) {
      const item = this.queue[this.head]!;
      if (item.call.failed) {
        // The rest of a call that already failed is not written.
        this.head++;
        this.settled(item.change, false);
        continue;
      }
      if (item.change.unchanged) {
        // Confirmed by the epoch check that starts every multi.
        this.head++;
        items.push(item);
        continue;
      }
      const { id, data } = item.change;
      const path = this.pathOf(id);
      const cost = path.length + OP_OVERHEAD + (data?.length ?? 0);
      if (items.length > 0 && bytes + cost > this.maxRequestBytes) break;
      this.head++;
      bytes += cost;
      items.push(item);
      if (data !== undefined) {
        ops.push(this.planned.has(id) ? { op: 'set', path, data } : { op: 'create', path, data });
        this.planned.add(id);
      } else if (this.planned.has(id)) {
        ops.push({ op: 'remove', path });
        this.planned.delete(id);
      }
    }
    return { ops, items };
  }

  private send(ops: readonly ZkOp[], items: readonly Item[]): void {
    this.inFlight++;
    this.session.multi(ops).then(
      () => {
        this.inFlight--;
        this.written(items);
        this.schedulePump();
      },
      (e: unknown) => {
        void this.failed(items, e).finally(() => {
          this.inFlight--;
          this.schedulePump();
        });
      },
    );
  }

  private written(items: readonly Item[]): void {
    for (const { change, call } of items) {
      if (change.unchanged) {
        if (--call.remaining === 0 && !call.failed) call.resolve();
        continue;
      }
      const old = this.stored.get(change.id) ?? 0;
      if (change.data === undefined) this.stored.delete(change.id);
      else this.stored.set(change.id, change.data.length);
      if (change.canonical === undefined) this.content.delete(change.id);
      else this.content.set(change.id, change.canonical);
      this.settled(change, true);
      this.bytes += (change.data?.length ?? 0) - old;
      this.doubt.delete(change.id);
      if (--call.remaining === 0 && !call.failed) call.resolve();
    }
  }

  /** A multi failed: nothing of it was applied, or (no answer) it is not known whether it was. */
  private async failed(items: readonly Item[], cause: unknown): Promise<void> {
    const name = cause instanceof ZkError ? cause.zk : undefined;
    const atEpoch = cause instanceof ZkError && cause.opIndex === 0;
    let error: CorralError;
    if (this.fencedError) {
      error = this.fencedError;
    } else if (atEpoch && (name === 'BAD_VERSION' || name === 'NO_NODE')) {
      // The epoch's check failed: a successor has recovered (or the epoch was removed).
      error = this.fence(name === 'NO_NODE' ? undefined : await this.session.exists(this.epochPath).catch(() => -1), cause);
    } else if (name === 'NO_NODE' || name === 'NODE_EXISTS') {
      error = this.writeFailed(`an agent's znode was created or removed by someone else (${describeError(cause)})`, cause);
    } else {
      error = this.writeFailed(describeError(cause), cause);
    }
    if (error.code !== 'REGISTRY_FENCED') {
      // Unknown whether it was applied (no answer), or our picture of the znodes was wrong:
      // read them again before writing.
      this.epochInDoubt = true;
      for (const { change } of items) if (!change.unchanged) this.doubt.add(change.id);
    }
    for (const { change } of items) this.settled(change, false);
    for (const { call } of items) {
      if (call.failed) continue;
      call.failed = true;
      call.reject(error);
    }
  }

  /** A change has left the queue: written (`ok`), or not (then what the agent's znode holds is not known for sure). */
  private settled(change: Change, ok: boolean): void {
    if (change.unchanged) return;
    const n = (this.pending.get(change.id) ?? 1) - 1;
    if (n > 0) this.pending.set(change.id, n);
    else this.pending.delete(change.id);
    if (!ok) this.content.delete(change.id);
  }

  /** Read back the epoch and the agents in doubt (nothing is in flight). */
  private async resync(): Promise<void> {
    this.syncing = true;
    try {
      const now = await this.session.exists(this.epochPath);
      if (now !== this.epochVersion) {
        this.fence(now, undefined);
        return;
      }
      this.epochInDoubt = false;
      const ids = Array.from(this.doubt);
      const found = await Promise.all(ids.map((id) => this.session.getData(this.pathOf(id))));
      ids.forEach((id, i) => {
        const node = found[i];
        const old = this.stored.get(id) ?? 0;
        this.content.delete(id); // written again next time
        if (node === undefined) {
          this.planned.delete(id);
          this.stored.delete(id);
        } else {
          this.planned.add(id);
          this.stored.set(id, node.data.length);
        }
        this.bytes += (node?.data.length ?? 0) - old;
        this.doubt.delete(id);
      });
      this.log.info({ registry: this.show(this.root), agents: ids.length }, 'read back the agents of registry writes that got no answer');
    } catch (e) {
      // ZooKeeper cannot be reached: the calls waiting fail (their callers retry); the next
      // call reads back again.
      this.failQueued(this.writeFailed(`cannot read the registry back after a write got no answer: ${describeError(e)}`, e));
    } finally {
      this.syncing = false;
      this.schedulePump();
    }
  }

  private failQueued(error: CorralError): void {
    for (let i = this.head; i < this.queue.length; i++) {
      const { call, change } = this.queue[i]!;
      this.settled(change, false);
      if (call.failed) continue;
      call.failed = true;
      call.reject(error);
    }
    this.queue = [];
    this.head = 0;
  }

  /** Record that a successor recovered (the epoch is now at version `now`: undefined when removed, -1 when unknown). */
  private fence(now: number | undefined, cause: unknown): CorralError {
    if (this.fencedError) return this.fencedError;
    const epoch = this.show(this.epochPath);
    const what =
      now === undefined
        ? `its epoch znode ${epoch} was removed`
        : `another master recovered it (the epoch znode ${epoch} is at version ${now === -1 ? 'another' : now}, this master recovered version ${this.epochVersion})`;
    this.fencedError = new CorralError(
      'REGISTRY_FENCED',
      `the registry ${this.show(this.root)} is no longer this master's to write: ${what}; nothing more is written by this master`,
      cause === undefined ? {} : { cause },
    );
    this.log.error({ registry: this.show(this.root), epoch: this.epochVersion, now: now ?? null }, 'this master may no longer write the registry');
    this.failQueued(this.fencedError);
    return this.fencedError;
  }

  private writeFailed(reason: string, cause: unknown): CorralError {
    return new CorralError('REGISTRY_WRITE_FAILED', `cannot write the registry ${this.show(this.root)}: ${reason}`, { cause });
  }

  private async readAgents(names: readonly string[]): Promise<{ agent: RegistryAgent; bytes: number }[]> {
    const out: { agent: RegistryAgent; bytes: number }[] = [];
    let next = 0;
    const reader = async (): Promise<void> => {
      while (next < names.length) {
        const name = names[next++]!;
        const path = `${this.agentsDir}/${name}`;
        let node: { data: Buffer } | undefined;
        try {
          node = await this.session.getData(path);
        } catch (e) {
          throw new CorralError('REGISTRY', `cannot read the registry znode ${this.show(path)}: ${describeError(e)}`, { cause: e });
        }
        if (node === undefined) continue; // removed meanwhile
        out.push({ agent: this.parseAgent(name, path, node.data), bytes: node.data.length });
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_WINDOW, names.length) }, reader));
    return out;
  }

  /** The agent a znode holds, or an error naming the znode and what is wrong with it. */
  private parseAgent(name: string, path: string, data: Buffer): RegistryAgent {
    const bad = (reason: string, cause?: unknown): CorralError =>
      new CorralError('REGISTRY', `the registry znode ${this.show(path)} ${reason}`, cause === undefined ? {} : { cause });
    let id: string;
    try {
      id = decodeURIComponent(name);
    } catch (e) {
      throw bad(`is not named for an agent id (bad %-encoding)`, e);
    }
    if (data.length === 0) throw bad('is empty (it should hold an agent as JSON)');
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString('utf8'));
    } catch (e) {
      throw bad(`is not valid JSON: ${(e as Error).message}`, e);
    }
    const a = parsed as Partial<Record<keyof RegistryAgent, unknown>> | null;
    if (typeof a !== 'object' || a === null || Array.isArray(a)) throw bad('does not hold a JSON object');
    if (typeof a.id !== 'string') throw bad("has no string 'id'");
    if (typeof a.info !== 'object' || a.info === null || Array.isArray(a.info)) throw bad("has no object 'info'");
    if (a.checkpointedResources !== undefined && !Array.isArray(a.checkpointedResources)) throw bad("has a 'checkpointedResources' that is not a list");
    if (a.principal !== undefined && typeof a.principal !== 'string') throw bad("has a 'principal' that is not a string");
    if (a.id !== id) throw bad(`holds agent '${a.id}' but is named for agent '${id}'`);
    return a as RegistryAgent;
  }

  /** A znode's full path (with the chroot), for messages. */
  private show(path: string): string {
    return `${this.chroot}${path}`;
  }
}

/** An agent id as a znode name: URI-encoded (no `/`, ASCII only), and never `.` or `..`. */
export function znodeName(id: string): string {
  const name = encodeURIComponent(id);
  return name === '.' || name === '..' ? name.replace(/\./g, '%2E') : name;
}

/** JSON with every object's keys sorted: equal for equal records, whatever order their keys were set in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/** ZooKeeper's name for why an operation failed (NODE_EXISTS, BAD_VERSION, CONNECTION_LOSS, ...). */
function zkErrorName(e: unknown): string | undefined {
  return e instanceof ZkError ? e.zk : undefined;
}
