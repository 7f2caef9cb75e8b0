/**
 * Turning staged changes into a new content version. Only the region that
 * changed is chunked again: extents before the first changed byte are kept,
 * chunking starts at the extent holding that byte, and once a cut past the
 * last changed byte lands on a boundary of the base, the rest of the base is
 * reused. Never-written ranges become holes, not zero chunks. The chunking
 * itself runs in the chunk store's worker (ChunkStream); a file written
 * sequentially from its start was streamed there as it was written, and its
 * stream just continues here.
 */

import { DEFAULT_CHUNKING } from '../store/chunker.js';
import { sha256 } from '../store/chunks.js';
import type { Extent } from '../store/meta.js';
import type { ChunkStream } from '../store/pipeline.js';
import { readExtents, zeros } from './content.js';
import type { ContentStore, Dirty } from './file-state.js';

type Segment = { off: number; len: number; kind: 'staged' | 'base' | 'hole' };

const BLOCK = 4 * 1024 * 1024;

/** Splits [start, end) of the merged view into staged, base and hole segments (the streamed prefix excluded). */
function segments(d: Dirty, start: number, end: number): Segment[] {
  const out: Segment[] = [];
  const baseEnd = Math.min(d.baseLimit, d.baseSize);
  const push = (off: number, len: number, kind: Segment['kind']) => {
    if (len <= 0) return;
    const prev = out[out.length - 1];
    if (prev && prev.kind === kind && kind !== 'base' && prev.off + prev.len === off) prev.len += len;
    else out.push({ off, len, kind });
  };
  for (const [a, b, staged] of d.written.pieces(start, end)) {
    if (staged) {
      push(a, b - a, 'staged');
      continue;
    }
    // Outside the writes: the base (its chunks or holes) below baseEnd, never-written zeros above.
    let pos = a;
    const stop = Math.min(b, baseEnd);
    for (const e of d.baseExtents) {
      if (pos >= stop) break;
      const eEnd = e.offset + e.length;
      if (eEnd <= pos) continue;
      const segEnd = Math.min(eEnd, stop);
      push(pos, segEnd - pos, e.hash === null ? 'hole' : 'base');
      pos = segEnd;
    }
    if (pos < b) push(pos, b - pos, 'hole');
  }
  return out;
}

async function readSegment(store: ContentStore, d: Dirty, s: Segment, off: number, len: number): Promise<Buffer> {
  if (s.kind === 'staged') return d.staging.read(off, len);
  if (s.kind === 'hole') return zeros(len);
  const parts = await readExtents(store, d.baseExtents, Math.min(d.baseLimit, d.baseSize), off, len);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/** Data shorter than this is one chunk whatever its bytes: hashed here, no worker round trip. */
const SMALL = DEFAULT_CHUNKING.minSize;

/** A run of data chunked by one stream whose byte 0 is at `origin` in the file. */
interface Run {
  stream: ChunkStream;
  origin: number;
  /** Chunks of the stream already turned into extents. */
  taken: number;
}

/**
 * Computes the extents of the new version. Its new chunks are stored and
 * held: their hashes are in d.held, or in the chunks of d.streams; the
 * caller releases them once the version is committed.
 */
export async function rechunk(store: ContentStore, d: Dirty): Promise<Extent[]> {
  const base = d.baseExtents;
  const size = d.size;
  const tailUnchanged = size === d.baseSize && d.baseLimit >= d.baseSize;
  const boundary = tailUnchanged ? Number.POSITIVE_INFINITY : Math.min(d.baseLimit, d.baseSize, size);
  const dirtyStart = Math.min(d.firstDirty, boundary);
  const dirtyEnd = tailUnchanged ? d.lastDirty : size;
  if (dirtyStart >= size && tailUnchanged) return base.slice();

  // Keep the base extents that end before the first changed byte (and are not the file's last, cut by EOF).
  let k = 0;
  while (k < base.length) {
    const e = base[k] as Extent;
    const end = e.offset + e.length;
    // An extent ending where the change starts is kept only if its end was cut by content, not by EOF or a hole.
    const next = base[k + 1];
    if (end > dirtyStart || (end === dirtyStart && e.hash !== null && (!next || next.hash === null))) break;
    k++;
  }
  const out: Extent[] = base.slice(0, k);
  let start = k < base.length ? (base[k] as Extent).offset : Math.min(d.baseSize, size);
  const boundaries = new Map<number, number>();
  if (tailUnchanged) for (let i = k; i < base.length; i++) boundaries.set((base[i] as Extent).offset, i);

  if (!d.seq && size - start <= SMALL) {
    await small(store, d, start, size, out);
    return out;
  }

  let run: Run | null = null;
  if (d.seq && start === 0) {
    run = { stream: d.seq.stream, origin: 0, taken: 0 };
    start = d.seq.frontier;
  } else if (d.seq) {
    await d.demote();
  }

  /** Moves the run's reported chunks into `out`; if one ends where the base can be reused, finishes with it. */
  const take = (r: Run): boolean => {
    const chunks = r.stream.chunks;
    for (; r.taken < chunks.length; r.taken++) {
      const c = chunks[r.taken] as (typeof chunks)[number];
      out.push({ offset: r.origin + c.offset, length: c.length, hash: c.hash });
      const end = r.origin + c.offset + c.length;
      const i = end >= dirtyEnd && end < size ? boundaries.get(end) : undefined;
      if (i !== undefined) {
        out.push(...base.slice(i));
        return true;
      }
    }
    return false;
  };

  const endRun = async (): Promise<boolean> => {
    if (!run) return false;
    const r = run;
    run = null;
    await r.stream.end();
    return take(r);
  };

  for (const s of segments(d, start, size)) {
    if (s.kind === 'hole') {
      if (await endRun()) return out;
      const prev = out[out.length - 1];
      if (prev && prev.hash === null && prev.offset + prev.length === s.off) prev.length += s.len;
      else out.push({ offset: s.off, length: s.len, hash: null });
      const i = s.off + s.len >= dirtyEnd && s.off + s.len < size ? boundaries.get(s.off + s.len) : undefined;
      if (i !== undefined) {
        out.push(...base.slice(i));
        return out;
      }
      continue;
    }
    if (!run) {
      const stream = store.openStream();
      d.streams.push(stream);
      run = { stream, origin: s.off, taken: 0 };
    }
    for (let pos = s.off; pos < s.off + s.len; pos += BLOCK) {
      const len = Math.min(BLOCK, s.off + s.len - pos);
      const block = await readSegment(store, d, s, pos, len);
      await run.stream.push(block);
      // Past the last change, wait for each block's cuts: one may let the rest of the base be reused.
      if (tailUnchanged && pos + len > dirtyEnd) {
        await run.stream.settled();
        if (take(run)) {
          run.stream.abort();
          return out;
        }
      }
    }
  }
  await endRun();
  return out;
}

/** [start, size) is shorter than a chunk can be: each run of data between holes is one chunk. */
async function small(store: ContentStore, d: Dirty, start: number, size: number, out: Extent[]): Promise<void> {
  let parts: Buffer[] = [];
  let runStart = start;
  const flush = async () => {
    if (parts.length === 0) return;
    const data = parts.length === 1 ? Buffer.from(parts[0] as Buffer) : Buffer.concat(parts);
    parts = [];
    const hash = await sha256(data);
    await store.put(hash, data);
    d.held.push(hash);
    out.push({ offset: runStart, length: data.length, hash });
  };
  for (const s of segments(d, start, size)) {
    if (s.kind === 'hole') {
      await flush();
      out.push({ offset: s.off, length: s.len, hash: null });
      runStart = s.off + s.len;
      continue;
    }
    if (parts.length === 0) runStart = s.off;
    parts.push(await readSegment(store, d, s, s.off, s.len));
  }
  await flush();
}
