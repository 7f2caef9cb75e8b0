/**
 * One pod hosted by this daemon: its database, chunk store, replicated tree,
 * file system, mount and place in its network, started and stopped together.
 */
import { randomBytes, randomInt } from 'node:crypto';
import * as path from 'node:path';
import { describeSettings, normalizeSetting, parseRedundancy } from '../config/network.js';
import type { PodConfig } from '../config/schema.js';
import { formatBytes } from '../config/units.js';
import { errorMessage, UsageError } from '../core/errors.js';
import { MAX_PREFIX } from '../core/ids.js';
import type { Logger } from '../core/log.js';
import { FileSystem } from '../fs/filesystem.js';
import { PodMount } from '../mount/mount.js';
import { encodeInvite, fingerprint, parseAddress } from '../net/index.js';
import { nearest } from '../replication/demand.js';
import type { HealthReport } from '../replication/replicator.js';
import { Checkpointer } from '../store/checkpointer.js';
import { ChunkStore } from '../store/chunks.js';
import { Committer } from '../store/committer.js';
import { type Db, getMeta, openDatabase, setMeta } from '../store/db.js';
import { IdAllocator } from '../store/ids.js';
import { MetaStore } from '../store/meta.js';
import { Tree } from '../tree/tree.js';
import { loadIdentity, type StoredIdentity } from './identity.js';
import { createInvite } from './invites.js';
import {
  type FolderSettings,
  folderSettings,
  getConfig,
  type Member,
  members,
  setConfig,
  setDraining,
  setFolderSettings,
  setMember,
} from './members.js';
import { type MemberStatus, PodNetwork, pathOf, resolvePath } from './network.js';

export interface WhereReport {
  path: string;
  size: number;
  redundancy: number;
  ranges: Array<{ start: number; end: number; chunks: number; holders: string[]; targets: string[] }>;
}

export type PodState = 'stopped' | 'starting' | 'running' | 'stopping' | 'failed';

export interface PodInfo {
  network: string;
  name: string;
  id: string;
  number: number;
  mount: string | null;
  mounted: boolean;
  data: string;
  listen: string | null;
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
  conflict: string;
  members: MemberStatus[];
  sync: { fetched: number; fetchedBytes: number; sentBytes: number; backlog: number; log: number } | null;
  role: string;
  zone: string;
  health: HealthReport | null;
}

interface Identity {
  id: string;
  prefix: number;
}

/** What a new pod is given: its id and number, and (when it joined) the members its inviter knew. */
export interface Seed extends Identity {
  members?: Member[];
}

/** The pod's id and number: given when it joined a network, else made up the first time. */
function identity(db: Db, seed?: Seed): Identity {
  const id = getMeta(db, 'pod_id');
  const prefix = getMeta(db, 'pod_prefix');
  if (typeof id === 'string' && (typeof prefix === 'bigint' || typeof prefix === 'number')) {
    return { id, prefix: Number(prefix) };
  }
  const fresh = seed ?? { id: randomBytes(8).toString('hex'), prefix: randomInt(1, MAX_PREFIX) };
  setMeta(db, 'pod_id', fresh.id);
  setMeta(db, 'pod_prefix', fresh.prefix);
  if (seed?.members) setMeta(db, 'bootstrap_members', JSON.stringify(seed.members));
  return { id: fresh.id, prefix: fresh.prefix };
}

function bootstrapMembers(db: Db): Member[] {
  const raw = getMeta(db, 'bootstrap_members');
  if (typeof raw !== 'string') return [];
  try {
    return JSON.parse(raw) as Member[];
  } catch {
    return [];
  }
}

export class Pod {
  state: PodState = 'stopped';
  error: string | null = null;
  private db: Db | undefined;
  private checkpointer: Checkpointer | undefined;
  private compactTimer: NodeJS.Timeout | undefined;
  private chunks: ChunkStore | undefined;
  private meta: MetaStore | undefined;
  private tree: Tree | undefined;
  private fs: FileSystem | undefined;
  private mount: PodMount | undefined;
  private net: PodNetwork | undefined;
  private ident: StoredIdentity | undefined;
  private id = '';
  private number = 0;
  readonly log: Logger;

  constructor(
    public config: PodConfig,
    log: Logger,
    /** For a pod that joined a network: the id and number the network gave it. */
    private readonly seed?: Seed,
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
      this.log.info({ mount: this.config.mount, listen: this.net?.address }, 'pod started');
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
    const ident = identity(db, this.seed);
    this.id = ident.id;
    this.number = ident.prefix;
    const committer = new Committer(db, this.config.metadata.commit_interval);
    const meta = new MetaStore(db, () => committer.open());
    this.meta = meta;
    const tree = new Tree({ meta, ids: new IdAllocator(db, ident.prefix), pod: ident.prefix, committer });
    this.tree = tree;
    tree.podName = (n) => members(meta).find((m) => m.number === n)?.name ?? `pod${n}`;
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
    tree.onChanged = (changes, remote) => {
      if (remote) fsys.core.remoteChanged(changes);
      this.net?.changed(changes);
    };
    fsys.core.onRemote = (changes) => this.mount?.invalidate(changes);
    fsys.start();
    this.fs = fsys;
    this.ident = loadIdentity(data);
    if (this.ident) {
      if (!this.config.listen)
        throw new UsageError(`pod ${this.config.name} has a network identity but no listen address`);
      this.net = new PodNetwork({
        identity: this.ident,
        listen: parseAddress(this.config.listen),
        db,
        meta,
        tree,
        chunks,
        fs: fsys,
        committer,
        log: this.log,
        config: this.config,
        number: this.number,
        horizonMs: this.config.network_horizon,
        bootstrap: bootstrapMembers(db),
      });
      await this.net.start();
    }
    if (this.config.mount) {
      const m = new PodMount(fsys, {
        mountpoint: this.config.mount,
        source: `wormhole:${this.config.network}`,
        entryTimeout: this.config.fuse.entry_timeout / 1000,
        attrTimeout: this.config.fuse.attr_timeout / 1000,
        pollWindowMs: this.config.fuse.poll_window,
        access: () => this.net?.health().access ?? 'read-write',
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

  /** First pod of a new network: records itself as a member, and the network's settings. */
  bootstrap(settings: { conflict: string }): void {
    const tree = this.requireTree();
    if (!this.ident) throw new Error('no network identity');
    setMember(tree, {
      number: this.number,
      id: this.id,
      name: this.config.name,
      address: this.advertised(),
      fingerprint: fingerprint(this.ident.cert),
      joined: Date.now(),
    });
    setConfig(tree, 'conflict', settings.conflict);
    tree.commitNow();
  }

  private advertised(): string | null {
    return this.config.advertise ?? this.config.listen ?? null;
  }

  private requireTree(): Tree {
    if (!this.tree || this.state !== 'running') throw new UsageError(`pod ${this.config.name} is not running`);
    return this.tree;
  }

  /** A one-time invite token to this network, through this pod. */
  invite(validMs: number): { token: string; expires: number } {
    if (!this.db || !this.ident || this.state !== 'running')
      throw new UsageError(`network ${this.network} is not running`);
    const address = this.advertised();
    if (!address) throw new UsageError(`pod ${this.config.name} accepts no connections (no listen address)`);
    const expires = Date.now() + validMs;
    const secret = createInvite(this.db, expires);
    const token = encodeInvite({
      network: this.network,
      address,
      caFingerprint: fingerprint(this.ident.ca),
      secret,
      expiresAt: expires,
    });
    return { token, expires };
  }

  members(): MemberStatus[] {
    return this.net?.status() ?? [];
  }

  /** Takes a changed config (role, zone, capacity, affinity) without a restart. */
  reconfigure(config: PodConfig): void {
    this.config = config;
    this.chunks?.cache.resize(config.cache.ram);
    this.net?.reconfigure(config);
  }

  private member(which: string): Member {
    const tree = this.requireTree();
    const m = members(tree.meta)
      .filter((x) => !x.removed)
      .find((x) => x.name === which || x.id === which);
    if (!m) throw new UsageError(`no member named ${which} in network ${this.network}`);
    return m;
  }

  private requireNet(): PodNetwork {
    if (!this.net || this.state !== 'running') throw new UsageError(`pod ${this.config.name} is not in a network`);
    return this.net;
  }

  /**
   * Removes (revokes) a member: every pod refuses it from then on. Refused,
   * unless forced, when the pod holds the last copy of some chunk or its
   * going would leave chunks below their redundancy.
   */
  remove(which: string, force = false): Member & { lost: number; lostBytes: number; below: number } {
    const tree = this.requireTree();
    const m = this.member(which);
    if (m.id === this.id) throw new UsageError('a pod cannot remove itself; remove it from another pod');
    const impact = this.requireNet().replicator.impactOfRemoving(m.number);
    if (!force && (impact.lose.length > 0 || impact.below > 0)) {
      const files = new Set<string>();
      for (const need of impact.lose.slice(0, 50)) {
        for (const ino of tree.meta.inodesUsing(need.hash)) {
          files.add(pathOf(tree.meta, ino));
          if (files.size >= 5) break;
        }
        if (files.size >= 5) break;
      }
      const parts: string[] = [];
      if (impact.lose.length)
        parts.push(
          `${impact.lose.length} chunks (${formatBytes(impact.loseBytes)}) have no copy anywhere else and would be lost, in ${[...files].join(', ')}${files.size >= 5 ? ', …' : ''}`,
        );
      if (impact.below) parts.push(`${impact.below} chunks would fall below their redundancy`);
      throw new UsageError(
        `removing ${m.name} now would break redundancy: ${parts.join('; ')}. Drain it first (wormhole pod drain ${m.name}), or remove it anyway with --force`,
      );
    }
    setMember(tree, { ...m, removed: true });
    tree.commitNow();
    this.net?.replicator.tick();
    return { ...m, removed: true, lost: impact.lose.length, lostBytes: impact.loseBytes, below: impact.below };
  }

  /** Starts (or cancels) draining a member: its chunks move to the other pods. */
  drain(which: string, on: boolean): Member {
    const tree = this.requireTree();
    const m = this.member(which);
    setDraining(tree, m.number, on);
    tree.commitNow();
    this.net?.replicator.tick();
    return m;
  }

  setConfig(key: string, value: string): Record<string, string> {
    const tree = this.requireTree();
    setConfig(tree, key, normalizeSetting(key, value));
    tree.commitNow();
    this.net?.replicator.tick();
    return this.settings();
  }

  settings(): Record<string, string> {
    const tree = this.requireTree();
    return describeSettings((k) => getConfig(tree.meta, k));
  }

  /** A path inside the mount, as an inode. */
  private inodeAt(rel: string): bigint {
    const tree = this.requireTree();
    const ino = resolvePath(tree.meta, rel);
    if (ino === undefined) throw new UsageError(`no such file in ${this.network}: /${rel.replace(/^\/+/, '')}`);
    return ino;
  }

  /** Settings of a folder or file (`wormhole config`), as set on it and as they apply. */
  folderConfig(rel: string): { path: string; set: FolderSettings; redundancy: number } {
    const tree = this.requireTree();
    const ino = this.inodeAt(rel);
    const all = folderSettings(tree.meta);
    const overrides = new Map([...all].flatMap(([i, f]) => (f.redundancy ? [[i, f.redundancy] as const] : [])));
    const r = nearest(ino, (i) => tree.meta.liveEntry(i)?.parent, overrides);
    return {
      path: pathOf(tree.meta, ino),
      set: all.get(ino) ?? {},
      redundancy: r ?? Number(this.settings().redundancy),
    };
  }

  setFolderConfig(rel: string, key: string, value: string): { path: string; set: FolderSettings; redundancy: number } {
    const tree = this.requireTree();
    const ino = this.inodeAt(rel);
    if (key !== 'redundancy') throw new UsageError(`unknown folder setting ${JSON.stringify(key)} (known: redundancy)`);
    const cur = folderSettings(tree.meta).get(ino) ?? {};
    const next: FolderSettings = { ...cur };
    if (value === 'inherit' || value === '') delete next.redundancy;
    else next.redundancy = parseRedundancy(value);
    setFolderSettings(tree, ino, next);
    tree.commitNow();
    this.net?.replicator.tick();
    return this.folderConfig(rel);
  }

  /** For each range of a file's chunks: the pods that hold it and the pods that should. */
  where(rel: string): WhereReport {
    const tree = this.requireTree();
    const net = this.requireNet();
    const ino = this.inodeAt(rel);
    const inode = tree.meta.getInode(ino);
    if (!inode) throw new UsageError(`no such file: ${rel}`);
    const names = new Map(net.status().map((m) => [m.number, m.name]));
    const name = (n: number) => names.get(n) ?? `pod${n}`;
    const r = this.folderConfig(rel).redundancy;
    const ranges: WhereReport['ranges'] = [];
    for (const e of inode.content !== null ? tree.meta.extents(inode.content) : []) {
      if (!e.hash) continue;
      const holders = net.replicator.holdersOf(e.hash).map(name).sort();
      const targets = net.replicator.targetsOf(e.hash, r).map((p) => p.name);
      const last = ranges[ranges.length - 1];
      if (
        last &&
        last.end === e.offset &&
        last.holders.join() === holders.join() &&
        last.targets.join() === targets.join()
      ) {
        last.end += e.length;
        last.chunks++;
      } else ranges.push({ start: e.offset, end: e.offset + e.length, chunks: 1, holders, targets });
    }
    return { path: pathOf(tree.meta, ino), size: inode.size, redundancy: r, ranges };
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
      await this.net?.stop();
    } catch (err) {
      this.log.warn({ err }, 'network stop failed');
    }
    this.net = undefined;
    try {
      await this.fs?.stop();
    } catch (err) {
      this.log.warn({ err }, 'closing open files failed');
    }
    this.fs = undefined;
    await this.chunks?.stop();
    this.chunks = undefined;
    this.meta = undefined;
    this.tree = undefined;
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
      number: this.number,
      mount: this.config.mount ?? null,
      mounted: this.mount?.mounted ?? false,
      data: this.config.data,
      listen: this.config.listen ?? null,
      state: this.state,
      error: this.error,
      files: Math.max(0, counts.inodes - 1),
      bytes: counts.bytes,
      chunks: cs.chunks,
      chunkBytes: cs.bytes,
      cacheBytes: this.chunks?.cache.bytes ?? 0,
      cacheBudget: this.config.cache.ram,
      requests: this.mount?.requestCounts() ?? {},
      conflict: (this.meta && getConfig(this.meta, 'conflict')) ?? 'copy',
      members: this.members(),
      sync: this.net?.stats() ?? null,
      role: this.config.role,
      zone: this.config.zone,
      health: this.net?.health() ?? null,
    };
  }
}
