/**
 * Sequential writes from offset 0 (a new file, a truncated one, a full
 * rewrite) skip staging: their bytes go straight to a chunking stream, so
 * each byte is written to disk once, as part of its chunk. Bytes not yet in
 * a stored chunk are read back from the stream's ring.
 */
import type { Extent } from '../store/meta.js';
import type { ChunkStream } from '../store/pipeline.js';
import { type ChunkSource, readExtents } from './content.js';

export class SeqStream {
  constructor(readonly stream: ChunkStream) {}

  get frontier(): number {
    return this.stream.fed;
  }

  write(data: Buffer): Promise<void> {
    return this.stream.push(data);
  }

  /** The chunks stored so far, as extents. */
  extents(): Extent[] {
    return this.stream.chunks.map((c) => ({ offset: c.offset, length: c.length, hash: c.hash }));
  }

  /** Bytes [off, end) with end <= frontier. */
  async read(chunks: ChunkSource, off: number, end: number): Promise<Buffer[]> {
    // Take both views now: chunks stored while we wait free their ring bytes.
    const cut = this.stream.cut;
    const extents = this.extents();
    const fromRing = end > cut ? [this.stream.readRing(Math.max(off, cut), end)] : [];
    const fromChunks = off < cut ? await readExtents(chunks, extents, cut, off, Math.min(end, cut) - off) : [];
    return [...fromChunks, ...fromRing];
  }
}
