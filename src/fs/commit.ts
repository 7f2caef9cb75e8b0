/**
 * Turning staged changes into a new content version. Only the region that
 * changed is chunked again: extents before the first changed byte are kept,
 * chunking starts at the extent holding that byte, and once a cut past the
 * last changed byte lands on a boundary of the base, the rest of the base is
 * reused. Never-written ranges become holes, not zero chunks.
 */
import { Chunker, type ChunkingParams, DEFAULT_CHUNKING } from '../store/chunker.js';
import { sha256 } from '../store/chunks.js';
import type { Extent } from '../store/meta.js';
import { readExtents, zeros } from './content.js';
import type { Dirty } from './file-state.js';

export interface ChunkSink {
  get(hash: Buffer): Promise<Buffer>;
  put(hash: Buffer, data: Buffer): Promise<void>;
}

type Segment = { off: number; len: number; kind: 'staged' | 'base' | 'hole' };

const BLOCK = 4 * 1024 * 1024;
const MAX_INFLIGHT = 8;

/** Splits [start, end) of the merged view into staged, base and hole segments. */
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

async function readSegment(sink: ChunkSink, d: Dirty, s: Segment, off: number, len: number): Promise<Buffer> {
  if (s.kind === 'staged') return d.staging.read(off, len);
  if (s.kind === 'hole') return zeros(len);
  const parts = await readExtents(sink, d.baseExtents, Math.min(d.baseLimit, d.baseSize), off, len);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/** Computes the extents of the new version and stores its new chunks. */
export async function rechunk(sink: ChunkSink, d: Dirty, params: ChunkingParams = DEFAULT_CHUNKING): Promise<Extent[]> {
  const base = d.baseExtents;
  const size = d.size;
  const tailUnchanged = size === d.baseSize && d.baseLimit >= d.baseSize;
  const dirtyStart = Math.min(
    d.written.first,
    tailUnchanged ? Number.POSITIVE_INFINITY : Math.min(d.baseLimit, d.baseSize, size),
  );
  const dirtyEnd = tailUnchanged ? d.written.last : size;
  if (dirtyStart >= size && size === d.baseSize && tailUnchanged) return base.slice();

  // Keep the base extents that end before the first changed byte (and are not the file's last, cut by EOF).
  let k = 0;
  while (k < base.length) {
    const e = base[k] as Extent;
    const end = e.offset + e.length;
    if (end > dirtyStart || (end === dirtyStart && end === d.baseSize)) break;
    k++;
  }
  const out: Extent[] = base.slice(0, k);
  const start = k < base.length ? (base[k] as Extent).offset : Math.min(d.baseSize, size);
  const boundaries = new Map<number, number>();
  if (tailUnchanged) for (let i = k; i < base.length; i++) boundaries.set((base[i] as Extent).offset, i);

  const inflight: Array<Promise<void>> = [];
  let chunker = new Chunker(params);
  let runStart = start;
  let pending: Buffer[] = [];
  let pendingStart = start;
  let pendingLen = 0;

  const emit = async (len: number): Promise<void> => {
    // Take `len` bytes off the front of pending as one chunk.
    const parts: Buffer[] = [];
    let need = len;
    while (need > 0) {
      const b = pending[0] as Buffer;
      if (b.length <= need) {
        parts.push(b);
        pending.shift();
        need -= b.length;
      } else {
        parts.push(b.subarray(0, need));
        pending[0] = b.subarray(need);
        need = 0;
      }
    }
    const data = parts.length === 1 ? Buffer.from(parts[0] as Buffer) : Buffer.concat(parts);
    const ext: Extent = { offset: pendingStart, length: len, hash: null };
    out.push(ext);
    pendingStart += len;
    pendingLen -= len;
    if (inflight.length >= MAX_INFLIGHT) await inflight.shift();
    const job = sha256(data).then(async (h) => {
      ext.hash = h;
      await sink.put(h, data);
    });
    job.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
    inflight.push(job);
  };

  /** After a cut at `at`: if the rest of the base can be reused from here, append it and say so. */
  const resync = (at: number): boolean => {
    if (at < dirtyEnd || at >= size) return false;
    const i = boundaries.get(at);
    if (i === undefined) return false;
    out.push(...base.slice(i));
    return true;
  };

  const finishRun = async (): Promise<void> => {
    for (const _ of chunker.finish()) await emit(pendingLen);
    chunker = new Chunker(params);
  };

  let done = false;
  outer: for (const s of segments(d, start, size)) {
    if (s.kind === 'hole') {
      await finishRun();
      const prev = out[out.length - 1];
      if (prev && prev.hash === null && prev.offset + prev.length === s.off) prev.length += s.len;
      else out.push({ offset: s.off, length: s.len, hash: null });
      pendingStart = runStart = s.off + s.len;
      if (resync(runStart)) {
        done = true;
        break;
      }
      continue;
    }
    for (let pos = s.off; pos < s.off + s.len; pos += BLOCK) {
      const len = Math.min(BLOCK, s.off + s.len - pos);
      const block = await readSegment(sink, d, s, pos, len);
      pending.push(block);
      pendingLen += len;
      for (const cut of chunker.push(block)) {
        await emit(runStart + cut - pendingStart);
        if (resync(pendingStart)) {
          done = true;
          break outer;
        }
      }
    }
  }
  if (!done) await finishRun();
  pending = [];
  await Promise.all(inflight);
  return out;
}
