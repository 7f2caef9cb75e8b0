/**
 * Regular files: open, create, read, write, flush (commit on close), fsync,
 * release, truncate, fallocate, lseek. Writes are staged; flush and fsync
 * commit them as a new content version, so close() returning means the data
 * is in the store and survives a crash of the daemon.
 */
import {
  BadHandleError,
  ExistsError,
  InvalidArgumentError,
  IsDirectoryError,
  NoSuchOffsetError,
  NotSupportedError,
} from '../core/errors.js';
import type { Id } from '../core/ids.js';
import { nowNs } from '../core/time.js';
import { rechunk } from './commit.js';
import type { FsCore, Handle } from './core.js';
import type { Dirty, FileState } from './file-state.js';
import { create as createNode } from './nodes.js';
import { type Attributes, type Caller, isDirMode, S_IFREG } from './types.js';

const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_TRUNC = 0o1000;
const O_EXCL = 0o200;

export function handle(core: FsCore, fh: bigint): Handle {
  const h = core.handles.get(fh);
  if (!h || h.dir) throw new BadHandleError(`no open file ${fh}`);
  return h;
}

/**
 * Commits the staged changes of an open file; the caller holds its lock. If
 * it fails, the changes stay staged (and their chunks held) for a retry.
 */
async function commitLocked(core: FsCore, s: FileState): Promise<void> {
  const d = s.dirty;
  if (!d?.changed) return;
  const extents = await rechunk(core.chunks, d);
  const version = core.tree.newId();
  const unlinked = (core.meta.getInode(s.ino)?.nlink ?? 0) === 0;
  core.tree.apply([
    {
      kind: 'content',
      ino: s.ino,
      version,
      base: d.base,
      size: d.size,
      extents,
      mtime: d.mtime,
      time: nowNs(),
      ...(unlinked ? { unlinked } : {}),
    },
  ]);
  core.tree.commitNow();
  core.tree.collectVersion(d.base, core.stable());
  core.onCommitted([...d.held, ...d.streams.flatMap((st) => st.chunks.map((c) => c.hash))]);
  s.version = version;
  s.extents = extents;
  s.size = d.size;
  s.dirty = null;
  await discard(core, d);
}

/** Ends a set of staged changes, committed or abandoned: their chunks are released, unused ones collected. */
export async function discard(core: FsCore, d: Dirty): Promise<void> {
  const held = [...d.held, ...d.streams.flatMap((st) => st.chunks.map((c) => c.hash))];
  for (const st of d.streams) st.abort();
  core.chunks.release(held);
  core.collect(held);
  await d.staging.close();
}

export function commit(core: FsCore, s: FileState): Promise<void> {
  return s.lock.run(() => commitLocked(core, s));
}

function openState(core: FsCore, ino: Id, flags: number): bigint {
  const s = core.fileState(ino);
  s.handles++;
  const writable = (flags & O_ACCMODE) !== O_RDONLY;
  return core.newHandle({ ino, flags, writable, dir: false });
}

export async function open(core: FsCore, ino: Id, flags: number): Promise<bigint> {
  const inode = core.inode(ino);
  if (isDirMode(inode.mode)) throw new IsDirectoryError(`inode ${ino} is a directory`);
  const writable = (flags & O_ACCMODE) !== O_RDONLY;
  if (writable || flags & O_TRUNC) core.writable();
  const fh = openState(core, ino, flags);
  if (flags & O_TRUNC && writable) {
    // Staged, not committed: the truncation and what is written until close()
    // make one version (committed at flush), so two pods writing the same
    // bytes over a file never look concurrent-and-different.
    try {
      const s = core.fileState(ino);
      await s.lock.run(async () => {
        const now = nowNs();
        await s.startDirty(core.staging, now, core.chunks).truncate(0, now);
      });
    } catch (err) {
      await release(core, fh);
      throw err;
    }
  }
  return fh;
}

export async function create(
  core: FsCore,
  caller: Caller,
  parent: Id,
  name: Buffer,
  mode: number,
  flags: number,
): Promise<{ attrs: Attributes; fh: bigint }> {
  const existing = core.child(parent, name);
  if (!existing) core.liveDir(parent);
  if (existing) {
    if (flags & O_EXCL) throw new ExistsError(`${name.toString()} exists`);
    const fh = await open(core, existing.ino, flags);
    return { attrs: core.attrs(existing.ino), fh };
  }
  const attrs = createNode(core, caller, parent, name, S_IFREG | (mode & 0o7777), 0, null);
  return { attrs, fh: openState(core, attrs.ino, flags) };
}

export async function read(core: FsCore, fh: bigint, offset: number, size: number): Promise<Buffer[]> {
  const h = handle(core, fh);
  const s = core.fileState(h.ino);
  if (s.dirty || s.lock.locked) return s.lock.run(() => s.read(core.chunks, offset, size));
  return s.read(core.chunks, offset, size);
}

export async function write(core: FsCore, fh: bigint, offset: number, data: Buffer): Promise<number> {
  const h = handle(core, fh);
  if (!h.writable) throw new BadHandleError(`file ${fh} is not open for writing`);
  core.writable();
  if (data.length === 0) return 0;
  const s = core.fileState(h.ino);
  await s.lock.run(async () => {
    const d = s.startDirty(core.staging, nowNs(), core.chunks);
    await d.write(offset, data, nowNs());
  });
  return data.length;
}

export async function flush(core: FsCore, fh: bigint): Promise<void> {
  const h = handle(core, fh);
  const s = core.files.get(h.ino);
  if (s?.dirty) await commit(core, s);
}

export async function fsync(core: FsCore, fh: bigint): Promise<void> {
  const h = handle(core, fh);
  const s = core.fileState(h.ino);
  await commit(core, s);
  const hashes = s.extents.flatMap((e) => (e.hash ? [e.hash] : []));
  await core.chunks.sync(hashes);
  core.durable();
}

export async function release(core: FsCore, fh: bigint): Promise<void> {
  const h = core.handles.get(fh);
  if (!h) return;
  core.handles.delete(fh);
  if (h.dir) return;
  const s = core.files.get(h.ino);
  if (!s) return;
  s.handles--;
  if (s.handles > 0) return;
  try {
    await commit(core, s);
  } finally {
    if (s.handles === 0) {
      core.files.delete(h.ino);
      if (s.dirty) await discard(core, s.dirty);
      core.maybePurge(h.ino);
      core.fileClosed(h.ino);
    }
  }
}

/** Sets a file's size and commits at once (open handles keep their staged writes below the new size). */
export async function truncate(core: FsCore, ino: Id, size: number): Promise<void> {
  core.writable();
  if (!Number.isSafeInteger(size) || size < 0) throw new InvalidArgumentError(`invalid size ${size}`);
  const temporary = !core.files.has(ino);
  const s = core.fileState(ino);
  if (temporary) s.handles++;
  try {
    await s.lock.run(async () => {
      const now = nowNs();
      await s.startDirty(core.staging, now, core.chunks).truncate(size, now);
      await commitLocked(core, s);
    });
  } finally {
    if (temporary) {
      s.handles--;
      if (s.handles === 0) {
        core.files.delete(ino);
        if (s.dirty) await discard(core, s.dirty);
      }
    }
  }
}

const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
const FALLOC_FL_ZERO_RANGE = 0x10;

export async function fallocate(core: FsCore, fh: bigint, offset: number, length: number, mode: number): Promise<void> {
  const h = handle(core, fh);
  core.writable();
  if (length <= 0 || offset < 0) throw new InvalidArgumentError('invalid fallocate range');
  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
    throw new NotSupportedError(`fallocate mode ${mode} is not supported`);
  }
  if (mode & FALLOC_FL_PUNCH_HOLE && !(mode & FALLOC_FL_KEEP_SIZE))
    throw new NotSupportedError('punch hole needs keep size');
  const s = core.fileState(h.ino);
  await s.lock.run(async () => {
    const now = nowNs();
    const d = s.startDirty(core.staging, now, core.chunks);
    const end = offset + length;
    if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
      const stop = mode & FALLOC_FL_KEEP_SIZE ? Math.min(end, d.size) : end;
      const zero = Buffer.alloc(Math.min(1 << 20, Math.max(0, stop - offset)));
      for (let p = offset; p < stop; p += zero.length)
        await d.write(p, zero.subarray(0, Math.min(zero.length, stop - p)), now);
    }
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > d.size) await d.truncate(end, now);
  });
}

const SEEK_DATA = 3;
const SEEK_HOLE = 4;

export function lseek(core: FsCore, fh: bigint, offset: number, whence: number): number {
  const h = handle(core, fh);
  const s = core.fileState(h.ino);
  const size = s.currentSize;
  if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new InvalidArgumentError(`unsupported whence ${whence}`);
  if (offset < 0 || offset >= size) throw new NoSuchOffsetError(`offset ${offset} is past the end`);
  if (s.dirty) return whence === SEEK_DATA ? offset : size;
  for (const e of s.extents) {
    const end = e.offset + e.length;
    if (end <= offset) continue;
    const isData = e.hash !== null;
    if (whence === SEEK_DATA && isData) return Math.max(offset, e.offset);
    if (whence === SEEK_HOLE && !isData) return Math.max(offset, e.offset);
  }
  if (whence === SEEK_HOLE) return size;
  throw new NoSuchOffsetError(`no data past offset ${offset}`);
}
