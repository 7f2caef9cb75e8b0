/**
 * The file system of one pod: POSIX semantics over the replicated tree and
 * the chunk store. A facade; each operation lives in its own module.
 */
import * as fs from 'node:fs';
import type { Id } from '../core/ids.js';
import { access, type SetAttributes, setattr } from './attrs.js';
import { FsCore, type FsOptions } from './core.js';
import { lookup, mkdir, readdir, rmdir } from './dirs.js';
import * as files from './files.js';
import { link, mknod, readlink, symlink, unlink } from './nodes.js';
import { rename } from './rename.js';
import type { Attributes, Caller, Listing, StatFs } from './types.js';
import { getxattr, listxattr, removexattr, setxattr } from './xattrs.js';

const CAPABILITY = Buffer.from('security.capability');

export class FileSystem {
  readonly core: FsCore;

  constructor(opts: FsOptions) {
    this.core = new FsCore(opts);
  }

  /** Clears staged writes of a previous run and removes inodes left unlinked. */
  start(): void {
    const dir = this.core.staging.dir;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    this.collect();
  }

  /** Forgets operations every pod has, and collects what they deleted that nothing here uses. */
  collect(): number {
    return this.core.tree.compact(this.core.trimBound(), this.core.stable(), this.core.inUse);
  }

  /** Commits what open files have staged and closes them. */
  async stop(): Promise<void> {
    const c = this.core;
    for (const fh of [...c.handles.keys()]) {
      try {
        await files.release(c, fh);
      } catch (err) {
        c.log.warn({ err }, 'commit at shutdown failed');
      }
    }
    c.tree.commitNow();
  }

  getattr(ino: Id): Attributes {
    return this.core.attrs(ino);
  }
  lookup(parent: Id, name: Buffer): Attributes {
    return lookup(this.core, parent, name);
  }
  setattr(ino: Id, changes: SetAttributes): Promise<Attributes> {
    return setattr(this.core, ino, changes);
  }
  /** Clears set-user-id, and set-group-id if group-executable (and file capabilities), when set: as a write or truncate by an unprivileged user does. */
  async killSuidgid(ino: Id): Promise<Attributes> {
    const a = this.core.attrs(ino);
    if (!(a.mode & 0o6000) && this.core.meta.getXattr(ino, CAPABILITY) === undefined) return a;
    return setattr(this.core, ino, { killSuidgid: true });
  }
  access(caller: Caller, ino: Id, mask: number): void {
    access(this.core, caller, ino, mask);
  }
  mkdir(caller: Caller, parent: Id, name: Buffer, mode: number): Attributes {
    return mkdir(this.core, caller, parent, name, mode);
  }
  rmdir(parent: Id, name: Buffer): void {
    rmdir(this.core, parent, name);
  }
  readdir(ino: Id, cookie: bigint, limit: number): Listing[] {
    return readdir(this.core, ino, cookie, limit);
  }
  mknod(caller: Caller, parent: Id, name: Buffer, mode: number, rdev: number): Attributes {
    return mknod(this.core, caller, parent, name, mode, rdev);
  }
  symlink(caller: Caller, parent: Id, name: Buffer, target: Buffer): Attributes {
    return symlink(this.core, caller, parent, name, target);
  }
  readlink(ino: Id): Buffer {
    return readlink(this.core, ino);
  }
  link(ino: Id, parent: Id, name: Buffer): Attributes {
    return link(this.core, ino, parent, name);
  }
  unlink(parent: Id, name: Buffer): void {
    unlink(this.core, parent, name);
  }
  rename(parent: Id, name: Buffer, newParent: Id, newName: Buffer, flags = 0): void {
    rename(this.core, parent, name, newParent, newName, flags);
  }
  open(ino: Id, flags: number): Promise<bigint> {
    return files.open(this.core, ino, flags);
  }
  create(caller: Caller, parent: Id, name: Buffer, mode: number, flags: number) {
    return files.create(this.core, caller, parent, name, mode, flags);
  }
  read(fh: bigint, offset: number, size: number): Promise<Buffer[]> {
    return files.read(this.core, fh, offset, size);
  }
  write(fh: bigint, offset: number, data: Buffer): Promise<number> {
    return files.write(this.core, fh, offset, data);
  }
  flush(fh: bigint): Promise<void> {
    return files.flush(this.core, fh);
  }
  fsync(fh: bigint): Promise<void> {
    return files.fsync(this.core, fh);
  }
  release(fh: bigint): Promise<void> {
    return files.release(this.core, fh);
  }
  fallocate(fh: bigint, offset: number, length: number, mode: number): Promise<void> {
    return files.fallocate(this.core, fh, offset, length, mode);
  }
  lseek(fh: bigint, offset: number, whence: number): number {
    return files.lseek(this.core, fh, offset, whence);
  }
  opendir(ino: Id): bigint {
    this.core.dir(ino);
    return this.core.newHandle({ ino, flags: 0, writable: false, dir: true });
  }
  releasedir(fh: bigint): void {
    this.core.handles.delete(fh);
  }
  getxattr(ino: Id, name: Buffer): Buffer {
    return getxattr(this.core, ino, name);
  }
  listxattr(ino: Id): Buffer[] {
    return listxattr(this.core, ino);
  }
  setxattr(ino: Id, name: Buffer, value: Buffer, flags: number): void {
    setxattr(this.core, ino, name, value, flags);
  }
  removexattr(ino: Id, name: Buffer): void {
    removexattr(this.core, ino, name);
  }
  /** Commits every change and forces it to stable storage (fsyncdir, syncfs). */
  syncAll(): void {
    this.core.durable();
  }
  pin(ino: Id): void {
    this.core.pin(ino);
  }
  unpin(ino: Id): void {
    this.core.unpin(ino);
  }
  statfs(): StatFs {
    const s = fs.statfsSync(this.core.dataDir);
    const { inodes } = this.core.meta.counts();
    const ffree = Math.max(1_000_000, s.ffree);
    return {
      blocks: s.blocks * (s.bsize / 4096),
      bfree: s.bfree * (s.bsize / 4096),
      bavail: s.bavail * (s.bsize / 4096),
      files: inodes + ffree,
      ffree,
      bsize: 4096,
      namelen: 255,
    };
  }
}
