/**
 * `corral execute`: like mesos-execute. Subscribes to the master as a framework over the v1
 * scheduler API, launches one command task on the first offer that fits, prints its states,
 * and exits with the task's exit code.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { flag, optionalFlag, parseBool, parseDuration, str, formatDuration } from '../common/flags.ts';
import { Resources, parseResourcesText } from '../common/resources/index.ts';
import { decodeSchedulerEvent } from '../proto/scheduler.ts';
import { type SchedulerEvent, type TaskStatus, isTerminal } from '../proto/messages.ts';
import { HttpClient, type TlsConfig } from '../transport/index.ts';

export const executeFlags = {
  master: flag({ help: 'The master: host:port', required: true, parse: str }),
  name: flag({ help: 'Name of the framework and the task', default: 'corral-execute', parse: str }),
  command: flag({ help: 'Shell command to run', required: true, parse: str }),
  resources: flag({ help: 'Resources of the task', default: 'cpus:0.1;mem:32', parse: str }),
  role: flag({ help: 'Role of the framework', default: '*', parse: str }),
  user: optionalFlag({ help: 'User to run the task as (default: the current user)', parse: str }),
  timeout: flag({ help: 'Give up when the task has not ended by then', default: 3_600_000, parse: parseDuration, show: formatDuration }),
  checkpoint: flag({ help: 'Ask agents to checkpoint the task, so it survives an agent restart', default: false, boolean: true, parse: parseBool }),
};

export interface ExecuteOptions {
  readonly master: string;
  readonly name: string;
  readonly command: string;
  readonly resources: string;
  readonly role: string;
  readonly user?: string;
  readonly timeoutMs: number;
  readonly checkpoint?: boolean;
  /** Talk to the master over TLS (LIBPROCESS_SSL_*). */
  readonly tls?: TlsConfig;
  readonly print: (line: string) => void;
}

/** Run the task; resolves with its exit code (1 when it ended otherwise than by exiting). */
export async function execute(o: ExecuteOptions): Promise<number> {
  const need = parseResourcesText(o.resources);
  const client = new HttpClient(o.tls ? { tls: o.tls } : {});
  const url = `${client.scheme}://${o.master}/api/v1/scheduler`;
  const stream = await client.openStream({
    url,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: { type: 'SUBSCRIBE', subscribe: { framework_info: { user: o.user ?? userInfo().username, name: o.name, role: o.role, failover_timeout: 0, checkpoint: o.checkpoint ?? false } } },
  });
  if (stream.status !== 200) throw new Error(`the master refused the subscription: ${stream.status} ${stream.text}`);
  const streamId = String(stream.headers['mesos-stream-id'] ?? '');
  let frameworkId = '';
  const taskId = `${o.name}-${randomUUID().slice(0, 8)}`;
  let launched = false;
  const call = async (body: object) => {
    const r = await client.request({ url, method: 'POST', headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': streamId }, body });
    if (r.status !== 202) throw new Error(`call refused: ${r.status} ${r.text()}`);
  };
  const timer = setTimeout(() => stream.close(), o.timeoutMs);
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
            await call({ framework_id: { value: frameworkId }, type: 'DECLINE', decline: { offer_ids: [{ value: offer.id }], filters: { refuse_seconds: launched ? 3600 : 1 } } });
            continue;
          }
          launched = true;
          o.print(`Submitting task ${taskId} to agent ${offer.agentId}`);
          const resources = need.toArray().map((r) => ({ name: r.name, type: r.type, ...(r.type === 'SCALAR' ? { scalar: { value: r.scalar } } : r.type === 'RANGES' ? { ranges: { range: r.ranges } } : { set: { item: r.set } }), role: r.role }));
          await call({
            framework_id: { value: frameworkId },
            type: 'ACCEPT',
            accept: {
              offer_ids: [{ value: offer.id }],
              operations: [{ type: 'LAUNCH', launch: { task_infos: [{ name: o.name, task_id: { value: taskId }, agent_id: { value: offer.agentId }, resources, command: { value: o.command, shell: true } }] } }],
            },
          });
        }
      } else if (event.type === 'UPDATE') {
        const s = event.update.status;
        if (s.taskId !== taskId) continue;
        o.print(`Received status update ${s.state} for task ${s.taskId}${s.message ? `\n  message: '${s.message}'` : ''}${s.source ? `\n  source: ${s.source}` : ''}${s.reason ? `\n  reason: ${s.reason}` : ''}`);
        if (s.uuid !== undefined && s.agentId !== undefined) {
          await call({ framework_id: { value: frameworkId }, type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: s.agentId }, task_id: { value: s.taskId }, uuid: s.uuid } });
        }
        if (isTerminal(s.state)) {
          result = s;
          break;
        }
      }
    }
  } finally {
    clearTimeout(timer);
    if (frameworkId) await call({ framework_id: { value: frameworkId }, type: 'TEARDOWN' }).catch(() => {});
    stream.close();
    client.close();
  }
  if (!result) throw new Error('the task did not end before the timeout or the stream closed');
  if (result.state === 'TASK_FINISHED') return 0;
  const m = /exited with status (\d+)/.exec(result.message ?? '');
  return m ? Number(m[1]) : 1;
}
