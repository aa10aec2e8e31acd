/** Small response builders shared by every daemon's handlers. */
import { ValidationError } from '../common/errors.ts';
import { ApiValidationError } from '../proto/api_errors.ts';
import type { HttpResponse, Request } from './http_types.ts';

/** A plain-text answer (error bodies are plain text, as Mesos sends them). */
export function textResponse(status: number, body: string): HttpResponse {
  return { status, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body };
}

/** A JSON answer; `?jsonp=callback` wraps it as Mesos's GET endpoints do. */
export function jsonResponse(req: Request, body: unknown, status = 200): HttpResponse {
  const cb = req.query.get('jsonp');
  if (cb && /^[A-Za-z_$][\w$.]*$/.test(cb)) {
    return { status, headers: { 'Content-Type': 'text/javascript' }, body: `${cb}(${JSON.stringify(body)});` };
  }
  return { status, headers: { 'Content-Type': 'application/json' }, body: body as object };
}

/**
 * The answer to a v1 API call whose body its decoder refused (lib/proto/api_errors.ts), as
 * Mesos gives it: 501 for a call type not implemented, else 400 `Failed to convert JSON into
 * Call protobuf: …` or `Failed to validate <call>: …` (`call` is `scheduler::Call` or
 * `executor::Call`). Any other error is thrown again.
 */
export function callRejection(e: unknown, call: string): HttpResponse {
  if (e instanceof ApiValidationError) {
    if (e.stage === 'unsupported') return textResponse(501, e.message);
    return textResponse(400, e.stage === 'convert' ? `Failed to convert JSON into Call protobuf: ${e.message}` : `Failed to validate ${call}: ${e.message}`);
  }
  if (e instanceof ValidationError) return textResponse(400, `Failed to validate ${call}: ${e.message}`);
  throw e;
}
