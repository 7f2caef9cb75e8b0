/**
 * Where a chunk's replicas belong: weighted rendezvous hashing (highest
 * random weight) over the storage pods, zones spread first.
 *
 * Every pod scores every candidate for a chunk with a pseudo-random number
 * drawn from (chunk hash, pod id), scaled by the pod's weight
 * (-weight / ln u, the weighted form of Thaler and Ravishankar's HRW): the
 * R best are the targets. A pod joining or leaving changes only the chunks
 * for which it is (or was) among the best, so only those move, and each pod
 * receives a share proportional to its weight. Replicas go to distinct zones
 * while there are zones left, then to the next best pods.
 *
 * The result is a pure function of its inputs: every pod computes the same
 * targets from the same view of the members, with no coordination.
 */
import { createHash } from 'node:crypto';

export interface Candidate {
  /** The pod's id (its seed in the hash). */
  id: string;
  zone: string;
  /** Capacity × affinity; 0 takes replicas only when no other pod can. */
  weight: number;
}

const seeds = new Map<string, [number, number]>();

function seedOf(id: string): [number, number] {
  let s = seeds.get(id);
  if (!s) {
    const d = createHash('sha256').update(id).digest();
    s = [d.readUInt32LE(0), d.readUInt32LE(4)];
    if (seeds.size > 10_000) seeds.clear();
    seeds.set(id, s);
  }
  return s;
}

/** MurmurHash3's 32-bit finaliser: a bijection that mixes every input bit into every output bit. */
function fmix32(h: number): number {
  let x = h >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A uniform number in (0, 1) from a chunk hash and a pod id. */
export function draw(hash: Buffer, id: string): number {
  const [sa, sb] = seedOf(id);
  const hi = fmix32(hash.readUInt32LE(0) ^ sa);
  const lo = fmix32(hash.readUInt32LE(4) ^ sb ^ fmix32(hi ^ hash.readUInt32LE(8)));
  return (hi * 2 ** 21 + (lo >>> 11) + 0.5) / 2 ** 53;
}

/** The pod's score for a chunk: the highest R scores win. */
export function score(hash: Buffer, c: Candidate): number {
  if (c.weight <= 0) return 0;
  return c.weight / -Math.log(draw(hash, c.id));
}

/**
 * The R targets of a chunk among the candidates, best first: one per zone
 * while zones remain, then the best of the rest. Fewer than R when there
 * are fewer candidates.
 */
export function targets<C extends Candidate>(hash: Buffer, candidates: readonly C[], r: number): C[] {
  if (r <= 0 || candidates.length === 0) return [];
  const scored = candidates
    .map((c) => ({ c, s: score(hash, c) }))
    // Ties (weight 0) fall back to the id, so the order is the same everywhere.
    .sort((a, b) => b.s - a.s || (a.c.id < b.c.id ? -1 : a.c.id > b.c.id ? 1 : 0));
  const out: C[] = [];
  const zones = new Set<string>();
  for (const { c, s } of scored) {
    if (out.length >= r || s === 0) break;
    if (zones.has(c.zone)) continue;
    zones.add(c.zone);
    out.push(c);
  }
  for (const { c } of scored) {
    if (out.length >= r) break;
    if (!out.includes(c)) out.push(c);
  }
  return out;
}
