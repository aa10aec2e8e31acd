/**
 * Flags the Mesos way: `--name=value` (booleans also `--name`, `--no-name`), or the
 * environment as `CORRAL_<NAME>` or, for migrations, `MESOS_<NAME>`. A value `file:///path` is
 * read from that file (the reader is passed in: common does no I/O). Every flag is declared once
 * in a table with its help text, default and parser; parsing yields a frozen object, or a
 * FlagError naming the flag and the reason.
 */
import { CorralError, describeError } from './errors.ts';

export class FlagError extends CorralError {
  /**
   * `source`: where the value came from when it was not the command line (a variable
   * `CORRAL_PORT`, or a flag file `/etc/corral/master/port:1`): the message names it first.
   */
  constructor(flag: string, reason: string, source?: string) {
    super('BAD_FLAG', source === undefined ? `--${flag}: ${reason}` : `${source} (--${flag}): ${reason}`, { field: `--${flag}` });
    this.name = 'FlagError';
  }
}

/** An error in a flag's source that names no flag: an unknown variable or flag file, a stray argument. */
export class FlagSourceError extends CorralError {
  constructor(source: string, reason: string) {
    super('BAD_FLAG', `${source}: ${reason}`, { field: source });
    this.name = 'FlagSourceError';
  }
}

/** The flag names closest to a misspelt one (at most 2 edits, a swap of two letters counting 1; or a prefix), as " (did you mean …?)". */
export function didYouMean(name: string, known: Iterable<string>): string {
  const distance = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        const row = d[i]!;
        row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
      }
    }
    return d[a.length]![b.length]!;
  };
  const n = name.toLowerCase();
  const scored = [...known]
    .map((k) => ({ k, d: distance(n, k) }))
    .filter(({ k, d }) => d <= (k.length <= 3 ? 1 : 2) || (n.length >= 4 && k.length >= 4 && (k.startsWith(n) || n.startsWith(k))))
    .sort((x, y) => x.d - y.d);
  return scored.length === 0
    ? ''
    : ` (did you mean ${scored
        .slice(0, 2)
        .map(({ k }) => k)
        .join(' or ')}?)`;
}

export interface FlagSpec<T> {
  readonly help: string;
  /** An empty value is refused unless this is set. */
  readonly allowEmpty?: boolean;
  /** The default; undefined = optional with no default (or required when `required`). */
  readonly default?: T;
  readonly required?: boolean;
  readonly boolean?: boolean;
  /** Text to value; throw an Error (its message becomes the reason) on bad input. */
  readonly parse: (text: string) => T;
  /** How the default prints in --help and in /flags. */
  readonly show?: (value: T) => string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type FlagTable = Record<string, FlagSpec<any>>;

/** A flag with no default that may be left unset: its value is `V | undefined`. */
export type OptionalFlag<T> = FlagSpec<T> & { readonly optional: true };

export type FlagValues<T extends FlagTable> = {
  readonly [K in keyof T]: T[K] extends OptionalFlag<infer V> ? V | undefined : T[K] extends FlagSpec<infer V> ? V : never;
};

export interface ParsedFlags<T extends FlagTable> {
  readonly values: FlagValues<T>;
  /** Every flag as text, as the `/flags` endpoints show them. */
  readonly text: Readonly<Record<string, string>>;
  /** Words that were not flags. */
  readonly rest: readonly string[];
  /** The files `file://` values were read from, by flag name. */
  readonly files: Readonly<Record<string, string>>;
  /** Unknown `MESOS_*` variables (with `knownEnv`), as warnings to log. */
  readonly warnings: readonly string[];
}

/** A value read from a flag file (`/etc/corral/agent/port`): where it came from, for errors. */
export interface FileFlag {
  readonly value: string;
  /** `path:line`. */
  readonly where: string;
}

export interface FlagSources {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Values from flag files (a config directory), by flag name: the command line and the
   * environment win over them. A name that is not a flag of the table is an error naming the file.
   */
  readonly files?: Readonly<Record<string, FileFlag>>;
  /**
   * Set to check the environment: a `CORRAL_<NAME>` variable whose name is neither a flag of this
   * table nor one of these (the other commands' flags and the variables Corral reads itself) is
   * an error, with a "did you mean"; an unknown `MESOS_<NAME>` is returned in `warnings`.
   */
  readonly knownEnv?: ReadonlySet<string>;
  /** Reads `file://` values. */
  readonly readFile?: (path: string) => string;
}

// ---------------------------------------------------------------------------------------------
// Parsers

export function parseBool(text: string): boolean {
  const t = text.trim().toLowerCase();
  if (t === 'true' || t === '1' || t === 'yes') return true;
  if (t === 'false' || t === '0' || t === 'no') return false;
  throw new Error(`'${text}' is not a boolean (true or false)`);
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  ms: 1,
  secs: 1000,
  mins: 60_000,
  hrs: 3_600_000,
  days: 86_400_000,
  weeks: 604_800_000,
};

/** The longest duration Mesos represents: 2^63-1 nanoseconds, in milliseconds. */
export const MAX_DURATION_MS = 2 ** 63 / 1e6;

/** A Mesos duration (`5secs`, `15mins`, `250ms`, `1weeks`) in milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(ns|us|ms|secs|mins|hrs|days|weeks)\s*$/.exec(text);
  if (!m) throw new Error(`'${text}' is not a duration (a number and one of ns, us, ms, secs, mins, hrs, days, weeks)`);
  const ms = Number(m[1]) * DURATION_UNITS[m[2]!]!;
  // As Mesos: a duration is a signed 64-bit count of nanoseconds (up to about 292 years).
  if (!(ms < MAX_DURATION_MS)) throw new Error(`'${text}' is out of range (a duration is at most about 292 years)`);
  return ms;
}

/** A duration that must be more than zero (a timeout or an interval of 0 makes no sense). */
export function parsePositiveDuration(text: string): number {
  const ms = parseDuration(text);
  if (!(ms > 0)) throw new Error(`'${text}' must be more than 0`);
  return ms;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['weeks', 604_800_000],
    ['days', 86_400_000],
    ['hrs', 3_600_000],
    ['mins', 60_000],
    ['secs', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const BYTE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** A Mesos byte size (`2GB`, `512MB`, `100B`) in bytes. */
export function parseBytes(text: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(B|KB|MB|GB|TB)\s*$/i.exec(text);
  if (!m) throw new Error(`'${text}' is not a size (a number and one of B, KB, MB, GB, TB)`);
  const n = Math.round(Number(m[1]) * BYTE_UNITS[m[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(n)) throw new Error(`'${text}' is too large`);
  return n;
}

/** parseBytes, refusing 0. */
export function parsePositiveBytes(text: string): number {
  const n = parseBytes(text);
  if (n <= 0) throw new Error(`'${text}' is not a positive size`);
  return n;
}

export function parsePort(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text.trim()) || n < 0 || n > 65535) throw new Error(`'${text}' is not a port number (0-65535)`);
  return n;
}

export function parseNonNegativeInt(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new Error(`'${text}' is not a non-negative integer`);
  return n;
}

/** An integer from `min` to `max`. */
export function intIn(min: number, max: number): (text: string) => number {
  return (text: string): number => {
    const t = text.trim();
    const n = Number(t);
    if (!/^-?[0-9]+$/.test(t) || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`'${text}' is not an integer from ${min} to ${max}`);
    return n;
  };
}

/** One of `values` (case-insensitive when `upper`: the value is upper-cased first). */
export function oneOf<const V extends string>(values: readonly V[], o: { readonly upper?: boolean } = {}): (text: string) => V {
  return (text: string): V => {
    const t = o.upper ? text.trim().toUpperCase() : text.trim();
    if (!(values as readonly string[]).includes(t)) throw new Error(`'${text}' is not one of ${values.join(', ')}`);
    return t as V;
  };
}

/** An IPv4 or IPv6 address (no host names: the daemons listen on an address). */
export function parseIp(text: string): string {
  const t = text.trim();
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
  if (v4 && v4.slice(1).every((p) => Number(p) <= 255)) return t;
  if (!v4 && /^[0-9A-Fa-f:.]+$/.test(t) && t.split(':').length >= 3 && t.split(':').length <= 9) return t;
  throw new Error(`'${text}' is not an IP address`);
}

/** An address peers reach a daemon at (--advertise_ip): an IP address, not the unspecified one. */
export function parseAdvertiseIp(text: string): string {
  const t = parseIp(text);
  if (/^0+\.0+\.0+\.0+$/.test(t) || /^[0:]+$/.test(t))
    throw new Error(`'${text}' is the unspecified address: peers cannot reach it (give the address they reach this host at)`);
  return t;
}

/** A port peers reach a daemon at (--advertise_port): 1-65535 (0 is no port a peer can reach). */
export function parseAdvertisePort(text: string): number {
  const n = parsePort(text);
  if (n === 0) throw new Error(`'${text}' is not a port peers can reach (1-65535)`);
  return n;
}

/** `host:port`. */
export function parseHostPort(text: string): string {
  const t = text.trim();
  const m = /^([^:/\s]+):([0-9]{1,5})$/.exec(t);
  if (!m || Number(m[2]) > 65535) throw new Error(`'${text}' is not host:port`);
  return t;
}

/** A host name: no white space, '/' or ':'. */
export function parseHostname(text: string): string {
  const t = text.trim();
  if (!/^[^\s/:]+$/.test(t)) throw new Error(`'${text}' is not a host name`);
  return t;
}

export const str = (text: string): string => text;

/** The levels `--logging_level` takes (the daemons' common flag). */
export const LOGGING_LEVELS = ['INFO', 'WARNING', 'ERROR', 'DEBUG'] as const;

/** `--log_format`: JSON lines or readable text (default: text on a terminal, else JSON). */
export const LOG_FORMAT_HELP = 'json or text (default: readable text when stderr is a terminal, else JSON lines)';

/** `--max_log_size`: a size (`100MB`), or a bare number of megabytes as glog's `max_log_size` takes it; at least 1KB. */
export function parseLogSize(text: string): number {
  const n = /^\s*[0-9]+\s*$/.test(text) ? Number(text) * 1024 ** 2 : parseBytes(text);
  if (!Number.isSafeInteger(n) || n < 1024) throw new Error(`'${text}' is not a size of at least 1KB (e.g. 100MB)`);
  return n;
}

function showSize(n: number): string {
  for (const [unit, size] of [
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const)
    if (n % size === 0) return `${n / size}${unit}`;
  return `${n}B`;
}

/**
 * The daemons' log files (`corral master|agent`): `--log_dir` as Mesos names it; the size and the
 * count of the files are bounded by `--max_log_size` (glog's name; Mesos sets it only through
 * GLOG_max_log_size) and `--max_log_files` (Corral's own: glog keeps every file).
 */
export const logFileFlags = {
  log_dir: optionalFlag({
    help: 'Also write the log lines to files in this directory (made if missing): <command>.<host>.<time>.<pid>.<n>.log, the current one linked as <command>.log (corral-master.log, corral-agent.log); text lines, JSON with --log_format=json',
    parse: (text: string): string => {
      if (text.trim() === '') throw new Error('is empty (give a directory)');
      return text;
    },
  }),
  max_log_size: flag({
    help: 'With --log_dir: start a new log file when the current one reaches this size (e.g. 100MB; a bare number is megabytes, as glog takes it)',
    default: 100 * 1024 ** 2,
    parse: parseLogSize,
    show: showSize,
  }),
  max_log_files: flag({
    help: "With --log_dir: how many of this daemon's log files to keep, the current one included; older ones are deleted when a new one starts",
    default: 10,
    parse: intIn(1, 100_000),
  }),
};

/** The most `--max_request_body` allows: 1 GiB. */
export const MAX_REQUEST_BODY = 1024 ** 3;

// ---------------------------------------------------------------------------------------------
// Flag tables

/** A flag with a default, or a required one. */
export function flag<T>(spec: FlagSpec<T> & ({ readonly default: T } | { readonly required: true })): FlagSpec<T> {
  return spec;
}

/** A flag that may be left unset. */
export function optionalFlag<T>(spec: Omit<FlagSpec<T>, 'default' | 'required'>): OptionalFlag<T> {
  return { ...spec, optional: true };
}

function envNames(name: string): string[] {
  const upper = name.toUpperCase();
  return [`CORRAL_${upper}`, `MESOS_${upper}`];
}

/**
 * Parse flags from the command line (which wins), the environment (`CORRAL_<NAME>`, then
 * `MESOS_<NAME>`) and flag files (`sources.files`), in that order of precedence.
 */
export function parseFlags<T extends FlagTable>(table: T, sources: FlagSources): ParsedFlags<T> {
  const raw = new Map<string, string>();
  /** Where a value that did not come from the command line came from. */
  const origin = new Map<string, string>();
  const rest: string[] = [];
  const warnings: string[] = [];
  const names = Object.keys(table);
  for (const [name, f] of Object.entries(sources.files ?? {})) {
    const [path] = f.where.split(/:(?=\d+$)/);
    if (!(name in table)) throw new FlagSourceError(path ?? f.where, `'${name}' is not a flag of this command${didYouMean(name, names)}`);
    raw.set(name, f.value);
    origin.set(name, f.where);
  }
  if (sources.knownEnv) {
    for (const [env, v] of Object.entries(sources.env)) {
      const m = /^(CORRAL|MESOS)_(.+)$/.exec(env);
      if (!m || v === undefined) continue;
      const name = m[2]!.toLowerCase();
      if (name in table || sources.knownEnv.has(name)) continue;
      if (m[1] === 'CORRAL') throw new FlagSourceError(env, `no such flag${didYouMean(name, names)}: remove the variable, or name a flag (see --help)`);
      warnings.push(`${env} is not a flag of this command and is ignored${didYouMean(name, names)}`);
    }
  }
  for (const name of names) {
    for (const env of envNames(name)) {
      const v = sources.env[env];
      if (v !== undefined) {
        raw.set(name, v);
        origin.set(name, env);
        break;
      }
    }
  }
  for (const arg of sources.argv) {
    if (!arg.startsWith('--')) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    let value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (!(name in table) && name.startsWith('no-') && eq < 0 && table[name.slice(3)]?.boolean) {
      name = name.slice(3);
      value = 'false';
    }
    const spec = table[name];
    if (!spec) throw new FlagError(name, `unknown flag${didYouMean(name, names)} (see --help)`);
    if (value === undefined) {
      if (!spec.boolean) throw new FlagError(name, 'needs a value: --' + name + '=VALUE');
      value = 'true';
    }
    raw.set(name, value);
    origin.delete(name);
  }
  const values: Record<string, unknown> = {};
  const text: Record<string, string> = {};
  const files: Record<string, string> = {};
  for (const [name, spec] of Object.entries(table)) {
    let value = raw.get(name);
    const from = origin.get(name);
    if (value !== undefined && value.startsWith('file://')) {
      if (!sources.readFile) throw new FlagError(name, 'file:// values are not supported here', from);
      files[name] = value.slice('file://'.length);
      try {
        value = sources.readFile(files[name]).trim();
      } catch (e) {
        throw new FlagError(name, `cannot read ${value}: ${(e as Error).message}`, from);
      }
    }
    if (value !== undefined && value.trim() === '' && !spec.allowEmpty) throw new FlagError(name, 'is empty', from);
    if (value === undefined) {
      if (spec.required) throw new FlagError(name, 'is required');
      values[name] = spec.default;
      if (spec.default !== undefined) text[name] = spec.show ? spec.show(spec.default) : String(spec.default);
      continue;
    }
    try {
      values[name] = spec.parse(value);
    } catch (e) {
      // A parser that already names the flag ('--name: reason') is not named twice.
      const reason = describeError(e);
      throw new FlagError(name, reason.startsWith(`--${name}: `) ? reason.slice(name.length + 4) : reason, from);
    }
    text[name] = value;
  }
  return { values: Object.freeze(values) as FlagValues<T>, text: Object.freeze(text), rest, files: Object.freeze(files), warnings };
}

/**
 * A word on the command line that is not a flag: one that looks like a flag with a single dash
 * (`-port=5152`) is told to take two.
 */
export function unexpectedArgument(arg: string): FlagSourceError {
  const m = /^-([A-Za-z][\w-]*)(=.*)?$/.exec(arg);
  if (m) return new FlagSourceError(`'${arg}'`, `flags start with two dashes: --${m[1]}${m[2] ?? ''}`);
  return new FlagSourceError(`'${arg}'`, 'unexpected argument (flags look like --name=value)');
}

/** The --help text of a table. */
export function flagsHelp(table: FlagTable): string {
  const lines: string[] = [];
  for (const [name, spec] of Object.entries(table).sort(([a], [b]) => a.localeCompare(b))) {
    const def = spec.default !== undefined ? ` (default: ${spec.show ? spec.show(spec.default) : String(spec.default)})` : spec.required ? ' (required)' : '';
    lines.push(`  --${name}${spec.boolean ? '' : '=VALUE'}${def}`);
    lines.push(`      ${spec.help}`);
  }
  return lines.join('\n');
}
