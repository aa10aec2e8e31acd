/**
 * The agent's image provider (--image_providers=docker): for a container with an image, pull it
 * into the store, make the container's root filesystem scratch, and say what the supervisor
 * runs there. One place that the launch path asks; the store, the provisioner and the runtime
 * rules are its parts (docs/architecture.md §7).
 */
import type { CommandInfo } from '../../../proto/messages.ts';
import type { ContainerImage } from '../../../proto/container_info.ts';
import type { SupervisorRootfs } from '../../../linux/supervisor.ts';
import { ImageError } from './errors.ts';
import { Provisioner } from './provisioner.ts';
import { runtimeCommand } from './runtime.ts';
import { DockerStore, type DockerStoreOptions } from './store.ts';

/** Where the sandbox shows inside an image (Mesos's --sandbox_directory default). */
export const SANDBOX_IN_IMAGE = '/mnt/mesos/sandbox';

export interface PreparedImage {
  readonly rootfs: SupervisorRootfs;
  /** The argv from the image, when the command does not name its own. */
  readonly argv: readonly string[] | undefined;
  /** The image's Env, below the task's environment. */
  readonly env: Readonly<Record<string, string>>;
}

export class ImageProvider {
  readonly store: DockerStore;
  private readonly provisioner: Provisioner;

  constructor(storeOptions: DockerStoreOptions, provisionerDir: string) {
    this.store = new DockerStore(storeOptions);
    this.provisioner = new Provisioner(provisionerDir);
  }

  open(): Promise<void> {
    return this.store.open();
  }

  /** Pull (or find) the image and make the container's scratch. Throws ImageError. */
  async prepare(containerId: string, image: ContainerImage, command: CommandInfo, progress: (line: string) => void): Promise<PreparedImage> {
    const pulled = await this.store.get(image.name, { cached: image.cached, progress });
    let runtime;
    try {
      runtime = runtimeCommand(command, pulled.config);
    } catch (e) {
      throw new ImageError(image.name, (e as Error).message, { code: 'IMAGE_PULL_FAILED' });
    }
    const scratch = await this.provisioner.provision(containerId, pulled.layerPaths);
    return {
      rootfs: { scratch, sandboxTarget: SANDBOX_IN_IMAGE, ...(runtime.workdir === undefined ? {} : { workdir: runtime.workdir }) },
      argv: runtime.argv,
      env: runtime.env,
    };
  }

  /** Remove a container's scratch (after it ended, or when its launch failed). */
  cleanup(containerId: string): Promise<void> {
    return this.provisioner.destroy(containerId);
  }
}
