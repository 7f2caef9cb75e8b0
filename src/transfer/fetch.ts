/**
 * Getting chunks this pod does not hold from the pods that do: holders it
 * heard of first (fastest first), then every other connected pod; each
 * answer is checked against the chunk's hash, and a failure or a timeout
 * moves on to the next pod. Concurrent requests for one chunk share one
 * fetch. Also serves this pod's chunks to the others.
 */
import { webcrypto } from 'node:crypto';
import { CorruptChunkError, MissingChunkError } from '../core/errors.js';
import type { Handle, PodLink } from '../core/link.js';
import type { Logger } from '../core/log.js';

export interface FetchOptions {
  peers: () => PodLink[];
  handle: Handle;
  log: Logger;
  /** This pod's copy of a chunk, without asking other pods (null if it has none). */
  local: (hash: Buffer) => Promise<Buffer | null>;
  /** Pods known (from their inventories) to hold a chunk. */
  holders?: (hash: Buffer) => readonly string[];
  timeoutMs?: number;
}

const MAX_KNOWN = 200_000;

export class ChunkFetcher {
  private readonly inflight = new Map<string, Promise<Buffer>>();
  /** Which pods said they hold which chunks (recent ones). */
  private readonly holders = new Map<string, Set<string>>();
  /** Fetches in flight, by pod. */
  private readonly busy = new Map<string, number>();
  fetched = 0;
  fetchedBytes = 0;

  constructor(private readonly opts: FetchOptions) {}

  start(): void {
    this.opts.handle('chunk.get', async (body) => {
      const hash = (body as { hash?: unknown })?.hash;
      if (!Buffer.isBuffer(hash) || hash.length !== 32) throw new Error('chunk.get: malformed hash');
      const data = await this.opts.local(hash);
      return { data };
    });
    this.opts.handle('chunk.have', (body, peer) => {
      const hashes = (body as { hashes?: unknown })?.hashes;
      if (!Array.isArray(hashes)) return;
      for (const h of hashes) if (Buffer.isBuffer(h)) this.heard(h, peer.podId);
    });
  }

  /** A pod said it holds a chunk. */
  heard(hash: Buffer, podId: string): void {
    const key = hash.toString('hex');
    let set = this.holders.get(key);
    if (!set) {
      if (this.holders.size >= MAX_KNOWN) {
        const first = this.holders.keys().next();
        if (!first.done) this.holders.delete(first.value);
      }
      set = new Set();
      this.holders.set(key, set);
    }
    set.add(podId);
  }

  /** Tells the connected pods that this one now holds these chunks. */
  announce(hashes: Buffer[]): void {
    if (hashes.length === 0) return;
    for (const p of this.opts.peers()) p.send('chunk.have', { hashes }).catch(() => {});
  }

  /**
   * The pods to ask, in order: known holders, then the others; within each,
   * the least busy first (fetches in flight to it), then the fastest. So a
   * sequential reader's chunks come from several pods at once.
   */
  private candidates(hash: Buffer, key: string): PodLink[] {
    const known = new Set([...(this.holders.get(key) ?? []), ...(this.opts.holders?.(hash) ?? [])]);
    const busy = (p: PodLink) => this.busy.get(p.podId) ?? 0;
    const byRtt = (a: PodLink, b: PodLink) => busy(a) - busy(b) || (a.rtt ?? 1e9) - (b.rtt ?? 1e9);
    const peers = this.opts.peers();
    return [
      ...peers.filter((p) => known.has(p.podId)).sort(byRtt),
      ...peers.filter((p) => !known.has(p.podId)).sort(byRtt),
    ];
  }

  fetch(hash: Buffer, signal?: AbortSignal): Promise<Buffer> {
    const key = hash.toString('hex');
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetchFrom(hash, key, signal).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetchFrom(hash: Buffer, key: string, signal?: AbortSignal): Promise<Buffer> {
    let lastError: unknown;
    for (const peer of this.candidates(hash, key)) {
      signal?.throwIfAborted();
      this.busy.set(peer.podId, (this.busy.get(peer.podId) ?? 0) + 1);
      try {
        const r = await peer
          .request<{ data: unknown }>('chunk.get', { hash }, { signal, timeoutMs: this.opts.timeoutMs ?? 10_000 })
          .finally(() => this.busy.set(peer.podId, (this.busy.get(peer.podId) ?? 1) - 1));
        if (!Buffer.isBuffer(r?.data)) continue;
        // WebCrypto hashes in the thread pool: a megabyte's SHA-256 stays off the event loop.
        const digest = Buffer.from(await webcrypto.subtle.digest('SHA-256', r.data));
        if (!digest.equals(hash)) {
          lastError = new CorruptChunkError(key, `sent by pod ${peer.podId}`);
          this.opts.log.warn(
            { peer: peer.podId, chunk: key.slice(0, 16) },
            'a pod sent a chunk that does not match its hash',
          );
          continue;
        }
        this.heard(hash, peer.podId);
        this.fetched++;
        this.fetchedBytes += r.data.length;
        return r.data;
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err;
        lastError = err;
      }
    }
    throw lastError instanceof CorruptChunkError ? lastError : new MissingChunkError(key);
  }
}
