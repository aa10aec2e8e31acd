/**
 * The registry: the master's durable record of admitted agents, so a restarted master knows
 * which agents to expect. Backends: a crash-safe file in the work dir (default) and memory.
 */
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
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
  /**
   * The principal the agent authenticated as when it registered: only that principal may
   * re-register this agent id, also with a master that restarted (absent when agents did not
   * authenticate, and in registries written before it was kept: then the agent's first
   * authenticated re-registration sets it).
   */
  readonly principal?: string;
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

/**
 * A JSON file written atomically: a temporary file is written and fsynced, renamed over the
 * old one, and the directory fsynced, so a crash leaves either the old or the new state.
 */
export class FileRegistry extends MemoryRegistry {
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

  protected override async store(text: string): Promise<void> {
    const tmp = `${this.path}.tmp`;
    try {
      await mkdir(dirname(this.path), { recursive: true });
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
    } catch (e) {
      // The old registry is untouched; the partial temporary file goes (it holds space).
      await unlink(tmp).catch(() => {});
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOSPC' ? 'no space left on the device' : (err.message ?? String(e));
      throw new CorralError('REGISTRY_WRITE_FAILED', `cannot write the registry ${this.path}: ${why}`, { cause: e });
    }
  }
}
