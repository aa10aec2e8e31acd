/**
 * The part of node-zookeeper-client (pure JS, no types of its own) that session.ts uses, typed,
 * and the loaded module. Only session.ts touches the client; everything else goes through ZkSession.
 */
import { createRequire } from 'node:module';

export interface ZkStat {
  readonly version: number;
  readonly numChildren: number;
  readonly ephemeralOwner: Buffer;
}

export interface ZkException extends Error {
  readonly code: number;
  /** NO_NODE, NODE_EXISTS, BAD_VERSION, CONNECTION_LOSS, SESSION_EXPIRED, … */
  readonly name: string;
  readonly path?: string;
}

export interface ZkClientEvent {
  readonly type: number;
  readonly name: string;
  readonly path: string;
}

export type ZkAcl = object;
export type Watcher = (event: ZkClientEvent) => void;

export interface ZkTransactionOp {
  type: number;
  path: string;
  version?: number;
}

export interface ZkTransaction {
  readonly ops: ZkTransactionOp[];
  create(path: string, data: Buffer | undefined, acls: ZkAcl[], mode: number): ZkTransaction;
  setData(path: string, data: Buffer, version: number): ZkTransaction;
  check(path: string, version: number): ZkTransaction;
  remove(path: string, version: number): ZkTransaction;
  commit(cb: (error: ZkException | null | undefined, results?: { type: number; err?: number; path?: string; stat?: ZkStat }[]) => void): void;
}

export interface ZkClient {
  connect(): void;
  close(): void;
  on(event: 'state', listener: (state: { name: string; code: number }) => void): void;
  removeAllListeners(): void;
  addAuthInfo(scheme: string, auth: Buffer): void;
  getSessionId(): Buffer;
  getSessionTimeout(): number;
  create(path: string, data: Buffer | undefined, acls: ZkAcl[], mode: number, cb: (error: ZkException | null, path: string) => void): void;
  exists(path: string, watcher: Watcher | undefined, cb: (error: ZkException | null, stat: ZkStat | null) => void): void;
  getData(path: string, watcher: Watcher | undefined, cb: (error: ZkException | null, data: Buffer | null, stat: ZkStat) => void): void;
  setData(path: string, data: Buffer, version: number, cb: (error: ZkException | null, stat: ZkStat) => void): void;
  getChildren(path: string, watcher: Watcher | undefined, cb: (error: ZkException | null, children: string[], stat: ZkStat) => void): void;
  remove(path: string, version: number, cb: (error: ZkException | null) => void): void;
  transaction(): ZkTransaction;
  /** Internal: the connection, whose socket session.ts destroys when the server stops answering. */
  readonly connectionManager?: { socket?: { destroy(): void; remoteAddress?: string; remotePort?: number } };
}

export interface ZkModule {
  createClient(connectString: string, options: { sessionTimeout: number; spinDelay: number; retries: number }): ZkClient;
  ACL: { new (permission: number, id: object): ZkAcl; OPEN_ACL_UNSAFE: ZkAcl[] };
  Id: new (scheme: string, id: string) => object;
  Permission: { READ: number; ALL: number };
  CreateMode: { PERSISTENT: number; EPHEMERAL: number; PERSISTENT_SEQUENTIAL: number; EPHEMERAL_SEQUENTIAL: number };
  Event: { NODE_CREATED: number; NODE_DELETED: number; NODE_DATA_CHANGED: number; NODE_CHILDREN_CHANGED: number };
  State: Record<string, { name: string; code: number }>;
  Exception: Record<string, number>;
}

export const zookeeper = createRequire(import.meta.url)('node-zookeeper-client') as ZkModule;

/** ZooKeeper's multi-op codes (the transaction's results carry them). */
export const OP = { CREATE: 1, DELETE: 2, SET_DATA: 5, CHECK: 13, ERROR: -1 } as const;
