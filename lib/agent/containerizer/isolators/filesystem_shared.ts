/**
 * `filesystem/shared`: a mount namespace of its own per container (Mesos's isolator of that
 * name asks for CLONE_NEWNS). The host's mounts still show inside (the supervisor makes "/" a
 * recursive slave); what the container mounts stays inside. Volumes are not handled here.
 */
import type { Isolator, LaunchRequirements } from '../isolator.ts';

export class FilesystemSharedIsolator implements Isolator {
  readonly name = 'filesystem/shared';

  async prepare(): Promise<LaunchRequirements> {
    return { namespaces: ['mount'] };
  }
}
