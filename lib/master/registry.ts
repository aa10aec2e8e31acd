/**
 * The registry: the master's durable record of admitted agents, so a restarted master knows
 * which agents to expect. Backends: a crash-safe file in the work dir (default) and memory.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CorralError } from '../common/errors.ts';
import type { Resource } from '../common/resources/index.ts';
import type { AgentInfo } from '../proto/messages.ts';

export interface RegistryAgent {
  readonly id: string;
  readonly info: AgentInfo;
  /**
   * The agent's dynamic reservations and persistent volumes as the master last applied them
   * (absent in registries written before they existed: then the agent's report is taken).
   */
  readonly checkpointedResources?: readonly Resource[];
}

export interface RegistryState {
  readonly agents: readonly RegistryAgent[];
}

export interface Registry {
  recover(): Promise<RegistryState>;
  admitAgent(agent: RegistryAgent): Promise<void>;
  updateAgent(agent: RegistryAgent): Promise<void>;
  /** Several agents in one write (the master batches checkpointed-resource changes). */
  updateAgents(agents: readonly RegistryAgent[]): Promise<void>;
  removeAgent(id: string): Promise<void>;
  /** Bytes of the last stored state (for metrics). */
  size(): number;
}

export class MemoryRegistry implements Registry {
  protected agents = new Map<string, RegistryAgent>();
  protected bytes = 0;

  async recover(): Promise<RegistryState> {
    return { agents: Array.from(this.agents.values()) };
  }

  async admitAgent(agent: RegistryAgent): Promise<void> {
    this.agents.set(agent.id, agent);
    await this.persist();
  }

  async updateAgent(agent: RegistryAgent): Promise<void> {
    this.agents.set(agent.id, agent);
    await this.persist();
  }

  async updateAgents(agents: readonly RegistryAgent[]): Promise<void> {
    for (const a of agents) this.agents.set(a.id, a);
    await this.persist();
  }

  async removeAgent(id: string): Promise<void> {
    if (this.agents.delete(id)) await this.persist();
  }

  size(): number {
    return this.bytes;
  }

  protected serialize(): string {
    return JSON.stringify({ version: 1, agents: Array.from(this.agents.values()) });
  }

  protected async persist(): Promise<void> {
    this.bytes = Buffer.byteLength(this.serialize());
  }
}

/**
 * A JSON file written atomically: a temporary file is written and fsynced, renamed over the
 * old one, and the directory fsynced, so a crash leaves either the old or the new state.
 * Writes are serialised in call order.
 */
export class FileRegistry extends MemoryRegistry {
  private chain: Promise<void> = Promise.resolve();
  readonly path: string;

  constructor(workDir: string) {
    super();
    this.path = join(workDir, 'registry.json');
  }

  override async recover(): Promise<RegistryState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { agents: [] };
      throw new CorralError('REGISTRY', `cannot read the registry ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new CorralError('REGISTRY', `the registry ${this.path} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    const agents = (parsed as { agents?: unknown }).agents;
    if (!Array.isArray(agents) || !agents.every((a) => typeof a?.id === 'string' && typeof a?.info === 'object')) {
      throw new CorralError('REGISTRY', `the registry ${this.path} has no valid 'agents' list`);
    }
    this.agents = new Map((agents as RegistryAgent[]).map((a) => [a.id, a]));
    this.bytes = Buffer.byteLength(text);
    return { agents: Array.from(this.agents.values()) };
  }

  protected override persist(): Promise<void> {
    const text = this.serialize();
    const write = async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.tmp`;
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      const dir = await open(dirname(this.path), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      this.bytes = Buffer.byteLength(text);
    };
    const next = this.chain.then(write, write);
    this.chain = next.catch(() => {});
    return next;
  }
}
