import { ValidationError } from './errors.ts';

/**
 * The logger every component takes. The CLI passes its pino-backed logger (`lib/cli/logger.ts`:
 * JSON lines when stderr is not a terminal, readable text on one); tests pass `silentLogger` or
 * a recording one. An `err` field that is an Error is written with its stack and causes.
 */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps what it is told, for tests that check what was logged. */
export function recordingLogger(into: LogRecord[] = [], bindings: Record<string, unknown> = {}): Logger & { records: LogRecord[] } {
  const log =
    (level: LogRecord['level']) =>
    (obj: object | string, msg?: string): void => {
      if (typeof obj === 'string') into.push({ level, msg: obj, fields: { ...bindings } });
      else into.push({ level, msg: msg ?? '', fields: { ...bindings, ...obj } });
    };
  return {
    records: into,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (b) => recordingLogger(into, { ...bindings, ...b }),
  };
}

/** The levels a logger writes at, least severe first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVEL_NAMES: Record<string, LogLevel> = { DEBUG: 'debug', INFO: 'info', WARNING: 'warn', WARN: 'warn', ERROR: 'error' };

/** `DEBUG`, `INFO`, `WARNING` (or `WARN`), `ERROR` (any case, as `--logging_level` takes them) as a level. */
export function parseLogLevel(text: string, field = 'level'): LogLevel {
  const level = LEVEL_NAMES[text.trim().toUpperCase()];
  if (level === undefined) throw new ValidationError(field, `'${text}' is not a logging level (DEBUG, INFO, WARNING or ERROR)`);
  return level;
}
