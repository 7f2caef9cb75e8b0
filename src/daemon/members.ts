/**
 * The members of a network, kept in the replicated network state (one key
 * per pod: `pod:<number>`), so every pod knows every other's address and
 * certificate, and a removal reaches them all.
 */
import { Packr } from 'msgpackr';
import type { Role } from '../config/schema.js';
import { nowNs } from '../core/time.js';
import type { MetaStore } from '../store/meta.js';
import type { Tree } from '../tree/tree.js';

export interface Member {
  /** The pod's number: the prefix of its ids, the tie-break of its stamps. */
  number: number;
  id: string;
  name: string;
  /** Where it accepts connections (host:port), if it does. */
  address: string | null;
  fingerprint: string;
  joined: number;
  /** Removed (revoked): refused everywhere. */
  removed?: boolean;
}

const packr = new Packr({ useRecords: false });

/**
 * Members as this pod knows them: the replicated records, and for a pod that
 * just joined, the list its inviter gave it until those arrive.
 */
export function knownMembers(meta: MetaStore, bootstrap: Member[]): Member[] {
  const replicated = members(meta);
  const seen = new Set(replicated.map((m) => m.number));
  return [...replicated, ...bootstrap.filter((m) => !seen.has(m.number))].sort((a, b) => a.number - b.number);
}

export function members(meta: MetaStore): Member[] {
  const out: Member[] = [];
  for (const { key, value } of meta.allNet()) {
    if (!key.startsWith('pod:')) continue;
    try {
      out.push(packr.unpack(value) as Member);
    } catch {
      // an unreadable record is ignored, not fatal
    }
  }
  return out.sort((a, b) => a.number - b.number);
}

export function setMember(tree: Tree, m: Member): void {
  tree.apply([{ kind: 'net', key: `pod:${m.number}`, value: packr.pack(m), time: nowNs() }]);
}

export function setConfig(tree: Tree, key: string, value: string): void {
  tree.apply([{ kind: 'net', key: `config:${key}`, value: Buffer.from(value), time: nowNs() }]);
}

export function getConfig(meta: MetaStore, key: string): string | undefined {
  return meta.getNet(`config:${key}`)?.toString();
}

/** How a pod takes part in placement: published by the pod itself, so every pod places alike. */
export interface Placement {
  role: Role;
  zone: string;
  /** Configured capacity in bytes, or null (its disk's size is used). */
  capacity: number | null;
  affinity: number;
  /** A backup pod's folders (paths from the root); null: everything. */
  backupPaths: string[] | null;
}

export function placements(meta: MetaStore): Map<number, Placement> {
  const out = new Map<number, Placement>();
  for (const { key, value } of meta.allNet()) {
    if (!key.startsWith('place:')) continue;
    try {
      out.set(Number(key.slice(6)), packr.unpack(value) as Placement);
    } catch {
      // ignored, as above
    }
  }
  return out;
}

export function setPlacement(tree: Tree, number: number, p: Placement): void {
  tree.apply([{ kind: 'net', key: `place:${number}`, value: packr.pack(p), time: nowNs() }]);
}

/** Pods being drained: placement leaves them out, so their chunks move elsewhere. */
export function drainingPods(meta: MetaStore): Set<number> {
  const out = new Set<number>();
  for (const { key, value } of meta.allNet())
    if (key.startsWith('drain:') && value.toString() === '1') out.add(Number(key.slice(6)));
  return out;
}

export function setDraining(tree: Tree, number: number, on: boolean): void {
  tree.apply([{ kind: 'net', key: `drain:${number}`, value: Buffer.from(on ? '1' : '0'), time: nowNs() }]);
}

/** Per-folder (or file) settings: `wormhole config set PATH KEY VALUE`. */
export interface FolderSettings {
  redundancy?: number;
}

export function folderSettings(meta: MetaStore): Map<bigint, FolderSettings> {
  const out = new Map<bigint, FolderSettings>();
  for (const { key, value } of meta.allNet()) {
    if (!key.startsWith('folder:')) continue;
    try {
      const s = JSON.parse(value.toString()) as FolderSettings;
      if (Object.keys(s).length) out.set(BigInt(key.slice(7)), s);
    } catch {
      // ignored, as above
    }
  }
  return out;
}

export function setFolderSettings(tree: Tree, ino: bigint, s: FolderSettings): void {
  tree.apply([{ kind: 'net', key: `folder:${ino}`, value: Buffer.from(JSON.stringify(s)), time: nowNs() }]);
}
