/**
 * Test helpers for the transport: a server bound to a loopback port that closes on teardown,
 * and a raw net.Socket HTTP/1.1 client that parses chunked encoding itself, so tests can check
 * what is on the wire chunk by chunk.
 */
import net from 'node:net';
import { HttpServer } from '../../lib/transport/http_server.ts';
import type { HttpServerOptions } from '../../lib/transport/http_types.ts';
import { HttpClient } from '../../lib/transport/http_client.ts';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function startServer(
  t: Teardown,
  options: HttpServerOptions = {},
  setup?: (s: HttpServer) => void,
): Promise<{ server: HttpServer; port: number; base: string }> {
  const server = new HttpServer({ host: '127.0.0.1', port: 0, closeGraceMs: 200, ...options });
  setup?.(server);
  const port = await server.listen();
  t.teardown(() => server.close());
  return { server, port, base: `http://127.0.0.1:${port}` };
}

export function client(t: Teardown, options: ConstructorParameters<typeof HttpClient>[0] = {}): HttpClient {
  const c = new HttpClient(options);
  t.teardown(() => c.close());
  return c;
}

export interface RawResponse {
  status: number;
  headers: Map<string, string>;
}

/** A raw HTTP/1.1 client over one socket. */
export class RawClient {
  readonly socket: net.Socket;
  head: RawResponse | undefined;
  /** Chunks of a chunked body, each as one Buffer, in arrival order. */
  readonly chunks: Buffer[] = [];
  /** The whole body of a Content-Length response. */
  body: Buffer | undefined;
  ended = false;
  closed = false;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static connect(port: number, t: Teardown): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RawClient(s)));
      s.once('error', reject);
      t.teardown(() => s.destroy());
    });
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Wait until `pred` holds (checked after every read). */
  async until(pred: () => boolean, what = 'condition', ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Forget the last response, to read the next one on the same connection. */
  reset(): void {
    this.head = undefined;
    this.chunks.length = 0;
    this.body = undefined;
    this.ended = false;
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private parse(): void {
    for (;;) {
      if (this.ended) return;
      if (!this.head) {
        const i = this.buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const lines = this.buf.toString('latin1', 0, i).split('\r\n');
        const status = Number(lines[0]!.split(' ')[1]);
        const headers = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const c = l.indexOf(':');
          headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim());
        }
        this.head = { status, headers };
        this.buf = this.buf.subarray(i + 4);
        continue;
      }
      const te = this.head.headers.get('transfer-encoding');
      if (te === 'chunked') {
        const i = this.buf.indexOf('\r\n');
        if (i < 0) return;
        const size = parseInt(this.buf.toString('latin1', 0, i), 16);
        if (size === 0) {
          if (this.buf.length < i + 4) return;
          this.buf = this.buf.subarray(i + 4);
          this.ended = true;
          return;
        }
        if (this.buf.length < i + 2 + size + 2) return;
        this.chunks.push(Buffer.from(this.buf.subarray(i + 2, i + 2 + size)));
        if (this.buf.toString('latin1', i + 2 + size, i + 4 + size) !== '\r\n') throw new Error('bad chunk trailer');
        this.buf = this.buf.subarray(i + 4 + size);
        continue;
      }
      const n = Number(this.head.headers.get('content-length') ?? '0');
      if (this.buf.length < n) return;
      this.body = Buffer.from(this.buf.subarray(0, n));
      this.buf = this.buf.subarray(n);
      this.ended = true;
      return;
    }
  }
}

/** Split one chunk into its RecordIO record: throws unless it is exactly one complete record. */
export function oneRecord(chunk: Buffer): Buffer {
  const lf = chunk.indexOf(0x0a);
  if (lf <= 0) throw new Error(`chunk does not start with a length prefix: ${chunk.toString('latin1', 0, 20)}`);
  const prefix = chunk.toString('latin1', 0, lf);
  if (!/^[1-9][0-9]*$/.test(prefix)) throw new Error(`bad length prefix '${prefix}'`);
  const n = Number(prefix);
  if (chunk.length !== lf + 1 + n) throw new Error(`chunk holds ${chunk.length - lf - 1} payload bytes, prefix says ${n}`);
  return chunk.subarray(lf + 1);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `pred` every few milliseconds until it holds (fails after `ms`). */
export async function waitFor(pred: () => boolean, what = 'condition', ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}
