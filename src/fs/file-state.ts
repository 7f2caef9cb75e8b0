/**
 * The in-memory state of a file some handle has open: its committed version
 * and, once written to, the staged changes on top of it.
 */
import type { Id } from '../core/ids.js';
import { Mutex } from '../core/mutex.js';
import type { Extent } from '../store/meta.js';
import type { ChunkStream } from '../store/pipeline.js';
import { type ChunkSource, readExtents, zeros } from './content.js';
import { IntervalSet } from './intervals.js';
import { SeqStream } from './seq-stream.js';
import { Staging, type StagingOptions } from './staging.js';

/** Where content comes from and goes to: chunks by hash, and chunking streams. */
export interface ContentStore extends ChunkSource {
  openStream(): ChunkStream;
  /** Stores a chunk and holds it until released. */
  put(hash: Buffer, data: Buffer): Promise<void>;
}

const BLOCK = 4 * 1024 * 1024;
/** Reads starting this close to where the last one ended count as sequential (the kernel reads ahead out of order). */
const SEQUENTIAL_WINDOW = 8 * 1024 * 1024;
/** Chunks loaded ahead of a sequential reader: enough in flight to hide a fetch from another pod. */
const READ_AHEAD_CHUNKS = 8;

/**
 * Changes on top of a base version since the last commit: a sequential
 * stream from offset 0 (seq), or bytes staged at their offsets (written),
 * never both.
 */
export class Dirty {
  readonly written = new IntervalSet();
  readonly staging: Staging;
  seq: SeqStream | null = null;
  /** Streams whose chunks this change holds, to release once it is committed. */
  readonly streams: ChunkStream[] = [];
  /** Other chunks this change stored and holds. */
  readonly held: Buffer[] = [];
  /** Bytes of the base at or past this offset were cut away by a truncate. */
  baseLimit: number;
  size: number;
  mtime: bigint;
  ctime: bigint;
  changed = false;

  constructor(
    readonly base: Id | null,
    readonly baseExtents: Extent[],
    readonly baseSize: number,
    staging: StagingOptions,
    now: bigint,
    private readonly store: ContentStore,
  ) {
    this.baseLimit = baseSize;
    this.size = baseSize;
    this.staging = new Staging(staging);
    this.mtime = now;
    this.ctime = now;
  }

  /** The first and last byte changed so far (Infinity / 0 when none). */
  get firstDirty(): number {
    return this.seq ? 0 : this.written.first;
  }

  get lastDirty(): number {
    return this.seq ? this.seq.frontier : this.written.last;
  }

  async write(off: number, data: Buffer, now: bigint): Promise<void> {
    if (this.seq && off === this.seq.frontier) {
      await this.seq.write(data);
    } else if (!this.seq && off === 0 && this.written.empty && data.length > 0) {
      const stream = this.store.openStream();
      this.streams.push(stream);
      this.seq = new SeqStream(stream);
      await this.seq.write(data);
    } else {
      await this.demote();
      await this.staging.write(off, data);
      this.written.add(off, off + data.length);
    }
    if (off + data.length > this.size) this.size = off + data.length;
    this.mtime = now;
    this.ctime = now;
    this.changed = true;
  }

  /** Ends sequential streaming: its bytes move to staging (a write elsewhere, or a truncate, came). */
  async demote(): Promise<void> {
    const seq = this.seq;
    if (!seq) return;
    for (let p = 0; p < seq.frontier; p += BLOCK) {
      const end = Math.min(seq.frontier, p + BLOCK);
      const parts = await seq.read(this.store, p, end);
      await this.staging.write(p, parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
    }
    this.written.add(0, seq.frontier);
    seq.stream.abort();
    this.seq = null;
  }

  async truncate(size: number, now: bigint): Promise<void> {
    await this.demote();
    if (size < this.size) this.written.clipTo(size);
    if (size < this.baseLimit) this.baseLimit = size;
    this.size = size;
    this.mtime = now;
    this.ctime = now;
    this.changed = true;
  }

  /** The merged view: streamed or staged bytes over the base, zeros elsewhere. */
  async read(chunks: ChunkSource, off: number, len: number): Promise<Buffer[]> {
    const end = Math.min(off + len, this.size);
    const out: Buffer[] = [];
    if (this.seq && off < this.seq.frontier) {
      const stop = Math.min(end, this.seq.frontier);
      out.push(...(await this.seq.read(chunks, off, stop)));
      off = stop;
    }
    const baseEnd = Math.min(this.baseLimit, this.baseSize);
    for (const [a, b, staged] of this.written.pieces(off, end)) {
      if (staged) out.push(await this.staging.read(a, b - a));
      else if (a < baseEnd) {
        out.push(...(await readExtents(chunks, this.baseExtents, baseEnd, a, b - a)));
        if (b > baseEnd) out.push(zeros(b - baseEnd));
      } else out.push(zeros(b - a));
    }
    return out;
  }
}

export class FileState {
  readonly lock = new Mutex();
  handles = 0;
  dirty: Dirty | null = null;
  /** End of the last read: a read near it is sequential, and loads chunks ahead. */
  private lastEnd = -1;

  constructor(
    readonly ino: Id,
    public version: Id | null,
    public extents: Extent[],
    public size: number,
  ) {}

  get currentSize(): number {
    return this.dirty ? this.dirty.size : this.size;
  }

  read(chunks: ChunkSource, off: number, len: number): Promise<Buffer[]> {
    if (this.dirty) return this.dirty.read(chunks, off, len);
    const sequential = this.lastEnd >= 0 && Math.abs(off - this.lastEnd) <= SEQUENTIAL_WINDOW;
    this.lastEnd = off + len;
    return readExtents(chunks, this.extents, this.size, off, len, sequential ? READ_AHEAD_CHUNKS : 0);
  }

  startDirty(staging: StagingOptions, now: bigint, store: ContentStore): Dirty {
    if (!this.dirty) this.dirty = new Dirty(this.version, this.extents, this.size, staging, now, store);
    return this.dirty;
  }
}
