/**
 * A mounted FUSE session: negotiates INIT, decodes each kernel request,
 * calls the file system's operation and writes its reply. Every request gets
 * exactly one reply (FORGET, BATCH_FORGET and INTERRUPT get none); a
 * malformed request is answered EINVAL and logged, never thrown.
 */
import * as fsp from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import * as abi from './abi.js';
import { InitFlag, Op } from './abi.js';
import { FuseChannel } from './channel.js';
import * as codec from './codec.js';
import {
  abortConnection,
  clearStaleMount,
  type MountOptions,
  mountFuse,
  setReadahead,
  syncMount,
  unmount,
} from './mount.js';
import type { ConnectionInfo, FuseOperations, Request } from './types.js';

const ERRNO = osConstants.errno as Record<string, number>;
const EIO = ERRNO.EIO ?? 5;
const ENOSYS = ERRNO.ENOSYS ?? 38;
const EINVAL = ERRNO.EINVAL ?? 22;
const ERANGE = ERRNO.ERANGE ?? 34;
const EINTR = ERRNO.EINTR ?? 4;

export interface DriverLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface SessionOptions {
  mountpoint: string;
  subtype?: string;
  fsname?: string;
  /** Largest WRITE payload (and READ size) asked of the kernel; default 1 MiB. */
  maxWrite?: number;
  /** Threads reading /dev/fuse; default 2. */
  readers?: number;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  /** Let the kernel buffer writes in its page cache and send them in bulk. */
  writebackCache?: boolean;
  /**
   * The file system clears suid/sgid itself on write, truncate, O_TRUNC and
   * chown (FUSE_HANDLE_KILLPRIV_V2: writeFlags, killSuidgid). The kernel then
   * marks the mount SB_NOSEC and stops asking for security.capability on
   * every write.
   */
  handleKillpriv?: boolean;
  /** Clear a stale mount of ours on the mount point first. */
  clearStale?: boolean;
  /** Kernel read-ahead for the mount, in KiB (default: the kernel's, 128). */
  readaheadKb?: number;
  /** Keep polling this many milliseconds after each request (see ChannelOptions); default 2. */
  pollWindowMs?: number;
  logger?: DriverLogger;
}

/** Maps any error to a positive errno: `code` names an errno, or `errno` is one. */
export function errnoOf(err: unknown): number {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; errno?: unknown; name?: unknown };
    if (typeof e.code === 'string' && ERRNO[e.code] !== undefined) return ERRNO[e.code] as number;
    if (typeof e.errno === 'number' && e.errno !== 0) return Math.abs(e.errno);
    if (e.name === 'AbortError') return EINTR;
  }
  return EIO;
}

class Req implements Request {
  private controller: AbortController | undefined;
  interrupted = false;
  constructor(
    readonly unique: bigint,
    readonly nodeid: bigint,
    readonly uid: number,
    readonly gid: number,
    readonly pid: number,
  ) {}
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.interrupted) this.controller.abort();
    }
    return this.controller.signal;
  }
  interrupt(): void {
    this.interrupted = true;
    this.controller?.abort();
  }
}

const noopLogger: DriverLogger = { warn() {}, debug() {} };

export class FuseSession {
  private channel: FuseChannel | undefined;
  private readonly inflight = new Map<bigint, Req>();
  private readonly log: DriverLogger;
  private decodeOpts: codec.DecodeOptions = { setxattrExt: false };
  private initDone!: (err?: Error) => void;
  private readonly initialized: Promise<void>;
  private conn: ConnectionInfo | undefined;
  private unmounting = false;
  /** st_dev of the mount: names its fusectl connection. */
  private dev: number | undefined;
  /** Requests received, by opcode name. */
  readonly counts: Record<string, number> = {};
  /** Resolves when the connection ends, for whatever reason. */
  closed: Promise<Error | undefined> = Promise.resolve(undefined);
  readonly mountpoint: string;
  readonly maxWrite: number;

  private constructor(
    private readonly ops: FuseOperations,
    private readonly opts: SessionOptions,
  ) {
    this.log = opts.logger ?? noopLogger;
    this.mountpoint = opts.mountpoint;
    this.maxWrite = opts.maxWrite ?? 1 << 20;
    this.initialized = new Promise((resolve, reject) => {
      this.initDone = (err) => (err ? reject(err) : resolve());
    });
  }

  /** Mounts `ops` on the mount point and resolves once the kernel's INIT is answered. */
  static async mount(ops: FuseOperations, opts: SessionOptions): Promise<FuseSession> {
    const s = new FuseSession(ops, opts);
    await s.start();
    return s;
  }

  get connection(): ConnectionInfo | undefined {
    return this.conn;
  }

  private async start(): Promise<void> {
    const subtype = this.opts.subtype ?? 'node';
    if (this.opts.clearStale) await clearStaleMount(this.mountpoint, subtype);
    const mo: MountOptions = {
      subtype,
      fsname: this.opts.fsname ?? subtype,
      allowOther: this.opts.allowOther ?? false,
      defaultPermissions: this.opts.defaultPermissions ?? true,
      maxRead: this.maxWrite,
    };
    // The read loop must run while mount(8) works: the kernel sends INIT during mount(2).
    const fd = await mountFuse(this.mountpoint, mo);
    const channel = new FuseChannel(fd, {
      bufferSize: this.maxWrite + 4096 * 2,
      readers: this.opts.readers ?? 2,
      slotsPerReader: 8,
      pollWindowMs: this.opts.pollWindowMs ?? 2,
    });
    this.channel = channel;
    this.closed = channel.closed.then((err) => {
      this.initDone(err ?? new Error('connection closed before INIT'));
      for (const r of this.inflight.values()) r.interrupt();
      return err;
    });
    channel.start((buf, n, done) => this.onRequest(buf, n, done));
    await this.initialized;
    try {
      this.dev = (await fsp.stat(this.mountpoint)).dev;
    } catch {
      this.dev = undefined;
    }
    if (this.dev !== undefined && this.opts.readaheadKb) setReadahead(this.dev, this.opts.readaheadKb);
  }

  /**
   * Unmounts and waits until the kernel has closed the connection. If files
   * are still open on a busy mount, the connection is aborted after
   * `graceMs` so the caller never hangs.
   */
  async unmount(graceMs = 2000): Promise<void> {
    if (!this.channel || this.unmounting) {
      await this.closed;
      return;
    }
    this.unmounting = true;
    // Writes still cached by the kernel (writeback cache, files still open) reach the file system first.
    if (this.opts.writebackCache) await syncMount(this.mountpoint);
    const how = await unmount(this.mountpoint);
    if (how === 'detached') {
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        this.closed.then(() => false),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(true), graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (late && this.dev !== undefined) {
        this.log.warn({ mountpoint: this.mountpoint }, 'fuse: files still open after unmount; aborting the connection');
        await abortConnection(this.dev);
      }
    }
    await this.closed;
  }

  /** Drops cached attributes (off < 0) or attributes and data pages from `off` (len 0 = to the end). */
  notifyInvalInode(nodeid: bigint, off = 0n, len = 0n): Promise<boolean> {
    return this.channel?.notify(codec.notifyInvalInode(nodeid, off, len)) ?? Promise.resolve(false);
  }

  /** Drops the kernel's cached entry `name` in directory `parent`. */
  notifyInvalEntry(parent: bigint, name: Buffer): Promise<boolean> {
    return this.channel?.notify(codec.notifyInvalEntry(parent, name)) ?? Promise.resolve(false);
  }

  /** Tells the kernel that `name` in `parent`, naming `child`, is gone. */
  notifyDelete(parent: bigint, child: bigint, name: Buffer): Promise<boolean> {
    return this.channel?.notify(codec.notifyDelete(parent, child, name)) ?? Promise.resolve(false);
  }

  // ---- dispatch --------------------------------------------------------------

  private send(b: Buffer | Buffer[]): void {
    this.channel?.reply(b);
  }

  private sendError(unique: bigint, errno: number): void {
    this.send(codec.errorReply(unique, errno));
  }

  private onRequest(buf: Buffer, n: number, done: () => void): void {
    let header: codec.InHeader;
    try {
      header = codec.decodeHeader(buf, n);
    } catch (err) {
      done();
      this.log.warn({ err: String(err) }, 'fuse: undecodable message dropped');
      return;
    }
    let body: codec.Body;
    try {
      // Extensions (never negotiated here) follow the arguments.
      body = codec.decodeBody(header, buf.subarray(abi.IN_HEADER_SIZE, n - header.extlen * 8), this.decodeOpts);
    } catch (err) {
      done();
      this.log.warn({ op: abi.OP_NAMES[header.opcode], err: String(err) }, 'fuse: malformed request');
      this.sendError(header.unique, EINVAL);
      return;
    }
    if (body.op !== Op.WRITE) done();
    const name = abi.OP_NAMES[header.opcode] ?? String(header.opcode);
    this.counts[name] = (this.counts[name] ?? 0) + 1;
    const req = new Req(header.unique, header.nodeid, header.uid, header.gid, header.pid);
    let p: Promise<void> | undefined;
    try {
      p = this.dispatch(req, body);
    } catch (err) {
      p = Promise.reject(err);
    }
    if (p === undefined) {
      if (body.op === Op.WRITE) done();
      return;
    }
    this.inflight.set(header.unique, req);
    p.then(
      () => {
        this.inflight.delete(header.unique);
        if (body.op === Op.WRITE) done();
      },
      (err: unknown) => {
        this.inflight.delete(header.unique);
        if (body.op === Op.WRITE) done();
        const errno = req.interrupted && (err as { name?: string })?.name === 'AbortError' ? EINTR : errnoOf(err);
        if (errno === EIO) this.log.warn({ op: abi.OP_NAMES[header.opcode], err }, 'fuse: operation failed');
        this.sendError(header.unique, errno);
      },
    );
  }

  /** Returns undefined for requests that take no reply (or were answered at once). */
  private dispatch(req: Req, b: codec.Body): Promise<void> | undefined {
    const ops = this.ops;
    const u = req.unique;
    const id = req.nodeid;
    switch (b.op) {
      case Op.INIT:
        return this.init(u, b);
      case Op.DESTROY:
        return Promise.resolve(ops.destroy?.()).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.FORGET:
        ops.forget?.(id, b.nlookup);
        return undefined;
      case Op.BATCH_FORGET:
        for (const it of b.items) ops.forget?.(it.nodeid, it.nlookup);
        return undefined;
      case Op.INTERRUPT:
        this.inflight.get(b.target)?.interrupt();
        return undefined;
      case Op.NOTIFY_REPLY:
        return undefined;
      case Op.LOOKUP:
        if (!ops.lookup) break;
        return ops.lookup(req, id, b.name).then((e) => this.send(codec.entryReply(u, e)));
      case Op.GETATTR:
        if (!ops.getattr) break;
        return ops.getattr(req, id, b.fh).then((a) => this.send(codec.attrReply(u, a.attr, a.timeout)));
      case Op.SETATTR:
        if (!ops.setattr) break;
        return ops.setattr(req, id, b.changes).then((a) => this.send(codec.attrReply(u, a.attr, a.timeout)));
      case Op.READLINK:
        if (!ops.readlink) break;
        return ops.readlink(req, id).then((t) => this.send([codec.replyHeader(u, t.length), t]));
      case Op.SYMLINK:
        if (!ops.symlink) break;
        return ops.symlink(req, id, b.name, b.target).then((e) => this.send(codec.entryReply(u, e)));
      case Op.MKNOD:
        if (!ops.mknod) break;
        return ops.mknod(req, id, b.name, b.mode, b.rdev, b.umask).then((e) => this.send(codec.entryReply(u, e)));
      case Op.MKDIR:
        if (!ops.mkdir) break;
        return ops.mkdir(req, id, b.name, b.mode, b.umask).then((e) => this.send(codec.entryReply(u, e)));
      case Op.UNLINK:
        if (!ops.unlink) break;
        return ops.unlink(req, id, b.name).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.RMDIR:
        if (!ops.rmdir) break;
        return ops.rmdir(req, id, b.name).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.RENAME:
      case Op.RENAME2:
        if (!ops.rename) break;
        return ops
          .rename(req, id, b.name, b.newParent, b.newName, b.flags)
          .then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.LINK:
        if (!ops.link) break;
        return ops.link(req, b.oldNodeid, id, b.newName).then((e) => this.send(codec.entryReply(u, e)));
      case Op.OPEN:
        if (!ops.open) break;
        return ops
          .open(req, id, b.flags, (b.openFlags & abi.OPEN_KILL_SUIDGID) !== 0)
          .then((o) => this.send(codec.openReply(u, o)));
      case Op.CREATE:
        if (!ops.create) break;
        return ops
          .create(req, id, b.name, b.mode, b.umask, b.flags, (b.openFlags & abi.OPEN_KILL_SUIDGID) !== 0)
          .then((r) => this.send(codec.createReply(u, r.entry, r.open)));
      case Op.READ:
        if (!ops.read) break;
        return this.read(req, b.fh, Number(b.offset), b.size);
      case Op.WRITE:
        if (!ops.write) break;
        return ops
          .write(req, id, b.fh, Number(b.offset), b.data, b.flags)
          .then((n) => this.send(codec.writeReply(u, n)));
      case Op.FLUSH:
        if (!ops.flush) break;
        return ops.flush(req, id, b.fh, b.lockOwner).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.RELEASE:
        if (!ops.release) return this.ok(u);
        return ops
          .release(req, id, b.fh, b.flags, (b.releaseFlags & abi.RELEASE_FLUSH) !== 0, b.lockOwner)
          .then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.FSYNC:
        if (!ops.fsync) break;
        return ops.fsync(req, id, b.fh, b.datasync).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.OPENDIR:
        if (!ops.opendir) return Promise.resolve(this.send(codec.openReply(u, { fh: 0n })));
        return ops.opendir(req, id, b.flags).then((o) => this.send(codec.openReply(u, o)));
      case Op.READDIR:
      case Op.READDIRPLUS:
        return this.readdir(req, b.op === Op.READDIRPLUS, b.fh, b.offset, b.size);
      case Op.RELEASEDIR:
        if (!ops.releasedir) return this.ok(u);
        return ops.releasedir(req, id, b.fh).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.FSYNCDIR:
        if (!ops.fsyncdir) break;
        return ops.fsyncdir(req, id, b.fh, b.datasync).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.STATFS:
        if (!ops.statfs) break;
        return ops.statfs(req, id).then((s) => this.send(codec.statfsReply(u, s)));
      case Op.SETXATTR:
        if (!ops.setxattr) break;
        return ops.setxattr(req, id, b.name, b.value, b.flags).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.GETXATTR:
        if (!ops.getxattr) break;
        return ops.getxattr(req, id, b.name).then((v) => this.sized(u, b.size, v));
      case Op.LISTXATTR:
        if (!ops.listxattr) break;
        return ops.listxattr(req, id).then((names) => this.sized(u, b.size, codec.packNames(names)));
      case Op.REMOVEXATTR:
        if (!ops.removexattr) break;
        return ops.removexattr(req, id, b.name).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.ACCESS:
        if (!ops.access) break;
        return ops.access(req, id, b.mask).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.GETLK:
        if (!ops.getlk) break;
        return ops.getlk(req, id, b.fh, b.owner, b.lock, b.flock).then((l) => this.send(codec.lockReply(u, l)));
      case Op.SETLK:
      case Op.SETLKW:
        if (!ops.setlk) break;
        return ops
          .setlk(req, id, b.fh, b.owner, b.lock, b.flock, b.op === Op.SETLKW)
          .then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.FALLOCATE:
        if (!ops.fallocate) break;
        return ops.fallocate(req, id, b.fh, b.offset, b.length, b.mode).then(() => this.send(codec.replyBuffer(u, 0)));
      case Op.LSEEK:
        if (!ops.lseek) break;
        return ops.lseek(req, id, b.fh, b.offset, b.whence).then((o) => this.send(codec.u64Reply(u, o)));
      case Op.COPY_FILE_RANGE:
        if (!ops.copyFileRange) break;
        return ops
          .copyFileRange(req, id, b.fhIn, b.offIn, b.nodeOut, b.fhOut, b.offOut, b.len, b.flags)
          .then((n) => this.send(codec.writeReply(u, n)));
      default:
        break;
    }
    this.sendError(u, ENOSYS);
    return undefined;
  }

  private ok(u: bigint): Promise<void> {
    this.send(codec.replyBuffer(u, 0));
    return Promise.resolve();
  }

  private sized(u: bigint, size: number, value: Buffer): void {
    if (size === 0) this.send(codec.sizeReply(u, value.length));
    else if (value.length > size) this.sendError(u, ERANGE);
    else this.send([codec.replyHeader(u, value.length), value]);
  }

  private async read(req: Req, fh: bigint, offset: number, size: number): Promise<void> {
    const ops = this.ops;
    if (!ops.read) return;
    const data = await ops.read(req, req.nodeid, fh, offset, size);
    const parts = Array.isArray(data) ? data : [data];
    let total = 0;
    const out: Buffer[] = [];
    for (const p of parts) {
      if (total >= size) break;
      const take = p.length <= size - total ? p : p.subarray(0, size - total);
      out.push(take);
      total += take.length;
    }
    // /dev/fuse takes a reply in one write; libuv splits writev past 1024 buffers.
    const bufs = out.length > 1000 ? [Buffer.concat(out)] : out;
    this.send([codec.replyHeader(req.unique, total), ...bufs]);
  }

  private async readdir(req: Req, plus: boolean, fh: bigint, offset: bigint, size: number): Promise<void> {
    const packer = new codec.DirentPacker(req.unique, size, plus);
    if (plus) {
      if (!this.ops.readdirplus) throw Object.assign(new Error('readdirplus'), { code: 'ENOSYS' });
      await this.ops.readdirplus(req, req.nodeid, fh, offset, packer);
    } else {
      if (!this.ops.readdir) throw Object.assign(new Error('readdir'), { code: 'ENOSYS' });
      await this.ops.readdir(req, req.nodeid, fh, offset, {
        add: (name, ino, mode, next) => packer.add(name, null, ino, mode, next),
      });
    }
    this.send(packer.finish());
  }

  private async init(
    u: bigint,
    b: { major: number; minor: number; maxReadahead: number; flags: bigint },
  ): Promise<void> {
    if (b.major < abi.KERNEL_VERSION) {
      this.sendError(u, ERRNO.EPROTO ?? 71);
      this.initDone(new Error(`kernel FUSE protocol ${b.major}.${b.minor} is too old`));
      return;
    }
    if (b.major > abi.KERNEL_VERSION) {
      // The kernel will send INIT again with our major.
      this.send(
        codec.initReply(u, {
          minor: abi.KERNEL_MINOR_VERSION,
          maxReadahead: 0,
          flags: 0n,
          maxBackground: 0,
          congestionThreshold: 0,
          maxWrite: 0,
          timeGran: 0,
          maxPages: 0,
        }),
      );
      return;
    }
    const F = InitFlag;
    let want =
      F.ASYNC_READ |
      F.ATOMIC_O_TRUNC |
      F.BIG_WRITES |
      F.AUTO_INVAL_DATA |
      F.ASYNC_DIO |
      F.PARALLEL_DIROPS |
      F.MAX_PAGES |
      F.CACHE_SYMLINKS |
      F.ABORT_ERROR;
    if (this.ops.readdirplus) want |= F.DO_READDIRPLUS | F.READDIRPLUS_AUTO;
    if (this.opts.writebackCache) want |= F.WRITEBACK_CACHE;
    if (this.opts.handleKillpriv) want |= F.HANDLE_KILLPRIV_V2;
    if (this.ops.getlk && this.ops.setlk) want |= F.POSIX_LOCKS | F.FLOCK_LOCKS;
    const wantBig = BigInt(want) & b.flags;
    const minor = Math.min(b.minor, abi.KERNEL_MINOR_VERSION);
    const maxPages = Math.ceil(this.maxWrite / 4096);
    this.conn = {
      major: abi.KERNEL_VERSION,
      minor,
      maxWrite: this.maxWrite,
      maxReadahead: b.maxReadahead,
      capable: b.flags,
      want: wantBig,
    };
    await this.ops.init?.(this.conn);
    this.send(
      codec.initReply(u, {
        minor,
        maxReadahead: b.maxReadahead,
        flags: wantBig,
        maxBackground: 64,
        congestionThreshold: 48,
        maxWrite: this.maxWrite,
        timeGran: 1,
        maxPages,
      }),
    );
    this.initDone();
  }
}
