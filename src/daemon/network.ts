/**
 * A pod's life in its network: the TLS transport, the members it keeps
 * connections to (and refuses once removed), the tree kept in sync, chunks
 * fetched from and pushed to the other pods, and admission by invite.
 */

import { ROOT_INO } from '../core/ids.js';
import type { Handle, PodLink } from '../core/link.js';
import type { Logger } from '../core/log.js';
import type { FileSystem } from '../fs/filesystem.js';
import { type HostPort, type Peer, Transport } from '../net/index.js';
import { ChunkPusher } from '../replication/push.js';
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
import { knownMembers, type Member, members } from './members.js';

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
  private readonly pusher: ChunkPusher;
  private readonly messageHandlers = new Map<string, (body: unknown, peer: PodLink) => unknown>();
  private timers: NodeJS.Timeout[] = [];
  private readonly log: Logger;

  constructor(private readonly o: PodNetworkOptions) {
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
    this.fetcher = new ChunkFetcher({ peers, handle, log: this.log, local: (h) => o.chunks.getLocal(h) });
    this.pusher = new ChunkPusher({
      peers,
      handle,
      log: this.log,
      local: (h) => o.chunks.getLocal(h),
      store: (h, d) => o.chunks.keep(h, d),
    });
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
    this.pusher.start();
    o.chunks.remote = (h) => this.fetcher.fetch(h);
    o.fs.core.stable = () => this.sync.collectBound();
    o.fs.core.trimBound = () => this.sync.stable();
    o.fs.core.onCommitted = (hashes) => {
      this.pusher.push(hashes);
      this.fetcher.announce(hashes);
    };
    await this.transport.start();
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
    this.o.chunks.remote = undefined;
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

  stats(): { fetched: number; fetchedBytes: number; pushed: number; pushBacklog: number; log: number } {
    return {
      fetched: this.fetcher.fetched,
      fetchedBytes: this.fetcher.fetchedBytes,
      pushed: this.pusher.pushed,
      pushBacklog: this.pusher.backlog,
      log: this.o.tree.logSize(),
    };
  }
}
