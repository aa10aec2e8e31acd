/** The scheduler client's own errors (the master's refusals are HttpErrors, broken connections TransportErrors). */
import { CorralError, type ErrorCode } from '../common/errors.ts';
import { HttpError } from '../transport/index.ts';

/** Codes the client raises itself. */
export type SchedulerClientCode = Extract<ErrorCode, 'DISCONNECTED' | 'CLIENT_STOPPED' | 'FRAMEWORK_ENDED'>;

/**
 * - `DISCONNECTED`: a call while the client has no subscription (it is reconnecting);
 * - `CLIENT_STOPPED`: a call after stop(), or start() cut short by stop();
 * - `FRAMEWORK_ENDED`: the master ended the framework (an ERROR event, or the subscription refused
 *   for good): the client has stopped; `message` is the master's reason.
 */
export class SchedulerClientError extends CorralError {
  declare readonly code: SchedulerClientCode;
  constructor(code: SchedulerClientCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'SchedulerClientError';
  }
}

/**
 * The master answered a call or the subscription with another status than it accepts with
 * (an HttpError: `status`, code `HTTP_<status>` or `UNAUTHENTICATED`); `answer` is its body.
 */
export class SchedulerRefusal extends HttpError {
  /** The master's answer (the response body), trimmed. */
  readonly answer: string;
  constructor(status: number, message: string, answer: string) {
    super(status, message, status === 401 ? { code: 'UNAUTHENTICATED' } : {});
    this.name = 'SchedulerRefusal';
    this.answer = answer;
  }
}
