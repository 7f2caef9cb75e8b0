/**
 * The content-addressed chunk store of one pod. A chunk is named by the
 * SHA-256 of its bytes. Small chunks live in SQLite; the others are appended
 * to pack files (packs/NNNNNNNN.pack) by the pipeline's store worker: one
 * append each, where a file per chunk cost an inode, a directory entry and
 * a rename. A chunk is listed only once its bytes are in place, so a crash
 * never leaves a listed chunk half-written; every read is checked against
 * the name, and a corrupt chunk is dropped and reported. Chunks no longer
 * needed leave garbage in their pack; compact() rewrites packs that are
 * mostly garbage.
 */
import { createHash, webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { CorruptChunkError, MissingChunkError } from '../core/errors.js';
import { RamCache } from './cache.js';
import type { Db } from './db.js';
import { ChunkPipeline, type ChunkRef, type ChunkStream, type PackPlace } from './pipeline.js';

export type Hash = Buffer;

export interface ChunkStoreOptions {
  dir: string;
  db: Db;
  /** Chunks up to this size are kept in the database. */
  inlineMax?: number;
  /** RAM cache budget in bytes. */
  ramBytes?: number;
  /** Size at which a pack is closed and a new one begun. */
  packMax?: number;
  /** Runs before statements that change the index (the group committer opens its transaction). */
  beforeStatement?: () => void;
  /** Commits the index now (the group committer's flush): compaction needs moved chunks committed. */
  commit?: () => void;
}

/** SHA-256 off the event loop for big buffers (WebCrypto runs in the thread pool). */
export async function sha256(data: Uint8Array): Promise<Hash> {
  if (data.length < 64 * 1024) return createHash('sha256').update(data).digest();
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', data));
}

export function hashHex(h: Hash): string {
  return h.toString('hex');
}

interface Row {
  size: number;
  pack: number | null;
  offset: number | null;
}

function prepare(db: Db) {
  return {
    get: db.prepare('SELECT size, pack, offset FROM chunks WHERE hash = ?'),
    insert: db.prepare('INSERT OR IGNORE INTO chunks (hash, size, pack, offset, stored) VALUES (?, ?, ?, ?, ?)'),
    move: db.prepare('UPDATE chunks SET pack = ?, offset = ? WHERE hash = ? AND pack = ? AND offset = ?'),
    insertData: db.prepare('INSERT OR IGNORE INTO chunk_data (hash, data) VALUES (?, ?)'),
    data: db.prepare('SELECT data FROM chunk_data WHERE hash = ?'),
    del: db.prepare('DELETE FROM chunks WHERE hash = ?'),
    delData: db.prepare('DELETE FROM chunk_data WHERE hash = ?'),
    stats: db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM chunks'),
    packGrow: db.prepare(
      'INSERT INTO packs (id, end, live) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET end = max(end, excluded.end), live = live + excluded.live',
    ),
    packLive: db.prepare('UPDATE packs SET live = live + ? WHERE id = ?'),
    packs: db.prepare('SELECT id, end, live FROM packs ORDER BY id'),
    packDel: db.prepare('DELETE FROM packs WHERE id = ?'),
    inPack: db.prepare('SELECT hash, size, offset FROM chunks WHERE pack = ?'),
    maxPack: db.prepare('SELECT max(id) AS id FROM packs'),
    all: db.prepare('SELECT hash FROM chunks'),
    after: db.prepare('SELECT hash FROM chunks WHERE hash > ? ORDER BY hash LIMIT ?'),
    held: db.prepare('SELECT hash, size, stored FROM chunks'),
  };
}

export interface PackInfo {
  id: number;
  end: number;
  live: number;
}

/** Open pack files for reading, a few at a time. */
class PackReaders {
  private readonly open = new Map<number, Promise<fsp.FileHandle>>();
  constructor(private readonly dir: string) {}

  path(id: number): string {
    return path.join(this.dir, `${String(id).padStart(8, '0')}.pack`);
  }

  async read(id: number, offset: number, length: number): Promise<Buffer> {
    let fh = this.open.get(id);
    if (!fh) {
      if (this.open.size >= 64) await this.close(this.open.keys().next().value as number);
      fh = fsp.open(this.path(id), 'r');
      this.open.set(id, fh);
      fh.catch(() => this.open.delete(id));
    }
    const h = await fh;
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await h.read(out, done, length - done, offset + done);
      if (bytesRead === 0)
        throw Object.assign(new Error(`pack ${id} ends before ${offset + length}`), { code: 'ESHORT' });
      done += bytesRead;
    }
    return out;
  }

  async close(id: number): Promise<void> {
    const fh = this.open.get(id);
    this.open.delete(id);
    if (fh) await (await fh.catch(() => undefined))?.close();
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.open.keys()]) await this.close(id);
  }
}

export class ChunkStore {
  readonly dir: string;
  readonly packDir: string;
  readonly inlineMax: number;
  readonly cache: RamCache<string>;
  private readonly s: ReturnType<typeof prepare>;
  private readonly readers: PackReaders;
  private readonly beforeStatement: () => void;
  private readonly commitNow: () => void;
  private pipeline: ChunkPipeline | undefined;
  private readonly packMax: number;
  /** The pack the worker writes now: never compacted. */
  private activePack = 0;
  /** Small chunks waiting to be written with the next change's transaction (see flushInline). */
  private readonly pendingInline = new Map<string, { hash: Hash; data: Buffer }>();
  /** Chunks stored for a change not yet committed: never collected meanwhile. */
  private readonly holds = new Map<string, number>();
  /** Chunks being appended by put(): concurrent puts of one chunk wait for the first. */
  private readonly putting = new Map<string, Promise<void>>();
  private compacting: Promise<number> | undefined;
  private readonly loading = new Map<string, Promise<Buffer>>();
  /**
   * Where to get a chunk this pod does not hold (other pods); the answer is
   * verified there and kept here. Without it a missing chunk is an error.
   */
  remote: ((hash: Hash) => Promise<Buffer>) | undefined;
  /** Told of every chunk listed (true) or forgotten (false): the inventory other pods poll. */
  onChange: ((hash: Hash, present: boolean) => void) | undefined;
  /** Whether chunks fetched from other pods are kept on disk (a client pod keeps them in RAM only). */
  keepFetched = true;

  constructor(opts: ChunkStoreOptions) {
    this.dir = opts.dir;
    this.packDir = path.join(opts.dir, 'packs');
    this.beforeStatement = opts.beforeStatement ?? (() => {});
    this.commitNow = opts.commit ?? (() => {});
    this.inlineMax = opts.inlineMax ?? 64 * 1024;
    this.packMax = opts.packMax ?? 256 * 1024 * 1024;
    this.cache = new RamCache<string>(opts.ramBytes ?? 256 * 1024 * 1024);
    this.s = prepare(opts.db);
    this.readers = new PackReaders(this.packDir);
  }

  /** Opens the store: removes pack files nothing refers to (left by a crash) and starts the workers. */
  start(): void {
    fs.mkdirSync(this.packDir, { recursive: true });
    const known = new Set(this.packs().map((p) => p.id));
    let max = Number((this.s.maxPack.get() as { id: number | null }).id ?? 0);
    for (const f of fs.readdirSync(this.packDir)) {
      const m = /^(\d+)\.pack$/.exec(f);
      if (!m) continue;
      const id = Number(m[1]);
      max = Math.max(max, id);
      if (!known.has(id)) fs.rmSync(path.join(this.packDir, f), { force: true });
    }
    this.activePack = max + 1;
    this.pipeline = new ChunkPipeline({
      packDir: this.packDir,
      firstPack: this.activePack,
      packMax: this.packMax,
      inlineMax: this.inlineMax,
    });
    this.pipeline.start();
  }

  async stop(): Promise<void> {
    await this.compacting?.catch(() => 0);
    await this.pipeline?.stop();
    this.pipeline = undefined;
    await this.readers.closeAll();
    this.cache.clear();
  }

  private get pipe(): ChunkPipeline {
    if (!this.pipeline) throw new Error('the chunk store is stopped');
    return this.pipeline;
  }

  /**
   * A stream chunked, hashed and stored off the event loop. Each chunk is
   * recorded and held as it arrives: release() its hashes once the change
   * using them is committed (or abandoned).
   */
  openStream(): ChunkStream {
    const s = this.pipe.open();
    s.onChunk = (c) => this.adopt(c);
    return s;
  }

  private hold(key: string): void {
    this.holds.set(key, (this.holds.get(key) ?? 0) + 1);
  }

  /** Records a chunk now in place (in a pack, or bytes to keep inline), and holds it. */
  private adopt(c: ChunkRef): void {
    const key = hashHex(c.hash);
    this.hold(key);
    if (c.pack === null) {
      if (c.data && !this.pendingInline.has(key) && this.s.get.get(c.hash) === undefined) {
        this.pendingInline.set(key, { hash: c.hash, data: c.data });
      }
      return;
    }
    this.record(c.hash, c.length, { pack: c.pack, offset: c.at });
  }

  /** Lists a chunk appended at `place`; a copy of a chunk already listed is garbage in its pack. */
  private record(hash: Hash, size: number, place: PackPlace): void {
    this.beforeStatement();
    if (place.pack > this.activePack) this.activePack = place.pack;
    const fresh = this.s.insert.run(hash, size, place.pack, place.offset, Date.now()).changes > 0;
    this.s.packGrow.run(place.pack, place.offset + size, fresh ? size : 0);
    if (fresh) this.onChange?.(hash, true);
  }

  has(hash: Hash): boolean {
    return this.pendingInline.has(hashHex(hash)) || this.s.get.get(hash) !== undefined;
  }

  /** Stores a chunk whose hash the caller computed, and holds it until release(). */
  async put(hash: Hash, data: Buffer): Promise<void> {
    const key = hashHex(hash);
    this.hold(key);
    if (data.length <= this.inlineMax) {
      // Written by flushInline() in the transaction of the change that uses it: one commit, not two.
      if (!this.pendingInline.has(key) && this.s.get.get(hash) === undefined)
        this.pendingInline.set(key, { hash, data });
      this.cache.set(key, data);
      return;
    }
    const pending = this.putting.get(key);
    if (pending) return pending;
    if (this.s.get.get(hash) !== undefined) {
      this.cache.set(key, data);
      return;
    }
    const p = this.pipe
      .append(data)
      .then((place) => this.record(hash, data.length, place))
      .finally(() => this.putting.delete(key));
    this.putting.set(key, p);
    await p;
    this.cache.set(key, data);
  }

  /** Writes the small chunks put since the last call; runs inside the caller's transaction. */
  flushInline(): void {
    if (this.pendingInline.size === 0) return;
    const now = Date.now();
    for (const { hash, data } of this.pendingInline.values()) {
      this.s.insertData.run(hash, data);
      if (this.s.insert.run(hash, data.length, null, null, now).changes > 0) this.onChange?.(hash, true);
    }
    this.pendingInline.clear();
  }

  /** The chunk's bytes, verified. Concurrent reads of one chunk share one load. */
  get(hash: Hash): Promise<Buffer> {
    const key = hashHex(hash);
    const hit = this.cache.get(key) ?? this.pendingInline.get(key)?.data;
    if (hit) return Promise.resolve(hit);
    let p = this.loading.get(key);
    if (!p) {
      p = this.load(hash, key).finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  /** Starts loading a chunk into the RAM cache (read-ahead); errors are left for a real read to report. */
  prefetch(hash: Hash): void {
    const key = hashHex(hash);
    if (this.cache.has(key) || this.loading.has(key)) return;
    this.get(hash).catch(() => {});
  }

  /** A chunk's bytes if they are in memory now (cache, or small and not yet written), else null. */
  peek(hash: Hash): Buffer | null {
    const key = hashHex(hash);
    return this.cache.get(key) ?? this.pendingInline.get(key)?.data ?? null;
  }

  /** This pod's copy of a chunk, verified, or null: never asks other pods. */
  async getLocal(hash: Hash): Promise<Buffer | null> {
    try {
      return await this.loadLocal(hash, hashHex(hash));
    } catch (err) {
      if ((err as Error).name === 'MissingChunkError' || (err as Error).name === 'CorruptChunkError') return null;
      throw err;
    }
  }

  /** Whether the chunk is listed here (not just staged for the next commit). */
  stored(hash: Hash): boolean {
    return this.s.get.get(hash) !== undefined;
  }

  /**
   * Keeps a replica another pod sent, durably before returning: its bytes
   * synced and its listing committed, so the sender may count on it (and
   * drop its own surplus copy).
   */
  async keepDurable(hash: Hash, data: Buffer): Promise<void> {
    await this.put(hash, data);
    try {
      if (this.pendingInline.has(hashHex(hash))) {
        this.beforeStatement();
        this.flushInline();
      }
      await this.sync([hash]);
      this.commitNow();
    } finally {
      this.release([hash]);
    }
  }

  /** Keeps a copy of a chunk that came from another pod (not held: nothing here may use it yet). */
  async keep(hash: Hash, data: Buffer): Promise<void> {
    await this.put(hash, data);
    this.release([hash]);
  }

  private async load(hash: Hash, key: string): Promise<Buffer> {
    try {
      return await this.loadLocal(hash, key);
    } catch (err) {
      const name = (err as Error).name;
      if (!this.remote || (name !== 'MissingChunkError' && name !== 'CorruptChunkError')) throw err;
      const data = await this.remote(hash);
      // The reader need not wait for the local copy: it goes to the RAM cache
      // now and to a pack in the background (if that fails, the chunk is
      // simply fetched again next time).
      this.cache.set(key, data);
      if (this.keepFetched) this.keep(hash, data).catch(() => {});
      return data;
    }
  }

  private async loadLocal(hash: Hash, key: string): Promise<Buffer> {
    const hit = this.cache.get(key) ?? this.pendingInline.get(key)?.data;
    if (hit) return hit;
    await this.putting.get(key);
    for (let attempt = 0; ; attempt++) {
      const row = this.s.get.get(hash) as Row | undefined;
      if (!row) throw new MissingChunkError(key);
      let data: Buffer;
      if (row.pack === null) {
        const r = this.s.data.get(hash) as { data: Buffer } | undefined;
        if (!r) throw new MissingChunkError(key);
        data = r.data;
      } else {
        try {
          data = await this.readers.read(row.pack, Number(row.offset), row.size);
        } catch (err) {
          // Compaction may have moved the chunk while we read: look again once.
          if (attempt === 0 && this.s.get.get(hash) !== undefined) continue;
          if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESHORT') {
            this.drop(hash);
            throw new MissingChunkError(key);
          }
          throw err;
        }
      }
      const actual = await sha256(data);
      if (!actual.equals(hash)) {
        this.drop(hash);
        throw new CorruptChunkError(key, row.pack === null ? 'database' : this.readers.path(row.pack));
      }
      this.cache.set(key, data);
      return data;
    }
  }

  /** Ends the holds that put() and streams took, once the change using the chunks is committed (or abandoned). */
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

  /** Forgets a chunk: its bytes become garbage in their pack. */
  private drop(hash: Hash): void {
    this.beforeStatement();
    const row = this.s.get.get(hash) as Row | undefined;
    this.cache.delete(hashHex(hash));
    this.pendingInline.delete(hashHex(hash));
    if (!row) return;
    this.s.del.run(hash);
    if (row.pack === null) this.s.delData.run(hash);
    else this.s.packLive.run(-row.size, row.pack);
    this.onChange?.(hash, false);
  }

  /** Deletes a chunk this pod no longer needs (unless held). */
  remove(hash: Hash): void {
    if (!this.isHeld(hash)) this.drop(hash);
  }

  /** Makes the named chunks durable: fdatasync of the packs holding them. */
  async sync(hashes: Iterable<Hash>): Promise<void> {
    const packs = new Set<number>();
    for (const h of hashes) {
      const row = this.s.get.get(h) as Row | undefined;
      if (row?.pack !== null && row?.pack !== undefined) packs.add(row.pack);
    }
    if (packs.size) await this.pipe.sync([...packs]);
  }

  /** Up to `limit` hashes after `after`, in order (pages of the inventory). */
  listAfter(after: Hash, limit: number): Hash[] {
    return (this.s.after.all(after, limit) as Array<{ hash: Buffer }>).map((r) => r.hash);
  }

  /** Every chunk on disk here, with its size and when it was stored. */
  held(): Array<{ hash: Hash; size: number; stored: number }> {
    return (this.s.held.all() as Array<{ hash: Buffer; size: number; stored: number }>).map((r) => ({
      hash: r.hash,
      size: Number(r.size),
      stored: Number(r.stored),
    }));
  }

  allHashes(): Hash[] {
    return (this.s.all.all() as Array<{ hash: Buffer }>).map((r) => r.hash);
  }

  packs(): PackInfo[] {
    return (this.s.packs.all() as PackInfo[]).map((p) => ({
      id: Number(p.id),
      end: Number(p.end),
      live: Number(p.live),
    }));
  }

  stats(): { chunks: number; bytes: number; packs: number; packBytes: number } {
    const r = this.s.stats.get() as { n: number; bytes: number };
    const packs = this.packs();
    return { chunks: r.n, bytes: r.bytes, packs: packs.length, packBytes: packs.reduce((a, p) => a + p.end, 0) };
  }

  /**
   * Rewrites closed packs whose live bytes fell under `ratio` of their size:
   * their live chunks are appended to the active pack, then the file goes.
   * Returns the bytes reclaimed.
   */
  compact(ratio = 0.5): Promise<number> {
    this.compacting ??= this.compactNow(ratio).finally(() => {
      this.compacting = undefined;
    });
    return this.compacting;
  }

  private async compactNow(ratio: number): Promise<number> {
    let reclaimed = 0;
    for (const p of this.packs()) {
      if (p.id >= this.activePack || p.live >= p.end * ratio || !this.pipeline) continue;
      const written = new Set<number>();
      for (const c of this.s.inPack.all(p.id) as Array<{ hash: Buffer; size: number; offset: number }>) {
        let data: Buffer;
        try {
          data = await this.readers.read(p.id, Number(c.offset), c.size);
        } catch {
          continue;
        }
        if (!(await sha256(data)).equals(c.hash)) continue;
        const place = await this.pipe.append(data);
        written.add(place.pack);
        this.beforeStatement();
        if (place.pack > this.activePack) this.activePack = place.pack;
        if (this.s.move.run(place.pack, place.offset, c.hash, p.id, c.offset).changes > 0) {
          this.s.packGrow.run(place.pack, place.offset + c.size, c.size);
          this.s.packLive.run(-c.size, p.id);
        } else {
          this.s.packGrow.run(place.pack, place.offset + c.size, 0);
        }
      }
      // The moved chunks must be on disk and listed at their new place before their old copies go.
      await this.pipe.sync([...written]);
      this.commitNow();
      if ((this.s.inPack.all(p.id) as unknown[]).length > 0) continue;
      this.beforeStatement();
      this.s.packDel.run(p.id);
      this.commitNow();
      await this.readers.close(p.id);
      await fsp.rm(this.readers.path(p.id), { force: true });
      reclaimed += p.end;
    }
    return reclaimed;
  }

  /**
   * Drops the chunks nothing uses any more (not referenced by `isUsed`, not
   * held): run after a restart, when holds of changes that never committed
   * are gone. Yields to the event loop between batches.
   */
  async sweep(isUsed: (hash: Hash) => boolean): Promise<number> {
    let dropped = 0;
    const all = this.allHashes();
    for (let i = 0; i < all.length; i++) {
      const h = all[i] as Hash;
      if (!this.isHeld(h) && !isUsed(h)) {
        this.drop(h);
        dropped++;
      }
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
    }
    return dropped;
  }
}
