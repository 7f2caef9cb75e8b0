import assert from 'node:assert/strict';
import * as path from 'node:path';
import { type TestContext, test } from 'node:test';
import { tempDir } from '../core/testing.js';
import { openDatabase } from './db.js';
import { type Inode, MetaStore } from './meta.js';

function setup(t: TestContext, beforeStatement?: () => void): MetaStore {
  const db = openDatabase(path.join(tempDir(t, 'wormhole-meta-'), 'meta.db'));
  t.after(() => db.close());
  return new MetaStore(db, beforeStatement);
}

function inode(ino: bigint, over: Partial<Inode> = {}): Inode {
  return {
    ino,
    mode: 0o100644,
    uid: 1000,
    gid: 100,
    nlink: 1,
    size: 0,
    atime: 1_700_000_000_000_000_001n,
    mtime: 1_700_000_000_000_000_002n,
    ctime: 1_700_000_000_000_000_003n,
    btime: 1_700_000_000_000_000_004n,
    rdev: 0,
    target: null,
    content: null,
    used: 0,
    ...over,
  };
}

const h = (n: number) => Buffer.alloc(32, n);

test('an inode round-trips with nanosecond times and 64-bit ids', (t) => {
  const meta = setup(t);
  const ino = (123n << 40n) | 77n;
  const i = inode(ino, { target: Buffer.from('/some/where'), size: 5 * 1024 ** 3, rdev: 0x0801 });
  meta.insertInode(i);
  assert.deepEqual(meta.getInode(ino), i);
  assert.equal(meta.getInode(999n), undefined);
});

test('updateInode changes only the given fields and refuses unknown columns', (t) => {
  const meta = setup(t);
  meta.insertInode(inode(10n));
  meta.updateInode(10n, { mode: 0o100600, mtime: 5n, uid: undefined });
  meta.updateInode(10n, {});
  assert.deepEqual(meta.getInode(10n), inode(10n, { mode: 0o100600, mtime: 5n }));
  assert.throws(() => meta.updateInode(10n, { nope: 1 } as never), {
    name: 'Error',
    message: /not an inode column: nope/,
  });
  assert.throws(() => meta.updateInode(10n, { ino: 11n } as never), { message: /not an inode column: ino/ });
});

test('deleteInode also deletes its xattrs', (t) => {
  const meta = setup(t);
  meta.insertInode(inode(10n));
  meta.insertInode(inode(11n));
  meta.setXattr(10n, Buffer.from('user.a'), Buffer.from('1'));
  meta.setXattr(11n, Buffer.from('user.a'), Buffer.from('2'));
  meta.deleteInode(10n);
  assert.equal(meta.getInode(10n), undefined);
  assert.deepEqual(meta.listXattrs(10n), []);
  assert.deepEqual(meta.getXattr(11n, Buffer.from('user.a')), Buffer.from('2'));
});

test('entries: lookup by binary name, move, delete, links of one inode', (t) => {
  const meta = setup(t);
  const odd = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
  meta.insertEntry({ id: 100n, parent: 1n, name: odd, ino: 10n });
  meta.insertEntry({ id: 101n, parent: 1n, name: Buffer.from('b'), ino: 10n });
  const unplaced = { prevParent: null, prevName: null, pod: 0, hlc: 0n };
  assert.deepEqual(meta.lookup(1n, odd), { id: 100n, parent: 1n, name: odd, ino: 10n, ...unplaced });
  assert.equal(meta.lookup(1n, Buffer.from([0xff, 0xfe])), undefined);
  assert.deepEqual(
    meta.entriesOf(10n).map((e) => e.id),
    [100n, 101n],
  );
  meta.moveEntry(101n, 5n, Buffer.from('c'));
  assert.equal(meta.lookup(1n, Buffer.from('b')), undefined);
  assert.deepEqual(meta.getEntry(101n), { id: 101n, parent: 5n, name: Buffer.from('c'), ino: 10n, ...unplaced });
  meta.moveEntry(101n, 2n, Buffer.from('c'), { pod: 3, hlc: 77n }, { parent: 5n, name: Buffer.from('c') });
  assert.deepEqual(meta.getEntry(101n), {
    id: 101n,
    parent: 2n,
    name: Buffer.from('c'),
    ino: 10n,
    prevParent: 5n,
    prevName: Buffer.from('c'),
    pod: 3,
    hlc: 77n,
  });
  assert.equal(meta.hasChildren(5n), false, 'a deleted entry is no child of where it was');
  meta.moveEntry(101n, 5n, Buffer.from('c'), { pod: 4, hlc: 78n });
  assert.deepEqual(meta.getEntry(101n), {
    id: 101n,
    parent: 5n,
    name: Buffer.from('c'),
    ino: 10n,
    ...unplaced,
    pod: 4,
    hlc: 78n,
  });
  assert.equal(meta.hasChildren(5n), true);
  meta.deleteEntry(101n);
  assert.equal(meta.getEntry(101n), undefined);
  assert.equal(meta.hasChildren(5n), false);
});

test('list() pages through a directory in entry id order', (t) => {
  const meta = setup(t);
  meta.insertInode(inode(10n, { mode: 0o040755 }));
  meta.insertInode(inode(11n));
  for (let i = 0; i < 7; i++) {
    meta.insertEntry({ id: BigInt(200 - i * 10), parent: 1n, name: Buffer.from(`n${i}`), ino: i === 0 ? 10n : 11n });
  }
  meta.insertEntry({ id: 500n, parent: 2n, name: Buffer.from('elsewhere'), ino: 11n });
  const seen: bigint[] = [];
  let after = 0n;
  for (;;) {
    const page = meta.list(1n, after, 3);
    if (page.length === 0) break;
    assert.ok(page.length <= 3);
    seen.push(...page.map((e) => e.id));
    after = page[page.length - 1]!.id;
  }
  assert.deepEqual(seen, [140n, 150n, 160n, 170n, 180n, 190n, 200n]);
  const [first] = meta.list(1n, 190n, 10);
  assert.deepEqual(first, { id: 200n, name: Buffer.from('n0'), ino: 10n, mode: 0o040755 });
});

test('xattrs: set, replace, list in name order, remove', (t) => {
  const meta = setup(t);
  const b = (s: string) => Buffer.from(s);
  meta.setXattr(10n, b('user.z'), b('1'));
  meta.setXattr(10n, b('user.a'), b('2'));
  meta.setXattr(10n, b('user.a'), Buffer.alloc(0));
  assert.deepEqual(meta.listXattrs(10n), [b('user.a'), b('user.z')]);
  assert.deepEqual(meta.getXattr(10n, b('user.a')), Buffer.alloc(0));
  assert.equal(meta.removeXattr(10n, b('user.a')), true);
  assert.equal(meta.removeXattr(10n, b('user.a')), false);
  assert.equal(meta.getXattr(10n, b('user.a')), undefined);
});

test('versions: extents in offset order, holes kept, deleting reports the hashes no longer used', (t) => {
  const meta = setup(t);
  meta.insertVersion({ id: 1000n, ino: 10n, base: null, size: 300, created: 9n }, [
    { offset: 200, length: 100, hash: h(3) },
    { offset: 0, length: 100, hash: h(1) },
    { offset: 100, length: 100, hash: null },
  ]);
  meta.insertVersion({ id: 1001n, ino: 11n, base: 1000n, size: 200, created: 9n, pod: 3 }, [
    { offset: 0, length: 100, hash: h(1) },
    { offset: 100, length: 100, hash: h(2) },
  ]);
  assert.deepEqual(meta.getVersion(1000n), {
    id: 1000n,
    ino: 10n,
    base: null,
    size: 300,
    created: 9n,
    pod: 0,
    hlc: 0n,
  });
  assert.deepEqual(meta.getVersion(1001n), {
    id: 1001n,
    ino: 11n,
    base: 1000n,
    size: 200,
    created: 9n,
    pod: 3,
    hlc: 0n,
  });
  assert.deepEqual(meta.extents(1000n), [
    { offset: 0, length: 100, hash: h(1) },
    { offset: 100, length: 100, hash: null },
    { offset: 200, length: 100, hash: h(3) },
  ]);
  assert.deepEqual(meta.versionsOf(10n), [1000n]);
  assert.equal(meta.isHashUsed(h(1)), true);

  assert.deepEqual(meta.deleteVersion(1000n), [h(3)]);
  assert.equal(meta.getVersion(1000n), undefined);
  assert.deepEqual(meta.extents(1000n), []);
  assert.equal(meta.isHashUsed(h(3)), false);
  assert.equal(meta.isHashUsed(h(1)), true);
  assert.deepEqual(meta.deleteVersion(1001n).sort(Buffer.compare), [h(1), h(2)]);
});

test('counts() and orphans()', (t) => {
  const meta = setup(t);
  meta.insertInode(inode(10n, { size: 100 }));
  meta.insertInode(inode(11n, { size: 23, nlink: 0 }));
  assert.deepEqual(meta.counts(), { inodes: 2, bytes: 123 });
  assert.deepEqual(meta.orphans(), [11n]);
});

test('transaction() is all or nothing', (t) => {
  const meta = setup(t);
  assert.throws(
    () =>
      meta.transaction(() => {
        meta.insertInode(inode(10n));
        throw new Error('abort');
      }),
    { message: 'abort' },
  );
  assert.equal(meta.getInode(10n), undefined);
  assert.equal(
    meta.transaction(() => {
      meta.insertInode(inode(10n));
      return 7;
    }),
    7,
  );
  assert.ok(meta.getInode(10n));
});

test('beforeStatement runs before every statement', (t) => {
  let calls = 0;
  const meta = setup(t, () => calls++);
  meta.insertInode(inode(10n));
  meta.getInode(10n);
  meta.updateInode(10n, { uid: 1 });
  meta.lookup(1n, Buffer.from('x'));
  // getInode of an inode just written is answered from the inode cache, without a statement.
  assert.ok(calls >= 3, `${calls} calls`);
});
