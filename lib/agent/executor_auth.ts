/**
 * Executor authentication (`--authenticate_http_executors`, as in Mesos 1.3+): the agent gives
 * each custom executor it launches a token in `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`, a JWT
 * signed with HMAC-SHA256 whose claims name the executor's framework (`fid`), executor (`eid`)
 * and container (`cid`). The executor sends it back as `Authorization: Bearer <token>` with every
 * call; a call without a valid token is not authenticated, and one whose framework or executor is
 * not the token's (or whose executor now runs in another container) is not authorized.
 *
 * The key is `--executor_secret_key` (a file; its bytes are the key, as Mesos reads it), or one
 * the agent makes at its first start with the flag on and keeps in its work_dir (mode 0600): a
 * token must still verify after an agent restart, for executors that went on running.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CorralError, ValidationError, describeError } from '../common/errors.ts';
import { AuthenticationError } from '../transport/errors.ts';
import { type JwtClaims, parseBearer, signJwt, verifyJwt } from '../transport/jwt.ts';
import { ExecutorRefusal } from './errors.ts';

/** The environment variable that carries an executor's token (Mesos's name). */
export const EXECUTOR_TOKEN_ENV = 'MESOS_EXECUTOR_AUTHENTICATION_TOKEN';

/** Bytes of a key the agent makes itself. */
const GENERATED_KEY_BYTES = 32;

/** A loaded `--executor_secret_key`. */
export interface ExecutorSecretKey {
  readonly path: string;
  readonly key: Buffer;
  /** The file can be read by users other than its owner (worth a warning at start). */
  readonly readableByOthers: boolean;
}

/**
 * `--executor_secret_key`: a path; the file's bytes are the key, and an empty file is refused.
 * A refusal never repeats the value: given as `file:///path`, the value is the key itself.
 */
export function loadExecutorSecretKey(path: string): ExecutorSecretKey {
  let key: Buffer;
  try {
    key = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? describeError(e);
    throw new CorralError('INVALID', `the file cannot be read (${code}): give the path of a file holding the key (not file://)`, {
      field: '--executor_secret_key',
    });
  }
  if (key.length === 0) throw new ValidationError(path, 'is empty (it must hold the key)');
  return { path, key, readableByOthers: (statSync(path).mode & 0o077) !== 0 };
}

/**
 * The key the agent keeps at `path` (its work_dir), made now with owner-only permissions when
 * there is none yet. `made` says whether it was made by this call.
 */
export async function workDirExecutorSecretKey(path: string): Promise<{ key: Buffer; made: boolean }> {
  try {
    const key = await readFile(path);
    if (key.length === 0) throw new ValidationError(path, 'is empty (remove it to have the agent make a new key; running executors then need a restart)');
    await chmod(path, 0o600);
    return { key, made: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dirname(path), { recursive: true });
  const key = randomBytes(GENERATED_KEY_BYTES);
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(key);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { key, made: true };
}

export class ExecutorTokens {
  constructor(
    private readonly key: Buffer,
    /** Calls without a valid token are refused (`--authenticate_http_executors`). */
    readonly required: boolean,
  ) {}

  /** The token of the executor `executorId` of `frameworkId`, running in `containerId`. */
  issue(frameworkId: string, executorId: string, containerId: string): string {
    return signJwt({ fid: frameworkId, eid: executorId, cid: containerId }, this.key);
  }

  /** Who an `Authorization` header says the caller is (the token's claims); an AuthenticationError says why no one. */
  authenticate(authorization: string | undefined): JwtClaims {
    if (authorization === undefined) throw new AuthenticationError(`no credentials (an executor sends 'Authorization: Bearer <${EXECUTOR_TOKEN_ENV}>')`);
    const token = parseBearer(authorization);
    if (token === undefined) throw new AuthenticationError('the Authorization header is not a Bearer token');
    const claims = verifyJwt(token, this.key);
    if (claims.fid === undefined || claims.eid === undefined || claims.cid === undefined)
      throw new AuthenticationError("the token does not name a framework, executor and container ('fid', 'eid', 'cid')");
    return claims;
  }

  /**
   * Throw an ExecutorRefusal (FORBIDDEN) when a caller with `claims` may not make a call for this
   * framework and executor. `containerId` is the executor's current container, when the agent
   * has the executor.
   */
  authorize(claims: JwtClaims, frameworkId: string, executorId: string, containerId: string | undefined): void {
    if (claims.fid !== frameworkId || claims.eid !== executorId)
      throw new ExecutorRefusal('FORBIDDEN', "The executor's token is not for this framework_id and executor_id");
    if (containerId !== undefined && claims.cid !== containerId)
      throw new ExecutorRefusal('FORBIDDEN', "The executor's token is for another container of this executor");
  }
}
