/** getattr, setattr (chmod, chown, truncate, utimes) and access. */
import { AccessDeniedError, InvalidArgumentError, IsDirectoryError } from '../core/errors.js';
import type { Id } from '../core/ids.js';
import { nowNs } from '../core/time.js';
import type { AttrChange, TreeOp } from '../tree/ops.js';
import type { FsCore } from './core.js';
import { truncate } from './files.js';
import { type Attributes, type Caller, isDirMode, isRegMode, S_IFMT, S_ISGID, S_ISUID } from './types.js';

export interface SetAttributes {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: bigint | 'now';
  mtime?: bigint | 'now';
  ctime?: bigint;
  /** Clear set-user-id and set-group-id (as a write or chown by another user does). */
  killSuidgid?: boolean;
}

const S_IXGRP = 0o010;

function onlyTimes(c: SetAttributes): boolean {
  return (
    c.mode === undefined &&
    c.uid === undefined &&
    c.gid === undefined &&
    c.size === undefined &&
    c.atime === undefined &&
    !c.killSuidgid
  );
}
const CAPABILITY = Buffer.from('security.capability');

export async function setattr(core: FsCore, ino: Id, c: SetAttributes): Promise<Attributes> {
  core.writable();
  const inode = core.inode(ino);
  // Only new times for a file with staged writes (the kernel flushing its cached mtime): kept with the
  // staged changes, which their commit records; no operation of their own.
  const d = core.files.get(ino)?.dirty;
  if (d?.changed && onlyTimes(c) && c.mtime !== undefined) {
    d.mtime = c.mtime === 'now' ? nowNs() : c.mtime;
    d.ctime = c.ctime ?? nowNs();
    return core.attrs(ino);
  }
  if (c.size !== undefined) {
    if (isDirMode(inode.mode)) throw new IsDirectoryError(`inode ${ino} is a directory`);
    if (!isRegMode(inode.mode)) throw new InvalidArgumentError(`inode ${ino} is not a regular file`);
    await truncate(core, ino, c.size);
  }
  const now = nowNs();
  const a: AttrChange = {};
  let mode = inode.mode;
  if (c.mode !== undefined) mode = (inode.mode & S_IFMT) | (c.mode & 0o7777);
  if (c.killSuidgid) mode &= ~(S_ISUID | (mode & S_IXGRP ? S_ISGID : 0));
  if (mode !== inode.mode || c.mode !== undefined) a.mode = mode;
  if (c.uid !== undefined) a.uid = c.uid;
  if (c.gid !== undefined) a.gid = c.gid;
  if (c.atime !== undefined) a.atime = c.atime === 'now' ? now : c.atime;
  if (c.mtime !== undefined) a.mtime = c.mtime === 'now' ? now : c.mtime;
  if (c.ctime !== undefined) a.ctime = c.ctime;
  const ops: TreeOp[] = [];
  if (Object.keys(a).length > 0) ops.push({ kind: 'setattr', ino, attrs: a, time: now });
  // Killing privileges also drops file capabilities, as the kernel does for local file systems.
  if (c.killSuidgid && core.meta.getXattr(ino, CAPABILITY) !== undefined) {
    ops.push({ kind: 'xattr', ino, name: CAPABILITY, value: null, time: now });
  }
  if (ops.length > 0) {
    core.tree.apply(ops);
    const d = core.files.get(ino)?.dirty;
    if (d && a.mtime !== undefined) d.mtime = a.mtime;
    if (d) d.ctime = now;
  }
  return core.attrs(ino);
}

const R_OK = 4;
const W_OK = 2;
const X_OK = 1;

/** access(2) against the mode bits (supplementary groups are not known here). */
export function access(core: FsCore, caller: Caller, ino: Id, mask: number): void {
  const i = core.inode(ino);
  if (mask === 0) return;
  if (caller.uid === 0) {
    if (mask & X_OK && !isDirMode(i.mode) && !(i.mode & 0o111)) throw new AccessDeniedError('not executable');
    return;
  }
  const bits = caller.uid === i.uid ? (i.mode >> 6) & 7 : caller.gid === i.gid ? (i.mode >> 3) & 7 : i.mode & 7;
  if ((mask & R_OK && !(bits & 4)) || (mask & W_OK && !(bits & 2)) || (mask & X_OK && !(bits & 1))) {
    throw new AccessDeniedError('permission denied');
  }
}
