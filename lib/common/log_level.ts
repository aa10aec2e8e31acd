/**
 * The log level the operator API reads and changes (GET_LOGGING_LEVEL, SET_LOGGING_LEVEL on
 * `/api/v1`). Mesos speaks of glog's verbosity: 0 by default, higher for more detail, set for a
 * duration and then put back. Corral maps it onto its levels: 0 is the daemon's
 * `--logging_level`; 1 or more lets DEBUG records through too.
 *
 * The handlers take a `LogLevelControl`; the daemon (lib/cli/daemon_common.ts) makes one with
 * `levelGate` over the logger it has, which must itself let DEBUG records through for a raised
 * level to show them.
 */
import type { Clock, TimerHandle } from './clock.ts';
import type { Logger } from './log.ts';

export interface LogLevelControl {
  /** The verbosity now (0: the daemon's --logging_level). */
  level(): number;
  /** Use `level` for `durationMs`, then go back to the level the daemon started with. */
  set(level: number, durationMs: number): void;
}

export type GateLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Readonly<Record<GateLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * `base` with its records below `initial` dropped while the verbosity is 0, and DEBUG records let
 * through while it is 1 or more (see the module comment). Children share the verbosity.
 */
export function levelGate(base: Logger, initial: GateLevel, clock: Clock): { logger: Logger; control: LogLevelControl } {
  let verbosity = 0;
  let revert: TimerHandle | undefined;
  const passes = (level: GateLevel): boolean => ORDER[level] >= (verbosity > 0 ? Math.min(ORDER.debug, ORDER[initial]) : ORDER[initial]);
  const wrap = (inner: Logger): Logger => ({
    debug: (obj, msg) => (passes('debug') ? inner.debug(obj, msg) : undefined),
    info: (obj, msg) => (passes('info') ? inner.info(obj, msg) : undefined),
    warn: (obj, msg) => (passes('warn') ? inner.warn(obj, msg) : undefined),
    error: (obj, msg) => (passes('error') ? inner.error(obj, msg) : undefined),
    child: (bindings) => wrap(inner.child(bindings)),
  });
  const logger = wrap(base);
  return {
    logger,
    control: {
      level: () => verbosity,
      set(level, durationMs) {
        revert?.cancel();
        const before = verbosity;
        verbosity = level;
        base.info({ verbosity: level, was: before, durationSecs: durationMs / 1000 }, `logging level set to ${level} for ${durationMs / 1000} seconds`);
        revert = clock.setTimer(durationMs, () => {
          revert = undefined;
          verbosity = 0;
          base.info({ verbosity: 0 }, 'logging level reverted to 0');
        });
      },
    },
  };
}
