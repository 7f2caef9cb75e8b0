/**
 * Invite tokens: what a new pod needs to join, in one string a person can
 * paste — `wh1.` then base64url of a msgpack map. The token is a bearer
 * secret for one join; the inviter keeps the secret (and its expiry) and is
 * the one that honours it. Tokens come from users, so decoding checks every
 * field and names the one that is wrong.
 */
import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import { parseAddress } from './dialer.js';
import { InvalidInviteError } from './errors.js';
import { NAME_RE } from './pki.js';

export interface Invite {
  network: string;
  /** host:port of a pod that accepts the join. */
  address: string;
  /** Hex SHA-256 of the network CA's certificate (DER). */
  caFingerprint: string;
  /** The one-time secret the inviter checks. */
  secret: string;
  /** Milliseconds since the epoch after which the inviter refuses it; informative for the joiner. */
  expiresAt?: number;
}

const PREFIX = 'wh1.';
const MAX_TOKEN = 2048;
const SECRET_RE = /^[A-Za-z0-9_-]{16,256}$/;
const packer = new Packr({ useRecords: false });

/** 144 random bits, URL-safe. */
export function createInviteSecret(): string {
  return randomBytes(18).toString('base64url');
}

function check(invite: Invite): void {
  if (typeof invite.network !== 'string' || !NAME_RE.test(invite.network)) {
    throw new InvalidInviteError('invite: the network name is missing or not a valid name');
  }
  try {
    if (typeof invite.address !== 'string') throw new Error();
    parseAddress(invite.address);
  } catch {
    throw new InvalidInviteError('invite: the address is missing or not host:port');
  }
  if (typeof invite.caFingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(invite.caFingerprint)) {
    throw new InvalidInviteError('invite: the CA fingerprint is missing or not 64 hex digits');
  }
  if (typeof invite.secret !== 'string' || !SECRET_RE.test(invite.secret)) {
    throw new InvalidInviteError('invite: the secret is missing or not 16-256 URL-safe characters');
  }
  const e = invite.expiresAt;
  if (e !== undefined && !(typeof e === 'number' && Number.isSafeInteger(e) && e > 0)) {
    throw new InvalidInviteError('invite: the expiry is not a time');
  }
}

export function encodeInvite(invite: Invite): string {
  const normalized = { ...invite, caFingerprint: invite.caFingerprint.replace(/:/g, '').toLowerCase() };
  check(normalized);
  const map: Record<string, unknown> = {
    n: normalized.network,
    a: normalized.address,
    f: Buffer.from(normalized.caFingerprint, 'hex'),
    s: normalized.secret,
  };
  if (normalized.expiresAt !== undefined) map.e = normalized.expiresAt;
  return PREFIX + Buffer.from(packer.pack(map)).toString('base64url');
}

export function decodeInvite(token: string): Invite {
  if (typeof token !== 'string') throw new InvalidInviteError('invite: not a string');
  const t = token.trim();
  if (!t.startsWith(PREFIX))
    throw new InvalidInviteError(`invite: not a Wormhole invite (it should start with ${PREFIX})`);
  if (t.length > MAX_TOKEN) throw new InvalidInviteError(`invite: too long (${t.length} characters)`);
  const b64 = t.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(b64))
    throw new InvalidInviteError('invite: contains characters outside base64url (truncated or mangled?)');
  let map: unknown;
  try {
    map = packer.unpack(Buffer.from(b64, 'base64url'));
  } catch {
    throw new InvalidInviteError('invite: cannot be decoded (truncated or mangled?)');
  }
  if (
    typeof map !== 'object' ||
    map === null ||
    Array.isArray(map) ||
    Object.getPrototypeOf(map) !== Object.prototype
  ) {
    throw new InvalidInviteError('invite: does not hold an invite');
  }
  const m = map as Record<string, unknown>;
  const unknown = Object.keys(m).filter((k) => !['n', 'a', 'f', 's', 'e'].includes(k));
  if (unknown.length > 0)
    throw new InvalidInviteError(`invite: unknown fields ${unknown.join(', ')} (from a newer version?)`);
  if (!(m.f instanceof Uint8Array) || m.f.length !== 32) {
    throw new InvalidInviteError('invite: the CA fingerprint is missing or not 32 bytes');
  }
  const invite: Invite = {
    network: m.n as string,
    address: m.a as string,
    caFingerprint: Buffer.from(m.f).toString('hex'),
    secret: m.s as string,
  };
  if (m.e !== undefined) invite.expiresAt = m.e as number;
  check(invite);
  return invite;
}
