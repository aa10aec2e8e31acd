/**
 * Framework rate limiting (`--rate_limits`), as Mesos's master does it: a limit per principal
 * (all frameworks of that principal together), and one aggregate limit shared by every framework
 * whose principal is not listed. A limited call waits for its turn (one every 1/qps seconds, no
 * bursts); when `capacity` calls of that limiter are already waiting, the next is refused at once
 * (Mesos answers a driver's message over capacity with an error; Corral answers the HTTP call
 * 429). A listed principal without `qps` is not limited.
 *
 * Mesos limits the messages of its scheduler driver; Corral has only the v1 HTTP API, so it
 * limits its calls: every scheduler call, SUBSCRIBE included (the principal of a SUBSCRIBE is
 * its FrameworkInfo's; of any other call, its framework's).
 */
import type { Clock } from '../common/clock.ts';
import { ValidationError } from '../common/errors.ts';
import { readFlagText } from '../transport/index.ts';
import { MasterRefusal } from './errors.ts';

export interface RateLimit {
  readonly principal: string;
  /** Calls per second; absent: not limited. */
  readonly qps?: number;
  /** How many calls may wait; absent: any number. */
  readonly capacity?: number;
}

/** `--rate_limits`: Mesos's RateLimits message in its JSON form. */
export interface RateLimits {
  readonly limits: readonly RateLimit[];
  readonly aggregateDefaultQps?: number;
  readonly aggregateDefaultCapacity?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function positive(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ValidationError(field, `must be a positive number (got ${JSON.stringify(v)})`);
  return v;
}

function count(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new ValidationError(field, `must be a whole number of calls, 0 or more (got ${JSON.stringify(v)})`);
  return v;
}

/** Parse the JSON of `--rate_limits`; a ValidationError names the field and the reason. */
export function parseRateLimits(text: string): RateLimits {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ValidationError('rate_limits', `not JSON: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw new ValidationError('rate_limits', 'must be a JSON object {"limits": [...], "aggregate_default_qps": ...}');
  for (const k of Object.keys(json)) {
    if (!['limits', 'aggregate_default_qps', 'aggregate_default_capacity'].includes(k))
      throw new ValidationError(`rate_limits.${k}`, 'is not a field of RateLimits');
  }
  const list = json.limits ?? [];
  if (!Array.isArray(list)) throw new ValidationError('rate_limits.limits', 'must be an array');
  const seen = new Set<string>();
  const limits = list.map((l: unknown, i): RateLimit => {
    const at = `rate_limits.limits[${i}]`;
    if (!isObject(l)) throw new ValidationError(at, 'must be an object {"principal": ..., "qps": ..., "capacity": ...}');
    for (const k of Object.keys(l)) if (!['principal', 'qps', 'capacity'].includes(k)) throw new ValidationError(`${at}.${k}`, 'is not a field of RateLimit');
    if (typeof l.principal !== 'string' || l.principal === '') throw new ValidationError(`${at}.principal`, 'is required (a non-empty string)');
    if (seen.has(l.principal)) throw new ValidationError(`${at}.principal`, `'${l.principal}' is listed twice`);
    seen.add(l.principal);
    return {
      principal: l.principal,
      ...(l.qps === undefined ? {} : { qps: positive(l.qps, `${at}.qps`) }),
      ...(l.capacity === undefined ? {} : { capacity: count(l.capacity, `${at}.capacity`) }),
    };
  });
  return {
    limits,
    ...(json.aggregate_default_qps === undefined ? {} : { aggregateDefaultQps: positive(json.aggregate_default_qps, 'rate_limits.aggregate_default_qps') }),
    ...(json.aggregate_default_capacity === undefined
      ? {}
      : { aggregateDefaultCapacity: count(json.aggregate_default_capacity, 'rate_limits.aggregate_default_capacity') }),
  };
}

/** `--rate_limits=<JSON>` or a path to a file holding it. */
export function loadRateLimits(value: string): RateLimits {
  return parseRateLimits(readFlagText(value).text);
}

/** One limiter: a call every `intervalMs`, at most `capacity` waiting. */
class Limiter {
  /** When the next call may go. */
  private next = -Infinity;
  waiting = 0;
  constructor(
    readonly name: string,
    private readonly intervalMs: number,
    private readonly capacity: number | undefined,
    private readonly clock: Clock,
  ) {}

  /** undefined: go now; a promise: go when it resolves. A MasterRefusal (RATE_LIMITED) when too many wait. */
  acquire(call: string): Promise<void> | undefined {
    if (this.capacity !== undefined && this.waiting >= this.capacity) {
      throw new MasterRefusal(
        'RATE_LIMITED',
        `Call ${call} refused: ${this.waiting} calls of ${this.name} are already waiting, the capacity --rate_limits gives them`,
      );
    }
    const now = this.clock.now();
    if (this.waiting === 0 && now >= this.next) {
      this.next = now + this.intervalMs;
      return undefined;
    }
    const at = Math.max(this.next, now);
    this.next = at + this.intervalMs;
    this.waiting++;
    return new Promise((resolve) => {
      this.clock.setTimer(at - now, () => {
        this.waiting--;
        resolve();
      });
    });
  }
}

export class FrameworkRateLimiter {
  private readonly byPrincipal = new Map<string, Limiter | undefined>();
  private readonly aggregate: Limiter | undefined;

  constructor(limits: RateLimits, clock: Clock) {
    for (const l of limits.limits) {
      this.byPrincipal.set(l.principal, l.qps === undefined ? undefined : new Limiter(`principal '${l.principal}'`, 1000 / l.qps, l.capacity, clock));
    }
    if (limits.aggregateDefaultQps !== undefined) {
      this.aggregate = new Limiter('the frameworks without a limit of their own', 1000 / limits.aggregateDefaultQps, limits.aggregateDefaultCapacity, clock);
    }
  }

  /**
   * A call of `principal`'s (`call` names it in a refusal): undefined when it may be handled now,
   * else a promise of its turn. Throws a MasterRefusal (RATE_LIMITED) when its limiter is full.
   */
  admit(principal: string | undefined, call: string): Promise<void> | undefined {
    if (principal !== undefined && this.byPrincipal.has(principal)) return this.byPrincipal.get(principal)?.acquire(call);
    return this.aggregate?.acquire(call);
  }

  /** Whether the calls of `principal` are counted in frameworks/<principal>/messages_*. */
  lists(principal: string | undefined): principal is string {
    return principal !== undefined && this.byPrincipal.has(principal);
  }
}
