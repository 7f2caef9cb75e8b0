/**
 * Operations on the replicated tree. Every change to the file tree is one of
 * these, stamped with a hybrid logical clock and logged in the same
 * transaction as its effect. Times are nanoseconds; ctime and the parents'
 * mtime follow from the operation's time, so every pod derives the same
 * attributes from the same operations.
 */
import { Packr } from 'msgpackr';
import type { Timestamp } from '../core/hlc.js';
import type { Id } from '../core/ids.js';
import type { Extent } from '../store/meta.js';

export interface NewInode {
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  target: Buffer | null;
}

export interface AttrChange {
  mode?: number;
  uid?: number;
  gid?: number;
  atime?: bigint;
  mtime?: bigint;
  ctime?: bigint;
}

/** Create an entry; with `inode`, of a new inode, else a new link to an existing one. */
export interface CreateOp {
  kind: 'create';
  entry: Id;
  parent: Id;
  name: Buffer;
  ino: Id;
  inode: NewInode | null;
  time: bigint;
}

/** Move (rename) an entry; parent TRASH_INO deletes it. */
export interface MoveOp {
  kind: 'move';
  entry: Id;
  parent: Id;
  name: Buffer;
  time: bigint;
}

export interface SetattrOp {
  kind: 'setattr';
  ino: Id;
  attrs: AttrChange;
  time: bigint;
}

/** Set a file's content to a new version (based on `base`). */
export interface ContentOp {
  kind: 'content';
  ino: Id;
  version: Id;
  base: Id | null;
  size: number;
  extents: Extent[];
  mtime: bigint;
  time: bigint;
}

export interface XattrOp {
  kind: 'xattr';
  ino: Id;
  name: Buffer;
  /** null removes it */
  value: Buffer | null;
  time: bigint;
}

export type TreeOp = CreateOp | MoveOp | SetattrOp | ContentOp | XattrOp;

export interface StampedOp {
  hlc: Timestamp;
  pod: number;
  op: TreeOp;
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });

export function encodeOp(op: TreeOp): Buffer {
  return packr.pack(op);
}

export function decodeOp(body: Buffer): TreeOp {
  return packr.unpack(body) as TreeOp;
}
