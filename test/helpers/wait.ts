/** Waiting on conditions with deadlines, never fixed sleeps: the unit tests' waitFor, with end-to-end defaults. */
import { waitFor as poll } from '../../src/core/testing.js';

/** Polls `probe` (backing off to 200 ms) until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  return poll(what, probe, timeoutMs, 200);
}
