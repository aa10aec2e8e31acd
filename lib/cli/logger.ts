/**
 * The daemons' logger: JSON lines (one object per line, as journald and log shippers like
 * them) unless stderr is a terminal, where lines are readable text.
 */
import type { Logger } from '../common/log.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

export function levelFromFlag(loggingLevel: string, quiet: boolean): Level {
  if (quiet) return 'warn';
  switch (loggingLevel.toUpperCase()) {
    case 'DEBUG':
      return 'debug';
    case 'WARNING':
      return 'warn';
    case 'ERROR':
      return 'error';
    default:
      return 'info';
  }
}

export function createLogger(opts: { level: Level; pretty?: boolean; write?: (line: string) => void; bindings?: Record<string, unknown> }): Logger {
  const min = LEVELS[opts.level];
  const pretty = opts.pretty ?? process.stderr.isTTY === true;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const bindings = opts.bindings ?? {};
  const emit = (level: Level) => (obj: object | string, msg?: string) => {
    if (LEVELS[level] < min) return;
    const fields = typeof obj === 'string' ? {} : obj;
    const message = typeof obj === 'string' ? obj : (msg ?? '');
    const time = new Date();
    if (pretty) {
      const extra = Object.entries({ ...bindings, ...fields })
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      write(`${time.toISOString().slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${message}${extra ? `  ${extra}` : ''}`);
    } else {
      write(JSON.stringify({ level, time: time.getTime(), msg: message, ...bindings, ...fields }));
    }
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (b) => createLogger({ ...opts, pretty, write, bindings: { ...bindings, ...b } }),
  };
}
