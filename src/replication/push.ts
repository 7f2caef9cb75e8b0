/**
 * Until placement decides where each chunk lives (a later step), every new
 * chunk a pod writes is pushed to every other connected pod that stores
 * data, in the background, a few at a time; a pod that receives one keeps
 * it. The writer keeps its own copy regardless.
 */
import type { Handle, PodLink } from '../core/link.js';
import type { Logger } from '../core/log.js';

export interface PushOptions {
  peers: () => PodLink[];
  handle: Handle;
  log: Logger;
  /** This pod's copy of a chunk (null if gone meanwhile). */
  local: (hash: Buffer) => Promise<Buffer | null>;
  /** Keeps a chunk another pod pushed here. */
  store: (hash: Buffer, data: Buffer) => Promise<void>;
  /** Chunks in flight at once. */
  concurrency?: number;
}

export class ChunkPusher {
  private readonly queue: Buffer[] = [];
  private active = 0;
  pushed = 0;

  constructor(private readonly opts: PushOptions) {}

  start(): void {
    this.opts.handle('chunk.put', async (body) => {
      const b = body as { hash?: unknown; data?: unknown };
      if (!Buffer.isBuffer(b?.hash) || !Buffer.isBuffer(b.data)) throw new Error('chunk.put: malformed chunk');
      await this.opts.store(b.hash, b.data);
      return { ok: true };
    });
  }

  /** Queues chunks to push to every other pod. */
  push(hashes: Buffer[]): void {
    this.queue.push(...hashes);
    this.pump();
  }

  get backlog(): number {
    return this.queue.length + this.active;
  }

  private pump(): void {
    while (this.active < (this.opts.concurrency ?? 4) && this.queue.length) {
      const hash = this.queue.shift() as Buffer;
      this.active++;
      this.pushOne(hash)
        .catch((err) => this.opts.log.debug({ err }, 'chunk push failed'))
        .finally(() => {
          this.active--;
          this.pump();
        });
    }
  }

  private async pushOne(hash: Buffer): Promise<void> {
    const peers = this.opts.peers();
    if (peers.length === 0) return;
    const data = await this.opts.local(hash);
    if (!data) return;
    await Promise.all(
      peers.map((p) =>
        p
          .request('chunk.put', { hash, data }, { timeoutMs: 60_000 })
          .then(() => {
            this.pushed++;
          })
          .catch((err) => this.opts.log.debug({ err, peer: p.podId }, 'chunk push to a pod failed')),
      ),
    );
  }
}
