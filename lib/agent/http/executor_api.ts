/**
 * The v1 executor API's HTTP side (`/api/v1/executor`): authentication of the executor's token,
 * the body's decoding, the statuses of refused calls, and the SUBSCRIBE event stream. What a
 * call does is the agent's (executor_api.ts).
 */
import { decodeExecutorCall, encodeExecutorEvent } from '../../proto/executor.ts';
import { stringifyWire } from '../../proto/json_text.ts';
import type { ExecutorEvent } from '../../proto/messages.ts';
import { AuthenticationError } from '../../transport/errors.ts';
import type { HttpResponse, HttpServer, Request } from '../../transport/index.ts';
import type { JwtClaims } from '../../transport/jwt.ts';
import { callRejection, textResponse } from '../../transport/responses.ts';
import { StreamSink } from '../../transport/stream_sink.ts';
import type { Logger } from '../../common/log.ts';
import type { Agent } from '../agent.ts';
import { ExecutorRefusal } from '../errors.ts';
import type { ExecutorTokens } from '../executor_auth.ts';
import { executorRefusalResponse } from './status.ts';

/** `WWW-Authenticate: Bearer realm=…` of the executor API (--authenticate_http_executors). */
export const EXECUTOR_REALM = 'mesos-agent-executor';
/** Executor streams closed because the executor did not read them (--max_stream_backlog). */
export const EXECUTOR_STREAM_OVERFLOWS = 'slave/executor_stream_overflows';
const JSON_TYPE = 'application/json';

/** What the executor API's handler uses of the agent's HTTP context (routes.ts AgentHttpContext). */
export interface ExecutorApiContext {
  readonly agent: Agent;
  readonly log: Logger;
  /** Executor tokens (--authenticate_http_executors): checked on the executor API when required. */
  readonly executorTokens?: ExecutorTokens;
}

// The v1 executor API: in no Basic realm. With --authenticate_http_executors each
// call carries the executor's token (Bearer): without a valid one 401, before anything is
// read; a token of another framework or executor 403, before the call's ids are looked up,
// so a forger learns nothing of them.
export function executorApiRoutes(server: HttpServer, ctx: ExecutorApiContext, maxBodyBytes: number): void {
  const { agent } = ctx;
  const tokens = ctx.executorTokens?.required ? ctx.executorTokens : undefined;
  const executorApi = async (req: Request): Promise<HttpResponse | void> => {
    let claims: JwtClaims | undefined;
    if (tokens) {
      try {
        claims = tokens.authenticate(req.header('authorization'));
      } catch (e) {
        if (!(e instanceof AuthenticationError)) throw e;
        ctx.log.debug({ remote: req.remoteAddress, why: e.message }, 'executor call not authenticated');
        return {
          status: 401,
          headers: { 'Content-Type': 'text/plain; charset=utf-8', 'WWW-Authenticate': `Bearer realm="${EXECUTOR_REALM}"` },
          body: `Unauthorized: ${e.message}`,
        };
      }
    }
    const contentType = req.header('content-type');
    if (contentType === undefined) return textResponse(400, "Expecting 'Content-Type' to be present");
    if (contentType !== JSON_TYPE) return textResponse(415, `Expecting 'Content-Type' of ${JSON_TYPE}`);
    let call;
    try {
      call = decodeExecutorCall(await req.readJson(maxBodyBytes));
    } catch (e) {
      return callRejection(e, 'executor::Call');
    }
    if (tokens && claims) {
      try {
        tokens.authorize(claims, call.frameworkId, call.executorId, agent.frameworks.get(call.frameworkId)?.executors.get(call.executorId)?.containerId);
      } catch (e) {
        if (!(e instanceof ExecutorRefusal)) throw e;
        ctx.log.warn(
          {
            remote: req.remoteAddress,
            call: call.type,
            frameworkId: call.frameworkId,
            executorId: call.executorId,
            tokenFrameworkId: claims.fid,
            tokenExecutorId: claims.eid,
          },
          'executor call refused: its token is for another executor',
        );
        return executorRefusalResponse(e);
      }
    }
    if (call.type === 'HEARTBEAT') return { status: 202 };
    try {
      agent.checkExecutorCall(call);
    } catch (e) {
      return executorRefusalResponse(e);
    }
    if (call.type === 'SUBSCRIBE') {
      const accept = req.header('accept');
      if (accept !== undefined && accept !== '' && !/application\/json|\*\/\*|application\/\*/.test(accept))
        return textResponse(406, `Expecting 'Accept' to allow '${JSON_TYPE}'`);
      const sink = new StreamSink<ExecutorEvent>((e) => stringifyWire(encodeExecutorEvent(e)));
      const stream = req.startStream(200, { 'Content-Type': JSON_TYPE });
      sink.attach(stream);
      stream.onClose(() => {
        if (stream.overflowBytes !== undefined) {
          agent.metrics.inc(EXECUTOR_STREAM_OVERFLOWS);
          ctx.log.warn(
            { frameworkId: call.frameworkId, executorId: call.executorId, bytes: stream.overflowBytes },
            `Closing the event stream of executor ${call.executorId} of framework ${call.frameworkId}: ${stream.overflowBytes} bytes not read by the executor`,
          );
        }
        agent.executorDisconnected(call.frameworkId, call.executorId, sink);
      });
      await agent.executorSubscribe(call, sink);
      return;
    }
    try {
      await agent.executorCall(call);
    } catch (e) {
      return executorRefusalResponse(e);
    }
    return { status: 202 };
  };
  for (const p of ['/api/v1/executor', '/slave(1)/api/v1/executor']) server.route({ path: p, methods: ['POST'], handler: executorApi });
}
