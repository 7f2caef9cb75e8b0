import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../core/testing.js';
import { getMeta, openDatabase, setMeta, syncDurable } from './db.js';
import { SCHEMA_VERSION } from './schema.js';

test('openDatabase creates the file and its directory, in WAL mode, with the schema version', (t) => {
  const file = path.join(tempDir(t), 'a', 'b', 'meta.db');
  const db = openDatabase(file);
  t.after(() => db.close());
  assert.equal(fs.existsSync(file), true);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
  assert.equal(Number(getMeta(db, 'schema')), SCHEMA_VERSION);
  for (const table of ['meta', 'inodes', 'entries', 'xattrs', 'versions', 'extents', 'chunks', 'chunk_data', 'oplog']) {
    assert.ok(db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table), table);
  }
});

test('reopening keeps the data', (t) => {
  const file = path.join(tempDir(t), 'meta.db');
  const db = openDatabase(file);
  setMeta(db, 'k', 'v');
  db.close();
  const again = openDatabase(file);
  t.after(() => again.close());
  assert.equal(getMeta(again, 'k'), 'v');
});

test('a database written by a newer version is refused with DatabaseError naming the file', (t) => {
  const file = path.join(tempDir(t), 'meta.db');
  const db = openDatabase(file);
  setMeta(db, 'schema', SCHEMA_VERSION + 1);
  db.close();
  assert.throws(
    () => openDatabase(file),
    (err: Error) => {
      assert.equal(err.name, 'DatabaseError');
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, /newer/);
      return true;
    },
  );
});

test('a file that is not a database is refused with DatabaseError naming the file', (t) => {
  const file = path.join(tempDir(t), 'meta.db');
  fs.writeFileSync(file, Buffer.alloc(8192, 0x5a));
  assert.throws(
    () => openDatabase(file),
    (err: Error) => {
      assert.equal(err.name, 'DatabaseError');
      assert.ok(err.message.includes(file), err.message);
      return true;
    },
  );
});

test('getMeta/setMeta store strings, integers (as bigint), blobs, and overwrite', (t) => {
  const db = openDatabase(path.join(tempDir(t), 'meta.db'));
  t.after(() => db.close());
  assert.equal(getMeta(db, 'missing'), undefined);
  setMeta(db, 's', 'text');
  setMeta(db, 'n', 42);
  setMeta(db, 'big', 1n << 62n);
  setMeta(db, 'b', Buffer.from([1, 2, 3]));
  assert.equal(getMeta(db, 's'), 'text');
  // Integers come back as bigint whether set as number or bigint: callers (pod identity, ids) test for bigint.
  assert.equal(getMeta(db, 'n'), 42n);
  assert.equal(getMeta(db, 'big'), 1n << 62n);
  assert.deepEqual(getMeta(db, 'b'), Buffer.from([1, 2, 3]));
  setMeta(db, 'n', 'now a string');
  assert.equal(getMeta(db, 'n'), 'now a string');
});

test('syncDurable records the sync and restores the normal pragmas', (t) => {
  const db = openDatabase(path.join(tempDir(t), 'meta.db'));
  t.after(() => db.close());
  const before = Date.now();
  syncDurable(db);
  assert.ok(Number(getMeta(db, 'synced')) >= before);
  assert.equal(db.pragma('synchronous', { simple: true }), 1, 'NORMAL');
  assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
});

test('a schema 1 database (versions without hlc) is migrated in place, keeping its rows', (t) => {
  const file = path.join(tempDir(t), 'meta.db');
  const db = openDatabase(file);
  db.exec(`DROP TABLE versions`);
  db.exec(
    `CREATE TABLE versions (id INTEGER PRIMARY KEY, ino INTEGER NOT NULL, base INTEGER, size INTEGER NOT NULL, created INTEGER NOT NULL, pod INTEGER NOT NULL DEFAULT 0) STRICT`,
  );
  db.prepare(`INSERT INTO versions (id, ino, base, size, created) VALUES (7, 2, NULL, 5, 1)`).run();
  setMeta(db, 'schema', 1);
  db.close();
  const again = openDatabase(file);
  t.after(() => again.close());
  assert.equal(Number(getMeta(again, 'schema')), SCHEMA_VERSION);
  assert.deepEqual(again.prepare(`SELECT id, size, hlc FROM versions`).all(), [{ id: 7, size: 5, hlc: 0 }]);
});
