/**
 * The agents' side of the master (Corral's own protocol, lib/proto/internal.ts): an agent opens
 * a stream with REGISTER or REREGISTER and gets MasterToAgent records on it; everything else it
 * says is a POST to the call endpoint with its id and stream id.
 */
import { CorralError, ValidationError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { AGENT_CALL_PATH, AGENT_ID_HEADER, AGENT_STREAM_HEADER, AGENT_SUBSCRIBE_PATH, type AgentToMaster, type MasterToAgent } from '../../proto/internal.ts';
import { decodeAgentToMaster, encodeMasterToAgent } from '../../proto/internal_codec.ts';
import { MAX_INTERNAL_JSON_DEPTH } from '../../proto/json.ts';
import { stringifyWire } from '../../proto/json_text.ts';
import { HttpError, type HttpServer, type Request } from '../../transport/index.ts';
import { textResponse } from '../../transport/responses.ts';
import { StreamSink } from '../../transport/stream_sink.ts';
import type { Master } from '../master.ts';
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

export function agentRoutes(server: HttpServer, master: Master, log: Logger): void {
  master.metrics.declare(AGENT_STREAM_OVERFLOWS);
  server.route({
    path: AGENT_SUBSCRIBE_PATH,
    methods: ['POST'],
    realm: AGENT_REALM,
    handler: async (req) => {
      if (!master.isRecovered) return textResponse(503, 'Master has not finished recovery');
      if (!master.authorize('register_agents', req.principal, undefined)) {
        return textResponse(
          403,
          `Not authorized: ${req.principal === undefined ? 'an agent without a principal' : `principal '${req.principal}'`} may not register agents`,
        );
      }
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
      const ip = peerIp(req);
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
    },
  });
  server.route({
    path: AGENT_CALL_PATH,
    methods: ['POST'],
    realm: AGENT_REALM,
    handler: async (req) => {
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
