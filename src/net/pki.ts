/**
 * The network's own certificate authority and its pod certificates. node:crypto
 * parses and verifies certificates but cannot create them, so creation uses
 * @peculiar/x509 over node's WebCrypto (ECDSA P-256: small keys, fast
 * handshakes, supported by every TLS 1.3 stack).
 *
 * A pod certificate names its pod twice: CN `pod:<podId>` for humans and the
 * SAN URI `wormhole://<network>/<podId>`, which is what the transport checks.
 */
// @peculiar/x509 depends on tsyringe, which needs the Reflect metadata API
// installed before it loads; this import must stay first.
import 'reflect-metadata';
import { createHash, generateKeyPair, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import { UsageError } from '../core/errors.js';

const crypto = webcrypto;
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
/** Clocks of pods disagree a little; a certificate is valid from slightly before its issue. */
const BACKDATE_MS = 5 * 60_000;

/** Network names and pod ids: safe in a URI, a file name and a log line. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface Authority {
  caKey: string;
  caCert: string;
}

export interface PodCertificateRequest {
  podId: string;
  network: string;
  /** SPKI PEM of the pod's key. */
  publicKey: string;
  /** Default 5 years. Ignored when notAfter is given. */
  validDays?: number;
  notBefore?: Date;
  notAfter?: Date;
}

export interface CertificateInfo {
  podId: string | null;
  network: string | null;
  notBefore: Date;
  notAfter: Date;
  fingerprint: string;
}

function checkName(what: string, value: string): void {
  if (!NAME_RE.test(value)) {
    throw new UsageError(`${what} ${JSON.stringify(value)} must be 1-63 letters, digits, ".", "_" or "-"`);
  }
}

function toPem(label: string, der: ArrayBuffer | Buffer): string {
  const b64 = Buffer.from(der as ArrayBuffer).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

function fromPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** x509's PEM has no final newline; TLS needs one between concatenated certificates. */
function certPem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').trimEnd()}\n`;
}

/** A random positive serial: 16 bytes, high bit clear so DER keeps it positive. */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

export async function createAuthority(network: string): Promise<Authority> {
  checkName('network', network);
  const keys = await crypto.subtle.generateKey(ECDSA, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: [{ CN: [`wormhole-ca:${network}`] }],
      keys,
      signingAlgorithm: ECDSA,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + 3650 * DAY_MS),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { caKey: toPem('PRIVATE KEY', pkcs8), caCert: certPem(cert) };
}

/** A pod's key pair: `key` is PKCS#8 PEM (what TLS wants), `publicKey` SPKI PEM (what the CA signs). */
export async function createKeyPair(): Promise<{ key: string; publicKey: string }> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { key: privateKey, publicKey };
}

export async function issuePodCertificate(ca: Authority, req: PodCertificateRequest): Promise<string> {
  checkName('pod id', req.podId);
  checkName('network', req.network);
  const caCert = new x509.X509Certificate(ca.caCert);
  const signingKey = await crypto.subtle.importKey('pkcs8', fromPem(ca.caKey), ECDSA, false, ['sign']);
  const publicKey = await crypto.subtle.importKey('spki', fromPem(req.publicKey), ECDSA, true, ['verify']);
  const notBefore = req.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const notAfter = req.notAfter ?? new Date(notBefore.getTime() + BACKDATE_MS + (req.validDays ?? 5 * 365) * DAY_MS);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: [{ CN: [`pod:${req.podId}`] }],
      issuer: caCert.subject,
      notBefore,
      notAfter,
      publicKey,
      signingKey,
      signingAlgorithm: ECDSA,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: podUri(req.network, req.podId) }]),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
      ],
    },
    crypto,
  );
  return certPem(cert);
}

export function podUri(network: string, podId: string): string {
  return `wormhole://${network}/${podId}`;
}

const POD_URI_RE = /(?:^|,\s*)URI:wormhole:\/\/([A-Za-z0-9._-]+)\/([A-Za-z0-9._-]+)(?=,|$)/;

/** The network and pod a certificate names in its SAN, or null if it names none. */
export function certIdentity(cert: X509Certificate): { network: string; podId: string } | null {
  const m = POD_URI_RE.exec(cert.subjectAltName ?? '');
  return m ? { network: m[1]!, podId: m[2]! } : null;
}

/** Hex SHA-256 of the certificate's DER. */
export function fingerprintOf(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

export function fingerprint(certPem: string): string {
  return fingerprintOf(new X509Certificate(certPem));
}

export function inspect(certPem: string): CertificateInfo {
  const cert = new X509Certificate(certPem);
  const id = certIdentity(cert);
  return {
    podId: id?.podId ?? null,
    network: id?.network ?? null,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint: fingerprintOf(cert),
  };
}
