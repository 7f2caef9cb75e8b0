/**
 * A harness for tests of the replicated tree: several pods in one process,
 * each with its own database, id prefix and clock, changed the way the file
 * system changes them (only operations valid in the pod's current view) and
 * exchanging operations in any order. Also: a canonical dump of a pod's tree
 * and a check of the tree's invariants.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Hlc, type Timestamp } from '../core/hlc.js';
import { type Id, ROOT_INO, TRASH_INO } from '../core/ids.js';
import { type AfterHook, type Prng, tempDir } from '../core/testing.js';
import { type Db, openDatabase } from '../store/db.js';
import { IdAllocator } from '../store/ids.js';
import { type DirEntry, type Extent, type Inode, MetaStore } from '../store/meta.js';
import { type ConflictPolicy, isDir, isWithin } from './names.js';
import type { TreeOp, WireOp } from './ops.js';
import { collectBound, type Report } from './sync.js';
import { Tree } from './tree.js';

/** 2023-11-14 22:13:20 UTC: conflict names carry dates from here on. */
export const WALL = 1_700_000_000_000;
const FILE = 0o100644;
const DIR = 0o040755;

export interface TestPod {
  n: number;
  db: Db;
  meta: MetaStore;
  tree: Tree;
  /** This pod's wall clock (ms): its stamps and its file times follow it. */
  wall: { ms: number };
}

/** Pods 1..count, each with its own database in a temp dir; `newest`: the network's policy, known to all. */
export function makePods(t: AfterHook, count: number, policy: ConflictPolicy = 'copy'): TestPod[] {
  const dir = tempDir(t, 'wormhole-pods-');
  const pods: TestPod[] = [];
  for (let n = 1; n <= count; n++) {
    const db = openDatabase(path.join(dir, `pod${n}.db`));
    t.after(() => {
      db.close();
    });
    const meta = new MetaStore(db);
    const wall = { ms: WALL };
    const tree = new Tree({ meta, ids: new IdAllocator(db, n), pod: n, clock: new Hlc(() => wall.ms) });
    pods.push({ n, db, meta, tree, wall });
  }
  if (policy === 'newest') {
    const first = pods[0] as TestPod;
    first.tree.apply([{ kind: 'net', key: 'config:conflict', value: Buffer.from('newest'), time: now(first) }]);
    syncAll(pods);
  }
  return pods;
}

export function now(p: TestPod): bigint {
  return BigInt(p.wall.ms) * 1_000_000n;
}

/** Everything `from` has that `to` lacks (by version vector), as a sync would send it. */
export function deliver(from: TestPod, to: TestPod): number {
  return to.tree.receive(from.tree.opsAfter(to.tree.versionVector()));
}

/** Every pod gets every operation. */
export function syncAll(pods: TestPod[]): void {
  for (const to of pods) for (const from of pods) if (from !== to) deliver(from, to);
}

/** Below this, every pod has every operation, and none will come older (as TreeSync computes it). */
export function stablePoint(pods: TestPod[]): Timestamp {
  let stable: Timestamp | undefined;
  for (const p of pods) {
    const f = p.tree.floor(pods.filter((q) => q !== p).map((q) => q.tree.versionVector()));
    if (stable === undefined || f < stable) stable = f;
  }
  return stable ?? 0n;
}

const histories = new WeakMap<TestPod, Report[]>();

/** Every pod reports as TreeSync.announce() does: the stable point (it has every op below) and its last seq. */
export function report(pods: TestPod[]): void {
  const stable = stablePoint(pods);
  for (const p of pods) {
    const h = histories.get(p) ?? [];
    h.push({ stable, seq: p.tree.versionVector().get(p.tree.pod) ?? 0n });
    histories.set(p, h);
  }
}

/** Below this, deletions can be collected (as TreeSync.collectBound() computes it, from the reports so far). */
export function collectPoint(pods: TestPod[]): Timestamp {
  const vvs = new Map(pods.map((p) => [p.tree.pod, p.tree.versionVector()]));
  const reports = new Map(pods.map((p) => [p.tree.pod, histories.get(p) ?? []]));
  return collectBound(
    pods.map((p) => p.tree.pod),
    vvs,
    reports,
  );
}

/** A round of reports, then every pod forgets and collects what it may. */
export function compactAll(pods: TestPod[]): void {
  report(pods);
  const stable = stablePoint(pods);
  const collect = collectPoint(pods);
  for (const p of pods) p.tree.compact(stable, collect);
}

// ---- the file system's view and actions, by path ------------------------------

export function resolve(p: TestPod, at: string): DirEntry | undefined {
  let e: DirEntry | undefined;
  let dir = ROOT_INO;
  for (const part of at.split('/').filter(Boolean)) {
    e = p.meta.lookup(dir, Buffer.from(part));
    if (!e) return undefined;
    dir = e.ino;
  }
  return e;
}

function must(p: TestPod, at: string): { e: DirEntry; inode: Inode } {
  const e = resolve(p, at);
  const inode = e && p.meta.getInode(e.ino);
  assert.ok(e && inode, `pod ${p.n} has no ${at}`);
  return { e, inode };
}

function dirOf(p: TestPod, at: string): { parent: Id; name: Buffer } {
  const cut = at.lastIndexOf('/');
  const parent = cut <= 0 ? ROOT_INO : must(p, at.slice(0, cut)).e.ino;
  return { parent, name: Buffer.from(at.slice(cut + 1)) };
}

function createAt(p: TestPod, parent: Id, name: Buffer, mode: number): Id {
  assert.equal(p.meta.lookup(parent, name), undefined, `${name} exists on pod ${p.n}`);
  const ino = p.tree.newId();
  const inode = { mode, uid: 1000, gid: 100, rdev: 0, target: null };
  p.tree.apply([{ kind: 'create', entry: p.tree.newId(), parent, name, ino, inode, time: now(p) }]);
  return ino;
}

export function mkdir(p: TestPod, at: string): Id {
  const { parent, name } = dirOf(p, at);
  return createAt(p, parent, name, DIR);
}

export function touch(p: TestPod, at: string): Id {
  const { parent, name } = dirOf(p, at);
  return createAt(p, parent, name, FILE);
}

/** Ends a write: a new version of the whole file, based on `base` (default: the current one). */
export function write(p: TestPod, at: string, hashes: Buffer[], base?: Id | null): Id {
  const { inode } = must(p, at);
  return writeIno(p, inode, hashes, base === undefined ? inode.content : base);
}

function writeIno(p: TestPod, inode: Inode, hashes: Buffer[], base: Id | null): Id {
  const version = p.tree.newId();
  const extents: Extent[] = hashes.map((hash, i) => ({ offset: i * 100, length: 100, hash }));
  const t = now(p);
  p.tree.apply([
    { kind: 'content', ino: inode.ino, version, base, size: hashes.length * 100, extents, mtime: t, time: t },
  ]);
  return version;
}

export function rm(p: TestPod, at: string): void {
  const { e, inode } = must(p, at);
  assert.ok(!isDir(inode.mode));
  p.tree.apply([{ kind: 'move', entry: e.id, parent: TRASH_INO, name: e.name, time: now(p), seen: inode.content }]);
}

export function rmdir(p: TestPod, at: string): void {
  const { e, inode } = must(p, at);
  assert.ok(isDir(inode.mode) && !p.meta.hasChildren(e.ino), `${at} is no empty dir on pod ${p.n}`);
  p.tree.apply([{ kind: 'move', entry: e.id, parent: TRASH_INO, name: e.name, time: now(p) }]);
}

export function mv(p: TestPod, from: string, to: string): void {
  const { e } = must(p, from);
  const { parent, name } = dirOf(p, to);
  assert.ok(rename(p, e, parent, name), `mv ${from} ${to} is refused on pod ${p.n}`);
}

/** rename(2) as the file system checks and issues it; false where it would fail. */
function rename(p: TestPod, src: DirEntry, parent: Id, name: Buffer): boolean {
  const { meta } = p;
  const srcDir = isDir(meta.getInode(src.ino)?.mode ?? 0);
  if (srcDir && isWithin(meta, parent, src.ino)) return false;
  const dst = meta.lookup(parent, name);
  const ops: TreeOp[] = [];
  const time = now(p);
  if (dst) {
    const replaced = meta.getInode(dst.ino) as Inode;
    if (dst.id === src.id || dst.ino === src.ino || isDir(replaced.mode) !== srcDir) return false;
    if (srcDir && meta.hasChildren(dst.ino)) return false;
    const seen = srcDir ? {} : { seen: replaced.content };
    ops.push({ kind: 'move', entry: dst.id, parent: TRASH_INO, name: dst.name, time, ...seen });
  }
  ops.push({ kind: 'move', entry: src.id, parent, name, time });
  p.tree.apply(ops);
  return true;
}

// ---- what a pod shows -----------------------------------------------------------

interface Live {
  path: string;
  e: DirEntry;
  inode: Inode;
}

/** The live tree, walked from the root (depth-first, by name). */
export function live(meta: MetaStore): Live[] {
  const out: Live[] = [];
  const walk = (dir: Id, prefix: string, depth: number) => {
    assert.ok(depth < 100, `the tree is deeper than 100 at ${prefix}: a cycle?`);
    const names = meta.list(dir, 0n, 1_000_000).sort((a, b) => Buffer.compare(a.name, b.name));
    for (const l of names) {
      const e = meta.getEntry(l.id) as DirEntry;
      const inode = meta.getInode(l.ino);
      const at = `${prefix}/${l.name.toString()}`;
      assert.ok(inode, `${at} names inode ${l.ino}, which does not exist`);
      out.push({ path: at, e, inode });
      if (isDir(inode.mode)) walk(l.ino, at, depth + 1);
    }
  };
  walk(ROOT_INO, '', 0);
  return out;
}

/** What a user of the pod sees, one line per live entry; local-only state left out. */
export function dump(p: TestPod): string[] {
  const { meta } = p;
  const line = (at: string, i: Inode) => {
    const x = meta.listXattrs(i.ino).map((k) => `${k}=${meta.getXattr(i.ino, k)?.toString('hex')}`);
    const times = `m${i.mtime} c${i.ctime} a${i.atime}`;
    const attrs = `${i.mode.toString(8)} ${i.uid}:${i.gid} n${i.nlink} ${times}`;
    return `${at} ino=${i.ino} v=${i.content} size=${i.size} ${attrs} [${x.join(',')}]`;
  };
  const root = meta.getInode(ROOT_INO) as Inode;
  return [line('/', root), ...live(meta).map((l) => line(l.path, l.inode))];
}

/**
 * The tree's invariants: no directory below itself, every entry outside the
 * trash reachable from the root, names unique in a directory, link counts
 * as the entries say.
 */
export function checkInvariants(p: TestPod): void {
  const { db, meta } = p;
  const rows = db.prepare('SELECT id, parent, name, ino FROM entries').safeIntegers(true).all() as DirEntry[];
  const parentOf = new Map(rows.map((e) => [e.ino, e.parent]));
  for (const e of rows) {
    const seen = new Set<Id>();
    for (
      let dir = e.parent;
      dir !== ROOT_INO && dir !== TRASH_INO && dir !== undefined;
      dir = parentOf.get(dir) as Id
    ) {
      assert.ok(!seen.has(dir), `pod ${p.n}: directory ${dir} is its own ancestor`);
      seen.add(dir);
    }
  }
  const reachable = new Set(live(meta).map((l) => l.e.id));
  for (const e of rows) {
    if (e.parent === TRASH_INO) continue;
    assert.ok(reachable.has(e.id), `pod ${p.n}: ${e.name} in ${e.parent} is not reachable from the root`);
  }
  for (const l of live(meta)) {
    if (isDir(l.inode.mode))
      assert.equal(meta.entriesOf(l.inode.ino).length, 1, `${l.path}: a directory has one entry`);
  }
  const dup = db.prepare(
    'SELECT parent, name FROM entries WHERE parent != 2 GROUP BY parent, name HAVING count(*) > 1',
  );
  assert.deepEqual(dup.all(), [], `pod ${p.n}: a name appears twice in one directory`);
  const inodes = db.prepare('SELECT ino FROM inodes').safeIntegers(true).all() as Array<{ ino: Id }>;
  for (const { ino } of inodes) {
    const i = meta.getInode(ino) as Inode;
    const links = rows.filter((e) => e.ino === ino && e.parent !== TRASH_INO).length;
    const subdirs = rows.filter((e) => e.parent === ino && isDir(meta.getInode(e.ino)?.mode ?? 0)).length;
    const want = ino === ROOT_INO ? 2 + subdirs : isDir(i.mode) ? (links > 0 ? 2 + subdirs : 0) : links;
    assert.equal(i.nlink, want, `pod ${p.n}: nlink of inode ${ino}`);
  }
}

// ---- random activity ------------------------------------------------------------

const NAMES = ['a', 'b', 'c.txt', 'd.txt'];
const pick = <T>(rng: Prng, xs: readonly T[]): T => xs[rng.int(0, xs.length)] as T;
/** A few distinct chunks only, so that equal contents happen. */
const chunk = (rng: Prng) => Buffer.alloc(32, rng.int(1, 5));

/** One change a user of pod `p` could make now; false if the one drawn is not valid in its view. */
export function randomAction(p: TestPod, rng: Prng): boolean {
  const { meta } = p;
  const all = live(meta);
  const dirs = [ROOT_INO, ...all.filter((l) => isDir(l.inode.mode)).map((l) => l.inode.ino)];
  const files = all.filter((l) => !isDir(l.inode.mode));
  const any = all.length > 0 ? pick(rng, all) : undefined;
  const file = files.length > 0 ? pick(rng, files) : undefined;
  const dir = pick(rng, dirs);
  const name = Buffer.from(pick(rng, NAMES));
  const time = now(p);
  const r = rng.int(0, 100);
  if (r < 18 || !any) {
    if (meta.lookup(dir, name)) return false;
    createAt(p, dir, name, rng.int(0, 3) === 0 ? DIR : FILE);
  } else if (r < 40) {
    if (!file) return false;
    const hashes = Array.from({ length: rng.int(1, 3) }, () => chunk(rng));
    // Mostly based on what the file shows; sometimes on what it showed when a handle opened.
    const stale = rng.int(0, 5) === 0 ? [null, ...meta.versionsOf(file.inode.ino)] : [file.inode.content];
    writeIno(p, file.inode, hashes, pick(rng, stale));
  } else if (r < 58) {
    return rename(p, any.e, dir, name);
  } else if (r < 62) {
    if (!file || meta.lookup(dir, name)) return false;
    p.tree.apply([
      { kind: 'create', entry: p.tree.newId(), parent: dir, name, ino: file.inode.ino, inode: null, time },
    ]);
  } else if (r < 74) {
    if (isDir(any.inode.mode) && meta.hasChildren(any.inode.ino)) return false;
    const seen = isDir(any.inode.mode) ? {} : { seen: any.inode.content };
    p.tree.apply([{ kind: 'move', entry: any.e.id, parent: TRASH_INO, name: any.e.name, time, ...seen }]);
  } else if (r < 82) {
    const mode = (any.inode.mode & ~0o777) | pick(rng, [0o600, 0o644, 0o755]);
    const attrs = rng.int(0, 2) === 0 ? { mode } : { uid: rng.int(0, 3), atime: time };
    p.tree.apply([{ kind: 'setattr', ino: any.inode.ino, attrs, time }]);
  } else if (r < 84) {
    const value = Buffer.from(pick(rng, ['newest', 'copy']));
    p.tree.apply([{ kind: 'net', key: 'config:conflict', value, time }]);
  } else {
    const value = rng.int(0, 4) === 0 ? null : Buffer.from([rng.int(0, 256)]);
    p.tree.apply([{ kind: 'xattr', ino: any.inode.ino, name: Buffer.from(`user.${pick(rng, NAMES)}`), value, time }]);
  }
  return true;
}

/** Shuffles in place (Fisher-Yates). */
export function shuffle<T>(rng: Prng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

/** Some of `ops` (a prefix in stamp order, or any subset), shuffled, some twice. */
export function someOf(rng: Prng, ops: WireOp[]): WireOp[] {
  const part = rng.int(0, 2) === 0 ? ops.slice(0, rng.int(0, ops.length + 1)) : ops.filter(() => rng.int(0, 2) === 0);
  const dups = part.filter(() => rng.int(0, 5) === 0);
  return shuffle(rng, [...part, ...dups]);
}

/** Pod `to` receives some of what pod `from` has, in one to three batches. */
export function randomExchange(rng: Prng, from: TestPod, to: TestPod): void {
  const ops = someOf(rng, from.tree.opsAfter(new Map()));
  const cut = rng.int(0, ops.length + 1);
  for (const batch of [ops.slice(0, cut), ops.slice(cut)]) to.tree.receive(batch);
}
