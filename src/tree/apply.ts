/**
 * The effect of each tree operation on the metadata tables. Pure functions of
 * the operation and the current state, so every pod applying the same
 * operations reaches the same state.
 */
import { TRASH_INO } from '../core/ids.js';
import type { Inode, MetaStore } from '../store/meta.js';
import type { ContentOp, CreateOp, MoveOp, SetattrOp, TreeOp, XattrOp } from './ops.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

export function isDir(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}

/** What applying an operation released: chunks no version references any more. */
export interface Effect {
  freedChunks: Buffer[];
}

function touchDir(meta: MetaStore, dir: Inode | undefined, time: bigint, nlinkDelta: number): void {
  if (!dir) return;
  meta.updateInode(dir.ino, { mtime: time, ctime: time, nlink: dir.nlink + nlinkDelta });
}

function applyCreate(meta: MetaStore, op: CreateOp): void {
  const parent = meta.getInode(op.parent);
  let dir = false;
  if (op.inode) {
    dir = isDir(op.inode.mode);
    meta.insertInode({
      ino: op.ino,
      mode: op.inode.mode,
      uid: op.inode.uid,
      gid: op.inode.gid,
      nlink: dir ? 2 : 1,
      size: op.inode.target ? op.inode.target.length : 0,
      atime: op.time,
      mtime: op.time,
      ctime: op.time,
      btime: op.time,
      rdev: op.inode.rdev,
      target: op.inode.target,
      content: null,
      used: 0,
    });
  } else {
    const inode = meta.getInode(op.ino);
    if (!inode) throw new Error(`create: no inode ${op.ino}`);
    meta.updateInode(op.ino, { nlink: inode.nlink + 1, ctime: op.time });
  }
  meta.insertEntry({ id: op.entry, parent: op.parent, name: op.name, ino: op.ino });
  touchDir(meta, parent, op.time, dir ? 1 : 0);
}

function applyMove(meta: MetaStore, op: MoveOp): void {
  const e = meta.getEntry(op.entry);
  if (!e) throw new Error(`move: no entry ${op.entry}`);
  const inode = meta.getInode(e.ino);
  if (!inode) throw new Error(`move: no inode ${e.ino}`);
  const dir = isDir(inode.mode);
  const oldParent = meta.getInode(e.parent);
  if (op.parent === TRASH_INO) {
    meta.deleteEntry(e.id);
    meta.updateInode(inode.ino, { nlink: dir ? 0 : inode.nlink - 1, ctime: op.time });
    touchDir(meta, oldParent, op.time, dir ? -1 : 0);
    return;
  }
  meta.moveEntry(e.id, op.parent, op.name);
  meta.updateInode(inode.ino, { ctime: op.time });
  if (op.parent === e.parent) {
    touchDir(meta, oldParent, op.time, 0);
  } else {
    touchDir(meta, oldParent, op.time, dir ? -1 : 0);
    touchDir(meta, meta.getInode(op.parent), op.time, dir ? 1 : 0);
  }
}

function applySetattr(meta: MetaStore, op: SetattrOp): void {
  const a = op.attrs;
  meta.updateInode(op.ino, {
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    atime: a.atime,
    mtime: a.mtime,
    ctime: a.ctime ?? op.time,
  });
}

function applyContent(meta: MetaStore, op: ContentOp): Buffer[] {
  const inode = meta.getInode(op.ino);
  if (!inode) throw new Error(`content: no inode ${op.ino}`);
  meta.insertVersion({ id: op.version, ino: op.ino, base: op.base, size: op.size, created: op.time }, op.extents);
  const used = op.extents.reduce((n, e) => (e.hash ? n + e.length : n), 0);
  meta.updateInode(op.ino, { content: op.version, size: op.size, used, mtime: op.mtime, ctime: op.time });
  return inode.content !== null ? meta.deleteVersion(inode.content) : [];
}

function applyXattr(meta: MetaStore, op: XattrOp): void {
  if (op.value === null) meta.removeXattr(op.ino, op.name);
  else meta.setXattr(op.ino, op.name, op.value);
  meta.updateInode(op.ino, { ctime: op.time });
}

export function applyOp(meta: MetaStore, op: TreeOp): Buffer[] {
  switch (op.kind) {
    case 'create':
      applyCreate(meta, op);
      return [];
    case 'move':
      applyMove(meta, op);
      return [];
    case 'setattr':
      applySetattr(meta, op);
      return [];
    case 'content':
      return applyContent(meta, op);
    case 'xattr':
      applyXattr(meta, op);
      return [];
  }
}
