/**
 * Where entries go in the tree: placing one at a name, what happens when
 * the name is taken (only concurrent operations can collide: the file system
 * checks local ones), deleting into the trash and coming back from it, and
 * the cycle check of the move operation (Kleppmann et al.).
 */

import { physicalMs } from '../core/hlc.js';
import { type Id, ROOT_INO, TRASH_INO } from '../core/ids.js';
import type { DirEntry, MetaStore } from '../store/meta.js';
import type { Stamp } from './ops.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

export function isDir(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}

export type ConflictPolicy = 'newest' | 'copy';

/** What applying operations changed, for the kernel's caches. */
export interface Changes {
  entries: Array<{ parent: Id; name: Buffer }>;
  inodes: Set<Id>;
  /** The network state (members, configuration) changed. */
  net?: boolean;
}

export interface Placement {
  meta: MetaStore;
  stamp: Stamp;
  policy: ConflictPolicy;
  podName: (pod: number) => string;
  changes: Changes;
}

function noteEntry(p: Placement, parent: Id, name: Buffer): void {
  p.changes.entries.push({ parent, name });
  // The directory's nlink and mtime changed too; and the kernel only drops a
  // directory's attributes on inval_entry when it had that name cached.
  p.changes.inodes.add(parent);
}

/** mtime and ctime of a directory move forward to `time`, never back (commutes with any order). */
export function touch(meta: MetaStore, ino: Id, time: bigint): void {
  const i = meta.getInode(ino);
  if (!i) return;
  meta.updateInode(ino, { mtime: i.mtime > time ? i.mtime : time, ctime: i.ctime > time ? i.ctime : time });
}

/** ctime moves forward to `time` (an inode's metadata changed). */
export function touchCtime(meta: MetaStore, ino: Id, time: bigint): void {
  const i = meta.getInode(ino);
  if (i && i.ctime < time) meta.updateInode(ino, { ctime: time });
}

/** Recomputes the link count of an inode from the tree. */
export function relink(meta: MetaStore, ino: Id): void {
  const i = meta.getInode(ino);
  if (!i || ino === ROOT_INO) {
    if (i) meta.updateInode(ino, { nlink: 2 + meta.subdirCount(ino) });
    return;
  }
  const links = meta.liveLinks(ino);
  const nlink = isDir(i.mode) ? (links > 0 ? 2 + meta.subdirCount(ino) : 0) : links;
  if (nlink !== i.nlink) meta.updateInode(ino, { nlink });
}

/** The entry naming a directory (directories have one). */
export function dirEntry(meta: MetaStore, dir: Id): DirEntry | undefined {
  return meta.entriesOf(dir)[0];
}

export function isTrashed(meta: MetaStore, dir: Id): boolean {
  if (dir === ROOT_INO) return false;
  const e = dirEntry(meta, dir);
  return !e || e.parent === TRASH_INO;
}

/** True if `dir` is `ancestor` or lies below it. */
export function isWithin(meta: MetaStore, dir: Id, ancestor: Id): boolean {
  let cur = dir;
  for (let depth = 0; depth < 100_000; depth++) {
    if (cur === ancestor) return true;
    if (cur === ROOT_INO || cur === TRASH_INO) return false;
    const e = dirEntry(meta, cur);
    if (!e) return false;
    cur = e.parent;
  }
  return true;
}

function formatStamp(hlc: bigint): string {
  const d = new Date(physicalMs(hlc));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** Cuts a UTF-8 string to at most `max` bytes without splitting a character. */
function cutUtf8(s: string, max: number): string {
  const b = Buffer.from(s);
  if (b.length <= max) return s;
  let end = Math.max(0, max);
  while (end > 0 && ((b[end] as number) & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}

/** `name (conflict POD DATE).ext`, made unique in `parent`, within 255 bytes (the stem is shortened, never the tag). */
export function conflictName(meta: MetaStore, parent: Id, name: Buffer, pod: string, hlc: bigint): Buffer {
  const s = name.toString('utf8');
  const dot = s.lastIndexOf('.');
  let [stem, ext] = dot > 0 ? [s.slice(0, dot), s.slice(dot)] : [s, ''];
  if (Buffer.byteLength(ext) > 32) {
    stem = s;
    ext = '';
  }
  const tag = `conflict ${cutUtf8(pod, 63)} ${formatStamp(hlc)}`;
  for (let n = 1; n < 100_000; n++) {
    const suffix = ` (${tag}${n > 1 ? ` ${n}` : ''})${ext}`;
    const candidate = Buffer.from(cutUtf8(stem, 255 - Buffer.byteLength(suffix)) + suffix);
    if (!meta.lookup(parent, candidate)) return candidate;
  }
  throw new Error('no free conflict name');
}

/** Moves an entry into the trash, remembering where it was. */
export function trash(p: Placement, e: DirEntry): void {
  const { meta } = p;
  meta.moveEntry(e.id, TRASH_INO, e.name, { pod: p.stamp.pod, hlc: p.stamp.hlc }, { parent: e.parent, name: e.name });
  noteEntry(p, e.parent, e.name);
  relink(meta, e.ino);
  relink(meta, e.parent);
  p.changes.inodes.add(e.ino);
}

/** The name is taken by another entry: the newer operation keeps it; the older one is renamed, or deleted (policy newest, files). */
function makeRoom(p: Placement, parent: Id, name: Buffer, incoming: Id): void {
  const { meta } = p;
  const occupant = meta.lookup(parent, name);
  if (!occupant || occupant.id === incoming) return;
  const inode = meta.getInode(occupant.ino);
  if (p.policy === 'newest' && inode && !isDir(inode.mode)) {
    trash(p, occupant);
    return;
  }
  const renamed = conflictName(meta, parent, occupant.name, p.podName(occupant.pod ?? 0), occupant.hlc ?? 0n);
  meta.moveEntry(occupant.id, parent, renamed, { pod: occupant.pod ?? 0, hlc: occupant.hlc ?? 0n });
  noteEntry(p, parent, name);
  noteEntry(p, parent, renamed);
}

/** Places an existing entry (or a new one: insert) at `name` in the live directory `parent`. */
export function place(p: Placement, e: DirEntry, parent: Id, name: Buffer, fresh = false): void {
  const { meta } = p;
  if (isTrashed(meta, parent)) resurrectDir(p, parent);
  makeRoom(p, parent, name, e.id);
  const placed = { pod: p.stamp.pod, hlc: p.stamp.hlc };
  if (fresh) meta.insertEntry({ ...e, parent, name, prevParent: null, prevName: null, ...placed });
  else meta.moveEntry(e.id, parent, name, placed);
  noteEntry(p, parent, name);
  if (!fresh && (e.parent !== parent || !e.name.equals(name))) noteEntry(p, e.parent, e.name);
  relink(meta, e.ino);
  relink(meta, parent);
  if (!fresh && e.parent !== parent) relink(meta, e.parent);
  p.changes.inodes.add(e.ino);
}

/** Brings a deleted entry back where it was (its directories first; the root if that is gone). */
export function resurrectEntry(p: Placement, e: DirEntry, depth = 0): void {
  const { meta } = p;
  if (e.parent !== TRASH_INO || depth > 1000) return;
  let target = e.prevParent ?? ROOT_INO;
  const t = meta.getInode(target);
  if (!t || !isDir(t.mode)) target = ROOT_INO;
  if (isTrashed(meta, target)) resurrectDir(p, target, depth + 1);
  place(p, e, target, e.prevName ?? e.name);
}

/** Brings a deleted directory back. */
export function resurrectDir(p: Placement, dir: Id, depth = 0): void {
  const e = dirEntry(p.meta, dir);
  if (e) resurrectEntry(p, e, depth);
}
