/**
 * What the operator's commands (ops.ts) and `corral execute` read of a cluster over HTTP: the
 * leading master's `/master/state` (found through --master: host:port or zk://), the agents'
 * `/state`, and where a task's sandbox is.
 */
import { type Credential, HttpClient, type MasterLocation, type TlsConfig, basicAuthorization, createMasterDetector } from '../transport/index.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** The leading master and the agents, over HTTP (also `corral execute`'s view of the cluster). */
export class Cluster {
  private readonly http: HttpClient;
  private readonly detector;
  private started = false;

  constructor(
    master: MasterLocation,
    tls: TlsConfig | undefined,
    private readonly credential: Credential | undefined,
  ) {
    this.http = new HttpClient({ keepAlive: true, timeoutMs: 15_000, ...(tls ? { tls } : {}) });
    this.detector = createMasterDetector(master, { field: '--master' });
  }

  private async get(url: string): Promise<Json> {
    const r = await this.http.request({ url, method: 'GET', headers: this.credential ? { Authorization: basicAuthorization(this.credential) } : {} });
    if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.text().trim().slice(0, 200)}`);
    return r.json();
  }

  private async leader(): Promise<string> {
    if (!this.started) {
      this.started = true;
      await this.detector.start();
    }
    const leader = this.detector.current();
    if (leader === undefined) throw new Error('no master leads now (none is elected in ZooKeeper)');
    return leader.hostPort;
  }

  async state(): Promise<Json> {
    return this.get(`${this.http.scheme}://${await this.leader()}/master/state`);
  }

  agentUrl(agent: Json, path: string): string {
    const m = /@(.+)$/.exec(String(agent.pid ?? ''));
    return `${this.http.scheme}://${m ? m[1] : `${agent.hostname}:${agent.port}`}${path}`;
  }

  agentGet(agent: Json, path: string): Promise<Json> {
    return this.get(this.agentUrl(agent, path));
  }

  async close(): Promise<void> {
    this.http.close();
    await this.detector.stop().catch(() => {});
  }
}

export interface TaskRow {
  readonly task: Json;
  readonly framework: Json;
  readonly agent: Json | undefined;
}

export function allTasks(state: Json, completed: boolean): TaskRow[] {
  const agents = new Map<string, Json>((state.slaves ?? []).map((a: Json) => [a.id, a]));
  const rows: TaskRow[] = [];
  for (const fw of [...(state.frameworks ?? []), ...(completed ? (state.completed_frameworks ?? []) : [])]) {
    for (const t of [...(fw.tasks ?? []), ...(completed ? (fw.completed_tasks ?? []) : [])])
      rows.push({ task: t, framework: fw, agent: agents.get(t.slave_id) });
  }
  return rows;
}

export function findTask(state: Json, id: string): TaskRow {
  const hits = allTasks(state, true).filter((r) => r.task.id === id);
  if (hits.length === 0) throw new Error(`no task '${id}' is known to the leading master`);
  // A live task before a completed one of the same id (a framework may reuse ids).
  return hits[0]!;
}

/** The task's sandbox on its agent (from the agent's /state) and whether the task has ended there. */
export async function sandboxOf(c: Cluster, row: TaskRow): Promise<{ directory: string; executor: Json }> {
  if (!row.agent) throw new Error(`task '${row.task.id}' is on agent ${row.task.slave_id}, which the master no longer knows`);
  const st = await c.agentGet(row.agent, '/state');
  const executorId = row.task.executor_id || row.task.id;
  for (const fw of [...(st.frameworks ?? []), ...(st.completed_frameworks ?? [])]) {
    if (fw.id !== row.framework.id) continue;
    // The newest run of the executor that has (or had) the task.
    const executors: Json[] = [...(fw.executors ?? []), ...[...(fw.completed_executors ?? [])].reverse()];
    const has = (e: Json) => [...(e.tasks ?? []), ...(e.queued_tasks ?? []), ...(e.completed_tasks ?? [])].some((t: Json) => t.id === row.task.id);
    const ex = executors.find((e) => e.id === executorId && has(e)) ?? executors.find(has);
    if (ex) return { directory: ex.directory, executor: ex };
  }
  throw new Error(`agent ${row.agent.hostname} (${row.agent.id}) has no sandbox of task '${row.task.id}' (it may have been garbage-collected)`);
}
