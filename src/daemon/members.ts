/**
 * The members of a network, kept in the replicated network state (one key
 * per pod: `pod:<number>`), so every pod knows every other's address and
 * certificate, and a removal reaches them all.
 */
import { Packr } from 'msgpackr';
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
