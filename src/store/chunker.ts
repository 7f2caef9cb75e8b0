/**
 * Content-defined chunking: FastCDC (Xia et al., 2016/2020) with normalized
 * chunking. A cut point depends only on the bytes since the previous cut, so
 * an edit moves only the chunks around it; the gear table is fixed forever
 * (it decides boundaries, hence deduplication, on every pod).
 */
import { createHash } from 'node:crypto';

export interface ChunkingParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

export const DEFAULT_CHUNKING: ChunkingParams = {
  minSize: 256 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 4 * 1024 * 1024,
};

/** 256 pseudo-random 32-bit values: the first 4 bytes of SHA-256("wormhole-gear-<i>"). */
const GEAR = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) t[i] = createHash('sha256').update(`wormhole-gear-${i}`).digest().readInt32LE(0);
  return t;
})();

/** A mask of the `bits` highest bits of a 32-bit word (they mix the most bytes of the window). */
function highMask(bits: number): number {
  return bits >= 32 ? -1 : ((2 ** bits - 1) * 2 ** (32 - bits)) | 0;
}

export function validateParams(p: ChunkingParams): void {
  const pow2 = (n: number) => Number.isInteger(Math.log2(n));
  if (!(p.minSize >= 64 && p.minSize < p.avgSize && p.avgSize < p.maxSize && pow2(p.avgSize))) {
    throw new RangeError(
      `invalid chunking parameters ${JSON.stringify(p)}: need 64 <= min < avg < max, avg a power of 2`,
    );
  }
}

/**
 * Incremental chunker: push() the stream's bytes in any pieces; it returns
 * the absolute offsets (from the stream start) of the cuts found so far. A
 * cut at offset c ends a chunk just before byte c.
 */
export class Chunker {
  private readonly min: number;
  private readonly avg: number;
  private readonly max: number;
  private readonly maskS: number;
  private readonly maskL: number;
  /** Bytes since the last cut. */
  private pos = 0;
  private fp = 0;
  /** Absolute offset of the last cut. */
  private start = 0;

  constructor(params: ChunkingParams = DEFAULT_CHUNKING) {
    validateParams(params);
    this.min = params.minSize;
    this.avg = params.avgSize;
    this.max = params.maxSize;
    const bits = Math.log2(params.avgSize);
    this.maskS = highMask(bits + 2);
    this.maskL = highMask(bits - 2);
  }

  push(data: Uint8Array): number[] {
    const cuts: number[] = [];
    const n = data.length;
    let i = 0;
    let pos = this.pos;
    let fp = this.fp;
    const gear = GEAR;
    while (i < n) {
      if (pos < this.min) {
        const skip = Math.min(this.min - pos, n - i);
        pos += skip;
        i += skip;
        continue;
      }
      const small = pos < this.avg;
      const mask = small ? this.maskS : this.maskL;
      const stop = i + Math.min((small ? this.avg : this.max) - pos, n - i);
      let cut = -1;
      for (let j = i; j < stop; j++) {
        fp = ((fp << 1) + (gear[data[j] as number] as number)) | 0;
        if ((fp & mask) === 0) {
          cut = j + 1;
          break;
        }
      }
      if (cut < 0) {
        pos += stop - i;
        i = stop;
        if (pos >= this.max) cut = i;
        else continue;
      } else {
        pos += cut - i;
        i = cut;
      }
      this.start += pos;
      cuts.push(this.start);
      pos = 0;
      fp = 0;
    }
    this.pos = pos;
    this.fp = fp;
    return cuts;
  }

  /** Ends the stream: returns the final cut if bytes remain since the last one. */
  finish(): number[] {
    if (this.pos === 0) return [];
    this.start += this.pos;
    this.pos = 0;
    this.fp = 0;
    return [this.start];
  }
}

/** Chunk lengths of a whole buffer. */
export function chunkLengths(data: Uint8Array, params: ChunkingParams = DEFAULT_CHUNKING): number[] {
  const c = new Chunker(params);
  const cuts = [...c.push(data), ...c.finish()];
  const out: number[] = [];
  let prev = 0;
  for (const x of cuts) {
    out.push(x - prev);
    prev = x;
  }
  return out;
}
