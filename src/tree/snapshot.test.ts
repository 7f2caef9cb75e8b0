import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_INO } from '../core/ids.js';
import {
  checkInvariants,
  compactAll,
  deliver,
  dump,
  makePods,
  mkdir,
  resolve,
  syncAll,
  touch,
  write,
} from './testing.js';

const h = (n: number) => Buffer.alloc(32, n);

test('a new pod past the compacted log needs a snapshot, and after it shows the same tree and follows new operations', (t) => {
  const [a, b, c] = makePods(t, 3);
  if (!a || !b || !c) throw new Error('pods');
  mkdir(a, '/docs');
  touch(a, '/docs/x');
  write(a, '/docs/x', [h(1), h(2)]);
  touch(b, '/y');
  syncAll([a, b]);
  compactAll([a, b]);
  assert.equal(a.tree.logSize(), 0, 'the log was compacted away');
  assert.equal(a.tree.needsSnapshot(c.tree.versionVector()), true);
  assert.deepEqual(a.tree.opsAfter(c.tree.versionVector()), [], 'the log cannot bring c up to date');
  assert.equal(a.tree.needsSnapshot(b.tree.versionVector()), false, 'b has everything');

  const { changes, replayed } = c.tree.installSnapshot(a.tree.snapshot(), [ROOT_INO]);
  assert.equal(replayed, 0);
  assert.deepEqual(
    changes.entries.map((e) => e.name.toString()).sort(),
    ['docs', 'y'],
    'the names of the watched root are reported changed',
  );
  checkInvariants(c);
  assert.deepEqual(dump(c), dump(a));
  assert.equal(a.tree.needsSnapshot(c.tree.versionVector()), false);

  touch(b, '/docs/z');
  assert.equal(deliver(b, c), 1, 'c now follows the log');
  touch(c, '/from-c');
  syncAll([a, b, c]);
  for (const p of [a, b, c]) checkInvariants(p);
  assert.deepEqual(dump(c), dump(a));
  assert.deepEqual(dump(b), dump(a));
});

test('a pod away past the horizon keeps its own changes through the snapshot, and its sequence has no gap', (t) => {
  const [a, b, c] = makePods(t, 3);
  if (!a || !b || !c) throw new Error('pods');
  touch(a, '/shared');
  syncAll([a, b, c]);
  // c goes away and works alone; a and b forget it (past the horizon) and compact.
  touch(c, '/offline');
  write(c, '/offline', [h(7)]);
  mkdir(a, '/later');
  syncAll([a, b]);
  compactAll([a, b]);
  assert.equal(a.tree.needsSnapshot(c.tree.versionVector()), true);
  const seqBefore = c.tree.versionVector().get(c.n);

  const { replayed } = c.tree.installSnapshot(a.tree.snapshot(), [ROOT_INO]);
  assert.equal(replayed, 2, 'the create and the write of /offline were applied again');
  assert.ok(resolve(c, '/offline'), 'the offline file is still there');
  assert.ok(resolve(c, '/later'), 'and what happened meanwhile arrived');
  assert.equal(c.tree.versionVector().get(c.n), seqBefore, 'no sequence number lost or reused');

  syncAll([a, b, c]);
  for (const p of [a, b, c]) checkInvariants(p);
  assert.deepEqual(dump(a), dump(c));
  assert.deepEqual(dump(b), dump(c));
  assert.equal(resolve(a, '/offline')?.name.toString(), 'offline');
  touch(c, '/after');
  syncAll([a, b, c]);
  assert.ok(resolve(a, '/after'), 'c keeps writing into the network');
});

test('a malformed snapshot is refused with SnapshotError and leaves the tree untouched', (t) => {
  const [a, c] = makePods(t, 2);
  if (!a || !c) throw new Error('pods');
  touch(c, '/mine');
  const before = dump(c);
  const good = a.tree.snapshot();
  for (const bad of [Buffer.from('nonsense'), good.subarray(0, good.length >> 1), Buffer.from([0xc0])]) {
    assert.throws(
      () => c.tree.installSnapshot(bad, [ROOT_INO]),
      (err: Error) => err.name === 'SnapshotError',
    );
  }
  assert.deepEqual(dump(c), before);
  checkInvariants(c);
});

test('opsAfter pages: at most limit + 1 operations, starting at the oldest one missing', (t) => {
  const [a, b] = makePods(t, 2);
  if (!a || !b) throw new Error('pods');
  for (let i = 0; i < 10; i++) touch(a, `/f${i}`);
  const page = a.tree.opsAfter(b.tree.versionVector(), 4);
  assert.equal(page.length, 5);
  assert.deepEqual(
    page.map((o) => o.seq),
    [1n, 2n, 3n, 4n, 5n],
  );
  b.tree.receive(page.slice(0, 4));
  assert.deepEqual(
    a.tree.opsAfter(b.tree.versionVector(), 100).map((o) => o.seq),
    [5n, 6n, 7n, 8n, 9n, 10n],
  );
});
