/**
 * The agent's connection to its master: it opens the registration stream (REGISTER, or
 * REREGISTER once the agent has an id), feeds the master's messages to the agent one at a time
 * in order, sends the agent's calls with its stream id, and reconnects after a break with a
 * randomised, doubling back-off (first wait up to `--registration_backoff_factor`, at most 1 min).
 */
import type { Clock, TimerHandle } from '../common/clock.ts';
import { describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { AGENT_STREAM_HEADER, type AgentToMaster } from '../proto/internal.ts';
import { decodeMasterToAgent, encodeAgentToMaster } from '../proto/internal_codec.ts';
import { type Credential, type HttpClient, basicAuthorization } from '../transport/index.ts';
import type { Agent } from './agent.ts';

export const AGENT_ID_HEADER = 'corral-agent-id';
const SUBSCRIBE_PATH = '/internal/agent/subscribe';
const CALL_PATH = '/internal/agent/call';
const MAX_BACKOFF_MS = 60_000;

export interface MasterLinkOptions {
  /** `host:port` of the master. */
  readonly master: string;
  /** 'https' when the agent runs with TLS (the HttpClient's scheme). */
  readonly scheme?: 'http' | 'https';
  readonly backoffFactorMs: number;
  readonly random?: () => number;
  /** `--credential`: sent as HTTP Basic on every request (a master with --authenticate_agents needs it). */
  readonly credential?: Credential;
}

export class MasterLink {
  private stopped = false;
  private timer: TimerHandle | undefined;
  private closeStream: (() => void) | undefined;
  private backoffMs: number;
  private calls: Promise<void> = Promise.resolve();
  /** Resolves the first time the agent is registered (for callers that wait for it). */
  readonly registered: Promise<void>;
  private markRegistered!: () => void;

  constructor(
    private readonly agent: Agent,
    private readonly client: HttpClient,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: MasterLinkOptions,
  ) {
    this.backoffMs = opts.backoffFactorMs;
    this.registered = new Promise((r) => (this.markRegistered = r));
    this.auth = opts.credential === undefined ? {} : { Authorization: basicAuthorization(opts.credential) };
  }

  private readonly auth: Record<string, string>;

  private url(path: string): string {
    return `${this.opts.scheme ?? 'http'}://${this.opts.master}${path}`;
  }

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.closeStream?.();
  }

  private retry(why: string): void {
    if (this.stopped) return;
    const wait = Math.round((this.opts.random ?? Math.random)() * this.backoffMs);
    this.log.warn({ why, retryInMs: wait }, 'no connection to the master; retrying');
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.timer = this.clock.setTimer(wait, () => void this.connect());
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const hello = this.agent.registrationMessage();
    let stream;
    try {
      stream = await this.client.openStream({ url: this.url(SUBSCRIBE_PATH), headers: { 'Content-Type': 'application/json', ...this.auth }, body: encodeAgentToMaster(hello) as object, timeoutMs: 30_000 });
    } catch (e) {
      this.retry(describeError(e));
      return;
    }
    if (stream.status !== 200) {
      const hint = stream.status === 401 ? (this.opts.credential === undefined ? ' (the master wants credentials: give the agent --credential)' : ' (check --credential)') : '';
      this.retry(`master answered ${stream.status}: ${stream.text}${hint}`);
      return;
    }
    const streamId = String(stream.headers[AGENT_STREAM_HEADER] ?? '');
    const agentId = String(stream.headers[AGENT_ID_HEADER] ?? '');
    this.closeStream = () => stream.close();
    let linked = false;
    try {
      for await (const record of stream.records) {
        const msg = decodeMasterToAgent(JSON.parse(record.toString('utf8')));
        if (!linked && (msg.type === 'REGISTERED' || msg.type === 'REREGISTERED')) {
          linked = true;
          this.backoffMs = this.opts.backoffFactorMs;
          this.agent.connected((call) => this.send(agentId || msg.agentId, streamId, call));
        }
        await this.agent.onMasterMessage(msg);
        if (msg.type === 'REGISTERED' || msg.type === 'REREGISTERED') this.markRegistered();
        if (msg.type === 'SHUTDOWN') break;
      }
      this.closeStream = undefined;
      if (linked) this.agent.disconnected();
      this.retry('the master closed the stream');
    } catch (e) {
      this.closeStream = undefined;
      if (linked) this.agent.disconnected();
      this.retry(describeError(e));
    }
  }

  /** Calls go out in order; a failed one is logged (status updates are retried by the agent). */
  private send(agentId: string, streamId: string, call: AgentToMaster): void {
    const body = encodeAgentToMaster(call) as object;
    this.calls = this.calls.then(async () => {
      try {
        const r = await this.client.request({
          url: this.url(CALL_PATH),
          method: 'POST',
          headers: { 'Content-Type': 'application/json', [AGENT_ID_HEADER]: agentId, [AGENT_STREAM_HEADER]: streamId, ...this.auth },
          body,
          timeoutMs: 10_000,
        });
        if (r.status !== 202) this.log.warn({ status: r.status, body: r.text(), call: call.type }, 'the master refused a call');
      } catch (e) {
        this.log.warn({ err: describeError(e), call: call.type }, 'a call to the master failed');
      }
    });
  }
}
