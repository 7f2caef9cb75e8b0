/** What the daemons say of a network's health, placement and counters (from `wormhole status --json`). */
import * as fs from 'node:fs';
import type { PodInfo, WhereReport } from '../../src/daemon/pod.js';
import type { HealthReport } from '../../src/replication/replicator.js';
import type { NetPod } from './network.js';

export async function podInfo(p: NetPod): Promise<PodInfo> {
  const s = JSON.parse(await p.daemon.ok(['status', '--json'])) as { pods: PodInfo[] };
  const pod = s.pods[0];
  if (!pod) throw new Error(`${p.name} has no pod`);
  return pod;
}

export async function health(p: NetPod): Promise<HealthReport> {
  const h = (await podInfo(p)).health;
  if (!h?.at) throw new Error(`${p.name} has computed no health yet`);
  return h;
}

/** Health once every chunk has its R copies and no pod holds a copy it should not. */
export async function settled(p: NetPod, pods?: number): Promise<HealthReport | undefined> {
  const h = await health(p);
  if (h.state !== 'favorable' || h.below > 0 || h.repair.active) return undefined;
  if (pods !== undefined && h.pods.filter((x) => x.state === 'self' || x.state === 'connected').length !== pods)
    return undefined;
  const copies = h.pods.reduce((a, x) => a + (x.state === 'lost' ? 0 : (x.chunks ?? Number.NaN)), 0);
  return copies === h.chunks * h.redundancy ? h : undefined;
}

export async function where(p: NetPod, file: string): Promise<WhereReport> {
  return JSON.parse(await p.daemon.ok(['where', file, '--json'])) as WhereReport;
}

/** Bytes sent for placement and repair by each pod. */
export async function sent(pods: NetPod[]): Promise<number[]> {
  return Promise.all(pods.map(async (p) => (await podInfo(p)).sync?.sentBytes ?? 0));
}

/** The errno code a read of `file` fails with, or null if it reads whole. */
export function readError(file: string): string | null {
  try {
    fs.readFileSync(file);
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}
