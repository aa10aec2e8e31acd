/**
 * The order in which the agent handles what it must keep in order without making everything
 * wait for everything (docs/architecture.md §3): the master's messages, and the agent's calls to
 * the master.
 *
 * Each piece of work names what it touches, as keys held shared or exclusive, and starts once
 * every earlier piece that conflicts with it (the same key, held exclusive by one of the two) is
 * done. So the messages about one task, executor or framework keep their order (RUN_TASK then
 * KILL_TASK of a task, the tasks of one executor, a framework's shutdown after its launches),
 * while the acknowledgement of one task does not wait behind the launch of another, nor one
 * task's status update behind another's.
 */

/** A key held by a piece of work: shared with other holders, or exclusive. */
export interface Claim {
  readonly key: string;
  readonly exclusive: boolean;
}

export const shared = (key: string): Claim => ({ key, exclusive: false });
export const exclusive = (key: string): Claim => ({ key, exclusive: true });

interface Entry {
  readonly claims: readonly Claim[];
  /** Earlier conflicting entries not done yet. */
  waiting: number;
  readonly dependents: Entry[];
  start: () => void;
}

export class MessageOrder {
  /** The latest exclusive holder of each key, until it is done. */
  private readonly lastExclusive = new Map<string, Entry>();
  /** The shared holders of each key that came after its latest exclusive holder, until done. */
  private readonly sharedSince = new Map<string, Set<Entry>>();
  private pending = 0;

  /** Pieces of work not done yet (started or waiting). */
  get size(): number {
    return this.pending;
  }

  /**
   * Run `work` once every earlier piece that conflicts with `claims` is done; resolves or
   * rejects as it does. Work that conflicts with nothing starts at once (synchronously).
   */
  run<T>(claims: readonly Claim[], work: () => Promise<T>): Promise<T> {
    const byKey = new Map<string, Claim>();
    for (const c of claims) if (!byKey.get(c.key)?.exclusive) byKey.set(c.key, c);
    const entry: Entry = { claims: [...byKey.values()], waiting: 0, dependents: [], start: () => {} };
    const deps = new Set<Entry>();
    for (const c of entry.claims) {
      const last = this.lastExclusive.get(c.key);
      if (last) deps.add(last);
      if (c.exclusive) for (const s of this.sharedSince.get(c.key) ?? []) deps.add(s);
    }
    for (const c of entry.claims) {
      if (c.exclusive) {
        this.lastExclusive.set(c.key, entry);
        this.sharedSince.delete(c.key); // they are this entry's dependencies: later ones wait for it
      } else {
        let since = this.sharedSince.get(c.key);
        if (!since) this.sharedSince.set(c.key, (since = new Set()));
        since.add(entry);
      }
    }
    entry.waiting = deps.size;
    for (const d of deps) d.dependents.push(entry);
    this.pending++;
    return new Promise<T>((resolve, reject) => {
      entry.start = () => {
        let p: Promise<T>;
        try {
          p = work();
        } catch (e) {
          p = Promise.reject(e);
        }
        p.finally(() => this.done(entry)).then(resolve, reject);
      };
      if (entry.waiting === 0) entry.start();
    });
  }

  private done(entry: Entry): void {
    this.pending--;
    for (const c of entry.claims) {
      if (this.lastExclusive.get(c.key) === entry) this.lastExclusive.delete(c.key);
      const since = this.sharedSince.get(c.key);
      if (since?.delete(entry) && since.size === 0) this.sharedSince.delete(c.key);
    }
    for (const d of entry.dependents) if (--d.waiting === 0) d.start();
  }
}

/** At most `max` pieces of work at once; the others wait their turn, first come first served. */
export class Limit {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly max: number) {}

  async use<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((r) => this.queue.push(r));
    else this.running++;
    try {
      return await work();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Pieces of work waiting for their turn. */
  get waiting(): number {
    return this.queue.length;
  }
}
