/**
 * Serves a FileSystem through the FUSE driver: converts between the
 * driver's requests and the file system's calls, and keeps the kernel's
 * lookup count of every inode, so an unlinked inode goes only when the
 * kernel has forgotten it too.
 */
import type { Logger } from '../core/log.js';
import type { FileSystem } from '../fs/filesystem.js';
import type { Attributes, Caller } from '../fs/types.js';
import type {
  Attr,
  AttrReply,
  DirentPlusSink,
  DirentSink,
  Entry,
  FuseOperations,
  OpenReply,
  Request,
  SetattrChanges,
  StatfsReply,
} from '../fuse/index.js';
import { WRITE_KILL_SUIDGID } from '../fuse/index.js';

export interface AdapterOptions {
  /** Seconds the kernel may cache names and attributes (remote changes are pushed as invalidations). */
  entryTimeout: number;
  attrTimeout: number;
  log: Logger;
}

const BATCH = 128;

function caller(req: Request): Caller {
  return { uid: req.uid, gid: req.gid, pid: req.pid };
}

export function toAttr(a: Attributes): Attr {
  return {
    ino: a.ino,
    size: a.size,
    blocks: Math.ceil(a.used / 4096) * 8,
    atime: a.atime,
    mtime: a.mtime,
    ctime: a.ctime,
    mode: a.mode,
    nlink: a.nlink,
    uid: a.uid,
    gid: a.gid,
    rdev: a.rdev,
    blksize: 4096,
  };
}

export class FsAdapter implements FuseOperations {
  /** Kernel lookup count per inode. */
  private readonly lookups = new Map<bigint, number>();

  constructor(
    private readonly fs: FileSystem,
    private readonly opts: AdapterOptions,
  ) {}

  get knownInodes(): number {
    return this.lookups.size;
  }

  private remember(ino: bigint): void {
    const n = this.lookups.get(ino);
    if (n === undefined) {
      this.lookups.set(ino, 1);
      this.fs.pin(ino);
    } else this.lookups.set(ino, n + 1);
  }

  private entry(a: Attributes): Entry {
    this.remember(a.ino);
    return {
      nodeid: a.ino,
      generation: 0n,
      entryTimeout: this.opts.entryTimeout,
      attrTimeout: this.opts.attrTimeout,
      attr: toAttr(a),
    };
  }

  private attrReply(a: Attributes): AttrReply {
    return { attr: toAttr(a), timeout: this.opts.attrTimeout };
  }

  /** The kernel dropped everything (unmount): release every pin. */
  forgetAll(): void {
    for (const ino of [...this.lookups.keys()]) {
      this.lookups.delete(ino);
      this.fs.unpin(ino);
    }
  }

  forget(nodeid: bigint, nlookup: number): void {
    const n = (this.lookups.get(nodeid) ?? 0) - nlookup;
    if (n > 0) {
      this.lookups.set(nodeid, n);
      return;
    }
    if (this.lookups.delete(nodeid)) {
      try {
        this.fs.unpin(nodeid);
      } catch (err) {
        this.opts.log.warn({ err, ino: nodeid.toString() }, 'releasing a forgotten inode failed');
      }
    }
  }

  async lookup(_req: Request, parent: bigint, name: Buffer): Promise<Entry> {
    return this.entry(this.fs.lookup(parent, name));
  }

  async getattr(_req: Request, nodeid: bigint): Promise<AttrReply> {
    return this.attrReply(this.fs.getattr(nodeid));
  }

  async setattr(_req: Request, nodeid: bigint, c: SetattrChanges): Promise<AttrReply> {
    return this.attrReply(
      await this.fs.setattr(nodeid, {
        mode: c.mode,
        uid: c.uid,
        gid: c.gid,
        size: c.size,
        atime: c.atime,
        mtime: c.mtime,
        ctime: c.ctime,
        killSuidgid: c.killSuidgid,
      }),
    );
  }

  async readlink(_req: Request, nodeid: bigint): Promise<Buffer> {
    return this.fs.readlink(nodeid);
  }

  async symlink(req: Request, parent: bigint, name: Buffer, target: Buffer): Promise<Entry> {
    return this.entry(this.fs.symlink(caller(req), parent, name, target));
  }

  async mknod(req: Request, parent: bigint, name: Buffer, mode: number, rdev: number): Promise<Entry> {
    return this.entry(this.fs.mknod(caller(req), parent, name, mode, rdev));
  }

  async mkdir(req: Request, parent: bigint, name: Buffer, mode: number): Promise<Entry> {
    return this.entry(this.fs.mkdir(caller(req), parent, name, mode));
  }

  async unlink(_req: Request, parent: bigint, name: Buffer): Promise<void> {
    this.fs.unlink(parent, name);
  }

  async rmdir(_req: Request, parent: bigint, name: Buffer): Promise<void> {
    this.fs.rmdir(parent, name);
  }

  async rename(
    _req: Request,
    parent: bigint,
    name: Buffer,
    newParent: bigint,
    newName: Buffer,
    flags: number,
  ): Promise<void> {
    this.fs.rename(parent, name, newParent, newName, flags);
  }

  async link(_req: Request, nodeid: bigint, newParent: bigint, newName: Buffer): Promise<Entry> {
    return this.entry(this.fs.link(nodeid, newParent, newName));
  }

  async open(_req: Request, nodeid: bigint, flags: number, killSuidgid: boolean): Promise<OpenReply> {
    const fh = await this.fs.open(nodeid, flags);
    if (killSuidgid) await this.fs.killSuidgid(nodeid);
    return { fh, keepCache: true };
  }

  async create(
    req: Request,
    parent: bigint,
    name: Buffer,
    mode: number,
    _umask: number,
    flags: number,
    killSuidgid: boolean,
  ) {
    const r = await this.fs.create(caller(req), parent, name, mode, flags);
    const attrs = killSuidgid ? await this.fs.killSuidgid(r.attrs.ino) : r.attrs;
    return { entry: this.entry(attrs), open: { fh: r.fh, keepCache: true } };
  }

  read(_req: Request, _nodeid: bigint, fh: bigint, offset: number, size: number): Promise<Buffer[]> {
    return this.fs.read(fh, offset, size);
  }

  async write(
    _req: Request,
    nodeid: bigint,
    fh: bigint,
    offset: number,
    data: Buffer,
    writeFlags: number,
  ): Promise<number> {
    if (writeFlags & WRITE_KILL_SUIDGID) await this.fs.killSuidgid(nodeid);
    return this.fs.write(fh, offset, data);
  }

  flush(_req: Request, _nodeid: bigint, fh: bigint): Promise<void> {
    return this.fs.flush(fh);
  }

  release(_req: Request, _nodeid: bigint, fh: bigint): Promise<void> {
    return this.fs.release(fh);
  }

  fsync(_req: Request, _nodeid: bigint, fh: bigint): Promise<void> {
    return this.fs.fsync(fh);
  }

  async opendir(_req: Request, nodeid: bigint): Promise<OpenReply> {
    return { fh: this.fs.opendir(nodeid) };
  }

  async readdir(_req: Request, nodeid: bigint, _fh: bigint, offset: bigint, out: DirentSink): Promise<void> {
    let cookie = offset;
    for (;;) {
      const batch = this.fs.readdir(nodeid, cookie, BATCH);
      if (batch.length === 0) return;
      for (const e of batch) {
        if (!out.add(e.name, e.ino, e.mode, e.cookie)) return;
        cookie = e.cookie;
      }
    }
  }

  async readdirplus(_req: Request, nodeid: bigint, _fh: bigint, offset: bigint, out: DirentPlusSink): Promise<void> {
    let cookie = offset;
    for (;;) {
      const batch = this.fs.readdir(nodeid, cookie, BATCH);
      if (batch.length === 0) return;
      for (const e of batch) {
        const dots = e.cookie <= 2n;
        let attrs: Attributes | undefined;
        if (!dots) {
          try {
            attrs = this.fs.getattr(e.ino);
          } catch {
            attrs = undefined;
          }
        }
        const entry: Entry | null = attrs
          ? {
              nodeid: attrs.ino,
              generation: 0n,
              entryTimeout: this.opts.entryTimeout,
              attrTimeout: this.opts.attrTimeout,
              attr: toAttr(attrs),
            }
          : null;
        if (!out.add(e.name, entry, e.ino, e.mode, e.cookie)) return;
        if (attrs) this.remember(attrs.ino);
        cookie = e.cookie;
      }
    }
  }

  async releasedir(_req: Request, _nodeid: bigint, fh: bigint): Promise<void> {
    this.fs.releasedir(fh);
  }

  async fsyncdir(): Promise<void> {
    this.fs.syncAll();
  }

  async statfs(): Promise<StatfsReply> {
    const s = this.fs.statfs();
    return { ...s, frsize: s.bsize };
  }

  async setxattr(_req: Request, nodeid: bigint, name: Buffer, value: Buffer, flags: number): Promise<void> {
    this.fs.setxattr(nodeid, name, value, flags);
  }

  async getxattr(_req: Request, nodeid: bigint, name: Buffer): Promise<Buffer> {
    return this.fs.getxattr(nodeid, name);
  }

  async listxattr(_req: Request, nodeid: bigint): Promise<Buffer[]> {
    return this.fs.listxattr(nodeid);
  }

  async removexattr(_req: Request, nodeid: bigint, name: Buffer): Promise<void> {
    this.fs.removexattr(nodeid, name);
  }

  async access(req: Request, nodeid: bigint, mask: number): Promise<void> {
    this.fs.access(caller(req), nodeid, mask);
  }

  fallocate(_req: Request, _nodeid: bigint, fh: bigint, offset: number, length: number, mode: number): Promise<void> {
    return this.fs.fallocate(fh, offset, length, mode);
  }

  async lseek(_req: Request, _nodeid: bigint, fh: bigint, offset: number, whence: number): Promise<number> {
    return this.fs.lseek(fh, offset, whence);
  }
}
