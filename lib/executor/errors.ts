/** The executor client's own errors (a broken connection is a TransportError). */
import { CorralError, type ErrorCode } from '../common/errors.ts';
import { HttpError } from '../transport/index.ts';

/** Codes the client raises itself. */
export type ExecutorClientCode = Extract<ErrorCode, 'DISCONNECTED' | 'CLIENT_STOPPED' | 'FRAMEWORK_ENDED'>;

/**
 * - `DISCONNECTED`: the agent cannot be reached to subscribe;
 * - `CLIENT_STOPPED`: a call after stop();
 * - `FRAMEWORK_ENDED`: the executor should end (an ERROR event, the agent gone without checkpointing or past the recovery timeout).
 */
export class ExecutorClientError extends CorralError {
  declare readonly code: ExecutorClientCode;
  constructor(code: ExecutorClientCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'ExecutorClientError';
  }
}

/** The agent answered a call or the subscription with another status than it accepts with; `answer` is its body. */
export class ExecutorRefusal extends HttpError {
  readonly answer: string;
  constructor(status: number, message: string, answer: string) {
    super(status, message, status === 401 ? { code: 'UNAUTHENTICATED' } : {});
    this.name = 'ExecutorRefusal';
    this.answer = answer;
  }
}
