/**
 * Keeps every chunk on its targets, and says how safe the data is.
 *
 * Every few seconds each pod looks at the chunks the tree uses, who holds
 * them (its own store and the inventories of the others) and which pods are
 * live, and from that:
 * - computes the network's health: favorable (every chunk has R live
 *   copies, or room to rebuild them), mitigated (nothing lost, but not
 *   enough pods or space for R), grave (some chunk has no live copy);
 * - queues the copies to make: for each chunk it holds and is responsible
 *   for (the best-placed live holder among its targets, else the live
 *   holder with the lowest number), one chain transfer to the targets that
 *   lack it; each receiver stores, then forwards to the next;
 * - drops the copies it holds but is not a target of, once every target is
 *   live and confirms its copy (asked again right before): never below R;
 * - for a backup pod, fetches what it lacks.
 *
 * A pod silent for less than the grace period stays a target (nothing is
 * reshuffled for a reboot); after it, it is lost and its chunks are rebuilt
 * elsewhere. A pod that reaches none of the others is isolated: it declares
 * no one lost, starts no repair, and keeps serving what it holds.
 */
import { webcrypto } from 'node:crypto';
import type { HealthState, NetworkSettings, Reaction } from '../config/network.js';
import type { Role } from '../config/schema.js';
import type { Handle, PodLink } from '../core/link.js';
import type { Logger } from '../core/log.js';
import type { Need } from './demand.js';
import type { Inventory, PodStats } from './inventory.js';
import { type Candidate, targets } from './placement.js';

/** A member as placement sees it. */
export interface PodView {
  number: number;
  id: string;
  name: string;
  role: Role;
  zone: string;
  affinity: number;
  /** Bytes it may hold (configured, else its disk's size), as it published. */
  capacity: number;
  draining: boolean;
  self: boolean;
  connected: boolean;
}

export interface LocalChunks {
  held(): Array<{ hash: Buffer; size: number; stored: number }>;
  has(hash: Buffer): boolean;
  isHeld(hash: Buffer): boolean;
  getLocal(hash: Buffer): Promise<Buffer | null>;
  keep(hash: Buffer, data: Buffer): Promise<void>;
  /** Keeps a replica, synced and committed before it returns. */
  keepDurable(hash: Buffer, data: Buffer): Promise<void>;
  /** Listed here (committed), not only staged. */
  stored(hash: Buffer): boolean;
  remove(hash: Buffer): void;
}

export interface ReplicatorOptions {
  self: number;
  pods: () => PodView[];
  settings: () => NetworkSettings;
  needs: () => Need[];
  inventory: Inventory;
  chunks: LocalChunks;
  link: (podId: string) => PodLink | undefined;
  handle: Handle;
  /** Gets a chunk from the other pods (a backup pod's copies). */
  fetch: (hash: Buffer) => Promise<Buffer>;
  selfStats: () => PodStats;
  /** Bytes of chunks this pod keeps without being their target (a cache pod's disk cache). */
  cacheDisk: () => number;
  log: Logger;
  /** Transfers in flight at once. */
  concurrency?: number;
}

export type PodState = 'self' | 'connected' | 'unreachable' | 'lost';

export interface PodHealth {
  number: number;
  name: string;
  role: Role;
  zone: string;
  state: PodState;
  draining: boolean;
  /** Since when it is silent (ms since epoch), if it is. */
  silentSince: number | null;
  used: number | null;
  capacity: number;
  free: number | null;
  /** Chunks of the tree it holds (and their bytes), as far as this pod knows; null before its first inventory. */
  chunks: number | null;
  bytes: number | null;
}

export interface HealthReport {
  state: HealthState | 'isolated';
  /** What the mount allows now (the reaction to the state). */
  access: 'read-write' | 'read-only' | 'cut';
  reactions: Reaction[];
  redundancy: number;
  graceMs: number;
  chunks: number;
  bytes: number;
  /** Chunks with fewer than R live copies on storage pods. */
  below: number;
  belowBytes: number;
  /** Of those, the ones no live pod can take (not enough pods or space). */
  unrebuildable: number;
  /** Chunks with no live copy. */
  lost: number;
  lostBytes: number;
  pods: PodHealth[];
  repair: { active: boolean; done: number; total: number; bytes: number; since: number | null; rate: number };
  /** When this was computed (ms since epoch); null before the first pass. */
  at: number | null;
}

interface Job {
  kind: 'push' | 'fetch';
  hash: Buffer;
  size: number;
  /** For a push: the chain of pods to reach, in order. */
  to: PodView[];
}

const latin = (h: Buffer) => h.toString('latin1');

export class Replicator {
  private readonly silent = new Map<number, number>();
  private readonly queue: Job[] = [];
  private readonly queued = new Set<string>();
  private active = 0;
  private passing = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  private repair = { done: 0, total: 0, bytes: 0, since: null as number | null };
  report: HealthReport;
  /** Bytes sent by repair and placement since start. */
  sentBytes = 0;
  /** Bytes of replicas being stored now. */
  private receiving = 0;

  constructor(private readonly o: ReplicatorOptions) {
    const s = o.settings();
    this.report = {
      state: 'favorable',
      access: 'read-write',
      reactions: s.reactions.favorable,
      redundancy: s.redundancy,
      graceMs: s.graceMs,
      chunks: 0,
      bytes: 0,
      below: 0,
      belowBytes: 0,
      unrebuildable: 0,
      lost: 0,
      lostBytes: 0,
      pods: [],
      repair: { active: false, done: 0, total: 0, bytes: 0, since: null, rate: 0 },
      at: null,
    };
  }

  start(intervalMs = 2000): void {
    this.o.handle('chunk.put', (body) => this.receive(body));
    this.o.handle('chunk.has', (body) => {
      const hashes = (body as { hashes?: unknown })?.hashes;
      if (!Array.isArray(hashes) || hashes.length > 100_000) throw new Error('chunk.has: malformed');
      return { has: hashes.map((h) => Buffer.isBuffer(h) && this.o.chunks.stored(h)) };
    });
    this.o.handle('chunk.inventory', (body) => this.o.inventory.serve(body));
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queued.clear();
  }

  /** Runs a pass now (and polls the inventories first): after a change of members or settings, and in tests. */
  tick(): void {
    if (this.passing) return;
    this.passing = true;
    this.poll()
      .then(() => this.pass())
      .catch((err) => this.o.log.warn({ err }, 'replication pass failed'))
      .finally(() => {
        this.passing = false;
      });
  }

  private async poll(): Promise<void> {
    await Promise.all(
      this.o.pods().flatMap((p) => {
        if (p.self || !p.connected) return [];
        const link = this.o.link(p.id);
        if (!link) return [];
        return [
          this.o.inventory
            .poll(link, p.number)
            .catch((err) => this.o.log.debug({ err, peer: p.name }, 'inventory poll failed')),
        ];
      }),
    );
  }

  /** New chunks written here: sent to their targets at once (the reconciler would, a little later). */
  placeNew(hashes: Buffer[]): void {
    const pods = this.o.pods();
    if (this.isolated(pods)) return;
    const s = this.o.settings();
    const cands = this.candidates(pods, s, Date.now());
    for (const hash of hashes) {
      const t = targets(hash, cands, s.redundancy).map((c) => c.pod);
      const to = t.filter((p) => !p.self && p.connected && !this.o.inventory.holders(hash).includes(p.number));
      if (to.length) this.enqueue({ kind: 'push', hash, size: 0, to });
    }
  }

  /** A chunk's targets now, best first. */
  targetsOf(hash: Buffer, r?: number): PodView[] {
    const s = this.o.settings();
    return targets(hash, this.candidates(this.o.pods(), s, Date.now()), r ?? s.redundancy).map((c) => c.pod);
  }

  /** The pods known to hold a chunk (this one included). */
  holdersOf(hash: Buffer): number[] {
    const out = [...this.o.inventory.holders(hash)];
    if (this.o.chunks.has(hash)) out.unshift(this.o.self);
    return out;
  }

  /** Whether this pod is one of a chunk's targets (so a copy it fetches is worth keeping). */
  isTarget(hash: Buffer): boolean {
    return this.targetsOf(hash).some((p) => p.self);
  }

  /**
   * What removing pod `n` now would cost: the chunks that would have no copy
   * left anywhere, and those that would fall below their redundancy.
   */
  impactOfRemoving(n: number): { lose: Need[]; loseBytes: number; below: number } {
    const pods = this.o.pods();
    const storage = new Set(
      pods.filter((p) => p.role === 'storage' && !p.draining && p.number !== n).map((p) => p.number),
    );
    const lose: Need[] = [];
    let loseBytes = 0;
    let below = 0;
    for (const need of this.o.needs()) {
      const holders = this.holdersOf(need.hash);
      if (!holders.includes(n)) continue;
      const after = holders.filter((x) => x !== n);
      if (after.length === 0) {
        lose.push(need);
        loseBytes += need.size;
      } else if (after.filter((x) => storage.has(x)).length < need.r) below++;
    }
    return { lose, loseBytes, below };
  }

  private isolated(pods: PodView[]): boolean {
    const others = pods.filter((p) => !p.self);
    return others.length > 0 && others.every((p) => !p.connected);
  }

  private lost(p: PodView, s: NetworkSettings, now: number): boolean {
    if (p.self || p.connected) return false;
    const since = this.silent.get(p.number) ?? now;
    return now - since >= s.graceMs;
  }

  private candidates(pods: PodView[], s: NetworkSettings, now: number): Array<Candidate & { pod: PodView }> {
    return pods
      .filter((p) => p.role === 'storage' && !p.draining && !this.lost(p, s, now))
      .map((p) => ({ id: p.id, zone: p.zone, weight: p.affinity * Math.max(1, p.capacity / 2 ** 30), pod: p }));
  }

  private statsOf(p: PodView): PodStats | null {
    return p.self ? this.o.selfStats() : this.o.inventory.statsOf(p.number);
  }

  private async pass(): Promise<void> {
    const now = Date.now();
    const pods = this.o.pods();
    const s = this.o.settings();
    const isolated = this.isolated(pods);
    for (const p of pods) {
      if (p.self || p.connected) this.silent.delete(p.number);
      // While isolated, nobody's silence counts: it is this pod that is cut off.
      else if (isolated || !this.silent.has(p.number)) this.silent.set(p.number, isolated ? now : this.started);
    }
    for (const n of this.silent.keys()) if (!pods.some((p) => p.number === n)) this.silent.delete(n);
    const cands = this.candidates(pods, s, now);
    const live = new Set(pods.filter((p) => p.self || p.connected).map((p) => p.number));
    const storage = new Set(pods.filter((p) => p.role === 'storage' && !p.draining).map((p) => p.number));
    // Room each candidate has left (unknown: assumed enough); a chunk goes only where it fits.
    const free = new Map(cands.map((c) => [c.pod.number, this.statsOf(c.pod)?.free ?? Number.POSITIVE_INFINITY]));
    const tight = Math.min(...free.values()) < 64 * 2 ** 20;
    const local = new Map(this.o.chunks.held().map((c) => [latin(c.hash), c]));
    const self = this.o.self;
    const selfPod = pods.find((p) => p.self);
    const isBackup = selfPod?.role === 'backup';

    let chunks = 0;
    let bytes = 0;
    let below = 0;
    let belowBytes = 0;
    let unrebuildable = 0;
    let lost = 0;
    let lostBytes = 0;
    const surplus: Array<{ hash: Buffer; size: number; stored: number; to: PodView[] }> = [];
    // Repair follows the reaction to the state found by the previous pass.
    const rebuild = s.reactions[this.report.state === 'isolated' ? 'favorable' : this.report.state].includes('rebuild');
    const needs = this.o.needs();
    const counts = new Map<number, { chunks: number; bytes: number }>();
    for (let i = 0; i < needs.length; i++) {
      const need = needs[i] as Need;
      chunks++;
      bytes += need.size;
      const held = local.get(latin(need.hash));
      const others = this.o.inventory.holders(need.hash);
      for (const n of others) {
        const c = counts.get(n) ?? { chunks: 0, bytes: 0 };
        c.chunks++;
        c.bytes += need.size;
        counts.set(n, c);
      }
      if (held) {
        const c = counts.get(self) ?? { chunks: 0, bytes: 0 };
        c.chunks++;
        c.bytes += need.size;
        counts.set(self, c);
      }
      const liveHolders = others.filter((n) => live.has(n));
      if (held) liveHolders.unshift(self);
      if (liveHolders.length === 0) {
        lost++;
        lostBytes += need.size;
        continue;
      }
      const holds = (n: number) => (n === self ? !!held : others.includes(n));
      const eligible = tight
        ? cands.filter((c) => holds(c.pod.number) || (free.get(c.pod.number) ?? 0) >= need.size)
        : cands;
      const t = targets(need.hash, eligible, need.r).map((c) => c.pod);
      const replicas = liveHolders.filter((n) => storage.has(n)).length;
      if (replicas < need.r) {
        below++;
        belowBytes += need.size;
        if (eligible.filter((c) => live.has(c.pod.number)).length < need.r) unrebuildable++;
      }
      if (isolated) continue;
      if (!held) {
        if (isBackup && need.backup) this.enqueue({ kind: 'fetch', hash: need.hash, size: need.size, to: [] });
        continue;
      }
      const responsible = t.find((p) => live.has(p.number) && holds(p.number))?.number ?? Math.min(...liveHolders);
      const missing = t.filter((p) => !p.self && p.connected && !holds(p.number));
      if (missing.length && responsible === self && rebuild)
        this.enqueue({ kind: 'push', hash: need.hash, size: need.size, to: missing });
      const target = t.some((p) => p.self);
      if (
        !target &&
        !(isBackup && need.backup) &&
        t.length >= need.r &&
        t.every((p) => p.connected && holds(p.number)) &&
        !this.o.chunks.isHeld(need.hash)
      )
        surplus.push({ hash: need.hash, size: need.size, stored: held.stored, to: t });
      if (i % 2000 === 1999) await new Promise((r) => setImmediate(r));
    }

    const state: HealthState = lost > 0 ? 'grave' : unrebuildable > 0 ? 'mitigated' : 'favorable';
    const reactions = s.reactions[state];
    const access = isolated
      ? 'read-write'
      : reactions.includes('cut')
        ? 'cut'
        : reactions.includes('read-only')
          ? 'read-only'
          : 'read-write';
    if (!isolated && state !== this.report.state)
      this.o.log.warn({ from: this.report.state, to: state, lost, below, unrebuildable }, 'network health changed');
    const pending = this.queue.length + this.active;
    if (pending === 0 && this.repair.since !== null) this.repair = { done: 0, total: 0, bytes: 0, since: null };
    const elapsed = this.repair.since ? (now - this.repair.since) / 1000 : 0;
    this.report = {
      state: isolated ? 'isolated' : state,
      access,
      reactions,
      redundancy: s.redundancy,
      graceMs: s.graceMs,
      chunks,
      bytes,
      below,
      belowBytes,
      unrebuildable,
      lost,
      lostBytes,
      pods: pods.map((p) => {
        const st = this.statsOf(p);
        return {
          number: p.number,
          name: p.name,
          role: p.role,
          zone: p.zone,
          state: p.self ? 'self' : p.connected ? 'connected' : this.lost(p, s, now) ? 'lost' : 'unreachable',
          draining: p.draining,
          silentSince: this.silent.get(p.number) ?? null,
          used: st?.used ?? null,
          capacity: p.capacity,
          free: st?.free ?? null,
          chunks: p.self || this.o.inventory.knows(p.number) ? (counts.get(p.number)?.chunks ?? 0) : null,
          bytes: p.self || this.o.inventory.knows(p.number) ? (counts.get(p.number)?.bytes ?? 0) : null,
        };
      }),
      repair: {
        active: pending > 0,
        done: this.repair.done,
        total: this.repair.done + pending,
        bytes: this.repair.bytes,
        since: this.repair.since,
        rate: elapsed > 0 ? this.repair.bytes / elapsed : 0,
      },
      at: now,
    };
    if (!isolated) await this.dropSurplus(surplus);
  }

  /** Drops copies whose targets all confirm theirs; a cache pod keeps the newest within its disk budget. */
  private async dropSurplus(surplus: Array<{ hash: Buffer; size: number; stored: number; to: PodView[] }>) {
    if (surplus.length === 0) return;
    surplus.sort((a, b) => b.stored - a.stored);
    let budget = this.o.cacheDisk();
    const drop = surplus.filter((c) => {
      if (c.size <= budget) {
        budget -= c.size;
        return false;
      }
      return true;
    });
    // Ask each target again, right before: the inventories may lag.
    const byPod = new Map<string, Buffer[]>();
    for (const c of drop.slice(0, 20_000))
      for (const p of c.to) if (!p.self) byPod.set(p.id, [...(byPod.get(p.id) ?? []), c.hash]);
    const confirmed = new Map<string, number>();
    await Promise.all(
      [...byPod].map(async ([id, hashes]) => {
        const link = this.o.link(id);
        if (!link) return;
        try {
          const r = await link.request<{ has: unknown }>('chunk.has', { hashes }, { timeoutMs: 30_000 });
          const has = r?.has;
          if (!Array.isArray(has)) return;
          hashes.forEach((h, i) => {
            if (has[i] === true) confirmed.set(latin(h), (confirmed.get(latin(h)) ?? 0) + 1);
          });
        } catch (err) {
          this.o.log.debug({ err, peer: id }, 'chunk.has failed');
        }
      }),
    );
    let dropped = 0;
    for (const c of drop.slice(0, 20_000)) {
      if ((confirmed.get(latin(c.hash)) ?? 0) < c.to.filter((p) => !p.self).length) continue;
      if (this.o.chunks.isHeld(c.hash)) continue;
      this.o.chunks.remove(c.hash);
      dropped++;
    }
    if (dropped) this.o.log.info({ chunks: dropped }, 'dropped surplus copies (their targets hold them)');
  }

  private enqueue(job: Job): void {
    const k = latin(job.hash);
    if (this.queued.has(k)) return;
    this.queued.add(k);
    this.queue.push(job);
    if (this.repair.since === null) this.repair.since = Date.now();
    this.pump();
  }

  get backlog(): number {
    return this.queue.length + this.active;
  }

  private pump(): void {
    while (this.active < (this.o.concurrency ?? 8) && this.queue.length) {
      const job = this.queue.shift() as Job;
      this.active++;
      this.run(job)
        .then((n) => {
          this.repair.done++;
          this.repair.bytes += n;
        })
        .catch((err) => this.o.log.debug({ err, chunk: job.hash.toString('hex').slice(0, 16) }, 'transfer failed'))
        .finally(() => {
          this.active--;
          this.queued.delete(latin(job.hash));
          this.pump();
        });
    }
  }

  private async run(job: Job): Promise<number> {
    if (job.kind === 'fetch') {
      const data = await this.o.fetch(job.hash);
      await this.o.chunks.keepDurable(job.hash, data);
      return data.length;
    }
    const data = await this.o.chunks.getLocal(job.hash);
    if (!data) return 0;
    const [first, ...rest] = job.to;
    if (!first) return 0;
    const link = this.o.link(first.id);
    if (!link) return 0;
    const r = await link.request<{ stored?: unknown }>(
      'chunk.put',
      { hash: job.hash, data, chain: rest.map((p) => p.id) },
      { timeoutMs: 120_000 },
    );
    const stored = Array.isArray(r?.stored) ? r.stored : [];
    for (const id of stored) {
      const p = job.to.find((x) => x.id === id);
      if (p) this.o.inventory.heard(job.hash, p.number);
    }
    this.sentBytes += data.length;
    return data.length;
  }

  /** A chunk sent here: checked, stored if there is room, then forwarded down its chain. */
  private async receive(body: unknown): Promise<{ stored: string[]; full?: boolean }> {
    const b = body as { hash?: unknown; data?: unknown; chain?: unknown };
    if (!Buffer.isBuffer(b?.hash) || b.hash.length !== 32 || !Buffer.isBuffer(b.data))
      throw new Error('chunk.put: malformed chunk');
    const chain = Array.isArray(b.chain) ? b.chain.filter((x): x is string => typeof x === 'string').slice(0, 16) : [];
    const hash = b.hash;
    const data = b.data;
    const digest = Buffer.from(await webcrypto.subtle.digest('SHA-256', data));
    if (!digest.equals(hash)) throw new Error('chunk.put: the data does not match its hash');
    const stored: string[] = [];
    let full = false;
    const me = this.o.pods().find((p) => p.self);
    if (this.o.chunks.stored(hash)) stored.push(me?.id ?? '');
    // Room is counted with the chunks being received meanwhile, so concurrent puts cannot overshoot.
    else if (this.o.selfStats().free - this.receiving < data.length) full = true;
    else {
      this.receiving += data.length;
      try {
        await this.o.chunks.keepDurable(hash, data);
      } finally {
        this.receiving -= data.length;
      }
      stored.push(me?.id ?? '');
    }
    const [next, ...rest] = chain;
    const link = next ? this.o.link(next) : undefined;
    if (link) {
      try {
        const r = await link.request<{ stored?: unknown }>(
          'chunk.put',
          { hash, data, chain: rest },
          { timeoutMs: 120_000 },
        );
        if (Array.isArray(r?.stored)) stored.push(...r.stored.filter((x): x is string => typeof x === 'string'));
      } catch (err) {
        this.o.log.debug({ err, next }, 'forwarding a chunk down its chain failed');
      }
    }
    return full ? { stored, full } : { stored };
  }
}
