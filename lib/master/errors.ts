/**
 * Why the master refuses a call, an operation or a task: a MasterRefusal, a CorralError with a
 * stable code, thrown by the part that finds the problem. Its message is the exact text the
 * caller sees. The http/ handlers choose the HTTP status from the code
 * (lib/master/http/status.ts); launch.ts turns a refused task into TASK_ERROR or TASK_LOST.
 */
import { CorralError, ValidationError } from '../common/errors.ts';

export type RefusalCode =
  /** The framework or agent the call names is not known. */
  | 'NOT_FOUND'
  /** The call, task or operation is malformed, or its stream id does not match. */
  | 'INVALID'
  /** The principal may not do this (the ACLs), or the stream is not the caller's. */
  | 'FORBIDDEN'
  /** The framework is known but not subscribed. */
  | 'NOT_SUBSCRIBED'
  /** The resources the operation needs are not there (or not free). */
  | 'CONFLICT'
  /** Too many calls of the principal are waiting for their turn (--rate_limits capacity). */
  | 'RATE_LIMITED';

export class MasterRefusal extends CorralError {
  declare readonly code: RefusalCode;
  constructor(code: RefusalCode, message: string) {
    super(code, message);
    this.name = 'MasterRefusal';
  }
}

/**
 * A rule check's ValidationError (an id, a role, a user name) as an INVALID refusal worded
 * `${wording}: ${reason}`, as Mesos words it; any other error as it is.
 */
export function refusedAs(e: unknown, wording: string): unknown {
  return e instanceof ValidationError ? new MasterRefusal('INVALID', `${wording}: ${e.reason}`) : e;
}
