/**
 * Frames on the wire: a 4-byte big-endian length, then a msgpack body that
 * decodes to a plain object with a string `t` (the frame kind). Bytes come
 * from other machines, so the decoder trusts nothing: the length is checked
 * before anything is buffered for it, and every decoding failure becomes one
 * FrameError, never a crash.
 */
import { Packr } from 'msgpackr';
import { FrameError } from './errors.js';

export { FrameError };

/** Chunks of up to 4 MiB travel as Buffer fields; 16 MiB leaves room for several and their envelope. */
export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;

const HEADER = 4;

/** Shared for encoding: packing keeps no state between calls that another message could see. */
const packer = new Packr({ useRecords: false, int64AsType: 'bigint' });

export interface Frame {
  t: string;
  [field: string]: unknown;
}

/** One frame: length then body. Throws FrameError if the body exceeds `maxFrame` (the receiver would refuse it). */
export function encodeFrame(msg: object, maxFrame = DEFAULT_MAX_FRAME): Buffer {
  const body = packer.pack(msg);
  if (body.length > maxFrame) throw new FrameError(`frame of ${body.length} bytes exceeds the limit of ${maxFrame}`);
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, HEADER);
  return out;
}

function isFrame(v: unknown): v is Frame {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && typeof (v as { t?: unknown }).t === 'string';
}

/**
 * Splits a byte stream into frames. After it throws, the stream is out of
 * sync for good: the caller closes the connection.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the frame being assembled, once its header is known. */
  private need = -1;
  /** Per decoder: a peer's msgpack record definitions must never reach another peer's frames. */
  private readonly unpacker = new Packr({ useRecords: false, int64AsType: 'bigint' });

  constructor(private readonly maxFrame = DEFAULT_MAX_FRAME) {}

  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < HEADER) return out;
        const length = this.take(HEADER).readUInt32BE(0);
        if (length > this.maxFrame) {
          throw new FrameError(`frame length ${length} exceeds the limit of ${this.maxFrame}`);
        }
        this.need = length;
      }
      if (this.buffered < this.need) return out;
      const body = this.take(this.need);
      this.need = -1;
      out.push(this.decode(body));
    }
  }

  private decode(body: Buffer): Frame {
    if (body.length === 0) throw new FrameError('empty frame');
    let value: unknown;
    try {
      value = this.unpacker.unpack(body);
    } catch (err) {
      throw new FrameError(`undecodable frame: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!isFrame(value)) throw new FrameError('frame is not a message object with a string `t`');
    return value;
  }

  /** The next `n` buffered bytes, copied out only when they span chunks. */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - filled);
        c.copy(out, filled, 0, k);
        filled += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}
