/**
 * Certificates for the TLS tests, made with the `openssl` command in a temporary directory
 * (EC P-256 keys: fast to make):
 *
 *   ca            the trusted CA
 *   server        CN=localhost, SAN IP:127.0.0.1 + DNS:localhost, signed by ca
 *   client        CN=test-client (a principal), signed by ca
 *   chained       CN=localhost signed by an intermediate CA under ca; its file holds leaf +
 *                 intermediate (depth 1)
 *   untrusted     like server, signed by another CA that nobody trusts
 *   rogueClient   a client certificate signed by that other CA
 *   expired       like server, signed by ca, notAfter in the past
 *   wrongHost     signed by ca, SAN DNS:wrong.example only
 *
 * Call `pki.remove()` when done (in `test.after.always`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pair {
  readonly cert: string;
  readonly key: string;
}

export interface Pki {
  readonly dir: string;
  readonly ca: Pair;
  readonly otherCa: Pair;
  readonly server: Pair;
  readonly client: Pair;
  readonly chained: Pair;
  readonly untrusted: Pair;
  readonly rogueClient: Pair;
  readonly expired: Pair;
  readonly wrongHost: Pair;
  /** Read a file of the PKI (PEM text). */
  read(path: string): string;
  /** Remove the directory. */
  remove(): void;
}

const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth,serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[wrong_host_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

export function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version']).status === 0;
}

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'corral-tls-'));
  const cnf = join(dir, 'openssl.cnf');
  writeFileSync(cnf, CONFIG);
  let serial = 1;
  const openssl = (...args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.error) throw new Error(`openssl: ${r.error.message} (is the openssl package installed?)`);
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const key = (name: string): string => {
    const path = join(dir, `${name}.key`);
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path);
    return path;
  };
  const rootCa = (name: string, cn: string): Pair => {
    const k = key(name);
    const cert = join(dir, `${name}.pem`);
    openssl('req', '-config', cnf, '-x509', '-new', '-key', k, '-subj', `/CN=${cn}`, '-days', '2', '-extensions', 'ca_ext', '-out', cert);
    return { cert, key: k };
  };
  const signed = (name: string, cn: string, by: Pair, ext: string, days = 2): Pair => {
    const k = key(name);
    const csr = join(dir, `${name}.csr`);
    const cert = join(dir, `${name}.pem`);
    openssl('req', '-config', cnf, '-new', '-key', k, '-subj', `/CN=${cn}`, '-out', csr);
    openssl(
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      by.cert,
      '-CAkey',
      by.key,
      '-set_serial',
      String(serial++),
      '-days',
      String(days),
      '-extfile',
      cnf,
      '-extensions',
      ext,
      '-out',
      cert,
    );
    return { cert, key: k };
  };

  const ca = rootCa('ca', 'Corral Test CA');
  const otherCa = rootCa('other-ca', 'Untrusted Test CA');
  const server = signed('server', 'localhost', ca, 'server_ext');
  const client = signed('client', 'test-client', ca, 'client_ext');
  const intermediate = signed('intermediate', 'Corral Test Intermediate CA', ca, 'ca_ext');
  const leaf = signed('chained-leaf', 'localhost', intermediate, 'server_ext');
  const chainedCert = join(dir, 'chained.pem');
  writeFileSync(chainedCert, readFileSync(leaf.cert, 'utf8') + readFileSync(intermediate.cert, 'utf8'));
  const untrusted = signed('untrusted', 'localhost', otherCa, 'server_ext');
  const rogueClient = signed('rogue-client', 'rogue-client', otherCa, 'client_ext');
  // -days -1: notAfter is one day before notBefore (now), i.e. expired.
  const expired = signed('expired', 'localhost', ca, 'server_ext', -1);
  const wrongHost = signed('wrong-host', 'wrong.example', ca, 'wrong_host_ext');
  return {
    dir,
    ca,
    otherCa,
    server,
    client,
    chained: { cert: chainedCert, key: leaf.key },
    untrusted,
    rogueClient,
    expired,
    wrongHost,
    read: (p) => readFileSync(p, 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** LIBPROCESS_SSL_* variables for `pair` (default: the server pair) trusting `ca` (default: the CA). */
export function tlsEnv(pki: Pki, extra: Record<string, string> = {}, pair: Pair = pki.server): Record<string, string> {
  return {
    LIBPROCESS_SSL_ENABLED: 'true',
    LIBPROCESS_SSL_CERT_FILE: pair.cert,
    LIBPROCESS_SSL_KEY_FILE: pair.key,
    LIBPROCESS_SSL_CA_FILE: pki.ca.cert,
    ...extra,
  };
}
