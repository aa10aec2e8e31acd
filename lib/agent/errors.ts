/**
 * Why the agent refuses an executor's call: an ExecutorRefusal, a CorralError with a stable code,
 * thrown by the part that finds the problem (executor_api.ts, executor_auth.ts). Its message is
 * the exact text the executor sees. lib/agent/http/status.ts chooses the HTTP status from the code.
 */
import { CorralError } from '../common/errors.ts';

export type ExecutorRefusalCode =
  /** The framework the call names is not on this agent. */
  | 'FRAMEWORK_NOT_FOUND'
  /** The executor the call names is not on this agent (or is a command executor). */
  | 'EXECUTOR_NOT_FOUND'
  /** The executor has not subscribed yet. */
  | 'EXECUTOR_NOT_SUBSCRIBED'
  /** The caller's token is for another framework, executor or container. */
  | 'FORBIDDEN'
  /** The call is malformed (an UPDATE the agent cannot take). */
  | 'INVALID';

export class ExecutorRefusal extends CorralError {
  declare readonly code: ExecutorRefusalCode;
  constructor(code: ExecutorRefusalCode, message: string) {
    super(code, message);
    this.name = 'ExecutorRefusal';
  }
}
