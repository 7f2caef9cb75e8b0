/**
 * The interface between the FUSE driver and a file system. The driver knows
 * nothing of what the file system stores: it decodes kernel requests, calls
 * these methods and encodes their results. Node ids and file handles are the
 * file system's own 64-bit numbers (node id 1 is the root).
 *
 * Errors: throw (or reject with) an error whose `code` is an errno name
 * ('ENOENT', 'EEXIST', …) or whose `errno` is a number; anything else is
 * answered EIO. A method left undefined is answered ENOSYS.
 */

/** Times are nanoseconds since the epoch (signed). */
export interface Attr {
  ino: bigint;
  size: number;
  blocks: number;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}

/** Reply to lookup-like requests. Timeouts are in seconds (fractions allowed). */
export interface Entry {
  nodeid: bigint;
  generation: bigint;
  entryTimeout: number;
  attrTimeout: number;
  attr: Attr;
}

export interface AttrReply {
  attr: Attr;
  timeout: number;
}

export interface OpenReply {
  fh: bigint;
  directIo?: boolean;
  keepCache?: boolean;
  cacheDir?: boolean;
  nonSeekable?: boolean;
  noFlush?: boolean;
}

export interface StatfsReply {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  frsize: number;
  namelen: number;
}

/** A set of attribute changes; only the present fields change. */
export interface SetattrChanges {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** nanoseconds, or 'now' for UTIME_NOW */
  atime?: bigint | 'now';
  mtime?: bigint | 'now';
  ctime?: bigint;
  fh?: bigint;
  /** clear set-user-id / set-group-id (kernel asks after write/chown by non-root) */
  killSuidgid?: boolean;
}

export interface FileLock {
  start: bigint;
  end: bigint;
  /** F_RDLCK=0, F_WRLCK=1, F_UNLCK=2 */
  type: number;
  pid: number;
}

/** Who asks, and an abort signal that fires when the kernel interrupts the request. */
export interface Request {
  readonly unique: bigint;
  readonly nodeid: bigint;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  readonly signal: AbortSignal;
}

/** Where readdir writes entries; add() returns false once the reply buffer is full. */
export interface DirentSink {
  add(name: Buffer, ino: bigint, mode: number, nextOffset: bigint): boolean;
}

/** Readdirplus: entry null for "." and ".." (no lookup is counted for them). */
export interface DirentPlusSink {
  add(name: Buffer, entry: Entry | null, ino: bigint, mode: number, nextOffset: bigint): boolean;
}

export interface ConnectionInfo {
  major: number;
  minor: number;
  maxWrite: number;
  maxReadahead: number;
  capable: bigint;
  want: bigint;
}

export interface FuseOperations {
  init?(info: ConnectionInfo): void | Promise<void>;
  destroy?(): void | Promise<void>;
  lookup?(req: Request, parent: bigint, name: Buffer): Promise<Entry>;
  forget?(nodeid: bigint, nlookup: number): void;
  getattr?(req: Request, nodeid: bigint, fh: bigint | undefined): Promise<AttrReply>;
  setattr?(req: Request, nodeid: bigint, changes: SetattrChanges): Promise<AttrReply>;
  readlink?(req: Request, nodeid: bigint): Promise<Buffer>;
  symlink?(req: Request, parent: bigint, name: Buffer, target: Buffer): Promise<Entry>;
  mknod?(req: Request, parent: bigint, name: Buffer, mode: number, rdev: number, umask: number): Promise<Entry>;
  mkdir?(req: Request, parent: bigint, name: Buffer, mode: number, umask: number): Promise<Entry>;
  unlink?(req: Request, parent: bigint, name: Buffer): Promise<void>;
  rmdir?(req: Request, parent: bigint, name: Buffer): Promise<void>;
  rename?(req: Request, parent: bigint, name: Buffer, newParent: bigint, newName: Buffer, flags: number): Promise<void>;
  link?(req: Request, nodeid: bigint, newParent: bigint, newName: Buffer): Promise<Entry>;
  /** `killSuidgid`: with handleKillpriv, the caller truncates (O_TRUNC) without the right to keep suid/sgid. */
  open?(req: Request, nodeid: bigint, flags: number, killSuidgid: boolean): Promise<OpenReply>;
  create?(
    req: Request,
    parent: bigint,
    name: Buffer,
    mode: number,
    umask: number,
    flags: number,
    killSuidgid: boolean,
  ): Promise<{ entry: Entry; open: OpenReply }>;
  /** Returns the bytes read (fewer than size only at end of file); several buffers are written out as one reply. */
  read?(req: Request, nodeid: bigint, fh: bigint, offset: number, size: number): Promise<Buffer | Buffer[]>;
  /**
   * `data` is only valid until the returned promise settles. `writeFlags`
   * are fuse_write_in.write_flags (WRITE_KILL_SUIDGID: with handleKillpriv,
   * clear suid/sgid as a write by an unprivileged caller does).
   */
  write?(req: Request, nodeid: bigint, fh: bigint, offset: number, data: Buffer, writeFlags: number): Promise<number>;
  flush?(req: Request, nodeid: bigint, fh: bigint, lockOwner: bigint): Promise<void>;
  release?(req: Request, nodeid: bigint, fh: bigint, flags: number, flushed: boolean, lockOwner: bigint): Promise<void>;
  fsync?(req: Request, nodeid: bigint, fh: bigint, datasync: boolean): Promise<void>;
  opendir?(req: Request, nodeid: bigint, flags: number): Promise<OpenReply>;
  readdir?(req: Request, nodeid: bigint, fh: bigint, offset: bigint, out: DirentSink): Promise<void>;
  readdirplus?(req: Request, nodeid: bigint, fh: bigint, offset: bigint, out: DirentPlusSink): Promise<void>;
  releasedir?(req: Request, nodeid: bigint, fh: bigint): Promise<void>;
  fsyncdir?(req: Request, nodeid: bigint, fh: bigint, datasync: boolean): Promise<void>;
  statfs?(req: Request, nodeid: bigint): Promise<StatfsReply>;
  setxattr?(req: Request, nodeid: bigint, name: Buffer, value: Buffer, flags: number): Promise<void>;
  /** Returns the whole value; the driver answers size queries and ERANGE. */
  getxattr?(req: Request, nodeid: bigint, name: Buffer): Promise<Buffer>;
  /** Returns every name; the driver packs them and answers size queries and ERANGE. */
  listxattr?(req: Request, nodeid: bigint): Promise<Buffer[]>;
  removexattr?(req: Request, nodeid: bigint, name: Buffer): Promise<void>;
  access?(req: Request, nodeid: bigint, mask: number): Promise<void>;
  getlk?(req: Request, nodeid: bigint, fh: bigint, owner: bigint, lock: FileLock, flock: boolean): Promise<FileLock>;
  setlk?(
    req: Request,
    nodeid: bigint,
    fh: bigint,
    owner: bigint,
    lock: FileLock,
    flock: boolean,
    wait: boolean,
  ): Promise<void>;
  fallocate?(req: Request, nodeid: bigint, fh: bigint, offset: number, length: number, mode: number): Promise<void>;
  lseek?(req: Request, nodeid: bigint, fh: bigint, offset: number, whence: number): Promise<number>;
  copyFileRange?(
    req: Request,
    nodeIn: bigint,
    fhIn: bigint,
    offIn: number,
    nodeOut: bigint,
    fhOut: bigint,
    offOut: number,
    len: number,
    flags: number,
  ): Promise<number>;
}

/** An error carrying an errno name, for file systems that have no error classes of their own. */
export class FuseError extends Error {
  readonly code: string;
  constructor(code: string, message?: string) {
    super(message ?? code);
    this.code = code;
    this.name = 'FuseError';
  }
}
