/**
 * `namespaces/pid` (with the Linux launcher): the command is cloned into a new pid namespace
 * (and a mount namespace, for a /proc that shows it) by the supervisor. It sees only its own
 * processes, is pid 1 there, and when it ends the kernel kills whatever is left in the namespace.
 */
import type { Isolator, LaunchRequirements } from '../isolator.ts';

export class NamespacesPidIsolator implements Isolator {
  readonly name = 'namespaces/pid';

  async prepare(): Promise<LaunchRequirements> {
    return { namespaces: ['pid'] };
  }
}
