/**
 * What the master checks in a framework's LAUNCH before it commits resources (spec §5.4). Each
 * check returns the reason a task is invalid (it then gets TASK_ERROR), or undefined.
 */
import { ValidationError, describeError } from '../common/errors.ts';
import { idProblem } from '../common/ids.ts';
import { type Resource, type ResourceInput, Resources, validateResource, validateSubmittedResource } from '../common/resources/index.ts';
import type { ExecutorInfo, TaskInfo } from '../proto/messages.ts';

/** Validate submitted resources into a collection, or say why they are invalid. */
export function checkResources(list: readonly ResourceInput[], what: string): Resources | string {
  const out: Resource[] = [];
  try {
    list.forEach((input, i) => {
      const r = validateResource(input, `${what}[${i}]`);
      validateSubmittedResource(r, `${what}[${i}]`);
      out.push(r);
    });
  } catch (e) {
    return e instanceof ValidationError ? e.message : describeError(e);
  }
  const res = Resources.of(out);
  // Revocable and non-revocable resources of one name must not be mixed.
  const revocable = new Set(res.revocable().names());
  for (const name of res.nonRevocable().names()) {
    if (revocable.has(name)) return `${what}: mixes revocable and non-revocable '${name}'`;
  }
  // Persistence ids must be unique.
  const ids = new Set<string>();
  for (const v of res.persistentVolumes()) {
    const id = v.disk!.persistence!.id;
    if (ids.has(id)) return `${what}: duplicate persistence id '${id}'`;
    ids.add(id);
  }
  return res;
}

export interface LaunchContext {
  readonly frameworkId: string;
  readonly agentId: string;
  /** Is the task id already used by a live task of this framework? */
  readonly taskIdInUse: (taskId: string) => boolean;
  /** The ExecutorInfo already running on the agent under this id, if any. */
  readonly knownExecutor: (executorId: string) => ExecutorInfo | undefined;
  readonly frameworkCheckpoints: boolean;
  readonly agentCheckpoints: boolean;
}

export interface ValidTask {
  readonly resources: Resources;
  /** Resources of the executor when it is new on the agent (charged once). */
  readonly executorResources: Resources;
}

function sameExecutor(a: ExecutorInfo, b: ExecutorInfo): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function negative(ns: number | undefined): boolean {
  return ns !== undefined && ns < 0;
}

/** Validate one task of a LAUNCH. Returns the reason it is invalid, or its resources. */
export function validateTask(task: TaskInfo, ctx: LaunchContext): ValidTask | string {
  const idBad = idProblem(task.taskId);
  if (idBad) return `Task ID '${task.taskId}' is invalid: ${idBad}`;
  if (ctx.taskIdInUse(task.taskId)) return `Task has duplicate ID: ${task.taskId}`;
  if (task.agentId !== ctx.agentId) {
    return `Task uses invalid agent ${task.agentId} (the offers are for agent ${ctx.agentId})`;
  }
  if ((task.command === undefined) === (task.executor === undefined)) {
    return 'Task should have at least one (but not both) of CommandInfo or ExecutorInfo present';
  }
  if (negative(task.killPolicy?.gracePeriodNs)) return 'Task kill policy grace period must be non-negative';
  for (const v of [...(task.command?.environment?.variables ?? []), ...(task.executor?.command?.environment?.variables ?? [])]) {
    if (v.value === undefined) return `Environment variable '${v.name}' of type 'VALUE' must have a value set`;
  }
  if (ctx.frameworkCheckpoints && !ctx.agentCheckpoints) {
    return `Task asked to be checkpointed but agent ${ctx.agentId} has checkpointing disabled`;
  }
  const resources = checkResources(task.resources, 'task.resources');
  if (typeof resources === 'string') return `Task uses invalid resources: ${resources}`;
  if (resources.isEmpty()) return 'Task uses no resources';

  let executorResources = Resources.EMPTY;
  const ex = task.executor;
  if (ex) {
    const exBad = idProblem(ex.executorId);
    if (exBad) return `Executor ID '${ex.executorId}' is invalid: ${exBad}`;
    if (ex.frameworkId !== undefined && ex.frameworkId !== ctx.frameworkId) {
      return `ExecutorInfo has an invalid FrameworkID (Actual: ${ex.frameworkId} vs Expected: ${ctx.frameworkId})`;
    }
    if (negative(ex.shutdownGracePeriodNs)) return 'ExecutorInfo shutdown grace period must be non-negative';
    const exRes = checkResources(ex.resources, 'executor.resources');
    if (typeof exRes === 'string') return `Executor uses invalid resources: ${exRes}`;
    const known = ctx.knownExecutor(ex.executorId);
    if (known) {
      const normalized = { ...ex, frameworkId: ex.frameworkId ?? ctx.frameworkId };
      const knownNorm = { ...known, frameworkId: known.frameworkId ?? ctx.frameworkId };
      if (!sameExecutor(normalized, knownNorm)) {
        return `ExecutorInfo is not compatible with the ExecutorInfo of the running executor '${ex.executorId}'`;
      }
    } else {
      executorResources = exRes;
    }
    const all = resources.plus(executorResources);
    const revocable = new Set(all.revocable().names());
    for (const name of all.nonRevocable().names()) {
      if (revocable.has(name)) return `Task and executor mix revocable and non-revocable '${name}'`;
    }
  }
  return { resources, executorResources };
}
