/**
 * Admitting pods: an invite is a one-time secret with an expiry, kept by
 * the pod that made it (only its hash); a pod presenting it gets a number,
 * a certificate signed by the network's authority, the authority itself,
 * and becomes a member everywhere through the replicated network state.
 */
import { createHash, randomInt } from 'node:crypto';
import { z } from 'zod';
import { MAX_PREFIX } from '../core/ids.js';
import { createInviteSecret, fingerprint, issuePodCertificate } from '../net/index.js';
import { type Db, getMeta, setMeta } from '../store/db.js';
import type { MetaStore } from '../store/meta.js';
import type { Tree } from '../tree/tree.js';
import type { StoredIdentity } from './identity.js';
import { type Member, members, setMember } from './members.js';

export const JoinRequest = z
  .object({
    secret: z.string().min(16).max(256),
    podId: z.string().regex(/^[0-9a-f]{16}$/),
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/),
    publicKey: z.string().min(1).max(10_000),
    address: z.string().max(300).nullable(),
  })
  .strict();
export type JoinRequest = z.infer<typeof JoinRequest>;

const MemberShape = z.object({
  number: z.number().int().positive(),
  id: z.string(),
  name: z.string(),
  address: z.string().nullable(),
  fingerprint: z.string(),
  joined: z.number(),
  removed: z.boolean().optional(),
});

export const JoinReply = z.object({
  number: z.number().int().positive(),
  podId: z.string(),
  network: z.string(),
  cert: z.string(),
  ca: z.string(),
  caKey: z.string(),
  /** The members as the inviter knows them: the new pod trusts them until the replicated records arrive. */
  members: z.array(MemberShape),
});
export type JoinReply = z.infer<typeof JoinReply>;

interface StoredInvite {
  expires: number;
  used: boolean;
}

function inviteKey(secret: string): string {
  return `invite:${createHash('sha256').update(secret).digest('hex')}`;
}

/** A new one-time secret, valid until `expires` (ms since the epoch). */
export function createInvite(db: Db, expires: number): string {
  const secret = createInviteSecret();
  setMeta(db, inviteKey(secret), JSON.stringify({ expires, used: false } satisfies StoredInvite));
  return secret;
}

export class JoinRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JoinRefused';
  }
}

export interface AdmitContext {
  db: Db;
  meta: MetaStore;
  tree: Tree;
  identity: StoredIdentity;
}

function freeNumber(taken: Set<number>): number {
  for (;;) {
    const n = randomInt(1, MAX_PREFIX);
    if (!taken.has(n)) return n;
  }
}

/** Answers a join request: refused (JoinRefused, with the reason) or admitted. */
export async function admit(ctx: AdmitContext, body: unknown): Promise<JoinReply> {
  const r = JoinRequest.safeParse(body);
  if (!r.success) throw new JoinRefused('malformed join request');
  const req = r.data;
  const key = inviteKey(req.secret);
  const raw = getMeta(ctx.db, key);
  if (typeof raw !== 'string') throw new JoinRefused('unknown invite');
  const invite = JSON.parse(raw) as StoredInvite;
  if (invite.used) throw new JoinRefused('invite already used');
  if (invite.expires < Date.now()) throw new JoinRefused('invite expired');
  const all = members(ctx.meta);
  if (all.some((m) => m.id === req.podId)) throw new JoinRefused('a member already has this pod id');
  if (all.some((m) => m.name === req.name && !m.removed))
    throw new JoinRefused(`a member is already named ${req.name}`);
  // Used before anything is awaited: a second join with the same secret finds it used.
  setMeta(ctx.db, key, JSON.stringify({ ...invite, used: true }));
  const number = freeNumber(new Set(all.map((m) => m.number).concat(ctx.tree.pod)));
  const cert = await issuePodCertificate(
    { caKey: ctx.identity.caKey, caCert: ctx.identity.ca },
    { podId: req.podId, network: ctx.identity.network, publicKey: req.publicKey },
  );
  const member: Member = {
    number,
    id: req.podId,
    name: req.name,
    address: req.address,
    fingerprint: fingerprint(cert),
    joined: Date.now(),
  };
  setMember(ctx.tree, member);
  ctx.tree.commitNow();
  return {
    number,
    podId: req.podId,
    network: ctx.identity.network,
    cert,
    ca: ctx.identity.ca,
    caKey: ctx.identity.caKey,
    members: members(ctx.meta),
  };
}
