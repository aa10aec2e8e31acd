/**
 * The HTTP client Corral uses (agent → master, master → agent, tools, tests). One keep-alive
 * agent per client; every failure is a TransportError whose `code` is the errno-style name
 * (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...), never a bare Node error.
 *
 * `openStream` is for RecordIO event streams (spec §2.4): it resolves when the response headers
 * arrive; on 200 `records` yields each record as a Buffer, however the bytes were chunked; on any
 * other status the body is read whole (`text`) and `records` is empty.
 */
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { describeError } from '../common/errors.ts';
import { stringifyWire } from '../proto/json_text.ts';
import { RecordIoDecoder } from '../proto/recordio.ts';
import { TransportError, errorCode } from './errors.ts';

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
  /** Reserved: TLS options will be taken here (https agent, CA, client cert). */
  tls?: never;
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

export class HttpClient {
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(options: HttpClientOptions = {}) {
    this.agent = new http.Agent({
      keepAlive: options.keepAlive ?? true,
      maxSockets: options.maxSockets ?? Infinity,
      scheduling: 'lifo',
    });
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  /** Drop every pooled connection. */
  close(): void {
    this.agent.destroy();
  }

  async request(r: ClientRequest): Promise<ClientResponse> {
    const p = this.prepare(r);
    try {
      return await this.once(p, r.timeoutMs ?? this.timeoutMs, r.maxResponseBytes ?? this.maxResponseBytes);
    } catch (e) {
      // A pooled connection the server closed just as we reused it: the request never reached
      // the server's handler, so one retry on a fresh connection is safe.
      if (e instanceof StaleSocket) return this.once(p, r.timeoutMs ?? this.timeoutMs, r.maxResponseBytes ?? this.maxResponseBytes);
      throw e;
    }
  }

  async openStream(r: StreamRequest): Promise<ClientStream> {
    const p = this.prepare({ ...r, method: r.method ?? 'POST' });
    const timeoutMs = r.timeoutMs ?? this.timeoutMs;
    let res: IncomingMessage;
    let req: http.ClientRequest;
    try {
      [req, res] = await this.start(p, timeoutMs);
    } catch (e) {
      if (!(e instanceof StaleSocket)) throw e;
      [req, res] = await this.start(p, timeoutMs);
    }
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

  private prepare(r: ClientRequest): Prepared {
    const url = typeof r.url === 'string' ? new URL(r.url) : r.url;
    if (url.protocol !== 'http:') {
      throw new TransportError('EPROTONOSUPPORT', `${url.protocol} URLs are not supported (only http:)`);
    }
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
      agent: this.agent,
      method,
      protocol: url.protocol,
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port === '' ? 80 : Number(url.port),
      path: url.pathname + url.search,
      headers,
    };
    return { url, options, body, what: `${method} ${url.href}` };
  }

  /** Send the request; resolve with the response once its headers arrive. */
  private start(p: Prepared, timeoutMs: number): Promise<[http.ClientRequest, IncomingMessage]> {
    return new Promise((resolve, reject) => {
      const req = http.request(p.options);
      let settled = false;
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
        reject(wrap(e, p.what, req.reusedSocket));
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
