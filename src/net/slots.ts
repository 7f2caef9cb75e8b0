/**
 * What the transport knows of each pod: its connection, where to dial it,
 * and the state of the dialing. Also the rule that picks one of two
 * connections to the same pod, which both ends must apply alike.
 */
import type { Peer } from './connection.js';

export interface PeerStatus {
  podId: string;
  /** Where we dial it; null for a pod that only dialed us. */
  address: string | null;
  state: 'connected' | 'connecting' | 'down';
  /** When it last became connected or stopped being so (ms since the epoch). */
  since: number;
  rtt: number | null;
}

export interface Slot {
  podId: string;
  address: string | null;
  /** connect() asked for it: redial whenever it is down. */
  wanted: boolean;
  active: Peer | undefined;
  /** Our dial in progress: its TLS phase can be aborted, then its hello phase is `peer`. */
  dial: { ac: AbortController; peer?: Peer } | undefined;
  /** Failed attempts since the last success: the backoff grows with it. */
  attempt: number;
  retry: NodeJS.Timeout | undefined;
  /** The remote dropped our connection as a duplicate: its replacement should arrive before this fires. */
  awaiting: NodeJS.Timeout | undefined;
  since: number;
}

export function newSlot(podId: string): Slot {
  return {
    podId,
    address: null,
    wanted: false,
    active: undefined,
    dial: undefined,
    attempt: 0,
    retry: undefined,
    awaiting: undefined,
    since: Date.now(),
  };
}

export function statusOf(s: Slot): PeerStatus {
  return {
    podId: s.podId,
    address: s.address,
    state: s.active ? 'connected' : s.dial ? 'connecting' : 'down',
    since: s.since,
    rtt: s.active?.rtt ?? null,
  };
}

/**
 * Of two connections between pod `self` and one other pod, the one both
 * ends keep: the one dialed by the smaller pod id; between two dialed by the
 * same pod, the newer `b` (the older is a leftover of a restart or a
 * connection loss not noticed yet).
 */
export function preferred(self: string, a: Peer, b: Peer): Peer {
  // Dialed by the smaller id: we dialed and our id is smaller, or they dialed and theirs is.
  const bySmaller = (p: Peer) => p.outgoing === self < p.podId;
  if (bySmaller(a) === bySmaller(b)) return b;
  return bySmaller(a) ? a : b;
}
