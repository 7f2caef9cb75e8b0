import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir, waitFor, withDeadline } from '../core/testing.js';
import { Checkpointer } from './checkpointer.js';
import { openDatabase } from './db.js';

test('copies the WAL into the database file from a worker', async (t) => {
  const file = path.join(tempDir(t, 'wormhole-ckpt-'), 'meta.db');
  const db = openDatabase(file);
  t.after(() => db.close());
  db.exec('CREATE TABLE t (b BLOB)');
  const ins = db.prepare('INSERT INTO t (b) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 64; i++) ins.run(Buffer.alloc(16 * 1024, i));
  })();
  const before = fs.statSync(file).size;
  assert.ok(before < 1024 * 1024, 'the main connection does not checkpoint by itself');

  const errors: string[] = [];
  const ck = new Checkpointer({ file, intervalMs: 10, onError: (m) => errors.push(m) });
  ck.start();
  t.after(() => withDeadline('stop()', ck.stop()));
  await waitFor('a checkpoint', () => errors.length > 0 || fs.statSync(file).size >= 1024 * 1024);
  assert.deepEqual(errors, []);
  await withDeadline('stop()', ck.stop());
  await ck.stop();
  assert.equal(db.prepare('SELECT count(*) FROM t').pluck().get(), 64);
});

test('stop() without start() returns at once', async () => {
  await withDeadline('stop()', new Checkpointer({ file: '/nonexistent' }).stop());
});

test('a worker that cannot open the database reports it, and stop() still returns', async (t) => {
  const file = path.join(tempDir(t, 'wormhole-ckpt-'), 'no-such-dir', 'meta.db');
  const errors: string[] = [];
  const ck = new Checkpointer({ file, intervalMs: 10, onError: (m) => errors.push(m) });
  ck.start();
  t.after(() => withDeadline('stop()', ck.stop()));
  await waitFor('the error report', () => errors.length > 0);
  assert.match(errors[0] as string, /directory does not exist|unable to open/i);
  await withDeadline('stop() after the worker died', ck.stop(), 3_000);
});
