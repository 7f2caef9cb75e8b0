/**
 * What every file-system operation needs: the stores, the open files and
 * the rules shared between operations (names, ownership of new inodes,
 * attributes with staged writes, when an inode can go).
 */
import {
  InvalidArgumentError,
  IsDirectoryError,
  NameTooLongError,
  NotDirectoryError,
  NotFoundError,
  ReadOnlyError,
} from '../core/errors.js';
import type { Timestamp } from '../core/hlc.js';
import { type Id, ROOT_INO } from '../core/ids.js';
import type { Logger } from '../core/log.js';
import type { ChunkStore } from '../store/chunks.js';
import { syncDurable } from '../store/db.js';
import type { DirEntry, Extent, Inode, MetaStore } from '../store/meta.js';
import type { Changes } from '../tree/names.js';
import type { Tree } from '../tree/tree.js';
import { FileState } from './file-state.js';
import type { StagingOptions } from './staging.js';
import { type Attributes, type Caller, isDirMode, S_IFDIR, S_IFMT, S_ISGID } from './types.js';

export const NAME_MAX = 255;
export const SYMLINK_MAX = 4095;

export interface FsOptions {
  meta: MetaStore;
  tree: Tree;
  chunks: ChunkStore;
  /** Directory for staged writes (emptied at start). */
  stagingDir: string;
  /** Directory whose file system statfs reports. */
  dataDir: string;
  log: Logger;
  /** Staged writes of a file stay in memory below this offset. */
  stagingMemory?: number;
  /** When true, every change is refused with EROFS. */
  readOnly?: () => boolean;
  /** The stable timestamp (default: this pod alone, so now). */
  stable?: () => Timestamp;
}

export interface Handle {
  ino: Id;
  flags: number;
  writable: boolean;
  dir: boolean;
}

export class FsCore {
  readonly meta: MetaStore;
  readonly tree: Tree;
  readonly chunks: ChunkStore;
  readonly log: Logger;
  readonly staging: StagingOptions;
  /** Below this, what operations deleted (or versions replaced) can be collected (TreeSync.collectBound). */
  stable: () => Timestamp;
  /** Below this, every pod has every operation: they leave the log (TreeSync.stable). */
  trimBound: () => Timestamp;
  /** Told what other pods changed, after open files have followed. */
  onRemote: (changes: Changes) => void = () => {};
  /** Told the chunks a commit stored (to announce and copy to other pods). */
  onCommitted: (hashes: Buffer[]) => void = () => {};
  readonly dataDir: string;
  readonly files = new Map<Id, FileState>();
  readonly handles = new Map<bigint, Handle>();
  /** Inodes the kernel (or another user) still refers to, with a count. */
  readonly pins = new Map<Id, number>();
  private nextFh = 1n;
  private readonly extentCache = new Map<Id, Extent[]>();
  /** Files another pod changed while they were open here. */
  private readonly staleOpen = new Set<Id>();
  private readonly readOnly: () => boolean;

  constructor(opts: FsOptions) {
    this.meta = opts.meta;
    this.tree = opts.tree;
    this.chunks = opts.chunks;
    this.log = opts.log;
    this.dataDir = opts.dataDir;
    this.staging = { dir: opts.stagingDir, memoryLimit: opts.stagingMemory ?? 256 * 1024 };
    this.readOnly = opts.readOnly ?? (() => false);
    this.stable = opts.stable ?? (() => this.tree.floor([]));
    this.trimBound = () => this.stable();
  }

  /** Throws EROFS when the pod refuses changes. */
  writable(): void {
    if (this.readOnly()) throw new ReadOnlyError('the file system is read-only');
  }

  inode(ino: Id): Inode {
    const i = this.meta.getInode(ino);
    if (!i) throw new NotFoundError(`no inode ${ino}`);
    return i;
  }

  dir(ino: Id): Inode {
    const i = this.inode(ino);
    if (!isDirMode(i.mode)) throw new NotDirectoryError(`inode ${ino} is not a directory`);
    return i;
  }

  /** A directory that can take new entries: a removed one, still open somewhere, cannot. */
  liveDir(ino: Id): Inode {
    const i = this.dir(ino);
    if (i.nlink === 0) throw new NotFoundError(`directory ${ino} was removed`);
    return i;
  }

  checkName(name: Buffer): void {
    if (name.length === 0 || name.includes(0x2f) || name.includes(0)) {
      throw new InvalidArgumentError(`invalid file name ${JSON.stringify(name.toString())}`);
    }
    if (name.length > NAME_MAX) throw new NameTooLongError(`a name is at most ${NAME_MAX} bytes`);
  }

  /** The entry `name` in directory `parent`, which must be a directory. */
  child(parent: Id, name: Buffer): DirEntry | undefined {
    this.dir(parent);
    if (name.length > NAME_MAX) throw new NameTooLongError(`a name is at most ${NAME_MAX} bytes`);
    return this.meta.lookup(parent, name);
  }

  mustChild(parent: Id, name: Buffer): DirEntry {
    const e = this.child(parent, name);
    if (!e) throw new NotFoundError(`no entry ${name.toString()} in ${parent}`);
    return e;
  }

  /** Owner, group and mode of a new inode made by `caller` in `parent` (set-group-id directories pass on their group). */
  owner(caller: Caller, parent: Inode, mode: number): { uid: number; gid: number; mode: number } {
    if (parent.mode & S_ISGID) {
      const m = (mode & S_IFMT) === S_IFDIR ? mode | S_ISGID : mode;
      return { uid: caller.uid, gid: parent.gid, mode: m };
    }
    return { uid: caller.uid, gid: caller.gid, mode };
  }

  attributes(inode: Inode): Attributes {
    const d = this.files.get(inode.ino)?.dirty;
    return {
      ino: inode.ino,
      mode: inode.mode,
      uid: inode.uid,
      gid: inode.gid,
      nlink: inode.nlink,
      size: d ? d.size : inode.size,
      atime: inode.atime,
      mtime: d?.changed ? d.mtime : inode.mtime,
      ctime: d?.changed && d.ctime > inode.ctime ? d.ctime : inode.ctime,
      btime: inode.btime,
      rdev: inode.rdev,
      // While writes are staged, count them as stored: st_blocks may only overstate a sparse file briefly.
      used: d ? Math.max(inode.used, d.size) : inode.used,
    };
  }

  attrs(ino: Id): Attributes {
    return this.attributes(this.inode(ino));
  }

  extentsOf(version: Id | null): Extent[] {
    if (version === null) return [];
    let e = this.extentCache.get(version);
    if (!e) {
      e = this.meta.extents(version);
      if (this.extentCache.size >= 256) {
        const first = this.extentCache.keys().next();
        if (!first.done) this.extentCache.delete(first.value);
      }
      this.extentCache.set(version, e);
    }
    return e;
  }

  /** The open state of a file, created from its committed version if none. */
  fileState(ino: Id): FileState {
    let s = this.files.get(ino);
    if (!s) {
      const inode = this.inode(ino);
      if (isDirMode(inode.mode)) throw new IsDirectoryError(`inode ${ino} is a directory`);
      s = new FileState(ino, inode.content, this.extentsOf(inode.content), inode.size);
      this.files.set(ino, s);
    }
    return s;
  }

  newHandle(h: Handle): bigint {
    const fh = this.nextFh++;
    this.handles.set(fh, h);
    return fh;
  }

  /** Parent directory of a directory (the root is its own parent). */
  parentOf(dir: Id): Id {
    if (dir === ROOT_INO) return ROOT_INO;
    const e = this.meta.entriesOf(dir)[0];
    return e ? e.parent : ROOT_INO;
  }

  /** True if `dir` is `ancestor` or lies below it. */
  isWithin(dir: Id, ancestor: Id): boolean {
    let cur = dir;
    for (let depth = 0; depth < 100_000; depth++) {
      if (cur === ancestor) return true;
      if (cur === ROOT_INO) return false;
      const e = this.meta.entriesOf(cur)[0];
      if (!e) return false;
      cur = e.parent;
    }
    return false;
  }

  pin(ino: Id): void {
    this.pins.set(ino, (this.pins.get(ino) ?? 0) + 1);
  }

  unpin(ino: Id): void {
    const n = (this.pins.get(ino) ?? 0) - 1;
    if (n > 0) this.pins.set(ino, n);
    else {
      this.pins.delete(ino);
      this.maybePurge(ino);
    }
  }

  /** Commits every change and forces it to stable storage. */
  durable(): void {
    this.tree.commitNow();
    syncDurable(this.meta.db);
  }

  /** Deletes the chunks among `hashes` that nothing references or holds any more. */
  collect(hashes: Iterable<Buffer>): void {
    for (const h of hashes) {
      if (!this.chunks.isHeld(h) && !this.meta.isHashUsed(h)) this.chunks.remove(h);
    }
  }

  /** In use here: open, or known to the kernel. Such an inode is never collected. */
  inUse = (ino: Id): boolean => this.files.has(ino) || this.pins.has(ino);

  /** Collects a deleted inode at once if its deletion is stable (every pod has it) and nothing here uses it. */
  maybePurge(ino: Id): void {
    const i = this.meta.getInode(ino);
    if (i && i.nlink <= 0) this.tree.collectInode(ino, this.stable(), this.inUse);
  }

  /**
   * Applies what other pods changed to open files (those with no staged
   * writes follow the new version), then tells `onRemote` (the mount, to
   * drop the kernel's cached names, attributes and pages).
   */
  remoteChanged(changes: Changes): void {
    const names: Changes['entries'] = [];
    for (const ino of changes.inodes) {
      const s = this.files.get(ino);
      const inode = this.meta.getInode(ino);
      if (s && inode && !s.dirty && s.version !== inode.content) {
        s.version = inode.content;
        s.extents = this.extentsOf(inode.content);
        s.size = inode.size;
      }
      // With the kernel's write-back cache, a cached inode keeps its own size and
      // mtime whatever getattr says: dropping its names evicts it (unless a file
      // is open on it), so the next lookup brings the other pod's size.
      if (inode && (inode.mode & 0o170000) === 0o100000 && this.pins.has(ino)) {
        names.push(...this.namesOf(ino));
        // Open here, the kernel keeps the inode (and its size) whatever we say:
        // say it again once the file is closed (fileClosed).
        if (this.files.has(ino)) this.staleOpen.add(ino);
      }
    }
    this.onRemote(names.length ? { ...changes, entries: [...changes.entries, ...names] } : changes);
  }

  private namesOf(ino: Id): Changes['entries'] {
    return this.meta.entriesOf(ino).map((e) => ({ parent: e.parent, name: e.name }));
  }

  /**
   * The last handle of a file closed. If another pod changed the file while
   * it was open, its names are invalidated now, after the RELEASE reply (the
   * kernel holds the inode until it has that reply), so the kernel evicts it.
   */
  fileClosed(ino: Id): void {
    if (!this.staleOpen.delete(ino)) return;
    setImmediate(() => this.onRemote({ entries: this.namesOf(ino), inodes: new Set([ino]) }));
  }
}
