/**
 * The agent's image provider (--image_providers=docker): for a container with an image, pull it
 * into the store, make the container's root filesystem scratch, and say what the supervisor
 * runs there. One place that the launch path asks; the store, the provisioner and the runtime
 * rules are its parts (docs/architecture.md §7).
 */
import type { CommandInfo } from '../../../proto/messages.ts';
import type { ContainerImage } from '../../../proto/container_info.ts';
import type { SupervisorRootfs } from '../../../linux/supervisor.ts';
import { describeError } from '../../../common/errors.ts';
import type { Logger } from '../../../common/log.ts';
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

  /**
   * After an agent restart: the scratch of each container that was recovered is removed when it
   * ends, and the scratch of every other container of the last run (gone meanwhile) now.
   */
  async recover(live: ReadonlyMap<string, { readonly termination: Promise<unknown> }>, log: Logger): Promise<void> {
    for (const id of await this.provisioner.list()) {
      const c = live.get(id);
      const remove = (): Promise<void> =>
        this.cleanup(id).catch((e: unknown) => log.warn({ containerId: id, err: describeError(e) }, "removing the container's root filesystem failed"));
      if (c) void c.termination.catch(() => undefined).then(remove);
      else await remove();
    }
  }

  /** Remove a container's scratch (after it ended, or when its launch failed). */
  cleanup(containerId: string): Promise<void> {
    return this.provisioner.destroy(containerId);
  }
}
