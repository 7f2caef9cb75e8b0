/** rename(2) and renameat2(2) with RENAME_NOREPLACE and RENAME_EXCHANGE. */
import {
  ExistsError,
  InvalidArgumentError,
  IsDirectoryError,
  NotDirectoryError,
  NotEmptyError,
  NotFoundError,
} from '../core/errors.js';
import { type Id, TRASH_INO } from '../core/ids.js';
import { nowNs } from '../core/time.js';
import type { TreeOp } from '../tree/ops.js';
import type { FsCore } from './core.js';
import { isDirMode } from './types.js';

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

export function rename(core: FsCore, parent: Id, name: Buffer, newParent: Id, newName: Buffer, flags: number): void {
  core.writable();
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) || (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE)) {
    throw new InvalidArgumentError(`unsupported rename flags ${flags}`);
  }
  core.checkName(newName);
  core.liveDir(newParent);
  const src = core.mustChild(parent, name);
  const dst = core.child(newParent, newName);
  const srcDir = isDirMode(core.inode(src.ino).mode);
  const time = nowNs();

  if (flags & RENAME_EXCHANGE) {
    if (!dst) throw new NotFoundError(`${newName.toString()} does not exist`);
    if (dst.id === src.id) return;
    const dstDir = isDirMode(core.inode(dst.ino).mode);
    if ((srcDir && core.isWithin(newParent, src.ino)) || (dstDir && core.isWithin(parent, dst.ino))) {
      throw new InvalidArgumentError('cannot move a directory below itself');
    }
    core.tree.apply([
      { kind: 'move', entry: src.id, parent: newParent, name: newName, time },
      { kind: 'move', entry: dst.id, parent, name, time },
    ]);
    return;
  }

  if (srcDir && core.isWithin(newParent, src.ino))
    throw new InvalidArgumentError('cannot move a directory below itself');
  const ops: TreeOp[] = [];
  if (dst) {
    if (flags & RENAME_NOREPLACE && dst.id !== src.id) throw new ExistsError(`${newName.toString()} exists`);
    if (dst.id === src.id || dst.ino === src.ino) return;
    const dstDir = isDirMode(core.inode(dst.ino).mode);
    if (srcDir && !dstDir) throw new NotDirectoryError(`${newName.toString()} is not a directory`);
    if (!srcDir && dstDir) throw new IsDirectoryError(`${newName.toString()} is a directory`);
    if (dstDir && core.meta.hasChildren(dst.ino)) throw new NotEmptyError(`${newName.toString()} is not empty`);
    const replaced = core.inode(dst.ino);
    ops.push({
      kind: 'move',
      entry: dst.id,
      parent: TRASH_INO,
      name: dst.name,
      time,
      ...(dstDir ? {} : { seen: replaced.content }),
    });
  }
  ops.push({ kind: 'move', entry: src.id, parent: newParent, name: newName, time });
  core.tree.apply(ops);
  if (dst) core.maybePurge(dst.ino);
}
