/**
 * The domain side of the v1 executor API: which calls a custom executor may make, its
 * SUBSCRIBE (its event stream), UPDATE, MESSAGE and HEARTBEAT, and the end of its stream.
 * Refusals carry a stable code; lib/agent/http/ answers them with HTTP statuses.
 */
import type { Sink } from '../common/sink.ts';
import type { ExecutorCall, ExecutorEvent } from '../proto/messages.ts';
import type { AgentContext } from './context.ts';
import { launchOnExecutor } from './executors.ts';

/** Why an executor call is refused: its framework or executor is unknown, or it has not subscribed. */
export const EXECUTOR_CALL_REFUSALS = ['FRAMEWORK_NOT_FOUND', 'EXECUTOR_NOT_FOUND', 'EXECUTOR_NOT_SUBSCRIBED'] as const;
export type ExecutorCallRefusal = (typeof EXECUTOR_CALL_REFUSALS)[number];

/** Whether an executor call may go on, or why not. */
export type ExecutorCallCheck = { ok: true } | { ok: false; code: ExecutorCallRefusal; message: string };

/** Check an executor call's framework and executor. */
export function checkExecutorCall(ctx: AgentContext, call: ExecutorCall): ExecutorCallCheck {
  const fw = ctx.frameworks.get(call.frameworkId);
  if (!fw) return { ok: false, code: 'FRAMEWORK_NOT_FOUND', message: 'Framework cannot be found' };
  const ex = fw.executors.get(call.executorId);
  if (!ex || ex.isCommand) return { ok: false, code: 'EXECUTOR_NOT_FOUND', message: 'Executor cannot be found' };
  if (call.type !== 'SUBSCRIBE' && call.type !== 'HEARTBEAT' && ex.state === 'REGISTERING') {
    return { ok: false, code: 'EXECUTOR_NOT_SUBSCRIBED', message: 'Executor is not subscribed' };
  }
  return { ok: true };
}

/** SUBSCRIBE from a custom executor: its stream is `sink`. */
export async function executorSubscribe(ctx: AgentContext, call: Extract<ExecutorCall, { type: 'SUBSCRIBE' }>, sink: Sink<ExecutorEvent>): Promise<void> {
  const fw = ctx.frameworks.get(call.frameworkId)!;
  const ex = fw.executors.get(call.executorId)!;
  if (ex.sink && ex.sink !== sink && !ex.sink.closed) ex.sink.close();
  if (ex.state === 'TERMINATING' || ex.state === 'TERMINATED') {
    sink.send({ type: 'SHUTDOWN' });
    sink.close();
    return;
  }
  ex.sink = sink;
  ex.state = 'RUNNING';
  ex.registrationTimer?.cancel();
  ex.registrationTimer = undefined;
  // Updates the executor sent before a disconnection and never saw acknowledged.
  for (const { status } of call.subscribe.unacknowledgedUpdates) {
    const task = ex.tasks.get(status.taskId);
    await ctx.handleUpdate(fw, ex, task, status);
  }
  sink.send({
    type: 'SUBSCRIBED',
    subscribed: { executorInfo: ex.info!, frameworkInfo: fw.info, agentInfo: ctx.agentInfo(), containerId: ex.containerId },
  });
  for (const task of Array.from(ex.queued.values())) {
    ex.queued.delete(task.taskId);
    launchOnExecutor(ex, task);
  }
}

/** UPDATE, MESSAGE or HEARTBEAT from a subscribed executor. Returns why an UPDATE is invalid, if it is. */
export async function executorCall(ctx: AgentContext, call: Exclude<ExecutorCall, { type: 'SUBSCRIBE' }>): Promise<string | undefined> {
  const fw = ctx.frameworks.get(call.frameworkId)!;
  const ex = fw.executors.get(call.executorId)!;
  switch (call.type) {
    case 'HEARTBEAT':
      return undefined;
    case 'MESSAGE':
      ctx.send({ type: 'EXECUTOR_MESSAGE', frameworkId: fw.id, executorId: ex.id, data: call.message.data });
      return undefined;
    case 'UPDATE': {
      const s = call.update.status;
      if (s.uuid === undefined) return "Expecting 'uuid' to be present";
      if (Buffer.from(s.uuid, 'base64').length !== 16) return `Invalid status update uuid '${s.uuid}'`;
      if (s.executorId !== undefined && s.executorId !== ex.id) return `ExecutorID in Call: ${ex.id} does not match ExecutorID in TaskStatus: ${s.executorId}`;
      if (s.source !== 'SOURCE_EXECUTOR') return 'Received Call from executor with invalid source';
      if (s.state === 'TASK_STAGING') return 'Received TASK_STAGING from executor which is not allowed';
      const task = ex.tasks.get(s.taskId);
      await ctx.handleUpdate(fw, ex, task, { ...s, executorId: ex.id });
      if (ex.sink && !ex.sink.closed) ex.sink.send({ type: 'ACKNOWLEDGED', acknowledged: { taskId: s.taskId, uuid: s.uuid } });
      return undefined;
    }
  }
}

/** The executor's stream closed. */
export function executorDisconnected(ctx: AgentContext, frameworkId: string, executorId: string, sink: Sink<ExecutorEvent>): void {
  const ex = ctx.frameworks.get(frameworkId)?.executors.get(executorId);
  if (ex && ex.sink === sink) ex.sink = undefined;
}
