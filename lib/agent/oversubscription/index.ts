/**
 * Resource estimators and QoS controllers by name (`--resource_estimator`, `--qos_controller`).
 * Mesos's module names are accepted for the built-ins it ships. Write your own by implementing
 * the interfaces in api.ts and passing the instance as AgentOptions.resourceEstimator /
 * qosController.
 */
import type { Clock } from '../../common/clock.ts';
import type { QoSController, ResourceEstimator } from './api.ts';
import { LoadQoSController, NoopQoSController, loadavgFromFile } from './controllers.ts';
import { FixedResourceEstimator, NoopResourceEstimator, UsageResourceEstimator } from './estimators.ts';

export * from './api.ts';
export * from './controllers.ts';
export * from './estimators.ts';
export * from './loops.ts';

export const ESTIMATOR_NAMES = ['noop', 'fixed', 'usage'] as const;
export const CONTROLLER_NAMES = ['noop', 'load'] as const;
const ESTIMATOR_ALIASES: Record<string, string> = { org_apache_mesos_FixedResourceEstimator: 'fixed' };
const CONTROLLER_ALIASES: Record<string, string> = { org_apache_mesos_LoadQoSController: 'load' };

export function estimatorName(text: string): string {
  const n = ESTIMATOR_ALIASES[text] ?? text;
  if (!(ESTIMATOR_NAMES as readonly string[]).includes(n)) throw new Error(`unknown resource estimator '${text}' (known: ${ESTIMATOR_NAMES.join(', ')})`);
  return n;
}

export function controllerName(text: string): string {
  const n = CONTROLLER_ALIASES[text] ?? text;
  if (!(CONTROLLER_NAMES as readonly string[]).includes(n)) throw new Error(`unknown QoS controller '${text}' (known: ${CONTROLLER_NAMES.join(', ')})`);
  return n;
}

export interface EstimatorConfig {
  readonly name: string | undefined;
  /** fixed: the resources (Mesos module parameter `resources`). */
  readonly resources?: string;
  readonly margin: number;
  readonly window: number;
  readonly clock: Clock;
}

export function createResourceEstimator(c: EstimatorConfig): ResourceEstimator {
  switch (c.name === undefined ? 'noop' : estimatorName(c.name)) {
    case 'fixed':
      if (c.resources === undefined) throw new Error('--resource_estimator=fixed needs --oversubscribed_resources');
      return new FixedResourceEstimator(c.resources);
    case 'usage':
      return new UsageResourceEstimator({ clock: c.clock, margin: c.margin, window: c.window });
    default:
      return new NoopResourceEstimator();
  }
}

export function createQoSController(c: { name: string | undefined; threshold5min?: number; threshold15min?: number; loadavgFile?: string }): QoSController {
  switch (c.name === undefined ? 'noop' : controllerName(c.name)) {
    case 'load':
      return new LoadQoSController({
        ...(c.threshold5min === undefined ? {} : { threshold5min: c.threshold5min }),
        ...(c.threshold15min === undefined ? {} : { threshold15min: c.threshold15min }),
        ...(c.loadavgFile === undefined ? {} : { loadavg: loadavgFromFile(c.loadavgFile) }),
      });
    default:
      return new NoopQoSController();
  }
}
