/**
 * TLS for the HttpServer and HttpClient: Node options built from a TlsConfig, the checks that
 * run after a handshake (as libprocess checks peers), and the first-byte sniffing behind downgrade.
 */
import type { AgentOptions } from 'node:https';
import type { ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { AuthenticationError, TransportError } from './errors.ts';
import type { TlsConfig } from './tls_config.ts';

/** How long a server waits for a TLS handshake (or, with downgrade, the first byte). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

function common(c: TlsConfig): tls.SecureContextOptions {
  return {
    key: c.key,
    cert: c.cert,
    ...(c.ca === undefined ? {} : { ca: [...c.ca] }),
    ciphers: c.ciphers,
    ecdhCurve: c.ecdhCurve,
    minVersion: c.minVersion,
    maxVersion: c.maxVersion,
    secureOptions: c.secureOptions,
  };
}

export function serverOptions(c: TlsConfig): ServerOptions {
  return {
    ...common(c),
    honorCipherOrder: true,
    // Without REQUIRE the server asks for a certificate but lets a client without one in; one
    // that is sent must verify (checked after the handshake by `checkClient`).
    requestCert: c.requestClientCert,
    rejectUnauthorized: c.requireClientCert,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  };
}

/** One client context per config: building it (key, chain, CAs) per connection costs ~0.3 ms. */
const clientContexts = new WeakMap<TlsConfig, tls.SecureContext>();

export function clientOptions(c: TlsConfig): AgentOptions {
  let secureContext = clientContexts.get(c);
  if (secureContext === undefined) {
    secureContext = tls.createSecureContext(common(c));
    clientContexts.set(c, secureContext);
  }
  return {
    secureContext,
    // Mesos: without VERIFY_CERT a client takes any server certificate.
    rejectUnauthorized: c.verifyServer,
    checkServerIdentity: (host: string, cert: PeerCertificate) => {
      const e = tls.checkServerIdentity(host, cert);
      if (e) return e;
      return chainDepth(cert) > c.verifyDepth + 1 ? depthError(cert, c.verifyDepth) : undefined;
    },
  };
}

/**
 * The number of certificates above the peer's own in its verified chain (the trust anchor
 * included): OpenSSL's verify depth d allows d CA certificates plus the anchor.
 */
export function chainDepth(cert: PeerCertificate): number {
  let n = 0;
  let at = cert as DetailedPeerCertificate;
  const seen = new Set<string>();
  while (at.issuerCertificate && at.issuerCertificate !== at && !seen.has(at.fingerprint256)) {
    seen.add(at.fingerprint256);
    at = at.issuerCertificate;
    n++;
  }
  return n;
}

function depthError(cert: PeerCertificate, depth: number): TransportError {
  return new TransportError('CERT_CHAIN_TOO_LONG', `the certificate chain of ${cert.subject?.CN ?? 'the peer'} is deeper than the verify depth ${depth}`);
}

/**
 * After a server-side handshake: an AuthenticationError saying why this client must be dropped.
 * A client without a certificate passes unless one is required (then OpenSSL already refused
 * it); a certificate that was sent must verify against the CAs and fit the verify depth.
 */
export function checkClient(socket: TLSSocket, c: TlsConfig): void {
  if (!c.requestClientCert) return;
  const cert = socket.getPeerCertificate(true);
  const presented = cert !== null && Object.keys(cert).length > 0;
  if (!presented) {
    if (c.requireClientCert) throw new AuthenticationError('no client certificate');
    return;
  }
  if (!socket.authorized) throw new AuthenticationError(`client certificate refused: ${String(socket.authorizationError)}`);
  if (chainDepth(cert) > c.verifyDepth + 1) throw new AuthenticationError(depthError(cert, c.verifyDepth).message);
}

/**
 * Downgrade: a TLS connection starts with a handshake record (0x16) or an SSLv2-style
 * hello (high bit set); HTTP never starts with either.
 */
export function looksLikeTls(firstByte: number): boolean {
  return firstByte === 0x16 || firstByte >= 0x80;
}

/**
 * Wait for the first bytes of `socket`, put them back, and say whether they look like TLS.
 * The socket is left paused with the bytes unread; `route` must hand it on and resume it (a
 * TLS socket wrapper takes the buffered bytes itself). A client that sends nothing within
 * `timeoutMs`, or goes away first, is dropped and `route` is not called.
 */
export function sniff(socket: Socket, timeoutMs: number, route: (isTls: boolean) => void): void {
  const onData = (chunk: Buffer): void => {
    cleanup();
    socket.pause();
    socket.unshift(chunk);
    route(looksLikeTls(chunk[0]!));
  };
  const onGone = (): void => {
    cleanup();
    socket.destroy();
  };
  const cleanup = (): void => {
    socket.setTimeout(0);
    socket.off('data', onData);
    socket.off('timeout', onGone);
    socket.off('end', onGone);
    socket.off('error', onGone);
  };
  socket.setTimeout(timeoutMs);
  socket.once('timeout', onGone);
  socket.once('end', onGone);
  socket.once('error', onGone);
  socket.on('data', onData);
}
