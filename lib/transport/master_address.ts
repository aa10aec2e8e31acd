/**
 * The `--master` value of agents and of `corral execute`: one master as `host:port` (or
 * `master@host:port`, as libprocess writes a pid), or the masters' ZooKeeper group as
 * `zk://[user:password@]host1:port1,host2:port2/path` (mesos-api.md §7.1; a `file://` value is
 * read by the flag parser before it gets here). Parsing only: the detector for it is made by
 * the daemon (docs/architecture.md §1, masters and leadership).
 */
import { ValidationError } from '../common/errors.ts';
import { parseHostPort } from '../common/flags.ts';

/**
 * The value as given once checked: `host:port` for one master (without a `master@`), or the
 * `zk://` URL unchanged.
 */
export function parseMasterAddress(text: string, field: string): string {
  const t = text.trim();
  if (t.startsWith('zk://')) {
    checkZkUrl(t, field);
    return t;
  }
  const hostPort = t.startsWith('master@') ? t.slice('master@'.length) : t;
  try {
    return parseHostPort(hostPort);
  } catch {
    throw new ValidationError(field, `'${text}' is not host:port, master@host:port or zk://host1:port1,host2:port2/path`);
  }
}

/** Whether a --master value names a ZooKeeper group (else one master, host:port). */
export function isZkAddress(value: string): boolean {
  return value.startsWith('zk://');
}

/**
 * The shape of a zk:// URL: servers as host:port, a path that is not `/`. (The ZooKeeper
 * client's own parser reads the credentials and the servers when the detector is made.)
 */
function checkZkUrl(url: string, field: string): void {
  const rest = url.slice('zk://'.length);
  const at = rest.lastIndexOf('@');
  const afterAuth = at < 0 ? rest : rest.slice(at + 1);
  const slash = afterAuth.indexOf('/');
  const servers = slash < 0 ? afterAuth : afterAuth.slice(0, slash);
  const path = slash < 0 ? '' : afterAuth.slice(slash);
  if (servers === '') throw new ValidationError(field, `'${redactMasterAddress(url)}' names no ZooKeeper server (zk://host1:port1,host2:port2/path)`);
  for (const s of servers.split(',')) {
    if (!/^[^:/\s,]+:[0-9]{1,5}$/.test(s) || Number(s.split(':')[1]) > 65535)
      throw new ValidationError(field, `'${s}' in '${redactMasterAddress(url)}' is not host:port (zk://host1:port1,host2:port2/path)`);
  }
  if (path === '' || path === '/' || path.endsWith('/') || path.includes('//'))
    throw new ValidationError(
      field,
      `'${redactMasterAddress(url)}' needs a znode path after the servers, like zk://${servers}/corral (not '${path || '(none)'}')`,
    );
}

/** The URL without its password, for messages and /flags. */
export function redactMasterAddress(url: string): string {
  const at = url.lastIndexOf('@');
  if (!url.startsWith('zk://') || at < 0) return url;
  const user = url.slice('zk://'.length, at).split(':')[0];
  return `zk://${user}:***@${url.slice(at + 1)}`;
}
