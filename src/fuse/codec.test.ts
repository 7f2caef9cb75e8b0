/**
 * The codec against the byte layouts of linux/fuse.h: requests are built by
 * hand as the kernel sends them, replies are compared byte for byte with
 * structs laid out independently here (numbers taken from the header, not
 * from abi.ts).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import * as abi from './abi.js';
import { Op } from './abi.js';
import {
  attrReply,
  type Body,
  createReply,
  DirentPacker,
  decodeBody,
  decodeHeader,
  entryReply,
  errorReply,
  FuseProtocolError,
  initReply,
  lockReply,
  notifyDelete,
  notifyInvalEntry,
  notifyInvalInode,
  openReply,
  packNames,
  replyHeader,
  sizeReply,
  statfsReply,
  u64Reply,
  writeReply,
} from './codec.js';
import type { Attr, Entry } from './types.js';

// ---- little-endian struct builders -------------------------------------------

const u16 = (v: number) => Buffer.from(new Uint16Array([v]).buffer);
const u32 = (v: number) => Buffer.from(new Uint32Array([v >>> 0]).buffer);
const s32 = (v: number) => Buffer.from(new Int32Array([v]).buffer);
const u64 = (v: bigint | number) => Buffer.from(new BigUint64Array([BigInt(v)]).buffer);
const s64 = (v: bigint | number) => Buffer.from(new BigInt64Array([BigInt(v)]).buffer);
const str = (s: string) => Buffer.from(`${s}\0`);
const zeros = (n: number) => Buffer.alloc(n);
const cat = (...parts: Buffer[]) => Buffer.concat(parts);
const name = (s: string) => Buffer.from(s);

const UNIQUE = 0x1122334455667788n;
const NODEID = 0x99n;

/** struct fuse_in_header followed by `body`. */
function request(opcode: number, body: Buffer, extlen = 0): Buffer {
  const header = cat(u32(40 + body.length), u32(opcode), u64(UNIQUE), u64(NODEID), u32(1000), u32(1001), u32(4242));
  return cat(header, u16(extlen), u16(0), body);
}

/** What the session does with a message of n bytes read into buf. */
function decode(buf: Buffer, n = buf.length, setxattrExt = false): Body {
  const h = decodeHeader(buf, n);
  return decodeBody(h, buf.subarray(40 + h.extlen * 8, n), { setxattrExt });
}

function decodeBodyOnly(opcode: number, body: Buffer, setxattrExt = false): Body {
  return decode(request(opcode, body), undefined, setxattrExt);
}

function assertProtocolError(fn: () => unknown, msg?: string): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof FuseProtocolError, `${msg ?? ''}: expected FuseProtocolError, got ${String(err)}`);
      assert.equal(err.name, 'FuseProtocolError');
      return true;
    },
    msg,
  );
}

// ---- one request of every opcode decodeBody handles --------------------------

interface Case {
  title: string;
  op: number;
  body: Buffer;
  want: Body;
  /** shortest body the decoder accepts; every shorter one is a FuseProtocolError */
  min: number;
  /** where the NUL-terminated names start, for name-bearing requests */
  names?: number;
  setxattrExt?: boolean;
}

const data = Buffer.from('payload!');
const lock = cat(u64(10), u64(0xffffffffffffffffn), u32(1), u32(321));
const lockWant = { start: 10n, end: 0xffffffffffffffffn, type: 1, pid: 321 };
const setattrAll = cat(
  u32(0x7f | (1 << 9) | (1 << 10) | (1 << 11)), // MODE..FH, LOCKOWNER, CTIME, KILL_SUIDGID
  u32(0),
  u64(55), // fh
  u64(123456), // size
  u64(9), // lock_owner
  s64(-2), // atime: 1.5 s before the epoch
  u64(1_700_000_000), // mtime
  u64(1_600_000_000), // ctime
  u32(500_000_000),
  u32(123_456_789),
  u32(1),
  u32(0o100640), // mode
  u32(0),
  u32(1000), // uid
  u32(1001), // gid
  u32(0),
);

/** A case: the body of `op`, the fields it decodes to, the shortest body accepted, where names start. */
function c(op: number, body: Buffer, fields: object, min: number, names?: number, title?: string): Case {
  return { title: title ?? (abi.OP_NAMES[op] as string), op, body, want: { op, ...fields } as Body, min, names };
}

const readIn = cat(u64(7), u64(0x1_0000_0000n), u32(131072), u32(0), u64(3), u32(0o2), u32(0));
const releaseIn = cat(u64(7), u32(0o100002), u32(1), u64(0xabcn));
const lkIn = cat(u64(7), u64(0xfeedn), lock, u32(1), u32(0));
const changes = {
  fh: 55n,
  size: 123456,
  atime: -1_500_000_000n,
  mtime: 1_700_000_000_123_456_789n,
  ctime: 1_600_000_000_000_000_001n,
  mode: 0o100640,
  uid: 1000,
  gid: 1001,
  killSuidgid: true,
};

const cases: Case[] = [
  c(
    Op.INIT,
    cat(u32(7), u32(38), u32(131072), u32((1 << 30) | 1), u32(3), zeros(44)),
    { major: 7, minor: 38, maxReadahead: 131072, flags: (3n << 32n) | (1n << 30n) | 1n },
    16,
  ),
  ...[Op.LOOKUP, Op.UNLINK, Op.RMDIR, Op.REMOVEXATTR].map((op) =>
    c(op, str('file.txt'), { name: name('file.txt') }, 9, 0),
  ),
  c(Op.FORGET, u64(3), { nlookup: 3 }, 8),
  c(
    Op.BATCH_FORGET,
    cat(u32(2), u32(0), u64(5), u64(1), u64(0xfffffffffn), u64(2)),
    {
      items: [
        { nodeid: 5n, nlookup: 1 },
        { nodeid: 0xfffffffffn, nlookup: 2 },
      ],
    },
    40,
  ),
  c(Op.GETATTR, cat(u32(1), u32(0), u64(77)), { fh: 77n }, 16),
  c(Op.GETATTR, cat(u32(0), u32(0), u64(77)), { fh: undefined }, 16, undefined, 'GETATTR without fh'),
  c(Op.SETATTR, setattrAll, { changes }, 88),
  c(
    Op.SETATTR,
    cat(u32(0b1_1011_0000), zeros(84)),
    { changes: { atime: 'now', mtime: 'now' } },
    88,
    undefined,
    'SETATTR now',
  ),
  ...[Op.READLINK, Op.STATFS, Op.DESTROY, Op.SYNCFS, Op.NOTIFY_REPLY].map((op) => c(op, zeros(0), {}, 0)),
  c(Op.SYMLINK, cat(str('link'), str('../target')), { name: name('link'), target: name('../target') }, 15, 0),
  c(
    Op.MKNOD,
    cat(u32(0o10644), u32(0x0801), u32(0o22), u32(0), str('fifo')),
    { mode: 0o10644, rdev: 0x0801, umask: 0o22, name: name('fifo') },
    21,
    16,
  ),
  c(Op.MKDIR, cat(u32(0o755), u32(0o22), str('dir')), { mode: 0o755, umask: 0o22, name: name('dir') }, 12, 8),
  c(
    Op.RENAME,
    cat(u64(12), str('old'), str('new')),
    { newParent: 12n, flags: 0, name: name('old'), newName: name('new') },
    16,
    8,
  ),
  c(
    Op.RENAME2,
    cat(u64(12), u32(1), u32(0), str('old'), str('new')),
    { newParent: 12n, flags: 1, name: name('old'), newName: name('new') },
    24,
    16,
  ),
  c(Op.LINK, cat(u64(33), str('hard')), { oldNodeid: 33n, newName: name('hard') }, 13, 8),
  c(Op.OPEN, cat(u32(0o100002), u32(1)), { flags: 0o100002, openFlags: 1 }, 8),
  c(Op.OPENDIR, cat(u32(0o200000), u32(0)), { flags: 0o200000, openFlags: 0 }, 8),
  c(
    Op.CREATE,
    cat(u32(0o100101), u32(0o100644), u32(0o22), u32(1), str('new.txt')),
    { flags: 0o100101, mode: 0o100644, umask: 0o22, openFlags: 1, name: name('new.txt') },
    24,
    16,
  ),
  ...[Op.READ, Op.READDIR, Op.READDIRPLUS].map((op) =>
    c(op, readIn, { fh: 7n, offset: 0x1_0000_0000n, size: 131072 }, 24),
  ),
  // flags are write_flags (here FUSE_WRITE_KILL_SUIDGID), not the open flags at offset 32
  c(
    Op.WRITE,
    cat(u64(7), u64(4096), u32(data.length), u32(4), u64(0), u32(0o2), u32(0), data),
    {
      fh: 7n,
      offset: 4096n,
      flags: 4,
      data,
    },
    48,
  ),
  ...[Op.RELEASE, Op.RELEASEDIR].map((op) =>
    c(op, releaseIn, { fh: 7n, flags: 0o100002, releaseFlags: 1, lockOwner: 0xabcn }, 24),
  ),
  c(Op.FLUSH, cat(u64(7), u32(0), u32(0), u64(0xabcn)), { fh: 7n, lockOwner: 0xabcn }, 24),
  c(Op.FSYNC, cat(u64(7), u32(1), u32(0)), { fh: 7n, datasync: true }, 16),
  c(Op.FSYNCDIR, cat(u64(7), u32(0), u32(0)), { fh: 7n, datasync: false }, 16),
  c(
    Op.SETXATTR,
    cat(u32(4), u32(2), str('user.k'), name('blue')),
    { flags: 2, name: name('user.k'), value: name('blue') },
    19,
    8,
  ),
  {
    ...c(
      Op.SETXATTR,
      cat(u32(4), u32(1), u32(1), u32(0), str('user.k'), name('blue')),
      { flags: 1, name: name('user.k'), value: name('blue') },
      27,
      16,
      'SETXATTR with SETXATTR_EXT',
    ),
    setxattrExt: true,
  },
  c(Op.GETXATTR, cat(u32(64), u32(0), str('user.k')), { size: 64, name: name('user.k') }, 15, 8),
  c(Op.LISTXATTR, cat(u32(0), u32(0)), { size: 0 }, 8),
  c(Op.ACCESS, cat(u32(4), u32(0)), { mask: 4 }, 8),
  ...[Op.GETLK, Op.SETLK, Op.SETLKW].map((op) =>
    c(op, lkIn, { fh: 7n, owner: 0xfeedn, lock: lockWant, flock: true }, 48),
  ),
  c(Op.INTERRUPT, u64(0x4242n), { target: 0x4242n }, 8),
  c(
    Op.FALLOCATE,
    cat(u64(7), u64(4096), u64(1 << 20), u32(1), u32(0)),
    { fh: 7n, offset: 4096, length: 1 << 20, mode: 1 },
    32,
  ),
  c(Op.LSEEK, cat(u64(7), s64(8192), u32(3), u32(0)), { fh: 7n, offset: 8192, whence: 3 }, 24),
  c(
    Op.COPY_FILE_RANGE,
    cat(u64(7), u64(100), u64(44), u64(8), u64(200), u64(300), u64(0)),
    { fhIn: 7n, offIn: 100, nodeOut: 44n, fhOut: 8n, offOut: 200, len: 300, flags: 0 },
    56,
  ),
];

test('every request decodes to the fields fuse.h lays out', () => {
  for (const c of cases) {
    assert.deepEqual(decodeBodyOnly(c.op, c.body, c.setxattrExt), c.want, c.title);
  }
});

test('the header is decoded field by field', () => {
  const buf = request(Op.GETATTR, cat(u32(1), u32(0), u64(77), zeros(8)), 1);
  const h = decodeHeader(buf, buf.length);
  assert.deepEqual(h, {
    len: 64,
    opcode: 3,
    unique: UNIQUE,
    nodeid: NODEID,
    uid: 1000,
    gid: 1001,
    pid: 4242,
    extlen: 1,
  });
});

test('INIT without INIT_EXT ignores flags2; a 16-byte INIT (protocol 7.5) decodes', () => {
  const body = cat(u32(7), u32(38), u32(65536), u32(1), u32(0xffffffff), zeros(44));
  assert.deepEqual(decodeBodyOnly(Op.INIT, body), { op: Op.INIT, major: 7, minor: 38, maxReadahead: 65536, flags: 1n });
  assert.deepEqual(decodeBodyOnly(Op.INIT, body.subarray(0, 16)), decodeBodyOnly(Op.INIT, body));
});

test('names are copies; WRITE data is a view of the request', () => {
  const lookup = request(Op.LOOKUP, str('abc'));
  const got = decode(lookup) as { name: Buffer };
  lookup.fill(0x7a, 40);
  assert.equal(got.name.toString(), 'abc');
  const write = request(Op.WRITE, cat(u64(1), u64(0), u32(3), u32(0), u64(0), u32(0), u32(0), name('xyz')));
  const w = decode(write) as { data: Buffer };
  write.write('XYZ', 80);
  assert.equal(w.data.toString(), 'XYZ');
});

test('opcodes the codec does not handle decode as unknown', () => {
  for (const opcode of [Op.BMAP, Op.IOCTL, Op.POLL, Op.SETUPMAPPING, Op.TMPFILE, 0, 7, 19, 9999, 0xffffffff]) {
    assert.deepEqual(decodeBodyOnly(opcode, u64(1)), { op: 0, opcode });
  }
});

test('decodeHeader rejects short messages and length mismatches', () => {
  const ok = request(Op.STATFS, zeros(0));
  assert.equal(decodeHeader(ok, 40).len, 40);
  for (const n of [0, 1, 39]) assertProtocolError(() => decodeHeader(ok, n), `n=${n}`);
  const big = Buffer.concat([ok, zeros(100)]);
  assertProtocolError(() => decodeHeader(big, 41), 'message longer than its header says');
  assertProtocolError(() => decodeHeader(big, 140), 'read buffer, not message');
  const liar = Buffer.from(ok);
  liar.writeUInt32LE(39, 0);
  assertProtocolError(() => decodeHeader(liar, 40), 'header says 39');
  liar.writeUInt32LE(0xffffffff, 0);
  assertProtocolError(() => decodeHeader(liar, 40), 'header says 4 GiB');
});

test('every truncated body is a FuseProtocolError; bodies of the minimal length decode', () => {
  for (const c of cases) {
    for (let k = 0; k <= c.body.length; k++) {
      const short = Buffer.from(c.body.subarray(0, k));
      const run = () => decodeBodyOnly(c.op, short, c.setxattrExt);
      if (k < c.min) assertProtocolError(run, `${c.title} cut to ${k} bytes`);
      else assert.doesNotThrow(run, `${c.title} cut to ${k} bytes`);
    }
  }
});

test('a name without its NUL is a FuseProtocolError', () => {
  for (const c of cases) {
    if (c.names === undefined) continue;
    let tried = 0;
    for (let i = c.names; i < c.body.length; i++) {
      if (c.body[i] !== 0) continue;
      const bad = Buffer.from(c.body);
      bad[i] = 0x78;
      assertProtocolError(() => decodeBodyOnly(c.op, bad, c.setxattrExt), `${c.title}, NUL at ${i} replaced`);
      tried++;
    }
    assert.ok(tried > 0, c.title);
  }
});

test('counts and sizes that overrun the body, or 64-bit values past 2^53, are FuseProtocolErrors', () => {
  const hugeCount = cat(u32(0xffffffff), u32(0), u64(5), u64(1));
  assertProtocolError(() => decodeBodyOnly(Op.BATCH_FORGET, hugeCount), 'BATCH_FORGET count');
  const hugeWrite = cat(u64(7), u64(0), u32(0xffffffff), u32(0), u64(0), u32(0), u32(0), data);
  assertProtocolError(() => decodeBodyOnly(Op.WRITE, hugeWrite), 'WRITE size');
  const hugeValue = cat(u32(0xffffffff), u32(0), str('user.k'), name('blue'));
  assertProtocolError(() => decodeBodyOnly(Op.SETXATTR, hugeValue), 'SETXATTR size');
  assertProtocolError(() => decodeBodyOnly(Op.FORGET, u64(2n ** 63n)), 'FORGET nlookup');
  const bigSize = Buffer.from(setattrAll);
  bigSize.writeBigUInt64LE(2n ** 60n, 16);
  assertProtocolError(() => decodeBodyOnly(Op.SETATTR, bigSize), 'SETATTR size');
  const bigLen = cat(u64(7), u64(0), u64(2n ** 53n), u32(0), u32(0));
  assertProtocolError(() => decodeBodyOnly(Op.FALLOCATE, bigLen), 'FALLOCATE length');
});

// ---- fuzz --------------------------------------------------------------------

/** mulberry32: small, seeded, good enough to spread bytes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function onlyProtocolErrors(buf: Buffer, n: number, setxattrExt: boolean, what: string): void {
  try {
    decode(buf, n, setxattrExt);
  } catch (err) {
    if (!(err instanceof FuseProtocolError))
      assert.fail(`${what}: ${String(err)} on ${buf.subarray(0, n).toString('hex')}`);
  }
}

test('fuzz: random messages and damaged valid requests only ever raise FuseProtocolError', () => {
  const rnd = prng(0x5eed);
  const int = (n: number) => Math.floor(rnd() * n);
  for (let i = 0; i < 20_000; i++) {
    const n = int(160);
    const buf = Buffer.alloc(n + int(3) * 64);
    for (let j = 0; j < buf.length; j++) buf[j] = int(256);
    if (n >= 40 && rnd() < 0.8) {
      buf.writeUInt32LE(n, 0);
      buf.writeUInt32LE(1 + int(53), 4);
      buf.writeUInt16LE(rnd() < 0.7 ? 0 : int(40), 36);
    }
    onlyProtocolErrors(buf, n, rnd() < 0.5, `random message ${i}`);
  }
  for (let i = 0; i < 20_000; i++) {
    const c = cases[int(cases.length)] as Case;
    const body = Buffer.from(c.body.subarray(0, int(c.body.length + 1)));
    for (let flips = int(4); flips > 0 && body.length > 0; flips--) {
      body[int(body.length)] = rnd() < 0.5 ? 0xff : int(256);
    }
    const buf = request(c.op, body, rnd() < 0.1 ? int(4) : 0);
    onlyProtocolErrors(buf, buf.length, c.setxattrExt ?? false, `damaged ${c.title} ${i}`);
  }
});

// ---- replies -----------------------------------------------------------------

const attr: Attr = {
  ino: 0x0102030405060708n,
  size: 5000,
  blocks: 10,
  atime: -1_500_000_000n,
  mtime: 1_700_000_000_123_456_789n,
  ctime: 0n,
  mode: 0o100644,
  nlink: 1,
  uid: 1000,
  gid: 1001,
  rdev: 0x0801,
  blksize: 4096,
};

/** struct fuse_attr, 88 bytes. */
const attrBytes = cat(
  u64(0x0102030405060708n),
  u64(5000),
  u64(10),
  s64(-2),
  u64(1_700_000_000),
  u64(0),
  u32(500_000_000),
  u32(123_456_789),
  u32(0),
  u32(0o100644),
  u32(1),
  u32(1000),
  u32(1001),
  u32(0x0801),
  u32(4096),
  u32(0),
);

const entry: Entry = { nodeid: 42n, generation: 3n, entryTimeout: 1.5, attrTimeout: 0.25, attr };
const entryBytes = cat(u64(42), u64(3), u64(1), u64(0), u32(500_000_000), u32(250_000_000), attrBytes);
const outHeader = (len: number, error: number, unique: bigint) => cat(u32(len), s32(error), u64(unique));

test('entryReply and attrReply lay out fuse_entry_out / fuse_attr_out, negative times and nanoseconds included', () => {
  assert.equal(attrBytes.length, 88);
  assert.deepEqual(entryReply(9n, entry), cat(outHeader(144, 0, 9n), entryBytes));
  assert.deepEqual(attrReply(9n, attr, 2.75), cat(outHeader(120, 0, 9n), u64(2), u32(750_000_000), u32(0), attrBytes));
  const negative = entryReply(9n, { ...entry, entryTimeout: -3, attrTimeout: -0.5 });
  assert.deepEqual(negative.subarray(32, 56), zeros(24), 'negative timeouts are zero');
  const before = attrReply(1n, { ...attr, atime: -1n, mtime: -1_000_000_000n, ctime: 1n }, 0);
  assert.deepEqual(before.subarray(56, 92), cat(s64(-1), s64(-1), s64(0), u32(999_999_999), u32(0), u32(1)));
});

test('openReply and createReply carry the FOPEN_ flags', () => {
  const all = { fh: 0xdeadbeefn, directIo: true, keepCache: true, cacheDir: true, nonSeekable: true, noFlush: true };
  // FOPEN_DIRECT_IO 1, KEEP_CACHE 2, NONSEEKABLE 4, CACHE_DIR 8, NOFLUSH 32
  assert.deepEqual(openReply(5n, all), cat(outHeader(32, 0, 5n), u64(0xdeadbeefn), u32(47), u32(0)));
  assert.deepEqual(openReply(5n, { fh: 1n }), cat(outHeader(32, 0, 5n), u64(1), u32(0), u32(0)));
  assert.equal(openReply(5n, { fh: 1n, keepCache: true }).readUInt32LE(24), 2);
  assert.deepEqual(
    createReply(5n, entry, { fh: 8n, directIo: true }),
    cat(outHeader(160, 0, 5n), entryBytes, u64(8), u32(1), u32(0)),
  );
});

test('writeReply, sizeReply, u64Reply, lockReply, errorReply and replyHeader', () => {
  assert.deepEqual(writeReply(3n, 131072), cat(outHeader(24, 0, 3n), u32(131072), u32(0)));
  assert.deepEqual(sizeReply(3n, 17), cat(outHeader(24, 0, 3n), u32(17), u32(0)));
  assert.deepEqual(u64Reply(3n, 2 ** 40), cat(outHeader(24, 0, 3n), u64(2 ** 40)));
  assert.deepEqual(lockReply(3n, lockWant), cat(outHeader(40, 0, 3n), lock));
  assert.deepEqual(errorReply(3n, 2), outHeader(16, -2, 3n));
  assert.deepEqual(replyHeader(UNIQUE, 1000), outHeader(1016, 0, UNIQUE));
});

test('statfsReply lays out fuse_kstatfs, clamping fractions and negatives', () => {
  const s = {
    blocks: 1000.7,
    bfree: -5,
    bavail: 400,
    files: 2 ** 40,
    ffree: 50,
    bsize: 4096,
    frsize: 512,
    namelen: 255,
  };
  const want = cat(u64(1000), u64(0), u64(400), u64(2 ** 40), u64(50), u32(4096), u32(255), u32(512), zeros(28));
  assert.deepEqual(statfsReply(4n, s), cat(outHeader(96, 0, 4n), want));
});

test('initReply lays out fuse_init_out, flags split into flags and flags2', () => {
  const r = {
    minor: 38,
    maxReadahead: 131072,
    flags: (1n << 32n) | (1n << 30n) | 1n,
    maxBackground: 64,
    congestionThreshold: 48,
    maxWrite: 1 << 20,
    timeGran: 1,
    maxPages: 256,
  };
  const want = cat(
    u32(7),
    u32(38),
    u32(131072),
    u32((1 << 30) | 1),
    u16(64),
    u16(48),
    u32(1 << 20),
    u32(1),
    u16(256),
    u16(0),
    u32(1),
    zeros(28),
  );
  assert.deepEqual(initReply(2n, r), cat(outHeader(80, 0, 2n), want));
});

/** struct fuse_dirent, padded to 8 bytes. */
function dirent(ino: bigint, off: bigint, nm: string, type: number): Buffer {
  const raw = cat(u64(ino), u64(off), u32(nm.length), u32(type), name(nm));
  return cat(raw, zeros((8 - (raw.length % 8)) % 8));
}

test('DirentPacker packs fuse_dirent records aligned to 8 bytes and refuses one that does not fit', () => {
  const p = new DirentPacker(7n, 104, false);
  assert.equal(p.add(name('a'), null, 2n, 0o100644, 1n), true); // 25 -> 32
  assert.equal(p.add(name('hello.txt'), null, 3n, 0o40755, 2n), true); // 33 -> 40
  assert.equal(p.add(name('exactly-eight-bytes-ok'), null, 4n, 0o120777, 3n), false); // 46 -> 48: 120 > 104
  assert.equal(p.add(name('fits.ok'), null, 5n, 0o120777, 3n), true); // 31 -> 32: exactly 104
  assert.equal(p.add(name('x'), null, 6n, 0o100644, 4n), false);
  const want = cat(dirent(2n, 1n, 'a', 8), dirent(3n, 2n, 'hello.txt', 4), dirent(5n, 3n, 'fits.ok', 10));
  assert.deepEqual(p.finish(), cat(outHeader(120, 0, 7n), want));
  assert.deepEqual(new DirentPacker(8n, 4096, false).finish(), outHeader(16, 0, 8n));
});

test('DirentPacker packs fuse_direntplus records, a null entry as zeros', () => {
  const p = new DirentPacker(7n, 320, true);
  assert.equal(p.add(name('.'), null, 1n, 0o40755, 1n), true); // 153 -> 160
  assert.equal(p.add(name('file'), entry, 42n, 0o100644, 2n), true); // 156 -> 160
  assert.equal(p.add(name('z'), entry, 43n, 0o100644, 3n), false);
  const want = cat(zeros(128), dirent(1n, 1n, '.', 4), entryBytes, dirent(42n, 2n, 'file', 8));
  assert.deepEqual(p.finish(), cat(outHeader(336, 0, 7n), want));
});

test('packNames NUL-terminates each name', () => {
  assert.deepEqual(packNames([name('user.a'), name('user.bb')]), Buffer.from('user.a\0user.bb\0'));
  assert.deepEqual(packNames([]), zeros(0));
});

test('notifications carry the notify code as error and unique 0', () => {
  // FUSE_NOTIFY_INVAL_INODE 2, INVAL_ENTRY 3, DELETE 6
  assert.deepEqual(notifyInvalInode(5n, -1n, 0n), cat(outHeader(40, 2, 0n), u64(5), s64(-1), s64(0)));
  assert.deepEqual(notifyInvalInode(5n, 4096n, 8192n), cat(outHeader(40, 2, 0n), u64(5), s64(4096), s64(8192)));
  assert.deepEqual(notifyInvalEntry(1n, name('abc')), cat(outHeader(36, 3, 0n), u64(1), u32(3), u32(0), str('abc')));
  assert.deepEqual(
    notifyDelete(1n, 9n, name('abc')),
    cat(outHeader(44, 6, 0n), u64(1), u64(9), u32(3), u32(0), str('abc')),
  );
});

const HEADER = '/usr/include/linux/fuse.h';

test('abi constants agree with linux/fuse.h', { skip: !fs.existsSync(HEADER) && `${HEADER} is not installed` }, () => {
  const text = fs.readFileSync(HEADER, 'utf8');
  const defines = new Map<string, number>();
  for (const m of text.matchAll(/^#define\s+(\w+)\s+\(1(?:ULL)?\s*<<\s*(\d+)\)/gm)) {
    defines.set(m[1] as string, 2 ** Number(m[2]));
  }
  for (const m of text.matchAll(/^\s+(FUSE_\w+)\s*=\s*(\d+),/gm)) defines.set(m[1] as string, Number(m[2]));
  let checked = 0;
  const check = (prefix: string, table: Record<string, number>) => {
    for (const [k, v] of Object.entries(table)) {
      const want = defines.get(prefix + k);
      if (want === undefined) continue; // newer than the installed header
      assert.equal(v, want, prefix + k);
      checked++;
    }
  };
  const numeric = (e: object) => Object.fromEntries(Object.entries(e).filter(([, v]) => typeof v === 'number'));
  check('FUSE_', numeric(Op));
  check('FUSE_NOTIFY_', numeric(abi.NotifyCode));
  check('FUSE_', abi.InitFlag);
  check('FATTR_', abi.Fattr);
  check('FOPEN_', abi.Fopen);
  assert.equal(defines.get('FUSE_GETATTR_FH'), abi.GETATTR_FH);
  assert.ok(checked > 80, `only ${checked} constants found in ${HEADER}`);
});
