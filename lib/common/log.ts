/**
 * The logger every component takes. The CLI passes a pino logger (JSON lines under systemd,
 * readable text on a terminal); tests pass `silentLogger` or a recording one.
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
