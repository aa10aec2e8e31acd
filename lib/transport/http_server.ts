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
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CorralError, ValidationError, describeError } from '../common/errors.ts';
import { silentLogger } from '../common/log.ts';
import type { Logger } from '../common/log.ts';
import type { Metrics } from '../common/metrics.ts';
import type { HttpAuthenticator } from './auth.ts';
import { AuthenticationError, HttpError, TransportError, errorCode } from './errors.ts';
import { type HttpResponse, type HttpServerOptions, type HttpServerStats, type Route, type RouteSpec, allows } from './http_types.ts';
import { sendPlain } from './send_plain.ts';
import { ServerRequest } from './server_request.ts';
import { ServerStream } from './server_stream.ts';
import { HANDSHAKE_TIMEOUT_MS, checkClient, serverOptions, sniff } from './tls.ts';
import { TlsConfig } from './tls_config.ts';

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Default limit of the bytes a stream may hold that its client has not read yet. */
export const DEFAULT_MAX_STREAM_BACKLOG_BYTES = 64 * 1024 * 1024;

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
  private readonly backlog: number;
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
  private requestMetrics: Metrics | undefined;

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
    this.backlog = options.backlog ?? 511;
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
        try {
          checkClient(socket, tlsConfig);
        } catch (e) {
          if (!(e instanceof AuthenticationError)) throw e;
          this.tlsRefused++;
          this.logger.debug({ remote: socket.remoteAddress, why: e.message }, 'TLS client refused');
          socket.destroy();
          return;
        }
        for (const l of toHttp) l.call(server, socket);
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

  /**
   * Record each request's duration (to the end of its response, or of its stream) in `metrics`'
   * timer `http/request_duration_ms`, labelled with the route's path (or prefix), the method and
   * the status code.
   */
  recordRequestsIn(metrics: Metrics): void {
    this.requestMetrics = metrics;
    metrics.timer('http/request_duration_ms', { help: 'HTTP request durations by endpoint, method and status code, in seconds' });
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
        const code = errorCode(e) ?? 'ELISTEN';
        reject(new TransportError(code, `cannot listen on ${this.host}:${this.port}: ${e.message}`, { cause: e }));
      };
      this.server.once('error', onError);
      this.server.listen({ port: this.port, host: this.host, backlog: this.backlog }, () => {
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
    const started = this.requestMetrics ? performance.now() : 0;
    res.once('close', () => {
      this.inFlight--;
      if (this.requestMetrics) {
        const path = (req.url ?? '/').split('?')[0]!;
        const endpoint = this.exact.has(path) ? path : (this.prefixes.find((p) => path.startsWith(p.prefix))?.prefix ?? 'unknown');
        this.requestMetrics.observe('http/request_duration_ms', performance.now() - started, {
          endpoint,
          method: req.method ?? '',
          code: String(res.statusCode),
        });
      }
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
      try {
        r.principal = this.auth.authenticate(realm, r.header('authorization'), r.peerPrincipal);
      } catch (e) {
        if (!(e instanceof AuthenticationError)) throw e;
        this.unauthenticated++;
        this.logger.debug({ remote: r.remoteAddress, path: r.path, realm, why: e.message }, 'request not authenticated');
        sendPlain(res, r, { status: 401, headers: { 'WWW-Authenticate': `Basic realm="${realm}"` }, body: `Unauthorized: ${e.message}` });
        return;
      }
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
      this.logger.error({ err: describeError(e), stack: e instanceof Error ? e.stack : undefined, method: r.method, path: r.path }, 'HTTP handler failed');
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
