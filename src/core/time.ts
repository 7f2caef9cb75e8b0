/** Wall-clock time in nanoseconds, strictly increasing within this process. */
const baseWallNs = BigInt(Date.now()) * 1_000_000n;
const baseHr = process.hrtime.bigint();
let last = 0n;

export function nowNs(): bigint {
  let t = baseWallNs + (process.hrtime.bigint() - baseHr);
  if (t <= last) t = last + 1n;
  last = t;
  return t;
}

export const NS_PER_SEC = 1_000_000_000n;

export function nsToDate(ns: bigint): Date {
  return new Date(Number(ns / 1_000_000n));
}
