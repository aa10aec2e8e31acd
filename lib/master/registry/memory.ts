/** The registry kept in memory (--registry=in_memory), and the base of the file registry. */
import type { Registry, RegistryAgent, RegistryState } from './types.ts';

export class MemoryRegistry implements Registry {
  protected agents = new Map<string, RegistryAgent>();
  protected bytes = 0;
  protected weights: Readonly<Record<string, number>> | undefined;
  private chain: Promise<void> = Promise.resolve();

  async recover(): Promise<RegistryState> {
    return { agents: Array.from(this.agents.values()), ...(this.weights === undefined ? {} : { weights: this.weights }) };
  }

  admitAgent(agent: RegistryAgent): Promise<void> {
    return this.commit((m) => m.set(agent.id, agent));
  }

  updateAgent(agent: RegistryAgent): Promise<void> {
    return this.commit((m) => m.set(agent.id, agent));
  }

  updateAgents(agents: readonly RegistryAgent[]): Promise<void> {
    return this.commit((m) => {
      for (const a of agents) m.set(a.id, a);
    });
  }

  removeAgent(id: string): Promise<void> {
    return this.commit((m) => m.delete(id));
  }

  updateWeights(weights: Readonly<Record<string, number>>): Promise<void> {
    return this.commit(() => {}, { ...weights });
  }

  size(): number {
    return this.bytes;
  }

  /**
   * Apply a change to a copy of the state, store the copy, and only then make it the state:
   * a write that fails (a full disk) changes nothing, and the next write does not carry it.
   * Changes run in call order. `apply` returning false means nothing changed (nothing written).
   */
  private commit(apply: (agents: Map<string, RegistryAgent>) => unknown, newWeights?: Readonly<Record<string, number>>): Promise<void> {
    const run = async (): Promise<void> => {
      const next = new Map(this.agents);
      if (apply(next) === false) return;
      const weights = newWeights ?? this.weights;
      const text = JSON.stringify({ version: 1, agents: Array.from(next.values()), ...(weights === undefined ? {} : { weights }) });
      await this.store(text);
      this.agents = next;
      this.weights = weights;
      this.bytes = Buffer.byteLength(text);
    };
    const done = this.chain.then(run, run);
    this.chain = done.catch(() => {});
    return done;
  }

  /** Make `text` durable (nothing to do in memory). */
  protected async store(_text: string): Promise<void> {}
}
