/**
 * The HTTP client Corral uses (agent → master, master → agent, tools, tests). One keep-alive
 * agent per client; every failure is a TransportError whose `code` is the errno-style name
 * (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...), never a bare Node error.
 *
 * `openStream` is for RecordIO event streams: it resolves when the response headers
 * arrive; on 200 `records` yields each record as a Buffer, however the bytes were chunked; on any
 * other status the body is read whole (`text`) and `records` is empty.
 *
 * `https:` URLs go over TLS: with `options.tls` (a TlsConfig) the client presents its
 * certificate, trusts the configured CAs and checks the server's certificate and name when the
 * config says to verify; without it, Node's defaults (built-in roots, always verified). With a
 * config that supports downgrade, a server that does not speak TLS is asked again over plain
 * HTTP (as libprocess does), and that origin stays plain for a minute; a certificate
 * that fails verification is never a reason to fall back. `scheme` is the scheme callers should
 * build URLs with.
 */
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { describeError } from '../common/errors.ts';
import { stringifyWire } from '../proto/json_text.ts';
import { RecordIoDecoder } from '../proto/recordio.ts';
import { TransportError, errorCode } from './errors.ts';
import { clientOptions } from './tls.ts';
import type { TlsConfig } from './tls_config.ts';

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export interface HttpClientOptions {
  /** Reuse connections (default true). */
  keepAlive?: boolean;
  /** Most sockets per host (default unlimited). */
  maxSockets?: number;
  /** Default for each request: connect + response complete (plain) or headers (stream). 30 s. */
  timeoutMs?: number;
  /** Largest plain response body accepted (default 64 MiB). */
  maxResponseBytes?: number;
  /** TLS settings (from loadTlsConfig) for https: URLs; `scheme` becomes 'https'. */
  tls?: TlsConfig;
}

export type RequestBody = string | Uint8Array | object;

export interface ClientRequest {
  url: string | URL;
  /** Default GET without a body, POST with one. */
  method?: string;
  headers?: Record<string, string | number | readonly string[]>;
  /** A string or bytes are sent as is; any other object as wire JSON (Content-Type defaults to application/json). */
  body?: RequestBody;
  timeoutMs?: number;
  maxResponseBytes?: number;
}

export interface ClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text(): string;
  /** JSON.parse of the body; a TransportError with code EBADJSON if it does not parse. */
  json(): unknown;
}

/** A response whose body is left unread (openRaw): for passing a body of any size on. */
export interface RawClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body's bytes as they come; read it to its end, or call close(). */
  body: AsyncIterable<Buffer>;
  /** Stop reading and drop the connection. */
  close(): void;
}

export interface StreamRequest extends ClientRequest {
  /** Largest record accepted (default 64 MiB). */
  maxRecordBytes?: number;
  /** Fail the stream with ETIMEDOUT when nothing arrives for this long (default: never). */
  idleTimeoutMs?: number;
}

export interface ClientStream {
  status: number;
  headers: IncomingHttpHeaders;
  /** For a non-200 answer: its body (empty for 200). */
  body: Buffer;
  text: string;
  /**
   * The records, in order; iterate once. Ends when the server ends the response or `close()` is
   * called; throws a TransportError if the connection breaks or the framing is bad.
   */
  records: AsyncIterable<Buffer>;
  /** Stop reading and drop the connection. */
  close(): void;
}

interface Prepared {
  url: URL;
  options: http.RequestOptions;
  body: Buffer | undefined;
  what: string;
}

/** How long an origin that answered a TLS hello with plain HTTP is spoken to in plain. */
const DOWNGRADE_MEMORY_MS = 60_000;

export class HttpClient {
  private readonly agent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly tls: TlsConfig | undefined;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  /** Downgrade: `host:port` → until when it is spoken to in plain HTTP. */
  private readonly plainOrigins = new Map<string, number>();

  constructor(options: HttpClientOptions = {}) {
    const pool = {
      keepAlive: options.keepAlive ?? true,
      maxSockets: options.maxSockets ?? Infinity,
      scheduling: 'lifo' as const,
    };
    this.tls = options.tls;
    this.agent = new http.Agent(pool);
    this.httpsAgent = new https.Agent({ ...pool, ...(this.tls === undefined ? {} : clientOptions(this.tls)) });
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  /** The scheme to build URLs with: 'https' when this client has a TLS config. */
  get scheme(): 'http' | 'https' {
    return this.tls === undefined ? 'http' : 'https';
  }

  /** Drop every pooled connection. */
  close(): void {
    this.agent.destroy();
    this.httpsAgent.destroy();
  }

  async request(r: ClientRequest): Promise<ClientResponse> {
    const timeoutMs = r.timeoutMs ?? this.timeoutMs;
    const maxBytes = r.maxResponseBytes ?? this.maxResponseBytes;
    return this.downgrading(r, async (p) => {
      try {
        return await this.once(p, timeoutMs, maxBytes);
      } catch (e) {
        // A pooled connection the server closed just as we reused it: the request never reached
        // the server's handler, so one retry on a fresh connection is safe.
        if (e instanceof StaleSocket) return this.once(p, timeoutMs, maxBytes);
        throw e;
      }
    });
  }

  async openStream(r: StreamRequest): Promise<ClientStream> {
    const timeoutMs = r.timeoutMs ?? this.timeoutMs;
    const [p, req, res] = await this.downgrading({ ...r, method: r.method ?? 'POST' }, async (p) => {
      try {
        return [p, ...(await this.start(p, timeoutMs))] as const;
      } catch (e) {
        if (!(e instanceof StaleSocket)) throw e;
        return [p, ...(await this.start(p, timeoutMs))] as const;
      }
    });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const body = await readAll(res, r.maxResponseBytes ?? this.maxResponseBytes, p.what);
      return { status, headers: res.headers, body, text: body.toString('utf8'), records: empty(), close: () => {} };
    }

    let closedByUs = false;
    const close = (): void => {
      closedByUs = true;
      req.destroy();
      res.destroy();
    };
    const socket = res.socket;
    socket.setNoDelay(true);
    const idleMs = r.idleTimeoutMs;
    const onIdle = (): void => {
      res.destroy(new TransportError('ETIMEDOUT', `${p.what}: no data for ${idleMs} ms`));
    };
    if (idleMs !== undefined) {
      socket.setTimeout(idleMs);
      socket.on('timeout', onIdle);
    }
    const decoder = new RecordIoDecoder(r.maxRecordBytes === undefined ? {} : { maxRecordBytes: r.maxRecordBytes });
    const what = p.what;
    let iterated = false;
    async function* iterate(): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of res) {
          for (const record of decoder.push(chunk as Buffer)) yield record;
        }
        decoder.end();
      } catch (e) {
        if (closedByUs) return;
        if (e instanceof TransportError) throw e;
        const code = errorCode(e);
        if (code === 'INVALID') {
          close();
          throw new TransportError('EPROTO', `${what}: bad RecordIO stream: ${describeError(e)}`, { cause: e });
        }
        throw new TransportError(
          code === undefined || code === 'ERR_STREAM_PREMATURE_CLOSE' ? 'ECONNRESET' : code,
          `${what}: the stream broke: ${describeError(e)}`,
          { cause: e },
        );
      } finally {
        if (idleMs !== undefined) {
          socket.setTimeout(0);
          socket.off('timeout', onIdle);
        }
        // The consumer stopped early (break) or the stream broke: let go of the connection.
        if (!res.complete) close();
      }
    }
    return {
      status,
      headers: res.headers,
      body: Buffer.alloc(0),
      text: '',
      records: {
        [Symbol.asyncIterator]: () => {
          if (iterated) throw new Error('the records of a stream can be iterated once');
          iterated = true;
          return iterate();
        },
      },
      close,
    };
  }

  /** Send `r`; resolves once the response headers are in, with the body unread (see RawClientResponse). */
  async openRaw(r: ClientRequest): Promise<RawClientResponse> {
    const timeoutMs = r.timeoutMs ?? this.timeoutMs;
    const [req, res] = await this.downgrading(r, async (p) => {
      try {
        return await this.start(p, timeoutMs);
      } catch (e) {
        if (!(e instanceof StaleSocket)) throw e;
        return this.start(p, timeoutMs);
      }
    });
    return {
      status: res.statusCode ?? 0,
      headers: res.headers,
      body: res,
      close: () => {
        req.destroy();
        res.destroy();
      },
    };
  }

  /**
   * Run `attempt` on the prepared request; with a downgrade config, an https: URL whose server
   * turned out to speak plain HTTP is tried once more as http: (and remembered).
   */
  private async downgrading<T>(r: ClientRequest, attempt: (p: Prepared) => Promise<T>): Promise<T> {
    const p = this.prepare(r);
    try {
      return await attempt(p);
    } catch (e) {
      if (!(e instanceof NotTls) || !this.tls?.supportDowngrade) throw e;
      let result: T;
      try {
        result = await attempt(this.prepare(r, true));
      } catch {
        throw e; // not a plain server either: the TLS failure says more
      }
      this.plainOrigins.set(p.url.host, Date.now() + DOWNGRADE_MEMORY_MS);
      return result;
    }
  }

  private prepare(r: ClientRequest, plain = false): Prepared {
    let url = typeof r.url === 'string' ? new URL(r.url) : r.url;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TransportError('EPROTONOSUPPORT', `${url.protocol} URLs are not supported (only http: and https:)`);
    }
    if (url.protocol === 'https:' && (plain || this.plainOrigins.size > 0)) {
      const until = this.plainOrigins.get(url.host);
      if (plain || (until !== undefined && until > Date.now())) {
        url = new URL(url.href);
        url.protocol = 'http:';
      } else if (until !== undefined) {
        this.plainOrigins.delete(url.host);
      }
    }
    const secure = url.protocol === 'https:';
    const headers: OutgoingHttpHeaders = {};
    let hasType = false;
    for (const [k, v] of Object.entries(r.headers ?? {})) {
      if (k.toLowerCase() === 'content-type') hasType = true;
      headers[k] = v as string | number | string[];
    }
    let body: Buffer | undefined;
    if (r.body !== undefined) {
      if (typeof r.body === 'string') body = Buffer.from(r.body, 'utf8');
      else if (r.body instanceof Uint8Array) body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
      else {
        body = Buffer.from(stringifyWire(r.body), 'latin1');
        if (!hasType) headers['Content-Type'] = 'application/json';
      }
      headers['Content-Length'] = body.length;
    }
    const method = (r.method ?? (body ? 'POST' : 'GET')).toUpperCase();
    const options: http.RequestOptions = {
      agent: secure ? this.httpsAgent : this.agent,
      method,
      protocol: url.protocol,
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      path: url.pathname + url.search,
      headers,
    };
    return { url, options, body, what: `${method} ${url.href}` };
  }

  /** Send the request; resolve with the response once its headers arrive. */
  private start(p: Prepared, timeoutMs: number): Promise<[http.ClientRequest, IncomingMessage]> {
    return new Promise((resolve, reject) => {
      const secure = p.url.protocol === 'https:';
      const req = (secure ? https : http).request(p.options);
      let settled = false;
      // Whether this request's connection got through a TLS handshake (a reused one did).
      let handshaken = false;
      if (secure) {
        req.once('socket', (s) => {
          if (req.reusedSocket) handshaken = true;
          else (s as TLSSocket).once('secureConnect', () => (handshaken = true));
        });
      }
      const timer = setTimeout(() => {
        req.destroy(new TransportError('ETIMEDOUT', `${p.what}: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      req.once('response', (res) => {
        clearTimeout(timer);
        settled = true;
        resolve([req, res]);
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        const w = wrap(e, p.what, req.reusedSocket);
        reject(secure && !handshaken && !req.reusedSocket && NOT_TLS_CODES.has(w.code) ? new NotTls(w.code, w.message, { cause: e }) : w);
      });
      req.end(p.body);
    });
  }

  private async once(p: Prepared, timeoutMs: number, maxBytes: number): Promise<ClientResponse> {
    const deadline = Date.now() + timeoutMs;
    const [req, res] = await this.start(p, timeoutMs);
    const left = Math.max(1, deadline - Date.now());
    const timer = setTimeout(() => {
      res.destroy(new TransportError('ETIMEDOUT', `${p.what}: response body not complete within ${timeoutMs} ms`));
    }, left);
    try {
      const body = await readAll(res, maxBytes, p.what);
      return response(res.statusCode ?? 0, res.headers, body, p.what);
    } catch (e) {
      req.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}

class StaleSocket extends TransportError {}

/** The server answered a TLS hello with something else (it speaks plain HTTP). */
class NotTls extends TransportError {}

/**
 * What a TLS client sees from a plain-HTTP server: OpenSSL's "wrong version number" (an HTTP
 * error answer where a ServerHello should be), or the connection closed on it.
 */
const NOT_TLS_CODES: ReadonlySet<string> = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'EPROTO', 'ECONNRESET']);

function wrap(e: unknown, what: string, reusedSocket: boolean): TransportError {
  if (e instanceof TransportError) return e;
  const code = errorCode(e) ?? 'EIO';
  if (reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) {
    return new StaleSocket(code, `${what}: ${describeError(e)}`, { cause: e });
  }
  return new TransportError(code, `${what}: ${describeError(e)}`, { cause: e });
}

function readAll(res: IncomingMessage, maxBytes: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        res.destroy(new TransportError('TOO_LARGE', `${what}: response body larger than ${maxBytes} bytes`));
        return;
      }
      parts.push(chunk);
    });
    res.once('end', () => resolve(Buffer.concat(parts, size)));
    res.once('error', (e) => {
      if (e instanceof TransportError) reject(e);
      else {
        const code = errorCode(e);
        reject(new TransportError(code === undefined ? 'ECONNRESET' : code, `${what}: ${describeError(e)}`, { cause: e }));
      }
    });
  });
}

function response(status: number, headers: IncomingHttpHeaders, body: Buffer, what: string): ClientResponse {
  return {
    status,
    headers,
    body,
    text: () => body.toString('utf8'),
    json: () => {
      try {
        return JSON.parse(body.toString('utf8')) as unknown;
      } catch (e) {
        throw new TransportError('EBADJSON', `${what}: the response is not valid JSON: ${describeError(e)}`, { cause: e });
      }
    },
  };
}

async function* emptyGen(): AsyncGenerator<Buffer> {}

function empty(): AsyncIterable<Buffer> {
  return { [Symbol.asyncIterator]: () => emptyGen() };
}
