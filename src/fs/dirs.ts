/** Directories: lookup, mkdir, rmdir, readdir. */
import { ExistsError, NotDirectoryError, NotEmptyError } from '../core/errors.js';
import { type Id, ROOT_INO, TRASH_INO } from '../core/ids.js';
import { nowNs } from '../core/time.js';
import type { FsCore } from './core.js';
import { type Attributes, type Caller, isDirMode, type Listing, S_IFDIR } from './types.js';

export function lookup(core: FsCore, parent: Id, name: Buffer): Attributes {
  const e = core.mustChild(parent, name);
  return core.attrs(e.ino);
}

export function mkdir(core: FsCore, caller: Caller, parent: Id, name: Buffer, mode: number): Attributes {
  core.writable();
  core.checkName(name);
  const dir = core.liveDir(parent);
  if (core.meta.lookup(parent, name)) throw new ExistsError(`${name.toString()} exists`);
  const o = core.owner(caller, dir, S_IFDIR | (mode & 0o7777));
  const ino = core.tree.newId();
  core.tree.apply([
    {
      kind: 'create',
      entry: core.tree.newId(),
      parent,
      name,
      ino,
      inode: { mode: o.mode, uid: o.uid, gid: o.gid, rdev: 0, target: null },
      time: nowNs(),
    },
  ]);
  return core.attrs(ino);
}

export function rmdir(core: FsCore, parent: Id, name: Buffer): void {
  core.writable();
  const e = core.mustChild(parent, name);
  const inode = core.inode(e.ino);
  if (!isDirMode(inode.mode)) throw new NotDirectoryError(`${name.toString()} is not a directory`);
  if (core.meta.hasChildren(e.ino)) throw new NotEmptyError(`${name.toString()} is not empty`);
  core.tree.apply([{ kind: 'move', entry: e.id, parent: TRASH_INO, name: e.name, time: nowNs() }]);
  core.maybePurge(e.ino);
}

const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/**
 * Entries of a directory after `cookie` (0 = from the start): "." and ".."
 * first (cookies 1 and 2), then the entries in id order (cookie = entry id),
 * so a listing resumes correctly while the directory changes.
 */
export function readdir(core: FsCore, ino: Id, cookie: bigint, limit: number): Listing[] {
  const dir = core.dir(ino);
  const out: Listing[] = [];
  if (cookie < 1n) out.push({ cookie: 1n, name: DOT, ino, mode: dir.mode });
  if (cookie < 2n) {
    const parent = ino === ROOT_INO ? ROOT_INO : core.parentOf(ino);
    out.push({ cookie: 2n, name: DOTDOT, ino: parent, mode: S_IFDIR });
  }
  const after = cookie <= 2n ? 0n : cookie;
  for (const e of core.meta.list(ino, after, limit)) out.push({ cookie: e.id, name: e.name, ino: e.ino, mode: e.mode });
  return out;
}
