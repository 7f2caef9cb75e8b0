/**
 * One pod hosted by this daemon: its database, chunk store, replicated tree,
 * file system and mount, started and stopped together.
 */
import { randomBytes, randomInt } from 'node:crypto';
import * as path from 'node:path';
import type { PodConfig } from '../config/schema.js';
import { errorMessage } from '../core/errors.js';
import { MAX_PREFIX } from '../core/ids.js';
import type { Logger } from '../core/log.js';
import { FileSystem } from '../fs/filesystem.js';
import { PodMount } from '../mount/mount.js';
import { Checkpointer } from '../store/checkpointer.js';
import { ChunkStore } from '../store/chunks.js';
import { Committer } from '../store/committer.js';
import { type Db, getMeta, openDatabase, setMeta } from '../store/db.js';
import { IdAllocator } from '../store/ids.js';
import { MetaStore } from '../store/meta.js';
import { Tree } from '../tree/tree.js';

export type PodState = 'stopped' | 'starting' | 'running' | 'stopping' | 'failed';

export interface PodInfo {
  network: string;
  name: string;
  id: string;
  mount: string | null;
  mounted: boolean;
  data: string;
  state: PodState;
  error: string | null;
  files: number;
  bytes: number;
  chunks: number;
  chunkBytes: number;
  cacheBytes: number;
  cacheBudget: number;
  /** FUSE requests since the mount, by operation. */
  requests: Record<string, number>;
}

interface Identity {
  id: string;
  prefix: number;
}

function identity(db: Db): Identity {
  const id = getMeta(db, 'pod_id');
  const prefix = getMeta(db, 'pod_prefix');
  if (typeof id === 'string' && (typeof prefix === 'bigint' || typeof prefix === 'number')) {
    return { id, prefix: Number(prefix) };
  }
  const fresh = { id: randomBytes(8).toString('hex'), prefix: randomInt(1, MAX_PREFIX) };
  setMeta(db, 'pod_id', fresh.id);
  setMeta(db, 'pod_prefix', fresh.prefix);
  return fresh;
}

export class Pod {
  state: PodState = 'stopped';
  error: string | null = null;
  private db: Db | undefined;
  private checkpointer: Checkpointer | undefined;
  private compactTimer: NodeJS.Timeout | undefined;
  private chunks: ChunkStore | undefined;
  private meta: MetaStore | undefined;
  private fs: FileSystem | undefined;
  private mount: PodMount | undefined;
  private id = '';
  readonly log: Logger;

  constructor(
    readonly config: PodConfig,
    log: Logger,
  ) {
    this.log = log.child({ pod: `${config.network}/${config.name}` });
  }

  get network(): string {
    return this.config.network;
  }

  async start(): Promise<void> {
    this.state = 'starting';
    this.error = null;
    try {
      await this.open();
      this.state = 'running';
      this.log.info({ mount: this.config.mount }, 'pod started');
    } catch (err) {
      this.state = 'failed';
      this.error = errorMessage(err);
      this.log.error({ err }, 'pod failed to start');
      await this.close();
      throw err;
    }
  }

  private async open(): Promise<void> {
    const data = this.config.data;
    const dbFile = path.join(data, 'meta.db');
    const db = openDatabase(dbFile);
    this.db = db;
    this.checkpointer = new Checkpointer({
      file: dbFile,
      onError: (e) => this.log.warn({ err: e }, 'checkpoint failed'),
    });
    this.checkpointer.start();
    const ident = identity(db);
    this.id = ident.id;
    const committer = new Committer(db, this.config.metadata.commit_interval);
    const meta = new MetaStore(db, () => committer.open());
    this.meta = meta;
    const tree = new Tree({ meta, ids: new IdAllocator(db, ident.prefix), pod: ident.prefix, committer });
    const chunks = new ChunkStore({
      dir: data,
      db,
      ramBytes: this.config.cache.ram,
      beforeStatement: () => committer.open(),
      commit: () => committer.flush(),
    });
    chunks.start();
    this.chunks = chunks;
    const fsys = new FileSystem({
      meta,
      tree,
      chunks,
      stagingDir: path.join(data, 'staging'),
      dataDir: data,
      log: this.log,
    });
    tree.onFreed = (hashes) => fsys.core.collect(hashes);
    tree.beforeApply = () => chunks.flushInline();
    fsys.start();
    this.fs = fsys;
    if (this.config.mount) {
      const m = new PodMount(fsys, {
        mountpoint: this.config.mount,
        source: `wormhole:${this.config.network}`,
        entryTimeout: this.config.fuse.entry_timeout / 1000,
        attrTimeout: this.config.fuse.attr_timeout / 1000,
        pollWindowMs: this.config.fuse.poll_window,
        log: this.log,
      });
      m.onLost = () => this.log.warn('mount lost; restart the daemon or the pod to mount again');
      await m.start();
      this.mount = m;
    }
    chunks
      .sweep((h) => meta.isHashUsed(h))
      .then((n) => n && this.log.info({ chunks: n }, 'dropped chunks no file uses'))
      .catch((err) => this.log.warn({ err }, 'chunk sweep failed'));
    this.compactTimer = setInterval(() => {
      chunks.compact().catch((err) => this.log.warn({ err }, 'pack compaction failed'));
    }, 60_000);
    this.compactTimer.unref();
  }

  private async close(): Promise<void> {
    clearInterval(this.compactTimer);
    try {
      await this.mount?.stop();
    } catch (err) {
      this.log.warn({ err }, 'unmount failed');
    }
    this.mount = undefined;
    try {
      await this.fs?.stop();
    } catch (err) {
      this.log.warn({ err }, 'closing open files failed');
    }
    this.fs = undefined;
    await this.chunks?.stop();
    this.chunks = undefined;
    this.meta = undefined;
    await this.checkpointer?.stop();
    this.checkpointer = undefined;
    this.db?.close();
    this.db = undefined;
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    await this.close();
    this.state = 'stopped';
    this.log.info('pod stopped');
  }

  info(): PodInfo {
    const counts = this.meta?.counts() ?? { inodes: 0, bytes: 0 };
    const cs = this.chunks?.stats() ?? { chunks: 0, bytes: 0 };
    return {
      network: this.config.network,
      name: this.config.name,
      id: this.id,
      mount: this.config.mount ?? null,
      mounted: this.mount?.mounted ?? false,
      data: this.config.data,
      state: this.state,
      error: this.error,
      files: Math.max(0, counts.inodes - 1),
      bytes: counts.bytes,
      chunks: cs.chunks,
      chunkBytes: cs.bytes,
      cacheBytes: this.chunks?.cache.bytes ?? 0,
      cacheBudget: this.config.cache.ram,
      requests: this.mount?.requestCounts() ?? {},
    };
  }
}
