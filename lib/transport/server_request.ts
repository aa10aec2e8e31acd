/** A request as handlers see it (see Request): its parsed head, body reading with a size limit, JSON, streams. */
import type { TLSSocket } from 'node:tls';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { ValidationError, describeError } from '../common/errors.ts';
import { MAX_JSON_DEPTH, checkJsonDepth } from '../proto/json.ts';
import { HttpError, TransportError } from './errors.ts';
import type { Request, ResponseHeaders, ResponseStream } from './http_types.ts';
import { ServerStream } from './server_stream.ts';

/** After a body overflows its limit, this much more is read and discarded to keep the connection. */
const DRAIN_BYTES = 1024 * 1024;

/** What a request needs of its server (HttpServer). */
export interface RequestHost {
  readonly defaultMaxBody: number;
  readonly maxStreamBacklog: number;
  addStream(s: ServerStream): void;
}

export class ServerRequest implements Request {
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
    private readonly server: RequestHost,
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
    this.peerPrincipal = this.secure && socket.authorized === true ? peerPrincipalOf(req.socket as TLSSocket) : undefined;
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

/**
 * The CN of a verified client certificate, read once per connection: `getPeerCertificate` turns
 * the whole certificate into an object (fingerprints, key, extensions), tens of microseconds that
 * every keep-alive request on the connection paid again.
 */
const principals = new WeakMap<TLSSocket, { cn: string | undefined }>();

function peerPrincipalOf(socket: TLSSocket): string | undefined {
  let p = principals.get(socket);
  if (p === undefined) {
    const cn = socket.getPeerCertificate?.()?.subject?.CN;
    p = { cn: Array.isArray(cn) ? (cn[0] as string | undefined) : cn };
    principals.set(socket, p);
  }
  return p.cn;
}
