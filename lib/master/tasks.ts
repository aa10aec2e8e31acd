/**
 * The master's task and executor bookkeeping: adding a task or an executor to its framework and
 * agent, applying a status, moving a task to the completed ones, and the KILL and ACKNOWLEDGE
 * calls.
 */
import { type TaskInfo, type TaskState, type TaskStatus, isTerminal } from '../proto/messages.ts';
import type { AgentRecord, Framework, MasterExecutorRecord, Task } from './records.ts';
import { LAUNCH_TO_RUNNING_TIMER, type MasterState } from './state.ts';

export class TaskBook {
  constructor(private readonly s: MasterState) {}

  addExecutor(fw: Framework, agent: AgentRecord, ex: MasterExecutorRecord): void {
    const id = ex.info.executorId;
    let byAgent = fw.executors.get(agent.id);
    if (!byAgent) fw.executors.set(agent.id, (byAgent = new Map()));
    byAgent.set(id, ex);
    let byFw = agent.executors.get(fw.id);
    if (!byFw) agent.executors.set(fw.id, (byFw = new Map()));
    byFw.set(id, ex);
  }

  addTask(fw: Framework | undefined, agent: AgentRecord, task: Task): void {
    fw?.tasks.set(task.id, task);
    let byFw = agent.tasks.get(task.frameworkId);
    if (!byFw) agent.tasks.set(task.frameworkId, (byFw = new Map()));
    byFw.set(task.id, task);
    this.s.notify({ type: 'TASK_ADDED', task });
  }

  /** Move a task out of the active set (terminal and acknowledged, or its framework gone). */
  removeTask(task: Task): void {
    const agent = this.s.agents.get(task.agentId);
    const byFw = agent?.tasks.get(task.frameworkId);
    byFw?.delete(task.id);
    if (byFw?.size === 0) agent!.tasks.delete(task.frameworkId);
    const fw = this.s.frameworks.get(task.frameworkId);
    if (fw && fw.tasks.get(task.id) === task) {
      fw.tasks.delete(task.id);
      fw.completedTasks.push(task);
      if (fw.completedTasks.length > this.s.opts.maxCompletedTasksPerFramework) fw.completedTasks.shift();
    }
  }

  applyStatus(task: Task, status: TaskStatus): void {
    const wasTerminal = isTerminal(task.state);
    const lastState = task.statuses.at(-1)?.state;
    if (!wasTerminal) {
      if (task.state !== status.state) this.s.logTaskState(task.id, task.frameworkId, task.agentId, status);
      if (status.state === 'TASK_RUNNING' && task.state !== 'TASK_RUNNING' && task.statuses[0] !== undefined)
        this.s.metrics.observe(LAUNCH_TO_RUNNING_TIMER, this.s.now() - task.statuses[0].timestamp * 1000);
      this.countTransition(task.state, status.state);
      task.state = status.state;
    }
    task.latest = status;
    if (status.uuid !== undefined) {
      task.statusUpdateState = status.state;
      task.statusUpdateUuid = status.uuid;
    }
    task.statuses.push({
      state: status.state,
      timestamp: status.timestamp ?? this.s.now() / 1000,
      ...(status.healthy === undefined ? {} : { healthy: status.healthy }),
      ...(status.reason === undefined ? {} : { reason: status.reason }),
      ...(status.message === undefined ? {} : { message: status.message }),
      ...(status.source === undefined ? {} : { source: status.source }),
    });
    // As Mesos: a retransmission (same state) is not news, unless it reports a health change.
    if (status.state !== lastState || status.reason === 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED') this.s.notify({ type: 'TASK_UPDATED', task, status });
    if (!wasTerminal && isTerminal(status.state)) {
      // The task's resources come back as soon as its terminal update reaches the master.
      this.s.opts.allocator.recoverResources(task.frameworkId, task.agentId, task.resources, this.s.now());
      this.s.loop.request();
    }
  }

  countTransition(from: TaskState, to: TaskState): void {
    if (from === to) return;
    const gauge = (s: TaskState) => `master/tasks_${s.slice(5).toLowerCase()}`;
    if (!isTerminal(to)) return; // gauges for live states are computed from the task table
    this.s.metrics.inc(gauge(to));
  }

  /** KILL. False when the framework has no such task: the caller answers with reconciliation. */
  kill(fw: Framework, taskId: string, agentId: string | undefined, killPolicy: TaskInfo['killPolicy']): boolean {
    const task = fw.tasks.get(taskId);
    if (!task) return false;
    if (agentId !== undefined && agentId !== task.agentId) return true;
    const agent = this.s.agents.get(task.agentId);
    if (!agent) return true;
    this.s.log.info(
      { taskId, frameworkId: fw.id, agentId: agent.id },
      `killing task ${taskId} of framework ${fw.id} on agent ${agent.id}, as the framework asked${agent.connected ? '' : ' (sent when the agent reconnects)'}`,
    );
    if (agent.connected) {
      this.s.sendAgent(agent, { type: 'KILL_TASK', frameworkId: fw.id, taskId, ...(killPolicy ? { killPolicy } : {}) });
    } else {
      let set = agent.pendingKills.get(fw.id);
      if (!set) agent.pendingKills.set(fw.id, (set = new Set()));
      set.add(taskId);
    }
    return true;
  }

  acknowledge(fw: Framework, agentId: string, taskId: string, uuid: string): void {
    const agent = this.s.agents.get(agentId);
    if (!agent || !agent.connected) {
      this.s.metrics.inc('master/invalid_status_update_acknowledgements');
      return;
    }
    this.s.metrics.inc('master/valid_status_update_acknowledgements');
    this.s.sendAgent(agent, { type: 'ACKNOWLEDGE', frameworkId: fw.id, taskId, uuid });
    const task = agent.tasks.get(fw.id)?.get(taskId);
    if (task && isTerminal(task.state) && task.statusUpdateUuid === uuid && task.statusUpdateState !== undefined && isTerminal(task.statusUpdateState)) {
      this.removeTask(task);
    }
  }
}
