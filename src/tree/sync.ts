/**
 * Keeps the tree the same on every pod. New operations go to every
 * connected pod as soon as they are committed here; on (re)connection each
 * side pulls what it lacks by version vector, in pages; every pod reports
 * its version vector and floor, so that each one knows which operations
 * every pod has (stable) and can forget them.
 */
import { randomUUID } from 'node:crypto';
import type { Timestamp } from '../core/hlc.js';
import type { Id } from '../core/ids.js';
import type { Handle, PodLink } from '../core/link.js';
import type { Logger } from '../core/log.js';
import type { WireOp } from './ops.js';
import type { Tree, VersionVector } from './tree.js';

export type SyncPeer = PodLink;

export interface SyncOptions {
  tree: Tree;
  log: Logger;
  /** The pods connected now. */
  peers: () => SyncPeer[];
  /** Pod numbers of every member of the network (removed ones excluded), this one included. */
  members: () => number[];
  /** Register a request handler / a one-way message handler with the transport. */
  handle: Handle;
  /** Small chunks to send along with operations (the new content of small files), so they read at once. */
  attach?: (ops: WireOp[]) => Array<{ hash: Buffer; data: Buffer }>;
  /** Stores chunks that came along with operations, before those apply. */
  accept?: (chunks: Array<{ hash: Buffer; data: Buffer }>) => void;
  /** Registers `fn` to run after each local commit (ops may only leave once committed). */
  afterCommit: (fn: () => void) => void;
  /** Members silent for longer than this stop holding back the forgetting of old operations. */
  horizonMs?: number;
  pageSize?: number;
  /** Directories the kernel knows (their names are reported changed when a snapshot replaces the tree). */
  watched?: () => Id[];
}

interface PeerState {
  vv: VersionVector;
  floor: Timestamp;
  seen: number;
  /** Its recent reports: the stable point it had computed, and its own last sequence number then. */
  reports: Array<{ stable: Timestamp; seq: bigint }>;
}

const REPORTS_KEPT = 64;
const SNAPSHOT_PAGE = 4 << 20;
const SNAPSHOT_KEPT_MS = 60_000;
const SNAPSHOTS_SERVED = 4;
/** Buffer.concat cannot go past 2 GiB; a tree of millions of files stays well below. */
const SNAPSHOT_MAX = 1 << 30;

type WireVector = Array<[number, bigint]>;

function toWire(vv: VersionVector): WireVector {
  return [...vv.entries()];
}

function fromWire(w: unknown): VersionVector {
  const vv: VersionVector = new Map();
  if (Array.isArray(w)) for (const [pod, seq] of w as WireVector) vv.set(Number(pod), BigInt(seq));
  return vv;
}

function isWireOp(x: unknown): x is WireOp {
  const o = x as WireOp;
  return (
    !!o &&
    typeof o.hlc === 'bigint' &&
    typeof o.seq === 'bigint' &&
    typeof o.pod === 'number' &&
    Buffer.isBuffer(o.body)
  );
}

export class TreeSync {
  private readonly tree: Tree;
  private readonly log: Logger;
  private pending: WireOp[] = [];
  /** What each member last said about itself, by pod number. */
  private readonly states = new Map<number, PeerState>();
  private readonly pulling = new Set<string>();
  private readonly ownReports: Array<{ stable: Timestamp; seq: bigint }> = [];
  /** Snapshots being served, by id. */
  private readonly served = new Map<string, { id: string; data: Buffer; timer: NodeJS.Timeout | undefined }>();

  constructor(private readonly opts: SyncOptions) {
    this.tree = opts.tree;
    this.log = opts.log;
  }

  start(): void {
    const { tree } = this;
    tree.onLocal = (ops) => {
      this.pending.push(...ops);
    };
    this.opts.afterCommit(() => this.flush());
    this.opts.handle('tree.ops', (body) => this.onOps(body));
    this.opts.handle('tree.state', (body, peer) => this.onState(body, peer));
    this.opts.handle('tree.pull', (body) => this.onPull(body));
    this.opts.handle('tree.snapshot', (body) => this.onSnapshot(body));
  }

  /** Sends the operations committed since the last call to every connected pod. */
  private flush(): void {
    if (this.pending.length === 0) return;
    const ops = this.pending;
    this.pending = [];
    const chunks = this.opts.attach?.(ops) ?? [];
    for (const p of this.opts.peers()) {
      p.send('tree.ops', { ops, chunks }).catch((err) =>
        this.log.debug({ err, peer: p.podId }, 'push of operations failed'),
      );
    }
  }

  private onOps(body: unknown): void {
    const b = body as { ops?: unknown; chunks?: unknown };
    const ops = b?.ops;
    if (!Array.isArray(ops) || !ops.every(isWireOp)) throw new Error('tree.ops: malformed operations');
    const chunks = Array.isArray(b.chunks)
      ? (b.chunks as Array<{ hash: unknown; data: unknown }>).filter(
          (c): c is { hash: Buffer; data: Buffer } => Buffer.isBuffer(c?.hash) && Buffer.isBuffer(c?.data),
        )
      : [];
    if (chunks.length) this.opts.accept?.(chunks);
    this.tree.receive(ops);
  }

  private onState(body: unknown, peer?: SyncPeer): void {
    const b = body as { pod?: unknown; vv?: unknown; floor?: unknown; stable?: unknown; seq?: unknown };
    if (typeof b?.pod !== 'number' || typeof b.floor !== 'bigint') throw new Error('tree.state: malformed');
    const prev = this.states.get(b.pod);
    const reports = prev?.reports ?? [];
    if (typeof b.stable === 'bigint' && typeof b.seq === 'bigint') {
      reports.push({ stable: b.stable, seq: b.seq });
      if (reports.length > REPORTS_KEPT) reports.shift();
    }
    const vv = fromWire(b.vv);
    this.states.set(b.pod, { vv, floor: b.floor, seen: Date.now(), reports });
    // Anti-entropy: a push lost on the way (a link that dropped mid-send) shows
    // here as a peer knowing more than this pod; pull it now rather than at the
    // next reconnection.
    if (peer && this.behind(vv)) {
      this.pull(peer).catch((err) => this.log.debug({ err, peer: peer.podId }, 'pull failed'));
    }
  }

  /** Whether `vv` has operations this pod lacks. */
  private behind(vv: VersionVector): boolean {
    const mine = this.tree.versionVector();
    for (const [pod, seq] of vv) if (pod !== this.tree.pod && seq > (mine.get(pod) ?? 0n)) return true;
    return false;
  }

  private onPull(body: unknown): { ops: WireOp[]; more: boolean; snapshot?: boolean } {
    const b = body as { vv?: unknown; limit?: unknown };
    const limit = typeof b?.limit === 'number' && b.limit > 0 ? Math.min(b.limit, 10_000) : 1000;
    const vv = fromWire(b?.vv);
    // Some of what it lacks has left this pod's log: it must start from a snapshot.
    if (this.tree.needsSnapshot(vv)) return { ops: [], more: false, snapshot: true };
    const ops = this.tree.opsAfter(vv, limit);
    return { ops: ops.slice(0, limit), more: ops.length > limit };
  }

  /** Serves a snapshot in pages: the first request makes it, the next ones name it and an offset. */
  private onSnapshot(body: unknown): { id: string; total: number; data: Buffer } {
    const b = body as { id?: unknown; offset?: unknown };
    const offset = typeof b?.offset === 'number' && b.offset >= 0 ? b.offset : 0;
    let s = typeof b?.id === 'string' ? this.served.get(b.id) : undefined;
    if (!s) {
      if (offset !== 0) throw new Error('tree.snapshot: this snapshot expired; start again');
      // A few at a time: each is the whole tree in memory.
      for (const old of [...this.served.values()].slice(0, Math.max(0, this.served.size - SNAPSHOTS_SERVED + 1))) {
        clearTimeout(old.timer);
        this.served.delete(old.id);
      }
      const id = randomUUID();
      s = { id, data: this.tree.snapshot(), timer: undefined };
      this.served.set(id, s);
    }
    const served = s;
    clearTimeout(served.timer);
    served.timer = setTimeout(() => this.served.delete(served.id), SNAPSHOT_KEPT_MS);
    served.timer.unref();
    const data = served.data.subarray(offset, offset + SNAPSHOT_PAGE);
    if (offset + data.length >= served.data.length) {
      clearTimeout(served.timer);
      this.served.delete(served.id);
    }
    return { id: served.id, total: served.data.length, data };
  }

  /** Fetches a snapshot from `peer` and installs it in place of this pod's tree. */
  private async fetchSnapshot(peer: SyncPeer, signal?: AbortSignal): Promise<void> {
    const parts: Buffer[] = [];
    let id: string | undefined;
    let got = 0;
    let total = 0;
    do {
      const r = await peer.request<{ id: unknown; total: unknown; data: unknown }>(
        'tree.snapshot',
        { id, offset: got },
        { signal, timeoutMs: 120_000 },
      );
      if (typeof r.id !== 'string' || typeof r.total !== 'number' || !Buffer.isBuffer(r.data) || r.data.length === 0)
        throw new Error('tree.snapshot: malformed answer');
      if (r.total > SNAPSHOT_MAX) throw new Error(`tree.snapshot: ${r.total} bytes is more than a snapshot may be`);
      id = r.id;
      total = r.total;
      parts.push(r.data);
      got += r.data.length;
    } while (got < total);
    const { changes, replayed } = this.tree.installSnapshot(Buffer.concat(parts), this.opts.watched?.() ?? []);
    this.log.info(
      { peer: peer.podId, bytes: total, names: changes.entries.length, replayed },
      'installed a snapshot of the tree: this pod was new, or away past the horizon',
    );
  }

  /** Pulls from a pod everything this one lacks, page by page. */
  async pull(peer: SyncPeer, signal?: AbortSignal): Promise<number> {
    if (this.pulling.has(peer.podId)) return 0;
    this.pulling.add(peer.podId);
    let total = 0;
    let snapshots = 0;
    try {
      for (;;) {
        const r = await peer.request<{ ops: unknown; more: unknown; snapshot?: unknown }>(
          'tree.pull',
          { vv: toWire(this.tree.versionVector()), limit: this.opts.pageSize ?? 1000 },
          { signal, timeoutMs: 60_000 },
        );
        if (r.snapshot === true) {
          if (++snapshots > 3) throw new Error('tree.pull: the peer keeps asking for a new snapshot');
          await this.fetchSnapshot(peer, signal);
          continue;
        }
        if (!Array.isArray(r.ops) || !r.ops.every(isWireOp)) throw new Error('tree.pull: malformed answer');
        total += this.tree.receive(r.ops);
        if (!r.more || r.ops.length === 0) break;
      }
    } finally {
      this.pulling.delete(peer.podId);
    }
    return total;
  }

  /** Tells every connected pod this pod's version vector, floor, stable point and last sequence number. */
  announce(): void {
    const stable = this.stable();
    const seq = this.tree.versionVector().get(this.tree.pod) ?? 0n;
    this.ownReports.push({ stable, seq });
    if (this.ownReports.length > REPORTS_KEPT) this.ownReports.shift();
    const body = {
      pod: this.tree.pod,
      vv: toWire(this.tree.versionVector()),
      floor: this.ownFloor(),
      stable,
      seq,
    };
    for (const p of this.opts.peers()) p.send('tree.state', body).catch(() => {});
  }

  private memberStates(): Array<[number, PeerState | undefined]> {
    const horizon = this.opts.horizonMs ?? 7 * 24 * 3600_000;
    const now = Date.now();
    return this.opts
      .members()
      .filter((m) => m !== this.tree.pod)
      .map((m) => [m, this.states.get(m)] as [number, PeerState | undefined])
      .filter(([, s]) => !s || now - s.seen < horizon);
  }

  private ownFloor(): Timestamp {
    return this.tree.floor(this.memberStates().map(([, s]) => s?.vv ?? new Map()));
  }

  /** Below this, deleted things can be collected: see collectBound(). */
  collectBound(): Timestamp {
    const pods = [this.tree.pod, ...this.memberStates().map(([m]) => m)];
    const vvs = new Map<number, VersionVector>([[this.tree.pod, this.tree.versionVector()]]);
    const reports = new Map<number, Report[]>([[this.tree.pod, this.ownReports]]);
    for (const [m, st] of this.memberStates()) {
      if (!st) continue;
      vvs.set(m, st.vv);
      reports.set(m, st.reports);
    }
    return collectBound(pods, vvs, reports);
  }

  /** Below this, every member has every operation, and none will come older. */
  stable(): Timestamp {
    let stable = this.ownFloor();
    for (const [, s] of this.memberStates()) {
      const f = s ? s.floor : 0n;
      if (f < stable) stable = f;
    }
    return stable;
  }
}

export interface Report {
  stable: Timestamp;
  seq: bigint;
}

/**
 * The bound below which deletions (and replaced versions) can be collected:
 * no operation concurrent with them can still arrive. An operation of pod q
 * concurrent with an operation D was written before q received D, so
 * before any report in which q's stable point had passed D. Once everything
 * q had written up to such a report has reached every pod (its sequence
 * number is within every pod's version vector), that report's stable point
 * bounds q; the minimum over the pods bounds them all.
 */
export function collectBound(
  pods: number[],
  vvs: Map<number, VersionVector>,
  reports: Map<number, Report[]>,
): Timestamp {
  let bound: Timestamp | undefined;
  for (const q of pods) {
    let delivered: bigint | undefined;
    for (const r of pods) {
      const v = vvs.get(r)?.get(q) ?? 0n;
      if (delivered === undefined || v < delivered) delivered = v;
    }
    const rs = reports.get(q) ?? [];
    let s: Timestamp = 0n;
    for (let i = rs.length - 1; i >= 0; i--) {
      const rep = rs[i] as Report;
      if (rep.seq <= (delivered ?? 0n)) {
        s = rep.stable;
        break;
      }
    }
    if (bound === undefined || s < bound) bound = s;
  }
  return bound ?? 0n;
}
