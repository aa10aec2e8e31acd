/**
 * Reconciliation: a framework's RECONCILE (explicit or implicit), and the tasks a known agent
 * no longer reports when it re-registers.
 */
import type { AgentTask } from '../proto/internal.ts';
import { type TaskState, type TaskStatus, isTerminal } from '../proto/messages.ts';
import type { AgentRecord, Framework, Task } from './records.ts';
import type { MasterState } from './state.ts';
import type { TaskBook } from './tasks.ts';

export class Reconciler {
  constructor(
    private readonly s: MasterState,
    private readonly taskBook: TaskBook,
  ) {}

  /** Explicit (tasks given) or implicit (none) reconciliation, as Mesos answers it. */
  reconcile(fw: Framework, tasks: readonly { taskId: string; agentId?: string }[]): void {
    const answer = (status: TaskStatus) => this.s.send(fw, { type: 'UPDATE', update: { status } });
    const latest = (t: Task) =>
      ({
        ...this.s.masterStatus(t.id, t.agentId, t.statusUpdateState ?? t.state, 'REASON_RECONCILIATION', 'Reconciliation: Latest task state'),
        ...(t.executorId === undefined ? {} : { executorId: t.executorId }),
        ...(t.latest?.healthy === undefined ? {} : { healthy: t.latest.healthy }),
      }) satisfies TaskStatus;
    if (tasks.length === 0) {
      for (const t of fw.tasks.values()) answer(latest(t));
      return;
    }
    const pa = fw.capable('PARTITION_AWARE');
    for (const { taskId, agentId } of tasks) {
      const t = fw.tasks.get(taskId);
      if (t && (agentId === undefined || agentId === t.agentId)) {
        answer(latest(t));
        continue;
      }
      if (agentId !== undefined ? this.s.recoveredAgents.has(agentId) : this.s.recoveredAgents.size > 0) continue;
      const known = agentId !== undefined && this.s.agents.has(agentId);
      const state: TaskState = pa ? (known ? 'TASK_GONE' : 'TASK_UNKNOWN') : 'TASK_LOST';
      answer(this.s.masterStatus(taskId, agentId, state, 'REASON_RECONCILIATION', 'Reconciliation: Task is unknown'));
    }
  }

  /** A known agent came back: tasks it no longer has are lost; tasks it has are kept. */
  reconcileKnownAgent(agent: AgentRecord, reported: readonly AgentTask[]): void {
    const have = new Set(reported.map((t) => `${t.frameworkId}\u0000${t.task.taskId}`));
    for (const [fwId, tasks] of agent.tasks) {
      const fw = this.s.frameworks.get(fwId);
      for (const task of Array.from(tasks.values())) {
        if (have.has(`${fwId}\u0000${task.id}`) || isTerminal(task.state)) continue;
        const status = this.s.masterStatus(task.id, agent.id, 'TASK_LOST', 'REASON_AGENT_RESTARTED', 'Task is unknown to the agent');
        this.taskBook.applyStatus(task, status);
        if (fw) this.s.send(fw, { type: 'UPDATE', update: { status } });
        this.taskBook.removeTask(task);
      }
    }
  }
}
