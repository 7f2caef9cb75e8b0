/**
 * Placement figures over synthetic chunks (the tests and `npm run bench`
 * share them): how evenly bytes spread, and how many move when a pod joins.
 * Chunk sizes follow the chunker's bounds (256 KiB to 4 MiB, ~1 MiB mean).
 */
import { createHash } from 'node:crypto';
import { Prng } from '../core/testing.js';
import { type Candidate, targets } from './placement.js';

export function samplePods(n: number, zones: string[]): Candidate[] {
  return Array.from({ length: n }, (_, i) => ({
    id: createHash('sha256').update(`pod ${i}`).digest('hex').slice(0, 16),
    zone: zones[i % zones.length] as string,
    weight: 1,
  }));
}

function sampleChunks(n: number): Array<{ hash: Buffer; size: number }> {
  const rng = new Prng(42);
  return Array.from({ length: n }, (_, i) => ({
    hash: createHash('sha256').update(`chunk ${i}`).digest(),
    // An exponential around 1 MiB, clamped to the chunker's bounds.
    size: Math.round(Math.min(4 << 20, Math.max(256 << 10, -Math.log(1 - rng.float()) * (1 << 20)))),
  }));
}

export interface Balance {
  /** Bytes per pod. */
  bytes: number[];
  mean: number;
  stddev: number;
  relStddev: number;
}

export function balance(chunks: number, pods: Candidate[], r: number): Balance {
  const per = new Map(pods.map((p) => [p.id, 0]));
  for (const c of sampleChunks(chunks))
    for (const t of targets(c.hash, pods, r)) per.set(t.id, (per.get(t.id) ?? 0) + c.size);
  const bytes = [...per.values()];
  const mean = bytes.reduce((a, b) => a + b, 0) / bytes.length;
  const stddev = Math.sqrt(bytes.reduce((a, b) => a + (b - mean) ** 2, 0) / bytes.length);
  return { bytes, mean, stddev, relStddev: stddev / mean };
}

export interface Moved {
  /** Replica bytes that change pods, over all replica bytes. */
  fraction: number;
  /** Replica bytes that moved to an old pod (ideal: 0). */
  toOthers: number;
  movedBytes: number;
  totalBytes: number;
}

export function movedOnJoin(chunks: number, pods: Candidate[], joining: Candidate, r: number): Moved {
  let moved = 0;
  let toOthers = 0;
  let total = 0;
  const after = [...pods, joining];
  for (const c of sampleChunks(chunks)) {
    const before = new Set(targets(c.hash, pods, r).map((p) => p.id));
    for (const t of targets(c.hash, after, r)) {
      total += c.size;
      if (before.has(t.id)) continue;
      moved += c.size;
      if (t.id !== joining.id) toOthers += c.size;
    }
  }
  return { fraction: moved / total, toOthers, movedBytes: moved, totalBytes: total };
}
