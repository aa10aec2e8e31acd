/**
 * `POST /api/v1/scheduler` (and `/master/api/v1/scheduler`): the v1 scheduler HTTP API, with
 * the status codes in the order Mesos checks them.
 */
import type { Logger } from '../../common/log.ts';
import { stringifyWire } from '../../proto/json_text.ts';
import type { SchedulerEvent } from '../../proto/messages.ts';
import { decodeSchedulerCall, encodeSchedulerEvent } from '../../proto/scheduler.ts';
import type { HttpResponse, HttpServer, Request } from '../../transport/index.ts';
import { callRejection, textResponse } from '../../transport/responses.ts';
import { StreamSink } from '../../transport/stream_sink.ts';
import { acceptsJson } from '../../transport/operator_call.ts';

export { acceptsJson };
import { MasterRefusal } from '../errors.ts';
import type { Master } from '../master.ts';
import { Leadership } from '../leadership.ts';
import type { FrameworkRateLimiter } from '../rate_limits.ts';
import { leaderGate } from './leadership.ts';
import { refusalResponse } from './status.ts';

export const STREAM_ID_HEADER = 'Mesos-Stream-Id';
/** The authentication realm of the scheduler API (`--authenticate_frameworks`). */
export const SCHEDULER_REALM = 'mesos-master-scheduler';
const JSON_TYPE = 'application/json';
/** Subscription streams closed because the scheduler did not read them (--max_stream_backlog). */
export const EVENT_STREAM_OVERFLOWS = 'master/event_stream_overflows';

/** With authentication, the framework's principal must be the authenticated one (else a MasterRefusal, INVALID: 400). */
function checkPrincipal(authenticated: string | undefined, framework: string | undefined): void {
  if (authenticated === undefined || authenticated === framework) return;
  throw new MasterRefusal(
    'INVALID',
    `The authenticated principal '${authenticated}' is not the principal '${framework ?? ''}' of the framework (FrameworkInfo.principal)`,
  );
}

/**
 * The scheduler API on `server`. With `leadership` (a master among several), a master that is
 * not leading redirects to the leader (307) or answers 503 when none is known.
 */
export function schedulerRoutes(
  server: HttpServer,
  master: Master,
  log: Logger,
  maxBodyBytes: number,
  leadership: Leadership = Leadership.alone(master.id),
  rateLimits?: FrameworkRateLimiter,
): void {
  const limits = rateLimits && rateLimited(rateLimits, master, log);
  const handler = (req: Request) => handleScheduler(req, master, log, maxBodyBytes, leadership, limits);
  master.metrics.declare(EVENT_STREAM_OVERFLOWS);
  server.route({ path: '/api/v1/scheduler', methods: ['POST'], handler, realm: SCHEDULER_REALM });
  server.route({ path: '/master/api/v1/scheduler', methods: ['POST'], handler, realm: SCHEDULER_REALM });
}

/** What --rate_limits does to a call: wait for its turn, or a 429 response; and Mesos's per-principal counters. */
interface RateLimiting {
  /** undefined: go on (maybe after waiting); else the answer. */
  turn(principal: string | undefined, call: string): Promise<HttpResponse | undefined> | undefined;
  processed(principal: string | undefined): void;
}

function rateLimited(limiter: FrameworkRateLimiter, master: Master, log: Logger): RateLimiting {
  // A client looping on its refusals would write a line per call: one WARN per 10 s at most.
  let refused = 0;
  let lastWarn = -Infinity;
  return {
    turn(principal, call) {
      if (limiter.lists(principal)) master.metrics.inc(`frameworks/${principal}/messages_received`);
      let wait;
      try {
        wait = limiter.admit(principal, call);
      } catch (e) {
        refused++;
        const now = master.clock.now();
        if (now - lastWarn >= 10_000) {
          log.warn(
            { principal, refused },
            `Dropping framework calls over their rate limit capacity (--rate_limits): ${(e as Error).message}; ${refused} dropped so far`,
          );
          lastWarn = now;
        }
        return Promise.resolve(refusalResponse(e));
      }
      return wait?.then(() => undefined);
    },
    processed(principal) {
      if (limiter.lists(principal)) master.metrics.inc(`frameworks/${principal}/messages_processed`);
    },
  };
}

async function handleScheduler(
  req: Request,
  master: Master,
  log: Logger,
  maxBodyBytes: number,
  leadership: Leadership,
  limits: RateLimiting | undefined,
): Promise<HttpResponse | void> {
  // Mesos's order: a master that does not lead redirects before it looks at the request.
  const gate = leaderGate(req, master, leadership);
  if (gate) return gate;
  const contentType = req.header('content-type');
  if (contentType === undefined) return textResponse(400, "Expecting 'Content-Type' to be present");
  if (contentType !== JSON_TYPE) {
    return textResponse(
      415,
      contentType === 'application/x-protobuf'
        ? 'Protobuf requests are not supported by this master; use application/json'
        : `Expecting 'Content-Type' of ${JSON_TYPE} or application/x-protobuf`,
    );
  }
  const body = await req.readJson(maxBodyBytes);
  let call;
  try {
    call = decodeSchedulerCall(body);
  } catch (e) {
    return callRejection(e, 'scheduler::Call');
  }
  if (call.type === 'UNSUPPORTED') return textResponse(501, `Received an unsupported call type: ${call.name}`);
  // --rate_limits: the call waits for its principal's turn (the framework's, or the one it subscribes with).
  const principal =
    call.type === 'SUBSCRIBE' ? (call.subscribe.frameworkInfo.principal ?? req.principal) : master.view.frameworks.get(call.frameworkId ?? '')?.info.principal;
  const turn = limits?.turn(principal, call.type);
  if (turn) {
    const refused = await turn;
    if (refused) return refused;
    // The lead may have gone while it waited.
    const gone = leaderGate(req, master, leadership);
    if (gone) return gone;
  }
  limits?.processed(principal);

  if (call.type === 'SUBSCRIBE') {
    if (req.header('mesos-stream-id') !== undefined) return textResponse(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
    if (!acceptsJson(req.header('accept'))) return textResponse(406, `Expecting 'Accept' to allow '${JSON_TYPE}'`);
    try {
      checkPrincipal(req.principal, call.subscribe.frameworkInfo.principal);
    } catch (e) {
      return refusalResponse(e);
    }
    const sink = new StreamSink<SchedulerEvent>((e) => stringifyWire(encodeSchedulerEvent(e)));
    const result = master.subscribe(call, sink);
    const headers: Record<string, string> = { 'Content-Type': JSON_TYPE };
    if (result) headers[STREAM_ID_HEADER] = result.streamId;
    const stream = req.startStream(200, headers);
    sink.attach(stream);
    if (result) {
      const { frameworkId } = result;
      stream.onClose(() => {
        if (stream.overflowBytes !== undefined) {
          // The subscriber stopped reading: the server dropped its connection. It is then
          // disconnected as when the connection drops, and may subscribe again.
          master.metrics.inc(EVENT_STREAM_OVERFLOWS);
          log.warn(
            { frameworkId, bytes: stream.overflowBytes },
            `Closing the event stream of framework ${frameworkId}: ${stream.overflowBytes} bytes not read by the subscriber`,
          );
        }
        master.disconnected(frameworkId, sink);
      });
      log.debug({ frameworkId }, 'subscription stream open');
    }
    return;
  }

  try {
    master.checkCall(call.frameworkId ?? '', req.header('mesos-stream-id'));
    checkPrincipal(req.principal, master.view.frameworks.get(call.frameworkId ?? '')?.info.principal);
  } catch (e) {
    return refusalResponse(e);
  }
  master.handle(call);
  return { status: 202 };
}
