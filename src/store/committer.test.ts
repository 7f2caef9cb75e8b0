import assert from 'node:assert/strict';
import * as path from 'node:path';
import { type TestContext, test } from 'node:test';
import { tempDir, waitFor } from '../core/testing.js';
import { Committer } from './committer.js';
import { type Db, openDatabase } from './db.js';
import { MetaStore } from './meta.js';

interface Fixture {
  db: Db;
  /** Another connection to the same database: it sees only committed changes. */
  other: Db;
  committer: Committer;
  meta: MetaStore;
}

function setup(t: TestContext, intervalMs: number): Fixture {
  const file = path.join(tempDir(t, 'wormhole-commit-'), 'meta.db');
  const db = openDatabase(file);
  const other = openDatabase(file);
  const committer = new Committer(db, intervalMs);
  t.after(() => {
    committer.close();
    db.close();
    other.close();
  });
  return { db, other, committer, meta: new MetaStore(db, () => committer.open()) };
}

function addInode(meta: MetaStore, ino: bigint): void {
  meta.insertInode({
    ino,
    mode: 0o100644,
    uid: 0,
    gid: 0,
    nlink: 1,
    size: 0,
    atime: 1n,
    mtime: 1n,
    ctime: 1n,
    btime: 1n,
    rdev: 0,
    target: null,
    content: null,
    used: 0,
  });
}

function seen(db: Db, ino: bigint): boolean {
  return db.prepare('SELECT 1 FROM inodes WHERE ino = ?').get(ino) !== undefined;
}

test('changes are visible at once on their connection, and elsewhere after flush()', (t) => {
  const f = setup(t, 60_000);
  addInode(f.meta, 10n);
  addInode(f.meta, 11n);
  assert.equal(f.db.inTransaction, true);
  assert.ok(f.meta.getInode(10n));
  assert.equal(seen(f.other, 10n), false);
  assert.equal(f.committer.commits, 0);

  f.committer.flush();
  assert.equal(f.db.inTransaction, false);
  assert.equal(seen(f.other, 10n), true);
  assert.equal(seen(f.other, 11n), true);
  assert.equal(f.committer.commits, 1, 'two changes, one commit');
  f.committer.flush();
  assert.equal(f.committer.commits, 1, 'nothing to commit');
});

test('an open transaction commits by itself once the interval has passed', async (t) => {
  const f = setup(t, 20);
  addInode(f.meta, 10n);
  assert.equal(seen(f.other, 10n), false);
  await waitFor('the group commit', () => seen(f.other, 10n));
  assert.equal(f.committer.commits, 1);
  assert.equal(f.db.inTransaction, false);

  addInode(f.meta, 11n);
  await waitFor('the next group commit', () => seen(f.other, 11n));
  assert.equal(f.committer.commits, 2);
});

test('a nested transaction (savepoint) that fails rolls back alone', (t) => {
  const f = setup(t, 60_000);
  addInode(f.meta, 10n);
  assert.throws(
    () =>
      f.meta.transaction(() => {
        addInode(f.meta, 11n);
        f.meta.updateInode(10n, { uid: 7 });
        throw new Error('abort');
      }),
    { message: 'abort' },
  );
  f.meta.transaction(() => addInode(f.meta, 12n));
  assert.equal(f.db.inTransaction, true, 'the group transaction is still open');
  assert.equal(f.meta.getInode(11n), undefined);
  assert.equal(f.meta.getInode(10n)?.uid, 0);

  f.committer.flush();
  assert.deepEqual([seen(f.other, 10n), seen(f.other, 11n), seen(f.other, 12n)], [true, false, true]);
});

test('an interval of 0 commits every statement on its own', (t) => {
  const f = setup(t, 0);
  addInode(f.meta, 10n);
  assert.equal(f.db.inTransaction, false);
  assert.equal(seen(f.other, 10n), true);
  f.committer.flush();
  assert.equal(f.committer.commits, 0);
});

test('close() commits what is pending', (t) => {
  const f = setup(t, 60_000);
  addInode(f.meta, 10n);
  f.committer.close();
  assert.equal(seen(f.other, 10n), true);
  assert.equal(f.committer.commits, 1);
});
