/** Extended attributes. ACLs (system.*) are not supported and say so. */
import { ExistsError, NoAttributeError, NotSupportedError, ValueTooLargeError } from '../core/errors.js';
import type { Id } from '../core/ids.js';
import { nowNs } from '../core/time.js';
import type { FsCore } from './core.js';

const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const XATTR_SIZE_MAX = 65536;

function checkNamespace(name: Buffer): void {
  if (name.subarray(0, 7).toString() === 'system.') {
    throw new NotSupportedError(`${name.toString()}: system attributes (ACLs) are not supported`);
  }
}

export function getxattr(core: FsCore, ino: Id, name: Buffer): Buffer {
  core.inode(ino);
  const v = core.meta.getXattr(ino, name);
  if (v === undefined) throw new NoAttributeError(`no attribute ${name.toString()}`);
  return v;
}

export function listxattr(core: FsCore, ino: Id): Buffer[] {
  core.inode(ino);
  return core.meta.listXattrs(ino);
}

export function setxattr(core: FsCore, ino: Id, name: Buffer, value: Buffer, flags: number): void {
  core.writable();
  core.inode(ino);
  checkNamespace(name);
  if (value.length > XATTR_SIZE_MAX) throw new ValueTooLargeError('attribute value too large');
  const exists = core.meta.getXattr(ino, name) !== undefined;
  if (flags & XATTR_CREATE && exists) throw new ExistsError(`attribute ${name.toString()} exists`);
  if (flags & XATTR_REPLACE && !exists) throw new NoAttributeError(`no attribute ${name.toString()}`);
  core.tree.apply([{ kind: 'xattr', ino, name: Buffer.from(name), value: Buffer.from(value), time: nowNs() }]);
}

export function removexattr(core: FsCore, ino: Id, name: Buffer): void {
  core.writable();
  core.inode(ino);
  if (core.meta.getXattr(ino, name) === undefined) throw new NoAttributeError(`no attribute ${name.toString()}`);
  core.tree.apply([{ kind: 'xattr', ino, name: Buffer.from(name), value: null, time: nowNs() }]);
}
