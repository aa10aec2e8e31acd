/**
 * The operations of a ZkSession as values: modes, data, the operations of a multi() and their
 * results, and ZkError, what a failed operation throws.
 */
import { CorralError } from '../../common/errors.ts';
import { type ZkAcl, type ZkException, type ZkStat, type ZkTransaction, OP, zookeeper } from './client_api.ts';

export type ZkCreateMode = 'persistent' | 'ephemeral' | 'ephemeral_sequential' | 'persistent_sequential';
export type ZkState = 'connected' | 'disconnected' | 'expired';

/** A watch that fired. Watches fire once; set a new one to keep watching. */
export interface ZkWatchEvent {
  readonly type: 'created' | 'deleted' | 'data_changed' | 'children_changed';
  /** Relative to the URL's path, like every ZkSession path. */
  readonly path: string;
}
export type ZkWatcher = (event: ZkWatchEvent) => void;

export type ZkData = Buffer | Uint8Array | string;

/** One operation of a multi(): all of them apply, or none. */
export type ZkOp =
  | { readonly op: 'create'; readonly path: string; readonly data?: ZkData; readonly mode?: ZkCreateMode; readonly worldReadable?: boolean }
  | { readonly op: 'set'; readonly path: string; readonly data: ZkData; readonly version?: number }
  | { readonly op: 'remove'; readonly path: string; readonly version?: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number };

export type ZkOpResult =
  { readonly op: 'create'; readonly path: string } | { readonly op: 'set'; readonly version: number } | { readonly op: 'remove' } | { readonly op: 'check' };

/**
 * A ZooKeeper operation that failed. `zk` is ZooKeeper's name for the reason (NO_NODE,
 * NODE_EXISTS, BAD_VERSION, NOT_EMPTY, NO_AUTH, CONNECTION_LOSS, SESSION_EXPIRED, …); callers
 * branch on it. For a multi(), `opIndex` is the operation that failed.
 */
export class ZkError extends CorralError {
  readonly zk: string;
  /** The full znode path (with the URL's path), when the failure is about one. */
  readonly path: string | undefined;
  readonly opIndex: number | undefined;

  constructor(zk: string, message: string, options: { path?: string; opIndex?: number; field?: string; cause?: unknown } = {}) {
    super('ZOOKEEPER', message, options);
    this.name = 'ZkError';
    this.zk = zk;
    this.path = options.path;
    this.opIndex = options.opIndex;
  }
}

export const MODES: Record<ZkCreateMode, number> = {
  persistent: zookeeper.CreateMode.PERSISTENT,
  ephemeral: zookeeper.CreateMode.EPHEMERAL,
  ephemeral_sequential: zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL,
  persistent_sequential: zookeeper.CreateMode.PERSISTENT_SEQUENTIAL,
};

/** One result of a transaction as the client reports it. */
export interface MultiResult {
  readonly type: number;
  readonly err?: number;
  readonly path?: string;
  readonly stat?: ZkStat;
}

/** Add `ops` (full paths in `abs`) to the client's transaction. */
export function buildTransaction(tx: ZkTransaction, ops: readonly ZkOp[], abs: readonly string[], acls: (worldReadable: boolean) => ZkAcl[]): ZkTransaction {
  ops.forEach((o, i) => {
    const p = abs[i]!;
    switch (o.op) {
      case 'create':
        tx.create(p, toBuffer(o.data), acls(o.worldReadable === true), MODES[o.mode ?? 'persistent']);
        return;
      case 'set':
        tx.setData(p, toBuffer(o.data) ?? Buffer.alloc(0), -1);
        break;
      case 'remove':
        tx.remove(p, -1);
        break;
      case 'check':
        tx.check(p, -1);
        break;
    }
    // The client turns a version of 0 into -1 (any version): set the version here.
    tx.ops[i]!.version = o.version ?? -1;
  });
  return tx;
}

/** The ZkError of a failed multi: the failing operation (ZooKeeper reports OK before it and RUNTIME_INCONSISTENCY after it). */
export function multiFailure(ops: readonly ZkOp[], abs: readonly string[], error: ZkException, results: readonly MultiResult[], field: string): ZkError {
  const index = results.findIndex((r) => r.type === OP.ERROR && r.err !== 0 && r.err !== zookeeper.Exception.RUNTIME_INCONSISTENCY);
  const at = index >= 0 ? index : 0;
  const op = ops[at]!;
  const what = `${op.op} ${abs[at]}${'version' in op && op.version !== undefined ? ` at version ${op.version}` : ''}`;
  return new ZkError(error.name, `ZooKeeper multi of ${ops.length} operations failed at operation ${at + 1} (${what}): ${error.name}`, {
    path: abs[at]!,
    opIndex: at,
    field,
    cause: error,
  });
}

export function multiResults(results: readonly MultiResult[], abs: readonly string[], rel: (full: string) => string): ZkOpResult[] {
  return results.map((r, i): ZkOpResult => {
    switch (r.type) {
      case OP.CREATE:
        return { op: 'create', path: rel(r.path ?? abs[i]!) };
      case OP.SET_DATA:
        return { op: 'set', version: r.stat?.version ?? -1 };
      case OP.DELETE:
        return { op: 'remove' };
      default:
        return { op: 'check' };
    }
  });
}

export function toBuffer(data: ZkData | undefined): Buffer | undefined {
  if (data === undefined) return undefined;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
