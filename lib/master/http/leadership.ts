/**
 * The answers of a master that is not the one to handle a request now (Mesos's rules): a
 * follower redirects (307) to the leader, with a protocol-relative `Location` as Mesos writes it
 * (`//host:port/path`), or answers 503 when no leader is known; a leader answers 503 while it
 * recovers its registry, and once it may no longer act as the leader.
 */
import type { HttpResponse, Request } from '../../transport/index.ts';
import type { LeaderAddress } from '../../transport/index.ts';
import { textResponse } from '../../transport/responses.ts';
import { type Leadership, leaderHostPort } from '../leadership.ts';
import type { Master } from '../master.ts';

export const NO_LEADER = 'No leader elected';

/** 307 to `path` (and the request's query, when `withQuery`) on the leader. */
export function redirectToLeader(leader: LeaderAddress, path: string, query?: URLSearchParams): HttpResponse {
  const { host, port } = leaderHostPort(leader);
  const q = query === undefined || [...query.keys()].length === 0 ? '' : `?${query.toString()}`;
  return { status: 307, headers: { Location: `//${host}:${port}${path}${q}` } };
}

/**
 * Undefined when this master is to handle `req` itself (it leads, may act, has recovered);
 * else its answer: 307 to the same path on the leader, 503 with no leader known, 503 while
 * recovering, 503 once its leadership is in doubt.
 */
export function leaderGate(req: Request, master: Master, leadership: Leadership, o: { readonly withQuery?: boolean } = {}): HttpResponse | undefined {
  if (leadership.leading) {
    if (!master.mayAct()) return textResponse(503, 'This master is no longer the leader');
    if (!master.isRecovered) return textResponse(503, 'Master has not finished recovery');
    return undefined;
  }
  const leader = leadership.leader();
  if (leader === undefined) return textResponse(503, NO_LEADER);
  return redirectToLeader(leader, req.path, o.withQuery ? req.query : undefined);
}

/** How long an agent's registration waits for a leader that is recovering its registry before it is answered 503. */
export const RECOVERY_WAIT_MS = 10_000;

/**
 * leaderGate for the agents' registrations: a leader that is recovering its registry (or about to
 * lead: agents may learn of the election before the master itself does) holds them, up to
 * RECOVERY_WAIT_MS, rather than answering 503, so that an agent that found a new leader at once
 * registers as soon as it can serve, not after a back-off (docs/architecture.md §1).
 */
export async function agentGate(req: Request, master: Master, leadership: Leadership): Promise<HttpResponse | undefined> {
  if ((leadership.leading || leadership.aboutToLead) && !master.isRecovered) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([master.whenRecovered, new Promise<void>((resolve) => (timer = setTimeout(resolve, RECOVERY_WAIT_MS)))]);
    clearTimeout(timer);
  }
  return leaderGate(req, master, leadership);
}
