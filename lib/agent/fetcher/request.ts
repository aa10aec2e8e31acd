/** One fetch request, what became of each of its URIs, and what its steps share while it runs. */
import { describeError } from '../../common/errors.ts';
import type { Uri } from '../../proto/messages.ts';
import type { AsUser } from './as_user.ts';
import type { CacheEntry } from './cache.ts';
import { CacheFailure, FetchError, SinkError, SourceError } from './errors.ts';
import type { Ids } from './extract.ts';
import type { SandboxLog } from './sandbox_log.ts';

export interface FetchRequest {
  readonly uris: readonly Uri[];
  readonly sandbox: string;
  /** The task's user when --switch_user applies: it owns the files and keys the cache. */
  readonly user?: string;
  /** Abort the fetch (the task was killed while its URIs were being fetched). */
  readonly signal?: AbortSignal;
  /** For the agent's log. */
  readonly containerId?: string;
}

/** What became of one URI. */
export interface Fetched {
  readonly uri: string;
  /** The file's path in the sandbox (for an archive from the cache, where it would have been). */
  readonly path: string;
  /** miss: downloaded into the cache; hit: from the cache; bypass: cache asked but not used; none: not asked. */
  readonly cache: 'miss' | 'hit' | 'bypass' | 'none';
  /** Given as a hard link to the cached file. */
  readonly linked: boolean;
  readonly extracted: boolean;
}

export interface Ctx {
  readonly req: FetchRequest;
  readonly ids: Ids | undefined;
  readonly log: SandboxLog;
  readonly held: CacheEntry[];
  /** Set when the task runs as another user than the agent (root): the sandbox work is done as that user. */
  readonly asUser: AsUser | undefined;
}

/** Counters behind the fetcher's metrics, shared by the cache and direct paths. */
export interface FetchCounts {
  succeeded: number;
  failed: number;
  hits: number;
  misses: number;
  bypasses: number;
  failures: number;
  bytesDownloaded: number;
  bytesFromCache: number;
}

export function toFetchError(uri: string, e: unknown): FetchError {
  if (e instanceof FetchError) return e;
  if (e instanceof SourceError) return new FetchError(uri, e.message, { code: e.aborted ? 'FETCH_ABORTED' : 'FETCH_FAILED' });
  if (e instanceof SinkError) return new FetchError(uri, e.message, { cause: e.cause });
  return new FetchError(uri, describeError(e), { cause: e });
}

/** Errors that a waiting request falls back from (to a direct download) instead of failing. */
export function fallsBack(e: unknown): boolean {
  return e instanceof CacheFailure || (e instanceof SourceError && e.aborted);
}
