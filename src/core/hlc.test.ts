import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareStamp, Hlc, LOGICAL_MASK, physicalMs } from './hlc.js';

/** A wall clock the test moves by hand. */
function manualClock(start: number) {
  const c = { ms: start, read: () => c.ms };
  return c;
}

test('follows the wall clock when it moves forward', () => {
  const wall = manualClock(1_000);
  const clock = new Hlc(wall.read);
  const a = clock.now();
  assert.equal(physicalMs(a), 1_000);
  assert.equal(a & LOGICAL_MASK, 0n);
  wall.ms = 2_000;
  const b = clock.now();
  assert.equal(physicalMs(b), 2_000);
  assert.equal(b & LOGICAL_MASK, 0n);
  assert.equal(clock.current, b);
});

test('is strictly increasing within one millisecond and when the wall clock goes back', () => {
  const wall = manualClock(5_000);
  const clock = new Hlc(wall.read);
  const seen: bigint[] = [];
  for (let i = 0; i < 1000; i++) seen.push(clock.now());
  wall.ms = 4_000;
  for (let i = 0; i < 1000; i++) seen.push(clock.now());
  for (let i = 1; i < seen.length; i++) assert.ok((seen[i] as bigint) > (seen[i - 1] as bigint), `at ${i}`);
  assert.equal(physicalMs(seen[seen.length - 1] as bigint), 5_000, 'no jump forward while the wall clock lags');
  assert.equal((seen[seen.length - 1] as bigint) & LOGICAL_MASK, 1999n);
});

test('observe() moves the clock past a remote timestamp, and never back', () => {
  const wall = manualClock(1_000);
  const clock = new Hlc(wall.read);
  const remote = new Hlc(() => 9_000).now() + 5n;
  clock.observe(remote);
  const next = clock.now();
  assert.ok(next > remote);
  assert.equal(physicalMs(next), 9_000);
  clock.observe(1n);
  assert.ok(clock.now() > next);
  wall.ms = 10_000;
  assert.equal(physicalMs(clock.now()), 10_000, 'the wall clock takes over again once it passes');
});

test('the real clock is close to Date.now()', () => {
  const before = Date.now();
  const t = new Hlc().now();
  assert.ok(physicalMs(t) >= before && physicalMs(t) <= Date.now());
});

test('stamps order by time, then by pod', () => {
  assert.equal(compareStamp({ hlc: 1n, pod: 9 }, { hlc: 2n, pod: 1 }), -1);
  assert.equal(compareStamp({ hlc: 2n, pod: 1 }, { hlc: 1n, pod: 9 }), 1);
  assert.ok(compareStamp({ hlc: 5n, pod: 1 }, { hlc: 5n, pod: 2 }) < 0);
  assert.ok(compareStamp({ hlc: 5n, pod: 3 }, { hlc: 5n, pod: 2 }) > 0);
  assert.equal(compareStamp({ hlc: 5n, pod: 2 }, { hlc: 5n, pod: 2 }), 0);
  const stamps = [
    { hlc: 3n, pod: 1 },
    { hlc: 1n, pod: 2 },
    { hlc: 1n, pod: 1 },
  ];
  assert.deepEqual(stamps.sort(compareStamp), [
    { hlc: 1n, pod: 1 },
    { hlc: 1n, pod: 2 },
    { hlc: 3n, pod: 1 },
  ]);
});
