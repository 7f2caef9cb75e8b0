/**
 * Keeps the tree the same on every pod. New operations go to every
 * connected pod as soon as they are committed here; on (re)connection each
 * side pulls what it lacks by version vector, in pages; every pod reports
 * its version vector and floor, so that each one knows which operations
 * every pod has (stable) and can forget them.
 */
import type { Timestamp } from '../core/hlc.js';
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
}

interface PeerState {
  vv: VersionVector;
  floor: Timestamp;
  seen: number;
}

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
    this.opts.handle('tree.state', (body) => this.onState(body));
    this.opts.handle('tree.pull', (body) => this.onPull(body));
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

  private onState(body: unknown): void {
    const b = body as { pod?: unknown; vv?: unknown; floor?: unknown };
    if (typeof b?.pod !== 'number' || typeof b.floor !== 'bigint') throw new Error('tree.state: malformed');
    this.states.set(b.pod, { vv: fromWire(b.vv), floor: b.floor, seen: Date.now() });
  }

  private onPull(body: unknown): { ops: WireOp[]; more: boolean } {
    const b = body as { vv?: unknown; limit?: unknown };
    const limit = typeof b?.limit === 'number' && b.limit > 0 ? Math.min(b.limit, 10_000) : 1000;
    const ops = this.tree.opsAfter(fromWire(b?.vv));
    return { ops: ops.slice(0, limit), more: ops.length > limit };
  }

  /** Pulls from a pod everything this one lacks, page by page. */
  async pull(peer: SyncPeer, signal?: AbortSignal): Promise<number> {
    if (this.pulling.has(peer.podId)) return 0;
    this.pulling.add(peer.podId);
    let total = 0;
    try {
      for (;;) {
        const r = await peer.request<{ ops: unknown; more: unknown }>(
          'tree.pull',
          { vv: toWire(this.tree.versionVector()), limit: this.opts.pageSize ?? 1000 },
          { signal, timeoutMs: 60_000 },
        );
        if (!Array.isArray(r.ops) || !r.ops.every(isWireOp)) throw new Error('tree.pull: malformed answer');
        total += this.tree.receive(r.ops);
        if (!r.more || r.ops.length === 0) break;
      }
    } finally {
      this.pulling.delete(peer.podId);
    }
    return total;
  }

  /** Tells every connected pod this pod's version vector and floor. */
  announce(): void {
    const body = {
      pod: this.tree.pod,
      vv: toWire(this.tree.versionVector()),
      floor: this.ownFloor(),
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
