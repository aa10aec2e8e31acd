/**
 * Why the master refuses a call: a CorralError with a stable code. The http/ handlers choose
 * the HTTP status from the code (lib/master/http/status.ts).
 */
import { CorralError } from '../common/errors.ts';

export type RefusalCode =
  /** The framework or agent the call names is not known. */
  | 'NOT_FOUND'
  /** The call or its stream id is malformed or does not match. */
  | 'INVALID'
  /** The principal may not do this (the ACLs), or the stream is not the caller's. */
  | 'FORBIDDEN'
  /** The framework is known but not subscribed. */
  | 'NOT_SUBSCRIBED'
  /** The resources the operation needs are not there (or not free). */
  | 'CONFLICT';

export class MasterRefusal extends CorralError {
  declare readonly code: RefusalCode;
  constructor(code: RefusalCode, message: string) {
    super(code, message);
    this.name = 'MasterRefusal';
  }
}

/** The verdict on a non-SUBSCRIBE call's framework (or an agent call's agent) and stream id. */
export type CallCheck = { ok: true } | { ok: false; error: MasterRefusal };

export function refuse(code: RefusalCode, message: string): { ok: false; error: MasterRefusal } {
  return { ok: false, error: new MasterRefusal(code, message) };
}
