/**
 * Helpers for the unit tests: a seeded PRNG (the same seed gives the same
 * bytes on every machine, so a failure replays), temp directories removed
 * when the test ends, and waiting on a condition with a deadline instead of
 * a fixed sleep.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** mulberry32: small, fast, and good enough for test data. */
export class Prng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo));
  }

  /** One of `xs` (not empty). */
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length)] as T;
  }

  /** `n` pseudo-random bytes. */
  bytes(n: number): Buffer {
    const buf = Buffer.alloc(n);
    const words = new Uint32Array(buf.buffer, buf.byteOffset, n >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = this.u32();
    for (let i = words.length * 4; i < n; i++) buf[i] = this.u32() & 0xff;
    return buf;
  }
}

/** What tempDir needs of a test context: somewhere to register the cleanup. */
export interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

/** A fresh directory under the system temp dir, removed when the test ends. */
export function tempDir(t: AfterHook, prefix = 'wormhole-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5_000,
  /** Polls start 1 ms apart and back off to this. */
  maxDelayMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let delay = 1;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, maxDelayMs);
  }
}

/** Resolves with the promise's value, or rejects naming `what` if it takes longer than `timeoutMs`. */
export async function withDeadline<T>(what: string, p: Promise<T>, timeoutMs = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
