/** What an Agent is built with: its clock, logger, work directory, containerizer and flags. */
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/log.ts';
import type { Resources } from '../common/resources/index.ts';
import type { Attribute } from '../proto/messages.ts';
import type { Containerizer } from './containerizer/containerizer.ts';
import type { Fetcher } from './fetcher/fetcher.ts';
import type { ImageProvider } from './containerizer/images/provider.ts';
import type { QoSController, ResourceEstimator } from './oversubscription/index.ts';
import type { AgentPaths } from './paths.ts';

export interface AgentOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly paths: AgentPaths;
  readonly containerizer: Containerizer;
  readonly hostname: string;
  /** Where the agent listens: executors reach it here (MESOS_AGENT_ENDPOINT). */
  readonly ip: string;
  readonly port: number;
  /**
   * Where peers reach it, when not at ip/port (--advertise_ip, --advertise_port: NAT, a relay):
   * the agent registers with these. Without an ip the master takes the address it sees the
   * agent connect from.
   */
  readonly advertise?: { readonly ip?: string; readonly port?: number };
  readonly resources: Resources;
  readonly attributes: readonly Attribute[];
  readonly version: string;
  readonly executorRegistrationTimeoutMs: number;
  readonly executorShutdownGracePeriodMs: number;
  /** Grace between SIGTERM and SIGKILL for command tasks without a kill policy. */
  readonly defaultKillGraceMs: number;
  /** The environment executors start from (`--executor_environment_variables`, or the agent's). */
  readonly executorEnvironment: Readonly<Record<string, string>>;
  /** Run tasks as their framework's user (needs root). */
  readonly switchUser: boolean;
  /**
   * Signs the token each custom executor gets in MESOS_EXECUTOR_AUTHENTICATION_TOKEN
   * (--authenticate_http_executors, --executor_secret_key). Absent: executors get none.
   */
  readonly executorTokens?: { issue(frameworkId: string, executorId: string, containerId: string): string };
  /**
   * How many container launches (without URIs to fetch) may be under way while the agent goes
   * on with the master's next messages (default 0: each launch is done first).
   */
  readonly launchesInFlight?: number;
  /** After a restart, how long recovered custom executors have to subscribe again. */
  readonly executorReregistrationTimeoutMs?: number;
  /** `--recover` (default reconnect): what recover() does with the last run. */
  readonly recoverMode?: 'reconnect' | 'cleanup';
  /** `--strict` (default true): a damaged checkpoint makes recover() fail instead of being skipped. */
  readonly strict?: boolean;
  /**
   * The running kernel's boot id (recover.ts currentBootId): a different checkpointed one means
   * the host rebooted. Undefined: reboots are not detected.
   */
  readonly bootId?: string;
  /** Puts CommandInfo.uris into sandboxes (default: Mesos's defaults, cache in paths.fetcherCacheDir()). */
  readonly fetcher?: Fetcher;
  /** --image_providers=docker: runs tasks whose container has an image (opened by the caller). */
  readonly images?: ImageProvider;
  /** Oversubscription: default noop estimator and controller. */
  readonly resourceEstimator?: ResourceEstimator;
  readonly qosController?: QoSController;
  /** --oversubscribed_resources_interval (default 15 s). */
  readonly oversubscribedResourcesIntervalMs?: number;
  /** --qos_correction_interval_min (default 0). */
  readonly qosCorrectionIntervalMinMs?: number;
}
