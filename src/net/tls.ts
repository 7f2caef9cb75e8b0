/**
 * TLS settings and the authentication of a peer after the handshake.
 *
 * OpenSSL verifies the chain against our CA, but it is told not to reject
 * (`rejectUnauthorized: false`): a connection without a certificate may
 * still ask to join, and a refused peer deserves one log line naming why,
 * which a handshake alert cannot give. So every socket is judged here,
 * before any application byte is read from it or written to it.
 */
import type { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import type { Logger } from '../core/log.js';
import { certIdentity, fingerprintOf } from './pki.js';

export interface PodIdentity {
  podId: string;
  network: string;
  /** PEMs: the pod's private key, its certificate, and the network CA's certificate. */
  key: string;
  cert: string;
  ca: string;
}

/** Who is at the other end, once authenticated. */
export interface RemotePod {
  podId: string;
  fingerprint: string;
}

export type Verdict = { ok: true; remote: RemotePod } | { ok: false; reason: string };

export type RevocationCheck = (podId: string, fingerprint: string) => boolean;

const TLS13 = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const;

/** Our certificate followed by the CA's, so a joiner without the CA can check the chain. */
function chain(identity: PodIdentity): string {
  return `${identity.cert.trimEnd()}\n${identity.ca.trimEnd()}\n`;
}

export function serverOptions(identity: PodIdentity, handshakeTimeoutMs: number): tls.TlsOptions {
  return {
    ...TLS13,
    key: identity.key,
    cert: chain(identity),
    ca: [identity.ca],
    requestCert: true,
    rejectUnauthorized: false,
    handshakeTimeout: handshakeTimeoutMs,
  };
}

export function clientOptions(identity: PodIdentity): tls.ConnectionOptions {
  return {
    ...TLS13,
    key: identity.key,
    cert: chain(identity),
    ca: [identity.ca],
    rejectUnauthorized: false,
    // Pods are named by their certificate's SAN URI, not by host names: judged in verifyPeer.
    checkServerIdentity: () => undefined,
  };
}

/** Options for a joiner: no certificate of its own, no CA yet (it checks a fingerprint instead). */
export function joinerOptions(): tls.ConnectionOptions {
  return { ...TLS13, rejectUnauthorized: false, checkServerIdentity: () => undefined };
}

const UNKNOWN_AUTHORITY = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);

function chainFailure(code: string, cert: X509Certificate, network: string): string {
  if (code === 'CERT_HAS_EXPIRED') return 'expired';
  if (code === 'CERT_NOT_YET_VALID') return 'not yet valid';
  const id = certIdentity(cert);
  if (id && id.network !== network) return `other network (${id.network})`;
  if (UNKNOWN_AUTHORITY.has(code)) return 'unknown authority';
  return `invalid certificate (${code})`;
}

/**
 * Judges the peer of a finished handshake. `expected` is the pod we dialed,
 * if we dialed. A socket without any certificate yields 'no certificate'.
 */
export function verifyPeer(
  socket: tls.TLSSocket,
  identity: PodIdentity,
  isRevoked: RevocationCheck | undefined,
  expected?: string,
): Verdict {
  const cert = socket.getPeerX509Certificate();
  if (!cert) return { ok: false, reason: 'no certificate' };
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? 'UNKNOWN');
    return { ok: false, reason: chainFailure(code, cert, identity.network) };
  }
  const id = certIdentity(cert);
  if (!id) return { ok: false, reason: 'not a pod certificate (no wormhole:// SAN)' };
  if (id.network !== identity.network) return { ok: false, reason: `other network (${id.network})` };
  const fingerprint = fingerprintOf(cert);
  try {
    if (isRevoked?.(id.podId, fingerprint)) return { ok: false, reason: `revoked (pod ${id.podId})` };
  } catch (err) {
    return { ok: false, reason: `revocation check failed (${err instanceof Error ? err.message : String(err)})` };
  }
  if (expected !== undefined && id.podId !== expected) {
    return { ok: false, reason: `wrong pod (expected ${expected}, got ${id.podId})` };
  }
  if (id.podId === identity.podId) return { ok: false, reason: 'same pod id as ours' };
  return { ok: true, remote: { podId: id.podId, fingerprint } };
}

export function remoteAddressOf(socket: { remoteAddress?: string; remotePort?: number }): string {
  const host = socket.remoteAddress ?? '?';
  return host.includes(':') ? `[${host}]:${socket.remotePort}` : `${host}:${socket.remotePort}`;
}

/** The one line a refused connection gets. */
export function logRefusal(log: Logger, remote: string, reason: string, podId?: string): void {
  log.warn(
    { remote, reason, ...(podId ? { pod: podId } : {}) },
    `net: refused connection ${podId ? `to ${podId} at` : 'from'} ${remote}: ${reason}`,
  );
}
