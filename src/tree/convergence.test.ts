import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { ROOT_INO, TRASH_INO } from '../core/ids.js';
import { Prng } from '../core/testing.js';
import type { ConflictPolicy } from './names.js';
import {
  checkInvariants,
  compactAll,
  deliver,
  dump,
  live,
  makePods,
  mkdir,
  mv,
  randomAction,
  randomExchange,
  resolve,
  rm,
  rmdir,
  shuffle,
  stablePoint,
  syncAll,
  type TestPod,
  touch,
  WALL,
  write,
} from './testing.js';

const POLICIES: ConflictPolicy[] = ['copy', 'newest'];
const h = (n: number) => Buffer.alloc(32, n);
/** The date conflict names carry for anything stamped in the first second after WALL. */
const DATE = '2023-11-14 221320';

/** Every pod keeps the tree's invariants and shows the same tree; returns it. */
function converged(pods: TestPod[]): string[] {
  for (const p of pods) checkInvariants(p);
  const first = dump(pods[0] as TestPod);
  for (const p of pods.slice(1)) assert.deepEqual(dump(p), first, `pod ${p.n} differs from pod ${pods[0]?.n}`);
  return first;
}

function inoAt(p: TestPod, at: string): bigint | undefined {
  return resolve(p, at)?.ino;
}

function contentAt(p: TestPod, at: string): bigint | null | undefined {
  const e = resolve(p, at);
  return e && p.meta.getInode(e.ino)?.content;
}

function names(p: TestPod, at: string): string[] {
  const dir = at === '/' ? ROOT_INO : (resolve(p, at)?.ino as bigint);
  return p.meta
    .list(dir, 0n, 1000)
    .map((e) => e.name.toString())
    .sort();
}

// ---- random activity ------------------------------------------------------------

interface RunOptions {
  seed: number;
  policy: ConflictPolicy;
  steps: number;
  /** Also forget stable operations now and then, as pods do. */
  compact?: boolean;
}

/**
 * Three pods change the tree at random and exchange parts of what they know;
 * at the end everyone receives everything. A fourth pod, idle until then,
 * receives all operations at once (in order, never undoing): the others,
 * which undid and redid all along, must match it.
 */
function run(t: TestContext, o: RunOptions): void {
  const rng = new Prng(o.seed);
  const pods = makePods(t, 4, o.policy);
  const reference = pods[3] as TestPod;
  const active = pods.slice(0, 3);
  const skew = active.map(() => rng.int(-5, 6));
  let world = WALL;
  for (let step = 0; step < o.steps; step++) {
    world += rng.int(0, 4);
    active.forEach((p, i) => {
      p.wall.ms = world + (skew[i] as number);
    });
    const p = active[rng.int(0, 3)] as TestPod;
    if (rng.float() < 0.6) {
      for (let tries = 0; tries < 5 && !randomAction(p, rng); tries++);
    } else {
      const others = active.filter((q) => q !== p);
      randomExchange(rng, others[rng.int(0, 2)] as TestPod, p);
    }
    if (o.compact && step % 25 === 24) compactAll(active);
  }
  const all = active.flatMap((p) => p.tree.opsAfter(new Map()));
  for (const p of active) {
    const mine = shuffle(rng, [...all]);
    const cut = rng.int(0, mine.length);
    p.tree.receive(mine.slice(0, cut));
    p.tree.receive(mine.slice(cut));
  }
  const everyone = o.compact ? active : pods;
  if (!o.compact) reference.tree.receive(all);
  const tree = converged(everyone);
  const vv = [...active[0]!.tree.versionVector()].sort();
  for (const p of everyone) assert.deepEqual([...p.tree.versionVector()].sort(), vv);
  assert.ok(tree.length > 3, `the run left a tree to compare (${tree.length} entries)`);
}

for (const policy of POLICIES) {
  for (const seed of [1, 2, 3, 4, 5]) {
    test(`random ops and partial exchanges converge (policy ${policy}, seed ${seed})`, (t) => {
      run(t, { seed: seed * 1009 + policy.length, policy, steps: 160 });
    });
  }
}

for (const seed of [11, 12, 13]) {
  test(`random ops converge while pods forget stable ops (seed ${seed})`, (t) => {
    run(t, { seed, policy: 'copy', steps: 160, compact: true });
  });
}

// ---- scenarios --------------------------------------------------------------------

for (const policy of POLICIES) {
  test(`concurrent creates of one name: the newer keeps it, the older is ${policy === 'copy' ? 'renamed' : 'trashed'} (${policy})`, (t) => {
    const pods = makePods(t, 3, policy);
    const [p1, p2, p3] = pods as [TestPod, TestPod, TestPod];
    p1.wall.ms = WALL + 1;
    const older = touch(p1, '/a.txt');
    write(p1, '/a.txt', [h(1)]);
    const olderDir = mkdir(p1, '/d');
    p2.wall.ms = WALL + 2;
    const newer = touch(p2, '/a.txt');
    const newerDir = mkdir(p2, '/d');
    deliver(p2, p3);
    deliver(p1, p3);
    syncAll(pods);
    converged(pods);
    assert.equal(inoAt(p1, '/a.txt'), newer);
    const copy = `/a (conflict pod1 ${DATE}).txt`;
    if (policy === 'copy') {
      assert.equal(inoAt(p1, copy), older);
      assert.deepEqual(names(p1, '/'), [
        'a (conflict pod1 2023-11-14 221320).txt',
        'a.txt',
        'd',
        `d (conflict pod1 ${DATE})`,
      ]);
    } else {
      assert.equal(inoAt(p1, copy), undefined);
      assert.deepEqual(
        p1.meta.entriesOf(older).map((e) => e.parent),
        [TRASH_INO],
      );
      assert.equal(p1.meta.getInode(older)?.nlink, 0);
    }
    assert.equal(inoAt(p1, '/d'), newerDir);
    assert.equal(inoAt(p1, `/d (conflict pod1 ${DATE})`), olderDir, 'a directory is never trashed for its name');
  });
}

test('concurrent renames of one entry to two places: the newer wins, the entry stays in one place', (t) => {
  const pods = makePods(t, 3);
  const [p1, p2, p3] = pods as [TestPod, TestPod, TestPod];
  mkdir(p1, '/d1');
  mkdir(p1, '/d2');
  const f = touch(p1, '/f');
  syncAll(pods);
  p1.wall.ms = WALL + 10;
  mv(p1, '/f', '/d1/x');
  p2.wall.ms = WALL + 20;
  mv(p2, '/f', '/d2/y');
  deliver(p2, p3);
  deliver(p1, p3);
  syncAll(pods);
  converged(pods);
  assert.equal(inoAt(p3, '/d2/y'), f);
  assert.deepEqual([inoAt(p3, '/d1/x'), inoAt(p3, '/f')], [undefined, undefined]);
  assert.deepEqual([p3.meta.entriesOf(f).length, p3.meta.getInode(f)?.nlink], [1, 1]);
});

for (const firstMover of [1, 2]) {
  test(`concurrent moves of two dirs into each other: the older applies, the newer is skipped (pod ${firstMover} first)`, (t) => {
    const pods = makePods(t, 3);
    const [p1, p2] = pods as [TestPod, TestPod];
    const a = mkdir(p1, '/A');
    const b = mkdir(p1, '/B');
    syncAll(pods);
    p1.wall.ms = WALL + (firstMover === 1 ? 10 : 20);
    mv(p1, '/A', '/B/A');
    p2.wall.ms = WALL + (firstMover === 1 ? 20 : 10);
    mv(p2, '/B', '/A/B');
    syncAll(pods);
    converged(pods);
    if (firstMover === 1) assert.deepEqual([inoAt(p1, '/B'), inoAt(p1, '/B/A'), inoAt(p1, '/A')], [b, a, undefined]);
    else assert.deepEqual([inoAt(p1, '/A'), inoAt(p1, '/A/B'), inoAt(p1, '/B')], [a, b, undefined]);
  });
}

for (const editFirst of [true, false]) {
  test(`edit vs delete (${editFirst ? 'edit' : 'delete'} older): the edit survives, with its directory`, (t) => {
    const pods = makePods(t, 3);
    const [p1, p2, p3] = pods as [TestPod, TestPod, TestPod];
    mkdir(p1, '/d');
    const f = touch(p1, '/d/f');
    write(p1, '/d/f', [h(1)]);
    syncAll(pods);
    p2.wall.ms = WALL + (editFirst ? 10 : 20);
    const edited = write(p2, '/d/f', [h(2)]);
    p1.wall.ms = WALL + (editFirst ? 20 : 10);
    rm(p1, '/d/f');
    rmdir(p1, '/d');
    deliver(p2, p3);
    deliver(p1, p3);
    deliver(p1, p2);
    deliver(p2, p1);
    converged(pods);
    for (const p of pods) {
      assert.equal(inoAt(p, '/d/f'), f, `pod ${p.n}`);
      assert.equal(contentAt(p, '/d/f'), edited);
      assert.deepEqual([p.meta.getInode(f)?.nlink, p.meta.getInode(inoAt(p, '/d') as bigint)?.nlink], [1, 2]);
    }
  });
}

for (const createFirst of [true, false]) {
  test(`rmdir vs create inside (${createFirst ? 'create' : 'rmdir'} older): the directory survives`, (t) => {
    const pods = makePods(t, 3);
    const [p1, p2] = pods as [TestPod, TestPod];
    const d = mkdir(p1, '/d');
    syncAll(pods);
    p1.wall.ms = WALL + (createFirst ? 20 : 10);
    rmdir(p1, '/d');
    p2.wall.ms = WALL + (createFirst ? 10 : 20);
    const x = touch(p2, '/d/x');
    const sub = mkdir(p2, '/d/sub');
    syncAll(pods);
    converged(pods);
    assert.deepEqual([inoAt(p1, '/d'), inoAt(p1, '/d/x'), inoAt(p1, '/d/sub')], [d, x, sub]);
    assert.deepEqual([p1.meta.getInode(d)?.nlink, p1.meta.getInode(ROOT_INO)?.nlink], [3, 3]);
  });
}

for (const policy of POLICIES) {
  test(`concurrent edits of one file: the newer content wins${policy === 'copy' ? ', the older stays as a copy' : ''} (${policy})`, (t) => {
    const pods = makePods(t, 3, policy);
    const [p1, p2, p3] = pods as [TestPod, TestPod, TestPod];
    const f = touch(p1, '/f.txt');
    write(p1, '/f.txt', [h(1)]);
    syncAll(pods);
    p1.wall.ms = WALL + 10;
    const older = write(p1, '/f.txt', [h(2), h(3)]);
    p2.wall.ms = WALL + 20;
    const newer = write(p2, '/f.txt', [h(4)]);
    deliver(p2, p3);
    deliver(p1, p3);
    syncAll(pods);
    converged(pods);
    assert.deepEqual([inoAt(p3, '/f.txt'), contentAt(p3, '/f.txt')], [f, newer]);
    if (policy === 'newest') {
      assert.deepEqual(names(p3, '/'), ['f.txt']);
      return;
    }
    const copy = `f (conflict pod1 ${DATE}).txt`;
    assert.deepEqual(names(p3, '/'), [copy, 'f.txt']);
    const c = p3.meta.getInode(inoAt(p3, `/${copy}`) as bigint);
    assert.ok(c && c.ino !== f, 'the copy is a file of its own');
    assert.deepEqual([c.size, c.nlink], [200, 1]);
    assert.ok(c.content !== null && c.content !== older, 'the copy has a version of its own');
    assert.deepEqual(p3.meta.getVersion(c.content)?.ino, c.ino);
    assert.deepEqual(p3.meta.extents(c.content), p3.meta.extents(older));
    assert.deepEqual(p3.meta.extents(older), [
      { offset: 0, length: 100, hash: h(2) },
      { offset: 100, length: 100, hash: h(3) },
    ]);
  });
}

test('concurrent edits with identical content make no conflict copy', (t) => {
  const pods = makePods(t, 2);
  const [p1, p2] = pods as [TestPod, TestPod];
  touch(p1, '/f.txt');
  syncAll(pods);
  p1.wall.ms = WALL + 10;
  write(p1, '/f.txt', [h(5)]);
  p2.wall.ms = WALL + 20;
  const newer = write(p2, '/f.txt', [h(5)]);
  syncAll(pods);
  converged(pods);
  assert.deepEqual(names(p1, '/'), ['f.txt']);
  assert.equal(contentAt(p1, '/f.txt'), newer);
});

test('late ops: a pod undoes its newer ops, applies the older ones, redoes its own, and matches one that applied them in order', (t) => {
  const pods = makePods(t, 3);
  const [a, b, c] = pods as [TestPod, TestPod, TestPod];
  mkdir(a, '/d');
  const f = touch(a, '/d/f');
  syncAll(pods);
  const base = a.tree.opsAfter(new Map());
  a.wall.ms = WALL + 10;
  mkdir(a, '/d/sub');
  const v1 = write(a, '/d/f', [h(1)]);
  mv(a, '/d/f', '/d/sub/f');
  touch(a, '/n');
  a.tree.apply([{ kind: 'xattr', ino: f, name: Buffer.from('user.k'), value: Buffer.from('a'), time: 1n }]);
  b.wall.ms = WALL + 100;
  mv(b, '/d', '/e');
  const v2 = write(b, '/e/f', [h(2)]);
  touch(b, '/n');
  mkdir(b, '/e/sub');
  b.tree.apply([{ kind: 'setattr', ino: f, attrs: { mode: 0o100600 }, time: 2n }]);
  const fromA = a.tree.opsAfter(b.tree.versionVector());
  const fromB = b.tree.opsAfter(a.tree.versionVector());
  assert.ok(
    fromA.every((x) => fromB.every((y) => x.hlc < y.hlc)),
    'every op of a is older than every op of b',
  );

  assert.equal(b.tree.receive(shuffle(new Prng(7), [...fromA, ...fromA])), fromA.length);
  a.tree.receive(fromB);
  c.tree.receive([...base, ...fromA, ...fromB]);
  converged(pods);
  assert.equal(inoAt(c, `/e/sub (conflict pod1 ${DATE})/f`), f, "a's sub lost its name to b's newer one, kept f");
  assert.equal(contentAt(c, `/e/sub (conflict pod1 ${DATE})/f`), v2, "b's write is newer");
  const copy = contentAt(c, `/e/sub (conflict pod1 ${DATE})/f (conflict pod1 ${DATE})`) as bigint;
  assert.deepEqual(c.meta.extents(copy), c.meta.extents(v1), 'the older is a copy');
  assert.equal(c.meta.getInode(f)?.mode, 0o100600);
  assert.deepEqual(c.meta.getXattr(f, Buffer.from('user.k')), Buffer.from('a'));
  assert.deepEqual(names(c, '/'), ['e', 'n', `n (conflict pod1 ${DATE})`]);
  for (const p of pods) assert.equal(p.tree.logSize(), base.length + fromA.length + fromB.length);
});

// ---- found broken (see the report): these pin the convergent behaviour -----------

test('a move into a directory deleted concurrently makes no cycle', (t) => {
  const pods = makePods(t, 2);
  const [p1, p2] = pods as [TestPod, TestPod];
  mkdir(p1, '/A');
  const b = mkdir(p1, '/B');
  syncAll(pods);
  p1.wall.ms = WALL + 10;
  mv(p1, '/A', '/B/A');
  rmdir(p1, '/B/A');
  p2.wall.ms = WALL + 20;
  mv(p2, '/B', '/A/B');
  syncAll(pods);
  converged(pods);
  assert.ok(
    live(p1.meta).some((l) => l.inode.ino === b),
    'B is still reachable from the root',
  );
});

test('forgetting stable ops does not change what a late op does (the versions it needs stay)', (t) => {
  const pods = makePods(t, 3);
  const [p1, p2, p3] = pods as [TestPod, TestPod, TestPod];
  touch(p1, '/f');
  const v0 = write(p1, '/f', [h(1)]);
  syncAll(pods);
  p1.wall.ms = WALL + 10;
  write(p1, '/f', [h(2)]);
  syncAll(pods);
  // p3 had f open since v0 and closes it now: a version based on v0, concurrent with v1.
  p3.wall.ms = WALL + 20;
  write(p3, '/f', [h(3)], v0);
  p2.wall.ms = WALL + 30;
  write(p2, '/f', [h(4)]);
  deliver(p2, p1);
  const freed: Buffer[] = [];
  p1.tree.onFreed = (hs) => freed.push(...hs);
  compactAll(pods);
  syncAll(pods);
  converged(pods);
  assert.deepEqual(names(p2, '/'), ['f', `f (conflict pod1 ${DATE})`, `f (conflict pod3 ${DATE})`]);
  assert.ok(!freed.some((x) => x.equals(h(2))), 'the chunk of the conflict copy was not freed');
});

for (const variant of ['a create inside a deleted dir', 'an edit of a deleted file']) {
  test(`forgetting a stable delete keeps what a concurrent op needs: ${variant}`, (t) => {
    const pods = makePods(t, 2);
    const [p1, p2] = pods as [TestPod, TestPod];
    const dir = variant.includes('dir');
    if (dir) mkdir(p1, '/d');
    else {
      touch(p1, '/d');
      write(p1, '/d', [h(1)]);
    }
    syncAll(pods);
    p2.wall.ms = WALL + 10;
    if (dir) rmdir(p2, '/d');
    else rm(p2, '/d');
    // p1 has not seen the delete; its clock is ahead.
    p1.wall.ms = WALL + 20;
    const made = dir ? touch(p1, '/d/x') : write(p1, '/d', [h(2)]);
    deliver(p2, p1);
    const stable = stablePoint(pods);
    const [deleted] = p2.tree.opsAfter(new Map()).slice(-1);
    assert.ok(deleted && deleted.hlc < stable, 'the delete is stable: every pod has it');
    compactAll(pods);
    syncAll(pods);
    converged(pods);
    if (dir) assert.equal(inoAt(p2, '/d/x'), made);
    else assert.equal(contentAt(p2, '/d'), made);
  });
}

test('concurrent creates of a name of 255 bytes: both stay, under names of at most 255 bytes', (t) => {
  const pods = makePods(t, 2);
  const [p1, p2] = pods as [TestPod, TestPod];
  for (const p of pods) {
    const lookup = p.meta.lookup.bind(p.meta);
    let calls = 0;
    p.meta.lookup = (parent, name) => {
      assert.ok(++calls < 10_000, 'looking for a free name does not end');
      return lookup(parent, name);
    };
  }
  const long = `/${'x'.repeat(251)}.txt`;
  p1.wall.ms = WALL + 1;
  const older = touch(p1, long);
  p2.wall.ms = WALL + 2;
  const newer = touch(p2, long);
  syncAll(pods);
  converged(pods);
  assert.equal(inoAt(p1, long), newer);
  const other = live(p1.meta).find((l) => l.inode.ino === older);
  assert.ok(other && other.e.name.length <= 255 && other.path !== long);
});
