/**
 * Typed access to the metadata tables: inodes, directory entries, xattrs,
 * content versions and their extents. No policy lives here: callers (tree/,
 * fs/) decide what changes, inside their own transactions.
 */
import { type Id, TRASH_INO } from '../core/ids.js';
import type { Db, Statement } from './db.js';

export interface Inode {
  ino: Id;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  btime: bigint;
  rdev: number;
  target: Buffer | null;
  content: Id | null;
  /** Bytes of the content that are stored (holes excluded). */
  used: number;
}

export interface DirEntry {
  id: Id;
  parent: Id;
  name: Buffer;
  ino: Id;
  /** Where a deleted entry was (it is under the trash now). */
  prevParent?: Id | null;
  prevName?: Buffer | null;
  /** The pod and timestamp of the operation that placed it. */
  pod?: number;
  hlc?: bigint;
}

/** The image of a row before an operation changed it (null: it did not exist). */
export type RowImage =
  | { t: 'inode'; key: Id; row: Record<string, unknown> | null }
  | { t: 'entry'; key: Id; row: Record<string, unknown> | null }
  | { t: 'xattr'; key: [Id, Buffer]; row: Record<string, unknown> | null }
  | { t: 'net'; key: string; row: Record<string, unknown> | null };

export interface Extent {
  offset: number;
  length: number;
  /** null: a hole, reads as zeros */
  hash: Buffer | null;
}

export interface Version {
  id: Id;
  ino: Id;
  base: Id | null;
  size: number;
  created: bigint;
  /** The pod that wrote it, and the stamp of the operation that made it. */
  pod?: number;
  hlc?: bigint;
}

type Row = Record<string, unknown>;

function toInode(r: Row): Inode {
  return {
    ino: r.ino as bigint,
    mode: Number(r.mode),
    uid: Number(r.uid),
    gid: Number(r.gid),
    nlink: Number(r.nlink),
    size: Number(r.size),
    atime: r.atime as bigint,
    mtime: r.mtime as bigint,
    ctime: r.ctime as bigint,
    btime: r.btime as bigint,
    rdev: Number(r.rdev),
    target: (r.target as Buffer | null) ?? null,
    content: (r.content as bigint | null) ?? null,
    used: Number(r.used ?? 0),
  };
}

function toEntry(r: Row): DirEntry {
  return {
    id: r.id as bigint,
    parent: r.parent as bigint,
    name: r.name as Buffer,
    ino: r.ino as bigint,
    prevParent: (r.prev_parent as bigint | null) ?? null,
    prevName: (r.prev_name as Buffer | null) ?? null,
    pod: Number(r.pod ?? 0),
    hlc: (r.hlc as bigint | undefined) ?? 0n,
  };
}

/** Columns of `inodes` a setattr may change. */
export type InodeFields = Partial<Omit<Inode, 'ino'>>;
const INODE_COLUMNS = new Set([
  'mode',
  'uid',
  'gid',
  'nlink',
  'size',
  'atime',
  'mtime',
  'ctime',
  'btime',
  'rdev',
  'target',
  'content',
  'used',
]);

export class MetaStore {
  private readonly s: Record<string, Statement>;
  private readonly updates = new Map<string, Statement>();
  private readonly runTx: (fn: () => unknown) => unknown;
  /** Recently used inodes, kept in step with every write below; cleared when a transaction rolls back. */
  private readonly inodes = new Map<Id, Inode>();
  private static readonly INODE_CACHE = 8192;

  /**
   * `beforeStatement` runs before every statement: the group committer opens
   * its transaction there, so reads run inside it too and skip the WAL's
   * per-statement read locks.
   */
  constructor(
    readonly db: Db,
    private readonly beforeStatement: () => void = () => {},
  ) {
    this.runTx = db.transaction((fn: () => unknown) => fn());
    const p = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.s = {
      getInode: p('SELECT * FROM inodes WHERE ino = ?'),
      insertInode: p(
        `INSERT INTO inodes (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, btime, rdev, target, content, used)
         VALUES (@ino, @mode, @uid, @gid, @nlink, @size, @atime, @mtime, @ctime, @btime, @rdev, @target, @content, @used)`,
      ),
      deleteInode: p('DELETE FROM inodes WHERE ino = ?'),
      lookup: p('SELECT * FROM entries WHERE parent = ? AND name = ?'),
      getEntry: p('SELECT * FROM entries WHERE id = ?'),
      entriesOf: p('SELECT * FROM entries WHERE ino = ?'),
      insertEntry: p(
        'INSERT INTO entries (id, parent, name, ino, prev_parent, prev_name, pod, hlc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      moveEntry: p(
        'UPDATE entries SET parent = ?, name = ?, prev_parent = ?, prev_name = ?, pod = ?, hlc = ? WHERE id = ?',
      ),
      putEntry: p(
        'INSERT OR REPLACE INTO entries (id, parent, name, ino, prev_parent, prev_name, pod, hlc) VALUES (@id, @parent, @name, @ino, @prev_parent, @prev_name, @pod, @hlc)',
      ),
      putInode: p(
        `INSERT OR REPLACE INTO inodes (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, btime, rdev, target, content, used)
         VALUES (@ino, @mode, @uid, @gid, @nlink, @size, @atime, @mtime, @ctime, @btime, @rdev, @target, @content, @used)`,
      ),
      getXattrRow: p('SELECT * FROM xattrs WHERE ino = ? AND name = ?'),
      getNet: p('SELECT * FROM netstate WHERE key = ?'),
      putNet: p('INSERT OR REPLACE INTO netstate (key, value) VALUES (@key, @value)'),
      delNet: p('DELETE FROM netstate WHERE key = ?'),
      allNet: p('SELECT key, value FROM netstate ORDER BY key'),
      deleteEntry: p('DELETE FROM entries WHERE id = ?'),
      list: p(
        'SELECT e.id, e.name, e.ino, i.mode FROM entries e JOIN inodes i ON i.ino = e.ino WHERE e.parent = ? AND e.id > ? ORDER BY e.id LIMIT ?',
      ),
      hasChildren: p('SELECT 1 FROM entries WHERE parent = ? LIMIT 1'),
      subdirs: p(
        'SELECT count(*) AS n FROM entries e JOIN inodes i ON i.ino = e.ino WHERE e.parent = ? AND (i.mode & 61440) = 16384',
      ),
      liveLinks: p('SELECT count(*) AS n FROM entries WHERE ino = ? AND parent != 2'),
      trashedBefore: p('SELECT * FROM entries WHERE parent = 2 AND hlc < ?'),
      unlinkedInodes: p(
        'SELECT i.ino FROM inodes i WHERE i.ino > 2 AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.ino = i.ino)',
      ),
      shownBy: p('SELECT 1 FROM inodes WHERE content = ? LIMIT 1'),
      staleVersions: p(
        `SELECT v.id FROM versions v JOIN inodes i ON i.ino = v.ino JOIN versions cur ON cur.id = i.content
         WHERE v.id != i.content AND cur.hlc < ? AND NOT EXISTS (SELECT 1 FROM inodes x WHERE x.content = v.id)`,
      ),
      currentStamp: p('SELECT cur.hlc FROM inodes i JOIN versions cur ON cur.id = i.content WHERE i.ino = ?'),
      countChildren: p('SELECT count(*) AS n FROM entries WHERE parent = ?'),
      getXattr: p('SELECT value FROM xattrs WHERE ino = ? AND name = ?'),
      listXattrs: p('SELECT name FROM xattrs WHERE ino = ? ORDER BY name'),
      setXattr: p(
        'INSERT INTO xattrs (ino, name, value) VALUES (?, ?, ?) ON CONFLICT(ino, name) DO UPDATE SET value = excluded.value',
      ),
      removeXattr: p('DELETE FROM xattrs WHERE ino = ? AND name = ?'),
      removeXattrs: p('DELETE FROM xattrs WHERE ino = ?'),
      getVersion: p('SELECT * FROM versions WHERE id = ?'),
      insertVersion: p(
        'INSERT OR IGNORE INTO versions (id, ino, base, size, created, pod, hlc) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      deleteVersion: p('DELETE FROM versions WHERE id = ?'),
      versionsOf: p('SELECT id FROM versions WHERE ino = ?'),
      extents: p('SELECT offset, length, hash FROM extents WHERE version = ? ORDER BY offset'),
      insertExtent: p('INSERT OR IGNORE INTO extents (version, offset, length, hash) VALUES (?, ?, ?, ?)'),
      deleteExtents: p('DELETE FROM extents WHERE version = ?'),
      hashesOf: p('SELECT DISTINCT hash FROM extents WHERE version = ? AND hash IS NOT NULL'),
      hashUsed: p('SELECT 1 FROM extents WHERE hash = ? LIMIT 1'),
      inodesUsing: p(
        'SELECT DISTINCT v.ino FROM extents e JOIN versions v ON v.id = e.version WHERE e.hash = ? LIMIT ?',
      ),
      usedChunks: p('SELECT hash, max(length) AS length FROM extents WHERE hash IS NOT NULL GROUP BY hash'),
      chunkUses: p(
        'SELECT e.hash, e.length, v.ino FROM extents e JOIN versions v ON v.id = e.version WHERE e.hash IS NOT NULL',
      ),
      orphans: p('SELECT ino FROM inodes WHERE nlink = 0'),
      counts: p(`SELECT (SELECT count(*) FROM inodes) AS inodes, (SELECT coalesce(sum(size), 0) FROM inodes) AS bytes`),
    };
  }

  // ---- undo capture ----------------------------------------------------------

  private captureLog: RowImage[] | null = null;
  private captured: Set<string> | null = null;

  /** Starts recording the previous image of every row written, until endCapture(). */
  beginCapture(): void {
    this.captureLog = [];
    this.captured = new Set();
  }

  endCapture(): RowImage[] {
    const log = this.captureLog ?? [];
    this.captureLog = null;
    this.captured = null;
    return log;
  }

  private snap(image: () => RowImage, id: string): void {
    if (!this.captureLog || this.captured?.has(id)) return;
    this.captured?.add(id);
    this.captureLog.push(image());
  }

  private snapInode(ino: Id): void {
    this.snap(
      () => ({ t: 'inode', key: ino, row: (this.st('getInode').get(ino) as Row | undefined) ?? null }),
      `i${ino}`,
    );
  }

  private snapEntry(id: Id): void {
    this.snap(() => ({ t: 'entry', key: id, row: (this.st('getEntry').get(id) as Row | undefined) ?? null }), `e${id}`);
  }

  private snapXattr(ino: Id, name: Buffer): void {
    this.snap(
      () => ({ t: 'xattr', key: [ino, name], row: (this.st('getXattrRow').get(ino, name) as Row | undefined) ?? null }),
      `x${ino}:${name.toString('latin1')}`,
    );
  }

  /** Puts rows back as the images say, last first. */
  restore(images: RowImage[]): void {
    for (let i = images.length - 1; i >= 0; i--) {
      const im = images[i] as RowImage;
      switch (im.t) {
        case 'inode':
          this.inodes.delete(im.key);
          if (im.row) this.st('putInode').run(im.row);
          else this.st('deleteInode').run(im.key);
          break;
        case 'entry':
          if (im.row) this.st('putEntry').run(im.row);
          else this.st('deleteEntry').run(im.key);
          break;
        case 'xattr':
          if (im.row) this.st('setXattr').run(im.key[0], im.key[1], im.row.value);
          else this.st('removeXattr').run(im.key[0], im.key[1]);
          break;
        case 'net':
          if (im.row) this.st('putNet').run(im.row);
          else this.st('delNet').run(im.key);
          break;
      }
    }
  }

  private st(name: string): Statement {
    this.beforeStatement();
    const s = this.s[name];
    if (!s) throw new Error(`no statement ${name}`);
    return s;
  }

  transaction<T>(fn: () => T): T {
    this.beforeStatement();
    try {
      return this.runTx(fn) as T;
    } catch (err) {
      this.inodes.clear();
      throw err;
    }
  }

  /** Forgets every cached row (the tables were replaced underneath, by a snapshot). */
  forgetCache(): void {
    this.inodes.clear();
  }

  // ---- inodes ----------------------------------------------------------------

  private remember(i: Inode): void {
    if (this.inodes.size >= MetaStore.INODE_CACHE) {
      const first = this.inodes.keys().next();
      if (!first.done) this.inodes.delete(first.value);
    }
    this.inodes.set(i.ino, i);
  }

  getInode(ino: Id): Inode | undefined {
    const hit = this.inodes.get(ino);
    if (hit) return hit;
    const r = this.st('getInode').get(ino) as Row | undefined;
    if (!r) return undefined;
    const i = toInode(r);
    this.remember(i);
    return i;
  }

  insertInode(i: Inode): void {
    this.snapInode(i.ino);
    this.st('insertInode').run({
      ...i,
      size: BigInt(i.size),
    });
    this.remember({ ...i });
  }

  updateInode(ino: Id, fields: InodeFields): void {
    const keys = Object.keys(fields).filter((k) => (fields as Row)[k] !== undefined);
    if (keys.length === 0) return;
    for (const k of keys) if (!INODE_COLUMNS.has(k)) throw new Error(`not an inode column: ${k}`);
    this.beforeStatement();
    this.snapInode(ino);
    const sig = keys.join(',');
    let stmt = this.updates.get(sig);
    if (!stmt) {
      stmt = this.db.prepare(`UPDATE inodes SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE ino = @ino`);
      this.updates.set(sig, stmt);
    }
    const params: Row = { ino };
    for (const k of keys) params[k] = (fields as Row)[k];
    stmt.run(params);
    const cached = this.inodes.get(ino);
    if (cached)
      this.inodes.set(ino, {
        ...cached,
        ...(Object.fromEntries(keys.map((k) => [k, (fields as Row)[k]])) as InodeFields),
      });
  }

  /** Removes an inode and its xattrs for good (garbage collection, never undone). */
  deleteInode(ino: Id): void {
    this.inodes.delete(ino);
    this.st('deleteInode').run(ino);
    this.st('removeXattrs').run(ino);
  }

  orphans(): Id[] {
    return (this.st('orphans').all() as Row[]).map((r) => r.ino as bigint);
  }

  // ---- entries ---------------------------------------------------------------

  lookup(parent: Id, name: Buffer): DirEntry | undefined {
    const r = this.st('lookup').get(parent, name) as Row | undefined;
    return r ? toEntry(r) : undefined;
  }

  getEntry(id: Id): DirEntry | undefined {
    const r = this.st('getEntry').get(id) as Row | undefined;
    return r ? toEntry(r) : undefined;
  }

  entriesOf(ino: Id): DirEntry[] {
    return (this.st('entriesOf').all(ino) as Row[]).map(toEntry);
  }

  /** The first name of `ino` that is not in the trash (its folder is `parent`), if any. */
  liveEntry(ino: Id): DirEntry | undefined {
    return this.entriesOf(ino).find((e) => e.parent !== TRASH_INO);
  }

  insertEntry(e: DirEntry): void {
    this.snapEntry(e.id);
    this.st('insertEntry').run(
      e.id,
      e.parent,
      e.name,
      e.ino,
      e.prevParent ?? null,
      e.prevName ?? null,
      e.pod ?? 0,
      e.hlc ?? 0n,
    );
  }

  /** Moves an entry; `prev` records where a deleted entry was. */
  moveEntry(
    id: Id,
    parent: Id,
    name: Buffer,
    placed: { pod: number; hlc: bigint } = { pod: 0, hlc: 0n },
    prev: { parent: Id; name: Buffer } | null = null,
  ): void {
    this.snapEntry(id);
    this.st('moveEntry').run(parent, name, prev?.parent ?? null, prev?.name ?? null, placed.pod, placed.hlc, id);
  }

  deleteEntry(id: Id): void {
    this.snapEntry(id);
    this.st('deleteEntry').run(id);
  }

  /** Entries of a directory after entry id `after`, in id order. */
  list(parent: Id, after: Id, limit: number): Array<{ id: Id; name: Buffer; ino: Id; mode: number }> {
    return (this.st('list').all(parent, after, limit) as Row[]).map((r) => ({
      id: r.id as bigint,
      name: r.name as Buffer,
      ino: r.ino as bigint,
      mode: Number(r.mode),
    }));
  }

  hasChildren(parent: Id): boolean {
    return this.st('hasChildren').get(parent) !== undefined;
  }

  /** Subdirectories of a directory (its nlink is 2 more). */
  subdirCount(dir: Id): number {
    return Number((this.st('subdirs').get(dir) as Row).n);
  }

  /** Entries of an inode outside the trash. */
  liveLinks(ino: Id): number {
    return Number((this.st('liveLinks').get(ino) as Row).n);
  }

  /** Deleted entries placed in the trash by operations older than `hlc`. */
  trashedBefore(hlc: bigint): DirEntry[] {
    return (this.st('trashedBefore').all(hlc) as Row[]).map(toEntry);
  }

  /** Inodes no entry refers to (not even a deleted one). */
  unlinkedInodes(): Id[] {
    return (this.st('unlinkedInodes').all() as Row[]).map((r) => r.ino as bigint);
  }

  /** True if some inode shows this version. */
  shownBy(version: Id): boolean {
    return this.st('shownBy').get(version) !== undefined;
  }

  /** Versions their file no longer shows, of files whose current version was made before `hlc`. */
  staleVersions(hlc: bigint): Id[] {
    return (this.st('staleVersions').all(hlc) as Row[]).map((r) => r.id as bigint);
  }

  /** The stamp of the operation that made an inode's current version (null: none). */
  currentStamp(ino: Id): bigint | null {
    const r = this.st('currentStamp').get(ino) as Row | undefined;
    return r ? (r.hlc as bigint) : null;
  }

  // ---- xattrs ----------------------------------------------------------------

  getXattr(ino: Id, name: Buffer): Buffer | undefined {
    const r = this.st('getXattr').get(ino, name) as Row | undefined;
    return r ? (r.value as Buffer) : undefined;
  }

  listXattrs(ino: Id): Buffer[] {
    return (this.st('listXattrs').all(ino) as Row[]).map((r) => r.name as Buffer);
  }

  setXattr(ino: Id, name: Buffer, value: Buffer): void {
    this.snapXattr(ino, name);
    this.st('setXattr').run(ino, name, value);
  }

  removeXattr(ino: Id, name: Buffer): boolean {
    this.snapXattr(ino, name);
    return this.st('removeXattr').run(ino, name).changes > 0;
  }

  // ---- replicated network state ----------------------------------------------

  getNet(key: string): Buffer | undefined {
    const r = this.st('getNet').get(key) as Row | undefined;
    return r ? (r.value as Buffer) : undefined;
  }

  setNet(key: string, value: Buffer | null): void {
    this.snap(() => ({ t: 'net', key, row: (this.st('getNet').get(key) as Row | undefined) ?? null }), `n${key}`);
    if (value === null) this.st('delNet').run(key);
    else this.st('putNet').run({ key, value });
  }

  allNet(): Array<{ key: string; value: Buffer }> {
    return (this.st('allNet').all() as Row[]).map((r) => ({ key: r.key as string, value: r.value as Buffer }));
  }

  // ---- versions --------------------------------------------------------------

  getVersion(id: Id): Version | undefined {
    const r = this.st('getVersion').get(id) as Row | undefined;
    if (!r) return undefined;
    return {
      id: r.id as bigint,
      ino: r.ino as bigint,
      base: (r.base as bigint | null) ?? null,
      size: Number(r.size),
      created: r.created as bigint,
      pod: Number(r.pod ?? 0),
      hlc: (r.hlc as bigint | undefined) ?? 0n,
    };
  }

  insertVersion(v: Version, extents: Extent[]): void {
    this.st('insertVersion').run(v.id, v.ino, v.base, BigInt(v.size), v.created, v.pod ?? 0, v.hlc ?? 0n);
    const ins = this.st('insertExtent');
    for (const e of extents) ins.run(v.id, BigInt(e.offset), BigInt(e.length), e.hash);
  }

  extents(version: Id): Extent[] {
    return (this.st('extents').all(version) as Row[]).map((r) => ({
      offset: Number(r.offset),
      length: Number(r.length),
      hash: (r.hash as Buffer | null) ?? null,
    }));
  }

  /** Deletes a version; returns the chunk hashes no version references any more. */
  deleteVersion(id: Id): Buffer[] {
    const hashes = (this.st('hashesOf').all(id) as Row[]).map((r) => r.hash as Buffer);
    this.st('deleteExtents').run(id);
    this.st('deleteVersion').run(id);
    return hashes.filter((h) => this.st('hashUsed').get(h) === undefined);
  }

  versionsOf(ino: Id): Id[] {
    return (this.st('versionsOf').all(ino) as Row[]).map((r) => r.id as bigint);
  }

  isHashUsed(hash: Buffer): boolean {
    return this.st('hashUsed').get(hash) !== undefined;
  }

  /** Some of the inodes whose versions use a chunk. */
  inodesUsing(hash: Buffer, limit = 5): Id[] {
    return (this.st('inodesUsing').all(hash, limit) as Row[]).map((r) => r.ino as bigint);
  }

  /** Every chunk some version uses, once, with its length. */
  usedChunks(): Array<{ hash: Buffer; length: number }> {
    return (this.st('usedChunks').all() as Row[]).map((r) => ({ hash: r.hash as Buffer, length: Number(r.length) }));
  }

  /** Every use of a chunk by a version of a file (a chunk may come several times). */
  chunkUses(): Array<{ hash: Buffer; length: number; ino: Id }> {
    return (this.st('chunkUses').all() as Row[]).map((r) => ({
      hash: r.hash as Buffer,
      length: Number(r.length),
      ino: r.ino as bigint,
    }));
  }

  counts(): { inodes: number; bytes: number } {
    const r = this.st('counts').get() as Row;
    return { inodes: Number(r.inodes), bytes: Number(r.bytes) };
  }
}
