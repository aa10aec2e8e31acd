/** The registry kept in memory (--registry=in_memory), and the base of the file registry. */
import type { Registry, RegistryAgent, RegistryState } from './types.ts';

/** One change of the registry's state, as the file registry's journal holds it. */
export type RegistryOp = { readonly set: RegistryAgent } | { readonly remove: string } | { readonly weights: Readonly<Record<string, number>> };

interface Pending {
  readonly ops: readonly RegistryOp[];
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Changes are batched: those asked while a write is under way go together in the next write,
 * so a storm of N registrations costs a few writes, not N. A change that leaves the state as it
 * was (an agent re-registering with the same record) writes nothing. A subclass makes each
 * batch durable (`persist`) before it becomes the state: a write that fails (a full disk)
 * changes nothing, every change of that batch is refused with its error, and the next write
 * does not carry them.
 */
export class MemoryRegistry implements Registry {
  protected agents = new Map<string, RegistryAgent>();
  /** JSON.stringify of each agent, to find unchanged records and to write snapshots. */
  protected texts = new Map<string, string>();
  protected weights: Readonly<Record<string, number>> | undefined;
  private agentBytes = 0;
  private queue: Pending[] = [];
  private draining = false;

  async recover(): Promise<RegistryState> {
    return this.state();
  }

  admitAgent(agent: RegistryAgent): Promise<void> {
    return this.commit([{ set: agent }]);
  }

  updateAgent(agent: RegistryAgent): Promise<void> {
    return this.commit([{ set: agent }]);
  }

  updateAgents(agents: readonly RegistryAgent[]): Promise<void> {
    return this.commit(agents.map((a) => ({ set: a })));
  }

  removeAgent(id: string): Promise<void> {
    return this.commit([{ remove: id }]);
  }

  updateWeights(weights: Readonly<Record<string, number>>): Promise<void> {
    return this.commit([{ weights: { ...weights } }]);
  }

  /** Bytes of the whole state as a snapshot holds it. */
  size(): number {
    return this.snapshotHead().length + this.agentBytes + Math.max(0, this.texts.size - 1) + this.snapshotTail().length;
  }

  protected state(): RegistryState {
    return { agents: Array.from(this.agents.values()), ...(this.weights === undefined ? {} : { weights: this.weights }) };
  }

  /** Apply `op` to the state at once (recovery, and a batch once it is durable). */
  protected apply(op: RegistryOp, text?: string): void {
    if ('set' in op) {
      const t = text ?? JSON.stringify(op.set);
      const old = this.texts.get(op.set.id);
      if (old !== undefined) this.agentBytes -= Buffer.byteLength(old);
      this.agents.set(op.set.id, op.set);
      this.texts.set(op.set.id, t);
      this.agentBytes += Buffer.byteLength(t);
    } else if ('remove' in op) {
      const old = this.texts.get(op.remove);
      if (old !== undefined) this.agentBytes -= Buffer.byteLength(old);
      this.agents.delete(op.remove);
      this.texts.delete(op.remove);
    } else this.weights = op.weights;
  }

  /** Make the ops of one batch durable before they are applied (nothing to do in memory). */
  protected async persist(_ops: readonly RegistryOp[]): Promise<void> {}

  /** Told after each applied batch (the file registry compacts its journal). */
  protected async applied(): Promise<void> {}

  /** The whole state as one JSON text, in pieces (a snapshot of the file registry). */
  protected *snapshotPieces(): Generator<string> {
    yield this.snapshotHead();
    let first = true;
    for (const t of this.texts.values()) {
      yield first ? t : `,${t}`;
      first = false;
    }
    yield this.snapshotTail();
  }

  private snapshotHead(): string {
    return '{"version":1,"agents":[';
  }

  private snapshotTail(): string {
    return `]${this.weights === undefined ? '' : `,"weights":${JSON.stringify(this.weights)}`}}`;
  }

  private commit(ops: readonly RegistryOp[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.writeBatch(batch.flatMap((p) => p.ops));
          for (const p of batch) p.resolve();
        } catch (e) {
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async writeBatch(ops: readonly RegistryOp[]): Promise<void> {
    // What each agent id will be after the ops before it in this batch (null: removed).
    const after = new Map<string, string | null>();
    const effective: { op: RegistryOp; text?: string }[] = [];
    for (const op of ops) {
      if ('set' in op) {
        const text = JSON.stringify(op.set);
        const current = after.has(op.set.id) ? after.get(op.set.id) : this.texts.get(op.set.id);
        if (current === text) continue;
        after.set(op.set.id, text);
        effective.push({ op, text });
      } else if ('remove' in op) {
        const current = after.has(op.remove) ? after.get(op.remove) : this.texts.get(op.remove);
        if (current === undefined || current === null) continue;
        after.set(op.remove, null);
        effective.push({ op });
      } else effective.push({ op });
    }
    if (effective.length === 0) return;
    await this.persist(effective.map((e) => e.op));
    for (const e of effective) this.apply(e.op, e.text);
    await this.applied();
  }
}
