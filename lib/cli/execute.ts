/**
 * `corral execute`: like mesos-execute. Subscribes to the master as a framework over the v1
 * scheduler API, launches one command task on the first offer that fits, prints its states,
 * and exits with the task's exit code.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { FlagError, flag, optionalFlag, parseBool, parsePositiveDuration, str, formatDuration } from '../common/flags.ts';
import { checkRoleText } from '../common/ids.ts';
import { Resources, parseResourcesText } from '../common/resources/index.ts';
import { systemClock } from '../linux/index.ts';
import { decodeSchedulerEvent } from '../proto/scheduler.ts';
import { type SchedulerEvent, type TaskStatus, isTerminal } from '../proto/messages.ts';
import type { TimerHandle } from '../common/clock.ts';
import {
  type ClientStream,
  type Credential,
  HttpClient,
  type LeaderAddress,
  type MasterDetector,
  type MasterLocation,
  type TlsConfig,
  basicAuthorization,
  createMasterDetector,
  parseCredential,
  parseMasterLocation,
  readFlagText,
} from '../transport/index.ts';

/**
 * `--secret`: the secret itself, or a path (`/…`, `./…`, `../…`; `file:///…` is read by the flag
 * parser) to a file holding it. A value (or file) that is JSON or has white space in it is a
 * credential in the forms `--credential` takes (`{"principal": …, "secret": …}` or one
 * `principal secret` line), read by the same reader; then its principal stands for --principal.
 */
export function parseSecret(value: string): { readonly secret: string; readonly principal?: string } {
  const f = /^\.{0,2}\//.test(value) ? readFlagText(value) : { text: value, source: 'inline value' };
  const text = f.text.trim();
  if (text.length === 0) throw new Error(`${f.source}: the secret is empty`);
  if (!text.startsWith('{') && !/\s/.test(text)) return { secret: text };
  return parseCredential(text, f.source);
}

export const executeFlags = {
  master: flag({
    help: "The master: host:port, or zk://host1:2181,host2:2181/path (the masters' ZooKeeper group: the framework follows the leader and re-subscribes after a failover)",
    required: true,
    parse: (t: string) => parseMasterLocation(t, '--master'),
  }),
  name: flag({ help: 'Name of the framework and the task', default: 'corral-execute', parse: str }),
  command: flag({ help: 'Shell command to run', required: true, parse: str }),
  resources: flag({
    help: 'Resources of the task',
    default: 'cpus:0.1;mem:32',
    parse: (t: string) => {
      if (parseResourcesText(t).isEmpty()) throw new Error(`'${t}' names no resource`);
      return t;
    },
  }),
  role: flag({
    help: 'Role of the framework',
    default: '*',
    parse: (t: string) => checkRoleText(t, '--role'),
  }),
  user: optionalFlag({ help: 'User to run the task as (default: the current user)', parse: str }),
  timeout: flag({ help: 'Give up when the task has not ended by then', default: 3_600_000, parse: parsePositiveDuration, show: formatDuration }),
  checkpoint: flag({ help: 'Ask agents to checkpoint the task, so it survives an agent restart', default: false, boolean: true, parse: parseBool }),
  principal: optionalFlag({
    help: "The framework's principal (FrameworkInfo.principal); with --secret, sent as HTTP Basic on every call to a master run with --authenticate_frameworks",
    parse: str,
  }),
  secret: optionalFlag({
    help: 'The principal\'s secret, or a path (/…, ./…, file:///…) to a file holding it alone or as a credential like the agent\'s --credential ({"principal":…,"secret":…} or one \'principal secret\' line)',
    parse: parseSecret,
  }),
};

/** The framework's credential from --principal and --secret (undefined without --secret). */
export function executeCredential(principal: string | undefined, secret: ReturnType<typeof parseSecret> | undefined): Credential | undefined {
  if (secret === undefined) return undefined;
  const p = principal ?? secret.principal;
  if (p === undefined) throw new FlagError('secret', 'needs --principal (or a credential file that names the principal)');
  if (secret.principal !== undefined && secret.principal !== p)
    throw new FlagError('secret', `the file is the credential of principal '${secret.principal}', not of --principal '${p}'`);
  return { principal: p, secret: secret.secret };
}

export interface ExecuteOptions {
  /** `host:port`, or where the masters are (a parsed --master: a ZooKeeper URL follows the leader). */
  readonly master: string | MasterLocation;
  readonly name: string;
  readonly command: string;
  readonly resources: string;
  readonly role: string;
  readonly user?: string;
  readonly timeoutMs: number;
  readonly checkpoint?: boolean;
  /** FrameworkInfo.principal (without a credential: set, but nothing is sent to authenticate). */
  readonly principal?: string;
  /** Sent as HTTP Basic with every call (SUBSCRIBE included). */
  readonly credential?: Credential;
  /** Talk to the master over TLS (LIBPROCESS_SSL_*). */
  readonly tls?: TlsConfig;
  readonly print: (line: string) => void;
  /** Follow the leader this detector names (a zk:// --master; tests give their own). Absent: `master` is host:port. */
  readonly detector?: MasterDetector;
}

/** A subscription's stream and what its calls need. */
interface Subscription {
  readonly leader: LeaderAddress;
  readonly url: string;
  readonly streamId: string;
  readonly stream: ClientStream;
}

/** How long a framework that follows the leader may be away before a master gives up on it (FrameworkInfo.failover_timeout, seconds). */
const FOLLOWING_FAILOVER_TIMEOUT_S = 60;
/** A stream with no record (not even a heartbeat, every 15 s) for this long is taken as broken. */
const FOLLOWING_IDLE_TIMEOUT_MS = 45_000;

/**
 * Run the task; resolves with its exit code (1 when it ended otherwise than by exiting). With a
 * zk:// --master (or `o.detector`) it follows the leading master: after a failover it
 * subscribes again with its framework id, asks for its task's state until it hears of it, and
 * sends its calls to the new leader. With one master (host:port), a closed stream ends the run.
 */
export async function execute(o: ExecuteOptions): Promise<number> {
  const need = parseResourcesText(o.resources);
  const location = typeof o.master === 'string' ? parseMasterLocation(o.master, '--master') : o.master;
  const follows = o.detector !== undefined || 'zk' in location;
  const detector = o.detector ?? createMasterDetector(location, { field: '--master' });
  const client = new HttpClient(o.tls ? { tls: o.tls } : {});
  const principal = o.credential?.principal ?? o.principal;
  const auth: Record<string, string> = o.credential ? { Authorization: basicAuthorization(o.credential) } : {};
  const frameworkInfo = {
    user: o.user ?? userInfo().username,
    name: o.name,
    role: o.role,
    // A framework that follows the leader survives a failover; teardown ends it.
    failover_timeout: follows ? FOLLOWING_FAILOVER_TIMEOUT_S : 0,
    checkpoint: o.checkpoint ?? false,
    ...(principal === undefined ? {} : { principal }),
  };
  let frameworkId = '';
  let taskId = `${o.name}-${randomUUID().slice(0, 8)}`;
  let launched = false;
  let result: TaskStatus | undefined;
  let timedOut = false;
  let current: Subscription | undefined;
  let wake: (() => void) | undefined;
  const unlisten = detector.onChange((leader) => {
    // Another leader (or none): leave this one; the loop subscribes with the next.
    if (current !== undefined && (leader === undefined || leader.hostPort !== current.leader.hostPort || leader.id !== current.leader.id))
      current.stream.close();
    wake?.();
  });
  // Through the clock: a --timeout longer than Node's timers take (24.8 days) is chained.
  const timer = systemClock.setTimer(o.timeoutMs, () => {
    timedOut = true;
    current?.stream.close();
    wake?.();
  });
  /** Until the detector changes, or `ms` passed. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = systemClock.setTimer(ms, () => resolve());
      wake = () => {
        t.cancel();
        resolve();
      };
    }).finally(() => (wake = undefined));
  const call = async (sub: Subscription, body: object) => {
    const r = await client.request({
      url: sub.url,
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': sub.streamId, ...auth },
      body: { framework_id: { value: frameworkId }, ...body },
    });
    if (r.status !== 202) throw new Error(`call refused: ${refusal(r.status, r.text(), o.credential)}`);
  };
  try {
    await detector.start();
    while (result === undefined && !timedOut) {
      const leader = detector.current();
      if (leader === undefined) {
        await pause(1000);
        continue;
      }
      const url = `${client.scheme}://${leader.hostPort}/api/v1/scheduler`;
      const resubscribe = frameworkId !== '';
      let stream: ClientStream;
      try {
        stream = await client.openStream({
          url,
          headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...auth },
          body: {
            type: 'SUBSCRIBE',
            ...(resubscribe ? { framework_id: { value: frameworkId } } : {}),
            subscribe: { framework_info: resubscribe ? { ...frameworkInfo, id: { value: frameworkId } } : frameworkInfo },
          },
          ...(follows ? { idleTimeoutMs: FOLLOWING_IDLE_TIMEOUT_MS } : {}),
        });
      } catch (e) {
        if (!follows) throw e;
        await pause(500);
        continue;
      }
      if (stream.status !== 200) {
        stream.close();
        // A master that does not lead (yet, or any more) sends us on: wait for the detector.
        if (follows && (stream.status === 307 || stream.status === 503)) {
          await pause(500);
          continue;
        }
        throw new Error(`the master refused the subscription: ${refusal(stream.status, stream.text, o.credential)}`);
      }
      const sub: Subscription = { leader, url, streamId: String(stream.headers['mesos-stream-id'] ?? ''), stream };
      current = sub;
      // After a failover: ask for the task's state until the new leader has heard of it.
      let heard = !(resubscribe && launched);
      let reconciling: TimerHandle | undefined;
      const reconcile = () => {
        if (heard || sub !== current) return;
        void call(sub, { type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: taskId } }] } }).catch(() => {});
        reconciling = systemClock.setTimer(2000, reconcile);
      };
      try {
        for await (const record of stream.records) {
          const event: SchedulerEvent = decodeSchedulerEvent(JSON.parse(record.toString('utf8')));
          if (event.type === 'SUBSCRIBED') {
            frameworkId = event.subscribed.frameworkId;
            o.print(resubscribe ? `Subscribed again with ID ${frameworkId} (master ${leader.hostPort})` : `Subscribed with ID ${frameworkId}`);
            reconcile();
          } else if (event.type === 'ERROR') {
            throw new Error(`the master says: ${event.error.message}`);
          } else if (event.type === 'OFFERS') {
            for (const offer of event.offers.offers) {
              const have = Resources.of(offer.resources);
              if (launched || !have.contains(need)) {
                await call(sub, {
                  type: 'DECLINE',
                  decline: { offer_ids: [{ value: offer.id }], filters: { refuse_seconds: launched ? 3600 : 1 } },
                });
                continue;
              }
              o.print(`Submitting task ${taskId} to agent ${offer.agentId}`);
              const resources = need.toArray().map((r) => ({
                name: r.name,
                type: r.type,
                ...(r.type === 'SCALAR' ? { scalar: { value: r.scalar } } : r.type === 'RANGES' ? { ranges: { range: r.ranges } } : { set: { item: r.set } }),
                role: r.role,
              }));
              launched = true;
              try {
                await call(sub, {
                  type: 'ACCEPT',
                  accept: {
                    offer_ids: [{ value: offer.id }],
                    operations: [
                      {
                        type: 'LAUNCH',
                        launch: {
                          task_infos: [
                            {
                              name: o.name,
                              task_id: { value: taskId },
                              agent_id: { value: offer.agentId },
                              resources,
                              command: { value: o.command, shell: true },
                            },
                          ],
                        },
                      },
                    ],
                  },
                });
              } catch (e) {
                if (!follows) throw e;
                // Not accepted by a leader that is going: a new task on the next leader's offer
                // (one that did start after all is ended by the teardown).
                launched = false;
                taskId = `${o.name}-${randomUUID().slice(0, 8)}`;
                throw e;
              }
            }
          } else if (event.type === 'UPDATE') {
            const s = event.update.status;
            if (s.taskId !== taskId) continue;
            heard = true;
            o.print(
              `Received status update ${s.state} for task ${s.taskId}${s.message ? `\n  message: '${s.message}'` : ''}${s.source ? `\n  source: ${s.source}` : ''}${s.reason ? `\n  reason: ${s.reason}` : ''}`,
            );
            if (s.uuid !== undefined && s.agentId !== undefined) {
              await call(sub, { type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: s.agentId }, task_id: { value: s.taskId }, uuid: s.uuid } });
            }
            if (isTerminal(s.state)) {
              result = s;
              break;
            }
          }
        }
      } catch (e) {
        // With one master a broken stream or a refused call ends the run; following the
        // leader, it is a failover: subscribe again (with the framework id) wherever it leads.
        if (!follows || (e instanceof Error && e.message.startsWith('the master says:'))) throw e;
      } finally {
        reconciling?.cancel();
        if (result === undefined) stream.close();
      }
      if (!follows) break;
      if (result === undefined && !timedOut) {
        o.print(`Lost the master at ${leader.hostPort}; following the leader`);
        if (sub === current && detector.current()?.hostPort === leader.hostPort) await pause(500);
      }
    }
  } finally {
    timer.cancel();
    unlisten();
    const last = current;
    if (frameworkId && last) await call(last, { type: 'TEARDOWN' }).catch(() => {});
    last?.stream.close();
    client.close();
    await detector.stop().catch(() => {});
  }
  if (!result) throw new Error('the task did not end before the timeout or the stream closed');
  if (result.state === 'TASK_FINISHED') return 0;
  const m = /exited with status (\d+)/.exec(result.message ?? '');
  return m ? Number(m[1]) : 1;
}

/** What the master's refusal means, for a person: 401 says which credentials to give or check. */
function refusal(status: number, body: string, credential: Credential | undefined): string {
  const said = `${status} ${body.trim()}`.trim();
  if (status !== 401) return said;
  if (credential === undefined) return `${said} (the master requires authentication: give --principal and --secret)`;
  return `${said} (check --principal '${credential.principal}' and --secret)`;
}
