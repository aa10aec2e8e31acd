/**
 * The fetcher's errors. A FetchError fails the task: its message names the URI and the reason
 * ("Failed to fetch 'http://h/a.tgz': HTTP 404 Not Found"). A CacheFailure is the cache's own
 * trouble (no room, no size, a write error in the cache directory, an aborted shared download):
 * it is never shown to a task, which falls back to a direct download instead. A SourceError or a
 * SinkError is a download's own failure before it is tied to a URI (request.ts makes it a
 * FetchError).
 */
import { CorralError } from '../../common/errors.ts';

export class FetchError extends CorralError {
  /** The reason alone, without the URI. */
  readonly reason: string;
  constructor(
    readonly uri: string,
    reason: string,
    options: { code?: 'FETCH_FAILED' | 'FETCH_ABORTED' | 'BAD_URI'; cause?: unknown } = {},
  ) {
    super(options.code ?? 'FETCH_FAILED', `Failed to fetch '${uri}': ${reason}`, { field: 'uri', cause: options.cause });
    this.name = 'FetchError';
    this.reason = reason;
  }
}

export class CacheFailure extends CorralError {
  constructor(message: string, cause?: unknown) {
    super('FETCHER_CACHE_FAILED', message, { cause });
    this.name = 'CacheFailure';
  }
}

/** What a source problem looks like before it is tied to a URI (FETCH_ABORTED when the fetch was aborted). */
export class SourceError extends CorralError {
  constructor(
    message: string,
    readonly aborted = false,
  ) {
    super(aborted ? 'FETCH_ABORTED' : 'FETCH_FAILED', message);
    this.name = 'SourceError';
  }
}

/** Writing the destination failed (disk full, permissions): the source was fine. */
export class SinkError extends CorralError {
  constructor(message: string, cause: unknown) {
    super('FETCH_FAILED', message, { cause });
    this.name = 'SinkError';
  }
}

/** An errno error's text: its message, which names the operation and the path. */
export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.message ?? String(e);
}
