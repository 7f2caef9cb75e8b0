/**
 * Pure encoding and decoding of FUSE messages. Decoding validates every
 * length against the message: a short or inconsistent message raises
 * FuseProtocolError instead of reading past the end.
 */
import * as abi from './abi.js';
import { Op } from './abi.js';
import type { Attr, Entry, FileLock, OpenReply, SetattrChanges, StatfsReply } from './types.js';

export class FuseProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuseProtocolError';
  }
}

export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: bigint;
  uid: number;
  gid: number;
  pid: number;
  extlen: number;
}

export type Body =
  | { op: Op.INIT; major: number; minor: number; maxReadahead: number; flags: bigint }
  | { op: Op.LOOKUP | Op.UNLINK | Op.RMDIR | Op.REMOVEXATTR; name: Buffer }
  | { op: Op.FORGET; nlookup: number }
  | { op: Op.BATCH_FORGET; items: Array<{ nodeid: bigint; nlookup: number }> }
  | { op: Op.GETATTR; fh: bigint | undefined }
  | { op: Op.SETATTR; changes: SetattrChanges }
  | { op: Op.READLINK | Op.STATFS | Op.DESTROY | Op.SYNCFS | Op.NOTIFY_REPLY }
  | { op: Op.SYMLINK; name: Buffer; target: Buffer }
  | { op: Op.MKNOD; mode: number; rdev: number; umask: number; name: Buffer }
  | { op: Op.MKDIR; mode: number; umask: number; name: Buffer }
  | { op: Op.RENAME | Op.RENAME2; newParent: bigint; flags: number; name: Buffer; newName: Buffer }
  | { op: Op.LINK; oldNodeid: bigint; newName: Buffer }
  | { op: Op.OPEN | Op.OPENDIR; flags: number; openFlags: number }
  | { op: Op.CREATE; flags: number; mode: number; umask: number; openFlags: number; name: Buffer }
  | { op: Op.READ | Op.READDIR | Op.READDIRPLUS; fh: bigint; offset: bigint; size: number }
  | { op: Op.WRITE; fh: bigint; offset: bigint; flags: number; data: Buffer }
  | { op: Op.RELEASE | Op.RELEASEDIR; fh: bigint; flags: number; releaseFlags: number; lockOwner: bigint }
  | { op: Op.FLUSH; fh: bigint; lockOwner: bigint }
  | { op: Op.FSYNC | Op.FSYNCDIR; fh: bigint; datasync: boolean }
  | { op: Op.SETXATTR; flags: number; name: Buffer; value: Buffer }
  | { op: Op.GETXATTR; size: number; name: Buffer }
  | { op: Op.LISTXATTR; size: number }
  | { op: Op.ACCESS; mask: number }
  | { op: Op.GETLK | Op.SETLK | Op.SETLKW; fh: bigint; owner: bigint; lock: FileLock; flock: boolean }
  | { op: Op.INTERRUPT; target: bigint }
  | { op: Op.FALLOCATE; fh: bigint; offset: number; length: number; mode: number }
  | { op: Op.LSEEK; fh: bigint; offset: number; whence: number }
  | {
      op: Op.COPY_FILE_RANGE;
      fhIn: bigint;
      offIn: number;
      nodeOut: bigint;
      fhOut: bigint;
      offOut: number;
      len: number;
      flags: number;
    }
  | { op: 0; opcode: number };

export interface DecodeOptions {
  /** FUSE_SETXATTR_EXT was negotiated: fuse_setxattr_in is 16 bytes. */
  setxattrExt: boolean;
}

export function decodeHeader(buf: Buffer, n: number): InHeader {
  if (n < abi.IN_HEADER_SIZE) throw new FuseProtocolError(`message of ${n} bytes is shorter than a header`);
  const len = buf.readUInt32LE(0);
  if (len !== n) throw new FuseProtocolError(`header says ${len} bytes but ${n} were read`);
  return {
    len,
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: buf.readBigUInt64LE(16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
    extlen: buf.readUInt16LE(36),
  };
}

/** A bounds-checked cursor over a message body. */
class Reader {
  constructor(
    private readonly b: Buffer,
    private readonly what: string,
  ) {}
  need(n: number): void {
    if (this.b.length < n) throw new FuseProtocolError(`${this.what}: body of ${this.b.length} bytes, need ${n}`);
  }
  u32(o: number): number {
    return this.b.readUInt32LE(o);
  }
  u64(o: number): bigint {
    return this.b.readBigUInt64LE(o);
  }
  s64(o: number): bigint {
    return this.b.readBigInt64LE(o);
  }
  num64(o: number): number {
    const v = this.b.readBigUInt64LE(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FuseProtocolError(`${this.what}: value ${v} out of range`);
    return Number(v);
  }
  /** A NUL-terminated string starting at o, copied; returns it and the offset after the NUL. */
  cstr(o: number): [Buffer, number] {
    const end = this.b.indexOf(0, o);
    if (end < 0) throw new FuseProtocolError(`${this.what}: name is not NUL-terminated`);
    return [Buffer.from(this.b.subarray(o, end)), end + 1];
  }
  rest(o: number): Buffer {
    return this.b.subarray(o);
  }
}

function decodeLock(r: Reader, o: number): FileLock {
  return { start: r.u64(o), end: r.u64(o + 8), type: r.u32(o + 16), pid: r.u32(o + 20) };
}

function decodeSetattr(r: Reader): SetattrChanges {
  r.need(abi.SETATTR_IN_SIZE);
  const valid = r.u32(0);
  const F = abi.Fattr;
  const c: SetattrChanges = {};
  if (valid & F.FH) c.fh = r.u64(8);
  if (valid & F.SIZE) c.size = r.num64(16);
  if (valid & F.ATIME_NOW) c.atime = 'now';
  else if (valid & F.ATIME) c.atime = r.s64(32) * 1_000_000_000n + BigInt(r.u32(56));
  if (valid & F.MTIME_NOW) c.mtime = 'now';
  else if (valid & F.MTIME) c.mtime = r.s64(40) * 1_000_000_000n + BigInt(r.u32(60));
  if (valid & F.CTIME) c.ctime = r.s64(48) * 1_000_000_000n + BigInt(r.u32(64));
  if (valid & F.MODE) c.mode = r.u32(68);
  if (valid & F.UID) c.uid = r.u32(76);
  if (valid & F.GID) c.gid = r.u32(80);
  if (valid & F.KILL_SUIDGID) c.killSuidgid = true;
  return c;
}

/** Decodes the body that follows the header. Names are copied; WRITE data is a view into `body`. */
export function decodeBody(h: InHeader, body: Buffer, opts: DecodeOptions): Body {
  const op = h.opcode;
  const r = new Reader(body, abi.OP_NAMES[op] ?? `opcode ${op}`);
  switch (op) {
    case Op.INIT: {
      r.need(16);
      let flags = BigInt(r.u32(12));
      if (body.length >= 20 && flags & BigInt(abi.InitFlag.INIT_EXT)) flags |= BigInt(r.u32(16)) << 32n;
      return { op, major: r.u32(0), minor: r.u32(4), maxReadahead: r.u32(8), flags };
    }
    case Op.LOOKUP:
    case Op.UNLINK:
    case Op.RMDIR:
    case Op.REMOVEXATTR:
      return { op, name: r.cstr(0)[0] };
    case Op.FORGET:
      r.need(8);
      return { op, nlookup: r.num64(0) };
    case Op.BATCH_FORGET: {
      r.need(8);
      const count = r.u32(0);
      r.need(8 + count * 16);
      const items: Array<{ nodeid: bigint; nlookup: number }> = [];
      for (let i = 0; i < count; i++) items.push({ nodeid: r.u64(8 + i * 16), nlookup: r.num64(16 + i * 16) });
      return { op, items };
    }
    case Op.GETATTR: {
      r.need(16);
      return { op, fh: r.u32(0) & abi.GETATTR_FH ? r.u64(8) : undefined };
    }
    case Op.SETATTR:
      return { op, changes: decodeSetattr(r) };
    case Op.READLINK:
    case Op.STATFS:
    case Op.DESTROY:
    case Op.SYNCFS:
    case Op.NOTIFY_REPLY:
      return { op };
    case Op.SYMLINK: {
      const [name, next] = r.cstr(0);
      return { op, name, target: r.cstr(next)[0] };
    }
    case Op.MKNOD:
      r.need(16);
      return { op, mode: r.u32(0), rdev: r.u32(4), umask: r.u32(8), name: r.cstr(16)[0] };
    case Op.MKDIR:
      r.need(8);
      return { op, mode: r.u32(0), umask: r.u32(4), name: r.cstr(8)[0] };
    case Op.RENAME:
    case Op.RENAME2: {
      const fixed = op === Op.RENAME ? 8 : 16;
      r.need(fixed);
      const [name, next] = r.cstr(fixed);
      return { op, newParent: r.u64(0), flags: op === Op.RENAME2 ? r.u32(8) : 0, name, newName: r.cstr(next)[0] };
    }
    case Op.LINK:
      r.need(8);
      return { op, oldNodeid: r.u64(0), newName: r.cstr(8)[0] };
    case Op.OPEN:
    case Op.OPENDIR:
      r.need(8);
      return { op, flags: r.u32(0), openFlags: r.u32(4) };
    case Op.CREATE:
      r.need(16);
      return { op, flags: r.u32(0), mode: r.u32(4), umask: r.u32(8), openFlags: r.u32(12), name: r.cstr(16)[0] };
    case Op.READ:
    case Op.READDIR:
    case Op.READDIRPLUS:
      r.need(24);
      return { op, fh: r.u64(0), offset: r.u64(8), size: r.u32(16) };
    case Op.WRITE: {
      r.need(abi.WRITE_IN_SIZE);
      const size = r.u32(16);
      r.need(abi.WRITE_IN_SIZE + size);
      return {
        op,
        fh: r.u64(0),
        offset: r.u64(8),
        flags: r.u32(20),
        data: body.subarray(abi.WRITE_IN_SIZE, abi.WRITE_IN_SIZE + size),
      };
    }
    case Op.RELEASE:
    case Op.RELEASEDIR:
      r.need(24);
      return { op, fh: r.u64(0), flags: r.u32(8), releaseFlags: r.u32(12), lockOwner: r.u64(16) };
    case Op.FLUSH:
      r.need(24);
      return { op, fh: r.u64(0), lockOwner: r.u64(16) };
    case Op.FSYNC:
    case Op.FSYNCDIR:
      r.need(16);
      return { op, fh: r.u64(0), datasync: (r.u32(8) & abi.FSYNC_FDATASYNC) !== 0 };
    case Op.SETXATTR: {
      const fixed = opts.setxattrExt ? 16 : 8;
      r.need(fixed);
      const size = r.u32(0);
      const [name, next] = r.cstr(fixed);
      r.need(next + size);
      return { op, flags: r.u32(4), name, value: Buffer.from(body.subarray(next, next + size)) };
    }
    case Op.GETXATTR:
      r.need(8);
      return { op, size: r.u32(0), name: r.cstr(8)[0] };
    case Op.LISTXATTR:
      r.need(8);
      return { op, size: r.u32(0) };
    case Op.ACCESS:
      r.need(8);
      return { op, mask: r.u32(0) };
    case Op.GETLK:
    case Op.SETLK:
    case Op.SETLKW:
      r.need(16 + abi.LK_SIZE + 8);
      return {
        op,
        fh: r.u64(0),
        owner: r.u64(8),
        lock: decodeLock(r, 16),
        flock: (r.u32(16 + abi.LK_SIZE) & abi.LK_FLOCK) !== 0,
      };
    case Op.INTERRUPT:
      r.need(8);
      return { op, target: r.u64(0) };
    case Op.FALLOCATE:
      r.need(32);
      return { op, fh: r.u64(0), offset: r.num64(8), length: r.num64(16), mode: r.u32(24) };
    case Op.LSEEK:
      r.need(24);
      return { op, fh: r.u64(0), offset: Number(r.s64(8)), whence: r.u32(16) };
    case Op.COPY_FILE_RANGE:
      r.need(56);
      return {
        op,
        fhIn: r.u64(0),
        offIn: r.num64(8),
        nodeOut: r.u64(16),
        fhOut: r.u64(24),
        offOut: r.num64(32),
        len: r.num64(40),
        flags: Number(r.u64(48) & 0xffffffffn),
      };
    default:
      return { op: 0, opcode: op };
  }
}

// ---- replies ---------------------------------------------------------------

/** A reply buffer with its out-header filled in; the payload starts at OUT_HEADER_SIZE. */
export function replyBuffer(unique: bigint, payload: number, error = 0): Buffer {
  const b = Buffer.alloc(abi.OUT_HEADER_SIZE + payload);
  b.writeUInt32LE(b.length, 0);
  b.writeInt32LE(error, 4);
  b.writeBigUInt64LE(unique, 8);
  return b;
}

/** A bare out-header for a reply whose `payload` bytes are written after it (writev). */
export function replyHeader(unique: bigint, payload: number): Buffer {
  const b = Buffer.allocUnsafe(abi.OUT_HEADER_SIZE);
  b.writeUInt32LE(abi.OUT_HEADER_SIZE + payload, 0);
  b.writeInt32LE(0, 4);
  b.writeBigUInt64LE(unique, 8);
  return b;
}

export function errorReply(unique: bigint, errno: number): Buffer {
  return replyBuffer(unique, 0, -errno);
}

const NS = 1_000_000_000n;
function splitNs(ns: bigint): [bigint, number] {
  let sec = ns / NS;
  let nsec = ns % NS;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += NS;
  }
  return [sec, Number(nsec)];
}

export function encodeAttr(b: Buffer, o: number, a: Attr): void {
  b.writeBigUInt64LE(a.ino, o);
  b.writeBigUInt64LE(BigInt(a.size), o + 8);
  b.writeBigUInt64LE(BigInt(a.blocks), o + 16);
  const [as, an] = splitNs(a.atime);
  const [ms, mn] = splitNs(a.mtime);
  const [cs, cn] = splitNs(a.ctime);
  b.writeBigInt64LE(as, o + 24);
  b.writeBigInt64LE(ms, o + 32);
  b.writeBigInt64LE(cs, o + 40);
  b.writeUInt32LE(an, o + 48);
  b.writeUInt32LE(mn, o + 52);
  b.writeUInt32LE(cn, o + 56);
  b.writeUInt32LE(a.mode >>> 0, o + 60);
  b.writeUInt32LE(a.nlink >>> 0, o + 64);
  b.writeUInt32LE(a.uid >>> 0, o + 68);
  b.writeUInt32LE(a.gid >>> 0, o + 72);
  b.writeUInt32LE(a.rdev >>> 0, o + 76);
  b.writeUInt32LE(a.blksize >>> 0, o + 80);
  b.writeUInt32LE(0, o + 84);
}

function splitTimeout(seconds: number): [bigint, number] {
  const s = Math.max(0, seconds);
  const whole = Math.floor(s);
  return [BigInt(whole), Math.floor((s - whole) * 1e9)];
}

export function encodeEntry(b: Buffer, o: number, e: Entry): void {
  const [es, en] = splitTimeout(e.entryTimeout);
  const [as, an] = splitTimeout(e.attrTimeout);
  b.writeBigUInt64LE(e.nodeid, o);
  b.writeBigUInt64LE(e.generation, o + 8);
  b.writeBigUInt64LE(es, o + 16);
  b.writeBigUInt64LE(as, o + 24);
  b.writeUInt32LE(en, o + 32);
  b.writeUInt32LE(an, o + 36);
  encodeAttr(b, o + 40, e.attr);
}

export function entryReply(unique: bigint, e: Entry): Buffer {
  const b = replyBuffer(unique, abi.ENTRY_OUT_SIZE);
  encodeEntry(b, abi.OUT_HEADER_SIZE, e);
  return b;
}

export function attrReply(unique: bigint, attr: Attr, timeout: number): Buffer {
  const b = replyBuffer(unique, abi.ATTR_OUT_SIZE);
  const [s, n] = splitTimeout(timeout);
  b.writeBigUInt64LE(s, 16);
  b.writeUInt32LE(n, 24);
  encodeAttr(b, 16 + 16, attr);
  return b;
}

export function openFlags(o: OpenReply): number {
  let f = 0;
  if (o.directIo) f |= abi.Fopen.DIRECT_IO;
  if (o.keepCache) f |= abi.Fopen.KEEP_CACHE;
  if (o.cacheDir) f |= abi.Fopen.CACHE_DIR;
  if (o.nonSeekable) f |= abi.Fopen.NONSEEKABLE;
  if (o.noFlush) f |= abi.Fopen.NOFLUSH;
  return f;
}

export function openReply(unique: bigint, o: OpenReply): Buffer {
  const b = replyBuffer(unique, abi.OPEN_OUT_SIZE);
  b.writeBigUInt64LE(o.fh, 16);
  b.writeUInt32LE(openFlags(o), 24);
  return b;
}

export function createReply(unique: bigint, e: Entry, o: OpenReply): Buffer {
  const b = replyBuffer(unique, abi.ENTRY_OUT_SIZE + abi.OPEN_OUT_SIZE);
  encodeEntry(b, 16, e);
  b.writeBigUInt64LE(o.fh, 16 + abi.ENTRY_OUT_SIZE);
  b.writeUInt32LE(openFlags(o), 16 + abi.ENTRY_OUT_SIZE + 8);
  return b;
}

export function writeReply(unique: bigint, size: number): Buffer {
  const b = replyBuffer(unique, abi.WRITE_OUT_SIZE);
  b.writeUInt32LE(size, 16);
  return b;
}

export function statfsReply(unique: bigint, s: StatfsReply): Buffer {
  const b = replyBuffer(unique, abi.STATFS_OUT_SIZE);
  const o = 16;
  b.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(s.blocks))), o);
  b.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(s.bfree))), o + 8);
  b.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(s.bavail))), o + 16);
  b.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(s.files))), o + 24);
  b.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(s.ffree))), o + 32);
  b.writeUInt32LE(s.bsize, o + 40);
  b.writeUInt32LE(s.namelen, o + 44);
  b.writeUInt32LE(s.frsize, o + 48);
  return b;
}

/** fuse_getxattr_out: the size of a value or of a name list, for size queries. */
export function sizeReply(unique: bigint, size: number): Buffer {
  const b = replyBuffer(unique, 8);
  b.writeUInt32LE(size, 16);
  return b;
}

export function u64Reply(unique: bigint, v: number): Buffer {
  const b = replyBuffer(unique, 8);
  b.writeBigUInt64LE(BigInt(v), 16);
  return b;
}

export function lockReply(unique: bigint, l: FileLock): Buffer {
  const b = replyBuffer(unique, abi.LK_SIZE);
  b.writeBigUInt64LE(l.start, 16);
  b.writeBigUInt64LE(l.end, 24);
  b.writeUInt32LE(l.type, 32);
  b.writeUInt32LE(l.pid, 36);
  return b;
}

export interface InitReply {
  minor: number;
  maxReadahead: number;
  flags: bigint;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
}

export function initReply(unique: bigint, r: InitReply): Buffer {
  const b = replyBuffer(unique, abi.INIT_OUT_SIZE);
  const o = 16;
  b.writeUInt32LE(abi.KERNEL_VERSION, o);
  b.writeUInt32LE(r.minor, o + 4);
  b.writeUInt32LE(r.maxReadahead, o + 8);
  b.writeUInt32LE(Number(r.flags & 0xffffffffn), o + 12);
  b.writeUInt16LE(r.maxBackground, o + 16);
  b.writeUInt16LE(r.congestionThreshold, o + 18);
  b.writeUInt32LE(r.maxWrite, o + 20);
  b.writeUInt32LE(r.timeGran, o + 24);
  b.writeUInt16LE(r.maxPages, o + 28);
  b.writeUInt32LE(Number(r.flags >> 32n), o + 32);
  return b;
}

/** Packs directory entries into a reply of at most `max` payload bytes. */
export class DirentPacker {
  readonly buf: Buffer;
  used = 0;
  constructor(
    readonly unique: bigint,
    readonly max: number,
    readonly plus: boolean,
  ) {
    this.buf = Buffer.alloc(abi.OUT_HEADER_SIZE + max);
  }

  add(name: Buffer, entry: Entry | null, ino: bigint, mode: number, nextOffset: bigint): boolean {
    const head = this.plus ? abi.DIRENTPLUS_HEADER_SIZE : abi.DIRENT_HEADER_SIZE;
    const size = (head + name.length + 7) & ~7;
    if (this.used + size > this.max) return false;
    const b = this.buf;
    let o = abi.OUT_HEADER_SIZE + this.used;
    if (this.plus) {
      if (entry) encodeEntry(b, o, entry);
      o += abi.ENTRY_OUT_SIZE;
    }
    b.writeBigUInt64LE(ino, o);
    b.writeBigUInt64LE(nextOffset, o + 8);
    b.writeUInt32LE(name.length, o + 16);
    b.writeUInt32LE((mode >>> 12) & 0xf, o + 20);
    name.copy(b, o + 24);
    this.used += size;
    return true;
  }

  finish(): Buffer {
    const out = this.buf.subarray(0, abi.OUT_HEADER_SIZE + this.used);
    out.writeUInt32LE(out.length, 0);
    out.writeInt32LE(0, 4);
    out.writeBigUInt64LE(this.unique, 8);
    return out;
  }
}

/** Packs xattr names as NUL-terminated strings. */
export function packNames(names: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const n of names) parts.push(n, Buffer.from([0]));
  return Buffer.concat(parts);
}

export function notifyInvalInode(nodeid: bigint, off: bigint, len: bigint): Buffer {
  const b = replyBuffer(0n, 24, abi.NotifyCode.INVAL_INODE);
  b.writeBigUInt64LE(nodeid, 16);
  b.writeBigInt64LE(off, 24);
  b.writeBigInt64LE(len, 32);
  return b;
}

export function notifyInvalEntry(parent: bigint, name: Buffer): Buffer {
  const b = replyBuffer(0n, 16 + name.length + 1, abi.NotifyCode.INVAL_ENTRY);
  b.writeBigUInt64LE(parent, 16);
  b.writeUInt32LE(name.length, 24);
  name.copy(b, 32);
  return b;
}

export function notifyDelete(parent: bigint, child: bigint, name: Buffer): Buffer {
  const b = replyBuffer(0n, 24 + name.length + 1, abi.NotifyCode.DELETE);
  b.writeBigUInt64LE(parent, 16);
  b.writeBigUInt64LE(child, 24);
  b.writeUInt32LE(name.length, 32);
  name.copy(b, 40);
  return b;
}
