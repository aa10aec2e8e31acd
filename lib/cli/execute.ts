/**
 * `corral execute`: like mesos-execute. Subscribes to the master as a framework over the v1
 * scheduler API, launches one command task on the first offer that fits, prints its states,
 * and exits with the task's exit code.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { FlagError, flag, optionalFlag, parseBool, parseHostPort, parsePositiveDuration, str, formatDuration } from '../common/flags.ts';
import { checkRoleText } from '../common/ids.ts';
import { Resources, parseResourcesText } from '../common/resources/index.ts';
import { systemClock } from '../linux/index.ts';
import { decodeSchedulerEvent } from '../proto/scheduler.ts';
import { type SchedulerEvent, type TaskStatus, isTerminal } from '../proto/messages.ts';
import { type Credential, HttpClient, type TlsConfig, basicAuthorization, parseCredential, readFlagText } from '../transport/index.ts';

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
  master: flag({ help: 'The master: host:port', required: true, parse: parseHostPort }),
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
  readonly master: string;
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
}

/** Run the task; resolves with its exit code (1 when it ended otherwise than by exiting). */
export async function execute(o: ExecuteOptions): Promise<number> {
  const need = parseResourcesText(o.resources);
  const client = new HttpClient(o.tls ? { tls: o.tls } : {});
  const url = `${client.scheme}://${o.master}/api/v1/scheduler`;
  const principal = o.credential?.principal ?? o.principal;
  const auth: Record<string, string> = o.credential ? { Authorization: basicAuthorization(o.credential) } : {};
  const frameworkInfo = {
    user: o.user ?? userInfo().username,
    name: o.name,
    role: o.role,
    failover_timeout: 0,
    checkpoint: o.checkpoint ?? false,
    ...(principal === undefined ? {} : { principal }),
  };
  let stream;
  try {
    stream = await client.openStream({
      url,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...auth },
      body: { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo } },
    });
  } catch (e) {
    client.close();
    throw e;
  }
  if (stream.status !== 200) {
    stream.close();
    client.close();
    throw new Error(`the master refused the subscription: ${refusal(stream.status, stream.text, o.credential)}`);
  }
  const streamId = String(stream.headers['mesos-stream-id'] ?? '');
  let frameworkId = '';
  const taskId = `${o.name}-${randomUUID().slice(0, 8)}`;
  let launched = false;
  const call = async (body: object) => {
    const r = await client.request({ url, method: 'POST', headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': streamId, ...auth }, body });
    if (r.status !== 202) throw new Error(`call refused: ${refusal(r.status, r.text(), o.credential)}`);
  };
  // Through the clock: a --timeout longer than Node's timers take (24.8 days) is chained.
  const timer = systemClock.setTimer(o.timeoutMs, () => stream.close());
  let result: TaskStatus | undefined;
  try {
    for await (const record of stream.records) {
      const event: SchedulerEvent = decodeSchedulerEvent(JSON.parse(record.toString('utf8')));
      if (event.type === 'SUBSCRIBED') {
        frameworkId = event.subscribed.frameworkId;
        o.print(`Subscribed with ID ${frameworkId}`);
      } else if (event.type === 'ERROR') {
        throw new Error(`the master says: ${event.error.message}`);
      } else if (event.type === 'OFFERS') {
        for (const offer of event.offers.offers) {
          const have = Resources.of(offer.resources);
          if (launched || !have.contains(need)) {
            await call({
              framework_id: { value: frameworkId },
              type: 'DECLINE',
              decline: { offer_ids: [{ value: offer.id }], filters: { refuse_seconds: launched ? 3600 : 1 } },
            });
            continue;
          }
          launched = true;
          o.print(`Submitting task ${taskId} to agent ${offer.agentId}`);
          const resources = need.toArray().map((r) => ({
            name: r.name,
            type: r.type,
            ...(r.type === 'SCALAR' ? { scalar: { value: r.scalar } } : r.type === 'RANGES' ? { ranges: { range: r.ranges } } : { set: { item: r.set } }),
            role: r.role,
          }));
          await call({
            framework_id: { value: frameworkId },
            type: 'ACCEPT',
            accept: {
              offer_ids: [{ value: offer.id }],
              operations: [
                {
                  type: 'LAUNCH',
                  launch: {
                    task_infos: [
                      { name: o.name, task_id: { value: taskId }, agent_id: { value: offer.agentId }, resources, command: { value: o.command, shell: true } },
                    ],
                  },
                },
              ],
            },
          });
        }
      } else if (event.type === 'UPDATE') {
        const s = event.update.status;
        if (s.taskId !== taskId) continue;
        o.print(
          `Received status update ${s.state} for task ${s.taskId}${s.message ? `\n  message: '${s.message}'` : ''}${s.source ? `\n  source: ${s.source}` : ''}${s.reason ? `\n  reason: ${s.reason}` : ''}`,
        );
        if (s.uuid !== undefined && s.agentId !== undefined) {
          await call({
            framework_id: { value: frameworkId },
            type: 'ACKNOWLEDGE',
            acknowledge: { agent_id: { value: s.agentId }, task_id: { value: s.taskId }, uuid: s.uuid },
          });
        }
        if (isTerminal(s.state)) {
          result = s;
          break;
        }
      }
    }
  } finally {
    timer.cancel();
    if (frameworkId) await call({ framework_id: { value: frameworkId }, type: 'TEARDOWN' }).catch(() => {});
    stream.close();
    client.close();
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
