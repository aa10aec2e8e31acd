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
import { statfs } from 'node:fs/promises';
import { Provisioner, type ProvisionerBackend } from './provisioner.ts';
import { parseImageReference } from './reference.ts';
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

/** --image_gc_config (the fields of Mesos's ImageGcConfig that Corral reads). */
export interface ImageGcConfig {
  /** Collect when less than this fraction (0..1) of the store's file system is free; 1: at every check. */
  readonly headroom: number;
  readonly intervalMs: number;
  /** Image names never collected. */
  readonly excluded: readonly string[];
}

export class ImageProvider {
  readonly store: DockerStore;
  private readonly provisioner: Provisioner;
  /** Launches preparing an image now; a collection waits for none, and new ones wait for it. */
  private preparing = 0;
  private idle: (() => void)[] = [];
  private collecting: Promise<unknown> | undefined;
  private gcTimer: NodeJS.Timeout | undefined;

  constructor(storeOptions: DockerStoreOptions, provisionerDir: string, backend: ProvisionerBackend = 'overlay') {
    this.store = new DockerStore(storeOptions);
    this.provisioner = new Provisioner(provisionerDir, backend);
  }

  get backend(): ProvisionerBackend {
    return this.provisioner.backend;
  }

  open(): Promise<void> {
    return this.store.open();
  }

  /** Pull (or find) the image and make the container's scratch. Throws ImageError. */
  async prepare(containerId: string, image: ContainerImage, command: CommandInfo, progress: (line: string) => void): Promise<PreparedImage> {
    while (this.collecting) await this.collecting.catch(() => undefined);
    this.preparing++;
    try {
      return await this.prepareNow(containerId, image, command, progress);
    } finally {
      if (--this.preparing === 0) for (const f of this.idle.splice(0)) f();
    }
  }

  private async prepareNow(containerId: string, image: ContainerImage, command: CommandInfo, progress: (line: string) => void): Promise<PreparedImage> {
    const pulled = await this.store.get(image.name, { cached: image.cached, progress });
    let runtime;
    try {
      runtime = runtimeCommand(command, pulled.config);
    } catch (e) {
      throw new ImageError(image.name, (e as Error).message, { code: 'IMAGE_PULL_FAILED' });
    }
    const scratch = await this.provisioner.provision(containerId, pulled.layerPaths, { image: pulled.name, layers: pulled.layers });
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

  /**
   * Image garbage collection: every image that no container of this agent uses (its scratch's
   * image.json) and that `excluded` does not name is forgotten, and the layers no remaining image
   * lists are removed. Waits until no launch is preparing an image; launches wait for it.
   */
  async prune(excluded: readonly string[] = []): Promise<{ images: string[]; layers: string[]; bytes: number }> {
    while (this.collecting) await this.collecting.catch(() => undefined);
    const run = (async () => {
      if (this.preparing > 0) await new Promise<void>((res) => this.idle.push(res));
      const keepImages = new Set(excluded.map((n) => parseImageReference(n).canonical));
      const keepLayers = new Set<string>();
      for (const id of await this.provisioner.list()) {
        const rec = await this.provisioner.record(id);
        if (!rec) continue;
        keepImages.add(rec.image);
        for (const l of rec.layers) keepLayers.add(l);
      }
      return this.store.prune(keepImages, keepLayers);
    })();
    this.collecting = run;
    try {
      return await run;
    } finally {
      this.collecting = undefined;
    }
  }

  /** Collect every `intervalMs` when less than `headroom` of the store's file system is free; stop() ends it. */
  startGc(config: ImageGcConfig, log: Logger): void {
    const check = async (): Promise<void> => {
      const fs = await statfs(this.store.dir);
      const free = fs.bavail / fs.blocks;
      if (free >= config.headroom) return;
      log.info(
        { store: this.store.dir, free: Math.round(free * 1000) / 1000, headroom: config.headroom },
        'image store below its disk headroom: collecting unused images',
      );
      await this.prune(config.excluded);
    };
    const tick = (): void => {
      this.gcTimer = setTimeout(() => {
        void check()
          .catch((e: unknown) => log.warn({ store: this.store.dir, err: describeError(e) }, 'image garbage collection failed'))
          .finally(() => {
            if (this.gcTimer) tick();
          });
      }, config.intervalMs);
      this.gcTimer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.gcTimer);
    this.gcTimer = undefined;
  }

  /** Remove a container's scratch (after it ended, or when its launch failed). */
  cleanup(containerId: string): Promise<void> {
    return this.provisioner.destroy(containerId);
  }
}
