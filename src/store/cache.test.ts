import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RamCache } from './cache.js';

const buf = (n: number, fill = 0) => Buffer.alloc(n, fill);

test('keeps entries within the byte budget, evicting the least recently used', () => {
  const c = new RamCache<string>(10);
  c.set('a', buf(4));
  c.set('b', buf(4));
  assert.equal(c.bytes, 8);
  c.set('c', buf(4));
  assert.deepEqual([c.has('a'), c.has('b'), c.has('c')], [false, true, true]);
  assert.equal(c.bytes, 8);
  assert.equal(c.size, 2);
  assert.equal(c.capacity, 10);
});

test('get() makes an entry the most recently used; has() does not', () => {
  const c = new RamCache<string>(12);
  c.set('a', buf(4));
  c.set('b', buf(4));
  c.set('c', buf(4));
  assert.ok(c.get('a'));
  assert.equal(c.has('b'), true);
  c.set('d', buf(4));
  assert.deepEqual([c.has('a'), c.has('b'), c.has('c'), c.has('d')], [true, false, true, true]);
});

test('one big entry can evict several small ones', () => {
  const c = new RamCache<string>(10);
  for (const k of ['a', 'b', 'c', 'd', 'e']) c.set(k, buf(2));
  c.set('big', buf(9));
  assert.deepEqual([c.size, c.bytes, c.has('big'), c.has('e')], [1, 9, true, false]);
});

test('replacing a value accounts for the new size', () => {
  const c = new RamCache<string>(100);
  c.set('a', buf(10, 1));
  c.set('a', buf(30, 2));
  assert.equal(c.bytes, 30);
  assert.equal(c.size, 1);
  assert.deepEqual(c.get('a'), buf(30, 2));
});

test('a value larger than the whole budget is not cached, and does not leave an older value behind', () => {
  const c = new RamCache<string>(10);
  c.set('x', buf(11));
  assert.deepEqual([c.size, c.bytes, c.has('x')], [0, 0, false]);
  c.set('a', buf(5, 1));
  c.set('a', buf(11, 2));
  assert.equal(c.get('a'), undefined, 'get() returned the value set before');
  assert.equal(c.bytes, 0);
});

test('counts hits and misses', () => {
  const c = new RamCache<string>(10);
  c.set('a', buf(1));
  c.get('a');
  c.get('a');
  c.get('b');
  assert.deepEqual([c.hits, c.misses], [2, 1]);
});

test('delete(), clear() and resize() keep the byte count right', () => {
  const c = new RamCache<number>(100);
  for (let i = 0; i < 10; i++) c.set(i, buf(10));
  c.delete(3);
  c.delete(42);
  assert.deepEqual([c.size, c.bytes], [9, 90]);
  c.resize(25);
  assert.deepEqual([c.size, c.bytes, c.capacity], [2, 20, 25]);
  assert.deepEqual([c.has(8), c.has(9)], [true, true]);
  c.clear();
  assert.deepEqual([c.size, c.bytes], [0, 0]);
  c.set(1, buf(25));
  assert.equal(c.bytes, 25);
});
