/**
 * The replicated file tree of one pod: applies operations to the metadata
 * store, each logged with its timestamp in the same transaction as its
 * effect, and removes inodes nothing refers to any more.
 */
import { Hlc, type Timestamp } from '../core/hlc.js';
import { type Id, ROOT_INO } from '../core/ids.js';
import { nowNs } from '../core/time.js';
import type { Committer } from '../store/committer.js';
import type { Statement } from '../store/db.js';
import type { IdAllocator } from '../store/ids.js';
import type { MetaStore } from '../store/meta.js';
import { applyOp } from './apply.js';
import { encodeOp, type TreeOp } from './ops.js';

export interface TreeOptions {
  meta: MetaStore;
  ids: IdAllocator;
  /** This pod's number in operation stamps (tie-break between equal timestamps). */
  pod: number;
  clock?: Hlc;
  /** Group commit; without it every change commits on its own. */
  committer?: Committer;
}

export class Tree {
  readonly meta: MetaStore;
  readonly ids: IdAllocator;
  readonly pod: number;
  readonly clock: Hlc;
  readonly committer: Committer | undefined;
  private readonly logInsert: Statement;
  private readonly logTrim: Statement;
  private readonly logCount: Statement;
  /** Called after a committed change with the chunks it released. */
  onFreed: (hashes: Buffer[]) => void = () => {};
  /** Runs inside every change's transaction, before its operations (the chunk store records new small chunks). */
  beforeApply: () => void = () => {};

  constructor(opts: TreeOptions) {
    this.meta = opts.meta;
    this.ids = opts.ids;
    this.pod = opts.pod;
    this.clock = opts.clock ?? new Hlc();
    this.committer = opts.committer;
    const db = this.meta.db;
    this.logInsert = db.prepare('INSERT INTO oplog (hlc, pod, body) VALUES (?, ?, ?)');
    this.logTrim = db.prepare('DELETE FROM oplog WHERE hlc <= ?');
    this.logCount = db.prepare('SELECT count(*) AS n FROM oplog');
    this.ensureRoot();
  }

  private ensureRoot(): void {
    if (this.meta.getInode(ROOT_INO)) return;
    const t = nowNs();
    this.meta.insertInode({
      ino: ROOT_INO,
      mode: 0o040755,
      uid: 0,
      gid: 0,
      nlink: 2,
      size: 0,
      atime: t,
      mtime: t,
      ctime: t,
      btime: t,
      rdev: 0,
      target: null,
      content: null,
      used: 0,
    });
  }

  newId(): Id {
    return this.ids.allocate();
  }

  /** Applies local operations atomically: all are logged and take effect, or none. */
  apply(ops: TreeOp[]): Timestamp[] {
    this.committer?.open();
    const freed: Buffer[] = [];
    const stamps = this.atomically(() => {
      this.ids.persist();
      this.beforeApply();
      const out: Timestamp[] = [];
      for (const op of ops) {
        const hlc = this.clock.now();
        this.logInsert.run(hlc, this.pod, encodeOp(op));
        freed.push(...applyOp(this.meta, op));
        out.push(hlc);
      }
      return out;
    });
    if (freed.length) this.onFreed(freed);
    return stamps;
  }

  /** Removes an inode with no links and no users left: it, its xattrs and its versions. */
  purge(ino: Id): void {
    this.committer?.open();
    const freed: Buffer[] = [];
    this.atomically(() => {
      const inode = this.meta.getInode(ino);
      if (!inode || inode.nlink > 0) return;
      for (const v of this.meta.versionsOf(ino)) freed.push(...this.meta.deleteVersion(v));
      this.meta.deleteInode(ino);
    });
    if (freed.length) this.onFreed(freed);
  }

  private atomically<T>(fn: () => T): T {
    return this.meta.transaction(fn);
  }

  /** Commits every change made so far (a durability point). */
  commitNow(): void {
    this.committer?.flush();
  }

  /** Drops logged operations up to `upTo` once every pod has them. */
  compactLog(upTo: Timestamp): number {
    return this.logTrim.run(upTo).changes;
  }

  logSize(): number {
    return Number((this.logCount.get() as { n: number | bigint }).n);
  }
}
