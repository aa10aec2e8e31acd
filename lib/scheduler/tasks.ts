/** Tasks and offers in a framework author's words: what `SchedulerClient.launch` takes, and what an offer holds. */
import { randomUUID } from 'node:crypto';
import { ValidationError } from '../common/errors.ts';
import { Resources, parseResourcesText, type ResourceInput } from '../common/resources/index.ts';
import type { CommandInfo, ExecutorInfo, KillPolicy, Offer, TaskInfo, Uri } from '../proto/messages.ts';

/** A command: a shell line, or the full form. */
export interface CommandSpec {
  /** The command line (with `shell`, default true) or the executable (with `arguments`). */
  readonly value: string;
  readonly shell?: boolean;
  readonly arguments?: readonly string[];
  /** Variables set for the command. */
  readonly environment?: Readonly<Record<string, string>>;
  /** URIs the agent fetches into the sandbox first. */
  readonly uris?: readonly (string | Uri)[];
  /** The user it runs as (default: the framework's). */
  readonly user?: string;
}

/** A custom executor that runs the task (v1 executor API; see `corral/executor`). */
export interface ExecutorSpec {
  readonly executorId: string;
  readonly command: string | CommandSpec;
  /** Its own resources (text like `cpus:0.1;mem:32`, or resource objects). */
  readonly resources?: string | readonly ResourceInput[] | Resources;
  readonly name?: string;
}

/** A task to launch: `SchedulerClient.launch` puts it on the offer's agent. */
export interface TaskSpec {
  readonly taskId: string;
  /** Default: the task id. */
  readonly name?: string;
  /** Text like `cpus:0.5;mem:128;ports:[31000-31000]`, resource objects, or a Resources. */
  readonly resources: string | readonly ResourceInput[] | Resources;
  /** Run this command (by the agent's command executor)… */
  readonly command?: string | CommandSpec;
  /** …or hand the task to this executor. */
  readonly executor?: ExecutorSpec;
  /** Bytes for the executor (TaskInfo.data). */
  readonly data?: string | Uint8Array;
  readonly labels?: Readonly<Record<string, string>>;
  readonly killPolicy?: KillPolicy;
  /** Mesos's HealthCheck in its v1 JSON (`{ type: 'HTTP', http: { port: 8080 }, … }`), run by the agent for a command task. */
  readonly healthCheck?: Readonly<Record<string, unknown>>;
}

function resourcesOf(r: unknown, field: string): ResourceInput[] {
  if (typeof r === 'string') return parseResourcesText(r).toArray();
  if (r instanceof Resources) return r.toArray();
  if (Array.isArray(r)) return r as ResourceInput[];
  throw new ValidationError(field, 'must be resource text (cpus:1;mem:128), an array of resources or a Resources');
}

function commandOf(c: unknown, field: string): CommandInfo {
  if (typeof c === 'string') {
    if (c.length === 0) throw new ValidationError(field, 'must not be empty');
    return { value: c, shell: true, uris: [], arguments: [] };
  }
  if (typeof c !== 'object' || c === null || typeof (c as CommandSpec).value !== 'string')
    throw new ValidationError(field, 'must be a command line or { value, … }');
  const s = c as CommandSpec;
  const env = s.environment;
  return {
    value: s.value,
    shell: s.shell ?? true,
    arguments: [...(s.arguments ?? [])],
    uris: (s.uris ?? []).map((u) => (typeof u === 'string' ? { value: u, extract: true } : u)),
    ...(env === undefined ? {} : { environment: { variables: Object.entries(env).map(([name, value]) => ({ name, value })) } }),
    ...(s.user === undefined ? {} : { user: s.user }),
  };
}

function executorOf(e: ExecutorSpec, field: string): ExecutorInfo {
  if (typeof e !== 'object' || e === null || typeof e.executorId !== 'string' || e.executorId === '')
    throw new ValidationError(`${field}.executorId`, 'must be a non-empty string');
  return {
    executorId: e.executorId,
    type: 'CUSTOM',
    command: commandOf(e.command, `${field}.command`),
    resources: e.resources === undefined ? [] : resourcesOf(e.resources, `${field}.resources`),
    ...(e.name === undefined ? {} : { name: e.name }),
  };
}

/** The TaskInfo of `t` on `agentId` (`field` names it in errors). */
export function toTaskInfo(t: TaskSpec, agentId: string, field = 'task'): TaskInfo {
  if (typeof t !== 'object' || t === null) throw new ValidationError(field, 'must be a task ({ taskId, resources, command | executor })');
  if (typeof t.taskId !== 'string' || t.taskId === '') throw new ValidationError(`${field}.taskId`, 'must be a non-empty string');
  if ((t.command === undefined) === (t.executor === undefined)) throw new ValidationError(field, 'needs exactly one of command and executor');
  const data = t.data === undefined ? undefined : Buffer.from(t.data).toString('base64');
  return {
    name: t.name ?? t.taskId,
    taskId: t.taskId,
    agentId,
    resources: resourcesOf(t.resources, `${field}.resources`),
    ...(t.command === undefined ? {} : { command: commandOf(t.command, `${field}.command`) }),
    ...(t.executor === undefined ? {} : { executor: executorOf(t.executor, `${field}.executor`) }),
    ...(data === undefined ? {} : { data }),
    ...(t.labels === undefined ? {} : { labels: { labels: Object.entries(t.labels).map(([key, value]) => ({ key, value })) } }),
    ...(t.killPolicy === undefined ? {} : { killPolicy: t.killPolicy }),
    ...(t.healthCheck === undefined ? {} : { healthCheck: { ...t.healthCheck } }),
  };
}

/** An offer's resources as a Resources (the algebra of `corral/resources`: contains, minus, scalar…). */
export function offerResources(offer: Offer): Resources {
  return Resources.of(offer.resources);
}

/** Does the offer hold `need` (resource text or a Resources)? */
export function offerFits(offer: Offer, need: string | Resources): boolean {
  return offerResources(offer).contains(typeof need === 'string' ? parseResourcesText(need) : need);
}

/** Omit over each member of a union. */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A fresh task id: `prefix-` and 12 random hex digits. */
export function newTaskId(prefix = 'task'): string {
  return `${prefix}-${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}
