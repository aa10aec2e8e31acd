/**
 * The HTTP status for each reason the master refuses a call. As in Mesos, an unknown framework
 * or agent is a 400 (the request names it), not a 404.
 */
import type { MasterRefusal, RefusalCode } from '../errors.ts';

const STATUS: Record<RefusalCode, 400 | 403 | 409> = {
  NOT_FOUND: 400,
  INVALID: 400,
  FORBIDDEN: 403,
  NOT_SUBSCRIBED: 403,
  CONFLICT: 409,
};

export function refusalStatus(e: MasterRefusal): 400 | 403 | 409 {
  return STATUS[e.code];
}
