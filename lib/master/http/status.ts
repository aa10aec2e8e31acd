/**
 * The HTTP status for each reason the master refuses a call. As in Mesos, an unknown framework
 * or agent is a 400 (the request names it), not a 404. The master's parts throw a MasterRefusal;
 * the http/ handlers catch it and answer with `refusalResponse`.
 */
import type { HttpResponse } from '../../transport/index.ts';
import { textResponse } from '../../transport/responses.ts';
import { MasterRefusal, type RefusalCode } from '../errors.ts';

const STATUS: Record<RefusalCode, 400 | 403 | 409 | 429> = {
  NOT_FOUND: 400,
  INVALID: 400,
  FORBIDDEN: 403,
  NOT_SUBSCRIBED: 403,
  CONFLICT: 409,
  RATE_LIMITED: 429,
};

export function refusalStatus(e: MasterRefusal): 400 | 403 | 409 | 429 {
  return STATUS[e.code];
}

/** The answer to a MasterRefusal: its status and its message as plain text. Anything else is thrown again. */
export function refusalResponse(e: unknown): HttpResponse {
  if (e instanceof MasterRefusal) return textResponse(refusalStatus(e), e.message);
  throw e;
}
