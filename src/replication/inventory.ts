/**
 * Which pod holds which chunk. Each pod keeps a journal of the chunks it
 * gains and drops; the others poll it (`chunk.inventory`) every few
 * seconds and get the changes since their last poll, or the whole list,
 * page by page, when they are new or the journal has moved on (a restart
 * starts a new epoch). From that every pod knows, without asking, who
 * holds what: where to fetch, what is below its redundancy, what is lost.
 */
import { randomBytes } from 'node:crypto';
import type { PodLink } from '../core/link.js';

/** What a pod says of itself with its inventory. */
export interface PodStats {
  /** Bytes of chunks held. */
  used: number;
  chunks: number;
  /** Bytes it may hold (configured capacity, else its disk's size). */
  capacity: number;
  /** Bytes it can still take. */
  free: number;
}

interface JournalEntry {
  seq: number;
  hash: Buffer;
  present: boolean;
}

const JOURNAL_MAX = 200_000;
const PAGE = 100_000;

export interface InventoryReply {
  epoch: string;
  seq: number;
  stats: PodStats;
  /** Changes since the asked seq, in order. */
  changes?: Array<[Buffer, boolean]>;
  /** The asker must page through the whole list (from `after`). */
  full?: boolean;
  page?: Buffer[];
  /** Last hash of this page, to ask the next; null at the end. */
  next?: Buffer | null;
}

interface Remote {
  epoch: string;
  seq: number;
  stats: PodStats | null;
  /** When its inventory was last brought up to date. */
  fresh: number;
}

/** Sorted pages of this pod's chunk hashes. */
export type ListPage = (after: Buffer, limit: number) => Buffer[];

export class Inventory {
  readonly epoch = randomBytes(8).toString('hex');
  private seq = 0;
  private readonly journal: JournalEntry[] = [];
  private journalStart = 1;
  /** hash (latin1 key) → numbers of the other pods that hold it. */
  private readonly held = new Map<string, number[]>();
  private readonly remotes = new Map<number, Remote>();

  constructor(
    private readonly list: ListPage,
    private readonly stats: () => PodStats,
  ) {}

  /** This pod gained (present) or dropped a chunk. */
  note(hash: Buffer, present: boolean): void {
    this.journal.push({ seq: ++this.seq, hash, present });
    if (this.journal.length > JOURNAL_MAX) {
      const cut = this.journal.length - JOURNAL_MAX / 2;
      this.journal.splice(0, cut);
      this.journalStart = this.journal[0]?.seq ?? this.seq + 1;
    }
  }

  /** Answers another pod's poll. */
  serve(body: unknown): InventoryReply {
    const b = (body ?? {}) as { epoch?: unknown; seq?: unknown; after?: unknown };
    const base = { epoch: this.epoch, seq: this.seq, stats: this.stats() };
    if (Buffer.isBuffer(b.after)) {
      const page = this.list(b.after, PAGE);
      return { ...base, page, next: page.length === PAGE ? (page[page.length - 1] as Buffer) : null };
    }
    const since = typeof b.seq === 'number' ? b.seq : -1;
    if (b.epoch !== this.epoch || since + 1 < this.journalStart || since > this.seq || this.seq - since > PAGE)
      return { ...base, full: true };
    const from = since + 1 - this.journalStart;
    return { ...base, changes: this.journal.slice(from).map((e) => [e.hash, e.present]) };
  }

  /** Brings this pod's view of `peer` (pod number `n`) up to date. */
  async poll(peer: PodLink, n: number): Promise<void> {
    const r = this.remotes.get(n);
    const ask = (body: object) => peer.request<InventoryReply>('chunk.inventory', body, { timeoutMs: 30_000 });
    const first = await ask(r ? { epoch: r.epoch, seq: r.seq } : {});
    if (!first || typeof first.epoch !== 'string' || typeof first.seq !== 'number')
      throw new Error('chunk.inventory: malformed reply');
    if (first.changes) {
      for (const [h, present] of first.changes) if (Buffer.isBuffer(h)) this.set(h, n, present === true);
    } else {
      // The whole list, paged; changes made meanwhile come with the next poll (from first.seq).
      const seen = new Set<string>();
      let after: Buffer = Buffer.alloc(0);
      for (;;) {
        const p = await ask({ after });
        for (const h of p.page ?? []) {
          if (!Buffer.isBuffer(h)) continue;
          const k = h.toString('latin1');
          seen.add(k);
          this.add(k, n);
        }
        if (!Buffer.isBuffer(p.next)) break;
        after = p.next;
      }
      for (const [k, pods] of this.held) if (pods.includes(n) && !seen.has(k)) this.remove(k, n);
    }
    this.remotes.set(n, { epoch: first.epoch, seq: first.seq, stats: first.stats ?? null, fresh: Date.now() });
  }

  /** What pod `n` last said of itself. */
  statsOf(n: number): PodStats | null {
    return this.remotes.get(n)?.stats ?? null;
  }

  /** Whether this pod has had pod `n`'s inventory at least once. */
  knows(n: number): boolean {
    return this.remotes.has(n);
  }

  /** Another pod confirmed it holds a chunk (it stored what we sent). */
  heard(hash: Buffer, n: number): void {
    this.set(hash, n, true);
  }

  /** The other pods known to hold a chunk. */
  holders(hash: Buffer): readonly number[] {
    return this.held.get(hash.toString('latin1')) ?? [];
  }

  /** Forgets a pod (removed from the network). */
  forget(n: number): void {
    this.remotes.delete(n);
    for (const k of [...this.held.keys()]) this.remove(k, n);
  }

  private set(hash: Buffer, n: number, present: boolean): void {
    const k = hash.toString('latin1');
    if (present) this.add(k, n);
    else this.remove(k, n);
  }

  private add(k: string, n: number): void {
    const pods = this.held.get(k);
    if (!pods) this.held.set(k, [n]);
    else if (!pods.includes(n)) pods.push(n);
  }

  private remove(k: string, n: number): void {
    const pods = this.held.get(k);
    if (!pods) return;
    const i = pods.indexOf(n);
    if (i < 0) return;
    pods.splice(i, 1);
    if (pods.length === 0) this.held.delete(k);
  }
}
