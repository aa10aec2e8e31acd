/**
 * What the master checks in a framework's LAUNCH before it commits resources, as Mesos does, and
 * in a resource operation. A check that fails throws a MasterRefusal (INVALID) whose message is
 * the reason (a task then gets TASK_ERROR with it).
 */
import { decodeHealthCheck } from '../proto/health_check.ts';
import { ValidationError, describeError } from '../common/errors.ts';
import { checkId } from '../common/ids.ts';
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
import { MasterRefusal, refusedAs } from './errors.ts';

/** Validate submitted resources into a collection; a MasterRefusal (INVALID) says why they are invalid. */
export function checkResources(list: readonly ResourceInput[], what: string): Resources {
  const out: Resource[] = [];
  try {
    list.forEach((input, i) => {
      const r = validateResource(input, `${what}[${i}]`);
      validateSubmittedResource(r, `${what}[${i}]`);
      out.push(r);
    });
  } catch (e) {
    throw new MasterRefusal('INVALID', e instanceof ValidationError ? e.message : describeError(e));
  }
  const res = Resources.of(out);
  // Revocable and non-revocable resources of one name must not be mixed.
  const revocable = new Set(res.revocable().names());
  for (const name of res.nonRevocable().names()) {
    if (revocable.has(name)) throw new MasterRefusal('INVALID', `${what}: mixes revocable and non-revocable '${name}'`);
  }
  // Persistence ids must be unique.
  const ids = new Set<string>();
  for (const v of res.persistentVolumes()) {
    const id = v.disk!.persistence!.id;
    if (ids.has(id)) throw new MasterRefusal('INVALID', `${what}: duplicate persistence id '${id}'`);
    ids.add(id);
  }
  return res;
}

function invalid(why: string): MasterRefusal {
  return new MasterRefusal('INVALID', why);
}

/** checkResources, its refusal worded `${wording}: ${reason}`. */
function checkResourcesAs(list: readonly ResourceInput[], what: string, wording: string): Resources {
  try {
    return checkResources(list, what);
  } catch (e) {
    throw e instanceof MasterRefusal ? new MasterRefusal(e.code, `${wording}: ${e.message}`) : e;
  }
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
 * Throw a ValidationError naming `field` when `name` cannot be a user name. The agent looks users
 * up by name (getpwnam): a name that is empty, all digits (which some lookups take as a uid: "0"
 * is root), or holds white space, ':', '/' or a control character names no user, and is refused
 * here rather than on an agent.
 */
export function checkUserName(name: string, field: string): void {
  if (name === '') throw new ValidationError(field, 'a user name cannot be empty');
  if (/^[0-9]+$/.test(name)) throw new ValidationError(field, 'a user name cannot be all digits (it is not a uid)');
  if (/[\s:/\x00-\x1f\x7f]/.test(name)) throw new ValidationError(field, "a user name cannot contain white space, ':', '/' or control characters");
  if (name.startsWith('-')) throw new ValidationError(field, "a user name cannot start with '-'");
}

/** Validate one task of a LAUNCH: its resources, or a MasterRefusal (INVALID) whose message is why it is invalid. */
export function validateTask(task: TaskInfo, ctx: LaunchContext): ValidTask {
  try {
    checkId(task.taskId, 'task_id');
  } catch (e) {
    throw refusedAs(e, `Task ID '${task.taskId}' is invalid`);
  }
  if (ctx.taskIdInUse(task.taskId)) throw invalid(`Task has duplicate ID: ${task.taskId}`);
  if (task.agentId !== ctx.agentId) {
    throw invalid(`Task uses invalid agent ${task.agentId} (the offers are for agent ${ctx.agentId})`);
  }
  if ((task.command === undefined) === (task.executor === undefined)) {
    throw invalid('Task should have at least one (but not both) of CommandInfo or ExecutorInfo present');
  }
  if (negative(task.killPolicy?.gracePeriodNs)) throw invalid('Task kill policy grace period must be non-negative');
  if (task.healthCheck !== undefined) {
    try {
      decodeHealthCheck(task.healthCheck);
    } catch (e) {
      throw refusedAs(e, 'Task uses invalid health check');
    }
  }
  for (const [field, user] of [
    ['command.user', task.command?.user],
    ['executor.command.user', task.executor?.command?.user],
  ] as const) {
    if (user === undefined) continue;
    try {
      checkUserName(user, field);
    } catch (e) {
      throw refusedAs(e, `Invalid ${field} '${user}'`);
    }
  }
  for (const v of [...(task.command?.environment?.variables ?? []), ...(task.executor?.command?.environment?.variables ?? [])]) {
    if (v.value === undefined) throw invalid(`Environment variable '${v.name}' of type 'VALUE' must have a value set`);
  }
  if (ctx.frameworkCheckpoints && !ctx.agentCheckpoints) {
    throw invalid(`Task asked to be checkpointed but agent ${ctx.agentId} has checkpointing disabled`);
  }
  const resources = checkResourcesAs(task.resources, 'task.resources', 'Task uses invalid resources');
  if (resources.isEmpty()) throw invalid('Task uses no resources');

  let executorResources = Resources.EMPTY;
  const ex = task.executor;
  if (ex) {
    try {
      checkId(ex.executorId, 'executor_id');
    } catch (e) {
      throw refusedAs(e, `Executor ID '${ex.executorId}' is invalid`);
    }
    if (ex.frameworkId !== undefined && ex.frameworkId !== ctx.frameworkId) {
      throw invalid(`ExecutorInfo has an invalid FrameworkID (Actual: ${ex.frameworkId} vs Expected: ${ctx.frameworkId})`);
    }
    if (negative(ex.shutdownGracePeriodNs)) throw invalid('ExecutorInfo shutdown grace period must be non-negative');
    const exRes = checkResourcesAs(ex.resources, 'executor.resources', 'Executor uses invalid resources');
    const known = ctx.knownExecutor(ex.executorId);
    if (known) {
      const normalized = { ...ex, frameworkId: ex.frameworkId ?? ctx.frameworkId };
      const knownNorm = { ...known, frameworkId: known.frameworkId ?? ctx.frameworkId };
      if (!sameExecutor(normalized, knownNorm)) {
        throw invalid(`ExecutorInfo is not compatible with the ExecutorInfo of the running executor '${ex.executorId}'`);
      }
    } else {
      executorResources = exRes;
    }
    const all = resources.plus(executorResources);
    const revocable = new Set(all.revocable().names());
    for (const name of all.nonRevocable().names()) {
      if (revocable.has(name)) throw invalid(`Task and executor mix revocable and non-revocable '${name}'`);
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
 * does against what it has). Returns the conversion; a MasterRefusal (INVALID) says why the
 * operation is invalid.
 */
export function validateResourceOperation(type: ResourceOperationType, list: readonly ResourceInput[], ctx: ResourceOperationContext): ResourceConversion {
  const field = type === 'RESERVE' || type === 'UNRESERVE' ? 'resources' : 'volumes';
  const bad = (why: string): MasterRefusal => invalid(`Invalid ${type} operation: ${why}`);
  if (list.length === 0) throw bad(`no ${field} given`);
  const res = checkResourcesAs(list, `${type.toLowerCase()}.${field}`, `Invalid ${type} operation`);
  switch (type) {
    case 'RESERVE': {
      for (const r of res) {
        if (r.reservation === undefined) throw bad(`'${r.name}' is not dynamically reserved`);
        if (r.disk?.persistence !== undefined) throw bad('a persistent volume cannot be reserved');
        if (r.revocable) throw bad('revocable resources cannot be reserved');
        if (r.role === '*') throw bad("cannot reserve for role '*'");
        if (ctx.roles !== undefined && !ctx.roles.includes(r.role)) {
          throw bad(`role '${r.role}' of '${r.name}' is not one of the framework's roles (${ctx.roles.join(', ')})`);
        }
        if (ctx.principal !== undefined && r.reservation.principal !== ctx.principal) {
          throw bad(`the reservation's principal '${r.reservation.principal ?? ''}' does not match the principal '${ctx.principal}'`);
        }
      }
      return { type, from: res.flatten(), to: res };
    }
    case 'UNRESERVE': {
      for (const r of res) {
        if (r.reservation === undefined) throw bad(`'${r.name}' is not dynamically reserved`);
        if (r.disk?.persistence !== undefined) throw bad('a persistent volume cannot be unreserved: destroy the volume first');
      }
      return { type, from: res, to: res.flatten() };
    }
    case 'CREATE': {
      const seen = new Set<string>();
      for (const r of res) {
        const p = r.disk?.persistence;
        if (r.name !== 'disk' || p === undefined) throw bad(`'${r.name}' is not a persistent volume`);
        const key = `${r.role}\0${p.id}`;
        if (seen.has(key)) throw bad(`duplicate persistence id '${p.id}' for role '${r.role}'`);
        seen.add(key);
        for (const v of ctx.checkpointed.persistentVolumes()) {
          if (v.role === r.role && v.disk!.persistence!.id === p.id) {
            throw bad(`persistence id '${p.id}' is already in use by role '${r.role}' on the agent`);
          }
        }
        if (ctx.roles !== undefined && !ctx.roles.includes(r.role)) {
          throw bad(`role '${r.role}' of the volume is not one of the framework's roles (${ctx.roles.join(', ')})`);
        }
        if (ctx.principal !== undefined && p.principal !== ctx.principal) {
          throw bad(`the volume's principal '${p.principal ?? ''}' does not match the principal '${ctx.principal}'`);
        }
      }
      return { type, from: Resources.of(res.toArray().map(stripVolume)), to: res };
    }
    case 'DESTROY': {
      for (const r of res) {
        const p = r.disk?.persistence;
        if (r.name !== 'disk' || p === undefined) throw bad(`'${r.name}' is not a persistent volume`);
      }
      if (!ctx.checkpointed.contains(res)) throw bad('Persistent volumes not found');
      for (const r of res) {
        if (ctx.volumeInUse(r.role, r.disk!.persistence!.id)) throw bad(`Persistent volumes in use: '${r.disk!.persistence!.id}' of role '${r.role}'`);
      }
      return { type, from: res, to: Resources.of(res.toArray().map(stripVolume)) };
    }
  }
}
