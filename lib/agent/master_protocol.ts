/**
 * The agent's side of the master protocol: what it sends when it (re)connects (REGISTER, or
 * REREGISTER with everything it runs), and what it does with each message of the master.
 */
import { describeError } from '../common/errors.ts';
import type { Resources } from '../common/resources/index.ts';
import type { AgentExecutor, AgentTask, AgentToMaster, MasterToAgent } from '../proto/internal.ts';
import { type AgentInfo, type FrameworkInfo, type TaskInfo, type TaskStatus, isTerminal } from '../proto/messages.ts';
import { replaceSymlink, writeJsonAtomic } from './checkpoint.ts';
import type { AgentContext } from './context.ts';
import { type Claim, exclusive, shared } from './message_order.ts';
import { toResources } from './records.ts';
import { applyCheckpointed, checkpointResources } from './volumes.ts';

/** What to send when (re)connecting to a master. */
export function registrationMessage(ctx: AgentContext): Extract<AgentToMaster, { type: 'REGISTER' | 'REREGISTER' }> {
  const ip = ctx.options.advertise?.ip;
  if (ctx.id === undefined) return { type: 'REGISTER', agentInfo: registrationInfo(ctx), version: ctx.options.version, ...(ip === undefined ? {} : { ip }) };
  const tasks: AgentTask[] = [];
  const executors: AgentExecutor[] = [];
  const frameworks: FrameworkInfo[] = [];
  for (const fw of ctx.frameworks.values()) {
    frameworks.push(fw.info);
    // The terminal tasks of executors that ended are reported until their updates are
    // acknowledged (Mesos keeps such executors until then): a task that ended while the agent
    // was down is not "unknown to the agent", which the master would report as lost.
    const reported = new Set<string>();
    for (const ex of [...fw.executors.values(), ...fw.completedExecutors]) {
      const live = fw.executors.get(ex.id) === ex;
      if (ex.info && live) executors.push({ frameworkId: fw.id, executorInfo: ex.info });
      for (const t of [...ex.tasks.values(), ...ex.completedTasks]) {
        if (isTerminal(t.state) && !ctx.updates.hasPending(fw.id, t.info.taskId)) continue;
        if (reported.has(t.info.taskId)) continue;
        reported.add(t.info.taskId);
        const latest = ctx.updates.latest(fw.id, t.info.taskId);
        tasks.push({
          frameworkId: fw.id,
          executorId: ex.id,
          task: withoutData(t.info),
          state: t.state,
          ...(latest ? { latestStatus: statusWithoutData(latest) } : {}),
        });
      }
      for (const q of ex.queued.values()) tasks.push({ frameworkId: fw.id, executorId: ex.id, task: withoutData(q), state: 'TASK_STAGING' });
    }
  }
  return {
    type: 'REREGISTER',
    agentId: ctx.id,
    agentInfo: registrationInfo(ctx),
    version: ctx.options.version,
    ...(ip === undefined ? {} : { ip }),
    tasks,
    executors,
    frameworks,
  };
}

/** What the master is told: the total, with reservations and volumes, so their views match. */
function registrationInfo(ctx: AgentContext): AgentInfo {
  return { ...ctx.agentInfo(), resources: ctx.totalResources().toArray() };
}

const AGENT = '*';
const RESOURCES = 'resources';
const LAUNCHES = 'launches';
const frameworkKey = (frameworkId: string): string => `f\u0000${frameworkId}`;
const executorKey = (frameworkId: string, executorId: string): string => `e\u0000${frameworkId}\u0000${executorId}`;
const taskKey = (frameworkId: string, taskId: string): string => `t\u0000${frameworkId}\u0000${taskId}`;

/**
 * What a message of the master touches, for the agent's MessageOrder (message_order.ts): the
 * messages about one task, executor or framework are handled in the order they came, a
 * framework's SHUTDOWN_FRAMEWORK or UPDATE_FRAMEWORK after (and before) all of its other
 * messages, a registration or SHUTDOWN after (and before) everything, and CHECKPOINT_RESOURCES
 * between the launches before and after it. RUN_TASKs are handled one at a time, in the order
 * they came, as before (launch.ts decides how many container launches go on meanwhile); the
 * other messages do not wait for them unless they are about the same task, executor or
 * framework. A PING is answered at once.
 */
export function messageClaims(msg: MasterToAgent): Claim[] {
  switch (msg.type) {
    case 'REGISTERED':
    case 'REREGISTERED':
    case 'SHUTDOWN':
      return [exclusive(AGENT)];
    case 'PING':
      return [];
    case 'CHECKPOINT_RESOURCES':
      return [shared(AGENT), exclusive(RESOURCES)];
    case 'SHUTDOWN_FRAMEWORK':
    case 'UPDATE_FRAMEWORK':
      return [shared(AGENT), exclusive(frameworkKey(msg.frameworkId))];
    case 'RUN_TASK': {
      const { frameworkId, task } = msg;
      return [
        shared(AGENT),
        shared(RESOURCES),
        exclusive(LAUNCHES),
        shared(frameworkKey(frameworkId)),
        exclusive(executorKey(frameworkId, task.executor?.executorId ?? task.taskId)),
        exclusive(taskKey(frameworkId, task.taskId)),
      ];
    }
    case 'KILL_TASK':
    case 'ACKNOWLEDGE':
      return [shared(AGENT), shared(frameworkKey(msg.frameworkId)), exclusive(taskKey(msg.frameworkId, msg.taskId))];
    case 'SHUTDOWN_EXECUTOR':
    case 'FRAMEWORK_MESSAGE':
      return [shared(AGENT), shared(frameworkKey(msg.frameworkId)), exclusive(executorKey(msg.frameworkId, msg.executorId))];
  }
}

/**
 * What a call to the master touches, for the link's MessageOrder: the calls about one task or
 * executor go out one after another, in order (a task's status update before its executor's
 * EXITED); calls about different ones go out side by side.
 */
export function callClaims(call: AgentToMaster): Claim[] {
  switch (call.type) {
    case 'STATUS_UPDATE': {
      const { frameworkId, status } = call;
      const task = exclusive(taskKey(frameworkId, status.taskId));
      return status.executorId === undefined ? [task] : [task, exclusive(executorKey(frameworkId, status.executorId))];
    }
    case 'EXECUTOR_EXITED':
    case 'EXECUTOR_MESSAGE':
      return [exclusive(executorKey(call.frameworkId, call.executorId))];
    case 'UPDATE_OVERSUBSCRIBED':
      return [exclusive(RESOURCES)];
    case 'PONG':
      return [];
    case 'REGISTER':
    case 'REREGISTER':
      return [exclusive(AGENT)];
  }
}

/** A message from the master. */
export async function handleMasterMessage(ctx: AgentContext, msg: MasterToAgent): Promise<void> {
  switch (msg.type) {
    case 'REGISTERED':
    case 'REREGISTERED':
      await registered(ctx, msg.agentId, msg.masterId);
      return;
    case 'PING':
      ctx.send({ type: 'PONG' });
      return;
    case 'RUN_TASK':
      await ctx.runTask(msg.frameworkId, msg.frameworkInfo, msg.task);
      return;
    case 'KILL_TASK':
      await ctx.killTask(msg.frameworkId, msg.taskId, msg.killPolicy?.gracePeriodNs);
      return;
    case 'ACKNOWLEDGE':
      await ctx.acknowledge(msg.frameworkId, msg.taskId, msg.uuid);
      return;
    case 'SHUTDOWN_FRAMEWORK':
      await ctx.shutdownFramework(msg.frameworkId);
      return;
    case 'SHUTDOWN_EXECUTOR': {
      const ex = ctx.frameworks.get(msg.frameworkId)?.executors.get(msg.executorId);
      if (ex) await ctx.shutdownExecutor(ex);
      return;
    }
    case 'FRAMEWORK_MESSAGE': {
      const ex = ctx.frameworks.get(msg.frameworkId)?.executors.get(msg.executorId);
      if (ex?.sink && !ex.sink.closed) {
        ex.sink.send({ type: 'MESSAGE', message: { data: msg.data } });
        ctx.metrics.inc('slave/valid_framework_messages');
      } else {
        ctx.metrics.inc('slave/invalid_framework_messages');
      }
      return;
    }
    case 'UPDATE_FRAMEWORK': {
      const fw = ctx.frameworks.get(msg.frameworkId);
      if (!fw) return;
      fw.info = msg.frameworkInfo;
      // The framework has (re-)subscribed: resend what is not acknowledged yet now instead
      // of at the next retry (up to 10 min away), as Mesos's agent does.
      ctx.updates.resume();
      return;
    }
    case 'CHECKPOINT_RESOURCES': {
      let next: Resources;
      try {
        next = toResources(msg.resources);
        applyCheckpointed(ctx.options.resources, next);
      } catch (e) {
        ctx.log.error({ err: describeError(e) }, 'CHECKPOINT_RESOURCES refused');
        return;
      }
      await checkpointResources(ctx.options.paths, ctx.checkpointed, next, ctx.log);
      ctx.checkpointed = next;
      ctx.log.info({ resources: next.toString() }, 'checkpointed resources');
      return;
    }
    case 'SHUTDOWN':
      ctx.log.warn({ message: msg.message }, 'the master told this agent to shut down; killing every task and registering anew');
      for (const fwId of Array.from(ctx.frameworks.keys())) await ctx.shutdownFramework(fwId);
      ctx.id = undefined;
      return;
  }
}

async function registered(ctx: AgentContext, agentId: string, masterId: string): Promise<void> {
  const first = ctx.id === undefined;
  ctx.id = agentId;
  ctx.masterId = masterId;
  if (first) {
    await writeJsonAtomic(ctx.options.paths.agentInfoFile(agentId), ctx.agentInfo());
    await replaceSymlink(agentId, ctx.options.paths.latestAgentLink());
    ctx.metrics.inc('slave/registered');
  }
  ctx.log.info({ agentId, masterId }, first ? 'registered with the master' : 're-registered with the master');
  ctx.updates.resume();
  // The oversubscription loops start once registered (after recovery); a new master learns
  // the last oversubscribed total at once.
  ctx.oversubscription.registered();
  ctx.oversubscription.start();
}

/**
 * A task as the re-registration reports it: without its `data` (nor its executor's, which the
 * executor record carries). The master keeps no task data; sending it could only make the
 * re-registration too large for the master to read, and every task on the agent lost with it.
 */
function withoutData(task: TaskInfo): TaskInfo {
  const { data: _, executor, ...rest } = task;
  if (executor === undefined) return rest;
  const { data: __, ...ex } = executor;
  return { ...rest, executor: ex };
}

/** A status as the re-registration reports it: the master keeps no status `data` (the framework gets it with the update itself). */
function statusWithoutData(status: TaskStatus): TaskStatus {
  const { data: _, ...rest } = status;
  return rest;
}
