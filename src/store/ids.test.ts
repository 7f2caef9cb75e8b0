import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { COUNTER_BITS, makeId, prefixOf } from '../core/ids.js';
import { tempDir } from '../core/testing.js';
import { type Db, openDatabase, setMeta } from './db.js';
import { IdAllocator } from './ids.js';

const PREFIX = 4242;

function opener(t: { after(fn: () => void): void }): () => Db {
  const file = path.join(tempDir(t, 'wormhole-ids-'), 'meta.db');
  let last: Db | undefined;
  t.after(() => last?.close());
  return () => {
    last = openDatabase(file);
    return last;
  };
}

test('ids carry the pod prefix and increase', (t) => {
  const db = opener(t)();
  const ids = new IdAllocator(db, PREFIX);
  const a = ids.allocate();
  const b = ids.allocate();
  assert.equal(prefixOf(a), PREFIX);
  assert.equal(a, makeId(PREFIX, 16n), 'counters below 16 are left to well-known ids');
  assert.equal(b, a + 1n);
});

test('ids are never reused across a reopen when persist() ran in the committing transaction', (t) => {
  const open = opener(t);
  let db = open();
  let ids = new IdAllocator(db, PREFIX);
  const used: bigint[] = [];
  db.transaction(() => {
    used.push(ids.allocate(), ids.allocate());
    ids.persist();
  })();
  db.close();

  db = open();
  ids = new IdAllocator(db, PREFIX);
  const next = ids.allocate();
  assert.ok(next > (used[1] as bigint), `${next} reuses an id`);
});

test('a persist() rolled back with its transaction is redone by the next committing one', (t) => {
  const open = opener(t);
  let db = open();
  let ids = new IdAllocator(db, PREFIX);
  const a = ids.allocate();
  // The first attempt to commit the change using `a` fails and rolls back; the retry commits it.
  assert.throws(
    () =>
      db.transaction(() => {
        ids.persist();
        throw new Error('abort');
      })(),
    { message: 'abort' },
  );
  db.transaction(() => ids.persist())();
  db.close();

  db = open();
  ids = new IdAllocator(db, PREFIX);
  const next = ids.allocate();
  assert.ok(next > a, `id ${next} handed out again after a reopen, though a committed change used it`);
});

test('a pod that used all of its counter space says so', (t) => {
  const db = opener(t)();
  setMeta(db, 'id_next', (1n << COUNTER_BITS) - 1n);
  const ids = new IdAllocator(db, PREFIX);
  assert.equal(ids.allocate(), makeId(PREFIX, (1n << COUNTER_BITS) - 1n));
  assert.throws(() => ids.allocate(), { name: 'Error', message: /used all of its ids/ });
});
