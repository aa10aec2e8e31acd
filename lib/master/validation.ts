/**
 * What the master checks in a framework's LAUNCH before it commits resources, as Mesos does. Each
 * check returns the reason a task is invalid (it then gets TASK_ERROR), or undefined.
 */
import { ValidationError, describeError } from '../common/errors.ts';
import { idProblem } from '../common/ids.ts';
import {
  type Resource,
  type ResourceInput,
  Resources,
  checkpointedOf,
  plainOf,
  stripVolume,
  validateResource,
  validateSubmittedResource,
} from '../common/resources/index.ts';
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

/**
 * Why `name` cannot be a user name, or undefined. The agent looks users up by name (getpwnam):
 * a name that is empty, all digits (which some lookups take as a uid: "0" is root), or holds
 * white space, ':', '/' or a control character names no user, and is refused here rather than
 * on an agent.
 */
export function userNameProblem(name: string): string | undefined {
  if (name === '') return 'a user name cannot be empty';
  if (/^[0-9]+$/.test(name)) return 'a user name cannot be all digits (it is not a uid)';
  if (/[\s:/\x00-\x1f\x7f]/.test(name)) return "a user name cannot contain white space, ':', '/' or control characters";
  if (name.startsWith('-')) return "a user name cannot start with '-'";
  return undefined;
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
  for (const [field, user] of [
    ['command.user', task.command?.user],
    ['executor.command.user', task.executor?.command?.user],
  ] as const) {
    const userBad = user === undefined ? undefined : userNameProblem(user);
    if (userBad) return `Invalid ${field} '${user}': ${userBad}`;
  }
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

// ---------------------------------------------------------------------------------------------
// RESERVE, UNRESERVE, CREATE, DESTROY

export type ResourceOperationType = 'RESERVE' | 'UNRESERVE' | 'CREATE' | 'DESTROY';

/** A valid resource operation as a relabelling: `from` leaves the pool and `to` enters it. */
export interface ResourceConversion {
  readonly type: ResourceOperationType;
  readonly from: Resources;
  readonly to: Resources;
}

export interface ResourceOperationContext {
  /** The framework's (or the HTTP caller's) principal, if any. */
  readonly principal?: string;
  /** The framework's roles; undefined for the operator endpoints (any role but `*`). */
  readonly roles?: readonly string[];
  /** The agent's checkpointed resources (dynamic reservations and volumes). */
  readonly checkpointed: Resources;
  /** Is the volume `role`/`id` used by a task or executor on the agent? */
  readonly volumeInUse: (role: string, id: string) => boolean;
}

/** The resources an agent's total is built on: every checkpointed entry back to its plain form. */
export function unapplyCheckpointed(total: Resources): Resources {
  let out = total.filter((r) => r.reservation === undefined && r.disk?.persistence === undefined);
  for (const r of checkpointedOf(total)) out = out.plus(plainOf(r));
  return out;
}

/**
 * Validate a RESERVE/UNRESERVE/CREATE/DESTROY (everything but the pool check, which the caller
 * does against what it has). Returns the conversion or why the operation is invalid.
 */
export function validateResourceOperation(
  type: ResourceOperationType,
  list: readonly ResourceInput[],
  ctx: ResourceOperationContext,
): ResourceConversion | string {
  const field = type === 'RESERVE' || type === 'UNRESERVE' ? 'resources' : 'volumes';
  if (list.length === 0) return `Invalid ${type} operation: no ${field} given`;
  const res = checkResources(list, `${type.toLowerCase()}.${field}`);
  if (typeof res === 'string') return `Invalid ${type} operation: ${res}`;
  const bad = (why: string) => `Invalid ${type} operation: ${why}`;
  switch (type) {
    case 'RESERVE': {
      for (const r of res) {
        if (r.reservation === undefined) return bad(`'${r.name}' is not dynamically reserved`);
        if (r.disk?.persistence !== undefined) return bad('a persistent volume cannot be reserved');
        if (r.revocable) return bad('revocable resources cannot be reserved');
        if (r.role === '*') return bad("cannot reserve for role '*'");
        if (ctx.roles !== undefined && !ctx.roles.includes(r.role)) {
          return bad(`role '${r.role}' of '${r.name}' is not one of the framework's roles (${ctx.roles.join(', ')})`);
        }
        if (ctx.principal !== undefined && r.reservation.principal !== ctx.principal) {
          return bad(`the reservation's principal '${r.reservation.principal ?? ''}' does not match the principal '${ctx.principal}'`);
        }
      }
      return { type, from: res.flatten(), to: res };
    }
    case 'UNRESERVE': {
      for (const r of res) {
        if (r.reservation === undefined) return bad(`'${r.name}' is not dynamically reserved`);
        if (r.disk?.persistence !== undefined) return bad('a persistent volume cannot be unreserved: destroy the volume first');
      }
      return { type, from: res, to: res.flatten() };
    }
    case 'CREATE': {
      const seen = new Set<string>();
      for (const r of res) {
        const p = r.disk?.persistence;
        if (r.name !== 'disk' || p === undefined) return bad(`'${r.name}' is not a persistent volume`);
        const key = `${r.role}\0${p.id}`;
        if (seen.has(key)) return bad(`duplicate persistence id '${p.id}' for role '${r.role}'`);
        seen.add(key);
        for (const v of ctx.checkpointed.persistentVolumes()) {
          if (v.role === r.role && v.disk!.persistence!.id === p.id) {
            return bad(`persistence id '${p.id}' is already in use by role '${r.role}' on the agent`);
          }
        }
        if (ctx.roles !== undefined && !ctx.roles.includes(r.role)) {
          return bad(`role '${r.role}' of the volume is not one of the framework's roles (${ctx.roles.join(', ')})`);
        }
        if (ctx.principal !== undefined && p.principal !== ctx.principal) {
          return bad(`the volume's principal '${p.principal ?? ''}' does not match the principal '${ctx.principal}'`);
        }
      }
      return { type, from: Resources.of(res.toArray().map(stripVolume)), to: res };
    }
    case 'DESTROY': {
      for (const r of res) {
        const p = r.disk?.persistence;
        if (r.name !== 'disk' || p === undefined) return bad(`'${r.name}' is not a persistent volume`);
      }
      if (!ctx.checkpointed.contains(res)) return bad('Persistent volumes not found');
      for (const r of res) {
        if (ctx.volumeInUse(r.role, r.disk!.persistence!.id)) return bad(`Persistent volumes in use: '${r.disk!.persistence!.id}' of role '${r.role}'`);
      }
      return { type, from: res, to: Resources.of(res.toArray().map(stripVolume)) };
    }
  }
}
