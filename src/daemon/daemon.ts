/**
 * The daemon of one node: hosts its pods (one per network), serves the
 * control socket and restores every pod, mounted again, when it starts.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { ConfigError, loadToml, saveToml, validate } from '../config/load.js';
import { DaemonConfig, name as nameSchema, PodConfig } from '../config/schema.js';
import { errorMessage, UsageError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { isMounted } from '../fuse/index.js';
import { ControlServer, RequestError } from './control.js';
import type { Home } from './home.js';
import { Pod, type PodInfo } from './pod.js';

export const VERSION = '0.1.0';

const CreateNetworkRequest = z
  .object({
    name: nameSchema,
    mount: z.string().min(1).optional(),
    data: z.string().min(1).optional(),
    pod: nameSchema.optional(),
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

function defaultPodName(): string {
  const host =
    os
      .hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '') || 'pod';
  return `${host.slice(0, 50)}-${randomBytes(2).toString('hex')}`;
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

  private checkMountpoint(mount: string): void {
    if (!path.isAbsolute(mount)) throw new UsageError(`mount point ${mount} must be an absolute path`);
    for (const p of this.pods.values()) {
      const m = p.config.mount;
      if (m && (m === mount || mount.startsWith(`${m}/`) || m.startsWith(`${mount}/`))) {
        throw new UsageError(`mount point ${mount} overlaps the mount of network ${p.network} (${m})`);
      }
    }
    if (isMounted(mount)) throw new UsageError(`${mount} already has a file system mounted on it`);
    if (fs.existsSync(mount)) {
      if (!fs.statSync(mount).isDirectory()) throw new UsageError(`mount point ${mount} is not a directory`);
      if (fs.readdirSync(mount).length > 0) throw new UsageError(`mount point ${mount} is not empty`);
    }
  }

  async createNetwork(body: unknown): Promise<PodInfo> {
    const req = validate(CreateNetworkRequest, body ?? {}, 'network create');
    if (this.pods.has(req.name)) throw new UsageError(`network ${req.name} already exists on this daemon`);
    if (req.mount) this.checkMountpoint(req.mount);
    if (req.data && !path.isAbsolute(req.data))
      throw new UsageError(`data directory ${req.data} must be an absolute path`);
    const raw = {
      network: req.name,
      name: req.pod ?? defaultPodName(),
      ...(req.mount ? { mount: req.mount } : {}),
      data: req.data ?? path.join(this.home.podDir(req.name), 'data'),
    };
    const cfg = validate(PodConfig, raw, 'pod config');
    const pod = new Pod(cfg, this.log);
    try {
      await pod.start();
    } catch (err) {
      throw new RequestError(500, `network ${req.name} could not start: ${errorMessage(err)}`);
    }
    saveToml(this.home.podConfig(req.name), raw);
    this.pods.set(req.name, pod);
    return pod.info();
  }

  private routes() {
    return {
      'GET /v1/status': () => this.status(),
      'GET /v1/pods': () => [...this.pods.values()].map((p) => p.info()),
      'POST /v1/networks': (body: unknown) => this.createNetwork(body),
      'POST /v1/stop': () => {
        setImmediate(() => void this.stop());
        return { stopping: true };
      },
    };
  }
}

export { ConfigError };
