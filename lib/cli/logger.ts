/**
 * The processes' logger: pino (asynchronous writes to stderr through its sonic-boom
 * destination, flushed at exit), behind the `Logger` interface of `lib/common/log.ts`.
 *
 * - Every record has an ISO time, the host name and the pid; an `err` (or `error`, `cause`)
 *   that is an Error is written with its type, message, stack and causes.
 * - Format: JSON lines (`{"level":"info","time":"…","pid":…,"hostname":"…",…,"msg":"…"}`) when
 *   stderr is not a terminal, readable text with the date (and colour) on one; `format` forces
 *   either (`--log_format=json|text`).
 * - Under systemd (JOURNAL_STREAM set: stderr goes to journald) each line starts with its syslog
 *   priority, `<3>` error, `<4>` warning, `<6>` info, `<7>` debug, which journald takes as the
 *   entry's priority (so `journalctl -p err` finds errors) and removes from the text.
 * - The level is fixed when it is made; a change at run time (the operator API's
 *   SET_LOGGING_LEVEL) is `levelGate` of `lib/common/log_level.ts`, over a logger made at DEBUG.
 * - `file` (`--log_dir`): every line also goes to the rotating log files, as text without colour
 *   (as glog's files are, for `less`, `grep` and `tail -F`) or as JSON lines with `--log_format=json`.
 */
import { hostname } from 'node:os';
import { pino, type DestinationStream } from 'pino';
import { parseLogLevel, type Logger, type LogLevel } from '../common/log.ts';

const RANK: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };
/** syslog priorities (RFC 5424) of each level: what journald reads from a `<N>` prefix. */
export const SYSLOG_PRIORITY: Record<string, number> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

export type LogFormat = 'json' | 'text';

/** `--logging_level`'s value as a level (`--quiet`: warnings and errors only). */
export function levelFromFlag(loggingLevel: string, quiet: boolean): LogLevel {
  if (quiet) return 'warn';
  return parseLogLevel(loggingLevel, '--logging_level');
}

export interface LoggerOptions {
  level: LogLevel;
  /** Default: text when stderr is a terminal, else JSON. */
  format?: LogFormat;
  /** @deprecated use `format`: true is 'text'. */
  pretty?: boolean;
  /** Colour in the text format (default: when stderr is a terminal and NO_COLOR is unset). */
  colour?: boolean;
  /** Prefix syslog priorities (default: when JOURNAL_STREAM is set). */
  journald?: boolean;
  /** The file descriptor lines go to, asynchronously (default 2: stderr); `write` replaces it. */
  fd?: number;
  /** Where lines go (each with its newline); default: stderr, asynchronously. */
  write?: (line: string) => void;
  bindings?: Record<string, unknown>;
  /** Also write every line here (`--log_dir`: lib/cli/log_files.ts), as JSON or as text without colour (`fileFormat`, default text). */
  file?: { write(line: string): void };
  fileFormat?: LogFormat;
}

const COLOUR: Record<string, string> = { error: '\x1b[31m', fatal: '\x1b[31m', warn: '\x1b[33m', info: '\x1b[32m', debug: '\x1b[90m', trace: '\x1b[90m' };
const OMIT_IN_TEXT = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** One JSON record as a line of text: `2026-12-07 17:40:01.123 INFO  message  key=value …`. */
export function textLine(json: string, colour: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = String(rec.level ?? 'info');
  const time = String(rec.time ?? '')
    .replace('T', ' ')
    .replace('Z', '');
  const tag = level.toUpperCase().padEnd(5);
  let stack = '';
  const extra = Object.entries(rec)
    .filter(([k]) => !OMIT_IN_TEXT.has(k))
    .map(([k, v]) => {
      if (v !== null && typeof v === 'object' && typeof (v as { stack?: unknown }).stack === 'string') {
        stack += '\n    ' + String((v as { stack: string }).stack).replace(/\n/g, '\n    ');
        return `${k}=${JSON.stringify((v as { message?: unknown }).message ?? '')}`;
      }
      return `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`;
    })
    .join(' ');
  const head = colour ? `${COLOUR[level] ?? ''}${tag}\x1b[0m` : tag;
  return `${time} ${head} ${String(rec.msg ?? '')}${extra ? `  ${extra}` : ''}${stack}\n`;
}

const LEVEL_AT_START = /^\{"level":"(\w+)"/;

export function createLogger(opts: LoggerOptions): Logger {
  const format: LogFormat = opts.format ?? (opts.pretty === true || (opts.pretty === undefined && process.stderr.isTTY === true) ? 'text' : 'json');
  const colour = opts.colour ?? (process.stderr.isTTY === true && process.env.NO_COLOR === undefined);
  const journald = opts.journald ?? (process.env.JOURNAL_STREAM ?? '') !== '';
  const stderr: DestinationStream = opts.write
    ? { write: (s: string) => opts.write!(s.endsWith('\n') ? s.slice(0, -1) : s) }
    : pino.destination({ dest: opts.fd ?? 2, sync: false, minLength: 0 });
  const toStderr =
    format === 'text' || journald
      ? (s: string): string => {
          const level = LEVEL_AT_START.exec(s)?.[1] ?? 'info';
          const line = format === 'text' ? textLine(s, colour) : s;
          return journald ? `<${SYSLOG_PRIORITY[level] ?? 6}>${line}` : line;
        }
      : undefined;
  const file = opts.file;
  const fileText = (opts.fileFormat ?? 'text') === 'text';
  // With a file, one destination writes both (each in its own format); else pino's hook shapes the stderr line.
  const destination: DestinationStream = file
    ? {
        write(s: string) {
          stderr.write(toStderr ? toStderr(s) : s);
          file.write(fileText ? textLine(s, false) : s);
        },
      }
    : stderr;
  const transform = file ? undefined : toStderr;
  if (file && 'flushSync' in stderr) process.on('exit', () => (stderr as { flushSync(): void }).flushSync());
  const root = pino(
    {
      level: 'debug',
      base: { pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.errWithCause, error: pino.stdSerializers.errWithCause, cause: pino.stdSerializers.errWithCause },
      ...(transform ? { hooks: { streamWrite: transform } } : {}),
    },
    destination,
  );
  const min = RANK[opts.level];
  const wrap = (p: pino.Logger): Logger => {
    const at =
      (level: LogLevel) =>
      (obj: object | string, msg?: string): void => {
        if (RANK[level] < min) return;
        if (typeof obj === 'string') p[level](obj);
        else p[level](obj, msg);
      };
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (b) => wrap(p.child(b)) };
  };
  return wrap(opts.bindings ? root.child(opts.bindings) : root);
}
