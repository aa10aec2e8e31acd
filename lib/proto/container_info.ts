/**
 * ContainerInfo as the agent reads it (v1 JSON, mesos-api.md §4.9): a MESOS container, with or
 * without an image of type DOCKER. What Corral does not run is refused here, naming the field:
 * a DOCKER container (no Docker containerizer), an APPC image.
 */
import { ValidationError } from '../common/errors.ts';
import type { Passthrough } from './messages.ts';

export interface ContainerImage {
  /** Image.docker.name. */
  readonly name: string;
  /** Image.cached (default true): false asks the registry for the manifest again. */
  readonly cached: boolean;
}

/** The image of `container` (TaskInfo.container or ExecutorInfo.container), or undefined for none. */
export function containerImageOf(container: Passthrough | undefined, field: string): ContainerImage | undefined {
  if (container === undefined) return undefined;
  const type = container.type;
  if (type !== undefined && type !== 'MESOS') {
    throw new ValidationError(
      `${field}.type`,
      type === 'DOCKER'
        ? 'DOCKER containers need the Docker containerizer, which Corral does not have: use type MESOS with mesos.image'
        : `unknown container type ${JSON.stringify(type)}`,
    );
  }
  const mesos = container.mesos as Record<string, unknown> | undefined;
  if (mesos === undefined || mesos === null) return undefined;
  if (typeof mesos !== 'object') throw new ValidationError(`${field}.mesos`, 'not an object');
  const image = mesos.image as Record<string, unknown> | undefined;
  if (image === undefined || image === null) return undefined;
  if (typeof image !== 'object') throw new ValidationError(`${field}.mesos.image`, 'not an object');
  if (image.type !== 'DOCKER') {
    throw new ValidationError(
      `${field}.mesos.image.type`,
      image.type === 'APPC' ? 'APPC images are not supported (use DOCKER)' : `must be DOCKER, not ${JSON.stringify(image.type)}`,
    );
  }
  const docker = image.docker as Record<string, unknown> | undefined;
  if (typeof docker !== 'object' || docker === null || typeof docker.name !== 'string' || docker.name === '') {
    throw new ValidationError(`${field}.mesos.image.docker.name`, 'required, a non-empty string');
  }
  if (image.cached !== undefined && typeof image.cached !== 'boolean') throw new ValidationError(`${field}.mesos.image.cached`, 'must be a boolean');
  return { name: docker.name, cached: image.cached !== false };
}
