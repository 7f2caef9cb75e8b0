/**
 * Creating and joining networks: what `wormhole network create` and
 * `wormhole join` ask of the daemon, up to a running pod.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { validate } from '../config/load.js';
import { name as nameSchema, PodConfig } from '../config/schema.js';
import { UsageError } from '../core/errors.js';
import { isMounted } from '../fuse/index.js';
import {
  createAuthority,
  createKeyPair,
  decodeInvite,
  formatAddress,
  issuePodCertificate,
  joinNetwork,
  parseAddress,
} from '../net/index.js';
import { saveIdentity } from './identity.js';
import { JoinReply } from './invites.js';

const placeFields = {
  role: z.string().min(1).max(20).optional(),
  zone: z.string().min(1).max(63).optional(),
  capacity: z.union([z.string().min(1).max(30), z.number()]).optional(),
  affinity: z.number().optional(),
};

export const CreateNetworkRequest = z
  .object({
    name: nameSchema,
    mount: z.string().min(1).optional(),
    data: z.string().min(1).optional(),
    pod: nameSchema.optional(),
    listen: z.string().min(3).optional(),
    advertise: z.string().min(3).optional(),
    conflict: z.enum(['newest', 'copy']).default('copy'),
    ...placeFields,
  })
  .strict();

export const JoinRequestBody = z
  .object({
    token: z.string().min(1).max(4096),
    mount: z.string().min(1).optional(),
    data: z.string().min(1).optional(),
    pod: nameSchema.optional(),
    listen: z.string().min(3).optional(),
    advertise: z.string().min(3).optional(),
    ...placeFields,
  })
  .strict();

/** The pod's part in placement, as the config file spells it. */
function placeRaw(req: { role?: string; zone?: string; capacity?: string | number; affinity?: number }) {
  return {
    ...(req.role ? { role: req.role } : {}),
    ...(req.zone ? { zone: req.zone } : {}),
    ...(req.capacity !== undefined ? { capacity: req.capacity } : {}),
    ...(req.affinity !== undefined ? { affinity: req.affinity } : {}),
  };
}

export function defaultPodName(): string {
  const host =
    os
      .hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '') || 'pod';
  return `${host.slice(0, 50)}-${randomBytes(2).toString('hex')}`;
}

/** A host:port to listen on, with a free port chosen now if 0 (so it stays the same across restarts). */
export async function resolveListen(spec: string | undefined): Promise<string> {
  let hp: { host: string; port: number };
  try {
    hp = parseAddress(spec ?? '127.0.0.1:0', true);
  } catch (err) {
    throw new UsageError(`invalid listen address: ${(err as Error).message}`);
  }
  if (hp.port !== 0) return formatAddress(hp);
  const port = await new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (err) => reject(new UsageError(`cannot listen on ${hp.host}: ${err.message}`)));
    srv.listen(0, hp.host, () => {
      const a = srv.address() as net.AddressInfo;
      srv.close(() => resolve(a.port));
    });
  });
  return formatAddress({ host: hp.host, port });
}

/** Checks a mount point is ours to use: absolute, not overlapping another pod's, not mounted, empty. */
export function checkMountpoint(mount: string, otherMounts: string[]): void {
  if (!path.isAbsolute(mount)) throw new UsageError(`mount point ${mount} must be an absolute path`);
  for (const m of otherMounts) {
    if (m === mount || mount.startsWith(`${m}/`) || m.startsWith(`${mount}/`)) {
      throw new UsageError(`mount point ${mount} overlaps the mount ${m} of another network`);
    }
  }
  if (isMounted(mount)) throw new UsageError(`${mount} already has a file system mounted on it`);
  if (fs.existsSync(mount)) {
    if (!fs.statSync(mount).isDirectory()) throw new UsageError(`mount point ${mount} is not a directory`);
    if (fs.readdirSync(mount).length > 0) throw new UsageError(`mount point ${mount} is not empty`);
  }
}

/** The pod config and credentials of the first pod of a new network. */
export async function prepareCreate(
  req: z.infer<typeof CreateNetworkRequest>,
  dataDefault: string,
): Promise<{ raw: Record<string, unknown>; config: PodConfig; podId: string }> {
  const listen = await resolveListen(req.listen);
  const raw: Record<string, unknown> = {
    network: req.name,
    name: req.pod ?? defaultPodName(),
    ...(req.mount ? { mount: req.mount } : {}),
    data: req.data ?? dataDefault,
    listen,
    ...(req.advertise ? { advertise: req.advertise } : {}),
    ...placeRaw(req),
  };
  const config = validate(PodConfig, raw, 'pod config');
  const podId = randomBytes(8).toString('hex');
  const ca = await createAuthority(req.name);
  const { key, publicKey } = await createKeyPair();
  const cert = await issuePodCertificate(ca, { podId, network: req.name, publicKey });
  saveIdentity(config.data, { podId, network: req.name, key, cert, ca: ca.caCert, caKey: ca.caKey });
  return { raw, config, podId };
}

/** Joins through an invite: the inviting pod admits us; returns our pod config and our id and number. */
export async function prepareJoin(
  req: z.infer<typeof JoinRequestBody>,
  dataFor: (network: string) => string,
  exists: (network: string) => boolean,
): Promise<{
  raw: Record<string, unknown>;
  config: PodConfig;
  podId: string;
  number: number;
  members: JoinReply['members'];
}> {
  const invite = decodeInvite(req.token);
  if (exists(invite.network)) throw new UsageError(`this daemon already has a pod in network ${invite.network}`);
  if (invite.expiresAt !== undefined && invite.expiresAt < Date.now()) throw new UsageError('this invite has expired');
  // Checked before asking the network, so a typo costs no invite.
  validate(PodConfig, { network: invite.network, name: 'x', data: '/x', ...placeRaw(req) }, 'pod config');
  const listen = await resolveListen(req.listen);
  const name = req.pod ?? defaultPodName();
  const podId = randomBytes(8).toString('hex');
  const { key, publicKey } = await createKeyPair();
  let reply: JoinReply;
  try {
    const r = await joinNetwork({
      address: invite.address,
      caFingerprint: invite.caFingerprint,
      body: { secret: invite.secret, podId, name, publicKey, address: req.advertise ?? listen },
      timeoutMs: 30_000,
    });
    reply = JoinReply.parse(r);
  } catch (err) {
    const e = err as { name?: string; remoteMessage?: string; message?: string };
    throw new UsageError(`joining ${invite.network} through ${invite.address} failed: ${e.remoteMessage ?? e.message}`);
  }
  const raw: Record<string, unknown> = {
    network: invite.network,
    name,
    ...(req.mount ? { mount: req.mount } : {}),
    data: req.data ?? dataFor(invite.network),
    listen,
    ...(req.advertise ? { advertise: req.advertise } : {}),
    ...placeRaw(req),
  };
  const config = validate(PodConfig, raw, 'pod config');
  saveIdentity(config.data, {
    podId: reply.podId,
    network: reply.network,
    key,
    cert: reply.cert,
    ca: reply.ca,
    caKey: reply.caKey,
  });
  return { raw, config, podId: reply.podId, number: reply.number, members: reply.members };
}
