/** Sending a plain (not streamed) response. */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { stringifyWire } from '../proto/json_text.ts';
import type { HttpResponse } from './http_types.ts';
import type { ServerRequest } from './server_request.ts';

export function sendPlain(res: ServerResponse, r: ServerRequest, response: HttpResponse): void {
  if (res.headersSent || res.destroyed) return;
  const headers: OutgoingHttpHeaders = {};
  let type: string | undefined;
  for (const [k, v] of Object.entries(response.headers ?? {})) {
    if (k.toLowerCase() === 'content-type') type = String(v);
    headers[k] = v as string | number | string[];
  }
  let body: Buffer | undefined;
  const b = response.body;
  if (b === undefined || b === null) {
    body = undefined;
  } else if (typeof b === 'string') {
    body = Buffer.from(b, 'utf8');
    type ??= 'text/plain; charset=utf-8';
  } else if (b instanceof Uint8Array) {
    body = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    type ??= 'application/octet-stream';
  } else {
    body = Buffer.from(stringifyWire(b), 'latin1');
    type ??= 'application/json';
  }
  const noBody = response.status === 204 || response.status === 304 || (response.status >= 100 && response.status < 200);
  if (noBody) body = undefined;
  if (body !== undefined && type !== undefined && !hasHeader(headers, 'content-type')) headers['Content-Type'] = type;
  if (!noBody) headers['Content-Length'] = body?.length ?? 0;
  if (r.closeConnection) headers['Connection'] = 'close';
  res.writeHead(response.status, headers);
  res.end(body);
}

function hasHeader(headers: OutgoingHttpHeaders, name: string): boolean {
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name) return true;
  return false;
}
