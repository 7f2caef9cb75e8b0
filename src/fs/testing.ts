/**
 * Test harness for the file-system layer: a FileSystem wired exactly as a
 * pod wires it (daemon/pod.ts), on a temp dir that the test's teardown
 * removes. reopen() closes everything and opens the same dir again, cleanly
 * or as after a crash of the daemon.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { silentLogger } from '../core/log.js';
import { ChunkStore } from '../store/chunks.js';
import { Committer } from '../store/committer.js';
import { type Db, getMeta, openDatabase, setMeta } from '../store/db.js';
import { IdAllocator } from '../store/ids.js';
import { type Extent, MetaStore } from '../store/meta.js';
import { Tree } from '../tree/tree.js';
import type { FsCore } from './core.js';
import { FileSystem } from './filesystem.js';
import type { Caller } from './types.js';

export interface HarnessOptions {
  /** Passed to FsOptions.readOnly. */
  readOnly?: () => boolean;
  /** Passed to FsOptions.stagingMemory. */
  stagingMemory?: number;
  /** Group-commit window of the metadata store, as `metadata.commit_interval` (ms). */
  commitInterval?: number;
}

export const USER: Caller = { uid: 1000, gid: 1000, pid: 4242 };

/** Names are bytes in the file system. */
export const b = (s: string): Buffer => Buffer.from(s);

export class FsHarness {
  private db!: Db;
  private committer!: Committer;
  /**
   * A daemon always has live handles (the FUSE channel, its control socket);
   * this stands in for them, so awaiting the chunk store's unref'd worker
   * does not let the test process run out of things to wait for.
   */
  private keepAlive: NodeJS.Timeout | undefined;
  fs!: FileSystem;
  chunks!: ChunkStore;
  meta!: MetaStore;
  tree!: Tree;

  constructor(
    readonly dir: string,
    private readonly opts: HarnessOptions,
  ) {
    this.open();
  }

  get core(): FsCore {
    return this.fs.core;
  }

  /** The same steps as Pod.open(), minus the mount and the WAL checkpointer. */
  private open(): void {
    const db = openDatabase(path.join(this.dir, 'meta.db'));
    let prefix = getMeta(db, 'pod_prefix');
    if (typeof prefix !== 'bigint') {
      setMeta(db, 'pod_prefix', 7);
      prefix = 7n;
    }
    const committer = new Committer(db, this.opts.commitInterval ?? 10);
    const meta = new MetaStore(db, () => committer.open());
    const pod = Number(prefix);
    const tree = new Tree({ meta, ids: new IdAllocator(db, pod), pod, committer });
    const chunks = new ChunkStore({ dir: this.dir, db, beforeStatement: () => committer.open() });
    chunks.start();
    const fsys = new FileSystem({
      meta,
      tree,
      chunks,
      stagingDir: path.join(this.dir, 'staging'),
      dataDir: this.dir,
      log: silentLogger(),
      stagingMemory: this.opts.stagingMemory,
      readOnly: this.opts.readOnly,
    });
    tree.onFreed = (hashes) => fsys.core.collect(hashes);
    tree.beforeApply = () => chunks.flushInline();
    fsys.start();
    this.keepAlive = setInterval(() => {}, 60_000);
    this.db = db;
    this.committer = committer;
    this.meta = meta;
    this.tree = tree;
    this.chunks = chunks;
    this.fs = fsys;
  }

  /**
   * Closes the database. Cleanly: open files are committed and closed, as
   * when a pod stops. As a crash: staged writes and the open group-commit
   * transaction are lost (only what close, fsync or syncAll made durable stays).
   */
  async close(opts: { crash?: boolean } = {}): Promise<void> {
    if (!this.db.open) return;
    if (opts.crash) {
      for (const s of this.core.files.values()) await s.dirty?.staging.close();
      this.core.files.clear();
      this.core.handles.clear();
    } else {
      await this.fs.stop();
      this.committer.close();
    }
    await this.chunks.stop();
    this.db.close();
    clearInterval(this.keepAlive);
  }

  async reopen(opts: { crash?: boolean } = {}): Promise<void> {
    await this.close(opts);
    this.open();
  }

  /** Whether the group-commit transaction holds changes not yet committed. */
  get uncommitted(): boolean {
    return this.db.inTransaction;
  }

  /** The extents of an inode's committed content version. */
  extents(ino: bigint): Extent[] {
    const v = this.meta.getInode(ino)?.content ?? null;
    return v === null ? [] : this.meta.extents(v);
  }

  /** Hashes of every chunk the chunk store holds, as hex. */
  storedChunks(): Set<string> {
    return new Set(this.chunks.allHashes().map((h) => h.toString('hex')));
  }
}

/** A file system on a fresh temp dir; the test's teardown closes it and removes the dir. */
export function createFs(t: TestContext, opts: HarnessOptions = {}): FsHarness {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wormhole-fs-'));
  let h: FsHarness;
  try {
    h = new FsHarness(dir, opts);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  t.after(async () => {
    try {
      await h.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  return h;
}

/** Reads [offset, offset+length) through a handle as one buffer. */
export async function readAll(fsys: FileSystem, fh: bigint, offset: number, length: number): Promise<Buffer> {
  return Buffer.concat(await fsys.read(fh, offset, length));
}

/** A small seeded PRNG (sfc32), so random tests replay exactly from their seed. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed | 0;
    for (let i = 0; i < 16; i++) this.next();
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 2 ** 32) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    const words = new Uint32Array(out.buffer, out.byteOffset, n >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = this.next();
    for (let i = words.length * 4; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}
