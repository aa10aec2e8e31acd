/** Small response builders shared by every daemon's handlers. */
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
