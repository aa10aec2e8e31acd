/**
 * A client of the registry HTTP API v2 for pulling: manifests (Docker schema 2, Docker manifest
 * lists, OCI image manifests and indexes: for a list or an index the entry for linux and this
 * host's architecture is taken), blobs, and the authentication challenges (Bearer with the token
 * flow, and Basic) with credentials from a Docker config.json `auths`. Unlike Mesos, every byte
 * is checked: a manifest against the digest it was asked by (or the registry's
 * Docker-Content-Digest), a blob against its descriptor's digest and size while it streams.
 */
import { type Hash, createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { MAX_TIMER_MS } from '../../../common/clock.ts';
import type { ImageSource } from './reference.ts';

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
} as const;

/** Layer media types the store unpacks, and whether they are gzip-compressed. */
export const LAYER_MEDIA: Record<string, 'gzip' | 'tar'> = {
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar': 'tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
};

export const MAX_MANIFEST = 4 << 20;
export const MAX_CONFIG = 8 << 20;

/** A pull's failure, in words for the task's message (the caller adds the image's name). */
export class PullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PullError';
  }
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export interface ImageManifest {
  /** The digest of the manifest used (of the platform's manifest, for a list or an index). */
  readonly digest: string;
  readonly mediaType: string;
  readonly config: Descriptor;
  /** Base first. */
  readonly layers: readonly Descriptor[];
}

/** `user:password` for a registry host, from a Docker config.json's `auths` (its `auth`, base64). */
export type Credentials = (host: string) => string | undefined;

export interface RegistryOptions {
  /** No data for this long aborts a request (--fetcher_stall_timeout). */
  stallTimeoutMs: number;
  credentials?: Credentials;
  /** Extra CA certificates for https registries. */
  ca?: string | Buffer;
  signal?: AbortSignal;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
export const HOST_ARCH = ARCH[process.arch] ?? process.arch;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function checkDescriptor(d: unknown, what: string): Descriptor {
  const o = d as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null) throw new PullError(`${what} is not an object`);
  if (typeof o.digest !== 'string' || !DIGEST.test(o.digest)) throw new PullError(`${what} has no sha256 digest (got ${JSON.stringify(o.digest)})`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw new PullError(`${what} has no valid size`);
  if (typeof o.mediaType !== 'string') throw new PullError(`${what} has no mediaType`);
  return { mediaType: o.mediaType, digest: o.digest, size: o.size };
}

/**
 * A manifest's bytes (`digest` theirs): the image's manifest, or for a list or an index the
 * digest of its entry for linux/HOST_ARCH (`next`). `headerType` is the Content-Type it came
 * with, used when the manifest names no mediaType.
 */
export function decodeManifest(body: Buffer, digest: string, headerType: string): ImageManifest | { next: string } {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new PullError('the manifest is not JSON');
  }
  const type = (typeof m.mediaType === 'string' ? m.mediaType : undefined) ?? headerType;
  if (type === MEDIA.ociIndex || type === MEDIA.dockerList) {
    const list = Array.isArray(m.manifests) ? (m.manifests as Record<string, unknown>[]) : [];
    const pick = list.find((e) => {
      const p = e.platform as { os?: string; architecture?: string } | undefined;
      return p?.os === 'linux' && p.architecture === HOST_ARCH;
    });
    if (!pick) {
      const have = list.map((e) => {
        const p = e.platform as { os?: string; architecture?: string } | undefined;
        return `${p?.os ?? '?'}/${p?.architecture ?? '?'}`;
      });
      throw new PullError(`the image has no manifest for linux/${HOST_ARCH} (it has ${have.join(', ') || 'none'})`);
    }
    return { next: checkDescriptor(pick, 'the index entry').digest };
  }
  if (type !== MEDIA.ociManifest && type !== MEDIA.dockerManifest) {
    throw new PullError(`unsupported manifest media type '${type || '(none)'}' (Corral reads Docker schema 2 and OCI manifests and indexes)`);
  }
  if (m.schemaVersion !== 2) throw new PullError(`the manifest's schemaVersion is ${JSON.stringify(m.schemaVersion)}, not 2`);
  const config = checkDescriptor(m.config, "the manifest's config");
  const layers = Array.isArray(m.layers) ? m.layers.map((l, i) => checkDescriptor(l, `layer ${i} of the manifest`)) : [];
  if (layers.length === 0) throw new PullError('the manifest lists no layers');
  for (const [i, l] of layers.entries()) {
    if (LAYER_MEDIA[l.mediaType] === undefined)
      throw new PullError(`layer ${i} (${l.digest}) has the media type '${l.mediaType}', which Corral does not unpack`);
  }
  return { digest, mediaType: type, config, layers };
}

/** The Bearer/Basic challenge of a 401: `Bearer realm="…",service="…",scope="…"`. */
function parseChallenge(header: string | undefined): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const m = /^(\w+)\s*(.*)$/s.exec(header.trim());
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)="([^"]*)"/g)) params[p[1]!.toLowerCase()] = p[2]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

/** Where a pull reads an image from: a registry (RegistryClient) or a local OCI image layout (LocalLayoutClient). */
export interface ImageClient {
  /** Where it reads from, for the pull's log (`http://host/v2/repo (tag)`, `/images/repo (tag)`). */
  readonly where: string;
  manifest(): Promise<ImageManifest>;
  blobBytes(d: Descriptor): Promise<Buffer>;
  blob(d: Descriptor): AsyncGenerator<Buffer>;
}

export class RegistryClient implements ImageClient {
  /** The Authorization header this pull uses once a challenge was answered. */
  private authorization: string | undefined;

  readonly where: string;

  constructor(
    readonly source: ImageSource,
    private readonly options: RegistryOptions,
  ) {
    this.where = `${source.base}/v2/${source.repository} (${source.reference})`;
    const basic = options.credentials?.(source.host);
    if (basic !== undefined) this.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
  }

  private request(url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.get(url, {
        agent: false,
        headers: { 'user-agent': 'corral-agent', 'accept-encoding': 'identity', ...headers },
        ...(this.options.ca ? { ca: this.options.ca } : {}),
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      });
      let stalled = false;
      req.setTimeout(Math.min(this.options.stallTimeoutMs, MAX_TIMER_MS), () => {
        stalled = true;
        req.destroy();
      });
      req.once('response', (res) => {
        res.once('error', () => undefined);
        resolve(res);
      });
      req.once('error', (e: NodeJS.ErrnoException) => {
        if (this.options.signal?.aborted) reject(new PullError('the pull was aborted'));
        else if (stalled) reject(new PullError(`no data from ${url.host} for ${this.options.stallTimeoutMs / 1000} s (stalled)`));
        else reject(new PullError(`cannot reach the registry at ${url.host}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}`));
      });
    });
  }

  /**
   * GET a path of this repository's API, answering an authentication challenge once and
   * following redirects (to another host without the Authorization header, as a registry's
   * storage backend expects).
   */
  private async get(path: string, accept?: string): Promise<IncomingMessage> {
    let url = new URL(`${this.source.base}/v2/${this.source.repository}/${path}`);
    let challenged = false;
    for (let hops = 0; hops < 10; hops++) {
      const sameHost = url.host === this.source.host;
      const headers: Record<string, string> = {};
      if (accept) headers.accept = accept;
      if (sameHost && this.authorization) headers.authorization = this.authorization;
      const res = await this.request(url, headers);
      if (res.statusCode === 401 && sameHost && !challenged) {
        challenged = true;
        const header = res.headers['www-authenticate'];
        res.resume();
        await this.answer(parseChallenge(Array.isArray(header) ? header[0] : header));
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(res.statusCode ?? 0) && res.headers.location) {
        res.resume();
        url = new URL(res.headers.location, url);
        continue;
      }
      return res;
    }
    throw new PullError('more than 10 redirects');
  }

  private async answer(challenge: ReturnType<typeof parseChallenge>): Promise<void> {
    const basic = this.options.credentials?.(this.source.host);
    if (challenge?.scheme === 'basic') {
      if (basic === undefined)
        throw new PullError(`the registry ${this.source.host} asks for credentials (Basic) and none are configured for it (--docker_config)`);
      this.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
      return;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm)
      throw new PullError(`the registry ${this.source.host} answered 401 without a Bearer or Basic challenge`);
    const realm = new URL(challenge.params.realm);
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', challenge.params.scope ?? `repository:${this.source.repository}:pull`);
    const headers: Record<string, string> = {};
    if (basic !== undefined) headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    const res = await this.request(realm, headers);
    const body = await readAll(res, 1 << 20, 'the token');
    if (res.statusCode !== 200) throw new PullError(`the token server ${realm.host} answered HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trim());
    let token: unknown;
    try {
      const j = JSON.parse(body.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = j.token ?? j.access_token;
    } catch {
      throw new PullError(`the token server ${realm.host} did not answer JSON`);
    }
    if (typeof token !== 'string' || token === '') throw new PullError(`the token server ${realm.host} gave no token`);
    this.authorization = `Bearer ${token}`;
  }

  private async fail(res: IncomingMessage, what: string): Promise<never> {
    const body = await readAll(res, 64 << 10, what).catch(() => Buffer.alloc(0));
    let detail = '';
    try {
      const errors = (JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] }).errors;
      if (errors?.[0]) detail = `${errors[0].message ?? errors[0].code}: `;
    } catch {
      /* not the registry's JSON error */
    }
    if (res.statusCode === 401) throw new PullError(`${detail}not authorized to pull ${what} (HTTP 401)`);
    throw new PullError(`${detail}${what} (HTTP ${res.statusCode} ${res.statusMessage ?? ''})`.trim().replace(/\s+\)$/, ')'));
  }

  /** The image's manifest for linux/HOST_ARCH, its digest checked. */
  async manifest(): Promise<ImageManifest> {
    const accept = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');
    let reference = this.source.reference;
    for (let depth = 0; depth < 2; depth++) {
      const res = await this.get(`manifests/${reference}`, accept);
      if (res.statusCode !== 200) await this.fail(res, `manifest ${reference}`);
      const body = await readAll(res, MAX_MANIFEST, 'the manifest');
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const expected = reference.startsWith('sha256:') ? reference : (res.headers['docker-content-digest'] as string | undefined);
      if (expected !== undefined && expected.startsWith('sha256:') && expected !== digest) {
        throw new PullError(`the manifest's digest is ${digest}, not ${expected}`);
      }
      const headerType = String(res.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim();
      const decoded = decodeManifest(body, digest, headerType);
      if ('next' in decoded) {
        reference = decoded.next;
        continue;
      }
      return decoded;
    }
    throw new PullError('an index points to another index');
  }

  /** A small blob (the image config), read whole and checked. */
  async blobBytes(d: Descriptor): Promise<Buffer> {
    if (d.size > MAX_CONFIG) throw new PullError(`the blob ${d.digest} is ${d.size} bytes (more than ${MAX_CONFIG >> 20} MiB)`);
    const res = await this.get(`blobs/${d.digest}`);
    if (res.statusCode !== 200) await this.fail(res, `blob ${d.digest}`);
    const body = await readAll(res, d.size + 1, `blob ${d.digest}`);
    verify(createHash('sha256').update(body), body.length, d);
    return body;
  }

  /**
   * A blob as a stream of chunks, each counted into a sha256; when the stream ends its digest
   * and size are checked (a PullError from the iterator otherwise), so nothing built from it is
   * kept unless the whole blob was right.
   */
  async *blob(d: Descriptor): AsyncGenerator<Buffer> {
    const res = await this.get(`blobs/${d.digest}`);
    if (res.statusCode !== 200) await this.fail(res, `blob ${d.digest}`);
    try {
      yield* checkedBlob(res as AsyncIterable<Buffer>, d, (e, n) => `the download of blob ${d.digest} broke after ${n} bytes: ${e.message}`);
    } finally {
      res.destroy();
    }
  }
}

/**
 * The chunks of blob `d` as `chunks` gives them, each checked as it passes: never more than its
 * size, and at the end its size and sha256 digest, so a caller keeps nothing unless the whole
 * blob was right. A failure of `chunks` itself becomes a PullError worded by `broke`.
 */
export async function* checkedBlob(chunks: AsyncIterable<Buffer>, d: Descriptor, broke: (e: Error, n: number) => string): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let n = 0;
  try {
    for await (const chunk of chunks) {
      n += chunk.length;
      if (n > d.size) throw new PullError(`the blob ${d.digest} is longer than its ${d.size} bytes`);
      hash.update(chunk);
      yield chunk;
    }
  } catch (e) {
    if (e instanceof PullError) throw e;
    throw new PullError(broke(e as Error, n));
  }
  verify(hash, n, d);
}

export function verify(hash: Hash, size: number, d: Descriptor): void {
  if (size !== d.size) throw new PullError(`the blob ${d.digest} has ${size} bytes, its descriptor says ${d.size}`);
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== d.digest) throw new PullError(`digest mismatch: the blob asked as ${d.digest} has the digest ${got}`);
}

async function readAll(res: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      res.destroy();
      throw new PullError(`${what} is larger than ${limit} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * Credentials from a Docker config.json (`{"auths": {"host:port": {"auth": base64("user:pass")}}}`):
 * a key matches a host when it equals it after dropping a scheme and a path; `docker.io` keys
 * match any Docker Hub host. Throws PullError naming the problem when the JSON is not that shape.
 */
export function dockerConfigCredentials(json: string, field: string): Credentials {
  let auths: Record<string, { auth?: unknown }>;
  try {
    const j = JSON.parse(json) as { auths?: unknown };
    const a = j.auths ?? j; // the older .dockercfg has the hosts at the top
    if (typeof a !== 'object' || a === null || Array.isArray(a)) throw new Error('no auths object');
    auths = a as Record<string, { auth?: unknown }>;
  } catch (e) {
    throw new PullError(`${field}: not a Docker config.json (${(e as Error).message})`);
  }
  const table = new Map<string, string>();
  for (const [key, v] of Object.entries(auths)) {
    if (typeof v?.auth !== 'string') continue;
    const decoded = Buffer.from(v.auth, 'base64').toString('utf8');
    if (!decoded.includes(':')) throw new PullError(`${field}: the auth of '${key}' is not base64 of user:password`);
    table.set(key.replace(/^https?:\/\//, '').replace(/\/.*$/, ''), decoded);
  }
  return (host) => {
    const direct = table.get(host);
    if (direct !== undefined) return direct;
    if (host.includes('docker.io')) for (const [k, v] of table) if (k.includes('docker.io')) return v;
    return undefined;
  };
}
