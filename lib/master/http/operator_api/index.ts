/**
 * `POST /api/v1` (and `/master/api/v1`): the v1 operator API of the master, JSON only, with the
 * status codes in the order Mesos checks them: not the leader (307/503), no or another
 * Content-Type (400/415), a body that does not convert or validate (400, naming the field), an
 * Accept without JSON (406), a call Corral does not implement or UNKNOWN (501), then the call's
 * own answer (403 for the ACLs, 400/404/409 for its arguments; 200, or 202 for the
 * reservation and volume calls).
 *
 * The answers reuse the master's logic: its read-only view (encode.ts writes the v1 shapes),
 * the /metrics/snapshot figures and flags of operator.ts, and the master's public methods for
 * every change. SUBSCRIBE is subscribe.ts.
 */
import type { LogLevelControl } from '../../../common/log_level.ts';
import type { Logger } from '../../../common/log.ts';
import { encodeMasterInfo } from '../../../proto/common_messages.ts';
import type { JsonObject } from '../../../proto/json.ts';
import { double } from '../../../proto/json_text.ts';
import { type MasterOperatorCall, decodeMasterCall } from '../../../proto/operator.ts';
import type { HttpResponse, HttpServer, Request } from '../../../transport/index.ts';
import { textResponse } from '../../../transport/responses.ts';
import { operatorAnswer as answer, forbiddenCall as forbidden, readOperatorCall } from '../../../transport/operator_call.ts';
import { Leadership } from '../../leadership.ts';
import type { ResourceOperationType } from '../../validation.ts';
import { leaderGate } from '../leadership.ts';
import { type OperatorContext, READWRITE_REALM, metricsJson } from '../operator.ts';
import { refusalResponse } from '../status.ts';
import { type Viewer, getAgents, getExecutors, getFrameworks, getRoles, getState, getTasks, getWeights, viewerOf } from './encode.ts';
import { OperatorEventStream } from './subscribe.ts';

export interface OperatorApiContext extends OperatorContext {
  readonly log: Logger;
  readonly logLevel: LogLevelControl;
  readonly maxBodyBytes: number;
  /** `--max_operator_event_stream_subscribers` (default 1000): an extra subscriber evicts the oldest. */
  readonly maxSubscribers?: number;
}

const OPERATIONS: Readonly<Record<string, ResourceOperationType>> = {
  RESERVE_RESOURCES: 'RESERVE',
  UNRESERVE_RESOURCES: 'UNRESERVE',
  CREATE_VOLUMES: 'CREATE',
  DESTROY_VOLUMES: 'DESTROY',
};

export function operatorApiRoutes(server: HttpServer, ctx: OperatorApiContext): OperatorEventStream {
  const m = ctx.master;
  const leadership = ctx.leadership ?? Leadership.alone(m.id);
  const events = new OperatorEventStream(m, ctx.log, ctx.maxSubscribers ?? 1000);
  const handler = async (req: Request): Promise<HttpResponse | void> => {
    const gate = leaderGate(req, m, leadership, { withQuery: true });
    // As Mesos, a follower sends `/api/v1` to the leader's `/master/api/v1`.
    if (gate?.status === 307 && req.path === '/api/v1')
      return { status: 307, headers: { Location: String(gate.headers!.Location).replace(/^(\/\/[^/]+)\/api\/v1/, '$1/master/api/v1') } };
    if (gate) return gate;
    const call = await readOperatorCall(req, decodeMasterCall, 'master::Call', ctx.maxBodyBytes);
    if ('status' in call) return call;
    const viewer = viewerOf(req.principal, (a, s, o) => m.permits(a, s, o));
    if (call.type === 'SUBSCRIBE') {
      events.subscribe(req, viewer);
      return;
    }
    return handle(call, req, viewer);
  };
  for (const path of ['/api/v1', '/master/api/v1']) server.route({ path, methods: ['POST'], handler, realm: READWRITE_REALM });

  const handle = async (call: Exclude<MasterOperatorCall, { type: 'SUBSCRIBE' }>, req: Request, viewer: Viewer): Promise<HttpResponse> => {
    const v = m.view;
    const principal = req.principal;
    switch (call.type) {
      case 'GET_HEALTH':
        return answer('GET_HEALTH', { healthy: true });
      case 'GET_FLAGS':
        if (!m.authorize('view_flags', principal, undefined)) return forbidden(principal, 'view the flags');
        return answer('GET_FLAGS', {
          flags: Object.entries(ctx.flags)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([name, value]) => ({ name, value })),
        });
      case 'GET_VERSION':
        return answer('GET_VERSION', { version_info: versionInfo(ctx.buildInfo) });
      case 'GET_METRICS':
        return answer('GET_METRICS', {
          metrics: Object.entries(metricsJson(ctx))
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([name, value]) => ({ name, value: double(value) })),
        });
      case 'GET_LOGGING_LEVEL':
        return answer('GET_LOGGING_LEVEL', { level: ctx.logLevel.level() });
      case 'SET_LOGGING_LEVEL': {
        if (!m.authorize('set_log_level', principal, undefined)) return forbidden(principal, 'set the logging level');
        const { level, durationNs } = call.setLoggingLevel;
        ctx.logLevel.set(level, durationNs / 1e6);
        return { status: 200 };
      }
      case 'LIST_FILES':
      case 'READ_FILE': {
        // The master attaches only /master/log, and only when it logs to a file: Corral's master
        // logs to stderr (its supervisor keeps the log), so there is no file to serve.
        const path = call.type === 'LIST_FILES' ? call.listFiles.path : call.readFile.path;
        if (path.replace(/\/+$/, '') === '/master/log' && !m.authorize('access_mesos_logs', principal, undefined))
          return forbidden(principal, 'read the master log');
        return textResponse(404, `No such file or directory: '${path}' (the master serves no files: it logs to stderr)`);
      }
      case 'GET_STATE':
        return answer('GET_STATE', getState(v, viewer));
      case 'GET_AGENTS':
        return answer('GET_AGENTS', getAgents(v, viewer));
      case 'GET_FRAMEWORKS':
        return answer('GET_FRAMEWORKS', getFrameworks(v, viewer));
      case 'GET_EXECUTORS':
        return answer('GET_EXECUTORS', getExecutors(v, viewer));
      case 'GET_TASKS':
        return answer('GET_TASKS', getTasks(v, viewer));
      case 'GET_ROLES':
        return answer('GET_ROLES', getRoles(v, viewer, m.options.roles));
      case 'GET_WEIGHTS':
        return answer('GET_WEIGHTS', getWeights(v, viewer));
      case 'UPDATE_WEIGHTS':
        try {
          await m.updateWeights(call.updateWeights.weightInfos, principal);
        } catch (e) {
          return refusalResponse(e);
        }
        return { status: 200 };
      case 'GET_MASTER':
        return answer('GET_MASTER', {
          master_info: encodeMasterInfo(v.info),
          start_time: double(v.startTime / 1000),
          ...(v.electedTime === undefined ? {} : { elected_time: double(v.electedTime / 1000) }),
        });
      case 'RESERVE_RESOURCES':
      case 'UNRESERVE_RESOURCES':
      case 'CREATE_VOLUMES':
      case 'DESTROY_VOLUMES':
        try {
          m.operatorOperation(call.agentId, OPERATIONS[call.type]!, call.resources, principal);
        } catch (e) {
          return refusalResponse(e);
        }
        return { status: 202 };
      case 'TEARDOWN':
        try {
          m.teardown(call.frameworkId, principal);
        } catch (e) {
          return refusalResponse(e);
        }
        return { status: 200 };
      case 'MARK_AGENT_GONE': {
        let known: boolean;
        try {
          known = await m.markAgentGone(call.agentId, principal);
        } catch (e) {
          return refusalResponse(e);
        }
        return known ? { status: 200 } : textResponse(404, `Agent '${call.agentId}' not found`);
      }
      case 'UNSUPPORTED':
        return textResponse(501, `Received an unsupported call type: ${call.name}`);
    }
  };
  return events;
}

/** `VersionInfo`. */
export function versionInfo(b: { version: string; gitSha?: string; buildDate?: string }): JsonObject {
  return { version: b.version, ...(b.buildDate ? { build_date: b.buildDate } : {}), ...(b.gitSha ? { git_sha: b.gitSha } : {}) };
}
