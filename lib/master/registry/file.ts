/** The registry in files of the work dir (--registry=replicated_log, the single-master default). */
import { type FileHandle, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CorralError } from '../../common/errors.ts';
import { MemoryRegistry, type RegistryOp } from './memory.ts';
import type { RegistryAgent, RegistryState } from './types.ts';

/** The journal is folded into a new snapshot once it is larger than the snapshot (and this). */
const MIN_COMPACT_BYTES = 1 << 20;

/**
 * A snapshot and a journal (see docs/architecture.md, "The registry"):
 * - `registry.json`, the whole state as JSON, written atomically: a temporary file written and
 *   fsynced, renamed over the old one, the directory fsynced, so a crash leaves the old or the new;
 * - `registry.journal`, the changes since that snapshot, one JSON line each, appended and fsynced
 *   per batch before the batch is acknowledged. A batch costs the bytes of its changes, not of
 *   the whole state (50,000 agents are about 20 MB of JSON).
 * When the journal outgrows the snapshot, a new snapshot is written and the journal emptied; a
 * crash between the two replays changes the snapshot already holds, which changes nothing (each
 * line sets a whole record, removes one, or sets the weights). Recovery reads the snapshot, then
 * the journal; a last line cut short by a crash was never acknowledged and is dropped; any other
 * bad line is an error naming the file and line.
 */
export class FileRegistry extends MemoryRegistry {
  readonly path: string;
  readonly journalPath: string;
  private journalBytes = 0;
  /** Where the journal's good lines end, when recovery found a line cut short after them. */
  private tornAt: number | undefined;
  private snapshotBytes = 0;

  constructor(workDir: string) {
    super();
    this.path = join(workDir, 'registry.json');
    this.journalPath = join(workDir, 'registry.journal');
  }

  override async recover(): Promise<RegistryState> {
    const snapshot = await readIfThere(this.path);
    if (snapshot !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(snapshot);
      } catch (e) {
        throw new CorralError('REGISTRY', `the registry ${this.path} is not valid JSON: ${(e as Error).message}`, { cause: e });
      }
      const agents = (parsed as { agents?: unknown }).agents;
      if (!Array.isArray(agents) || !agents.every(isAgent)) throw new CorralError('REGISTRY', `the registry ${this.path} has no valid 'agents' list`);
      const weights = (parsed as { weights?: unknown }).weights;
      if (weights !== undefined && !isWeights(weights))
        throw new CorralError('REGISTRY', `the registry ${this.path} has a 'weights' that is not an object of role: positive number`);
      for (const a of agents as RegistryAgent[]) this.apply({ set: a });
      if (weights !== undefined) this.apply({ weights });
      this.snapshotBytes = Buffer.byteLength(snapshot);
    }
    const journal = await readIfThere(this.journalPath);
    if (journal !== undefined) {
      const lines = journal.split('\n');
      // The text after the last newline is a line cut short by a crash (or nothing).
      const complete = lines.slice(0, -1);
      complete.forEach((line, i) => this.apply(parseOp(line, `${this.journalPath}:${i + 1}`)));
      this.journalBytes = Buffer.byteLength(journal) - Buffer.byteLength(lines.at(-1)!);
      if (lines.at(-1) !== '') this.tornAt = this.journalBytes;
    }
    return this.state();
  }

  protected override async persist(ops: readonly RegistryOp[]): Promise<void> {
    const text = ops.map((op) => `${JSON.stringify(op)}\n`).join('');
    let fh: FileHandle | undefined;
    let start: number | undefined;
    try {
      await mkdir(dirname(this.journalPath), { recursive: true });
      fh = await open(this.journalPath, 'a', 0o600);
      start = this.tornAt ?? (await fh.stat()).size;
      // A line cut short by a crash is dropped: the next append starts where the good ones end.
      if (this.tornAt !== undefined) await fh.truncate(this.tornAt);
      this.tornAt = undefined;
      await fh.write(text);
      await fh.datasync();
      this.journalBytes = start + Buffer.byteLength(text);
    } catch (e) {
      // Nothing of this batch may stay in the journal (it is refused).
      if (start !== undefined) await fh?.truncate(start).catch(() => {});
      throw writeFailed(this.journalPath, e);
    } finally {
      await fh?.close().catch(() => {});
    }
  }

  protected override async applied(): Promise<void> {
    if (this.journalBytes <= Math.max(this.snapshotBytes, MIN_COMPACT_BYTES)) return;
    // The journal holds every change already: a snapshot that cannot be written now is tried
    // again after a later batch.
    await this.compact().catch(() => {});
  }

  /** Write the whole state as a new snapshot, then empty the journal. */
  private async compact(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    let bytes = 0;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        let chunk = '';
        for (const piece of this.snapshotPieces()) {
          chunk += piece;
          if (chunk.length >= 1 << 20) {
            bytes += (await fh.write(chunk)).bytesWritten;
            chunk = '';
          }
        }
        bytes += (await fh.write(chunk)).bytesWritten;
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
      await unlink(tmp).catch(() => {});
      throw e;
    }
    this.snapshotBytes = bytes;
    const journal = await open(this.journalPath, 'r+');
    try {
      await journal.truncate(0);
      await journal.datasync();
    } finally {
      await journal.close();
    }
    this.journalBytes = 0;
  }
}

async function readIfThere(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CorralError('REGISTRY', `cannot read the registry ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function writeFailed(path: string, e: unknown): CorralError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'no space left on the device' : (err.message ?? String(e));
  return new CorralError('REGISTRY_WRITE_FAILED', `cannot write the registry ${path}: ${why}`, { cause: e });
}

function isAgent(a: unknown): a is RegistryAgent {
  return typeof (a as RegistryAgent)?.id === 'string' && typeof (a as RegistryAgent)?.info === 'object' && (a as RegistryAgent).info !== null;
}

function parseOp(line: string, where: string): RegistryOp {
  let op: unknown;
  try {
    op = JSON.parse(line);
  } catch (e) {
    throw new CorralError('REGISTRY', `the registry journal ${where} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const o = op as Record<string, unknown>;
  if (typeof o === 'object' && o !== null) {
    if ('set' in o && isAgent(o.set)) return { set: o.set };
    if ('remove' in o && typeof o.remove === 'string') return { remove: o.remove };
    if ('weights' in o && isWeights(o.weights)) return { weights: o.weights };
  }
  throw new CorralError('REGISTRY', `the registry journal ${where} is not a change the registry knows (set an agent, remove an id, or set the weights)`);
}

/** A registry's `weights`: role → positive number. */
export function isWeights(v: unknown): v is Record<string, number> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((w) => typeof w === 'number' && w > 0 && Number.isFinite(w));
}
