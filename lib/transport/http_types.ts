/** The HTTP server's public types: its options, routes, requests, responses and streams (see HttpServer). */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../common/log.ts';
import type { HttpAuthenticator } from './auth.ts';
import type { TlsConfig } from './tls_config.ts';

export interface HttpServerOptions {
  /** Address to bind (default 127.0.0.1; daemons pass their `--ip`). */
  host?: string;
  /** Port to bind (default 0: any free port; `listen()` returns the bound one). */
  port?: number;
  /**
   * TLS settings (from loadTlsConfig): the port speaks HTTPS, and plain HTTP too when the
   * config supports downgrade. Absent: plain HTTP only.
   */
  tls?: TlsConfig;
  /** Default limit for `Request.readBody`/`readJson` (default 4 MiB). */
  maxBodyBytes?: number;
  /**
   * The most bytes a response stream may hold queued for a client that does not read them
   * (default 64 MiB). A stream that goes over is closed and its connection dropped: see
   * `ResponseStream.overflowBytes`.
   */
  maxStreamBacklogBytes?: number;
  /** How long an idle keep-alive connection stays open (default 30 s). */
  keepAliveTimeoutMs?: number;
  /** How long `close()` lets in-flight plain requests finish before cutting them (default 1 s). */
  closeGraceMs?: number;
  /**
   * Connections the kernel queues until they are accepted (default 511, Node's; the kernel caps
   * it at net.core.somaxconn). A connection past it is dropped and its client tries again 1 s
   * later: a master that thousands of agents reach at once (a new leader) wants more.
   */
  backlog?: number;
  /** Handler failures (500s) are logged here. */
  logger?: Logger;
  /** The realms that require authentication, and their credentials. Absent: none does. */
  auth?: HttpAuthenticator;
}

export type ResponseHeaders = Record<string, string | number | readonly string[]>;

/** A plain (non-streaming) response. An object body (not a Buffer) is sent as wire JSON. */
export interface HttpResponse {
  status: number;
  headers?: ResponseHeaders;
  body?: string | Uint8Array | object;
}

export interface ResponseStream {
  /** True once the stream was ended by the server or the client went away. */
  readonly closed: boolean;
  /** Bytes accepted but not yet handed to the kernel (a slow reader shows here). */
  readonly bufferedBytes: number;
  /**
   * Set when the server closed the stream because its client left more than the server's
   * `maxStreamBacklogBytes` unread: the backlog, in bytes, at that moment. The connection is
   * dropped with what was queued, and the `onClose` callbacks run as when the client goes away.
   */
  readonly overflowBytes: number | undefined;
  /**
   * Write `chunk` as exactly one HTTP chunk (one res.write). Returns false when the stream is
   * closed (nothing written) or the socket buffer is over its high-water mark. A write that
   * takes the backlog over the server's limit closes the stream (see `overflowBytes`).
   */
  write(chunk: Uint8Array | string): boolean;
  /** Frame `payload` as one RecordIO record and write it as one chunk. */
  writeRecord(payload: string | Uint8Array): boolean;
  /**
   * Resolves once the socket buffer has drained below its high-water mark (at once if it is not
   * above it) or the stream closed: a writer that awaits it never buffers without bound.
   */
  drained(): Promise<void>;
  /** End the response (terminating chunk); the connection stays open for keep-alive. */
  end(): void;
  /** `cb` runs once when the stream closes: the client went away or the response ended. */
  onClose(cb: () => void): void;
}

export interface Request {
  readonly method: string;
  /** The path without the query string, as sent (not percent-decoded). */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Header names are lower-case. */
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** True when the request came over TLS. */
  readonly secure: boolean;
  /**
   * The subject CN of the client's certificate, when it sent one that verified against the
   * configured CAs (the principal a later authentication step can use).
   */
  readonly peerPrincipal: string | undefined;
  /**
   * The authenticated principal: set when the route's realm requires authentication (the
   * request passed it), undefined otherwise.
   */
  readonly principal: string | undefined;
  /** One header's value (name case-insensitive); repeated headers joined with ', '. */
  header(name: string): string | undefined;
  /**
   * The whole body, whether sent with Content-Length or chunked. Over `limitBytes` (default:
   * the server's maxBodyBytes) it throws an HttpError 413. The body can be read once.
   */
  readBody(limitBytes?: number): Promise<Buffer>;
  /**
   * readBody, then UTF-8 and JSON.parse; bad input throws a ValidationError (→ 400). So does
   * JSON whose objects and arrays nest deeper than `maxDepth` (default MAX_JSON_DEPTH, 100),
   * naming the path of the first value too deep.
   */
  readJson(limitBytes?: number, maxDepth?: number): Promise<unknown>;
  /**
   * Send the status and headers now and return the stream to write chunks to
   * (Transfer-Encoding: chunked, no Content-Length). A handler that streams may return the
   * stream or nothing.
   */
  startStream(status: number, headers?: ResponseHeaders): ResponseStream;
}

export type HandlerResult = HttpResponse | ResponseStream | void;
export type Handler = (req: Request) => HandlerResult | Promise<HandlerResult>;

export type RouteSpec = ({ path: string; prefix?: never } | { prefix: string; path?: never }) & {
  /** Upper-case method names, or '*' for any. GET also allows HEAD. */
  methods: readonly string[] | '*';
  handler: Handler;
  /** The authentication realm of the route (required or not as the server's `auth` says). */
  realm?: string;
};

export interface Route {
  methods: ReadonlySet<string> | '*';
  handler: Handler;
  realm: string | undefined;
}

export interface HttpServerStats {
  openConnections: number;
  /** TLS handshakes that failed, and clients dropped after one (bad or missing certificate). */
  tlsRefused: number;
  /** Plain connections accepted on a TLS port (downgrade). */
  plainConnections: number;
  openStreams: number;
  /** Streams closed because their client did not read them (over maxStreamBacklogBytes). */
  streamOverflows: number;
  inFlightRequests: number;
  requestsTotal: number;
  /** Requests refused with 401 (missing or wrong credentials). */
  unauthenticated: number;
}

export function allows(route: Route, method: string): boolean {
  if (route.methods === '*') return true;
  return route.methods.has(method) || (method === 'HEAD' && route.methods.has('GET'));
}
