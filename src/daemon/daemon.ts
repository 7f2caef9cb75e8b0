/**
 * The daemon of one node: hosts its pods (one per network), serves the
 * control socket and restores every pod, mounted again, when it starts.
 */

import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ConfigError, loadToml, saveToml, validate } from '../config/load.js';
import { DaemonConfig, name as nameSchema, PodConfig } from '../config/schema.js';
import { errorMessage, UsageError } from '../core/errors.js';
import { MAX_PREFIX } from '../core/ids.js';
import type { Logger } from '../core/log.js';
import { ControlServer, RequestError } from './control.js';
import { CreateNetworkRequest, checkMountpoint, JoinRequestBody, prepareCreate, prepareJoin } from './flows.js';
import type { Home } from './home.js';
import { Pod, type PodInfo, type Seed } from './pod.js';

export const VERSION = '0.1.0';

const InviteRequest = z
  .object({
    network: nameSchema,
    expires: z
      .number()
      .int()
      .positive()
      .max(365 * 24 * 3600_000)
      .default(24 * 3600_000),
  })
  .strict();
const RemoveRequest = z
  .object({ network: nameSchema, pod: z.string().min(1).max(100), force: z.boolean().default(false) })
  .strict();
const DrainRequest = z
  .object({ network: nameSchema, pod: z.string().min(1).max(100), cancel: z.boolean().default(false) })
  .strict();
const NetworkConfigRequest = z
  .object({ network: nameSchema, key: z.string().min(1).max(100), value: z.string().max(1000) })
  .strict();
/** The pod settings that change at runtime. */
const POD_KEYS = ['role', 'zone', 'capacity', 'affinity', 'cache.ram', 'cache.disk'] as const;
const PodConfigRequest = z.object({ network: nameSchema, key: z.enum(POD_KEYS), value: z.string().max(1000) }).strict();
const PathQuery = z.object({ network: nameSchema, path: z.string().max(4096) }).strict();
const FolderConfigRequest = z
  .object({
    network: nameSchema,
    path: z.string().max(4096),
    key: z.string().min(1).max(100),
    value: z.string().max(100),
  })
  .strict();

export interface DaemonStatus {
  version: string;
  pid: number;
  home: string;
  uptime: number;
  rss: number;
  pods: PodInfo[];
}

export class Daemon {
  private readonly pods = new Map<string, Pod>();
  private control: ControlServer | undefined;
  private readonly started = Date.now();
  private stopping: Promise<void> | undefined;
  config: DaemonConfig = { log_level: 'info' };
  /** Resolves when the daemon has stopped (after stop(), or a stop request). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    readonly home: Home,
    private readonly log: Logger,
  ) {
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
  }

  static loadConfig(home: Home): DaemonConfig {
    if (!fs.existsSync(home.configFile)) return { log_level: 'info' };
    return loadToml(home.configFile, DaemonConfig);
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.home.podsDir, { recursive: true, mode: 0o700 });
    this.config = Daemon.loadConfig(this.home);
    fs.writeFileSync(this.home.pidFile, `${process.pid}\n`);
    this.control = new ControlServer(this.home.socket, this.routes(), this.log);
    await this.control.start();
    await this.restorePods();
    this.log.info({ home: this.home.dir, pods: this.pods.size }, 'daemon started');
  }

  private async restorePods(): Promise<void> {
    for (const network of fs.readdirSync(this.home.podsDir)) {
      const file = this.home.podConfig(network);
      if (!fs.existsSync(file)) continue;
      let cfg: PodConfig;
      try {
        cfg = loadToml(file, PodConfig);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'pod config is invalid; pod not started');
        continue;
      }
      const pod = new Pod(cfg, this.log);
      this.pods.set(cfg.network, pod);
      try {
        await pod.start();
      } catch {
        // state and error are shown by status; the daemon serves the other pods
      }
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('daemon stopping');
      for (const pod of this.pods.values()) {
        try {
          await pod.stop();
        } catch (err) {
          this.log.error({ err }, 'pod stop failed');
        }
      }
      await this.control?.stop();
      fs.rmSync(this.home.pidFile, { force: true });
      this.log.info('daemon stopped');
      this.resolveDone();
    })();
    return this.stopping;
  }

  status(): DaemonStatus {
    return {
      version: VERSION,
      pid: process.pid,
      home: this.home.dir,
      uptime: (Date.now() - this.started) / 1000,
      rss: process.memoryUsage.rss(),
      pods: [...this.pods.values()].map((p) => p.info()),
    };
  }

  private otherMounts(): string[] {
    return [...this.pods.values()].flatMap((p) => (p.config.mount ? [p.config.mount] : []));
  }

  private pod(network: unknown): Pod {
    if (typeof network !== 'string') throw new UsageError('which network? (network is missing)');
    const pod = this.pods.get(network);
    if (!pod) throw new RequestError(404, `no network ${network} on this daemon`);
    return pod;
  }

  /** Starts a new pod and records it; on failure nothing stays behind but its data directory. */
  private async launch(raw: Record<string, unknown>, config: PodConfig, seed?: Seed): Promise<Pod> {
    const pod = new Pod(config, this.log, seed);
    try {
      await pod.start();
    } catch (err) {
      throw new RequestError(500, `network ${config.network} could not start: ${errorMessage(err)}`);
    }
    saveToml(this.home.podConfig(config.network), raw);
    this.pods.set(config.network, pod);
    return pod;
  }

  async createNetwork(body: unknown): Promise<PodInfo> {
    const req = validate(CreateNetworkRequest, body ?? {}, 'network create');
    if (this.pods.has(req.name)) throw new UsageError(`network ${req.name} already exists on this daemon`);
    if (req.mount) checkMountpoint(req.mount, this.otherMounts());
    if (req.data && !path.isAbsolute(req.data))
      throw new UsageError(`data directory ${req.data} must be an absolute path`);
    const { raw, config, podId } = await prepareCreate(req, path.join(this.home.podDir(req.name), 'data'));
    const pod = await this.launch(raw, config, { id: podId, prefix: randomInt(1, MAX_PREFIX) });
    pod.bootstrap({ conflict: req.conflict });
    return pod.info();
  }

  async join(body: unknown): Promise<PodInfo> {
    const req = validate(JoinRequestBody, body ?? {}, 'join');
    if (req.mount) checkMountpoint(req.mount, this.otherMounts());
    if (req.data && !path.isAbsolute(req.data))
      throw new UsageError(`data directory ${req.data} must be an absolute path`);
    const { raw, config, podId, number, members } = await prepareJoin(
      req,
      (n) => path.join(this.home.podDir(n), 'data'),
      (n) => this.pods.has(n),
    );
    const pod = await this.launch(raw, config, { id: podId, prefix: number, members });
    return pod.info();
  }

  /** `wormhole pod set`: changes the pod's config file and the running pod. */
  private setPodConfig(body: unknown): PodInfo {
    const b = validate(PodConfigRequest, body ?? {}, 'pod set');
    const pod = this.pod(b.network);
    const file = this.home.podConfig(b.network);
    const raw = loadToml(file, z.record(z.string(), z.unknown())) as Record<string, unknown>;
    let value: unknown = b.value;
    if (b.key === 'affinity') {
      value = Number(b.value);
      if (!/^\d+(\.\d+)?$/.test(b.value))
        throw new UsageError(`invalid affinity ${JSON.stringify(b.value)} (expected a number from 0 to 1000)`);
    }
    const next =
      b.key === 'cache.ram' || b.key === 'cache.disk'
        ? { ...raw, cache: { ...((raw.cache as object) ?? {}), [b.key.slice(6)]: value } }
        : { ...raw, [b.key]: value };
    const config = validate(PodConfig, next, `pod set ${b.key}`);
    saveToml(file, next);
    pod.reconfigure(config);
    return pod.info();
  }

  private routes() {
    return {
      'GET /v1/status': () => this.status(),
      'GET /v1/pods': () => [...this.pods.values()].map((p) => p.info()),
      'POST /v1/networks': (body: unknown) => this.createNetwork(body),
      'POST /v1/join': (body: unknown) => this.join(body),
      'POST /v1/invite': (body: unknown) => {
        const b = validate(InviteRequest, body ?? {}, 'invite');
        return this.pod(b.network).invite(b.expires);
      },
      'GET /v1/members': (_b: unknown, q: URLSearchParams) => this.pod(q.get('network') ?? undefined).members(),
      'POST /v1/remove': (body: unknown) => {
        const b = validate(RemoveRequest, body ?? {}, 'pod remove');
        return this.pod(b.network).remove(b.pod, b.force);
      },
      'POST /v1/drain': (body: unknown) => {
        const b = validate(DrainRequest, body ?? {}, 'pod drain');
        return this.pod(b.network).drain(b.pod, !b.cancel);
      },
      'POST /v1/network-config': (body: unknown) => {
        const b = validate(NetworkConfigRequest, body ?? {}, 'network set');
        return { settings: this.pod(b.network).setConfig(b.key, b.value) };
      },
      'GET /v1/network-config': (_b: unknown, q: URLSearchParams) => ({
        settings: this.pod(q.get('network') ?? undefined).settings(),
      }),
      'POST /v1/pod-config': (body: unknown) => this.setPodConfig(body),
      'GET /v1/where': (_b: unknown, q: URLSearchParams) => {
        const b = validate(PathQuery, Object.fromEntries(q), 'where');
        return this.pod(b.network).where(b.path);
      },
      'GET /v1/folder-config': (_b: unknown, q: URLSearchParams) => {
        const b = validate(PathQuery, Object.fromEntries(q), 'config get');
        return this.pod(b.network).folderConfig(b.path);
      },
      'POST /v1/folder-config': (body: unknown) => {
        const b = validate(FolderConfigRequest, body ?? {}, 'config set');
        return this.pod(b.network).setFolderConfig(b.path, b.key, b.value);
      },
      'POST /v1/stop': () => {
        setImmediate(() => void this.stop());
        return { stopping: true };
      },
    };
  }
}

export { ConfigError };
