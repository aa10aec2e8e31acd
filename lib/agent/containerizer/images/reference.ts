/**
 * Docker image names (`Image.docker.name`): `[REGISTRY_HOST[:PORT]/]REPOSITORY[:TAG|@sha256:HEX]`,
 * split the way Mesos splits them (docs/architecture.md §7), and checked against the
 * distribution grammar, which Mesos does not do: a name with upper case, an empty path
 * component or a digest that is not `algorithm:hex` is refused here, with the reason, instead of
 * failing later at the registry.
 */
import { ImageError } from './errors.ts';

export interface ImageReference {
  /** The registry named in the image (`host[:port]`), or undefined: the agent's --docker_registry. */
  readonly registry: string | undefined;
  /** As written, without `library/` added. */
  readonly repository: string;
  readonly tag: string | undefined;
  /** `sha256:<64 hex>`: wins over the tag. */
  readonly digest: string | undefined;
  /** The store's key for this name: `[registry/]repository` then `@digest`, else `:tag`, as written. */
  readonly canonical: string;
}

/** Where a reference is pulled from. */
export interface ImageSource {
  /** `http://host:port` or `https://host[:port]`, no trailing slash. */
  readonly base: string;
  /** `host[:port]` (credentials are looked up by it). */
  readonly host: string;
  /** The repository on that registry (`library/` added for Docker Hub's official images). */
  readonly repository: string;
  /** The digest, else the tag, else `latest`. */
  readonly reference: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/;
const HOST = /^(?:localhost|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?$/;

/** Parse an image name; throws ImageError (IMAGE_BAD_NAME) naming the part that is wrong. */
export function parseImageReference(name: string): ImageReference {
  const bad = (reason: string): ImageError => new ImageError(name, reason, { code: 'IMAGE_BAD_NAME' });
  if (name === '') throw bad('the name is empty');
  if (name.length > 4096) throw bad('the name is longer than 4096 characters');
  const at = name.split('@');
  if (at.length > 2) throw bad("more than one '@'");
  let rest = at[0]!;
  const digest = at[1];
  if (digest !== undefined && !DIGEST.test(digest)) throw bad(`the digest '${digest}' is not sha256:<64 hex digits> (or sha512:<128>)`);
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0 && !rest.slice(colon + 1).includes('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`the tag '${tag}' is not 1 to 128 letters, digits, '_', '.' or '-' (not starting with '.' or '-')`);
  }
  let registry: string | undefined;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      rest = rest.slice(slash + 1);
      const m = HOST.exec(registry);
      if (!m || (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535)))
        throw bad(`the registry '${registry}' is not a host name with an optional port`);
    }
  }
  if (rest === '') throw bad('the repository is empty');
  for (const part of rest.split('/')) {
    if (!COMPONENT.test(part)) {
      throw bad(`the repository component '${part}' is not lower-case letters and digits separated by '.', '_', '__' or dashes`);
    }
  }
  if (rest.length > 255) throw bad('the repository is longer than 255 characters');
  const base = registry === undefined ? rest : `${registry}/${rest}`;
  const canonical = digest !== undefined ? `${base}@${digest}` : tag !== undefined ? `${base}:${tag}` : base;
  return { registry, repository: rest, tag, digest, canonical };
}

/** The scheme for a registry named in an image: 443 https, 80 http, loopback with another port http, else https. */
function schemeOf(host: string): 'http' | 'https' {
  const port = /:(\d+)$/.exec(host)?.[1];
  if (port === '443') return 'https';
  if (port === '80') return 'http';
  const name = host.replace(/:\d+$/, '');
  if (port !== undefined && (name === 'localhost' || name === '127.0.0.1' || name === '[::1]')) return 'http';
  return 'https';
}

/**
 * Where to pull `ref` from: its own registry, else `defaultRegistry` (the --docker_registry URL,
 * already checked to be http(s)).
 */
export function imageSource(ref: ImageReference, defaultRegistry: URL): ImageSource {
  let base: string;
  let host: string;
  if (ref.registry !== undefined) {
    host = ref.registry;
    base = `${schemeOf(host)}://${host}`;
  } else {
    host = defaultRegistry.host;
    base = `${defaultRegistry.protocol}//${defaultRegistry.host}`;
  }
  const repository = host.includes('docker.io') && !ref.repository.includes('/') ? `library/${ref.repository}` : ref.repository;
  return { base, host, repository, reference: ref.digest ?? ref.tag ?? 'latest' };
}
