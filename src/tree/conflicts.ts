/**
 * Concurrent versions of a file's content. Each version names the one it
 * was based on; a version whose base is not the current one was written
 * concurrently with it. Applied in timestamp order, the newer version
 * becomes the file's content; under the `copy` policy the older one is kept
 * as `NAME (conflict POD DATE).EXT` beside it, unless both hold the same
 * bytes. Everything here depends only on replicated state, so every pod
 * makes the same copy, with the same ids.
 */
import { createHash } from 'node:crypto';
import { type Id, makeId, TRASH_INO } from '../core/ids.js';
import type { Extent, Inode, MetaStore } from '../store/meta.js';
import { conflictName, type Placement, place, resurrectEntry } from './names.js';
import type { ContentOp, Stamp } from './ops.js';

/** Ids made by applying an operation (not by a pod): derived from the operation's stamp, so equal everywhere. */
export function derivedId(stamp: Stamp, purpose: string): Id {
  const h = createHash('sha256').update(`${stamp.hlc}:${stamp.pod}:${purpose}`).digest();
  const counter = (h.readBigUInt64BE(0) & ((1n << 40n) - 1n)) | (1n << 39n);
  return makeId(0, counter);
}

function sameBytes(a: Extent[], b: Extent[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((e, i) => {
    const f = b[i] as Extent;
    return (
      e.offset === f.offset &&
      e.length === f.length &&
      (e.hash === null ? f.hash === null : f.hash !== null && e.hash.equals(f.hash))
    );
  });
}

/** The older version stays as a file of its own beside the first live name of `inode`. */
function keepCopy(p: Placement, inode: Inode, older: Id): void {
  const { meta } = p;
  const e = meta.liveEntry(inode.ino);
  const v = meta.getVersion(older);
  if (!e || !v) return;
  const ino = derivedId(p.stamp, 'conflict-inode');
  const entry = derivedId(p.stamp, 'conflict-entry');
  // The copy gets a version of its own (same extents): each version belongs to one inode.
  const version = derivedId(p.stamp, 'conflict-version');
  meta.insertVersion({ ...v, id: version, ino, base: null }, meta.extents(older));
  meta.insertInode({ ...inode, ino, nlink: 0, content: version, size: v.size, used: inode.used });
  const name = conflictName(meta, e.parent, e.name, p.podName(v.pod ?? 0), versionStamp(meta, older));
  place(p, { id: entry, parent: e.parent, name, ino }, e.parent, name, true);
}

function versionStamp(meta: MetaStore, version: Id): bigint {
  const v = meta.getVersion(version);
  // versions record their creation time in ns; conflict names want an HLC-like ms << 16
  return v ? (v.created / 1_000_000n) << 16n : 0n;
}

export function applyContent(p: Placement, op: ContentOp): void {
  const { meta } = p;
  meta.insertVersion(
    {
      id: op.version,
      ino: op.ino,
      base: op.base,
      size: op.size,
      created: op.time,
      pod: p.stamp.pod,
      hlc: p.stamp.hlc,
    },
    op.extents,
  );
  const inode = meta.getInode(op.ino);
  if (!inode) return;
  const current = inode.content;
  if (current !== null && current !== op.base && current !== op.version) {
    const concurrent = !sameBytes(meta.extents(current), op.extents);
    if (concurrent && p.policy === 'copy') keepCopy(p, inode, current);
  }
  const used = op.extents.reduce((n, e) => (e.hash ? n + e.length : n), 0);
  // biome-ignore lint/complexity/useMathMinMax: bigints (Math.max takes numbers)
  const ctime = inode.ctime > op.time ? inode.ctime : op.time;
  meta.updateInode(op.ino, { content: op.version, size: op.size, used, mtime: op.mtime, ctime });
  p.changes.inodes.add(op.ino);
  // An edit to a file deleted concurrently brings it back (its author had not seen the delete).
  if (!op.unlinked && meta.liveLinks(op.ino) === 0) {
    const last = meta
      .entriesOf(op.ino)
      .filter((x) => x.parent === TRASH_INO)
      .sort((a, b) => (a.hlc === b.hlc ? 0 : (a.hlc ?? 0n) > (b.hlc ?? 0n) ? -1 : 1))[0];
    if (last) resurrectEntry(p, last);
  }
}
