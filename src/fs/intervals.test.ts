import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '../core/testing.js';
import { IntervalSet } from './intervals.js';

function set(...ranges: Array<[number, number]>): IntervalSet {
  const s = new IntervalSet();
  for (const [a, b] of ranges) s.add(a, b);
  return s;
}

test('an empty set', () => {
  const s = new IntervalSet();
  assert.equal(s.empty, true);
  assert.equal(s.first, Number.POSITIVE_INFINITY);
  assert.equal(s.last, 0);
  assert.deepEqual(s.pieces(3, 10), [[3, 10, false]]);
  assert.deepEqual(s.pieces(3, 3), []);
});

test('add() merges overlapping and touching ranges and ignores empty ones', () => {
  assert.deepEqual(set([10, 20], [30, 40]).toArray(), [
    [10, 20],
    [30, 40],
  ]);
  assert.deepEqual(set([10, 20], [20, 30]).toArray(), [[10, 30]], 'half-open ranges that touch merge');
  assert.deepEqual(set([20, 30], [10, 20]).toArray(), [[10, 30]]);
  assert.deepEqual(set([10, 20], [15, 25]).toArray(), [[10, 25]]);
  assert.deepEqual(set([10, 20], [30, 40], [50, 60], [15, 55]).toArray(), [[10, 60]]);
  assert.deepEqual(set([10, 20], [12, 18]).toArray(), [[10, 20]]);
  assert.deepEqual(set([10, 20], [0, 5], [100, 200]).toArray(), [
    [0, 5],
    [10, 20],
    [100, 200],
  ]);
  assert.deepEqual(set([5, 5], [9, 3]).toArray(), []);
  const s = set([10, 20], [30, 40]);
  assert.deepEqual([s.empty, s.first, s.last], [false, 10, 40]);
});

test('clipTo() drops everything at or after a point', () => {
  const s = () => set([10, 20], [30, 40]);
  const clip = (x: number) => {
    const c = s();
    c.clipTo(x);
    return c.toArray();
  };
  assert.deepEqual(clip(50), [
    [10, 20],
    [30, 40],
  ]);
  assert.deepEqual(clip(40), [
    [10, 20],
    [30, 40],
  ]);
  assert.deepEqual(clip(35), [
    [10, 20],
    [30, 35],
  ]);
  assert.deepEqual(clip(30), [[10, 20]]);
  assert.deepEqual(clip(25), [[10, 20]]);
  assert.deepEqual(clip(15), [[10, 15]]);
  assert.deepEqual(clip(10), []);
  assert.deepEqual(clip(0), []);
  const c = s();
  c.clear();
  assert.equal(c.empty, true);
});

test('pieces() splits a range into parts inside and outside the set', () => {
  const s = set([10, 20], [30, 40]);
  assert.deepEqual(s.pieces(0, 50), [
    [0, 10, false],
    [10, 20, true],
    [20, 30, false],
    [30, 40, true],
    [40, 50, false],
  ]);
  assert.deepEqual(s.pieces(15, 35), [
    [15, 20, true],
    [20, 30, false],
    [30, 35, true],
  ]);
  assert.deepEqual(s.pieces(20, 30), [[20, 30, false]]);
  assert.deepEqual(s.pieces(12, 18), [[12, 18, true]]);
  assert.deepEqual(s.pieces(40, 45), [[40, 45, false]]);
  assert.deepEqual(s.pieces(0, 10), [[0, 10, false]]);
});

/** The same operations on an array of booleans, one per byte. */
class Model {
  readonly bits: boolean[];
  constructor(readonly size: number) {
    this.bits = new Array(size).fill(false);
  }
  add(a: number, b: number): void {
    for (let i = a; i < b; i++) this.bits[i] = true;
  }
  clipTo(x: number): void {
    for (let i = x; i < this.size; i++) this.bits[i] = false;
  }
  pieces(a: number, b: number): Array<[number, number, boolean]> {
    const out: Array<[number, number, boolean]> = [];
    for (let i = a; i < b; i++) {
      const last = out[out.length - 1];
      if (last && last[2] === this.bits[i]) last[1] = i + 1;
      else out.push([i, i + 1, this.bits[i] as boolean]);
    }
    return out;
  }
  ranges(): Array<[number, number]> {
    return this.pieces(0, this.size)
      .filter((p) => p[2])
      .map(([a, b]) => [a, b]);
  }
}

test('random adds, clips and queries agree with a byte-by-byte model', () => {
  const rng = new Prng(2024);
  for (let round = 0; round < 200; round++) {
    const size = 200;
    const s = new IntervalSet();
    const m = new Model(size);
    for (let step = 0; step < 30; step++) {
      const a = rng.int(0, size);
      const b = rng.int(a, Math.min(size, a + rng.int(0, 40)) + 1);
      if (rng.float() < 0.1) {
        s.clipTo(a);
        m.clipTo(a);
      } else {
        s.add(a, b);
        m.add(a, b);
      }
      assert.deepEqual(s.toArray(), m.ranges(), `round ${round} step ${step}`);
      const q = rng.int(0, size);
      const r = rng.int(q, size + 1);
      assert.deepEqual(s.pieces(q, r), m.pieces(q, r), `pieces(${q}, ${r}) round ${round} step ${step}`);
    }
  }
});
