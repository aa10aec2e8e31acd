/**
 * The HTTP status for each reason the agent refuses a request (the agent's counterpart of
 * lib/master/http/status.ts). The agent's parts throw typed errors; the http/ handlers catch
 * them and answer here.
 */
import { isCorralError } from '../../common/errors.ts';
import type { HttpResponse } from '../../transport/index.ts';
import { textResponse } from '../../transport/responses.ts';
import { SANDBOX_PATH_MISSING, SANDBOX_PATH_NOT_DIRECTORY, SANDBOX_PATH_OUTSIDE } from '../containerizer/sandbox_files.ts';
import { ExecutorRefusal, type ExecutorRefusalCode } from '../errors.ts';

/** An unknown framework or executor, or a malformed call, is a 400; a call before SUBSCRIBE, or with another executor's token, a 403. */
const EXECUTOR_STATUS: Record<ExecutorRefusalCode, 400 | 403> = {
  FRAMEWORK_NOT_FOUND: 400,
  EXECUTOR_NOT_FOUND: 400,
  INVALID: 400,
  EXECUTOR_NOT_SUBSCRIBED: 403,
  FORBIDDEN: 403,
};

export function executorRefusalStatus(e: ExecutorRefusal): 400 | 403 {
  return EXECUTOR_STATUS[e.code];
}

/** The answer to an ExecutorRefusal: its status and its message as plain text. Anything else is thrown again. */
export function executorRefusalResponse(e: unknown): HttpResponse {
  if (e instanceof ExecutorRefusal) return textResponse(executorRefusalStatus(e), e.message);
  throw e;
}

/** The answer for a path that could not be opened in its sandbox; anything else is thrown again. */
export function sandboxRefusalResponse(e: unknown): HttpResponse {
  if (isCorralError(e) && e.code === SANDBOX_PATH_MISSING) return textResponse(404, 'No such file or directory');
  if (isCorralError(e) && e.code === SANDBOX_PATH_OUTSIDE) return textResponse(403, 'Path leaves the sandbox');
  if (isCorralError(e) && e.code === SANDBOX_PATH_NOT_DIRECTORY) return textResponse(400, 'Path is not a directory');
  throw e;
}
