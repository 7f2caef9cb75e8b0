/**
 * What the tree asks of placement: every chunk some file uses, with its
 * redundancy (the network's, or the nearest folder override; the highest
 * among the files sharing the chunk) and whether a backup pod copies it.
 */
import { ROOT_INO, TRASH_INO } from '../core/ids.js';

export interface Need {
  hash: Buffer;
  size: number;
  /** Replicas wanted. */
  r: number;
  /** Under one of this pod's backup folders (always true when it backs up everything). */
  backup: boolean;
}

export interface DemandSource {
  usedChunks(): Array<{ hash: Buffer; length: number }>;
  chunkUses(): Array<{ hash: Buffer; length: number; ino: bigint }>;
  /** The folder holding an inode (its first live name's parent). */
  parentOf(ino: bigint): bigint | undefined;
}

export interface DemandOptions {
  redundancy: number;
  /** Redundancy set on folders or files. */
  overrides: Map<bigint, number>;
  /** The folders a backup pod copies; undefined: everything. */
  backupRoots?: Set<bigint>;
}

/** The value set on `ino` or on its nearest folder, if any. */
export function nearest<T>(
  ino: bigint,
  parentOf: (ino: bigint) => bigint | undefined,
  set: Map<bigint, T>,
): T | undefined {
  let cur: bigint | undefined = ino;
  for (let depth = 0; cur !== undefined && depth < 4096; depth++) {
    const v = set.get(cur);
    if (v !== undefined) return v;
    if (cur === ROOT_INO || cur === TRASH_INO) return undefined;
    cur = parentOf(cur);
  }
  return undefined;
}

export function demand(src: DemandSource, o: DemandOptions): Need[] {
  if (o.overrides.size === 0 && !o.backupRoots)
    return src.usedChunks().map((c) => ({ hash: c.hash, size: c.length, r: o.redundancy, backup: true }));
  // Per inode: its redundancy and whether it is under a backup root, memoised along each path.
  const memo = new Map<bigint, { r: number; backup: boolean }>();
  const info = (ino: bigint): { r: number; backup: boolean } => {
    const known = memo.get(ino);
    if (known) return known;
    const chain: bigint[] = [];
    let cur: bigint | undefined = ino;
    let base = { r: o.redundancy, backup: !o.backupRoots };
    while (cur !== undefined && chain.length < 4096) {
      const m = memo.get(cur);
      if (m) {
        base = m;
        break;
      }
      chain.push(cur);
      if (cur === ROOT_INO || cur === TRASH_INO) break;
      cur = src.parentOf(cur);
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      const at = chain[i] as bigint;
      base = { r: o.overrides.get(at) ?? base.r, backup: base.backup || (o.backupRoots?.has(at) ?? false) };
      memo.set(at, base);
    }
    return base;
  };
  const out = new Map<string, Need>();
  for (const u of src.chunkUses()) {
    const k = u.hash.toString('latin1');
    const i = info(u.ino);
    const n = out.get(k);
    if (!n) out.set(k, { hash: u.hash, size: u.length, r: i.r, backup: i.backup });
    else {
      n.r = Math.max(n.r, i.r);
      n.backup ||= i.backup;
    }
  }
  return [...out.values()];
}
