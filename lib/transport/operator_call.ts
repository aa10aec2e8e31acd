/**
 * What every v1 API endpoint that takes JSON calls checks before the call itself (the
 * scheduler API, and the operator API of the master and of the agent): the Accept header, then
 * for the operator API the Content-Type, the body converted and validated by the caller's
 * decoder, and Accept again, in Mesos's order; and the JSON answer `{type, <type>: payload}`.
 */
import type { HttpResponse, Request } from './http_types.ts';
import { callRejection, textResponse } from './responses.ts';
import { stringifyWire } from '../proto/json_text.ts';

export const JSON_TYPE = 'application/json';

/** Whether an Accept header lets us answer JSON (absent accepts everything). */
export function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((part) => {
    const [type, ...params] = part
      .trim()
      .split(';')
      .map((x) => x.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) return false;
    return type === JSON_TYPE || type === 'application/*' || type === '*/*';
  });
}

/**
 * Read an operator API call: Content-Type (400 absent, 415 not JSON), the body through `decode`
 * (400 naming the field, as `Failed to convert JSON into Call protobuf: …` or `Failed to
 * validate <name>: …`), then Accept (406), then 501 for a call `decode` calls unsupported.
 * The call, or the answer that ends the request.
 */
export async function readOperatorCall<C>(req: Request, decode: (json: unknown) => C, name: string, maxBodyBytes: number): Promise<C | HttpResponse> {
  const contentType = req.header('content-type');
  if (contentType === undefined) return textResponse(400, "Expecting 'Content-Type' to be present");
  // Mesos compares the whole header; parameters (charset) are accepted here.
  const media = contentType.split(';')[0]!.trim().toLowerCase();
  if (media !== JSON_TYPE) {
    return textResponse(
      415,
      media === 'application/x-protobuf'
        ? 'Protobuf requests are not supported by Corral; use application/json'
        : `Expecting 'Content-Type' of ${JSON_TYPE} or application/x-protobuf`,
    );
  }
  const body = await req.readJson(maxBodyBytes);
  let call: C;
  try {
    call = decode(body);
  } catch (e) {
    const r = callRejection(e, name);
    // Accept is judged after validation, before Not Implemented.
    if (r.status === 501 && !acceptsJson(req.header('accept'))) return notAcceptable();
    return r;
  }
  if (!acceptsJson(req.header('accept'))) return notAcceptable();
  return call;
}

function notAcceptable(): HttpResponse {
  return textResponse(406, `Expecting 'Accept' to allow '${JSON_TYPE}'`);
}

/** A 200 with the response `{type, <type lower-cased>: payload}` as compact wire JSON. */
export function operatorAnswer(type: string, payload?: object): HttpResponse {
  const body = payload === undefined ? { type } : { type, [type.toLowerCase()]: payload };
  return { status: 200, headers: { 'Content-Type': JSON_TYPE }, body: stringifyWire(body) };
}

/** A 403 for a call the ACLs deny. */
export function forbiddenCall(principal: string | undefined, what: string): HttpResponse {
  return textResponse(403, `Forbidden: ${principal === undefined ? 'a request without a principal' : `principal '${principal}'`} may not ${what}`);
}
