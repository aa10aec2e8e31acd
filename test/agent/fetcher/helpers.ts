/**
 * Fetcher test helpers: a plain HTTP file server on loopback that counts its requests per path
 * and can misbehave on purpose (status codes, redirects, no Content-Length, a body cut short,
 * a slow or stalled body, a held response), temporary directories, and archives made with the
 * real tar/zip tools.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export type Route =
  | Buffer
  | string
  | {
      body?: Buffer | string;
      status?: number;
      /** Redirect to this path (302). */
      redirect?: string;
      /** Send without Content-Length (chunked). */
      chunked?: boolean;
      /** Announce the full length but close the connection after this many bytes. */
      truncateAt?: number;
      /** Send the body in this many pieces, waiting `pieceDelayMs` between them. */
      pieces?: number;
      pieceDelayMs?: number;
      /** Send the headers, then nothing at all. */
      stall?: boolean;
      /** Hold the response until the promise resolves. */
      gate?: Promise<void>;
      /** Called when a request for the path arrives (before the gate). */
      arrived?: () => void;
    };

export interface FileServer {
  readonly base: string;
  readonly port: number;
  /** Requests per path. */
  hits(path: string): number;
  readonly total: number;
  set(path: string, route: Route): void;
}

export async function fileServer(t: Teardown, routes: Record<string, Route> = {}): Promise<FileServer> {
  const table = new Map(Object.entries(routes));
  const counts = new Map<string, number>();
  let total = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    total++;
    void serve(path, req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  async function serve(path: string, _req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const r = table.get(path);
    if (r === undefined) {
      res.writeHead(404, 'Not Found').end('no such file');
      return;
    }
    const route = typeof r === 'string' || Buffer.isBuffer(r) ? { body: r } : r;
    route.arrived?.();
    if (route.gate) await route.gate;
    if (route.redirect) {
      res.writeHead(302, { location: route.redirect }).end();
      return;
    }
    const body = Buffer.from(route.body ?? '');
    if (route.status && route.status !== 200) {
      res.writeHead(route.status).end(body);
      return;
    }
    if (route.stall) {
      res.writeHead(200, { 'content-length': body.length || 1000 });
      res.flushHeaders();
      return;
    }
    if (route.truncateAt !== undefined) {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, route.truncateAt), () => res.socket?.destroy());
      return;
    }
    res.writeHead(200, route.chunked ? {} : { 'content-length': body.length });
    const pieces = route.pieces ?? 1;
    const size = Math.ceil(body.length / pieces);
    for (let i = 0; i < pieces; i++) {
      if (i > 0 && route.pieceDelayMs) await new Promise((r) => setTimeout(r, route.pieceDelayMs));
      if (res.destroyed) return;
      const piece = body.subarray(i * size, (i + 1) * size);
      if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    hits: (p) => counts.get(p) ?? 0,
    get total() {
      return total;
    },
    set: (p, route) => table.set(p, route),
  };
}

/** A fresh directory under the system temp dir, removed after the test. */
export function tempDir(t: Teardown, prefix = 'corral-fetch-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Write files (relative path → content) under `dir`. */
export function writeTree(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
}

/** An archive of `files` made with the real tool: tar (with -a by suffix) or zip. */
export function makeArchive(dir: string, name: string, files: Record<string, string>): Buffer {
  const src = mkdtempSync(join(dir, 'src-'));
  writeTree(src, files);
  const out = join(dir, name);
  if (name.endsWith('.zip')) execFileSync('zip', ['-q', '-r', out, '.'], { cwd: src });
  else execFileSync('tar', ['-c', '-a', '-f', out, '-C', src, ...Object.keys(files)]);
  rmSync(src, { recursive: true, force: true });
  return readFileSync(out);
}

/** A port with nothing listening on it (bound, then closed). */
export async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Bytes that are not all the same (so a wrong offset shows). */
export function pattern(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >> 16;
  }
  return b;
}
