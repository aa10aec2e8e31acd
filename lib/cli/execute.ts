/**
 * `corral execute`: like mesos-execute. Subscribes to the master as a framework over the v1
 * scheduler API, launches one command task on the first offer that fits, prints its states,
 * and exits with the task's exit code.
 */
import { randomUUID } from 'node:crypto';
import { FlagError, flag, optionalFlag, parseBool, parsePositiveDuration, str, formatDuration } from '../common/flags.ts';
import { checkRoleText } from '../common/ids.ts';
import { type Resources, parseResourcesText } from '../common/resources/index.ts';
import { systemClock } from '../linux/index.ts';
import { type Offer, type TaskStatus, isTerminal } from '../proto/messages.ts';
import { SchedulerClient, SchedulerClientError, SchedulerRefusal, offerFits, offerResources } from '../scheduler/index.ts';
import {
  type Credential,
  type MasterDetector,
  type MasterLocation,
  type TlsConfig,
  createMasterDetector,
  parseCredential,
  parseMasterLocation,
  readFlagText,
} from '../transport/index.ts';
import { Cluster, type Json, findTask, sandboxOf } from './cluster_reader.ts';

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

/** How long a framework that follows the leader may be away before a master gives up on it (FrameworkInfo.failover_timeout, seconds). */
const FOLLOWING_FAILOVER_TIMEOUT_S = 60;

/**
 * Run the task; resolves with its exit code (1 when it ended otherwise than by exiting). The
 * framework is a `SchedulerClient` (lib/scheduler, `corral/scheduler`). With a zk:// --master
 * (or `o.detector`) it follows the leading master: after a failover it subscribes again with
 * its framework id, reconciles its task until it hears of it, and sends its calls to the new
 * leader. With one master (host:port), a closed stream ends the run.
 */
export async function execute(o: ExecuteOptions): Promise<number> {
  const need = parseResourcesText(o.resources);
  const location = typeof o.master === 'string' ? parseMasterLocation(o.master, '--master') : o.master;
  const follows = o.detector !== undefined || 'zk' in location;
  const detector = o.detector ?? createMasterDetector(location, { field: '--master' });
  const client = new SchedulerClient({
    master: detector,
    framework: {
      name: o.name,
      ...(o.user === undefined ? {} : { user: o.user }),
      role: o.role,
      // A framework that follows the leader survives a failover; teardown ends it.
      failoverTimeoutSeconds: follows ? FOLLOWING_FAILOVER_TIMEOUT_S : 0,
      checkpoint: o.checkpoint ?? false,
      ...(o.principal === undefined ? {} : { principal: o.principal }),
    },
    ...(o.credential ? { credential: o.credential } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
    reconnect: follows,
    backoff: { initialMs: 500, maxMs: 2000 },
  });
  // What it reads of the cluster besides the scheduler API: the agents (can any ever fit the
  // task?) and the task's sandbox, from the leading master's /master/state.
  const cluster = new Cluster(location, o.tls, o.credential);
  let taskId = `${o.name}-${randomUUID().slice(0, 8)}`;
  let launched = false;
  let finish!: (r: { status?: TaskStatus; error?: unknown }) => void;
  const ended = new Promise<{ status?: TaskStatus; error?: unknown }>((resolve) => (finish = resolve));
  /** A refused call: with one master it ends the run; following the leader, the next leader is tried. */
  const refused = (e: unknown): void => {
    if (follows) return;
    finish({ error: e instanceof SchedulerRefusal ? new Error(`call refused: ${refusal(e.status, e.answer, o.credential)}`) : e });
  };
  /** Fails the run when the agents are known and none could ever hold the task (see `noAgentFits`). */
  let lastCheck = 0;
  let saidNoAgent = false;
  const checkFits = async (): Promise<void> => {
    if (launched || Date.now() - lastCheck < 2000) return;
    lastCheck = Date.now();
    let agents: Json[];
    try {
      agents = ((await cluster.state()).slaves ?? []) as Json[];
    } catch (e) {
      o.print(`(Could not read the agents from the master: ${e instanceof Error ? e.message : String(e)}; waiting for offers)`);
      return;
    }
    if (agents.length === 0) {
      if (!saidNoAgent) o.print('No agent is registered yet; waiting for one');
      saidNoAgent = true;
      return;
    }
    const why = noAgentFits(need, agents);
    if (why !== undefined) finish({ error: new Error(why) });
  };
  const seenAgents = new Set<string>();
  client.on('subscribed', (s) => {
    o.print(s.resubscribed ? `Subscribed again with ID ${s.frameworkId} (master ${s.master})` : `Subscribed with ID ${s.frameworkId}`);
    if (!s.resubscribed) o.print(`Waiting for an offer of ${o.resources}`);
    void checkFits();
  });
  client.on('disconnected', (d) => {
    if (follows) o.print(`Lost the master at ${d.master ?? 'unknown'}; following the leader`);
  });
  client.on('error', (e) => finish({ error: e }));
  client.on('offers', async (offers) => {
    let declined = false;
    for (const offer of offers) {
      if (launched || !offerFits(offer, need)) {
        if (!launched && !seenAgents.has(offer.agentId)) {
          seenAgents.add(offer.agentId);
          o.print(`Received an offer from agent ${offer.hostname} (${offer.agentId}) that does not fit: it has ${offerText(offer)}`);
        }
        declined = true;
        await client.decline(offer.id, launched ? 3600 : 1).catch(refused);
        continue;
      }
      o.print(`Received an offer from agent ${offer.hostname} (${offer.agentId}) that fits`);
      o.print(`Submitting task ${taskId} to agent ${offer.agentId}`);
      launched = true;
      try {
        await client.launch(offer, [{ taskId, name: o.name, resources: need, command: o.command }], { refuseSeconds: 5 });
        o.print(`Task ${taskId} is staging on agent ${offer.hostname}; waiting for it to start`);
      } catch (e) {
        // Not accepted by a leader that is going: a new task on the next leader's offer (one
        // that did start after all is ended by the teardown).
        launched = false;
        taskId = `${o.name}-${randomUUID().slice(0, 8)}`;
        refused(e);
      }
    }
    if (declined && !launched) void checkFits();
  });
  client.on('update', (s) => {
    if (s.taskId !== taskId) return;
    o.print(
      `Received status update ${s.state} for task ${s.taskId}${s.message ? `\n  message: '${s.message}'` : ''}${s.source ? `\n  source: ${s.source}` : ''}${s.reason ? `\n  reason: ${s.reason}` : ''}`,
    );
    // Where its files are, once it has a sandbox (printed before the run ends).
    if (sandbox === undefined && s.state !== 'TASK_STAGING') sandbox = printSandbox(s.taskId);
    if (isTerminal(s.state)) finish({ status: s });
  });
  let sandbox: Promise<void> | undefined;
  const printSandbox = async (id: string): Promise<void> => {
    try {
      const row = findTask(await cluster.state(), id);
      const { directory } = await sandboxOf(cluster, row);
      o.print(`Sandbox of task ${id}: ${row.agent?.hostname ?? row.task.slave_id}:${directory} (corral task log ${id} [--follow] prints its stdout)`);
    } catch (e) {
      o.print(`(Could not find the sandbox of task ${id}: ${e instanceof Error ? e.message : String(e)})`);
    }
  };
  // Through the clock: a --timeout longer than Node's timers take (24.8 days) is chained.
  const timer = systemClock.setTimer(o.timeoutMs, () => finish({}));
  let outcome: { status?: TaskStatus; error?: unknown };
  try {
    await Promise.race([client.start(), ended]);
    outcome = await ended;
  } catch (e) {
    if (e instanceof SchedulerRefusal) throw new Error(`the master refused the subscription: ${refusal(e.status, e.answer, o.credential)}`);
    throw e;
  } finally {
    timer.cancel();
    if (sandbox) await Promise.race([sandbox, new Promise((r) => setTimeout(r, 5000).unref())]);
    await cluster.close();
    await client.stop({ teardown: true });
    if (o.detector === undefined) await detector.stop().catch(() => {});
  }
  if (outcome.error !== undefined) {
    const e = outcome.error;
    if (e instanceof SchedulerClientError && e.code === 'FRAMEWORK_ENDED' && !e.message.startsWith('the master says:'))
      throw new Error('the task did not end before the timeout or the stream closed');
    throw e;
  }
  const result = outcome.status;
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

/** An offer's resources as `cpus:1;mem:512;ports:[31000-31010]`. */
function offerText(offer: Offer): string {
  return resourcesText(Object.entries(offerResources(offer).summary()));
}

function resourcesText(entries: [string, unknown][]): string {
  return entries
    .filter(([k, v]) => !k.endsWith('_revocable') && v !== 0 && v !== '' && v !== undefined && v !== null)
    .map(([k, v]) => `${k}:${String(v)}`)
    .join(';');
}

/**
 * Why no offer can ever fit the task, or undefined when one may. The rule: the task's resources
 * are more than every registered agent's total resources (all of them: reserved to any role or
 * not, used or not; what a task uses ends, a reservation can be undone). So it fails only when no
 * agent the master knows now could ever offer enough; with no agent registered, it waits.
 */
export function noAgentFits(need: Resources, agents: readonly Json[]): string | undefined {
  const totals = agents.map((a) => ({ agent: a, text: resourcesText(Object.entries((a.resources ?? {}) as Record<string, unknown>)) }));
  for (const { text } of totals) {
    try {
      if (parseResourcesText(text).contains(need)) return undefined;
    } catch {
      return undefined; // a total it cannot read: let the offers decide
    }
  }
  const shown = totals
    .slice(0, 3)
    .map(({ agent, text }) => `${agent.hostname} (${agent.id}) has ${text || 'nothing'}`)
    .join('; ');
  const more = totals.length > 3 ? `; and ${totals.length - 3} more` : '';
  return `no agent can ever run this task: it asks ${resourcesText(Object.entries(need.summary()))}, more than any of the ${agents.length} registered agent${agents.length === 1 ? '' : 's'} has in all (${shown}${more})`;
}
