/** The registry in a file of the work dir (--registry=replicated_log, the single-master default). */
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CorralError } from '../../common/errors.ts';
import { MemoryRegistry } from './memory.ts';
import type { RegistryAgent, RegistryState } from './types.ts';

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
    const weights = (parsed as { weights?: unknown }).weights;
    if (weights !== undefined && !isWeights(weights))
      throw new CorralError('REGISTRY', `the registry ${this.path} has a 'weights' that is not an object of role: positive number`);
    this.agents = new Map((agents as RegistryAgent[]).map((a) => [a.id, a]));
    this.weights = weights;
    this.bytes = Buffer.byteLength(text);
    return { agents: Array.from(this.agents.values()), ...(weights === undefined ? {} : { weights }) };
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

/** A registry's `weights`: role → positive number. */
export function isWeights(v: unknown): v is Record<string, number> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((w) => typeof w === 'number' && w > 0 && Number.isFinite(w));
}
