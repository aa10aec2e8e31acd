/**
 * TLS settings, read once (by the cli) from the environment as libprocess reads them,
 * checked completely, and frozen into a TlsConfig that the HttpServer and HttpClient take.
 *
 * Variables: `LIBPROCESS_SSL_<NAME>` (Mesos >= 1.0) or `SSL_<NAME>` (Mesos 0.23); when both are
 * set, the LIBPROCESS_ one wins, as in Mesos. The part after the prefix is case-insensitive
 * (`SSL_enabled` = `SSL_ENABLED`). An unknown `LIBPROCESS_SSL_*` name is an error; unknown
 * `SSL_*` names are left alone, since OpenSSL itself owns some (SSL_CERT_DIR).
 *
 * Where Corral differs from Mesos 0.23, on purpose:
 * - TLS 1.3 is on by default (ENABLE_TLS_V1_3=true), next to TLS 1.2.
 * - The default cipher list is Node's (forward-secret AEAD suites); Mesos's default
 *   (AES128-SHA:…:RC4-SHA…) has no forward secrecy and no suite for EC keys. CIPHERS is an
 *   OpenSSL cipher list for TLS <= 1.2 and may name TLS 1.3 suites (TLS_…); TLS 1.3 keeps its
 *   default suites unless it names some.
 * - SSLv2 and SSLv3 do not exist in the OpenSSL 3 that Node is built with: enabling either is an
 *   error. TLS 1.0 and 1.1 work when enabled, but OpenSSL 3 refuses their SHA-1 handshake
 *   signatures at security level 1 and above, so `:@SECLEVEL=0` is added to the cipher list
 *   (unless it names a level) whenever one of them is on.
 * - Server names are checked as later Mesos's `openssl` scheme does: the host a client
 *   connected to (a DNS name or an IP address) must be in the server certificate's SAN (an IP
 *   SAN counts, as with VERIFY_IPADD=true). The 0.23 `legacy` scheme (reverse DNS of the peer's
 *   address) is not done; a server does not check client certificates' names.
 * - Without CA_FILE / CA_DIR, Node's built-in root certificates (plus NODE_EXTRA_CA_CERTS) are
 *   the trust store.
 */
import { X509Certificate, constants as cryptoConstants, createPrivateKey } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { ValidationError, describeError } from '../common/errors.ts';
import { parseBool } from '../common/flags.ts';

export type TlsProtocol = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

const PROTOCOLS: readonly { setting: string; version: TlsProtocol; noFlag: number }[] = [
  { setting: 'enable_tls_v1_0', version: 'TLSv1', noFlag: cryptoConstants.SSL_OP_NO_TLSv1 },
  { setting: 'enable_tls_v1_1', version: 'TLSv1.1', noFlag: cryptoConstants.SSL_OP_NO_TLSv1_1 },
  { setting: 'enable_tls_v1_2', version: 'TLSv1.2', noFlag: cryptoConstants.SSL_OP_NO_TLSv1_2 },
  { setting: 'enable_tls_v1_3', version: 'TLSv1.3', noFlag: cryptoConstants.SSL_OP_NO_TLSv1_3 },
];

type Kind = 'bool' | 'string' | 'int';

/** Every setting read, by its lower-case name after the prefix. */
const SETTINGS: Readonly<Record<string, { kind: Kind; default?: string }>> = {
  enabled: { kind: 'bool', default: 'false' },
  support_downgrade: { kind: 'bool', default: 'false' },
  cert_file: { kind: 'string' },
  key_file: { kind: 'string' },
  verify_cert: { kind: 'bool', default: 'false' },
  require_cert: { kind: 'bool', default: 'false' },
  // 1.10+: the client-side and server-side halves of VERIFY_CERT / REQUIRE_CERT.
  verify_server_cert: { kind: 'bool', default: 'false' },
  require_client_cert: { kind: 'bool', default: 'false' },
  // The docs say VERIFY_DEPTH, the code reads VERIFICATION_DEPTH: both are taken.
  verify_depth: { kind: 'int' },
  verification_depth: { kind: 'int' },
  ca_dir: { kind: 'string' },
  ca_file: { kind: 'string' },
  ciphers: { kind: 'string' },
  enable_ssl_v2: { kind: 'bool', default: 'false' },
  enable_ssl_v3: { kind: 'bool', default: 'false' },
  enable_tls_v1_0: { kind: 'bool', default: 'false' },
  enable_tls_v1_1: { kind: 'bool', default: 'false' },
  enable_tls_v1_2: { kind: 'bool', default: 'true' },
  enable_tls_v1_3: { kind: 'bool', default: 'true' },
  verify_ipadd: { kind: 'bool', default: 'false' },
  ecdh_curves: { kind: 'string', default: 'auto' },
  hostname_validation_scheme: { kind: 'string', default: 'legacy' },
};

const DEFAULT_VERIFY_DEPTH = 4;

/** Whether a variable is one of the TLS settings read here (`LIBPROCESS_SSL_*`, or a known `SSL_*`). */
export function isTlsVariable(name: string): boolean {
  const m = /^(?:LIBPROCESS_)?SSL_(.+)$/.exec(name);
  return m !== null && (name.startsWith('LIBPROCESS_') || m[1]!.toLowerCase() in SETTINGS);
}

/** One setting as found in the environment. */
interface Found {
  /** The variable it came from, as spelled there (for error messages). */
  variable: string;
  value: string;
}

/** The name a message uses for a setting that was not given: `LIBPROCESS_SSL_CERT_FILE`. */
function preferredName(setting: string): string {
  return `LIBPROCESS_SSL_${setting.toUpperCase()}`;
}

interface TlsConfigInit {
  supportDowngrade: boolean;
  certFile: string;
  keyFile: string;
  caFile: string | undefined;
  caDir: string | undefined;
  cert: string;
  key: string;
  ca: readonly string[] | undefined;
  verifyServer: boolean;
  requestClientCert: boolean;
  requireClientCert: boolean;
  verifyDepth: number;
  protocols: readonly TlsProtocol[];
  ciphers: string;
  ecdhCurve: string;
  environment: Readonly<Record<string, string>>;
}

/**
 * The checked, frozen TLS settings of one process. Only `loadTlsConfig` makes one. The private
 * key is kept out of `JSON.stringify` and `util.inspect`, so logging a config shows no secret.
 */
export class TlsConfig {
  /** Accept plain HTTP on the TLS port too (first byte sniffed); clients fall back to plain. */
  readonly supportDowngrade: boolean;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string | undefined;
  readonly caDir: string | undefined;
  /** The certificate chain this process presents (PEM). */
  readonly cert: string;
  /** Trusted CA certificates (PEM), or undefined: Node's built-in roots. */
  readonly ca: readonly string[] | undefined;
  /** Clients check the server's certificate (CA and name): VERIFY_CERT, REQUIRE_CERT or VERIFY_SERVER_CERT. */
  readonly verifyServer: boolean;
  /** Servers ask for a client certificate and check it if one comes: VERIFY_CERT or a REQUIRE. */
  readonly requestClientCert: boolean;
  /** Servers refuse clients without a valid certificate: REQUIRE_CERT or REQUIRE_CLIENT_CERT. */
  readonly requireClientCert: boolean;
  /** Most CA certificates above the peer's own in its chain (OpenSSL's verify depth). */
  readonly verifyDepth: number;
  /** Enabled protocol versions, oldest first. */
  readonly protocols: readonly TlsProtocol[];
  /** The OpenSSL cipher list handed to Node (with @SECLEVEL=0 added for TLS 1.0/1.1). */
  readonly ciphers: string;
  readonly ecdhCurve: string;
  /**
   * The settings as `LIBPROCESS_SSL_*` variables, for processes this one starts (executors).
   * Only the LIBPROCESS_ prefix: a bare SSL_CERT_FILE would also be read by OpenSSL in the
   * child as its CA bundle.
   */
  readonly environment: Readonly<Record<string, string>>;
  readonly #key: string;

  /** @internal use loadTlsConfig */
  constructor(init: TlsConfigInit) {
    this.supportDowngrade = init.supportDowngrade;
    this.certFile = init.certFile;
    this.keyFile = init.keyFile;
    this.caFile = init.caFile;
    this.caDir = init.caDir;
    this.cert = init.cert;
    this.ca = init.ca === undefined ? undefined : Object.freeze([...init.ca]);
    this.verifyServer = init.verifyServer;
    this.requestClientCert = init.requestClientCert;
    this.requireClientCert = init.requireClientCert;
    this.verifyDepth = init.verifyDepth;
    this.protocols = Object.freeze([...init.protocols]);
    this.ciphers = init.ciphers;
    this.ecdhCurve = init.ecdhCurve;
    this.environment = Object.freeze({ ...init.environment });
    this.#key = init.key;
    Object.freeze(this);
  }

  /** The private key (PEM). */
  get key(): string {
    return this.#key;
  }

  get minVersion(): TlsProtocol {
    return this.protocols[0]!;
  }

  get maxVersion(): TlsProtocol {
    return this.protocols[this.protocols.length - 1]!;
  }

  /** SSL_OP_NO_* flags for versions switched off between minVersion and maxVersion. */
  get secureOptions(): number {
    let flags = 0;
    const lo = PROTOCOLS.findIndex((p) => p.version === this.minVersion);
    const hi = PROTOCOLS.findIndex((p) => p.version === this.maxVersion);
    for (let i = lo; i <= hi; i++) if (!this.protocols.includes(PROTOCOLS[i]!.version)) flags |= PROTOCOLS[i]!.noFlag;
    return flags;
  }

  toJSON(): object {
    return {
      supportDowngrade: this.supportDowngrade,
      certFile: this.certFile,
      keyFile: this.keyFile,
      caFile: this.caFile,
      caDir: this.caDir,
      verifyServer: this.verifyServer,
      requestClientCert: this.requestClientCert,
      requireClientCert: this.requireClientCert,
      verifyDepth: this.verifyDepth,
      protocols: this.protocols,
      ciphers: this.ciphers,
    };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): object {
    return { TlsConfig: this.toJSON() };
  }
}

export interface TlsFileSystem {
  readFile(path: string): string;
  /** Names of the regular files in a directory. */
  listFiles(dir: string): string[];
}

const realFs: TlsFileSystem = {
  readFile: (p) => readFileSync(p, 'utf8'),
  listFiles: (dir) => readdirSync(dir).filter((n) => statSync(join(dir, n), { throwIfNoEntry: false })?.isFile() ?? false),
};

/**
 * Read the TLS settings from `env`. Returns undefined when TLS is not enabled (then nothing else
 * is looked at). Any bad setting throws a ValidationError whose message starts with the
 * variable's name: `LIBPROCESS_SSL_KEY_FILE: cannot read '/etc/corral/key.pem': ...`.
 */
export function loadTlsConfig(env: Readonly<Record<string, string | undefined>>, fs: TlsFileSystem = realFs): TlsConfig | undefined {
  const found = new Map<string, Found>();
  const unknown: string[] = [];
  // SSL_ first, then LIBPROCESS_SSL_ over it (Mesos loads them in this order).
  for (const prefix of ['SSL_', 'LIBPROCESS_SSL_']) {
    for (const [variable, value] of Object.entries(env)) {
      if (value === undefined || !variable.startsWith(prefix)) continue;
      const setting = variable.slice(prefix.length).toLowerCase();
      if (!(setting in SETTINGS)) {
        if (prefix === 'LIBPROCESS_SSL_') unknown.push(variable);
        continue;
      }
      found.set(setting, { variable, value });
    }
  }

  const bool = (setting: string): boolean => {
    const f = found.get(setting);
    const text = f?.value ?? SETTINGS[setting]!.default!;
    try {
      return parseBool(text);
    } catch {
      throw new ValidationError(f?.variable ?? preferredName(setting), `'${text}' is not a boolean (true or false)`);
    }
  };

  if (!bool('enabled')) return undefined;
  const enabledVar = found.get('enabled')!.variable;
  if (unknown.length > 0) {
    throw new ValidationError(
      unknown.sort()[0]!,
      `is not a TLS setting Corral knows (known: ${Object.keys(SETTINGS)
        .map((s) => s.toUpperCase())
        .join(', ')})`,
    );
  }
  const str = (setting: string): string | undefined => {
    const f = found.get(setting);
    if (f === undefined) return SETTINGS[setting]!.default;
    if (f.value.trim() === '') throw new ValidationError(f.variable, 'is empty');
    return f.value;
  };
  const nameOf = (setting: string): string => found.get(setting)?.variable ?? preferredName(setting);
  const read = (setting: string, what: string): { path: string; text: string } => {
    const path = str(setting);
    if (path === undefined) throw new ValidationError(nameOf(setting), `is required when ${enabledVar} is true (${what})`);
    try {
      return { path, text: fs.readFile(path) };
    } catch (e) {
      throw new ValidationError(nameOf(setting), `cannot read '${path}': ${describeError(e)}`, { cause: e });
    }
  };

  // --- protocols
  if (bool('enable_ssl_v2')) throw new ValidationError(nameOf('enable_ssl_v2'), 'SSLv2 is not supported (Mesos dropped it in 0.24; OpenSSL 3 has none)');
  if (bool('enable_ssl_v3'))
    throw new ValidationError(nameOf('enable_ssl_v3'), 'SSLv3 is not supported: the OpenSSL 3 in Node has no SSLv3 (use TLS 1.2 or 1.3)');
  const protocols = PROTOCOLS.filter((p) => bool(p.setting)).map((p) => p.version);
  if (protocols.length === 0) {
    throw new ValidationError(`${nameOf('enable_tls_v1_2')} / ${nameOf('enable_tls_v1_3')}`, 'every protocol version is switched off');
  }
  const legacyTls = protocols.includes('TLSv1') || protocols.includes('TLSv1.1');

  // --- ciphers and curves, checked by OpenSSL itself
  const userCiphers = str('ciphers');
  let ciphers = userCiphers ?? tls.DEFAULT_CIPHERS;
  if (legacyTls && !/@SECLEVEL=/i.test(ciphers)) ciphers += ':@SECLEVEL=0';
  try {
    tls.createSecureContext({ ciphers });
  } catch (e) {
    throw new ValidationError(nameOf('ciphers'), `'${userCiphers}' is not a usable OpenSSL cipher list: ${describeError(e)}`, { cause: e });
  }
  const ecdhCurve = str('ecdh_curves')!;
  try {
    tls.createSecureContext({ ecdhCurve });
  } catch (e) {
    throw new ValidationError(nameOf('ecdh_curves'), `'${ecdhCurve}' is not a list of curves OpenSSL knows: ${describeError(e)}`, { cause: e });
  }

  const scheme = str('hostname_validation_scheme')!;
  if (scheme !== 'legacy' && scheme !== 'openssl') throw new ValidationError(nameOf('hostname_validation_scheme'), `'${scheme}' is neither legacy nor openssl`);
  bool('verify_ipadd');

  let verifyDepth = DEFAULT_VERIFY_DEPTH;
  for (const setting of ['verify_depth', 'verification_depth']) {
    const f = found.get(setting);
    if (f === undefined) continue;
    if (!/^\s*\d+\s*$/.test(f.value)) throw new ValidationError(f.variable, `'${f.value}' is not a non-negative integer`);
    verifyDepth = Number(f.value);
  }

  // --- certificate and key
  const certRead = read('cert_file', 'the PEM certificate chain this process presents');
  const chain = pemCertificates(certRead.text);
  if (chain.length === 0) throw new ValidationError(nameOf('cert_file'), `'${certRead.path}' holds no PEM certificate`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chain[0]!);
    for (const c of chain.slice(1)) new X509Certificate(c);
  } catch (e) {
    throw new ValidationError(nameOf('cert_file'), `'${certRead.path}' holds a certificate that does not parse: ${describeError(e)}`, { cause: e });
  }
  const keyRead = read('key_file', 'the PEM private key of the certificate');
  let key;
  try {
    key = createPrivateKey(keyRead.text);
  } catch (e) {
    throw new ValidationError(nameOf('key_file'), `'${keyRead.path}' is not an unencrypted PEM private key: ${describeError(e)}`, { cause: e });
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new ValidationError(
      nameOf('key_file'),
      `the key in '${keyRead.path}' does not belong to the certificate in ${nameOf('cert_file')} ('${certRead.path}')`,
    );
  }

  // --- trusted CAs
  let ca: string[] | undefined;
  const caFile = str('ca_file');
  if (caFile !== undefined) {
    const r = read('ca_file', 'trusted CA certificates');
    const certs = pemCertificates(r.text);
    if (certs.length === 0) throw new ValidationError(nameOf('ca_file'), `'${r.path}' holds no PEM certificate`);
    checkCertificates(certs, nameOf('ca_file'), r.path);
    ca = certs;
  }
  const caDir = str('ca_dir');
  if (caDir !== undefined) {
    let names: string[];
    try {
      names = fs.listFiles(caDir).sort();
    } catch (e) {
      throw new ValidationError(nameOf('ca_dir'), `cannot read the directory '${caDir}': ${describeError(e)}`, { cause: e });
    }
    const fromDir: string[] = [];
    for (const n of names) {
      const path = join(caDir, n);
      let text: string;
      try {
        text = fs.readFile(path);
      } catch (e) {
        throw new ValidationError(nameOf('ca_dir'), `cannot read '${path}': ${describeError(e)}`, { cause: e });
      }
      const certs = pemCertificates(text);
      checkCertificates(certs, nameOf('ca_dir'), path);
      fromDir.push(...certs);
    }
    if (fromDir.length === 0) throw new ValidationError(nameOf('ca_dir'), `'${caDir}' holds no PEM certificate`);
    ca = [...(ca ?? []), ...fromDir];
  }

  const verifyCert = bool('verify_cert');
  const requireCert = bool('require_cert');
  const requireClientCert = requireCert || bool('require_client_cert');
  const environment: Record<string, string> = {};
  for (const [setting, f] of found) environment[preferredName(setting)] = f.value;

  const config = new TlsConfig({
    supportDowngrade: bool('support_downgrade'),
    certFile: certRead.path,
    keyFile: keyRead.path,
    caFile,
    caDir,
    cert: certRead.text,
    key: keyRead.text,
    ca,
    verifyServer: verifyCert || requireCert || bool('verify_server_cert'),
    requestClientCert: verifyCert || requireClientCert,
    requireClientCert,
    verifyDepth,
    protocols,
    ciphers,
    ecdhCurve,
    environment,
  });
  // Last: the whole server context as the server will build it.
  try {
    tls.createSecureContext({
      key: config.key,
      cert: config.cert,
      ...(config.ca ? { ca: [...config.ca] } : {}),
      ciphers,
      ecdhCurve,
      minVersion: config.minVersion,
      maxVersion: config.maxVersion,
      secureOptions: config.secureOptions,
    });
  } catch (e) {
    throw new ValidationError(enabledVar, `the TLS settings do not make a usable OpenSSL context: ${describeError(e)}`, { cause: e });
  }
  return config;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function pemCertificates(text: string): string[] {
  return [...text.matchAll(PEM_CERT)].map((m) => `${m[0]}\n`);
}

function checkCertificates(certs: readonly string[], variable: string, path: string): void {
  for (const c of certs) {
    try {
      new X509Certificate(c);
    } catch (e) {
      throw new ValidationError(variable, `'${path}' holds a certificate that does not parse: ${describeError(e)}`, { cause: e });
    }
  }
}
