/**
 * The HTTP server every Corral daemon listens with: ONE port per daemon, everything (v1 APIs,
 * master<->agent calls, operator endpoints, the UI) is a route on it. TLS, downgrade and
 * authentication are to be switched on here and nowhere else.
 *
 * A route matches an exact path or a path prefix (exact wins, then the longest prefix) and lists
 * its methods; a known path with another method answers 405 with `Allow`. A handler gets a
 * Request and either returns a plain response or calls `req.startStream()` and writes chunks to
 * the returned ResponseStream: each `write` is one `res.write`, i.e. one HTTP chunk, so a
 * RecordIO record written in one call reaches the client as one chunk. A stream
 * holds at most `maxStreamBacklogBytes` that its client has not read; a write that goes over
 * closes it and drops the connection, and a client that half-closes its connection is gone.
 *
 * Errors thrown by handlers: HttpError → its status; CorralError with code INVALID → 400 with
 * the message as text/plain; anything else → 500, logged once here; the server keeps running.
 *
 * TLS (`options.tls`, a TlsConfig): the port speaks HTTPS (node:https) with the configured
 * protocols, ciphers and client-certificate rules; a plain client is refused at the handshake.
 * With `supportDowngrade` the same port also serves plain HTTP: the first byte of each
 * connection decides (0x16, a TLS handshake record → TLS; anything HTTP can start with →
 * plain), and both kinds reach the same routes. `Request.secure` tells them apart.
 *
 * Authentication (`options.auth`, an HttpAuthenticator, lib/transport/auth.ts): a route names
 * its realm (`RouteSpec.realm`); when the authenticator requires that realm, a request without
 * valid credentials gets 401 with `WWW-Authenticate: Basic realm="<realm>"` before its handler
 * runs, and `Request.principal` is the authenticated principal for those that pass.
 */
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CorralError, ValidationError, describeError } from '../common/errors.ts';
import { silentLogger } from '../common/log.ts';
import type { Logger } from '../common/log.ts';
import { encodeRecord } from '../proto/recordio.ts';
import { MAX_JSON_DEPTH, checkJsonDepth } from '../proto/json.ts';
import { stringifyWire } from '../proto/json_text.ts';
import type { HttpAuthenticator } from './auth.ts';
import { HttpError, TransportError } from './errors.ts';
import { HANDSHAKE_TIMEOUT_MS, refuseClient, serverOptions, sniff } from './tls.ts';
import { TlsConfig } from './tls_config.ts';

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Default limit of the bytes a stream may hold that its client has not read yet. */
export const DEFAULT_MAX_STREAM_BACKLOG_BYTES = 64 * 1024 * 1024;
/** After a body overflows its limit, this much more is read and discarded to keep the connection. */
const DRAIN_BYTES = 1024 * 1024;

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

interface Route {
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

function allows(route: Route, method: string): boolean {
  if (route.methods === '*') return true;
  return route.methods.has(method) || (method === 'HEAD' && route.methods.has('GET'));
}

export class HttpServer {
  /** The listening server: http.Server, or https.Server with TLS. */
  private readonly server: http.Server | https.Server;
  /** With downgrade: the HTTP server that plain connections on the TLS port are handed to. */
  private readonly plain: http.Server | undefined;
  private readonly tls: TlsConfig | undefined;
  private tlsRefused = 0;
  private plainConnections = 0;
  private readonly host: string;
  private readonly port: number;
  private readonly maxBodyBytes: number;
  private readonly maxStreamBacklogBytes: number;
  private streamOverflows = 0;
  private readonly closeGraceMs: number;
  private readonly logger: Logger;
  private readonly auth: HttpAuthenticator | undefined;
  private unauthenticated = 0;
  private readonly exact = new Map<string, Route[]>();
  /** Longest prefix first. */
  private prefixes: { prefix: string; routes: Route[] }[] = [];
  private readonly connections = new Set<Socket>();
  private readonly streams = new Set<ServerStream>();
  private inFlight = 0;
  private requestsTotal = 0;
  private idleWaiters: (() => void)[] = [];
  private listening = false;
  private closing: Promise<void> | undefined;

  constructor(options: HttpServerOptions = {}) {
    if (options.tls !== undefined && !(options.tls instanceof TlsConfig)) {
      throw new ValidationError('tls', 'must be a TlsConfig made by loadTlsConfig');
    }
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxStreamBacklogBytes = options.maxStreamBacklogBytes ?? DEFAULT_MAX_STREAM_BACKLOG_BYTES;
    if (!Number.isSafeInteger(this.maxStreamBacklogBytes) || this.maxStreamBacklogBytes <= 0) {
      throw new ValidationError('maxStreamBacklogBytes', `must be a positive number of bytes, not ${this.maxStreamBacklogBytes}`);
    }
    this.closeGraceMs = options.closeGraceMs ?? 1000;
    this.logger = options.logger ?? silentLogger;
    this.tls = options.tls;
    this.auth = options.auth;
    const base = { noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 };
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => this.onRequest(req, res);
    const keepAliveTimeout = options.keepAliveTimeoutMs ?? 30_000;
    const tlsConfig = this.tls;
    if (tlsConfig === undefined) {
      this.server = http.createServer(base, onRequest);
    } else {
      const server = https.createServer({ ...base, ...serverOptions(tlsConfig) }, onRequest);
      // The client check runs before HTTP sees the connection: with TLS 1.3 the first request
      // may arrive with the client's certificate, and must not reach a handler.
      const toHttp = server.listeners('secureConnection') as ((s: TLSSocket) => void)[];
      server.removeAllListeners('secureConnection');
      server.on('secureConnection', (socket: TLSSocket) => {
        const why = refuseClient(socket, tlsConfig);
        if (why === undefined) {
          for (const l of toHttp) l.call(server, socket);
          return;
        }
        this.tlsRefused++;
        this.logger.debug({ remote: socket.remoteAddress, why }, 'TLS client refused');
        socket.destroy();
      });
      // https.Server destroys the socket on a failed handshake; this only counts and logs it.
      server.on('tlsClientError', (e: Error, socket: TLSSocket) => {
        this.tlsRefused++;
        this.logger.debug({ remote: socket.remoteAddress, err: describeError(e) }, 'TLS handshake failed');
      });
      if (tlsConfig.supportDowngrade) {
        const plain = http.createServer(base, onRequest);
        plain.keepAliveTimeout = keepAliveTimeout;
        this.plain = plain;
        // Every accepted socket goes through the sniffer first: TLS ones on to the https
        // server's own connection handler, plain ones to the HTTP server.
        const toTls = server.listeners('connection') as ((s: Socket) => void)[];
        server.removeAllListeners('connection');
        server.on('connection', (socket: Socket) => {
          sniff(socket, HANDSHAKE_TIMEOUT_MS, (isTls) => {
            if (isTls) {
              for (const l of toTls) l.call(server, socket);
            } else {
              this.plainConnections++;
              plain.emit('connection', socket);
              socket.resume();
            }
          });
        });
      }
      this.server = server;
    }
    this.server.keepAliveTimeout = keepAliveTimeout;
    this.server.on('connection', (socket: Socket) => {
      this.connections.add(socket);
      socket.once('close', () => this.connections.delete(socket));
    });
  }

  /** 'https' when the port speaks TLS (with or without downgrade), else 'http'. */
  get scheme(): 'http' | 'https' {
    return this.tls === undefined ? 'http' : 'https';
  }

  /** Add a route. Registering the same method twice on the same path or prefix is an error. */
  route(spec: RouteSpec): this {
    const methods = spec.methods === '*' ? '*' : new Set(spec.methods.map((m) => m.toUpperCase()));
    const route: Route = { methods, handler: spec.handler, realm: spec.realm };
    let list: Route[];
    const key = spec.path ?? spec.prefix;
    if (spec.path !== undefined) {
      list = this.exact.get(spec.path) ?? [];
      this.exact.set(spec.path, list);
    } else {
      let entry = this.prefixes.find((p) => p.prefix === spec.prefix);
      if (!entry) {
        entry = { prefix: spec.prefix, routes: [] };
        this.prefixes.push(entry);
        this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
      }
      list = entry.routes;
    }
    for (const r of list) {
      const overlap = r.methods === '*' || methods === '*' || [...methods].some((m) => (r.methods as ReadonlySet<string>).has(m));
      if (overlap) throw new ValidationError('route', `${key} already has a route for one of these methods`);
    }
    list.push(route);
    return this;
  }

  /** Start listening; resolves with the bound port. */
  listen(): Promise<number> {
    if (this.listening) return Promise.resolve(this.boundPort());
    return new Promise<number>((resolve, reject) => {
      const onError = (e: Error): void => {
        const code = (e as { code?: string }).code ?? 'ELISTEN';
        reject(new TransportError(code, `cannot listen on ${this.host}:${this.port}: ${e.message}`, { cause: e }));
      };
      this.server.once('error', onError);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (e) => this.logger.error({ err: describeError(e) }, 'HTTP server error'));
        // The plain server of a downgrade port never listens itself; 'listening' is what makes
        // an http.Server track its connections (closeAllConnections, request timeouts).
        this.plain?.emit('listening');
        this.listening = true;
        resolve(this.boundPort());
      });
    });
  }

  /** The bound port (after listen). */
  boundPort(): number {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new TransportError('ENOTLISTENING', 'the server is not listening');
    return a.port;
  }

  stats(): HttpServerStats {
    return {
      openConnections: this.connections.size,
      tlsRefused: this.tlsRefused,
      plainConnections: this.plainConnections,
      openStreams: this.streams.size,
      streamOverflows: this.streamOverflows,
      inFlightRequests: this.inFlight,
      requestsTotal: this.requestsTotal,
      unauthenticated: this.unauthenticated,
    };
  }

  /**
   * Stop: accept nothing more, end every open stream (clients see a normal end), let in-flight
   * plain requests finish for up to closeGraceMs, then close every connection.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      if (!this.listening) return;
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const s of [...this.streams]) s.end();
      this.server.closeIdleConnections();
      this.plain?.closeIdleConnections();
      if (this.inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.closeGraceMs);
          this.idleWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      this.server.closeAllConnections();
      if (this.plain) {
        this.plain.closeAllConnections();
        this.plain.close(() => {}); // stops its connection checks; it never listened
      }
      // Connections still in a handshake (or, with downgrade, not yet sniffed).
      for (const socket of this.connections) socket.destroy();
      await closed;
      this.listening = false;
    })();
    return this.closing;
  }

  private find(path: string): Route[] | undefined {
    const exact = this.exact.get(path);
    if (exact) return exact;
    for (const p of this.prefixes) if (path.startsWith(p.prefix)) return p.routes;
    return undefined;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.requestsTotal++;
    this.inFlight++;
    res.once('close', () => {
      this.inFlight--;
      if (this.inFlight === 0 && this.idleWaiters.length > 0) {
        const ws = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of ws) w();
      }
    });
    // A write to a connection that just died must not crash the process.
    res.on('error', (e) => this.logger.debug({ err: describeError(e) }, 'HTTP response error'));
    if (this.closing) res.shouldKeepAlive = false;

    const r = new ServerRequest(req, res, this);
    const routes = this.find(r.path);
    if (!routes) {
      sendPlain(res, r, { status: 404, body: `No route for ${r.path}` });
      return;
    }
    const route = routes.find((x) => allows(x, r.method));
    if (!route) {
      const allow = new Set<string>();
      for (const x of routes) if (x.methods !== '*') for (const m of x.methods) allow.add(m);
      if (allow.has('GET')) allow.add('HEAD');
      sendPlain(res, r, {
        status: 405,
        headers: { Allow: [...allow].sort().join(', ') },
        body: `Expecting one of { ${[...allow].sort().join(', ')} }, but received '${r.method}'`,
      });
      return;
    }
    if (this.auth?.requires(route.realm)) {
      const realm = route.realm!;
      const result = this.auth.authenticate(realm, r.header('authorization'), r.peerPrincipal);
      if (!result.ok) {
        this.unauthenticated++;
        this.logger.debug({ remote: r.remoteAddress, path: r.path, realm, why: result.reason }, 'request not authenticated');
        sendPlain(res, r, { status: 401, headers: { 'WWW-Authenticate': `Basic realm="${realm}"` }, body: `Unauthorized: ${result.reason}` });
        return;
      }
      r.principal = result.principal;
    }
    void this.dispatch(route, r, res);
  }

  private async dispatch(route: Route, r: ServerRequest, res: ServerResponse): Promise<void> {
    try {
      const result = await route.handler(r);
      if (r.stream) {
        if (result !== undefined && result !== r.stream) {
          this.logger.error({ method: r.method, path: r.path }, 'HTTP handler started a stream and also returned a response');
        }
        return;
      }
      if (result === undefined) throw new Error('the handler returned no response');
      if (result instanceof ServerStream) throw new Error('the handler returned a stream it did not start');
      sendPlain(res, r, result as HttpResponse);
    } catch (e) {
      this.fail(e, r, res);
    }
  }

  private fail(e: unknown, r: ServerRequest, res: ServerResponse): void {
    if (e instanceof TransportError && e.code === 'CLIENT_GONE') return;
    const isHttp = e instanceof HttpError;
    const isInvalid = !isHttp && e instanceof CorralError && e.code === 'INVALID';
    if (!isHttp && !isInvalid) {
      this.logger.error(
        { err: describeError(e), stack: e instanceof Error ? e.stack : undefined, method: r.method, path: r.path },
        'HTTP handler failed',
      );
    }
    if (r.stream) {
      r.stream.end();
      return;
    }
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (isHttp) {
      sendPlain(res, r, { status: e.status, headers: { ...e.headers }, body: e.message });
    } else if (isInvalid) {
      sendPlain(res, r, { status: 400, body: (e as CorralError).message });
    } else {
      sendPlain(res, r, { status: 500, body: 'Internal server error' });
    }
  }

  /** @internal */
  get defaultMaxBody(): number {
    return this.maxBodyBytes;
  }

  /** @internal */
  get maxStreamBacklog(): number {
    return this.maxStreamBacklogBytes;
  }

  /** @internal */
  addStream(s: ServerStream): void {
    this.streams.add(s);
    s.onClose(() => {
      this.streams.delete(s);
      if (s.overflowBytes !== undefined) this.streamOverflows++;
    });
    if (this.closing) s.end();
  }
}

function sendPlain(res: ServerResponse, r: ServerRequest, response: HttpResponse): void {
  if (res.headersSent || res.destroyed) return;
  const headers: OutgoingHttpHeaders = {};
  let type: string | undefined;
  for (const [k, v] of Object.entries(response.headers ?? {})) {
    if (k.toLowerCase() === 'content-type') type = String(v);
    headers[k] = v as string | number | string[];
  }
  let body: Buffer | undefined;
  const b = response.body;
  if (b === undefined || b === null) {
    body = undefined;
  } else if (typeof b === 'string') {
    body = Buffer.from(b, 'utf8');
    type ??= 'text/plain; charset=utf-8';
  } else if (b instanceof Uint8Array) {
    body = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    type ??= 'application/octet-stream';
  } else {
    body = Buffer.from(stringifyWire(b), 'latin1');
    type ??= 'application/json';
  }
  const noBody = response.status === 204 || response.status === 304 || (response.status >= 100 && response.status < 200);
  if (noBody) body = undefined;
  if (body !== undefined && type !== undefined && !hasHeader(headers, 'content-type')) headers['Content-Type'] = type;
  if (!noBody) headers['Content-Length'] = body?.length ?? 0;
  if (r.closeConnection) headers['Connection'] = 'close';
  res.writeHead(response.status, headers);
  res.end(body);
}

function hasHeader(headers: OutgoingHttpHeaders, name: string): boolean {
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name) return true;
  return false;
}

class ServerRequest implements Request {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly secure: boolean;
  readonly peerPrincipal: string | undefined;
  principal: string | undefined;
  stream: ServerStream | undefined;
  /** Set when the body overflowed so much that the connection cannot be reused. */
  closeConnection = false;
  private bodyTaken = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly server: HttpServer,
  ) {
    this.method = (req.method ?? 'GET').toUpperCase();
    let url = req.url ?? '/';
    if (!url.startsWith('/')) {
      // absolute-form (a proxy request) or '*'
      try {
        const u = new URL(url);
        url = u.pathname + u.search;
      } catch {
        url = '/';
      }
    }
    const q = url.indexOf('?');
    this.path = q < 0 ? url : url.slice(0, q);
    this.query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    this.headers = req.headers;
    this.remoteAddress = req.socket.remoteAddress ?? '';
    this.remotePort = req.socket.remotePort ?? 0;
    const socket = req.socket as Partial<TLSSocket>;
    this.secure = socket.encrypted === true;
    let principal: string | undefined;
    if (this.secure && socket.authorized === true) {
      const cn = socket.getPeerCertificate?.()?.subject?.CN;
      principal = Array.isArray(cn) ? cn[0] : cn;
    }
    this.peerPrincipal = principal;
  }

  header(name: string): string | undefined {
    const v = this.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  readBody(limitBytes: number = this.server.defaultMaxBody): Promise<Buffer> {
    if (this.bodyTaken) return Promise.reject(new Error('the request body was already read'));
    this.bodyTaken = true;
    const req = this.req;
    const tooLarge = (): HttpError => new HttpError(413, `Request body is larger than ${limitBytes} bytes`, { code: 'TOO_LARGE' });

    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      const n = Number(declared);
      if (Number.isSafeInteger(n) && n > limitBytes) {
        if (n - limitBytes > DRAIN_BYTES) {
          this.closeConnection = true;
        } else {
          req.resume(); // discard the rest; the connection stays usable
        }
        return Promise.reject(tooLarge());
      }
    }
    if (req.complete && req.readableEnded) return Promise.resolve(Buffer.alloc(0));

    return new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      let over = false;
      let discarded = 0;
      const onData = (chunk: Buffer): void => {
        if (over) {
          discarded += chunk.length;
          if (discarded > DRAIN_BYTES) {
            cleanup();
            // The 413 went out already (or goes out now); the rest is not worth reading.
            if (this.res.writableFinished) req.socket.destroy();
            else this.res.once('finish', () => req.socket.destroy());
          }
          return;
        }
        size += chunk.length;
        if (size > limitBytes) {
          over = true;
          parts.length = 0;
          reject(tooLarge());
          return;
        }
        parts.push(chunk);
      };
      const onEnd = (): void => {
        cleanup();
        if (!over) resolve(Buffer.concat(parts, size));
      };
      const onGone = (): void => {
        cleanup();
        if (!over && !req.complete) {
          reject(new TransportError('CLIENT_GONE', 'the client went away while sending the request body'));
        }
      };
      const cleanup = (): void => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('close', onGone);
        req.off('error', onGone);
        if (over) req.resume();
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('close', onGone);
      req.on('error', onGone);
    });
  }

  async readJson(limitBytes?: number, maxDepth: number = MAX_JSON_DEPTH): Promise<unknown> {
    const body = await this.readBody(limitBytes);
    if (body.length === 0) throw new ValidationError('body', 'is empty; expected JSON');
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      throw new ValidationError('body', 'is not valid UTF-8');
    }
    let value: unknown;
    try {
      value = JSON.parse(text) as unknown;
    } catch (e) {
      throw new ValidationError('body', `is not valid JSON: ${describeError(e)}`);
    }
    checkJsonDepth(value, '', maxDepth);
    return value;
  }

  startStream(status: number, headers: ResponseHeaders = {}): ResponseStream {
    if (this.stream) throw new Error('a stream was already started for this request');
    if (this.res.headersSent) throw new Error('the response was already sent');
    const out: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) {
      if (k.toLowerCase() === 'content-length') throw new ValidationError('headers', 'a stream has no Content-Length');
      out[k] = v as string | number | string[];
    }
    const socket = this.res.socket;
    socket?.setNoDelay(true);
    this.res.writeHead(status, out);
    this.res.flushHeaders();
    const s = new ServerStream(this.res, this.server.maxStreamBacklog);
    this.stream = s;
    this.server.addStream(s);
    return s;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class ServerStream implements ResponseStream {
  private ended = false;
  private gone = false;
  private overflow: number | undefined;
  private callbacks: (() => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBacklog: number,
  ) {
    // The client half-closed its connection. Node answers by ending the socket once what is
    // queued is flushed, which a client that does not read never lets happen: the queued bytes
    // stayed, the stream looked open and later writes were dropped. The client is gone: drop
    // the connection and what is queued for it.
    const socket = res.socket;
    const onClientEnd = (): void => {
      if (!res.destroyed) res.destroy();
    };
    socket?.once('end', onClientEnd);
    res.once('close', () => {
      socket?.off('end', onClientEnd);
      this.gone = true;
      const cbs = this.callbacks;
      this.callbacks = [];
      for (const cb of cbs) cb();
    });
  }

  get closed(): boolean {
    return this.ended || this.gone || this.res.destroyed;
  }

  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  get overflowBytes(): number | undefined {
    return this.overflow;
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.closed) return false;
    if (chunk.length === 0) return true; // an empty chunk would end the body
    return this.res.write(chunk) || this.withinBacklog();
  }

  writeRecord(payload: string | Uint8Array): boolean {
    if (this.closed) return false;
    const p = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    return this.res.write(encodeRecord(p)) || this.withinBacklog();
  }

  /**
   * After a write that left the socket over its high-water mark (the only time the backlog can
   * have grown): past the limit, the stream is closed and the connection dropped with what is
   * queued. Returns false either way (the caller should wait for drained()).
   */
  private withinBacklog(): false {
    const backlog = this.res.writableLength;
    if (backlog <= this.maxBacklog || this.ended) return false;
    this.overflow = backlog;
    this.ended = true;
    this.res.destroy();
    return false;
  }

  drained(): Promise<void> {
    if (this.closed || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.gone && !this.res.destroyed) this.res.end();
  }

  onClose(cb: () => void): void {
    if (this.gone) queueMicrotask(cb);
    else this.callbacks.push(cb);
  }
}
