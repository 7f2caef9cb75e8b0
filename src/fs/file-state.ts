/**
 * The in-memory state of a file some handle has open: its committed version
 * and, once written to, the staged changes on top of it.
 */

import type { Id } from '../core/ids.js';
import { Mutex } from '../core/mutex.js';
import type { Extent } from '../store/meta.js';
import { type ChunkSource, readExtents, zeros } from './content.js';
import { IntervalSet } from './intervals.js';
import { Staging, type StagingOptions } from './staging.js';

/** Changes staged on top of a base version since the last commit. */
export class Dirty {
  readonly written = new IntervalSet();
  readonly staging: Staging;
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
  ) {
    this.baseLimit = baseSize;
    this.size = baseSize;
    this.staging = new Staging(staging);
    this.mtime = now;
    this.ctime = now;
  }

  async write(off: number, data: Buffer, now: bigint): Promise<void> {
    await this.staging.write(off, data);
    this.written.add(off, off + data.length);
    if (off + data.length > this.size) this.size = off + data.length;
    this.mtime = now;
    this.ctime = now;
    this.changed = true;
  }

  truncate(size: number, now: bigint): void {
    if (size < this.size) this.written.clipTo(size);
    if (size < this.baseLimit) this.baseLimit = size;
    this.size = size;
    this.mtime = now;
    this.ctime = now;
    this.changed = true;
  }

  /** The merged view: staged bytes over the base, zeros elsewhere. */
  async read(chunks: ChunkSource, off: number, len: number): Promise<Buffer[]> {
    const end = Math.min(off + len, this.size);
    const out: Buffer[] = [];
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
    return readExtents(chunks, this.extents, this.size, off, len);
  }

  startDirty(staging: StagingOptions, now: bigint): Dirty {
    if (!this.dirty) this.dirty = new Dirty(this.version, this.extents, this.size, staging, now);
    return this.dirty;
  }
}
