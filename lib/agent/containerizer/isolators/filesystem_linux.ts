/**
 * `filesystem/linux`: a mount namespace of its own per container, in which a container with an
 * image gets its root filesystem (the image provider makes it; the supervisor mounts it and
 * pivot_roots, docs/architecture.md §7). Needed, with `docker/runtime`, by --image_providers.
 */
import type { Isolator, LaunchRequirements } from '../isolator.ts';

export class FilesystemLinuxIsolator implements Isolator {
  readonly name = 'filesystem/linux';

  async prepare(): Promise<LaunchRequirements> {
    return { namespaces: ['mount'] };
  }
}
