/**
 * Reading a content version: its extents are chunks (fetched through the
 * chunk store and its RAM cache) or holes (zeros).
 */
import type { Extent } from '../store/meta.js';

export const ZEROS = Buffer.alloc(4 * 1024 * 1024);

export function zeros(n: number): Buffer {
  return n <= ZEROS.length ? ZEROS.subarray(0, n) : Buffer.alloc(n);
}

export interface ChunkSource {
  get(hash: Buffer): Promise<Buffer>;
  /** Starts loading a chunk that will probably be read soon. */
  prefetch?(hash: Buffer): void;
}

/** Index of the extent containing `off`, or extents.length. */
export function findExtent(extents: Extent[], off: number): number {
  let lo = 0;
  let hi = extents.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const e = extents[mid] as Extent;
    if (e.offset + e.length <= off) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Bytes [off, off+len) of a version, clipped to `limit`; ranges past the
 * last extent read as zeros. Returns the pieces in order. `ahead` chunks
 * past the range start loading too (sequential reads).
 */
export async function readExtents(
  chunks: ChunkSource,
  extents: Extent[],
  limit: number,
  off: number,
  len: number,
  ahead = 0,
): Promise<Buffer[]> {
  const end = Math.min(off + len, limit);
  if (end <= off) return [];
  const parts: Array<Buffer | Promise<Buffer>> = [];
  let pos = off;
  for (let i = findExtent(extents, off); i < extents.length && pos < end; i++) {
    const e = extents[i] as Extent;
    const a = pos - e.offset;
    const b = Math.min(e.length, end - e.offset);
    if (e.hash === null) parts.push(zeros(b - a));
    else parts.push(chunks.get(e.hash).then((c) => c.subarray(a, b)));
    pos = e.offset + b;
  }
  if (pos < end) parts.push(zeros(end - pos));
  if (ahead > 0 && chunks.prefetch) {
    let n = 0;
    for (let i = findExtent(extents, end); i < extents.length && n < ahead; i++) {
      const h = (extents[i] as Extent).hash;
      if (h) {
        chunks.prefetch(h);
        n++;
      }
    }
  }
  return Promise.all(parts);
}
