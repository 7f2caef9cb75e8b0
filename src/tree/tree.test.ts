import assert from 'node:assert/strict';
import * as path from 'node:path';
import { type TestContext, test } from 'node:test';
import { Hlc } from '../core/hlc.js';
import { type Id, ROOT_INO, TRASH_INO } from '../core/ids.js';
import { tempDir } from '../core/testing.js';
import { Committer } from '../store/committer.js';
import { openDatabase } from '../store/db.js';
import { IdAllocator } from '../store/ids.js';
import { type Extent, type Inode, MetaStore } from '../store/meta.js';
import { type ContentOp, decodeOp, type Stamp, type TreeOp, type WireOp } from './ops.js';
import { Tree } from './tree.js';

const POD = 77;
/** The pods' wall clock (ms) at the start of every test; file times are on the same scale. */
const WALL = 1_700_000_000_000;
const T0 = BigInt(WALL) * 1_000_000n;
const FILE = 0o100644;
const DIR = 0o040755;
const b = (s: string) => Buffer.from(s);
const h = (n: number) => Buffer.alloc(32, n);
/** The HLC timestamp at wall-clock millisecond WALL + ms. */
const hlcAt = (ms: number) => BigInt(WALL + ms) << 16n;
const byHash = (x: Buffer[]) => [...x].sort(Buffer.compare);
/** Wire ops, comparable (the decoder hangs properties on the buffers it reads). */
const plain = (ops: WireOp[]) => ops.map((w) => ({ ...w, body: w.body.toString('hex') }));

/**
 * One pod's database: `open()` opens it (again: close the previous connection
 * first); `wall` is the pod's clock (ms), moved to place ops around a stable point.
 */
function setup(t: TestContext) {
  const file = path.join(tempDir(t, 'wormhole-tree-'), 'meta.db');
  const wall = { ms: WALL };
  const open = (opts: { commitMs?: number } = {}) => {
    const db = openDatabase(file);
    const committer = opts.commitMs ? new Committer(db, opts.commitMs) : undefined;
    const meta = new MetaStore(db, committer ? () => committer.open() : undefined);
    const clock = new Hlc(() => wall.ms);
    const tree = new Tree({ meta, ids: new IdAllocator(db, POD), pod: POD, clock, committer });
    t.after(() => {
      if (!db.open) return;
      committer?.close();
      db.close();
    });
    return { db, meta, tree, committer };
  };
  return { wall, open };
}

function inodeOf(meta: MetaStore, ino: Id): Inode {
  const i = meta.getInode(ino);
  assert.ok(i, `no inode ${ino}`);
  return i;
}

function create(tree: Tree, parent: Id, name: string, mode: number, time: bigint, target?: string) {
  const [ino, entry] = [tree.newId(), tree.newId()];
  const inode = { mode, uid: 1000, gid: 100, rdev: 0, target: target === undefined ? null : b(target) };
  return { ino, entry, op: { kind: 'create', entry, parent, name: b(name), ino, inode, time } as TreeOp };
}

function link(tree: Tree, parent: Id, name: string, ino: Id, time: bigint) {
  const entry = tree.newId();
  return { entry, op: { kind: 'create', entry, parent, name: b(name), ino, inode: null, time } as TreeOp };
}

function move(entry: Id, parent: Id, name: string, time: bigint, seen?: Id | null): TreeOp {
  return { kind: 'move', entry, parent, name: b(name), time, ...(seen === undefined ? {} : { seen }) };
}

function content(ino: Id, version: Id, base: Id | null, extents: Extent[], time: bigint): ContentOp {
  const size = extents.reduce((n, e) => Math.max(n, e.offset + e.length), 0);
  return { kind: 'content', ino, version, base, size, extents, mtime: time, time };
}

const ext = (...hashes: Array<Buffer | null>): Extent[] =>
  hashes.map((hash, i) => ({ offset: i * 100, length: 100, hash }));

test('a new tree has a root directory, created once', (t) => {
  const f = setup(t);
  const p = f.open();
  const root = inodeOf(p.meta, ROOT_INO);
  assert.deepEqual([root.mode, root.nlink], [DIR, 2]);
  p.db.close();
  assert.deepEqual(inodeOf(f.open().meta, ROOT_INO), root);
});

test('create: a file, a directory and a symlink, with times from the op, stamps on the entries, parent nlink', (t) => {
  const { meta, tree } = setup(t).open();
  const file = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  const dir = create(tree, ROOT_INO, 'd', DIR, T0 + 2n);
  const sub = create(tree, dir.ino, 'sub', DIR, T0 + 3n);
  const sym = create(tree, dir.ino, 's', 0o120777, T0 + 4n, '../f');
  const [first] = tree.apply([file.op, dir.op, sub.op, sym.op]);

  const times = { atime: T0 + 1n, mtime: T0 + 1n, ctime: T0 + 1n, btime: T0 + 1n };
  assert.deepEqual(inodeOf(meta, file.ino), {
    ...{ ino: file.ino, mode: FILE, uid: 1000, gid: 100, nlink: 1, size: 0, ...times },
    ...{ rdev: 0, target: null, content: null, used: 0 },
  });
  assert.deepEqual(meta.lookup(ROOT_INO, b('f')), {
    ...{ id: file.entry, parent: ROOT_INO, name: b('f'), ino: file.ino },
    ...{ prevParent: null, prevName: null, pod: POD, hlc: first?.hlc },
  });
  const root = inodeOf(meta, ROOT_INO);
  assert.deepEqual([root.nlink, root.mtime, root.ctime], [3, T0 + 2n, T0 + 2n], 'a subdirectory links its parent');
  const d = inodeOf(meta, dir.ino);
  assert.deepEqual([d.nlink, d.mtime], [3, T0 + 4n]);
  assert.equal(inodeOf(meta, sub.ino).nlink, 2);
  const s = inodeOf(meta, sym.ino);
  assert.deepEqual([s.size, s.target], [4, b('../f')]);
});

test('hard links count on the inode; deleting moves each entry to the trash, remembering where it was', (t) => {
  const { meta, tree } = setup(t).open();
  const dir = create(tree, ROOT_INO, 'd', DIR, T0 + 1n);
  const file = create(tree, ROOT_INO, 'f', FILE, T0 + 2n);
  const l = link(tree, dir.ino, 'g', file.ino, T0 + 3n);
  tree.apply([dir.op, file.op, l.op]);
  let i = inodeOf(meta, file.ino);
  assert.deepEqual([i.nlink, i.ctime, i.mtime], [2, T0 + 3n, T0 + 2n]);
  const d = inodeOf(meta, dir.ino);
  assert.deepEqual([d.nlink, d.mtime], [2, T0 + 3n], 'a link to a file does not change the dir nlink');

  const [del] = tree.apply([move(file.entry, TRASH_INO, 'f', T0 + 4n, null)]);
  assert.equal(meta.lookup(ROOT_INO, b('f')), undefined);
  assert.deepEqual(meta.getEntry(file.entry), {
    ...{ id: file.entry, parent: TRASH_INO, name: b('f'), ino: file.ino },
    ...{ prevParent: ROOT_INO, prevName: b('f'), pod: POD, hlc: del?.hlc },
  });
  i = inodeOf(meta, file.ino);
  assert.deepEqual([i.nlink, i.ctime], [1, T0 + 4n]);
  assert.equal(inodeOf(meta, ROOT_INO).mtime, T0 + 4n);
  assert.deepEqual(meta.orphans(), []);

  tree.apply([move(l.entry, TRASH_INO, 'g', T0 + 5n, null)]);
  assert.equal(inodeOf(meta, file.ino).nlink, 0);
  const trashed = meta.entriesOf(file.ino).map((e) => [e.id, e.parent, e.prevParent]);
  assert.deepEqual(trashed, [
    [file.entry, TRASH_INO, ROOT_INO],
    [l.entry, TRASH_INO, dir.ino],
  ]);
  assert.deepEqual(meta.orphans(), [file.ino], 'the inode stays until it is collected');
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

test('a move of a directory below itself is skipped', (t) => {
  const { meta, tree } = setup(t).open();
  const a = create(tree, ROOT_INO, 'a', DIR, T0 + 1n);
  const x = create(tree, a.ino, 'x', DIR, T0 + 2n);
  tree.apply([a.op, x.op]);
  tree.apply([move(a.entry, x.ino, 'a', T0 + 3n), move(a.entry, a.ino, 'self', T0 + 3n)]);
  assert.equal(meta.lookup(ROOT_INO, b('a'))?.ino, a.ino);
  assert.deepEqual([inodeOf(meta, a.ino).nlink, inodeOf(meta, x.ino).nlink], [3, 2]);
  assert.equal(tree.logSize(), 4, 'a skipped op is still logged: other pods skip it too');
});

test('rmdir zeroes the links of the directory and takes one from its parent; a non-empty one stays', (t) => {
  const { meta, tree } = setup(t).open();
  const d = create(tree, ROOT_INO, 'd', DIR, T0 + 1n);
  const e = create(tree, ROOT_INO, 'e', DIR, T0 + 2n);
  const f = create(tree, e.ino, 'f', FILE, T0 + 3n);
  tree.apply([d.op, e.op, f.op]);
  assert.equal(inodeOf(meta, ROOT_INO).nlink, 4);
  tree.apply([move(d.entry, TRASH_INO, 'd', T0 + 5n), move(e.entry, TRASH_INO, 'e', T0 + 6n)]);
  assert.equal(meta.lookup(ROOT_INO, b('d')), undefined);
  assert.deepEqual([inodeOf(meta, d.ino).nlink, inodeOf(meta, d.ino).ctime], [0, T0 + 5n]);
  assert.equal(meta.lookup(ROOT_INO, b('e'))?.ino, e.ino, 'a directory with children is not removed');
  const root = inodeOf(meta, ROOT_INO);
  assert.deepEqual([root.nlink, root.mtime, root.ctime], [3, T0 + 5n, T0 + 5n]);
});

test('a delete that saw another version than the current one does not happen', (t) => {
  const { meta, tree } = setup(t).open();
  const f = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  const v1 = tree.newId();
  tree.apply([f.op, content(f.ino, v1, null, ext(h(1)), T0 + 2n)]);
  tree.apply([move(f.entry, TRASH_INO, 'f', T0 + 3n, null)]);
  assert.equal(meta.lookup(ROOT_INO, b('f'))?.ino, f.ino, 'the delete saw no content: the file has some');
  tree.apply([move(f.entry, TRASH_INO, 'f', T0 + 4n, v1)]);
  assert.equal(meta.lookup(ROOT_INO, b('f')), undefined);
});

test('directory times move forward only: an op with an older time leaves them', (t) => {
  const { meta, tree } = setup(t).open();
  const d = create(tree, ROOT_INO, 'd', DIR, T0 + 10n);
  const f = create(tree, d.ino, 'f', FILE, T0 + 20n);
  const g = create(tree, d.ino, 'g', FILE, T0 + 5n);
  tree.apply([d.op, f.op, g.op, move(f.entry, TRASH_INO, 'f', T0 + 7n, null)]);
  const dir = inodeOf(meta, d.ino);
  assert.deepEqual([dir.mtime, dir.ctime], [T0 + 20n, T0 + 20n]);
  assert.equal(inodeOf(meta, f.ino).ctime, T0 + 20n, 'nor the ctime of the deleted file');
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

test('content: a version based on the current one replaces it; the previous one waits for collection', (t) => {
  const { meta, tree } = setup(t).open();
  const freed: Buffer[][] = [];
  tree.onFreed = (hs) => freed.push(hs);
  const f = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  tree.apply([f.op]);
  const v1 = tree.newId();
  const [s1] = tree.apply([content(f.ino, v1, null, ext(h(1), h(2), h(3)), T0 + 5n)]);
  let i = inodeOf(meta, f.ino);
  assert.deepEqual([i.content, i.size, i.used, i.mtime, i.ctime], [v1, 300, 300, T0 + 5n, T0 + 5n]);
  assert.deepEqual(meta.getVersion(v1), {
    id: v1,
    ino: f.ino,
    base: null,
    size: 300,
    created: T0 + 5n,
    pod: POD,
    hlc: s1?.hlc,
  });

  const v2 = tree.newId();
  tree.apply([{ ...content(f.ino, v2, v1, ext(h(1), null, h(4)), T0 + 8n), mtime: T0 + 7n }]);
  i = inodeOf(meta, f.ino);
  assert.deepEqual([i.content, i.size, i.used, i.mtime, i.ctime], [v2, 300, 200, T0 + 7n, T0 + 8n]);
  assert.deepEqual(meta.extents(v2), ext(h(1), null, h(4)));
  assert.deepEqual(meta.versionsOf(f.ino), [v1, v2]);
  assert.deepEqual(freed, []);
  assert.deepEqual(
    meta.list(ROOT_INO, 0n, 10).map((e) => e.name.toString()),
    ['f'],
    'a version based on the current one is no conflict: no copy',
  );
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

test('the conflict policy is replicated network state: copy unless set to newest', (t) => {
  const { tree } = setup(t).open();
  const net = (value: Buffer | null): TreeOp => ({ kind: 'net', key: 'config:conflict', value, time: T0 });
  assert.equal(tree.policy, 'copy');
  tree.apply([net(b('newest'))]);
  assert.equal(tree.policy, 'newest');
  tree.apply([net(b('something else'))]);
  assert.equal(tree.policy, 'copy');
  tree.apply([net(b('newest')), net(null)]);
  assert.equal(tree.policy, 'copy');
});

test('the log: one row per op, stamped (hlc, pod, seq); version vector and opsAfter follow it', (t) => {
  const { tree } = setup(t).open();
  const sent: WireOp[] = [];
  tree.onLocal = (ops) => sent.push(...ops);
  const f = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  const ops: TreeOp[] = [
    f.op,
    { kind: 'setattr', ino: f.ino, attrs: { mode: 0o100600 }, time: T0 + 2n },
    { kind: 'xattr', ino: f.ino, name: b('user.k'), value: b('v'), time: T0 + 3n },
    move(f.entry, ROOT_INO, 'g', T0 + 4n),
  ];
  const stamps: Stamp[] = [...tree.apply(ops.slice(0, 2)), ...tree.apply(ops.slice(2))];
  assert.equal(tree.logSize(), 4);
  const hlcs = stamps.map((s) => s.hlc);
  const expected = hlcs.map((hlc, i) => ({ hlc, pod: POD, seq: BigInt(i + 1) }));
  assert.deepEqual(stamps, expected);
  const increasing = hlcs.every((x, i) => i === 0 || x > (hlcs[i - 1] as bigint));
  assert.ok(increasing, 'stamps increase');
  assert.deepEqual([hlcs[0], tree.clock.current], [hlcAt(0), hlcs[3]], 'the clock given to the tree stamps its ops');
  assert.deepEqual(tree.versionVector(), new Map([[POD, 4n]]));

  const all = plain(tree.opsAfter(new Map()));
  assert.deepEqual(all, plain(sent), 'what onLocal sent is what the log holds');
  const logged = all.map(({ body, ...stamp }) => ({ ...stamp, op: decodeOp(Buffer.from(body, 'hex')) }));
  assert.deepEqual(
    logged,
    expected.map((x, i) => ({ ...x, op: ops[i] })),
  );
  assert.deepEqual(plain(tree.opsAfter(new Map([[POD, 2n]]))), all.slice(2));
  assert.deepEqual(tree.opsAfter(new Map([[POD, 4n]])), []);
  assert.equal(tree.receive(sent), 0, 'its own ops coming back are ignored');
  assert.equal(tree.logSize(), 4);
});

test('floor(): the first op some peer lacks, else now', (t) => {
  const fx = setup(t);
  const { tree } = fx.open();
  const f = create(tree, ROOT_INO, 'f', FILE, T0);
  fx.wall.ms = WALL + 1;
  const [s1] = tree.apply([f.op]);
  fx.wall.ms = WALL + 2;
  const [s2] = tree.apply([{ kind: 'setattr', ino: f.ino, attrs: { uid: 1 }, time: T0 }]);
  fx.wall.ms = WALL + 10;
  assert.equal(tree.floor([new Map([[POD, 2n]]), new Map()]), s1?.hlc, 'a peer has nothing');
  assert.equal(tree.floor([new Map([[POD, 2n]]), new Map([[POD, 1n]])]), s2?.hlc);
  const now = tree.floor([new Map([[POD, 2n]])]);
  assert.ok(now >= hlcAt(10), 'every op delivered: no op will come below now');
  assert.ok(tree.floor([]) > now);
});

test('compact() forgets ops older than stable and collects what they deleted; onFreed names unused chunks', (t) => {
  const fx = setup(t);
  const { meta, tree } = fx.open();
  const freed: Buffer[][] = [];
  tree.onFreed = (hs) => freed.push(byHash(hs));
  const at = (ms: number) => {
    fx.wall.ms = WALL + ms;
    return T0 + BigInt(ms) * 1_000_000n;
  };
  const f = create(tree, ROOT_INO, 'f', FILE, at(1));
  const g = create(tree, ROOT_INO, 'g', FILE, at(1));
  const d = create(tree, ROOT_INO, 'd', DIR, at(1));
  const late = create(tree, ROOT_INO, 'late', FILE, at(1));
  const [v1, v2, vg, w1, w2] = [tree.newId(), tree.newId(), tree.newId(), tree.newId(), tree.newId()];
  tree.apply([f.op, g.op, d.op, late.op, content(f.ino, v1, null, ext(h(1), h(2)), at(1))]);
  tree.apply([content(g.ino, vg, null, ext(h(2)), at(2))]);
  tree.apply([content(f.ino, v2, v1, ext(h(1), h(3)), at(3))]);
  tree.apply([{ kind: 'xattr', ino: f.ino, name: b('user.k'), value: b('v'), time: at(3) }]);
  tree.apply([move(f.entry, TRASH_INO, 'f', at(4), v2), move(d.entry, TRASH_INO, 'd', at(4))]);
  tree.apply([content(late.ino, w1, null, ext(h(5)), at(6))]);
  tree.apply([content(late.ino, w2, w1, ext(h(6)), at(10)), move(late.entry, TRASH_INO, 'late', at(10), w2)]);
  assert.equal(tree.logSize(), 13);

  assert.equal(tree.compact(hlcAt(5), hlcAt(5)), 10, 'the ops before the stable point leave the log');
  assert.equal(tree.logSize(), 3);
  const gone = [f, d].flatMap((x) => [meta.getInode(x.ino), ...meta.entriesOf(x.ino), ...meta.listXattrs(x.ino)]);
  assert.deepEqual(gone, [undefined, undefined], 'deleted before the stable point: collected');
  assert.deepEqual([meta.getVersion(v1), meta.getVersion(v2), meta.extents(v2)], [undefined, undefined, []]);
  assert.deepEqual(freed, [[h(1), h(3)]], 'h(2) is still used by g');
  assert.ok(meta.getVersion(vg));
  assert.equal(meta.getEntry(late.entry)?.parent, TRASH_INO, 'deleted after the stable point: kept');
  assert.ok(meta.getVersion(w1) && meta.getVersion(w2));
  assert.equal(inodeOf(meta, ROOT_INO).nlink, 2);

  const inUse = (ino: Id) => ino === late.ino;
  assert.equal(tree.compact(hlcAt(20), hlcAt(20), inUse), 3);
  assert.deepEqual(meta.entriesOf(late.ino), [], 'the entry goes');
  assert.ok(meta.getInode(late.ino), 'an inode in use stays, with the version it shows');
  assert.ok(meta.getVersion(w2));
  assert.deepEqual(freed, [[h(1), h(3)], [h(5)]], 'w1, superseded, goes');
  assert.equal(tree.compact(hlcAt(20), hlcAt(20)), 0);
  assert.equal(meta.getInode(late.ino), undefined);
  assert.deepEqual(freed, [[h(1), h(3)], [h(5)], [h(6)]]);
  assert.ok(meta.getVersion(vg), 'a version a file shows is never collected');
});

test('compact() collects a version superseded before the stable point, not one still shown', (t) => {
  const fx = setup(t);
  const { meta, tree } = fx.open();
  const freed: Buffer[] = [];
  tree.onFreed = (hs) => freed.push(...hs);
  const f = create(tree, ROOT_INO, 'f', FILE, T0);
  const [v1, v2, v3] = [tree.newId(), tree.newId(), tree.newId()];
  tree.apply([f.op, content(f.ino, v1, null, ext(h(1)), T0 + 1_000_000n)]);
  fx.wall.ms = WALL + 2;
  tree.apply([content(f.ino, v2, v1, ext(h(2)), T0 + 2_000_000n)]);
  tree.compact(hlcAt(5), hlcAt(5));
  assert.deepEqual(meta.versionsOf(f.ino), [v2]);
  assert.deepEqual(freed, [h(1)]);
  fx.wall.ms = WALL + 10;
  tree.apply([content(f.ino, v3, v2, ext(h(3)), T0 + 10_000_000n)]);
  tree.compact(hlcAt(20), hlcAt(20));
  assert.deepEqual(meta.versionsOf(f.ino), [v3]);
  assert.deepEqual(freed, [h(1), h(2)]);
});

test('collectInode: a deleted inode goes at once once its deletion is stable and nothing uses it', (t) => {
  const fx = setup(t);
  const { meta, tree } = fx.open();
  const freed: Buffer[] = [];
  tree.onFreed = (hs) => freed.push(...hs);
  const f = create(tree, ROOT_INO, 'f', FILE, T0);
  const l = link(tree, ROOT_INO, 'l', f.ino, T0);
  const v = tree.newId();
  tree.apply([f.op, l.op, content(f.ino, v, null, ext(h(7)), T0)]);
  tree.apply([move(f.entry, TRASH_INO, 'f', T0, v)]);
  const never = () => false;
  tree.collectInode(f.ino, hlcAt(100), never);
  assert.ok(meta.getInode(f.ino), 'a live link remains');
  fx.wall.ms = WALL + 10;
  tree.apply([move(l.entry, TRASH_INO, 'l', T0, v)]);
  tree.collectInode(f.ino, hlcAt(5), never);
  assert.ok(meta.getInode(f.ino), 'deleted after the stable point');
  tree.collectInode(f.ino, hlcAt(100), () => true);
  assert.ok(meta.getInode(f.ino), 'in use');
  tree.collectInode(ROOT_INO, hlcAt(100), never);
  assert.ok(meta.getInode(ROOT_INO));
  tree.collectInode(f.ino, hlcAt(100), never);
  assert.equal(meta.getInode(f.ino), undefined);
  assert.deepEqual([meta.entriesOf(f.ino), meta.versionsOf(f.ino)], [[], []]);
  assert.deepEqual(freed, [h(7)]);
  assert.equal(tree.logSize(), 5, 'collecting forgets no op');
});

test('collectVersion: a version its file no longer shows, once the version replacing it is older than the bound', (t) => {
  const fx = setup(t);
  const { meta, tree } = fx.open();
  const freed: Buffer[] = [];
  tree.onFreed = (hs) => freed.push(...hs);
  const f = create(tree, ROOT_INO, 'f', FILE, T0);
  const [v1, v2] = [tree.newId(), tree.newId()];
  fx.wall.ms = WALL + 1;
  tree.apply([f.op, content(f.ino, v1, null, ext(h(1), h(2)), T0 + 1_000_000n)]);
  fx.wall.ms = WALL + 3;
  const [s2] = tree.apply([content(f.ino, v2, v1, ext(h(1)), T0 + 3_000_000n)]);
  assert.equal(s2?.hlc, hlcAt(3));
  tree.collectVersion(null, hlcAt(100));
  tree.collectVersion(v2, hlcAt(100));
  assert.ok(meta.getVersion(v2), 'shown');
  tree.collectVersion(v1, hlcAt(3));
  assert.ok(meta.getVersion(v1), 'replaced at the bound: an op concurrent with v2 may still come');
  tree.collectVersion(v1, hlcAt(4));
  assert.equal(meta.getVersion(v1), undefined);
  assert.deepEqual(freed, [h(2)], 'h(1) is still used by v2');
});

test('apply() is atomic: if one op fails, none takes effect or is logged, and the sequence has no gap', (t) => {
  const { meta, tree } = setup(t).open();
  const f = create(tree, ROOT_INO, 'f', FILE, T0 + 1n);
  const root = inodeOf(meta, ROOT_INO);
  const bad: TreeOp = { kind: 'setattr', ino: f.ino, attrs: { uid: 'x' as unknown as number }, time: T0 + 2n };
  assert.throws(() => tree.apply([f.op, bad]), { code: 'SQLITE_CONSTRAINT_DATATYPE' });
  assert.equal(meta.getInode(f.ino), undefined);
  assert.equal(meta.lookup(ROOT_INO, b('f')), undefined);
  assert.deepEqual(inodeOf(meta, ROOT_INO), root);
  assert.equal(tree.logSize(), 0);
  assert.deepEqual(tree.versionVector(), new Map());
  const [s] = tree.apply([f.op]);
  assert.equal(tree.logSize(), 1);
  assert.equal(s?.seq, 1n, 'the failed ops used no sequence number: peers would wait for them forever');
  assert.deepEqual(tree.versionVector(), new Map([[POD, 1n]]));
});

for (const commitMs of [0, 60_000]) {
  test(`ops survive a close and reopen of the database (commit interval ${commitMs} ms)`, (t) => {
    const fx = setup(t);
    let p = fx.open({ commitMs });
    const d = create(p.tree, ROOT_INO, 'd', DIR, T0 + 1n);
    const f = create(p.tree, d.ino, 'f', FILE, T0 + 2n);
    const version = p.tree.newId();
    p.tree.apply([d.op, f.op]);
    const last = p.tree
      .apply([
        { kind: 'xattr', ino: f.ino, name: b('user.k'), value: b('v'), time: T0 + 3n },
        content(f.ino, version, null, [{ offset: 0, length: 10, hash: h(1) }], T0 + 4n),
        { kind: 'net', key: 'config:conflict', value: b('newest'), time: T0 + 4n },
      ])
      .at(-1);
    const before = { d: inodeOf(p.meta, d.ino), f: inodeOf(p.meta, f.ino), root: inodeOf(p.meta, ROOT_INO) };
    const log = plain(p.tree.opsAfter(new Map()));
    p.tree.commitNow();
    p.db.close();

    fx.wall.ms = WALL - 60_000;
    p = fx.open({ commitMs });
    assert.deepEqual({ d: inodeOf(p.meta, d.ino), f: inodeOf(p.meta, f.ino), root: inodeOf(p.meta, ROOT_INO) }, before);
    assert.equal(p.meta.lookup(d.ino, b('f'))?.ino, f.ino);
    assert.deepEqual(p.meta.getXattr(f.ino, b('user.k')), b('v'));
    assert.deepEqual(p.meta.extents(version), [{ offset: 0, length: 10, hash: h(1) }]);
    assert.equal(p.tree.policy, 'newest');
    assert.deepEqual(plain(p.tree.opsAfter(new Map())), log);
    assert.deepEqual(p.tree.versionVector(), new Map([[POD, 5n]]));
    const next = p.tree.newId();
    assert.ok(next > version, 'ids used before the reopen are not handed out again');
    const [s] = p.tree.apply([{ kind: 'setattr', ino: f.ino, attrs: { uid: 1 }, time: T0 }]);
    assert.equal(s?.seq, 6n);
    assert.ok(s && last && s.hlc > last.hlc, 'stamps keep increasing though the wall clock went back');
  });
}

test('with a group committer, applied ops are visible at once and durable after commitNow()', (t) => {
  const p = setup(t).open({ commitMs: 60_000 });
  const f = create(p.tree, ROOT_INO, 'f', FILE, T0 + 1n);
  p.tree.apply([f.op]);
  assert.deepEqual([p.meta.lookup(ROOT_INO, b('f'))?.ino, p.db.inTransaction], [f.ino, true]);
  p.tree.commitNow();
  assert.deepEqual([p.db.inTransaction, p.committer?.commits], [false, 1]);
});
