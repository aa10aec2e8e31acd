/**
 * Errors of the transport layer.
 *
 * - HttpError: thrown by a handler (or by Request.readBody/readJson) to answer with a given HTTP
 *   status and a plain-text message. Only HTTP code chooses statuses (docs/architecture.md §2).
 * - TransportError: a connection-level failure; `code` is the errno-style name (ECONNREFUSED,
 *   ECONNRESET, ETIMEDOUT, EADDRINUSE, ...) or a transport code (TOO_LARGE, CLIENT_GONE).
 */
import { CorralError } from '../common/errors.ts';

export class HttpError extends CorralError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message: string, options: { code?: string; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(options.code ?? `HTTP_${status}`, message, { cause: options.cause });
    this.name = 'HttpError';
    this.status = status;
    this.headers = options.headers ?? {};
  }
}

export class TransportError extends CorralError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'TransportError';
  }
}

/** The errno-style code of a Node error, if it has one. */
export function errorCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return undefined;
}
