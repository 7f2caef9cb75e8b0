import type { Id } from '../core/ids.js';

/** Who performs an operation (from the kernel request, or the API's token). */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
}

export const ROOT_CALLER: Caller = { uid: 0, gid: 0, pid: 0 };

/** The attributes of an inode as the file system shows them (staged writes included). */
export interface Attributes {
  ino: Id;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  btime: bigint;
  rdev: number;
  /** Bytes stored (holes excluded): what st_blocks counts. */
  used: number;
}

export interface Listing {
  /** Cookie to resume after this entry. */
  cookie: bigint;
  name: Buffer;
  ino: Id;
  mode: number;
}

export interface StatFs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;

export const isDirMode = (m: number) => (m & S_IFMT) === S_IFDIR;
export const isRegMode = (m: number) => (m & S_IFMT) === S_IFREG;
export const isLnkMode = (m: number) => (m & S_IFMT) === S_IFLNK;
