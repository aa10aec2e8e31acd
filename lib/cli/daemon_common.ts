/**
 * What the master and the agent daemons share: their options, their one HTTP server, listening
 * (a refusal names --ip or --port), their log level gate and system metrics.
 */
import type { Metrics } from '../common/metrics.ts';
import { addSystemGauges } from '../transport/metrics_http.ts';
import { describeError } from '../common/errors.ts';
import type { agentFlags } from '../agent/flags.ts';
import { FlagError, type FlagValues } from '../common/flags.ts';
import type { Logger } from '../common/log.ts';
import type { masterFlags } from '../master/flags.ts';
import { type LogLevelControl, levelGate } from '../common/log_level.ts';
import { levelFromFlag } from './logger.ts';
import { systemClock } from '../linux/index.ts';
import { type HttpAuthenticator, HttpServer, type TlsConfig } from '../transport/index.ts';
import type { Contender, MasterDetector } from '../transport/index.ts';

export interface Running {
  readonly port: number;
  stop(): Promise<void>;
}

/** What every daemon takes besides its flags. */
export interface DaemonOptions {
  /**
   * TLS (LIBPROCESS_SSL_*, read once by the cli): the daemon's port speaks HTTPS (and plain
   * too with downgrade), and its clients connect with TLS.
   */
  readonly tls?: TlsConfig;
  /** The agent's environment, that tasks' environments are built from (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Files the flags' `file://` values were read from (ParsedFlags.files): secrets may be in them. */
  readonly flagFiles?: Readonly<Record<string, string>>;
  /**
   * A master's election, when it runs among several (tests give their own; with --zk the
   * daemon makes one on ZooKeeper). Absent: the master runs alone and leads.
   */
  readonly election?: Election;
  /** An agent's detector of the leading master (tests give their own; default: from --master). */
  readonly masterDetector?: MasterDetector;
  /**
   * The log level SET_LOGGING_LEVEL changes (`corral` gives the one of its logger). Absent: the
   * daemon gates its `log` at --logging_level itself (lib/common/log_level.ts).
   */
  readonly logLevel?: LogLevelControl;
}

/** The daemon's logger and the control of its level (see DaemonOptions.logLevel). */
export function logLevelOf(log: Logger, loggingLevel: string, options: DaemonOptions): { log: Logger; control: LogLevelControl } {
  if (options.logLevel) return { log, control: options.logLevel };
  const gate = levelGate(log, levelFromFlag(loggingLevel, false), systemClock);
  return { log: gate.logger, control: gate.control };
}

/** A master's place in an election: its candidacy, and where the leader is. */
export interface Election {
  readonly contender: Contender;
  readonly detector: MasterDetector;
  /** Runs once the master has stopped (e.g. closes the ZooKeeper session). */
  close?(): Promise<void>;
}

/** The daemon's one HTTP server (--ip, --port, --max_request_body, --max_stream_backlog; TLS and authentication), not listening yet. */
export function serverOf(
  flags: Pick<FlagValues<typeof masterFlags> & FlagValues<typeof agentFlags>, 'ip' | 'port' | 'max_request_body' | 'max_stream_backlog'>,
  options: DaemonOptions,
  log: Logger,
  auth: HttpAuthenticator | undefined,
  backlog?: number,
): HttpServer {
  return new HttpServer({
    ...(backlog === undefined ? {} : { backlog }),
    host: flags.ip,
    port: flags.port,
    maxBodyBytes: flags.max_request_body,
    maxStreamBacklogBytes: flags.max_stream_backlog,
    logger: log,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(auth ? { auth } : {}),
  });
}

/** A daemon's metrics also have the system/* gauges and its HTTP request durations. */
export function observe(server: HttpServer, metrics: Metrics): void {
  addSystemGauges(metrics);
  server.recordRequestsIn(metrics);
}

/** Listen, or refuse the start naming --port (in use, not allowed) or --ip (not on this host). */
export async function listenOn(server: HttpServer, ip: string, port: number): Promise<number> {
  try {
    return await server.listen();
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new FlagError(
      code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' ? 'ip' : 'port',
      `cannot listen on ${ip}:${port}: ${describeError((e as Error).cause ?? e)}`,
    );
  }
}
