import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeOp, encodeOp, type TreeOp } from './ops.js';

const T = 1_700_000_000_123_456_789n;
const ID = (4_000_000n << 40n) | 123n;

const OPS: TreeOp[] = [
  {
    kind: 'create',
    entry: ID,
    parent: 1n,
    name: Buffer.from([0xff, 0x00, 0x41]),
    ino: ID + 1n,
    inode: { mode: 0o120777, uid: 65534, gid: 0, rdev: 0, target: Buffer.from('target') },
    time: T,
  },
  { kind: 'create', entry: ID + 2n, parent: 1n, name: Buffer.from('link'), ino: ID + 1n, inode: null, time: T },
  {
    kind: 'create',
    entry: 3n,
    parent: 1n,
    name: Buffer.from('d'),
    ino: 4n,
    inode: { mode: 0o040755, uid: 0, gid: 0, rdev: 0, target: null },
    time: T,
  },
  { kind: 'move', entry: ID, parent: 2n, name: Buffer.from('x'), time: T + 1n },
  { kind: 'setattr', ino: ID + 1n, attrs: { mode: 0o100600, atime: 0n, mtime: T }, time: T + 2n },
  { kind: 'setattr', ino: 5n, attrs: {}, time: 1n },
  {
    kind: 'content',
    ino: ID + 1n,
    version: ID + 3n,
    base: null,
    size: 5 * 1024 ** 3,
    extents: [
      { offset: 0, length: 4 * 1024 * 1024, hash: Buffer.alloc(32, 7) },
      { offset: 4 * 1024 * 1024, length: 5 * 1024 ** 3 - 4 * 1024 * 1024, hash: null },
    ],
    mtime: T,
    time: T + 3n,
  },
  { kind: 'content', ino: 9n, version: 10n, base: 8n, size: 0, extents: [], mtime: 0n, time: 1n },
  { kind: 'xattr', ino: ID + 1n, name: Buffer.from('user.k'), value: Buffer.alloc(0), time: T + 4n },
  { kind: 'xattr', ino: ID + 1n, name: Buffer.from('user.k'), value: null, time: T + 5n },
];

test('every kind of op survives encode/decode unchanged, bigints and buffers included', () => {
  for (const op of OPS) assert.deepStrictEqual(decodeOp(encodeOp(op)), op);
});

test('small ids stay bigints after a round trip', () => {
  const op = decodeOp(encodeOp({ kind: 'move', entry: 1n, parent: 0n, name: Buffer.alloc(0), time: 1n }));
  assert.equal(op.kind, 'move');
  if (op.kind !== 'move') return;
  assert.equal(typeof op.entry, 'bigint');
  assert.equal(typeof op.parent, 'bigint');
  assert.equal(typeof op.time, 'bigint');
});

test('the encoding is deterministic', () => {
  for (const op of OPS) assert.deepEqual(encodeOp(op), encodeOp(structuredClone(op)));
});
