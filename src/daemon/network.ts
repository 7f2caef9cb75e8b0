/**
 * A pod's life in its network: the TLS transport, the members it keeps
 * connections to (and refuses once removed), the tree kept in sync, chunks
 * fetched from and pushed to the other pods, and admission by invite.
 */

import * as fs from 'node:fs';
import { readSettings } from '../config/network.js';
import type { PodConfig } from '../config/schema.js';
import { ROOT_INO } from '../core/ids.js';
import type { Handle, PodLink } from '../core/link.js';
import type { Logger } from '../core/log.js';
import type { FileSystem } from '../fs/filesystem.js';
import { type HostPort, type Peer, Transport } from '../net/index.js';
import { demand } from '../replication/demand.js';
import { Inventory, type PodStats } from '../replication/inventory.js';
import { type HealthReport, type PodView, Replicator } from '../replication/replicator.js';
import type { ChunkStore } from '../store/chunks.js';
import type { Committer } from '../store/committer.js';
import type { Db } from '../store/db.js';
import type { MetaStore } from '../store/meta.js';
import { ChunkFetcher } from '../transfer/fetch.js';
import type { Changes } from '../tree/names.js';
import { decodeOp, type WireOp } from '../tree/ops.js';
import { TreeSync } from '../tree/sync.js';
import type { Tree } from '../tree/tree.js';
import type { StoredIdentity } from './identity.js';
import { admit, JoinRefused } from './invites.js';
import {
  drainingPods,
  folderSettings,
  getConfig,
  knownMembers,
  type Member,
  members,
  type Placement,
  placements,
  setPlacement,
} from './members.js';

export interface PodNetworkOptions {
  identity: StoredIdentity;
  listen: HostPort;
  db: Db;
  meta: MetaStore;
  tree: Tree;
  chunks: ChunkStore;
  fs: FileSystem;
  committer: Committer;
  log: Logger;
  config: PodConfig;
  /** This pod's number in the network (the prefix of its ids). */
  number: number;
  horizonMs?: number;
  /** Members known before the replicated records arrive (from the join). */
  bootstrap?: Member[];
}

export interface MemberStatus extends Member {
  self: boolean;
  state: 'self' | 'connected' | 'connecting' | 'unreachable' | 'removed';
  since: number | null;
  rtt: number | null;
}

export class PodNetwork {
  readonly transport: Transport;
  private readonly sync: TreeSync;
  private readonly fetcher: ChunkFetcher;
  readonly inventory: Inventory;
  readonly replicator: Replicator;
  /** What this pod publishes of itself for placement. */
  placement: Placement;
  private readonly messageHandlers = new Map<string, (body: unknown, peer: PodLink) => unknown>();
  private timers: NodeJS.Timeout[] = [];
  private readonly log: Logger;

  constructor(private o: PodNetworkOptions) {
    this.log = o.log;
    this.transport = new Transport({
      identity: o.identity,
      listen: o.listen,
      log: this.log,
      isRevoked: (podId, fp) => this.refused(podId, fp),
      onJoin: (body) => this.join(body),
    });
    const handle: Handle = (type, fn) => {
      this.transport.handle(type, (body, peer) => fn(body, peer));
      this.messageHandlers.set(type, fn);
    };
    const peers = () => this.peers();
    this.sync = new TreeSync({
      tree: o.tree,
      log: this.log,
      peers,
      members: () =>
        members(o.meta)
          .filter((m) => !m.removed)
          .map((m) => m.number),
      handle,
      afterCommit: (fn) => {
        const prev = o.committer.onCommit;
        o.committer.onCommit = () => {
          prev();
          fn();
        };
      },
      attach: (ops) => this.smallChunks(ops),
      accept: (chunks) => {
        for (const c of chunks) void o.chunks.keep(c.hash, c.data);
      },
      horizonMs: o.horizonMs,
      // The root is never looked up, so never pinned: the kernel knows it all the same.
      watched: () => [ROOT_INO, ...[...o.fs.core.pins.keys()].filter((i) => i !== ROOT_INO)],
    });
    this.fetcher = new ChunkFetcher({
      peers,
      handle,
      log: this.log,
      local: (h) => o.chunks.getLocal(h),
      holders: (h) => {
        const ids = new Map(this.known().map((m) => [m.number, m.id]));
        return this.inventory.holders(h).flatMap((n) => ids.get(n) ?? []);
      },
    });
    this.placement = placementOf(o.config);
    this.inventory = new Inventory(
      (after, limit) => o.chunks.listAfter(after, limit),
      () => this.selfStats(),
    );
    this.replicator = new Replicator({
      self: o.number,
      pods: () => this.podViews(),
      settings: () => readSettings((k) => getConfig(o.meta, k)),
      needs: () => this.needs(),
      inventory: this.inventory,
      chunks: o.chunks,
      link: (id) => this.peers().find((p) => p.podId === id),
      handle,
      fetch: (h) => this.fetcher.fetch(h),
      selfStats: () => this.selfStats(),
      cacheDisk: () => o.config.cache.disk ?? (o.config.role === 'cache' ? 10 * 2 ** 30 : 0),
      log: this.log,
    });
  }

  /** This pod's number in its network. */
  get number(): number {
    return this.o.number;
  }

  private selfStats(): PodStats {
    const st = this.o.chunks.stats();
    let diskFree = Number.POSITIVE_INFINITY;
    try {
      const f = fs.statfsSync(this.o.config.data);
      diskFree = f.bavail * f.bsize;
    } catch {
      // the data directory is checked elsewhere; without statfs only the capacity limits
    }
    const capacity = this.placement.capacity ?? 0;
    return {
      used: st.bytes,
      chunks: st.chunks,
      capacity,
      free: Math.max(0, Math.min(capacity - st.bytes, diskFree)),
    };
  }

  private podViews(): PodView[] {
    const place = placements(this.o.meta);
    const draining = drainingPods(this.o.meta);
    const peers = new Map(this.transport.peers().map((p) => [p.podId, p]));
    return this.known()
      .filter((m) => !m.removed)
      .map((m) => {
        const self = m.id === this.o.identity.podId;
        const p = self ? this.placement : place.get(m.number);
        return {
          number: m.number,
          id: m.id,
          name: m.name,
          role: p?.role ?? 'storage',
          zone: p?.zone ?? 'default',
          affinity: p?.affinity ?? 1,
          capacity: p?.capacity ?? 2 ** 40,
          draining: draining.has(m.number),
          self,
          connected: self || peers.get(m.id)?.state === 'connected',
        };
      });
  }

  /** The chunks the tree uses, with the redundancy each needs. */
  private needs() {
    const { meta } = this.o;
    const settings = readSettings((k) => getConfig(meta, k));
    const overrides = new Map<bigint, number>();
    for (const [ino, f] of folderSettings(meta)) if (f.redundancy) overrides.set(ino, f.redundancy);
    let backupRoots: Set<bigint> | undefined;
    if (this.o.config.role === 'backup' && this.o.config.backup_paths) {
      backupRoots = new Set();
      for (const p of this.o.config.backup_paths) {
        const ino = resolvePath(meta, p);
        if (ino !== undefined) backupRoots.add(ino);
      }
    }
    return demand(
      {
        usedChunks: () => meta.usedChunks(),
        chunkUses: () => meta.chunkUses(),
        parentOf: (ino) => meta.liveEntry(ino)?.parent,
      },
      { redundancy: settings.redundancy, overrides, backupRoots },
    );
  }

  health(): HealthReport {
    return this.replicator.report;
  }

  private peers(): Peer[] {
    const out: Peer[] = [];
    for (const s of this.transport.peers()) {
      if (s.state !== 'connected') continue;
      const p = this.transport.peer(s.podId);
      if (p) out.push(p);
    }
    return out;
  }

  private known(): Member[] {
    return knownMembers(this.o.meta, this.o.bootstrap ?? []);
  }

  private refused(podId: string, fingerprint: string): boolean {
    const m = this.known().find((x) => x.id === podId);
    return !m || !!m.removed || m.fingerprint !== fingerprint;
  }

  private async join(body: unknown): Promise<unknown> {
    try {
      return await admit({ db: this.o.db, meta: this.o.meta, tree: this.o.tree, identity: this.o.identity }, body);
    } catch (err) {
      if (err instanceof JoinRefused) this.log.warn({ reason: err.message }, 'join refused');
      throw err;
    }
  }

  /** The small chunks of new content in `ops` that this pod has at hand: they travel with the operations. */
  private smallChunks(ops: WireOp[]): Array<{ hash: Buffer; data: Buffer }> {
    const out: Array<{ hash: Buffer; data: Buffer }> = [];
    for (const w of ops) {
      const op = decodeOp(w.body);
      if (op.kind !== 'content') continue;
      for (const e of op.extents) {
        if (!e.hash || e.length > this.o.chunks.inlineMax) continue;
        const data = this.o.chunks.peek(e.hash);
        if (data) out.push({ hash: e.hash, data });
      }
    }
    return out;
  }

  async start(): Promise<void> {
    const { o } = this;
    this.transport.on('message', (type: string, body: unknown, peer: Peer) => {
      const fn = this.messageHandlers.get(type);
      if (!fn) return;
      try {
        const r = fn(body, peer);
        if (r instanceof Promise)
          r.catch((err) => this.log.warn({ err, type, peer: peer.podId }, 'message handling failed'));
      } catch (err) {
        this.log.warn({ err, type, peer: peer.podId }, 'message handling failed');
      }
    });
    this.transport.on('peer-up', (peer: Peer) => {
      this.sync.pull(peer).catch((err) => this.log.debug({ err, peer: peer.podId }, 'pull failed'));
      this.sync.announce();
    });
    this.sync.start();
    this.fetcher.start();
    this.replicator.start();
    o.chunks.remote = (h) => this.fetcher.fetch(h);
    o.chunks.onChange = (h, present) => this.inventory.note(h, present);
    o.chunks.keepFetched = o.config.role === 'cache' || o.config.role === 'backup';
    o.fs.core.stable = () => this.sync.collectBound();
    o.fs.core.trimBound = () => this.sync.stable();
    o.fs.core.onCommitted = (hashes) => {
      this.replicator.placeNew(hashes);
      this.fetcher.announce(hashes);
    };
    await this.transport.start();
    this.publishPlacement();
    this.reconcile();
    this.timers.push(
      setInterval(() => {
        this.sync.announce();
        this.reconcile();
      }, 2000),
      setInterval(() => {
        try {
          o.fs.collect();
        } catch (err) {
          this.log.warn({ err }, 'collection failed');
        }
      }, 10_000),
    );
    for (const t of this.timers) t.unref();
  }

  /** The pod's config changed (`wormhole pod set`): publish its new part in placement. */
  reconfigure(config: PodConfig): void {
    this.o.config = config;
    this.placement = placementOf(config);
    this.o.chunks.keepFetched = config.role === 'cache' || config.role === 'backup';
    this.publishPlacement();
    this.replicator.tick();
  }

  /** Publishes this pod's role, zone, capacity and affinity, if they changed. */
  publishPlacement(): void {
    const current = placements(this.o.meta).get(this.number);
    if (current && JSON.stringify(current) === JSON.stringify(this.placement)) return;
    setPlacement(this.o.tree, this.number, this.placement);
    this.o.tree.commitNow();
  }

  /** Remote changes may add or remove members: connect and refuse accordingly. */
  changed(changes: Changes): void {
    if (changes.net) this.reconcile();
  }

  /** Keeps a connection to every member, none to removed ones. */
  reconcile(): void {
    for (const m of this.known()) {
      if (m.id === this.o.identity.podId) continue;
      if (m.removed) this.transport.disconnect(m.id, 'revoked');
      else if (m.address) this.transport.connect(m.id, m.address);
    }
    this.transport.enforceRevocations();
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.replicator.stop();
    this.o.chunks.remote = undefined;
    this.o.chunks.onChange = undefined;
    await this.transport.stop();
  }

  get address(): HostPort | undefined {
    return this.transport.address;
  }

  status(): MemberStatus[] {
    const peers = new Map(this.transport.peers().map((p) => [p.podId, p]));
    return this.known().map((m) => {
      const self = m.id === this.o.identity.podId;
      const p = peers.get(m.id);
      const state = self
        ? 'self'
        : m.removed
          ? 'removed'
          : p?.state === 'connected'
            ? 'connected'
            : p?.state === 'connecting' && !p.since
              ? 'connecting'
              : 'unreachable';
      return { ...m, self, state, since: self ? null : (p?.since ?? null), rtt: p?.rtt ?? null };
    });
  }

  stats(): { fetched: number; fetchedBytes: number; sentBytes: number; backlog: number; log: number } {
    return {
      fetched: this.fetcher.fetched,
      fetchedBytes: this.fetcher.fetchedBytes,
      sentBytes: this.replicator.sentBytes,
      backlog: this.replicator.backlog,
      log: this.o.tree.logSize(),
    };
  }
}

/** What a pod's config says of its part in placement; capacity defaults to the size of its data disk. */
export function placementOf(c: PodConfig): Placement {
  let capacity = c.capacity ?? null;
  if (capacity === null) {
    try {
      const f = fs.statfsSync(c.data);
      capacity = f.blocks * f.bsize;
    } catch {
      capacity = 2 ** 40;
    }
  }
  return {
    role: c.role,
    zone: c.zone,
    capacity,
    affinity: c.affinity,
    backupPaths: c.backup_paths ?? null,
  };
}

/** The inode at a path from the network root ("a/b", "/a/b"), if there is one. */
export function resolvePath(meta: MetaStore, p: string): bigint | undefined {
  let ino: bigint = ROOT_INO;
  for (const part of p.split('/').filter((x) => x && x !== '.')) {
    const e = meta.lookup(ino, Buffer.from(part));
    if (!e) return undefined;
    ino = e.ino;
  }
  return ino;
}

/** An inode's path from the network root, by its first live name. */
export function pathOf(meta: MetaStore, ino: bigint): string {
  const parts: string[] = [];
  let cur = ino;
  while (cur !== ROOT_INO && parts.length < 1000) {
    const e = meta.liveEntry(cur);
    if (!e) return parts.length ? `(deleted)/${parts.reverse().join('/')}` : '(deleted)';
    parts.push(e.name.toString());
    cur = e.parent;
  }
  return `/${parts.reverse().join('/')}`;
}
