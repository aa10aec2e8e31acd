/**
 * The domain side of the v1 executor API: which calls a custom executor may make, its
 * SUBSCRIBE (its event stream), UPDATE, MESSAGE and HEARTBEAT, and the end of its stream.
 * A refused call is an ExecutorRefusal with a stable code (errors.ts); lib/agent/http/ answers
 * it with an HTTP status.
 */
import type { Sink } from '../common/sink.ts';
import type { ExecutorCall, ExecutorEvent } from '../proto/messages.ts';
import type { AgentContext } from './context.ts';
import { ExecutorRefusal } from './errors.ts';
import { launchOnExecutor } from './executors.ts';

/** Check an executor call's framework and executor: an ExecutorRefusal when the call may not go on. */
export function checkExecutorCall(ctx: AgentContext, call: ExecutorCall): void {
  const fw = ctx.frameworks.get(call.frameworkId);
  if (!fw) throw new ExecutorRefusal('FRAMEWORK_NOT_FOUND', 'Framework cannot be found');
  const ex = fw.executors.get(call.executorId);
  if (!ex || ex.isCommand) throw new ExecutorRefusal('EXECUTOR_NOT_FOUND', 'Executor cannot be found');
  if (call.type !== 'SUBSCRIBE' && call.type !== 'HEARTBEAT' && ex.state === 'REGISTERING') {
    throw new ExecutorRefusal('EXECUTOR_NOT_SUBSCRIBED', 'Executor is not subscribed');
  }
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

/** UPDATE, MESSAGE or HEARTBEAT from a subscribed executor. An invalid UPDATE is an ExecutorRefusal (INVALID) saying why. */
export async function executorCall(ctx: AgentContext, call: Exclude<ExecutorCall, { type: 'SUBSCRIBE' }>): Promise<void> {
  const fw = ctx.frameworks.get(call.frameworkId)!;
  const ex = fw.executors.get(call.executorId)!;
  switch (call.type) {
    case 'HEARTBEAT':
      return;
    case 'MESSAGE':
      ctx.send({ type: 'EXECUTOR_MESSAGE', frameworkId: fw.id, executorId: ex.id, data: call.message.data });
      return;
    case 'UPDATE': {
      const s = call.update.status;
      const invalid = (why: string): ExecutorRefusal => new ExecutorRefusal('INVALID', why);
      if (s.uuid === undefined) throw invalid("Expecting 'uuid' to be present");
      if (Buffer.from(s.uuid, 'base64').length !== 16) throw invalid(`Invalid status update uuid '${s.uuid}'`);
      if (s.executorId !== undefined && s.executorId !== ex.id)
        throw invalid(`ExecutorID in Call: ${ex.id} does not match ExecutorID in TaskStatus: ${s.executorId}`);
      if (s.source !== 'SOURCE_EXECUTOR') throw invalid('Received Call from executor with invalid source');
      if (s.state === 'TASK_STAGING') throw invalid('Received TASK_STAGING from executor which is not allowed');
      const task = ex.tasks.get(s.taskId);
      await ctx.handleUpdate(fw, ex, task, { ...s, executorId: ex.id });
      if (ex.sink && !ex.sink.closed) ex.sink.send({ type: 'ACKNOWLEDGED', acknowledged: { taskId: s.taskId, uuid: s.uuid } });
      return;
    }
  }
}

/** The executor's stream closed. */
export function executorDisconnected(ctx: AgentContext, frameworkId: string, executorId: string, sink: Sink<ExecutorEvent>): void {
  const ex = ctx.frameworks.get(frameworkId)?.executors.get(executorId);
  if (ex && ex.sink === sink) ex.sink = undefined;
}
