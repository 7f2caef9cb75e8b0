import assert from 'node:assert/strict';
import * as path from 'node:path';
import { type TestContext, test } from 'node:test';
import { Hlc } from '../core/hlc.js';
import { ROOT_INO, TRASH_INO } from '../core/ids.js';
import { tempDir } from '../core/testing.js';
import { Committer } from '../store/committer.js';
import { type Db, openDatabase } from '../store/db.js';
import { IdAllocator } from '../store/ids.js';
import { type Inode, MetaStore } from '../store/meta.js';
import { decodeOp, type TreeOp } from './ops.js';
import { Tree } from './tree.js';

const POD = 77;
const T0 = 1_700_000_000_000_000_000n;
const FILE = 0o100644;
const DIR = 0o040755;
const b = (s: string) => Buffer.from(s);
const h = (n: number) => Buffer.alloc(32, n);

interface Pod {
  db: Db;
  meta: MetaStore;
  tree: Tree;
  committer: Committer | undefined;
}

interface Fixture {
  /** Opens the pod's database (again); the previous connection must be closed first. */
  open(opts?: { commitMs?: number }): Pod;
}

function setup(t: TestContext): Fixture {
  const file = path.join(tempDir(t, 'wormhole-tree-'), 'meta.db');
  const open: Fixture['open'] = (opts = {}) => {
    const db = openDatabase(file);
    const committer = opts.commitMs ? new Committer(db, opts.commitMs) : undefined;
    const meta = new MetaStore(db, committer ? () => committer.open() : undefined);
    const tree = new Tree({ meta, ids: new IdAllocator(db, POD), pod: POD, committer });
    t.after(() => {
      if (!db.open) return;
      committer?.close();
      db.close();
    });
    return { db, meta, tree, committer };
  };
  return { open };
}

function inodeOf(meta: MetaStore, ino: bigint): Inode {
  const i = meta.getInode(ino);
  assert.ok(i, `no inode ${ino}`);
  return i;
}

/** Ops creating `name` in `parent`: a new inode unless `link` names an existing one. */
function create(tree: Tree, parent: bigint, name: string, mode: number, time: bigint, target?: string) {
  const ino = tree.newId();
  const entry = tree.newId();
  const op: TreeOp = {
    kind: 'create',
    entry,
    parent,
    name: b(name),
    ino,
    inode: { mode, uid: 1000, gid: 100, rdev: 0, target: target === undefined ? null : b(target) },
    time,
  };
  return { ino, entry, op };
}

function link(tree: Tree, parent: bigint, name: string, ino: bigint, time: bigint) {
  const entry = tree.newId();
  const op: TreeOp = { kind: 'create', entry, parent, name: b(name), ino, inode: null, time };
  return { entry, op };
}

const move = (entry: bigint, parent: bigint, name: string, time: bigint): TreeOp => ({
  kind: 'move',
  entry,
  parent,
  name: b(name),
  time,
});

test('a new tree has a root directory, created once', (t) => {
  const f = setup(t);
  const p = f.open();
  const root = inodeOf(p.meta, ROOT_INO);
  assert.equal(root.mode, DIR);
  assert.equal(root.nlink, 2);
  p.db.close();
  assert.deepEqual(inodeOf(f.open().meta, ROOT_INO), root);
});

test('create: a file, a directory and a symlink, with times from the op and parent nlink', (t) => {
  const { meta, tree } = setup(t).open();
  const file = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  const dir = create(tree, ROOT_INO, 'd', DIR, T0 + 2n);
  const sub = create(tree, dir.ino, 'sub', DIR, T0 + 3n);
  const sym = create(tree, dir.ino, 's', 0o120777, T0 + 4n, '../f');
  tree.apply([file.op, dir.op, sub.op, sym.op]);

  assert.deepEqual(inodeOf(meta, file.ino), {
    ino: file.ino,
    mode: FILE,
    uid: 1000,
    gid: 100,
    nlink: 1,
    size: 0,
    atime: T0 + 1n,
    mtime: T0 + 1n,
    ctime: T0 + 1n,
    btime: T0 + 1n,
    rdev: 0,
    target: null,
    content: null,
    used: 0,
  });
  assert.deepEqual(meta.lookup(ROOT_INO, b('f')), { id: file.entry, parent: ROOT_INO, name: b('f'), ino: file.ino });
  const root = inodeOf(meta, ROOT_INO);
  assert.equal(root.nlink, 3, 'a subdirectory adds a link to its parent');
  assert.equal(root.mtime, T0 + 2n);
  assert.equal(root.ctime, T0 + 2n);
  const d = inodeOf(meta, dir.ino);
  assert.equal(d.nlink, 3);
  assert.equal(d.mtime, T0 + 4n);
  assert.equal(inodeOf(meta, sub.ino).nlink, 2);
  const s = inodeOf(meta, sym.ino);
  assert.deepEqual([s.size, s.target], [4, b('../f')]);
});

test('a hard link adds a link to the inode; deleting links one by one orphans it', (t) => {
  const { meta, tree } = setup(t).open();
  const dir = create(tree, ROOT_INO, 'd', DIR, T0 + 1n);
  const file = create(tree, ROOT_INO, 'f', FILE, T0 + 2n);
  const l = link(tree, dir.ino, 'g', file.ino, T0 + 3n);
  tree.apply([dir.op, file.op, l.op]);
  let i = inodeOf(meta, file.ino);
  assert.deepEqual([i.nlink, i.ctime, i.mtime], [2, T0 + 3n, T0 + 2n]);
  assert.deepEqual(
    meta.entriesOf(file.ino).map((e) => e.id),
    [file.entry, l.entry].sort((x, y) => (x < y ? -1 : 1)),
  );
  const d = inodeOf(meta, dir.ino);
  assert.deepEqual([d.nlink, d.mtime], [2, T0 + 3n], 'a link to a file does not change the dir nlink');

  tree.apply([move(file.entry, TRASH_INO, 'f', T0 + 4n)]);
  assert.equal(meta.lookup(ROOT_INO, b('f')), undefined);
  i = inodeOf(meta, file.ino);
  assert.deepEqual([i.nlink, i.ctime], [1, T0 + 4n]);
  assert.equal(inodeOf(meta, ROOT_INO).mtime, T0 + 4n);
  assert.deepEqual(meta.orphans(), []);

  tree.apply([move(l.entry, TRASH_INO, 'g', T0 + 5n)]);
  assert.equal(inodeOf(meta, file.ino).nlink, 0);
  assert.deepEqual(meta.entriesOf(file.ino), []);
  assert.deepEqual(meta.orphans(), [file.ino]);
});

test('move: rename in place, and a directory across parents moves its link', (t) => {
  const { meta, tree } = setup(t).open();
  const a = create(tree, ROOT_INO, 'a', DIR, T0 + 1n);
  const bb = create(tree, ROOT_INO, 'b', DIR, T0 + 2n);
  const x = create(tree, a.ino, 'x', DIR, T0 + 3n);
  const f = create(tree, a.ino, 'f', FILE, T0 + 4n);
  tree.apply([a.op, bb.op, x.op, f.op]);
  assert.deepEqual([inodeOf(meta, a.ino).nlink, inodeOf(meta, bb.ino).nlink], [3, 2]);

  tree.apply([move(f.entry, a.ino, 'renamed', T0 + 10n)]);
  assert.equal(meta.lookup(a.ino, b('f')), undefined);
  assert.equal(meta.lookup(a.ino, b('renamed'))?.ino, f.ino);
  assert.deepEqual([inodeOf(meta, f.ino).ctime, inodeOf(meta, f.ino).mtime], [T0 + 10n, T0 + 4n]);
  const ad = inodeOf(meta, a.ino);
  assert.deepEqual([ad.nlink, ad.mtime, ad.ctime], [3, T0 + 10n, T0 + 10n]);

  tree.apply([move(x.entry, bb.ino, 'y', T0 + 20n)]);
  assert.equal(meta.lookup(bb.ino, b('y'))?.ino, x.ino);
  const aa = inodeOf(meta, a.ino);
  const bd = inodeOf(meta, bb.ino);
  assert.deepEqual([aa.nlink, aa.mtime, bd.nlink, bd.mtime], [2, T0 + 20n, 3, T0 + 20n]);
  assert.equal(inodeOf(meta, x.ino).ctime, T0 + 20n);
  assert.equal(inodeOf(meta, ROOT_INO).mtime, T0 + 2n, 'the grandparent is untouched');

  tree.apply([move(f.entry, bb.ino, 'f', T0 + 30n)]);
  assert.deepEqual([inodeOf(meta, a.ino).nlink, inodeOf(meta, bb.ino).nlink], [2, 3], 'files carry no dir link');
});

test('deleting a directory zeroes its links and takes one from its parent', (t) => {
  const { meta, tree } = setup(t).open();
  const d = create(tree, ROOT_INO, 'd', DIR, T0 + 1n);
  tree.apply([d.op]);
  assert.equal(inodeOf(meta, ROOT_INO).nlink, 3);
  tree.apply([move(d.entry, TRASH_INO, 'd', T0 + 2n)]);
  assert.equal(meta.lookup(ROOT_INO, b('d')), undefined);
  assert.deepEqual([inodeOf(meta, d.ino).nlink, inodeOf(meta, d.ino).ctime], [0, T0 + 2n]);
  const root = inodeOf(meta, ROOT_INO);
  assert.deepEqual([root.nlink, root.mtime, root.ctime], [2, T0 + 2n, T0 + 2n]);
});

test('setattr changes the given attributes; ctime is the op time unless given', (t) => {
  const { meta, tree } = setup(t).open();
  const f = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  tree.apply([f.op]);
  tree.apply([{ kind: 'setattr', ino: f.ino, attrs: { mode: 0o100600, uid: 5 }, time: T0 + 2n }]);
  let i = inodeOf(meta, f.ino);
  assert.deepEqual([i.mode, i.uid, i.gid, i.mtime, i.ctime], [0o100600, 5, 100, T0 + 1n, T0 + 2n]);
  tree.apply([{ kind: 'setattr', ino: f.ino, attrs: { atime: 7n, mtime: 8n, ctime: 9n, gid: 6 }, time: T0 + 3n }]);
  i = inodeOf(meta, f.ino);
  assert.deepEqual([i.atime, i.mtime, i.ctime, i.gid, i.uid], [7n, 8n, 9n, 6, 5]);
});

test('content: a new version replaces the previous one and reports the chunks it alone used', (t) => {
  const { meta, tree } = setup(t).open();
  const freed: Buffer[][] = [];
  tree.onFreed = (hs) => freed.push(hs);
  const f = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  const g = create(tree, ROOT_INO, 'g', FILE, T0 + 2n);
  tree.apply([f.op, g.op]);

  const v1 = tree.newId();
  tree.apply([
    {
      kind: 'content',
      ino: f.ino,
      version: v1,
      base: null,
      size: 300,
      extents: [
        { offset: 0, length: 100, hash: h(1) },
        { offset: 100, length: 100, hash: h(2) },
        { offset: 200, length: 100, hash: h(3) },
      ],
      mtime: T0 + 5n,
      time: T0 + 6n,
    },
    {
      kind: 'content',
      ino: g.ino,
      version: tree.newId(),
      base: null,
      size: 100,
      extents: [{ offset: 0, length: 100, hash: h(3) }],
      mtime: T0 + 5n,
      time: T0 + 6n,
    },
  ]);
  assert.deepEqual(freed, [], 'first versions replace nothing');
  let i = inodeOf(meta, f.ino);
  assert.deepEqual([i.content, i.size, i.mtime, i.ctime], [v1, 300, T0 + 5n, T0 + 6n]);
  assert.deepEqual(meta.getVersion(v1), { id: v1, ino: f.ino, base: null, size: 300, created: T0 + 6n });

  const v2 = tree.newId();
  tree.apply([
    {
      kind: 'content',
      ino: f.ino,
      version: v2,
      base: v1,
      size: 250,
      extents: [
        { offset: 0, length: 100, hash: h(1) },
        { offset: 100, length: 50, hash: null },
        { offset: 150, length: 100, hash: h(4) },
      ],
      mtime: T0 + 7n,
      time: T0 + 8n,
    },
  ]);
  assert.equal(meta.getVersion(v1), undefined, 'the previous version is deleted');
  assert.deepEqual(meta.extents(v1), []);
  assert.deepEqual(meta.getVersion(v2)?.base, v1);
  assert.deepEqual(freed, [[h(2)]], 'h(1) is still used by v2, h(3) by g');
  i = inodeOf(meta, f.ino);
  assert.deepEqual([i.content, i.size, i.mtime, i.ctime], [v2, 250, T0 + 7n, T0 + 8n]);
  assert.deepEqual(meta.versionsOf(f.ino), [v2]);
});

test('xattr: set, replace and remove, each updating ctime', (t) => {
  const { meta, tree } = setup(t).open();
  const f = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  tree.apply([f.op]);
  tree.apply([{ kind: 'xattr', ino: f.ino, name: b('user.k'), value: b('v1'), time: T0 + 2n }]);
  tree.apply([{ kind: 'xattr', ino: f.ino, name: b('user.k'), value: b('v2'), time: T0 + 3n }]);
  tree.apply([{ kind: 'xattr', ino: f.ino, name: b('user.j'), value: b(''), time: T0 + 4n }]);
  assert.deepEqual(meta.getXattr(f.ino, b('user.k')), b('v2'));
  assert.deepEqual(meta.listXattrs(f.ino), [b('user.j'), b('user.k')]);
  assert.equal(inodeOf(meta, f.ino).ctime, T0 + 4n);
  tree.apply([{ kind: 'xattr', ino: f.ino, name: b('user.k'), value: null, time: T0 + 5n }]);
  assert.deepEqual(meta.listXattrs(f.ino), [b('user.j')]);
  assert.equal(inodeOf(meta, f.ino).ctime, T0 + 5n);
});

test('purge removes an unlinked inode with its xattrs and versions, and only an unlinked one', (t) => {
  const { meta, tree } = setup(t).open();
  const freed: Buffer[] = [];
  tree.onFreed = (hs) => freed.push(...hs);
  const f = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  const version = tree.newId();
  tree.apply([
    f.op,
    { kind: 'xattr', ino: f.ino, name: b('user.k'), value: b('v'), time: T0 + 2n },
    {
      kind: 'content',
      ino: f.ino,
      version,
      base: null,
      size: 10,
      extents: [{ offset: 0, length: 10, hash: h(9) }],
      mtime: T0,
      time: T0 + 3n,
    },
  ]);
  tree.purge(f.ino);
  assert.ok(meta.getInode(f.ino), 'a linked inode is not purged');

  tree.apply([move(f.entry, TRASH_INO, 'f', T0 + 4n)]);
  tree.purge(f.ino);
  assert.equal(meta.getInode(f.ino), undefined);
  assert.deepEqual(meta.listXattrs(f.ino), []);
  assert.deepEqual(meta.versionsOf(f.ino), []);
  assert.deepEqual(meta.extents(version), []);
  assert.deepEqual(freed, [h(9)]);
  tree.purge(f.ino);
});

test('every op is logged once, with increasing stamps; compactLog trims up to a stamp', (t) => {
  const { db, tree } = setup(t).open();
  const f = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  const ops: TreeOp[] = [
    f.op,
    { kind: 'setattr', ino: f.ino, attrs: { mode: 0o100600 }, time: T0 + 2n },
    { kind: 'xattr', ino: f.ino, name: b('user.k'), value: b('v'), time: T0 + 3n },
  ];
  const stamps = [...tree.apply(ops.slice(0, 2)), ...tree.apply(ops.slice(2))];
  const more = tree.apply([move(f.entry, ROOT_INO, 'g', T0 + 4n)]);
  assert.equal(tree.logSize(), 4);
  const rows = db.prepare('SELECT hlc, pod, body FROM oplog ORDER BY hlc').safeIntegers(true).all() as Array<{
    hlc: bigint;
    pod: bigint;
    body: Buffer;
  }>;
  assert.deepEqual(
    rows.map((r) => r.hlc),
    [...stamps, ...more],
  );
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i]!.hlc > rows[i - 1]!.hlc);
  assert.ok(rows.every((r) => r.pod === BigInt(POD)));
  assert.deepEqual(
    rows.slice(0, 3).map((r) => decodeOp(r.body)),
    ops,
  );

  assert.equal(tree.compactLog(stamps[1] as bigint), 2);
  assert.equal(tree.logSize(), 2);
  assert.equal(tree.compactLog(stamps[1] as bigint), 0);
  assert.equal(tree.compactLog(more[0] as bigint), 2);
  assert.equal(tree.logSize(), 0);
});

test('apply() is atomic: if one op fails, none takes effect or is logged', (t) => {
  const { meta, tree } = setup(t).open();
  const f = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  const root = inodeOf(meta, ROOT_INO);
  assert.throws(() => tree.apply([f.op, move(123456n, ROOT_INO, 'x', T0 + 2n)]), { message: /no entry/ });
  assert.equal(meta.getInode(f.ino), undefined);
  assert.equal(meta.lookup(ROOT_INO, b('f')), undefined);
  assert.deepEqual(inodeOf(meta, ROOT_INO), root);
  assert.equal(tree.logSize(), 0);
  tree.apply([f.op]);
  assert.equal(tree.logSize(), 1);
});

for (const commitMs of [0, 60_000]) {
  test(`ops survive a close and reopen of the database (commit interval ${commitMs} ms)`, (t) => {
    const fx = setup(t);
    let p = fx.open({ commitMs });
    const d = create(p.tree, ROOT_INO, 'd', DIR, T0 + 1n);
    const f = create(p.tree, d.ino, 'f', FILE, T0 + 2n);
    const version = p.tree.newId();
    p.tree.apply([d.op, f.op]);
    p.tree.apply([
      { kind: 'xattr', ino: f.ino, name: b('user.k'), value: b('v'), time: T0 + 3n },
      {
        kind: 'content',
        ino: f.ino,
        version,
        base: null,
        size: 10,
        extents: [{ offset: 0, length: 10, hash: h(1) }],
        mtime: T0 + 4n,
        time: T0 + 4n,
      },
    ]);
    const before = { d: inodeOf(p.meta, d.ino), f: inodeOf(p.meta, f.ino), root: inodeOf(p.meta, ROOT_INO) };
    p.tree.commitNow();
    p.db.close();

    p = fx.open({ commitMs });
    assert.deepEqual(inodeOf(p.meta, d.ino), before.d);
    assert.deepEqual(inodeOf(p.meta, f.ino), before.f);
    assert.deepEqual(inodeOf(p.meta, ROOT_INO), before.root);
    assert.equal(p.meta.lookup(d.ino, b('f'))?.ino, f.ino);
    assert.deepEqual(p.meta.getXattr(f.ino, b('user.k')), b('v'));
    assert.deepEqual(p.meta.extents(version), [{ offset: 0, length: 10, hash: h(1) }]);
    assert.equal(p.tree.logSize(), 4);
    const next = p.tree.newId();
    assert.ok(next > version, 'ids used before the reopen are not handed out again');
  });
}

test('with a group committer, applied ops are visible at once and durable after commitNow()', (t) => {
  const fx = setup(t);
  const p = fx.open({ commitMs: 60_000 });
  const f = create(p.tree, ROOT_INO, 'f', FILE, T0 + 1n);
  p.tree.apply([f.op]);
  assert.ok(p.meta.getInode(f.ino));
  assert.equal(p.db.inTransaction, true);
  p.tree.commitNow();
  assert.equal(p.db.inTransaction, false);
  assert.equal(p.committer?.commits, 1);
});

test('the clock given to the tree stamps the ops', (t) => {
  const file = path.join(tempDir(t, 'wormhole-tree-'), 'meta.db');
  const db = openDatabase(file);
  t.after(() => db.close());
  const meta = new MetaStore(db);
  const clock = new Hlc(() => 1000);
  const tree = new Tree({ meta, ids: new IdAllocator(db, POD), pod: POD, clock });
  const f = create(tree, ROOT_INO, 'f', FILE, T0);
  const [stamp] = tree.apply([f.op]);
  assert.equal(stamp, 1000n << 16n);
  assert.equal(clock.current, stamp);
});
