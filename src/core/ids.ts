/**
 * Ids of inodes, directory entries and content versions: 64-bit, unique
 * network-wide without coordination, never reused. The high bits are the
 * allocating pod's prefix, the low 40 bits a counter that pod persists.
 */
export type Id = bigint;

export const ROOT_INO: Id = 1n;
/** Parent of deleted entries (the trash root); never a real directory. */
export const TRASH_INO: Id = 2n;
export const COUNTER_BITS = 40n;
export const MAX_PREFIX = (1 << 22) - 1;

export function makeId(prefix: number, counter: bigint): Id {
  return (BigInt(prefix) << COUNTER_BITS) | counter;
}

export function prefixOf(id: Id): number {
  return Number(id >> COUNTER_BITS);
}

export function idToString(id: Id): string {
  return id.toString(16).padStart(16, '0');
}
