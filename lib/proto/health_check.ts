/**
 * `TaskInfo.health_check` (Mesos's HealthCheck) decoded from its v1 JSON and checked as Mesos's
 * master checks it: the typed form the agent's checker runs, or a ValidationError whose `reason`
 * is Mesos's wording (the master puts it after "Task uses invalid health check: "). A check
 * without `type` gets one as Mesos 1.1+ gives it: COMMAND when only `command` is set, HTTP when
 * only `http` is.
 */
import { ValidationError } from '../common/errors.ts';
import type { Passthrough } from './messages.ts';

export type HealthCheckType = 'COMMAND' | 'HTTP' | 'TCP';

export interface HealthCheckCommand {
  readonly shell: boolean;
  readonly value: string;
  readonly arguments: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
}

export interface HealthCheck {
  readonly type: HealthCheckType;
  readonly command?: HealthCheckCommand;
  readonly http?: { readonly scheme: 'http' | 'https'; readonly port: number; readonly path?: string; readonly ipv6: boolean };
  readonly tcp?: { readonly port: number };
  readonly delaySeconds: number;
  readonly intervalSeconds: number;
  /** 0: no timeout. */
  readonly timeoutSeconds: number;
  readonly consecutiveFailures: number;
  readonly gracePeriodSeconds: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const bad = (field: string, reason: string): ValidationError => new ValidationError(`health_check.${field}`, reason);

function seconds(j: Record<string, unknown>, field: string, dflt: number): number {
  const v = j[field];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(field, `Expecting '${field}' to be a number`);
  if (v < 0) throw bad(field, `Expecting '${field}' to be non-negative`);
  return v;
}

function port(j: Record<string, unknown>, what: string): number {
  const p = j.port;
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw bad(`${what}.port`, `Expecting '${what}.port' to be a port number (1-65535)`);
  return p;
}

/** Decode and check a TaskInfo.health_check; throws a ValidationError with Mesos's reason. */
export function decodeHealthCheck(j: Passthrough): HealthCheck {
  let type = j.type;
  if (type === undefined) {
    if (j.command !== undefined && j.http === undefined) type = 'COMMAND';
    else if (j.http !== undefined && j.command === undefined) type = 'HTTP';
    else throw bad('type', "HealthCheck must specify 'type'");
  }
  if (type === 'UNKNOWN' || type === 0) throw bad('type', "'UNKNOWN' is not a valid health check type");
  if (type !== 'COMMAND' && type !== 'HTTP' && type !== 'TCP') throw bad('type', `'${String(type)}' is not a valid health check type`);
  const common = {
    type,
    delaySeconds: seconds(j, 'delay_seconds', 15),
    intervalSeconds: seconds(j, 'interval_seconds', 10),
    timeoutSeconds: seconds(j, 'timeout_seconds', 20),
    gracePeriodSeconds: seconds(j, 'grace_period_seconds', 10),
    consecutiveFailures: ((): number => {
      const v = j.consecutive_failures;
      if (v === undefined) return 3;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
        throw bad('consecutive_failures', "Expecting 'consecutive_failures' to be a non-negative integer");
      return v;
    })(),
  } as const;
  if (type === 'COMMAND') {
    const c = j.command;
    if (!isObject(c)) throw bad('command', "Expecting 'command' to be set for COMMAND health check");
    const shell = c.shell === undefined ? true : c.shell === true;
    if (typeof c.value !== 'string' || c.value === '') {
      throw bad('command.value', shell ? "Command health check must contain 'shell command'" : "Command health check must contain 'executable path'");
    }
    const args = Array.isArray(c.arguments) ? c.arguments.filter((a): a is string => typeof a === 'string') : [];
    const environment: Record<string, string> = {};
    const vars = isObject(c.environment) && Array.isArray(c.environment.variables) ? c.environment.variables : [];
    for (const v of vars) {
      if (!isObject(v) || typeof v.name !== 'string')
        throw bad('command.environment', "Health check's `CommandInfo` is invalid: an environment variable has no name");
      if (typeof v.value !== 'string')
        throw bad('command.environment', `Health check's \`CommandInfo\` is invalid: environment variable '${v.name}' of type 'VALUE' must have a value set`);
      environment[v.name] = v.value;
    }
    return { ...common, command: { shell, value: c.value, arguments: args, environment } };
  }
  if (type === 'HTTP') {
    const h = j.http;
    if (!isObject(h)) throw bad('http', "Expecting 'http' to be set for HTTP health check");
    const scheme = h.scheme === undefined ? 'http' : h.scheme;
    if (scheme !== 'http' && scheme !== 'https') throw bad('http.scheme', `Unsupported HTTP health check scheme: '${String(scheme)}'`);
    if (h.path !== undefined && (typeof h.path !== 'string' || !h.path.startsWith('/'))) {
      throw bad('http.path', `The path '${String(h.path)}' of HTTP health check must start with '/'`);
    }
    const ipv6 = h.protocol === 'IPv6' || h.protocol === 2;
    return { ...common, http: { scheme, port: port(h, 'http'), ...(typeof h.path === 'string' ? { path: h.path } : {}), ipv6 } };
  }
  const t = j.tcp;
  if (!isObject(t)) throw bad('tcp', "Expecting 'tcp' to be set for TCP health check");
  return { ...common, tcp: { port: port(t, 'tcp') } };
}
