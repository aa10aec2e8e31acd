/**
 * `GET /agent/<agent id>/<path>` on the leading master: the web UI's reads of an agent, passed
 * on to the agent and its answer passed back as it comes (status, type, body; a download of
 * any size is streamed, never held whole). Only what the UI reads is passed: `state`,
 * `monitor/statistics`, `files/browse`, `files/read` and `files/download` (and their `.json`
 * names), with the query as given.
 *
 * Why: the page is served by the master; an agent is another origin. Mesos's UI reads agents
 * by JSONP, which cannot send credentials, so agents that require HTTP authentication cannot
 * be shown. Through the master the page makes same-origin requests, the operator's own
 * `Authorization` header is passed on, and the agent authenticates (and, as ever, decides)
 * the same principal: agents that share the master's credentials are shown as they are. A 401
 * of the agent comes back with its challenge. The master's ACLs do not filter what passes: it
 * is what the agent itself would answer that principal.
 *
 * The route is in the read-only realm (authenticated like the rest of the UI); a master that
 * does not lead redirects to the leader, which knows the agents. An agent that is not
 * registered is 404; one that cannot be reached is 502.
 */
import { describeError } from '../../common/errors.ts';
import type { HttpClient, HttpServer, Request, ResponseHeaders } from '../../transport/index.ts';
import { textResponse } from '../../transport/responses.ts';
import type { Leadership } from '../leadership.ts';
import type { Master } from '../master.ts';
import { leaderGate } from './leadership.ts';
import { READONLY_REALM } from './operator.ts';

const PASSED = ['state', 'monitor/statistics', 'files/browse', 'files/read', 'files/download'];
const PATHS = new Set(PASSED.flatMap((p) => [p, `${p}.json`]));
/** The agent's answer headers passed back. */
const HEADERS = ['content-type', 'content-disposition', 'www-authenticate', 'last-modified'];

export function agentProxyRoutes(server: HttpServer, master: Master, leadership: Leadership, client: HttpClient): void {
  server.route({
    prefix: '/agent/',
    methods: ['GET'],
    realm: READONLY_REALM,
    handler: async (req: Request) => {
      const gate = leaderGate(req, master, leadership, { withQuery: true });
      if (gate) return gate;
      const rest = req.path.slice('/agent/'.length);
      const slash = rest.indexOf('/');
      const path = slash < 0 ? '' : rest.slice(slash + 1);
      if (!PATHS.has(path))
        return textResponse(404, `The master passes on only these reads of an agent: ${PASSED.map((p) => `/agent/<agent id>/${p}`).join(', ')}`);
      let id: string;
      try {
        id = decodeURIComponent(rest.slice(0, slash));
      } catch {
        return textResponse(400, `Bad agent id in the path: '${rest.slice(0, slash)}' is not percent-encoded properly`);
      }
      const agent = master.view.agents.get(id);
      if (agent === undefined) return textResponse(404, `No agent '${id}' is registered with this master`);
      const address = agent.pid.slice(agent.pid.lastIndexOf('@') + 1);
      const query = req.query.toString();
      const headers: Record<string, string> = {};
      const authorization = req.header('authorization');
      if (authorization !== undefined) headers.Authorization = authorization;
      let answer;
      try {
        answer = await client.openRaw({ url: `${client.scheme}://${address}/${path}${query ? `?${query}` : ''}`, method: 'GET', headers, timeoutMs: 15_000 });
      } catch (e) {
        return textResponse(502, `The agent ${id} at ${address} could not be reached: ${describeError(e)}`);
      }
      const out: ResponseHeaders = { 'Cache-Control': 'no-store' };
      for (const h of HEADERS) {
        const v = answer.headers[h];
        if (v !== undefined) out[h] = v;
      }
      const stream = req.startStream(answer.status, out);
      stream.onClose(() => answer.close());
      void (async () => {
        try {
          for await (const chunk of answer.body) {
            if (stream.closed) break;
            if (!stream.write(chunk)) await stream.drained();
          }
        } catch {
          // the agent went away mid-answer: end what was sent
        } finally {
          stream.end();
          answer.close();
        }
      })();
      return stream;
    },
  });
}
