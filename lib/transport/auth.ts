/**
 * HTTP authentication, switched on for the whole port in one place (the HttpServer's `auth`
 * option): routes name a realm, and a request to a route whose realm requires authentication is
 * answered 401 with `WWW-Authenticate: Basic realm="<realm>"` unless it carries HTTP Basic
 * credentials that match the realm's credentials, or (where the realm accepts them) came over
 * TLS with a client certificate that verified against the configured CAs: then its subject CN
 * is the principal. The handler never runs for a refused request, so nothing changes.
 *
 * Credentials files are read in the two forms Mesos reads (`--credentials`, `--http_credentials`):
 *
 *   JSON   {"credentials": [{"principal": "ops", "secret": "s3cret"}, ...]}
 *   text   one `principal secret` pair per line, separated by white space; blank lines skipped
 *
 * and a single credential (`--credential` of an agent or a framework) as JSON
 * `{"principal": "a1", "secret": "…"}` or one `principal secret` line. A flag's value is a path
 * (`/etc/corral/credentials`), or the file's text itself (what `file:///path` flag values turn
 * into, or inline JSON). Problems name the file, the line or field, and the reason; secrets are
 * never in an error message or a log line.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { ValidationError, describeError } from '../common/errors.ts';
import { AuthenticationError } from './errors.ts';

export interface Credential {
  readonly principal: string;
  readonly secret: string;
}

/** Where a flag's file text came from: a path, or the flag value itself. */
export interface FlagText {
  readonly text: string;
  /** For messages: the path, or `inline value`. */
  readonly source: string;
  /** The path, when the value named a file. */
  readonly path?: string;
}

/**
 * A flag value that is either a path or the text itself. JSON (`{…}`) and text of several lines
 * or words are the text (inline, or what a `file://` value was replaced with); a single word,
 * a value starting with `/` or `./`, or one that names an existing file is a path, and is read.
 */
export function readFlagText(value: string): FlagText {
  const oneLine = !/[\r\n]/.test(value);
  const json = value.trimStart().startsWith('{');
  const looksLikePath =
    !json && oneLine && (!/\s/.test(value.trim()) || value.startsWith('/') || value.startsWith('./') || value.startsWith('../') || existsSync(value));
  if (!looksLikePath) return { text: value, source: 'inline value' };
  try {
    return { text: readFileSync(value, 'utf8'), source: value, path: value };
  } catch (e) {
    throw new ValidationError(value, `cannot be read: ${describeError(e)}`);
  }
}

/** A loaded credentials flag: where it came from and a store (digests only, no secret kept). */
export interface CredentialsFile {
  /** The path, when the flag named a file (what /flags shows instead of the value). */
  readonly path: string | undefined;
  readonly store: CredentialStore;
  /** The file can be read by users other than its owner (worth a warning at start). */
  readonly readableByOthers: boolean;
}

/** `--credentials` / `--http_credentials`: read and check the file (or inline text). */
export function loadCredentials(value: string): CredentialsFile {
  const f = readFlagText(value);
  const store = new CredentialStore(parseCredentials(f.text, f.source));
  return { path: f.path, store, readableByOthers: f.path !== undefined && readableByOthers(f.path) };
}

/** A loaded single-credential flag (an agent's `--credential`). */
export interface CredentialFile {
  readonly path: string | undefined;
  readonly credential: Credential;
  readonly readableByOthers: boolean;
}

/** `--credential`: read and check the file (or inline text). */
export function loadCredential(value: string): CredentialFile {
  const f = readFlagText(value);
  return { path: f.path, credential: parseCredential(f.text, f.source), readableByOthers: f.path !== undefined && readableByOthers(f.path) };
}

/** True when a credentials file can be read by users other than its owner (Mesos warns then). */
export function readableByOthers(path: string): boolean {
  try {
    return (statSync(path).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

function bad(source: string, where: string, reason: string): ValidationError {
  return new ValidationError(`${source}: ${where}`, reason);
}

function checkPrincipal(source: string, where: string, principal: unknown, secret: unknown): Credential {
  if (typeof principal !== 'string' || principal.length === 0) throw bad(source, `${where}.principal`, 'must be a non-empty string');
  if (/[\s:]/.test(principal))
    throw bad(source, `${where}.principal`, `'${principal}' may not contain white space or ':' (HTTP Basic splits at the first ':')`);
  if (typeof secret !== 'string' || secret.length === 0) throw bad(source, `${where}.secret`, `must be a non-empty string (principal '${principal}')`);
  return { principal, secret };
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw bad(source, 'JSON', `does not parse: ${describeError(e)}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function textLines(text: string, source: string): Credential[] {
  const out: Credential[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const words = line
      .trim()
      .split(/\s+/)
      .filter((w) => w.length > 0);
    if (words.length === 0) return;
    if (words.length !== 2) throw bad(source, `line ${i + 1}`, `expected 'principal secret' (2 words), found ${words.length} word(s)`);
    out.push(checkPrincipal(source, `line ${i + 1}`, words[0], words[1]));
  });
  return out;
}

/** A credentials file's text (JSON or text form) → its credentials; duplicates are an error. */
export function parseCredentials(text: string, source: string): Credential[] {
  let list: Credential[];
  if (text.trimStart().startsWith('{')) {
    const v = parseJson(text, source);
    if (!isObject(v)) throw bad(source, 'JSON', 'must be an object {"credentials": [...]}');
    for (const k of Object.keys(v)) if (k !== 'credentials') throw bad(source, k, "unknown field (expected only 'credentials')");
    const arr = v.credentials;
    if (!Array.isArray(arr)) throw bad(source, 'credentials', 'must be an array of {"principal": …, "secret": …}');
    list = arr.map((c, i) => {
      const where = `credentials[${i}]`;
      if (!isObject(c)) throw bad(source, where, 'must be an object {"principal": …, "secret": …}');
      for (const k of Object.keys(c))
        if (k !== 'principal' && k !== 'secret') throw bad(source, `${where}.${k}`, "unknown field (expected 'principal' and 'secret')");
      return checkPrincipal(source, where, c.principal, c.secret);
    });
  } else {
    list = textLines(text, source);
  }
  if (list.length === 0) throw bad(source, 'credentials', 'the file holds no credentials');
  const seen = new Set<string>();
  for (const c of list) {
    if (seen.has(c.principal)) throw bad(source, 'credentials', `principal '${c.principal}' appears more than once`);
    seen.add(c.principal);
  }
  return list;
}

/** A single credential (an agent's `--credential`): JSON `{"principal", "secret"}` or one line. */
export function parseCredential(text: string, source: string): Credential {
  if (text.trimStart().startsWith('{')) {
    const v = parseJson(text, source);
    if (!isObject(v)) throw bad(source, 'JSON', 'must be an object {"principal": …, "secret": …}');
    for (const k of Object.keys(v)) if (k !== 'principal' && k !== 'secret') throw bad(source, k, "unknown field (expected 'principal' and 'secret')");
    return checkPrincipal(source, 'credential', v.principal, v.secret);
  }
  const list = textLines(text, source);
  if (list.length !== 1) throw bad(source, 'credential', `expected exactly one 'principal secret' line, found ${list.length}`);
  return list[0]!;
}

/** The `Authorization` header value for a credential. */
export function basicAuthorization(c: Credential): string {
  return `Basic ${Buffer.from(`${c.principal}:${c.secret}`, 'utf8').toString('base64')}`;
}

/** `Authorization: Basic …` → principal and secret; undefined when absent or not Basic. */
export function parseBasic(header: string | undefined): Credential | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { principal: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A set of credentials to check against; secrets are kept only as digests. */
export class CredentialStore {
  private readonly secrets = new Map<string, Buffer>();
  /** Every digest a principal may not have: a lookup miss costs what a hit costs. */
  private static readonly NONE = digest('');

  constructor(credentials: readonly Credential[]) {
    for (const c of credentials) this.secrets.set(c.principal, digest(c.secret));
  }

  get size(): number {
    return this.secrets.size;
  }

  principals(): string[] {
    return Array.from(this.secrets.keys());
  }

  /** Whether `secret` is `principal`'s secret (constant time in the secret). */
  verify(principal: string, secret: string): boolean {
    const want = this.secrets.get(principal);
    const ok = timingSafeEqual(want ?? CredentialStore.NONE, digest(secret));
    return want !== undefined && ok;
  }
}

export interface AuthRealm {
  /** The realm's name, as in `WWW-Authenticate: Basic realm="…"` (Mesos: mesos-master-scheduler, …). */
  readonly name: string;
  readonly credentials: CredentialStore;
  /** Also accept a verified TLS client certificate: its subject CN is the principal (default true). */
  readonly certificates?: boolean;
}

/**
 * The realms a daemon requires authentication in. A route whose realm is not listed here is
 * served without authentication (its requests have no principal).
 */
export class HttpAuthenticator {
  private readonly realms = new Map<string, AuthRealm>();
  /**
   * Per realm, `Authorization` values that verified → their principal. A client sends the same
   * header with every call, and the digest of the secret is most of what a check costs
   * (bench/auth); only good values are kept, at most VERIFIED_MAX per realm.
   */
  private readonly verified = new Map<string, Map<string, string>>();
  private static readonly VERIFIED_MAX = 1024;
  authenticated = 0;
  refused = 0;

  constructor(realms: readonly AuthRealm[]) {
    for (const r of realms) {
      if (this.realms.has(r.name)) throw new ValidationError('realms', `realm '${r.name}' is given twice`);
      this.realms.set(r.name, r);
      this.verified.set(r.name, new Map());
    }
  }

  requires(realm: string | undefined): boolean {
    return realm !== undefined && this.realms.has(realm);
  }

  realmNames(): string[] {
    return Array.from(this.realms.keys());
  }

  /**
   * Authenticate a request in `realm` from its Authorization header or its verified client
   * certificate's CN: its principal, or an AuthenticationError saying why not. Basic
   * credentials, when sent, are what counts (a wrong password is refused even with a
   * certificate).
   */
  authenticate(realmName: string, authorization: string | undefined, peerPrincipal: string | undefined): string {
    const realm = this.realms.get(realmName);
    if (!realm) throw new AuthenticationError(`unknown realm '${realmName}'`);
    let principal: string;
    try {
      principal = this.check(realm, authorization, peerPrincipal);
    } catch (e) {
      if (e instanceof AuthenticationError) this.refused++;
      throw e;
    }
    this.authenticated++;
    return principal;
  }

  private check(realm: AuthRealm, authorization: string | undefined, peerPrincipal: string | undefined): string {
    if (authorization !== undefined) {
      const verified = this.verified.get(realm.name)!;
      const known = verified.get(authorization);
      if (known !== undefined) return known;
      const basic = parseBasic(authorization);
      if (!basic) throw new AuthenticationError('the Authorization header is not HTTP Basic credentials');
      if (!realm.credentials.verify(basic.principal, basic.secret)) throw new AuthenticationError(`wrong principal or secret (principal '${basic.principal}')`);
      if (verified.size >= HttpAuthenticator.VERIFIED_MAX) verified.delete(verified.keys().next().value!);
      verified.set(authorization, basic.principal);
      return basic.principal;
    }
    if (peerPrincipal !== undefined && (realm.certificates ?? true)) return peerPrincipal;
    throw new AuthenticationError('no credentials');
  }
}
