/**
 * JSON Web Tokens signed with HMAC-SHA256 (RFC 7519, `alg` HS256), the form Mesos agents give
 * their executors (`MESOS_EXECUTOR_AUTHENTICATION_TOKEN`) and expect back as
 * `Authorization: Bearer <token>`. Only HS256 is accepted: a token naming another algorithm
 * (`none` included) is refused, whatever its signature. Claims are strings.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AuthenticationError } from './errors.ts';

export type JwtClaims = Readonly<Record<string, string>>;

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), 'utf8').toString('base64url');

function sign(input: string, key: Buffer): Buffer {
  return createHmac('sha256', key).update(input, 'utf8').digest();
}

/** A token carrying `claims`, signed with `key`. */
export function signJwt(claims: JwtClaims, key: Buffer): string {
  const payload = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
  const input = `${HEADER}.${payload}`;
  return `${input}.${sign(input, key).toString('base64url')}`;
}

function decodePart(part: string): unknown {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) return undefined;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The claims of `token` when `key` signed it with HS256; else an AuthenticationError saying why not. */
export function verifyJwt(token: string, key: Buffer): JwtClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new AuthenticationError('the token is not a JWT (three dot-separated parts)');
  const [h, p, s] = parts as [string, string, string];
  const header = decodePart(h) as { alg?: unknown } | undefined;
  if (typeof header !== 'object' || header === null) throw new AuthenticationError('the token header is not JSON');
  if (header.alg !== 'HS256') throw new AuthenticationError(`the token is not signed with HS256 (alg ${JSON.stringify(header.alg)})`);
  const want = sign(`${h}.${p}`, key);
  const got = /^[A-Za-z0-9_-]*$/.test(s) ? Buffer.from(s, 'base64url') : Buffer.alloc(0);
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new AuthenticationError('the token signature is not valid');
  const payload = decodePart(p);
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new AuthenticationError('the token payload is not a JSON object');
  const claims: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload)) if (typeof v === 'string') claims[k] = v;
  return claims;
}

/** The token of an `Authorization: Bearer <token>` header; undefined when absent or not Bearer. */
export function parseBearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bearer\s+([A-Za-z0-9._-]+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}
