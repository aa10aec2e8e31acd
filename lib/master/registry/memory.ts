/** The registry kept in memory (--registry=in_memory), and the base of the file registry. */
import type { Registry, RegistryAgent, RegistryState } from './types.ts';

export class MemoryRegistry implements Registry {
  protected agents = new Map<string, RegistryAgent>();
  protected bytes = 0;
  private chain: Promise<void> = Promise.resolve();

  async recover(): Promise<RegistryState> {
    return { agents: Array.from(this.agents.values()) };
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

  size(): number {
    return this.bytes;
  }

  /**
   * Apply a change to a copy of the state, store the copy, and only then make it the state:
   * a write that fails (a full disk) changes nothing, and the next write does not carry it.
   * Changes run in call order. `apply` returning false means nothing changed (nothing written).
   */
  private commit(apply: (agents: Map<string, RegistryAgent>) => unknown): Promise<void> {
    const run = async (): Promise<void> => {
      const next = new Map(this.agents);
      if (apply(next) === false) return;
      const text = JSON.stringify({ version: 1, agents: Array.from(next.values()) });
      await this.store(text);
      this.agents = next;
      this.bytes = Buffer.byteLength(text);
    };
    const done = this.chain.then(run, run);
    this.chain = done.catch(() => {});
    return done;
  }

  /** Make `text` durable (nothing to do in memory). */
  protected async store(_text: string): Promise<void> {}
}
