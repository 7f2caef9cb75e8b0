import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { type Candidate, targets } from './placement.js';
import { balance, movedOnJoin, samplePods } from './placement-stats.js';

const chunk = (i: number) => createHash('sha256').update(`chunk ${i}`).digest();

test('targets: R distinct pods, the same on every call and whatever the candidates order', () => {
  const pods = samplePods(5, ['a', 'b']);
  for (let i = 0; i < 200; i++) {
    const t = targets(chunk(i), pods, 2);
    assert.equal(t.length, 2);
    assert.notEqual(t[0]?.id, t[1]?.id);
    assert.deepEqual(
      targets(chunk(i), [...pods].reverse(), 2).map((p) => p.id),
      t.map((p) => p.id),
    );
  }
});

test('targets: replicas go to distinct zones first', () => {
  const pods = samplePods(5, ['a', 'b']);
  for (let i = 0; i < 500; i++) {
    const t = targets(chunk(i), pods, 2);
    assert.notEqual(t[0]?.zone, t[1]?.zone, `chunk ${i} has both replicas in zone ${t[0]?.zone}`);
  }
  // R = 3 with 2 zones: both zones, then the best remaining pod.
  const t3 = targets(chunk(1), pods, 3);
  assert.equal(new Set(t3.map((p) => p.zone)).size, 2);
  assert.equal(new Set(t3.map((p) => p.id)).size, 3);
});

test('targets: fewer candidates than R gives them all; none gives none', () => {
  const pods = samplePods(2, ['a']);
  assert.equal(targets(chunk(1), pods, 3).length, 2);
  assert.deepEqual(targets(chunk(1), [], 2), []);
  assert.deepEqual(targets(chunk(1), pods, 0), []);
});

test('targets: weight 0 takes replicas only when no other pod can', () => {
  const pods: Candidate[] = [...samplePods(3, ['a']), { id: 'zero', zone: 'z', weight: 0 }];
  for (let i = 0; i < 300; i++) assert.ok(!targets(chunk(i), pods, 2).some((p) => p.id === 'zero'));
  assert.ok(targets(chunk(1), pods, 4).some((p) => p.id === 'zero'));
});

test('targets: a heavier pod gets a proportionally bigger share', () => {
  const pods: Candidate[] = [
    { id: 'p1', zone: 'a', weight: 1 },
    { id: 'p2', zone: 'a', weight: 1 },
    { id: 'p3', zone: 'a', weight: 2 },
  ];
  const count = new Map<string, number>();
  for (let i = 0; i < 20_000; i++) {
    const id = targets(chunk(i), pods, 1)[0]?.id as string;
    count.set(id, (count.get(id) ?? 0) + 1);
  }
  const share = (count.get('p3') ?? 0) / 20_000;
  assert.ok(Math.abs(share - 0.5) < 0.02, `the double-weight pod got ${share}`);
});

test('balance: bytes per pod, equal capacities, 10,000 chunks: standard deviation under 10% of the mean', () => {
  const b = balance(10_000, samplePods(5, ['a']), 2);
  assert.ok(b.relStddev < 0.1, `relative stddev ${b.relStddev}`);
  const z = balance(10_000, samplePods(6, ['a', 'b']), 2);
  assert.ok(z.relStddev < 0.1, `relative stddev with two zones ${z.relStddev}`);
});

test('a sixth pod joining moves about 1/6 of the replicas, all of them to the new pod', () => {
  const m = movedOnJoin(10_000, samplePods(5, ['a']), { id: 'pod-new', zone: 'a', weight: 1 }, 2);
  assert.ok(Math.abs(m.fraction - 1 / 6) < 0.02, `moved ${m.fraction} of the replica bytes`);
  assert.equal(m.toOthers, 0, 'replicas moved between the old pods');
});
