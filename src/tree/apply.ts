/**
 * The effect of each operation on the metadata tables. A function of the
 * operation and the current state only (never the local clock), so pods
 * applying the same operations in the same order reach the same state.
 */
import { TRASH_INO } from '../core/ids.js';
import { applyContent } from './conflicts.js';
import {
  isDir,
  isTrashed,
  isWithin,
  type Placement,
  place,
  relink,
  resurrectDir,
  touch,
  touchCtime,
  trash,
} from './names.js';
import type { CreateOp, MoveOp, NetOp, SetattrOp, TreeOp, XattrOp } from './ops.js';

export { isDir };

function applyCreate(p: Placement, op: CreateOp): void {
  const { meta } = p;
  if (op.inode && !meta.getInode(op.ino)) {
    meta.insertInode({
      ino: op.ino,
      mode: op.inode.mode,
      uid: op.inode.uid,
      gid: op.inode.gid,
      nlink: 0,
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
  }
  const inode = meta.getInode(op.ino);
  const parent = meta.getInode(op.parent);
  if (!inode || !parent || !isDir(parent.mode) || meta.getEntry(op.entry)) return;
  if (!op.inode) touchCtime(meta, op.ino, op.time);
  place(p, { id: op.entry, parent: op.parent, name: op.name, ino: op.ino }, op.parent, op.name, true);
  touch(meta, op.parent, op.time);
}

function applyMove(p: Placement, op: MoveOp): void {
  const { meta } = p;
  const e = meta.getEntry(op.entry);
  const inode = e && meta.getInode(e.ino);
  if (!e || !inode) return;
  if (op.parent === TRASH_INO) {
    if (e.parent === TRASH_INO) return;
    // A directory someone filled concurrently, a file someone edited concurrently: not deleted.
    if (isDir(inode.mode) ? meta.hasChildren(e.ino) : op.seen !== undefined && inode.content !== op.seen) return;
    trash(p, e);
    touch(meta, e.parent, op.time);
    touchCtime(meta, e.ino, op.time);
    return;
  }
  const target = meta.getInode(op.parent);
  if (!target || !isDir(target.mode)) return;
  // A target deleted concurrently comes back first: where it lands decides whether the move makes a cycle.
  if (isTrashed(meta, op.parent)) resurrectDir(p, op.parent);
  // The move operation of Kleppmann et al.: a move below itself would make a cycle, and is skipped.
  if (isDir(inode.mode) && isWithin(meta, op.parent, e.ino)) return;
  const from = e.parent;
  place(p, e, op.parent, op.name);
  touch(meta, op.parent, op.time);
  if (from !== TRASH_INO && from !== op.parent) touch(meta, from, op.time);
  touchCtime(meta, e.ino, op.time);
  if (from === TRASH_INO) relink(meta, from);
}

function applySetattr(p: Placement, op: SetattrOp): void {
  const { meta } = p;
  if (!meta.getInode(op.ino)) return;
  const a = op.attrs;
  meta.updateInode(op.ino, {
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    atime: a.atime,
    mtime: a.mtime,
    ctime: a.ctime ?? op.time,
  });
  p.changes.inodes.add(op.ino);
}

function applyXattr(p: Placement, op: XattrOp): void {
  const { meta } = p;
  if (!meta.getInode(op.ino)) return;
  if (op.value === null) meta.removeXattr(op.ino, op.name);
  else meta.setXattr(op.ino, op.name, op.value);
  touchCtime(meta, op.ino, op.time);
  p.changes.inodes.add(op.ino);
}

function applyNet(p: Placement, op: NetOp): void {
  p.meta.setNet(op.key, op.value);
  p.changes.net = true;
}

const appliers: { [K in TreeOp['kind']]: (p: Placement, op: Extract<TreeOp, { kind: K }>) => void } = {
  create: applyCreate,
  move: applyMove,
  setattr: applySetattr,
  content: applyContent,
  xattr: applyXattr,
  net: applyNet,
};

export function applyOp(p: Placement, op: TreeOp): void {
  (appliers[op.kind] as (p: Placement, op: TreeOp) => void)(p, op);
}
