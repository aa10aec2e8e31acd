/**
 * ZooKeeper URLs as Mesos takes them (`--zk`, `--master`): `zk://[user:password@]h1:p1,h2:p2/path`,
 * or `file:///some/file` holding such a URL. The credentials are what precedes the last `@`; the
 * path starts at the first `/` after the servers and is mandatory (a bare `/` is refused: the
 * masters' znodes need a path of their own).
 */
import { readFileSync } from 'node:fs';
import { ValidationError, describeError } from '../../common/errors.ts';

export const ZK_DEFAULT_PORT = 2181;

export interface ZkCredentials {
  readonly user: string;
  readonly password: string;
}

export interface ZkUrl {
  /** `host:port` of each server, in the order given (a missing port is 2181). */
  readonly servers: readonly string[];
  /** The znode path all of Corral's znodes live under, e.g. `/corral` (never `/`, no trailing `/`). */
  readonly path: string;
  /** Digest credentials, when the URL has `user:password@`. */
  readonly credentials?: ZkCredentials;
  /** The URL with the password replaced by `****`: what logs and errors show. */
  readonly redacted: string;
}

const FORM = 'zk://[user:password@]host:port[,host:port...]/path';

/** True for a value that names a ZooKeeper ensemble (`zk://…` or `file://…`) rather than `host:port`. */
export function isZkUrl(value: string): boolean {
  const v = value.trim();
  return v.startsWith('zk://') || v.startsWith('file://');
}

/**
 * Parse a ZooKeeper URL. `field` is the flag or input it came from (`--zk`, `--master`): every
 * refusal is a ValidationError naming it and the reason. A `file://` value is read once; the
 * file must hold a `zk://` URL.
 */
export function parseZkUrl(value: string, field: string): ZkUrl {
  let text = value.trim();
  if (text.startsWith('file://')) {
    const file = text.slice('file://'.length);
    if (file === '') throw new ValidationError(field, `'${text}' names no file (file:///path/to/file)`);
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new ValidationError(field, `cannot read ${file}: ${describeError(e)}`, { cause: e });
    }
    if (!text.startsWith('zk://')) throw new ValidationError(field, `${file} must hold a ZooKeeper URL (${FORM})`);
    return parseZk(text, `${field} (read from ${file})`);
  }
  return parseZk(text, field);
}

function parseZk(text: string, field: string): ZkUrl {
  if (text === '') throw new ValidationError(field, `is empty; expected ${FORM}`);
  if (!text.startsWith('zk://')) {
    throw new ValidationError(field, `'${redactRaw(text)}' is not a ZooKeeper URL; expected ${FORM}`);
  }
  let rest = text.slice('zk://'.length);
  let credentials: ZkCredentials | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    if (colon < 0) throw new ValidationError(field, `credentials must be user:password before the '@' (${FORM})`);
    const user = auth.slice(0, colon);
    const password = auth.slice(colon + 1);
    if (user === '') throw new ValidationError(field, 'the user before the password is empty');
    if (password === '') throw new ValidationError(field, `the password of user '${user}' is empty`);
    credentials = { user, password };
  }
  const slash = rest.indexOf('/');
  const hostList = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '/' : rest.slice(slash);
  const servers = parseServers(hostList, field);
  checkPath(path, field);
  const auth = credentials ? `${credentials.user}:****@` : '';
  return { servers, path, ...(credentials ? { credentials } : {}), redacted: `zk://${auth}${servers.join(',')}${path}` };
}

function parseServers(list: string, field: string): string[] {
  if (list === '') throw new ValidationError(field, `names no ZooKeeper server; expected ${FORM}`);
  return list.split(',').map((item, i) => {
    const where = `server ${i + 1} ('${item}')`;
    if (item === '') throw new ValidationError(field, `server ${i + 1} is empty (two commas, or a comma at an end)`);
    if (item.startsWith('[')) throw new ValidationError(field, `${where}: IPv6 addresses are not supported; use a host name`);
    const parts = item.split(':');
    if (parts.length > 2) throw new ValidationError(field, `${where} must be host:port`);
    const [host = '', portText] = parts;
    if (!/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(host)) {
      throw new ValidationError(field, `${where}: '${host}' is not a host name or IPv4 address`);
    }
    let port = ZK_DEFAULT_PORT;
    if (portText !== undefined) {
      if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
        throw new ValidationError(field, `${where}: port '${portText}' is not a number from 1 to 65535`);
      }
      port = Number(portText);
    }
    return `${host}:${port}`;
  });
}

function checkPath(path: string, field: string): void {
  if (path === '/') {
    throw new ValidationError(field, `needs a znode path after the servers, e.g. zk://host:2181/corral (the root '/' cannot hold the masters' znodes)`);
  }
  if (path.endsWith('/')) throw new ValidationError(field, `path '${path}' must not end with '/'`);
  const segments = path.slice(1).split('/');
  if (segments[0] === 'zookeeper') throw new ValidationError(field, `path '${path}' is under /zookeeper, which ZooKeeper reserves for itself`);
  for (const s of segments) {
    if (s === '') throw new ValidationError(field, `path '${path}' has an empty component ('//')`);
    if (s === '.' || s === '..') throw new ValidationError(field, `path '${path}' may not contain '.' or '..' components`);
    if (/[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff]/.test(s)) {
      throw new ValidationError(field, `path '${path}' contains a character ZooKeeper does not allow in a znode name`);
    }
  }
}

/** The password of a `zk://user:password@` text that did not parse, hidden before it goes into a message. */
function redactRaw(text: string): string {
  return text.replace(/^([a-z]+:\/\/[^:@/]*:)[^@]*@/i, '$1****@');
}
