/**
 * Hybrid logical clock (Kulkarni et al.): a 64-bit timestamp whose high 48
 * bits are wall-clock milliseconds and low 16 bits a counter, so timestamps
 * follow real time yet are strictly increasing and advance past any
 * timestamp observed from another pod. Ties between pods break on pod id.
 */
export type Timestamp = bigint;

const LOGICAL_BITS = 16n;
const LOGICAL_MASK = (1n << LOGICAL_BITS) - 1n;

export function physicalMs(t: Timestamp): number {
  return Number(t >> LOGICAL_BITS);
}

export class Hlc {
  private last: Timestamp = 0n;

  constructor(private readonly wallMs: () => number = Date.now) {}

  /** A new timestamp, greater than every one issued or observed before. */
  now(): Timestamp {
    const wall = BigInt(this.wallMs()) << LOGICAL_BITS;
    this.last = wall > this.last ? wall : this.last + 1n;
    return this.last;
  }

  /** Moves the clock past a timestamp received from another pod. */
  observe(remote: Timestamp): void {
    if (remote > this.last) this.last = remote;
  }

  get current(): Timestamp {
    return this.last;
  }
}

export function compareStamp(a: { hlc: Timestamp; pod: number }, b: { hlc: Timestamp; pod: number }): number {
  if (a.hlc !== b.hlc) return a.hlc < b.hlc ? -1 : 1;
  return a.pod - b.pod;
}

export { LOGICAL_MASK };
