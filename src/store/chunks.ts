/**
 * The content-addressed chunk store of one pod. A chunk is named by the
 * SHA-256 of its bytes. Small chunks live in SQLite (a file each would cost
 * an inode, a directory entry and an fsync); the others are files under
 * chunks/xx/, written to a temp name, fsynced and renamed, so a crash never
 * leaves a partial chunk under a real name. Every read from disk is checked
 * against the name; a corrupt chunk is dropped and reported.
 */
import { createHash, webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { CorruptChunkError, MissingChunkError } from '../core/errors.js';
import { RamCache } from './cache.js';
import type { Db } from './db.js';

export type Hash = Buffer;

export interface ChunkStoreOptions {
  dir: string;
  db: Db;
  /** Chunks up to this size are kept in the database. */
  inlineMax?: number;
  /** RAM cache budget in bytes. */
  ramBytes?: number;
}

/** SHA-256 off the event loop for big buffers (WebCrypto runs in the thread pool). */
export async function sha256(data: Uint8Array): Promise<Hash> {
  if (data.length < 64 * 1024) return createHash('sha256').update(data).digest();
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', data));
}

export function hashHex(h: Hash): string {
  return h.toString('hex');
}

function prepare(db: Db) {
  return {
    has: db.prepare('SELECT inline FROM chunks WHERE hash = ?'),
    insert: db.prepare('INSERT OR IGNORE INTO chunks (hash, size, inline, stored) VALUES (?, ?, ?, ?)'),
    insertData: db.prepare('INSERT OR IGNORE INTO chunk_data (hash, data) VALUES (?, ?)'),
    data: db.prepare('SELECT data FROM chunk_data WHERE hash = ?'),
    del: db.prepare('DELETE FROM chunks WHERE hash = ?'),
    delData: db.prepare('DELETE FROM chunk_data WHERE hash = ?'),
    stats: db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM chunks'),
    all: db.prepare('SELECT hash FROM chunks'),
  };
}

export class ChunkStore {
  readonly dir: string;
  readonly inlineMax: number;
  readonly cache: RamCache<string>;
  private readonly tmpDir: string;
  private readonly s: ReturnType<typeof prepare>;
  private tmpSeq = 0;
  /** Chunks whose file write is under way: concurrent puts of one chunk wait for the first. */
  private readonly writing = new Map<string, Promise<void>>();
  /** Small chunks waiting to be written with the next change's transaction (see flushInline). */
  private readonly pendingInline = new Map<string, { hash: Hash; data: Buffer }>();
  /** Chunks stored for a change not yet committed: never collected meanwhile. */
  private readonly holds = new Map<string, number>();

  constructor(opts: ChunkStoreOptions) {
    this.dir = path.join(opts.dir, 'chunks');
    this.tmpDir = path.join(opts.dir, 'tmp');
    this.inlineMax = opts.inlineMax ?? 64 * 1024;
    this.cache = new RamCache<string>(opts.ramBytes ?? 256 * 1024 * 1024);
    this.s = prepare(opts.db);
  }

  start(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
    fs.mkdirSync(this.tmpDir, { recursive: true });
    for (let i = 0; i < 256; i++)
      fs.mkdirSync(path.join(this.dir, i.toString(16).padStart(2, '0')), { recursive: true });
  }

  stop(): void {
    this.cache.clear();
  }

  pathOf(hash: Hash): string {
    const hex = hashHex(hash);
    return path.join(this.dir, hex.slice(0, 2), hex);
  }

  has(hash: Hash): boolean {
    return this.pendingInline.has(hashHex(hash)) || this.s.has.get(hash) !== undefined;
  }

  /**
   * Stores a chunk whose hash the caller computed. Resolves once it is in
   * place under its name (and on stable storage if `durable`).
   */
  async put(hash: Hash, data: Buffer, durable = true): Promise<void> {
    const key = hashHex(hash);
    this.holds.set(key, (this.holds.get(key) ?? 0) + 1);
    if (data.length <= this.inlineMax) {
      // Written by flushInline() in the transaction of the change that uses it: one commit, not two.
      if (!this.pendingInline.has(key) && this.s.has.get(hash) === undefined)
        this.pendingInline.set(key, { hash, data });
      this.cache.set(key, data);
      return;
    }
    const pending = this.writing.get(key);
    if (pending) return pending;
    if (this.has(hash)) {
      this.cache.set(key, data);
      return;
    }
    const p = this.writeFile(hash, data, durable).finally(() => this.writing.delete(key));
    this.writing.set(key, p);
    await p;
    this.s.insert.run(hash, data.length, 0, Date.now());
    this.cache.set(key, data);
  }

  private async writeFile(hash: Hash, data: Buffer, durable: boolean): Promise<void> {
    const tmp = path.join(this.tmpDir, `${process.pid}-${++this.tmpSeq}`);
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data);
      if (durable) await fh.datasync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, this.pathOf(hash));
  }

  /** Writes the small chunks put since the last call; runs inside the caller's transaction. */
  flushInline(): void {
    if (this.pendingInline.size === 0) return;
    const now = Date.now();
    for (const { hash, data } of this.pendingInline.values()) {
      this.s.insertData.run(hash, data);
      this.s.insert.run(hash, data.length, 1, now);
    }
    this.pendingInline.clear();
  }

  /** The chunk's bytes, verified. */
  async get(hash: Hash): Promise<Buffer> {
    const key = hashHex(hash);
    const hit = this.cache.get(key) ?? this.pendingInline.get(key)?.data;
    if (hit) return hit;
    const pending = this.writing.get(key);
    if (pending) await pending;
    const row = this.s.has.get(hash) as { inline: number } | undefined;
    if (!row) throw new MissingChunkError(key);
    let data: Buffer;
    if (row.inline) {
      const r = this.s.data.get(hash) as { data: Buffer } | undefined;
      if (!r) throw new MissingChunkError(key);
      data = r.data;
    } else {
      try {
        data = await fsp.readFile(this.pathOf(hash));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.forget(hash);
          throw new MissingChunkError(key);
        }
        throw err;
      }
    }
    const actual = await sha256(data);
    if (!actual.equals(hash)) {
      this.remove(hash);
      throw new CorruptChunkError(key, row.inline ? 'database' : this.pathOf(hash));
    }
    this.cache.set(key, data);
    return data;
  }

  /** Drops the chunk's record (the file is gone). */
  private forget(hash: Hash): void {
    this.s.del.run(hash);
    this.s.delData.run(hash);
  }

  /** Ends the holds that put() took, once the change using the chunks is committed (or abandoned). */
  release(hashes: Iterable<Hash>): void {
    for (const h of hashes) {
      const key = hashHex(h);
      const n = (this.holds.get(key) ?? 0) - 1;
      if (n > 0) this.holds.set(key, n);
      else this.holds.delete(key);
    }
  }

  isHeld(hash: Hash): boolean {
    return this.holds.has(hashHex(hash));
  }

  /** Deletes a chunk this pod no longer needs. */
  remove(hash: Hash): void {
    if (this.isHeld(hash)) return;
    this.cache.delete(hashHex(hash));
    this.pendingInline.delete(hashHex(hash));
    const row = this.s.has.get(hash) as { inline: number } | undefined;
    if (!row) return;
    this.forget(hash);
    if (!row.inline) fs.rm(this.pathOf(hash), { force: true }, () => {});
  }

  /** Makes the named chunk files durable (fsync); inline chunks ride on the database sync. */
  async sync(hashes: Iterable<Hash>): Promise<void> {
    const jobs: Array<Promise<void>> = [];
    const dirs = new Set<string>();
    for (const h of hashes) {
      const row = this.s.has.get(h) as { inline: number } | undefined;
      if (!row || row.inline) continue;
      const p = this.pathOf(h);
      dirs.add(path.dirname(p));
      jobs.push(
        fsp.open(p, 'r').then(async (fh) => {
          try {
            await fh.datasync();
          } finally {
            await fh.close();
          }
        }),
      );
    }
    await Promise.all(jobs);
    await Promise.all([...dirs].map((d) => syncDir(d)));
  }

  stats(): { chunks: number; bytes: number } {
    const r = this.s.stats.get() as { n: number; bytes: number };
    return { chunks: r.n, bytes: r.bytes };
  }

  allHashes(): Hash[] {
    return (this.s.all.all() as Array<{ hash: Buffer }>).map((r) => r.hash);
  }
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
