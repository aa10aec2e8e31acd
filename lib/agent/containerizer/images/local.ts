/**
 * Images from a local directory, for hosts with no registry (`--docker_registry=/path`, as Mesos
 * allows a local path), docs/architecture.md §7. The layout Corral reads:
 *
 *   <dir>/<repository>/               an OCI image layout (image-spec's "image layout"):
 *   <dir>/<repository>/oci-layout     {"imageLayoutVersion": "1.0.0"}
 *   <dir>/<repository>/index.json     an OCI index; a tag is the entry whose annotation
 *                                     org.opencontainers.image.ref.name is the tag
 *   <dir>/<repository>/blobs/sha256/<hex>
 *
 * which is what `skopeo copy … oci:<dir>/<repository>:<tag>` and umoci write. An image named by
 * digest (`repo@sha256:…`) is the manifest blob of that digest. Every blob is checked against its
 * descriptor's digest and size as it is read, as a registry's are: a damaged file fails the pull.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Descriptor,
  type ImageClient,
  type ImageManifest,
  MAX_CONFIG,
  MAX_MANIFEST,
  MEDIA,
  PullError,
  checkDescriptor,
  checkedBlob,
  decodeManifest,
  verify,
} from './registry.ts';

const REF_NAME = 'org.opencontainers.image.ref.name';
const HEX = /^sha256:([0-9a-f]{64})$/;

export class LocalLayoutClient implements ImageClient {
  readonly where: string;
  private readonly layout: string;

  /** `repository` is checked by the name grammar (no `..`, no absolute path). */
  constructor(
    dir: string,
    repository: string,
    private readonly reference: string,
  ) {
    this.layout = join(dir, repository);
    this.where = `${this.layout} (${reference})`;
  }

  private blobPath(digest: string): string {
    const hex = HEX.exec(digest)?.[1];
    if (hex === undefined) throw new PullError(`the blob digest ${digest} is not sha256`);
    return join(this.layout, 'blobs', 'sha256', hex);
  }

  private async readSmall(d: Descriptor, limit: number, what: string): Promise<Buffer> {
    if (d.size > limit) throw new PullError(`${what} ${d.digest} is ${d.size} bytes (more than ${limit >> 20} MiB)`);
    let body: Buffer;
    try {
      body = await readFile(this.blobPath(d.digest));
    } catch (e) {
      throw new PullError(`${what} ${d.digest} is not in the image layout ${this.layout}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    verify(createHash('sha256').update(body), body.length, d);
    return body;
  }

  async manifest(): Promise<ImageManifest> {
    let text: string;
    try {
      text = await readFile(join(this.layout, 'index.json'), 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new PullError(
        code === 'ENOENT'
          ? `no OCI image layout at ${this.layout} (no index.json)`
          : `cannot read ${join(this.layout, 'index.json')}: ${code ?? (e as Error).message}`,
      );
    }
    let index: { manifests?: unknown };
    try {
      index = JSON.parse(text) as { manifests?: unknown };
    } catch {
      throw new PullError(`${join(this.layout, 'index.json')} is not JSON`);
    }
    const entries = Array.isArray(index.manifests) ? (index.manifests as Record<string, unknown>[]) : [];
    let d: Descriptor;
    if (this.reference.startsWith('sha256:')) {
      const listed = entries.find((e) => e.digest === this.reference);
      // Named by digest: its size is known only when index.json lists it.
      d = listed ? checkDescriptor(listed, `the index.json entry ${this.reference}`) : { digest: this.reference, size: -1, mediaType: '' };
    } else {
      const tagged = entries.filter((e) => (e.annotations as Record<string, unknown> | undefined)?.[REF_NAME] === this.reference);
      if (tagged.length === 0) {
        const tags = entries.map((e) => (e.annotations as Record<string, unknown> | undefined)?.[REF_NAME]).filter((x) => typeof x === 'string');
        throw new PullError(`manifest unknown: the image layout ${this.layout} has no tag '${this.reference}' (it has ${tags.join(', ') || 'none'})`);
      }
      d = checkDescriptor(tagged[0], `the index.json entry of '${this.reference}'`);
    }
    for (let depth = 0; depth < 2; depth++) {
      let body: Buffer;
      if (d.size < 0) {
        try {
          body = await readFile(this.blobPath(d.digest));
        } catch {
          throw new PullError(`manifest unknown: no blob ${d.digest} in the image layout ${this.layout}`);
        }
        if (body.length > MAX_MANIFEST) throw new PullError(`the manifest ${d.digest} is more than ${MAX_MANIFEST >> 20} MiB`);
        verify(createHash('sha256').update(body), body.length, { ...d, size: body.length });
      } else {
        body = await this.readSmall(d, MAX_MANIFEST, 'the manifest');
      }
      const decoded = decodeManifest(body, d.digest, d.mediaType);
      if (!('next' in decoded)) return decoded;
      const entry = entries.find((e) => e.digest === decoded.next);
      d = entry ? checkDescriptor(entry, 'the index entry') : { digest: decoded.next, size: -1, mediaType: MEDIA.ociManifest };
    }
    throw new PullError('an index points to another index');
  }

  blobBytes(d: Descriptor): Promise<Buffer> {
    return this.readSmall(d, MAX_CONFIG, 'the blob');
  }

  async *blob(d: Descriptor): AsyncGenerator<Buffer> {
    const stream = createReadStream(this.blobPath(d.digest), { highWaterMark: 1 << 20 });
    try {
      yield* checkedBlob(stream as AsyncIterable<Buffer>, d, (e) =>
        (e as NodeJS.ErrnoException).code === 'ENOENT'
          ? `the blob ${d.digest} is not in the image layout ${this.layout}`
          : `reading the blob ${d.digest} failed: ${e.message}`,
      );
    } finally {
      stream.destroy();
    }
  }
}
