/**
 * The agent's connection to the leading master: it learns the leader from a MasterDetector (a
 * fixed `host:port`, or the masters' ZooKeeper group), opens the registration stream there
 * (REGISTER, or REREGISTER once the agent has an id), hands the master's messages to the agent
 * as they come (the agent keeps the order they need), sends the agent's calls with its stream
 * id, and reconnects after a break with a randomised, doubling back-off (first wait up to
 * `--registration_backoff_factor`, at most 1 min). When the detector names another leader, the
 * stream to the old one is closed and the agent re-registers with the new one, with all its
 * tasks, after a random wait up to `--registration_backoff_factor` (as a Mesos agent does: the
 * agents of a cluster do not all reach a newly elected master in the same instant).
 */
import type { Clock, TimerHandle } from '../common/clock.ts';
import { CorralError, describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { AGENT_CALL_PATH, AGENT_ID_HEADER, AGENT_STREAM_HEADER, AGENT_SUBSCRIBE_PATH, type AgentToMaster } from '../proto/internal.ts';
import { decodeMasterToAgent, encodeAgentToMaster } from '../proto/internal_codec.ts';
import { MAX_INTERNAL_JSON_DEPTH, checkJsonDepth } from '../proto/json.ts';
import { stringifyWire } from '../proto/json_text.ts';
import { type Credential, DEFAULT_MAX_BODY_BYTES, type HttpClient, type LeaderAddress, type MasterDetector, basicAuthorization } from '../transport/index.ts';
import type { Agent } from './agent.ts';
import { callClaims } from './master_protocol.ts';
import { Limit, MessageOrder } from './message_order.ts';

const MAX_BACKOFF_MS = 60_000;
/** Calls to the master on their way at once (each on its own kept-alive connection). */
const CALLS_IN_FLIGHT = 8;

export interface MasterLinkOptions {
  /** Where the leading master is (started by the caller; a FixedMasterDetector for `host:port`). */
  readonly detector: MasterDetector;
  /** 'https' when the agent runs with TLS (the HttpClient's scheme). */
  readonly scheme?: 'http' | 'https';
  readonly backoffFactorMs: number;
  readonly random?: () => number;
  /** `--credential`: sent as HTTP Basic on every request (a master with --authenticate_agents needs it). */
  readonly credential?: Credential;
}

/** Whether two detector answers name the same master. */
function sameLeader(a: LeaderAddress | undefined, b: LeaderAddress | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.id === b.id && a.hostPort === b.hostPort;
}

export class MasterLink {
  private stopped = false;
  private timer: TimerHandle | undefined;
  private closeStream: (() => void) | undefined;
  private backoffMs: number;
  private readonly calls = new MessageOrder();
  private readonly inFlight = new Limit(CALLS_IN_FLIGHT);
  /** The leader the link talks to (or tries to). */
  private target: LeaderAddress | undefined;
  /** Bumped at each change of leader: a connection of an older one stops without retrying. */
  private generation = 0;
  private unlisten: (() => void) | undefined;
  /** The connection the agent sends its calls on (a token per stream), while it is up. */
  private linkedTo: object | undefined;
  /** Whether the agent has been (re-)registered with a master since it started. */
  private everRegistered = false;
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

  private url(leader: LeaderAddress, path: string): string {
    return `${this.opts.scheme ?? 'http'}://${leader.hostPort}${path}`;
  }

  /** The master the agent is linked to (or trying to be), as the detector named it. */
  get leader(): LeaderAddress | undefined {
    return this.target;
  }

  start(): void {
    this.unlisten = this.opts.detector.onChange((leader) => this.leaderChanged(leader));
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.unlisten?.();
    this.timer?.cancel();
    this.closeStream?.();
  }

  /** A new leader (or none): leave the old one, and register with the new one (after a random wait when re-registering). */
  private leaderChanged(leader: LeaderAddress | undefined): void {
    if (this.stopped || sameLeader(leader, this.target)) return;
    // A re-registration after a change of leader: as a Mesos agent does on detecting a master,
    // first a random wait up to --registration_backoff_factor. Every agent of the cluster sees
    // the new leader at the same moment; spread over that second, their re-registrations do
    // not all reach the new leader at once (where they would queue, frameworks' calls behind
    // them, until it has taken the whole burst). An agent never registered yet goes at once.
    const wait = this.everRegistered ? Math.round((this.opts.random ?? Math.random)() * this.opts.backoffFactorMs) : 0;
    this.log.info(
      { from: this.target?.hostPort, to: leader?.hostPort, ...(leader === undefined ? {} : { inMs: wait }) },
      leader === undefined ? 'no leading master is known; waiting for one' : `the leading master changed; re-registering with it in ${wait} ms`,
    );
    this.generation++;
    this.target = leader;
    this.timer?.cancel();
    this.backoffMs = this.opts.backoffFactorMs;
    const close = this.closeStream;
    this.closeStream = undefined;
    close?.();
    // Nothing more goes to the old leader: status updates wait for the new one.
    this.unlink(this.linkedTo);
    if (leader === undefined) return;
    if (wait === 0) {
      void this.connect();
      return;
    }
    const generation = this.generation;
    this.timer = this.clock.setTimer(wait, () => {
      if (generation === this.generation) void this.connect();
    });
  }

  private retry(generation: number, why: string): void {
    if (this.stopped || generation !== this.generation) return;
    const wait = Math.round((this.opts.random ?? Math.random)() * this.backoffMs);
    this.log.warn({ why, retryInMs: wait, master: this.target?.hostPort }, 'no connection to the master; retrying');
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.timer = this.clock.setTimer(wait, () => void this.connect());
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const generation = this.generation;
    const leader = this.opts.detector.current();
    this.target = leader;
    // No leader known: the detector's next change connects.
    if (leader === undefined) return;
    const hello = this.agent.registrationMessage();
    let stream;
    try {
      const body = registrationBody(hello, this.log);
      stream = await this.client.openStream({
        url: this.url(leader, AGENT_SUBSCRIBE_PATH),
        headers: { 'Content-Type': 'application/json', ...this.auth },
        body,
        timeoutMs: 30_000,
      });
    } catch (e) {
      this.retry(generation, describeError(e));
      return;
    }
    if (this.stopped || generation !== this.generation) {
      // The leader changed (or the link stopped) while this one was answering.
      stream.close();
      return;
    }
    if (stream.status !== 200) {
      const hint =
        stream.status === 401
          ? this.opts.credential === undefined
            ? ' (the master wants credentials: give the agent --credential)'
            : ' (check --credential)'
          : stream.status === 307
            ? ` (it is not the leading master; the leader is at ${String(stream.headers.location ?? 'an address it did not give')})`
            : '';
      stream.close();
      this.retry(generation, `master answered ${stream.status}: ${stream.text}${hint}`);
      return;
    }
    const streamId = String(stream.headers[AGENT_STREAM_HEADER] ?? '');
    const agentId = String(stream.headers[AGENT_ID_HEADER] ?? '');
    this.closeStream = () => stream.close();
    const link = {};
    let linked = false;
    // A message the agent failed to handle breaks the link, as a broken stream does.
    let failed: { error: unknown } | undefined;
    try {
      for await (const record of stream.records) {
        const json: unknown = JSON.parse(record.toString('utf8'));
        checkJsonDepth(json, '', MAX_INTERNAL_JSON_DEPTH);
        const msg = decodeMasterToAgent(json);
        if (generation !== this.generation) break; // the old leader's last words: not for the agent
        if (!linked && (msg.type === 'REGISTERED' || msg.type === 'REREGISTERED')) {
          linked = true;
          this.linkedTo = link;
          this.backoffMs = this.opts.backoffFactorMs;
          this.agent.connected((call) => this.send(leader, agentId || msg.agentId, streamId, call));
        }
        // Handed over as it comes: the agent keeps the order the messages need (a task's
        // acknowledgement must not wait behind other tasks' launches). A registration and a
        // SHUTDOWN, which come after everything before them anyway, are waited for here: the
        // link's state follows them.
        const handled = this.agent.onMasterMessage(msg).then(
          () => true,
          (error: unknown) => {
            failed ??= { error };
            stream.close();
            return false;
          },
        );
        if (msg.type === 'REGISTERED' || msg.type === 'REREGISTERED') {
          if (await handled) {
            this.everRegistered = true;
            this.markRegistered();
          }
        }
        if (msg.type === 'SHUTDOWN') {
          await handled;
          break;
        }
      }
      if (generation === this.generation) this.closeStream = undefined;
      this.unlink(link);
      this.retry(generation, failed ? describeError(failed.error) : 'the master closed the stream');
    } catch (e) {
      if (generation === this.generation) this.closeStream = undefined;
      this.unlink(link);
      this.retry(generation, describeError(failed?.error ?? e));
    }
  }

  /** The stream `link` is down: the agent holds its calls, unless a newer stream is up already. */
  private unlink(link: object | undefined): void {
    if (link === undefined || this.linkedTo !== link) return;
    this.linkedTo = undefined;
    this.agent.disconnected();
  }

  /**
   * Calls go to the master of the stream they belong to. Calls about the same task or executor
   * go out one after another, in order (callClaims); others side by side, at most
   * CALLS_IN_FLIGHT at once. A failed one is logged (status updates are retried by the agent).
   */
  private send(leader: LeaderAddress, agentId: string, streamId: string, call: AgentToMaster): void {
    const body = encodeAgentToMaster(call) as object;
    void this.calls.run(callClaims(call), () =>
      this.inFlight.use(async () => {
        try {
          const r = await this.client.request({
            url: this.url(leader, AGENT_CALL_PATH),
            method: 'POST',
            headers: { 'Content-Type': 'application/json', [AGENT_ID_HEADER]: agentId, [AGENT_STREAM_HEADER]: streamId, ...this.auth },
            body,
            timeoutMs: 10_000,
          });
          if (r.status !== 202) this.log.warn({ status: r.status, body: r.text(), call: call.type }, 'the master refused a call');
        } catch (e) {
          this.log.warn({ err: describeError(e), call: call.type }, 'a call to the master failed');
        }
      }),
    );
  }
}

/** The wire text of `m`; throws when it cannot be sent (it cannot be written, or the master would refuse its depth). */
function wireText(m: AgentToMaster): string {
  const json = encodeAgentToMaster(m);
  checkJsonDepth(json, '', MAX_INTERNAL_JSON_DEPTH);
  return stringifyWire(json);
}

/** Whether `m` can be sent (wireText's error says why not). */
function sendable(m: AgentToMaster): boolean {
  return textWithin(m, Infinity) !== undefined;
}

/** The wire text of `m` when it can be sent and is at most `maxBytes` long; undefined when not (a lookup). */
function textWithin(m: AgentToMaster, maxBytes: number): string | undefined {
  let text: string;
  try {
    text = wireText(m);
  } catch {
    return undefined;
  }
  return maxBytes === Infinity || Buffer.byteLength(text) <= maxBytes ? text : undefined;
}

/**
 * The wire text of a REGISTER or REREGISTER. A task, status, executor or framework that cannot
 * be sent (only an older agent's checkpoints could hold one) is left out with a WARN naming it:
 * one bad record must not keep the agent, and every other task it runs, from re-registering.
 * A task whose latest status is the bad part is reported without that status. A REREGISTER
 * larger than `maxBytes` (the master's default --max_request_body) loses its largest records.
 */
export function registrationBody(hello: AgentToMaster, log: Logger, maxBytes: number = DEFAULT_MAX_BODY_BYTES): string {
  const sendable = sendableRegistration(hello, log);
  if (hello.type !== 'REREGISTER' || Buffer.byteLength(sendable.text) <= maxBytes) return sendable.text;
  return withinBudget(sendable.message as Extract<AgentToMaster, { type: 'REREGISTER' }>, Buffer.byteLength(sendable.text), maxBytes, log);
}

function sendableRegistration(hello: AgentToMaster, log: Logger): { message: AgentToMaster; text: string } {
  try {
    return { message: hello, text: wireText(hello) };
  } catch (e) {
    if (hello.type !== 'REREGISTER') throw new CorralError('UNSENDABLE', `the ${hello.type} message cannot be sent: ${describeError(e)}`, { cause: e });
  }
  const alone = { ...hello, tasks: [], executors: [], frameworks: [] };
  const tasks = [];
  for (const t of hello.tasks) {
    const ids = { frameworkId: t.frameworkId, taskId: t.task.taskId };
    try {
      wireText({ ...alone, tasks: [t] });
      tasks.push(t);
      continue;
    } catch (e) {
      if (t.latestStatus !== undefined) {
        const { latestStatus: _, ...bare } = t;
        if (sendable({ ...alone, tasks: [bare] })) {
          log.warn({ ...ids, err: describeError(e) }, 'the latest status of a task cannot be sent to the master; re-registering the task without it');
          tasks.push(bare);
          continue;
        }
      }
      log.warn({ ...ids, err: describeError(e) }, 'a task cannot be sent to the master; it is left out of the re-registration');
    }
  }
  const executors = hello.executors.filter((x) => {
    try {
      wireText({ ...alone, executors: [x] });
      return true;
    } catch (e) {
      log.warn(
        { frameworkId: x.frameworkId, executorId: x.executorInfo.executorId, err: describeError(e) },
        'an executor cannot be sent to the master; it is left out of the re-registration',
      );
      return false;
    }
  });
  const frameworks = hello.frameworks.filter((f) => {
    try {
      wireText({ ...alone, frameworks: [f] });
      return true;
    } catch (e) {
      log.warn({ frameworkId: f.id, err: describeError(e) }, 'a framework cannot be sent to the master; it is left out of the re-registration');
      return false;
    }
  });
  const message = { ...hello, tasks, executors, frameworks };
  try {
    return { message, text: wireText(message) };
  } catch (e) {
    throw new CorralError('UNSENDABLE', `the REREGISTER message cannot be sent: ${describeError(e)}`, { cause: e });
  }
}

/**
 * A REREGISTER larger than the master reads by default (`--max_request_body`, 4 MiB) would be
 * refused whole (413), again at every retry, and every task on the agent lost with it. Tasks
 * carry no `data` there, but executors and frameworks can still be large: the largest records
 * are left out, each with a WARN naming it, until the rest fits.
 */
function withinBudget(hello: Extract<AgentToMaster, { type: 'REREGISTER' }>, wholeBytes: number, maxBytes: number, log: Logger): string {
  type Entry = { kind: 'task' | 'executor' | 'framework'; index: number; bytes: number };
  const alone = { ...hello, tasks: [], executors: [], frameworks: [] };
  const size = (m: AgentToMaster): number => {
    try {
      return Buffer.byteLength(wireText(m));
    } catch {
      return 0; // every record was found sendable (sendableRegistration): none is expected here
    }
  };
  const base = size(alone);
  const entries: Entry[] = [
    ...hello.tasks.map((t, index) => ({ kind: 'task' as const, index, bytes: size({ ...alone, tasks: [t] }) - base })),
    ...hello.executors.map((e, index) => ({ kind: 'executor' as const, index, bytes: size({ ...alone, executors: [e] }) - base })),
    ...hello.frameworks.map((f, index) => ({ kind: 'framework' as const, index, bytes: size({ ...alone, frameworks: [f] }) - base })),
  ].sort((a, b) => b.bytes - a.bytes);
  const left = new Set<Entry>();
  // Each record's share of the text is known, so the whole is encoded again only once the
  // estimate fits (and once more if the separators it does not count tip it over).
  let estimate = wholeBytes;
  for (const e of entries) {
    if (estimate <= maxBytes) {
      const kept = (kind: Entry['kind']) => new Set(entries.filter((x) => x.kind === kind && !left.has(x)).map((x) => x.index));
      const [tasks, executors, frameworks] = [kept('task'), kept('executor'), kept('framework')];
      const text = textWithin(
        {
          ...hello,
          tasks: hello.tasks.filter((_, i) => tasks.has(i)),
          executors: hello.executors.filter((_, i) => executors.has(i)),
          frameworks: hello.frameworks.filter((_, i) => frameworks.has(i)),
        },
        maxBytes,
      );
      if (text !== undefined) return text;
    }
    left.add(e);
    estimate -= e.bytes;
    const fields =
      e.kind === 'task'
        ? { frameworkId: hello.tasks[e.index]!.frameworkId, taskId: hello.tasks[e.index]!.task.taskId }
        : e.kind === 'executor'
          ? { frameworkId: hello.executors[e.index]!.frameworkId, executorId: hello.executors[e.index]!.executorInfo.executorId }
          : { frameworkId: hello.frameworks[e.index]!.id };
    log.warn(
      { ...fields, bytes: e.bytes, maxBytes },
      `the re-registration is larger than the master reads; this ${e.kind} (the largest left) is left out of it, and the master will not know it`,
    );
  }
  const bare = textWithin(alone, maxBytes);
  if (bare !== undefined) return bare;
  throw new CorralError('UNSENDABLE', `the REREGISTER message cannot be sent: it is larger than ${maxBytes} bytes without any task, executor or framework`);
}
