/**
 * Domain errors. Every error Corral raises on purpose is a CorralError with a stable `code`
 * (callers branch on it, never on message text), a message that names the field and the
 * reason, and an optional `cause`. The one error style of lib/ (docs/architecture.md §2): a
 * function that finds a problem throws one; the caller that answers (a task update, an HTTP
 * status in an http/ folder, a log line) catches it.
 */

/**
 * A code Node or the OS gave, carried unchanged: an errno name the native addon or a system
 * call reported (`EEXIST`, `ENOSPC`, …) or a Node code (`ERR_SSL_…`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`).
 * Made only by `systemCode`, where such an error enters lib/.
 */
export type SystemCode = string & { readonly __systemCode: true };

/** Every code a CorralError carries. A code not listed here does not compile. */
export type ErrorCode =
  // ---- Input (any layer)
  /** Input that breaks a rule: ValidationError's default; an HTTP 400 when it reaches a handler. */
  | 'INVALID'
  /** A message lacks required fields (the proto decoders: `Missing required fields: …`). */
  | 'MISSING_FIELDS'
  /** A well-formed call or event of a type Corral does not implement (the v1 API decoders). */
  | 'UNSUPPORTED'
  /** A flag or its environment variable is refused (FlagError). */
  | 'BAD_FLAG'
  // ---- The master's refusals (MasterRefusal; lib/master/http/status.ts chooses the status)
  /** The framework, agent or offer a call names is not known. */
  | 'NOT_FOUND'
  /** The principal may not do this (the ACLs), or the stream is not the caller's. */
  | 'FORBIDDEN'
  /** The framework is known but not subscribed. */
  | 'NOT_SUBSCRIBED'
  /** The resources an operation needs are not there (or not free). */
  | 'CONFLICT'
  /** A framework call over its principal's capacity of waiting calls (--rate_limits). */
  | 'RATE_LIMITED'
  // ---- The master's registry
  /** The registry (its file, or a znode of it) cannot be read or does not hold a valid registry. */
  | 'REGISTRY'
  /** The registry could not be written (a full disk, a lost connection): nothing was applied, or (no answer) it is not known whether it was. */
  | 'REGISTRY_WRITE_FAILED'
  /** Another master has recovered the registry since this one did: this one may write nothing more (an agent is answered 503). */
  | 'REGISTRY_FENCED'
  // ---- The allocator (AllocatorError): a caller broke the allocator's contract
  /** A framework or agent is added twice. */
  | 'EXISTS'
  /** A framework gives back or converts resources it does not hold. */
  | 'NOT_ALLOCATED'
  /** An agent's total does not hold what a conversion takes from it. */
  | 'NOT_IN_TOTAL'
  /** The framework is not known to the allocator. */
  | 'UNKNOWN_FRAMEWORK'
  /** The agent is not known to the allocator. */
  | 'UNKNOWN_AGENT'
  // ---- Authentication (AuthenticationError; an HTTP 401)
  /** A request's credentials (Basic, Bearer token, TLS client certificate) are missing or wrong. */
  | 'UNAUTHENTICATED'
  // ---- The executor API (ExecutorRefusal; lib/agent/http/status.ts chooses the status)
  /** The framework an executor call names is not on this agent. */
  | 'FRAMEWORK_NOT_FOUND'
  /** The executor an executor call names is not on this agent (or is a command executor). */
  | 'EXECUTOR_NOT_FOUND'
  /** The executor has not subscribed yet. */
  | 'EXECUTOR_NOT_SUBSCRIBED'
  // ---- The agent's checkpoints and recovery
  /** The checkpointed resources file does not hold a list of resources. */
  | 'CHECKPOINT'
  /** A checkpoint could not be written (a full disk, a quota). */
  | 'CHECKPOINT_WRITE_FAILED'
  /** A checkpoint or record log is not valid JSON, or cannot be used. */
  | 'CHECKPOINT_CORRUPT'
  /** A record log was appended to after it was closed. */
  | 'CHECKPOINT_CLOSED'
  /** --strict recovery found damaged checkpoints. */
  | 'RECOVERY_FAILED'
  /** The agent's hostname, resources or attributes differ from its checkpointed ones. */
  | 'INCOMPATIBLE_AGENT_INFO'
  /** The checkpointed resources do not fit the agent's resources. */
  | 'INCOMPATIBLE_CHECKPOINTED_RESOURCES'
  /** A volume's container path cannot be used. */
  | 'INVALID_VOLUME'
  /** A task was killed before its container started. */
  | 'KILLED_DURING_LAUNCH'
  /** A message to the master cannot be written or would be refused for its size or depth. */
  | 'UNSENDABLE'
  // ---- The containerizer and its isolators
  /** The containerizer was used after it was closed. */
  | 'CONTAINERIZER_CLOSED'
  /** A container with this id is already running. */
  | 'CONTAINER_EXISTS'
  /** No running container has this id. */
  | 'CONTAINER_NOT_FOUND'
  /** A container could not be started. */
  | 'CONTAINER_LAUNCH_FAILED'
  /** The launcher (posix or Linux) failed for a container. */
  | 'LAUNCHER_FAILED'
  /** An isolator's prepare, isolate, update or cleanup failed. */
  | 'ISOLATOR_FAILED'
  /** An isolator cannot work on this host (a missing controller, no root, an old kernel). */
  | 'ISOLATION_UNAVAILABLE'
  /** An isolator ran out of what it hands out (ephemeral ports, filter slots). */
  | 'RESOURCES_EXHAUSTED'
  /** A sandbox path does not exist (the files endpoints answer 404). */
  | 'SANDBOX_PATH_MISSING'
  /** A sandbox path leads out of the sandbox (403). */
  | 'SANDBOX_PATH_OUTSIDE'
  /** A sandbox path is not a directory (400). */
  | 'SANDBOX_PATH_NOT_DIRECTORY'
  // ---- The fetcher (FetchError, CacheFailure)
  /** A URI could not be fetched: the task fails. */
  | 'FETCH_FAILED'
  /** A fetch was aborted (the task was killed). */
  | 'FETCH_ABORTED'
  /** A URI or its output_file cannot be used. */
  | 'BAD_URI'
  /** The fetcher cache's own trouble: the fetch falls back to a direct download. */
  | 'FETCHER_CACHE_FAILED'
  // ---- Container images (lib/agent/containerizer/images; ImageError)
  /** An image name that does not parse (Image.docker.name). */
  | 'IMAGE_BAD_NAME'
  /** An image could not be pulled: the registry is unreachable or refuses, the image or a blob is not there, a digest does not match, a media type is not supported. */
  | 'IMAGE_PULL_FAILED'
  /** A layer breaks a rule of the store (an entry leading out of its directory, a device file, a bad archive). */
  | 'IMAGE_LAYER_REFUSED'
  // ---- The OS library
  /** The native addon or the supervisor executable is missing. */
  | 'NATIVE_NOT_BUILT'
  /** This build of the native addon lacks a feature (a gyp variable was off). */
  | 'NATIVE_FEATURE_MISSING'
  /** No cgroup hierarchy at the path given. */
  | 'CGROUPS_NOT_FOUND'
  /** The supervisor did not start the command. */
  | 'SUPERVISOR_FAILED'
  /** The agent's resident spawner of supervisors ended during a launch (it is started again at the next one). */
  | 'SPAWNER_LOST'
  /** A supervisor's run record cannot be read. */
  | 'SUPERVISOR_RECORD_UNREADABLE'
  /** A supervisor's run record does not hold what it must. */
  | 'SUPERVISOR_RECORD_INVALID'
  // ---- Transport (HttpError, TransportError)
  /** An HttpError with no code of its own: `HTTP_<status>`. */
  | `HTTP_${number}`
  /** A request or response body is larger than allowed. */
  | 'TOO_LARGE'
  /** The client went away while sending its request. */
  | 'CLIENT_GONE'
  /** A peer's certificate chain is deeper than the verify depth. */
  | 'CERT_CHAIN_TOO_LONG'
  /** The server could not listen, for a reason without an errno name. */
  | 'ELISTEN'
  /** The server is asked for its address before it listens. */
  | 'ENOTLISTENING'
  /** A response that should be JSON is not. */
  | 'EBADJSON'
  // ---- The client libraries (lib/scheduler, lib/executor)
  /** A client's call while it has no subscription (it is reconnecting): try again, or wait for its `subscribed`. */
  | 'DISCONNECTED'
  /** A client's call after it was stopped. */
  | 'CLIENT_STOPPED'
  /** The master or agent ended the subscription for good (an ERROR event, a refused subscription, a SHUTDOWN): the client has stopped. */
  | 'FRAMEWORK_ENDED'
  // ---- ZooKeeper (lib/transport/zookeeper)
  /** A ZooKeeper operation failed (ZkError): its `zk` is ZooKeeper's reason (NO_NODE, BAD_VERSION, CONNECTION_LOSS, SESSION_EXPIRED, …). */
  | 'ZOOKEEPER'
  /** No ZooKeeper server answered within the connect timeout when a session was opened. */
  | 'ZOOKEEPER_UNREACHABLE'
  /** A master's znode in ZooKeeper holds data that does not decode (a MasterInfo that is not JSON, a bad pid). */
  | 'ZOOKEEPER_BAD_ZNODE'
  // ---- errno names lib/ raises itself (others come through as a SystemCode)
  /** A cgroup still has processes or children. */
  | 'EBUSY'
  /** A cgroup path is not below the hierarchy. */
  | 'EINVAL'
  /** A cgroup controller is not there. */
  | 'ENOENT'
  /** cgroup v2 has no such interface. */
  | 'ENOTSUP'
  /** A cgroup's processes outlived SIGKILL, or a peer sent nothing in time. */
  | 'ETIMEDOUT'
  /** An I/O error without an errno name of its own. */
  | 'EIO'
  /** The connection broke. */
  | 'ECONNRESET'
  /** The peer broke the protocol (a bad RecordIO stream). */
  | 'EPROTO'
  /** A URL scheme other than http: or https:. */
  | 'EPROTONOSUPPORT'
  /** A code Node or the OS gave, passed on unchanged. */
  | SystemCode;

/** Mark a code that Node or the OS gave (`err.code` of a system error) as one a CorralError may carry. */
export function systemCode(code: string): SystemCode {
  return code as SystemCode;
}

export class CorralError extends Error {
  readonly code: ErrorCode;
  /** The input field the error is about, e.g. `resources[2].ranges` or `--work_dir`. */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CorralError';
    this.code = code;
    this.field = options.field;
  }
}

/** Input that does not parse or does not satisfy a rule. Its message is `field: reason`. */
export class ValidationError extends CorralError {
  declare readonly field: string;
  /** The reason alone, without the field (for a caller that words the message its own way). */
  readonly reason: string;

  constructor(field: string, reason: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(options.code ?? 'INVALID', `${field}: ${reason}`, { field, cause: options.cause });
    this.name = 'ValidationError';
    this.reason = reason;
  }
}

export function isCorralError(e: unknown): e is CorralError {
  return e instanceof CorralError;
}

/** Describe any thrown value as text, for logs and error answers. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
