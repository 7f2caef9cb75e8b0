/** Non-directory names: mknod, symlink, readlink, link, unlink. */
import {
  ExistsError,
  InvalidArgumentError,
  IsDirectoryError,
  NameTooLongError,
  NotPermittedError,
  TooManyLinksError,
} from '../core/errors.js';
import { type Id, TRASH_INO } from '../core/ids.js';
import { nowNs } from '../core/time.js';
import { type FsCore, SYMLINK_MAX } from './core.js';
import { type Attributes, type Caller, isDirMode, isLnkMode, S_IFLNK, S_IFMT, S_IFREG } from './types.js';

const LINK_MAX = 65000;

export function create(
  core: FsCore,
  caller: Caller,
  parent: Id,
  name: Buffer,
  mode: number,
  rdev: number,
  target: Buffer | null,
): Attributes {
  core.writable();
  core.checkName(name);
  const dir = core.liveDir(parent);
  if (core.meta.lookup(parent, name)) throw new ExistsError(`${name.toString()} exists`);
  const o = core.owner(caller, dir, mode);
  const ino = core.tree.newId();
  core.tree.apply([
    {
      kind: 'create',
      entry: core.tree.newId(),
      parent,
      name,
      ino,
      inode: { mode: o.mode, uid: o.uid, gid: o.gid, rdev, target },
      time: nowNs(),
    },
  ]);
  return core.attrs(ino);
}

/** Regular files, FIFOs, sockets and device nodes. */
export function mknod(core: FsCore, caller: Caller, parent: Id, name: Buffer, mode: number, rdev: number): Attributes {
  let type = mode & S_IFMT;
  if (type === 0) type = S_IFREG;
  if (type === S_IFLNK || isDirMode(type)) throw new InvalidArgumentError('mknod cannot make directories or symlinks');
  return create(core, caller, parent, name, type | (mode & 0o7777), rdev, null);
}

export function symlink(core: FsCore, caller: Caller, parent: Id, name: Buffer, target: Buffer): Attributes {
  if (target.length > SYMLINK_MAX) throw new NameTooLongError(`a symlink target is at most ${SYMLINK_MAX} bytes`);
  return create(core, caller, parent, name, S_IFLNK | 0o777, 0, Buffer.from(target));
}

export function readlink(core: FsCore, ino: Id): Buffer {
  const i = core.inode(ino);
  if (!isLnkMode(i.mode) || !i.target) throw new InvalidArgumentError(`inode ${ino} is not a symlink`);
  return i.target;
}

export function link(core: FsCore, ino: Id, parent: Id, name: Buffer): Attributes {
  core.writable();
  core.checkName(name);
  core.liveDir(parent);
  const inode = core.inode(ino);
  if (isDirMode(inode.mode)) throw new NotPermittedError('directories cannot be hard-linked');
  if (inode.nlink >= LINK_MAX) throw new TooManyLinksError(`inode ${ino} has ${inode.nlink} links`);
  if (core.meta.lookup(parent, name)) throw new ExistsError(`${name.toString()} exists`);
  core.tree.apply([{ kind: 'create', entry: core.tree.newId(), parent, name, ino, inode: null, time: nowNs() }]);
  return core.attrs(ino);
}

export function unlink(core: FsCore, parent: Id, name: Buffer): void {
  core.writable();
  const e = core.mustChild(parent, name);
  const inode = core.inode(e.ino);
  if (isDirMode(inode.mode)) throw new IsDirectoryError(`${name.toString()} is a directory`);
  core.tree.apply([{ kind: 'move', entry: e.id, parent: TRASH_INO, name: e.name, time: nowNs(), seen: inode.content }]);
  core.maybePurge(e.ino);
}
