/**
 * Errors of the transport layer.
 *
 * - HttpError: thrown by a handler (or by Request.readBody/readJson) to answer with a given HTTP
 *   status and a plain-text message. Only HTTP code chooses statuses (docs/architecture.md §2).
 * - TransportError: a connection-level failure; `code` is the errno-style name (ECONNREFUSED,
 *   ECONNRESET, ETIMEDOUT, EADDRINUSE, ...) or a transport code (TOO_LARGE, CLIENT_GONE).
 * - AuthenticationError: a request's credentials are missing or wrong (`UNAUTHENTICATED`); the
 *   message is the reason, which the server sends as `Unauthorized: <reason>` with a 401.
 */
import { CorralError, type ErrorCode, systemCode } from '../common/errors.ts';

export class HttpError extends CorralError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message: string, options: { code?: ErrorCode; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(options.code ?? `HTTP_${status}`, message, { cause: options.cause });
    this.name = 'HttpError';
    this.status = status;
    this.headers = options.headers ?? {};
  }
}

export class TransportError extends CorralError {
  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'TransportError';
  }
}

export class AuthenticationError extends CorralError {
  declare readonly code: 'UNAUTHENTICATED';
  constructor(reason: string) {
    super('UNAUTHENTICATED', reason);
    this.name = 'AuthenticationError';
  }
}

/** The code of an error, if it has one: a CorralError's own, or the errno-style code Node gave. */
export function errorCode(e: unknown): ErrorCode | undefined {
  if (e instanceof CorralError) return e.code;
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return systemCode((e as { code: string }).code);
  }
  return undefined;
}
