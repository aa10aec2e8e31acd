/**
 * loadTlsConfig: the LIBPROCESS_SSL_* / SSL_* variables, their checks and their one-line errors
 * naming the variable; `corral` refusing to start on a bad TLS setting.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { TlsConfig, loadTlsConfig } from '../../lib/transport/tls_config.ts';
import { makePki, tlsEnv, type Pki } from './tls_fixture.ts';

let pki: Pki;
test.before(() => {
  pki = makePki();
});
test.after.always(() => pki?.remove());

const errorOf = (env: Record<string, string>): string => {
  try {
    loadTlsConfig(env);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('no error');
};

test('TLS is off unless ENABLED says true; then nothing else is read', (t) => {
  t.is(loadTlsConfig({}), undefined);
  t.is(loadTlsConfig({ LIBPROCESS_SSL_ENABLED: 'false', LIBPROCESS_SSL_CERT_FILE: '/nope', LIBPROCESS_SSL_WHATEVER: 'x' }), undefined);
  t.is(loadTlsConfig({ SSL_ENABLED: '0' }), undefined);
  t.is(errorOf({ LIBPROCESS_SSL_ENABLED: 'maybe' }), "LIBPROCESS_SSL_ENABLED: 'maybe' is not a boolean (true or false)");
});

test('defaults: TLS 1.2 and 1.3, no client certificates, no server verification, depth 4', (t) => {
  const c = loadTlsConfig(tlsEnv(pki))!;
  t.true(c instanceof TlsConfig);
  t.true(Object.isFrozen(c));
  t.deepEqual(c.protocols, ['TLSv1.2', 'TLSv1.3']);
  t.is(c.minVersion, 'TLSv1.2');
  t.is(c.maxVersion, 'TLSv1.3');
  t.is(c.secureOptions, 0);
  t.false(c.supportDowngrade);
  t.false(c.verifyServer);
  t.false(c.requestClientCert);
  t.false(c.requireClientCert);
  t.is(c.verifyDepth, 4);
  t.is(c.ca!.length, 1);
  t.is(c.certFile, pki.server.cert);
  t.regex(c.key, /BEGIN PRIVATE KEY/);
});

test('SSL_ (0.23) and LIBPROCESS_SSL_ (1.0+) prefixes; LIBPROCESS_ wins; names are case-insensitive after the prefix', (t) => {
  const c = loadTlsConfig({
    SSL_enabled: 'true',
    SSL_CERT_FILE: pki.server.cert,
    SSL_KEY_FILE: pki.server.key,
    SSL_VERIFY_CERT: 'false',
    LIBPROCESS_SSL_verify_cert: 'true',
  })!;
  t.true(c.verifyServer);
  t.true(c.requestClientCert);
  t.false(c.requireClientCert);
  t.is(c.ca, undefined);
  // Settings go to executors under the LIBPROCESS_ prefix only (a bare SSL_CERT_FILE is OpenSSL's CA bundle).
  t.deepEqual(c.environment, {
    LIBPROCESS_SSL_ENABLED: 'true',
    LIBPROCESS_SSL_CERT_FILE: pki.server.cert,
    LIBPROCESS_SSL_KEY_FILE: pki.server.key,
    LIBPROCESS_SSL_VERIFY_CERT: 'true',
  });
  // Unknown SSL_* names belong to others (OpenSSL's SSL_CERT_DIR); unknown LIBPROCESS_SSL_* are errors.
  t.truthy(loadTlsConfig({ ...tlsEnv(pki), SSL_CERT_DIR: '/etc/ssl/certs' }));
  t.regex(errorOf({ ...tlsEnv(pki), LIBPROCESS_SSL_ENABLE_TLS_V1_4: 'true' }), /^LIBPROCESS_SSL_ENABLE_TLS_V1_4: is not a TLS setting Corral knows/);
});

test('REQUIRE_CERT requires and verifies; the 1.10 split names work too', (t) => {
  const r = loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_REQUIRE_CERT: 'true' }))!;
  t.true(r.requireClientCert && r.requestClientCert && r.verifyServer);
  const split = loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_REQUIRE_CLIENT_CERT: 'true' }))!;
  t.true(split.requireClientCert);
  t.false(split.verifyServer);
  const vs = loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_VERIFY_SERVER_CERT: 'true' }))!;
  t.true(vs.verifyServer);
  t.false(vs.requestClientCert);
});

test('protocol switches: OpenSSL 3 mapping, gaps, TLS 1.0/1.1 need @SECLEVEL=0, SSLv2/SSLv3 refused', (t) => {
  const only12 = loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_ENABLE_TLS_V1_3: 'false' }))!;
  t.deepEqual(only12.protocols, ['TLSv1.2']);
  t.notRegex(only12.ciphers, /SECLEVEL/);
  const gap = loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_ENABLE_TLS_V1_0: 'true', LIBPROCESS_SSL_ENABLE_TLS_V1_3: 'false' }))!;
  t.deepEqual(gap.protocols, ['TLSv1', 'TLSv1.2']);
  t.is(gap.minVersion, 'TLSv1');
  t.not(gap.secureOptions, 0); // SSL_OP_NO_TLSv1_1
  t.regex(gap.ciphers, /:@SECLEVEL=0$/);
  t.regex(errorOf(tlsEnv(pki, { SSL_ENABLE_SSL_V3: 'true' })), /^SSL_ENABLE_SSL_V3: SSLv3 is not supported/);
  t.regex(errorOf(tlsEnv(pki, { LIBPROCESS_SSL_ENABLE_SSL_V2: 'true' })), /^LIBPROCESS_SSL_ENABLE_SSL_V2: SSLv2 is not supported/);
  t.is(
    errorOf(tlsEnv(pki, { LIBPROCESS_SSL_ENABLE_TLS_V1_2: 'false', LIBPROCESS_SSL_ENABLE_TLS_V1_3: 'false' })),
    'LIBPROCESS_SSL_ENABLE_TLS_V1_2 / LIBPROCESS_SSL_ENABLE_TLS_V1_3: every protocol version is switched off',
  );
  t.regex(errorOf(tlsEnv(pki, { LIBPROCESS_SSL_ENABLE_TLS_V1_1: 'yes please' })), /^LIBPROCESS_SSL_ENABLE_TLS_V1_1: 'yes please' is not a boolean/);
});

test('ciphers, curves, depth and the name scheme are checked', (t) => {
  t.is(loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_CIPHERS: 'ECDHE-ECDSA-AES128-GCM-SHA256' }))!.ciphers, 'ECDHE-ECDSA-AES128-GCM-SHA256');
  t.regex(
    errorOf(tlsEnv(pki, { LIBPROCESS_SSL_CIPHERS: 'NO-SUCH-CIPHER' })),
    /^LIBPROCESS_SSL_CIPHERS: 'NO-SUCH-CIPHER' is not a usable OpenSSL cipher list: .*no cipher match/,
  );
  t.regex(errorOf(tlsEnv(pki, { LIBPROCESS_SSL_ECDH_CURVES: 'nope' })), /^LIBPROCESS_SSL_ECDH_CURVES: 'nope' is not a list of curves/);
  t.is(loadTlsConfig(tlsEnv(pki, { SSL_VERIFICATION_DEPTH: '2' }))!.verifyDepth, 2);
  t.is(loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_VERIFY_DEPTH: '0' }))!.verifyDepth, 0);
  t.is(errorOf(tlsEnv(pki, { LIBPROCESS_SSL_VERIFY_DEPTH: '-1' })), "LIBPROCESS_SSL_VERIFY_DEPTH: '-1' is not a non-negative integer");
  t.regex(errorOf(tlsEnv(pki, { LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME: 'dns' })), /^LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME: 'dns' is neither/);
});

test('certificate and key: missing, unreadable, not PEM, not matching', (t) => {
  const env = tlsEnv(pki);
  const { LIBPROCESS_SSL_CERT_FILE: _c, ...noCert } = env;
  t.is(errorOf(noCert), 'LIBPROCESS_SSL_CERT_FILE: is required when LIBPROCESS_SSL_ENABLED is true (the PEM certificate chain this process presents)');
  const { LIBPROCESS_SSL_KEY_FILE: _k, ...noKey } = env;
  t.regex(
    errorOf({ ...noKey, SSL_ENABLED: 'true', LIBPROCESS_SSL_ENABLED: 'true' }),
    /^LIBPROCESS_SSL_KEY_FILE: is required when LIBPROCESS_SSL_ENABLED is true/,
  );
  t.regex(errorOf({ ...env, LIBPROCESS_SSL_KEY_FILE: '/nonexistent/key.pem' }), /^LIBPROCESS_SSL_KEY_FILE: cannot read '\/nonexistent\/key.pem': .*ENOENT/);
  t.regex(errorOf({ ...env, LIBPROCESS_SSL_CERT_FILE: pki.server.key }), /^LIBPROCESS_SSL_CERT_FILE: '.*server.key' holds no PEM certificate$/);
  t.regex(errorOf({ ...env, LIBPROCESS_SSL_KEY_FILE: pki.server.cert }), /^LIBPROCESS_SSL_KEY_FILE: '.*server.pem' is not an unencrypted PEM private key/);
  t.regex(
    errorOf({ ...env, LIBPROCESS_SSL_KEY_FILE: pki.client.key }),
    /^LIBPROCESS_SSL_KEY_FILE: the key in '.*client.key' does not belong to the certificate in LIBPROCESS_SSL_CERT_FILE \('.*server.pem'\)$/,
  );
  t.regex(errorOf({ ...env, LIBPROCESS_SSL_CERT_FILE: '' }), /^LIBPROCESS_SSL_CERT_FILE: is empty$/);
  const broken = join(pki.dir, 'broken.pem');
  writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  t.regex(errorOf({ ...env, LIBPROCESS_SSL_CERT_FILE: broken }), /^LIBPROCESS_SSL_CERT_FILE: '.*broken.pem' holds a certificate that does not parse/);
});

test('CAs: a file, a directory, both; bad ones named', (t) => {
  const dir = join(pki.dir, 'cadir');
  mkdirSync(dir);
  writeFileSync(join(dir, 'README'), 'not a certificate');
  t.regex(errorOf(tlsEnv(pki, { LIBPROCESS_SSL_CA_DIR: dir })), /^LIBPROCESS_SSL_CA_DIR: '.*cadir' holds no PEM certificate$/);
  writeFileSync(join(dir, 'a.0'), pki.read(pki.ca.cert));
  writeFileSync(join(dir, 'b.0'), pki.read(pki.otherCa.cert));
  const both = loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_CA_DIR: dir }))!;
  t.is(both.ca!.length, 3);
  t.regex(errorOf(tlsEnv(pki, { LIBPROCESS_SSL_CA_DIR: join(pki.dir, 'nope') })), /^LIBPROCESS_SSL_CA_DIR: cannot read the directory '.*nope': .*ENOENT/);
  t.regex(errorOf(tlsEnv(pki, { LIBPROCESS_SSL_CA_FILE: pki.ca.key })), /^LIBPROCESS_SSL_CA_FILE: '.*ca.key' holds no PEM certificate$/);
  t.regex(errorOf(tlsEnv(pki, { LIBPROCESS_SSL_CA_FILE: '/nonexistent/ca.pem' })), /^LIBPROCESS_SSL_CA_FILE: cannot read/);
  const broken = join(pki.dir, 'broken-ca.pem');
  writeFileSync(broken, pki.read(pki.ca.cert) + '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  t.regex(errorOf(tlsEnv(pki, { LIBPROCESS_SSL_CA_FILE: broken })), /^LIBPROCESS_SSL_CA_FILE: '.*broken-ca.pem' holds a certificate that does not parse/);
});

test('the private key never shows in JSON or inspect', (t) => {
  const c = loadTlsConfig(tlsEnv(pki))!;
  const key = pki.read(pki.server.key);
  t.true(c.key.includes('PRIVATE KEY'));
  t.false(JSON.stringify(c).includes('PRIVATE KEY'));
  t.false(JSON.stringify({ config: c }).includes(key.split('\n')[1]!));
  t.false(inspect(c, { depth: 5 }).includes('PRIVATE KEY'));
  t.throws(() => {
    (c as unknown as { verifyDepth: number }).verifyDepth = 9;
  });
});

const main = fileURLToPath(new URL('../../lib/cli/main.ts', import.meta.url));

test('corral master/agent/execute: a bad TLS setting is one line naming the variable, exit 2, nothing started', (t) => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [
      ['master', '--port=0', '--registry=in_memory'],
      { LIBPROCESS_SSL_ENABLED: 'true', LIBPROCESS_SSL_KEY_FILE: pki.server.key },
      /^corral master: LIBPROCESS_SSL_CERT_FILE: is required/,
    ],
    [
      ['agent', '--master=127.0.0.1:1', '--port=0', `--work_dir=${join(pki.dir, 'agent')}`],
      tlsEnv(pki, { LIBPROCESS_SSL_KEY_FILE: pki.client.key }),
      /^corral agent: LIBPROCESS_SSL_KEY_FILE: the key in/,
    ],
    [
      ['execute', '--master=127.0.0.1:1', '--command=true'],
      tlsEnv(pki, { SSL_CA_FILE: '/x', LIBPROCESS_SSL_CA_FILE: '/nonexistent' }),
      /^corral execute: LIBPROCESS_SSL_CA_FILE: cannot read '\/nonexistent'/,
    ],
  ];
  for (const [argv, env, want] of cases) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', main, ...argv], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    t.is(r.status, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    t.is(lines.length, 1, r.stderr);
    t.regex(lines[0]!, want);
    t.is(r.stdout, '');
  }
});
