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

/**
 * Move (rename) an entry; parent TRASH_INO deletes it. A delete of a file
 * records the version its author saw (`seen`): if the file changed since,
 * concurrently, the delete does not happen (the edit survives).
 */
export interface MoveOp {
  kind: 'move';
  entry: Id;
  parent: Id;
  name: Buffer;
  time: bigint;
  seen?: Id | null;
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
  /** Written through a handle on a file its author had already deleted: no resurrection. */
  unlinked?: boolean;
}

export interface XattrOp {
  kind: 'xattr';
  ino: Id;
  name: Buffer;
  /** null removes it */
  value: Buffer | null;
  time: bigint;
}

/** Network state (members, configuration): `value` null removes the key. */
export interface NetOp {
  kind: 'net';
  key: string;
  value: Buffer | null;
  time: bigint;
}

export type TreeOp = CreateOp | MoveOp | SetattrOp | ContentOp | XattrOp | NetOp;

/** An operation with its place in the total order (hlc, then pod) and in its pod's sequence. */
export interface Stamp {
  hlc: Timestamp;
  pod: number;
  seq: bigint;
}

export interface StampedOp extends Stamp {
  op: TreeOp;
}

/** An operation as it travels between pods: the encoded body, not re-encoded at each hop. */
export interface WireOp extends Stamp {
  body: Buffer;
}

export function compareStamps(a: { hlc: Timestamp; pod: number }, b: { hlc: Timestamp; pod: number }): number {
  if (a.hlc !== b.hlc) return a.hlc < b.hlc ? -1 : 1;
  return a.pod - b.pod;
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });

export function encodeOp(op: TreeOp): Buffer {
  return packr.pack(op);
}

export function decodeOp(body: Buffer): TreeOp {
  return packr.unpack(body) as TreeOp;
}
