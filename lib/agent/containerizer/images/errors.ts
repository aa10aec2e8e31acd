/**
 * The image store's one error: an ImageError fails the task with REASON_CONTAINER_LAUNCH_FAILED,
 * its message naming the image and the reason ("Failed to pull image '127.0.0.1:5000/app:1':
 * manifest unknown (HTTP 404)").
 */
import { CorralError } from '../../../common/errors.ts';

export class ImageError extends CorralError {
  /** The reason alone, without the image. */
  readonly reason: string;
  constructor(
    readonly image: string,
    reason: string,
    options: { code?: 'IMAGE_BAD_NAME' | 'IMAGE_PULL_FAILED' | 'IMAGE_LAYER_REFUSED'; cause?: unknown } = {},
  ) {
    const code = options.code ?? 'IMAGE_PULL_FAILED';
    const verb = code === 'IMAGE_BAD_NAME' ? 'Invalid image name' : code === 'IMAGE_LAYER_REFUSED' ? 'Refused a layer of image' : 'Failed to pull image';
    super(code, `${verb} '${image}': ${reason}`, { field: 'container.mesos.image.docker.name', cause: options.cause });
    this.name = 'ImageError';
    this.reason = reason;
  }
}
