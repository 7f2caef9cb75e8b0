/** Configuration schemas. Unknown keys are errors, so a typo is named instead of ignored. */
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';

export const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (n === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid size ${JSON.stringify(v)} (expected e.g. 4096, "512MiB" or "2GiB")`,
    });
    return z.NEVER;
  }
  return n;
});

/** A duration, in milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseDuration(v);
  if (n === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid duration ${JSON.stringify(v)} (expected e.g. 30, "500ms", "10m")`,
    });
    return z.NEVER;
  }
  return n;
});

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const name = z
  .string()
  .regex(NAME_RE, 'must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit');

export const ROLES = ['storage', 'cache', 'client', 'backup'] as const;
export type Role = (typeof ROLES)[number];

export const PodConfig = z
  .object({
    network: name,
    name: name,
    mount: z.string().min(1).optional(),
    data: z.string().min(1),
    /** Where this pod accepts connections from the other pods (host:port). */
    listen: z.string().min(3).optional(),
    /** Where the other pods should dial it, if not `listen` (behind NAT, or listening on 0.0.0.0). */
    advertise: z.string().min(3).optional(),
    /** Members silent for longer than this no longer hold back the forgetting of old operations. */
    network_horizon: duration.default(7 * 24 * 3600_000),
    /**
     * What this pod does with data: storage (holds replicas), cache (keeps
     * what it reads, on disk within cache.disk, holds no required replica),
     * client (keeps nothing durable beyond its own writes until they are
     * replicated), backup (holds an extra copy of everything, or of
     * backup_paths).
     */
    role: z.enum(ROLES).default('storage'),
    /** Datacenter, site or home: replicas go to distinct zones first. */
    zone: name.default('default'),
    /** Bytes this pod may hold for replicas (default: the size of its data disk). */
    capacity: size.optional(),
    /** Multiplies this pod's share of replicas: 2 takes twice as many, 0 only when no other pod can. */
    affinity: z.number().min(0).max(1000).default(1),
    /** For a backup pod: the folders (paths from the network root) it copies; all when absent. */
    backup_paths: z.array(z.string().min(1)).optional(),
    cache: z
      .object({
        ram: size.default(256 * 1024 * 1024),
        /** Disk for chunks this pod is not a target of (default: 10 GiB for a cache pod, else 0). */
        disk: size.optional(),
      })
      .strict()
      .default({ ram: 256 * 1024 * 1024 }),
    metadata: z
      .object({
        /** Group commit window for changes not followed by close/fsync. 0 commits each change at once. */
        commit_interval: duration.default(10),
      })
      .strict()
      .default({ commit_interval: 10 }),
    fuse: z
      .object({
        entry_timeout: duration.default(30_000),
        attr_timeout: duration.default(30_000),
        /** Keep polling for requests this long after each one instead of sleeping (latency on VMs whose idle CPUs halt). */
        poll_window: duration.default(2),
      })
      .strict()
      .default({ entry_timeout: 30_000, attr_timeout: 30_000, poll_window: 2 }),
  })
  .strict();
export type PodConfig = z.infer<typeof PodConfig>;

export const DaemonConfig = z
  .object({
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  })
  .strict();
export type DaemonConfig = z.infer<typeof DaemonConfig>;
