/**
 * The agents' side of the master (Corral's own protocol, lib/proto/internal.ts): an agent opens
 * a stream with REGISTER or REREGISTER and gets MasterToAgent records on it; everything else it
 * says is a POST to the call endpoint with its id and stream id.
 */
import { CorralError, ValidationError, describeError } from '../../common/errors.ts';
import { parseAdvertiseIp } from '../../common/flags.ts';
import type { Logger } from '../../common/log.ts';
import { AGENT_CALL_PATH, AGENT_ID_HEADER, AGENT_STREAM_HEADER, AGENT_SUBSCRIBE_PATH, type AgentToMaster, type MasterToAgent } from '../../proto/internal.ts';
import { decodeAgentToMaster, encodeMasterToAgent } from '../../proto/internal_codec.ts';
import { MAX_INTERNAL_JSON_DEPTH } from '../../proto/json.ts';
import { stringifyWire } from '../../proto/json_text.ts';
import { HttpError, type HttpServer, type Request } from '../../transport/index.ts';
import { textResponse } from '../../transport/responses.ts';
import { StreamSink } from '../../transport/stream_sink.ts';
import type { Master } from '../master.ts';
import { Leadership } from '../leadership.ts';
import { agentGate, leaderGate } from './leadership.ts';
import { refusalResponse } from './status.ts';

/** The authentication realm of the agents' endpoints (`--authenticate_agents`). */
export const AGENT_REALM = 'corral-master-agent';
/** Agent streams closed because the agent did not read them (--max_stream_backlog). */
export const AGENT_STREAM_OVERFLOWS = 'master/agent_stream_overflows';

/** The peer's IPv4 address without the IPv6-mapped prefix. */
export function peerIp(req: Request): string {
  return req.remoteAddress.startsWith('::ffff:') ? req.remoteAddress.slice(7) : req.remoteAddress;
}

/** The agent's message in the body; one that does not decode is an HttpError (400) naming the field. */
async function decode(req: Request): Promise<AgentToMaster> {
  try {
    return decodeAgentToMaster(await req.readJson(undefined, MAX_INTERNAL_JSON_DEPTH));
  } catch (e) {
    if (e instanceof ValidationError) throw new HttpError(400, e.message, { cause: e });
    throw e;
  }
}

/** Agent registrations handled at once; more wait for a turn. */
export const REGISTRATIONS_AT_ONCE = 16;

/**
 * At most `n` holders at a time; the others wait in order. A turn given up is handed to the next
 * waiter only after the event loop has polled for I/O (setImmediate), so that requests that came
 * meanwhile (a framework's SUBSCRIBE) are read and handled between registrations, not after all
 * of them.
 */
class Turns {
  private readonly waiting: (() => void)[] = [];

  constructor(private free: number) {}

  /** Resolves with the release of a turn once one is free. */
  async take(): Promise<() => void> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) setImmediate(next);
      else this.free += 1;
    };
  }
}

/** The agents' endpoints on `server`; with `leadership`, a master that does not lead sends agents to the leader (307) or answers 503. */
export function agentRoutes(server: HttpServer, master: Master, log: Logger, leadership: Leadership = Leadership.alone(master.id)): void {
  master.metrics.declare(AGENT_STREAM_OVERFLOWS);
  const turns = new Turns(REGISTRATIONS_AT_ONCE);
  server.route({
    path: AGENT_SUBSCRIBE_PATH,
    methods: ['POST'],
    realm: AGENT_REALM,
    handler: async (req) => {
      const gate = await agentGate(req, master, leadership);
      if (gate) return gate;
      if (!master.authorize('register_agents', req.principal, undefined)) {
        return textResponse(
          403,
          `Not authorized: ${req.principal === undefined ? 'an agent without a principal' : `principal '${req.principal}'`} may not register agents`,
        );
      }
      // At most REGISTRATIONS_AT_ONCE at a time: a burst of agents (all of them reach a new leader
      // at once) leaves the master free to answer frameworks and other calls in between.
      const release = await turns.take();
      try {
        const msg = await decode(req);
        if (msg.type !== 'REGISTER' && msg.type !== 'REREGISTER') return textResponse(400, `Expecting REGISTER or REREGISTER, got ${msg.type}`);
        // A re-registration takes over a live agent's record (resources, hostname, stream): only
        // the principal that registered that agent id may make it.
        try {
          if (msg.type === 'REREGISTER') master.checkAgentPrincipal(msg.agentId, req.principal);
        } catch (e) {
          return refusalResponse(e);
        }
        const sink = new StreamSink<MasterToAgent>((m) => stringifyWire(encodeMasterToAgent(m)));
        // Where the agent is reached: the address it advertises (--advertise_ip, behind NAT), else the one it connected from.
        let ip: string;
        try {
          ip = msg.ip === undefined ? peerIp(req) : parseAdvertiseIp(msg.ip);
        } catch (e) {
          return textResponse(400, `ip: ${describeError(e)}`);
        }
        let result;
        try {
          result =
            msg.type === 'REGISTER' ? await master.registerAgent(msg, sink, ip, req.principal) : await master.reregisterAgent(msg, sink, ip, req.principal);
        } catch (e) {
          // The registry could not be written (a full disk, a lost connection), or another master
          // has taken it over: nothing was applied; the agent retries (with the leader).
          if (e instanceof CorralError && (e.code === 'REGISTRY_WRITE_FAILED' || e.code === 'REGISTRY_FENCED')) {
            return textResponse(503, `Failed to update the registry: ${e.message}`);
          }
          throw e;
        }
        const headers: Record<string, string> = { 'Content-Type': 'application/json' };
        if (result) {
          headers[AGENT_STREAM_HEADER] = result.streamId;
          headers[AGENT_ID_HEADER] = result.agentId;
        }
        const stream = req.startStream(200, headers);
        sink.attach(stream);
        if (result) {
          const { agentId } = result;
          stream.onClose(() => {
            if (stream.overflowBytes !== undefined) {
              master.metrics.inc(AGENT_STREAM_OVERFLOWS);
              log.warn({ agentId, bytes: stream.overflowBytes }, `Closing the stream to agent ${agentId}: ${stream.overflowBytes} bytes not read by the agent`);
            }
            master.agentDisconnected(agentId, sink);
          });
          log.debug({ agentId }, 'agent stream open');
        }
      } finally {
        release();
      }
    },
  });
  server.route({
    path: AGENT_CALL_PATH,
    methods: ['POST'],
    realm: AGENT_REALM,
    handler: async (req) => {
      const gate = leaderGate(req, master, leadership);
      if (gate) return gate;
      const agentId = req.header(AGENT_ID_HEADER);
      if (agentId === undefined) return textResponse(400, `Expecting '${AGENT_ID_HEADER}' to be present`);
      const msg = await decode(req);
      try {
        master.checkAgentCall(agentId, req.header(AGENT_STREAM_HEADER));
      } catch (e) {
        return refusalResponse(e);
      }
      master.agentCall(agentId, msg);
      return { status: 202 };
    },
  });
}
