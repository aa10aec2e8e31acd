/**
 * `docker/runtime`: an image's Entrypoint, Cmd, Env and WorkingDir are applied to the
 * container's command (images/runtime.ts, called on the launch path where the image's config is
 * known). It prepares nothing of its own: listing it is what --image_providers=docker requires,
 * as in Mesos.
 */
import type { Isolator } from '../isolator.ts';

export class DockerRuntimeIsolator implements Isolator {
  readonly name = 'docker/runtime';
}
