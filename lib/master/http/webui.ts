/**
 * The web UI: static files (webui/ at the top of the repository: index.html, ES modules, CSS;
 * no build step) served by every master at `/` and `/ui/…`, in the read-only realm (HTTP
 * authentication when it is on). A master that does not lead redirects to the leader's `/`, so
 * the page always talks to the leader. The files are read once, at start, and kept with a gzip
 * copy and an ETag: a reload revalidates (304) and a changed file is fetched again.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { HttpResponse, HttpServer, Request } from '../../transport/index.ts';
import { textResponse } from '../../transport/responses.ts';
import type { Leadership } from '../leadership.ts';
import type { Master } from '../master.ts';
import { leaderGate } from './leadership.ts';
import { READONLY_REALM } from './operator.ts';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly etag: string;
}

/** The webui/ folder, from the sources (lib/master/http) or the build (dist/lib/master/http). */
export function webuiDir(): string | undefined {
  for (const up of ['../../../webui', '../../../../webui']) {
    const dir = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

function load(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type === undefined) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, { type, body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return assets;
}

function serve(req: Request, a: Asset): HttpResponse {
  const headers: Record<string, string> = { 'Content-Type': a.type, ETag: a.etag, 'Cache-Control': 'no-cache', Vary: 'Accept-Encoding' };
  if (req.header('if-none-match') === a.etag) return { status: 304, headers };
  const gzip = /\bgzip\b/.test(req.header('accept-encoding') ?? '');
  if (gzip) headers['Content-Encoding'] = 'gzip';
  return { status: 200, headers, body: gzip ? a.gzip : a.body };
}

export function webuiRoutes(server: HttpServer, master: Master, leadership: Leadership, dir: string | undefined = webuiDir()): void {
  const assets = dir === undefined ? new Map<string, Asset>() : load(dir);
  const index = assets.get('index.html');
  const page = (req: Request): HttpResponse => {
    const gate = leaderGate(req, master, leadership);
    if (gate) return gate;
    if (index === undefined) return textResponse(404, 'The web UI is not installed (no webui/index.html next to lib/)');
    return serve(req, index);
  };
  server.route({ path: '/', methods: ['GET'], handler: page, realm: READONLY_REALM });
  server.route({
    prefix: '/ui/',
    methods: ['GET'],
    realm: READONLY_REALM,
    handler: (req) => {
      const a = assets.get(req.path.slice('/ui/'.length));
      return a === undefined ? textResponse(404, `No such file: ${req.path}`) : serve(req, a);
    },
  });
}
