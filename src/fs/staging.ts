/**
 * Where writes to an open file wait until close or fsync commits them: in
 * memory while the file is small, then in a sparse file on the pod's disk
 * at the same offsets. Staged bytes are not yet acknowledged, so a crash may
 * drop them; the staging directory is emptied at start.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

export interface StagingOptions {
  dir: string;
  /** Writes ending below this offset stay in memory. */
  memoryLimit: number;
}

let seq = 0;

export class Staging {
  private mem: Buffer | null = Buffer.allocUnsafe(0);
  private memEnd = 0;
  private file: fsp.FileHandle | null = null;
  private filePath = '';

  constructor(private readonly opts: StagingOptions) {}

  get onDisk(): boolean {
    return this.file !== null;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    const end = offset + data.length;
    if (this.mem && end <= this.opts.memoryLimit) {
      if (end > this.mem.length) {
        const grown = Buffer.alloc(Math.min(this.opts.memoryLimit, Math.max(end, this.mem.length * 2, 64 * 1024)));
        this.mem.copy(grown, 0, 0, this.memEnd);
        this.mem = grown;
      }
      data.copy(this.mem, offset);
      this.memEnd = Math.max(this.memEnd, end);
      return;
    }
    if (!this.file) await this.spill();
    const fh = this.file as fsp.FileHandle;
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  }

  private async spill(): Promise<void> {
    this.filePath = path.join(this.opts.dir, `${process.pid}-${++seq}`);
    const fh = await fsp.open(this.filePath, 'w+', 0o600);
    this.file = fh;
    if (this.mem && this.memEnd > 0) await fh.write(this.mem, 0, this.memEnd, 0);
    this.mem = null;
  }

  /** Reads staged bytes; the caller only asks for ranges it wrote. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (this.mem) {
      const out = Buffer.alloc(length);
      if (offset < this.memEnd) this.mem.copy(out, 0, offset, Math.min(this.memEnd, offset + length));
      return out;
    }
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await (this.file as fsp.FileHandle).read(out, done, length - done, offset + done);
      if (bytesRead === 0) {
        out.fill(0, done);
        break;
      }
      done += bytesRead;
    }
    return out;
  }

  /** Forgets all staged bytes (after a commit), keeping the staging place. */
  async reset(): Promise<void> {
    if (this.file) await this.file.truncate(0);
    else this.memEnd = 0;
  }

  async close(): Promise<void> {
    const fh = this.file;
    this.file = null;
    this.mem = null;
    if (fh) {
      await fh.close();
      await fsp.rm(this.filePath, { force: true });
    }
  }
}
