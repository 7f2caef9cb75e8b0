import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { ROOT_INO } from '../core/ids.js';
import { chunkLengths } from '../store/chunker.js';
import type { Extent } from '../store/meta.js';
import { b, createFs, type FsHarness, Prng, readAll, USER } from './testing.js';

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const FALLOC_KEEP_SIZE = 0x01;
const FALLOC_PUNCH_HOLE = 0x02;
const FALLOC_ZERO_RANGE = 0x10;

const KiB = 1024;
const MiB = 1024 * 1024;
/** The chunker's maximum chunk size. */
const MAX_CHUNK = 4 * MiB;

const sha256 = (d: Buffer) => createHash('sha256').update(d).digest();
const hex = (h: Buffer | null) => (h ? h.toString('hex') : 'hole');
const key = (e: Extent) => `${e.offset}+${e.length}:${hex(e.hash)}`;
const dataHashes = (ext: Extent[]) => new Set(ext.flatMap((e) => (e.hash ? [e.hash.toString('hex')] : [])));

async function createFile(h: FsHarness, name: string, flags = O_RDWR): Promise<{ ino: bigint; fh: bigint }> {
  const { attrs, fh } = await h.fs.create(USER, ROOT_INO, b(name), 0o644, flags);
  return { ino: attrs.ino, fh };
}

/** Writes `data` at `offset` in pieces of at most 1 MiB, as the kernel sends them. */
async function writeAll(h: FsHarness, fh: bigint, offset: number, data: Buffer): Promise<void> {
  for (let p = 0; p < data.length; p += MiB) {
    const n = await h.fs.write(fh, offset + p, data.subarray(p, Math.min(data.length, p + MiB)));
    assert.equal(n, Math.min(MiB, data.length - p));
  }
}

async function readFile(h: FsHarness, ino: bigint): Promise<Buffer> {
  const fh = await h.fs.open(ino, O_RDONLY);
  try {
    return await readAll(h.fs, fh, 0, h.fs.getattr(ino).size + 1);
  } finally {
    await h.fs.release(fh);
  }
}

/**
 * The committed extents of `ino` tile [0, size) and each data extent is the
 * SHA-256 of the bytes it covers in `expected`; holes cover zeros; every
 * chunk is in the store.
 */
function assertCommitted(h: FsHarness, ino: bigint, expected: Buffer): Extent[] {
  const ext = h.extents(ino);
  const inode = h.meta.getInode(ino);
  assert.equal(inode?.size, expected.length, 'committed size');
  let pos = 0;
  for (const e of ext) {
    assert.equal(e.offset, pos, `extent at ${e.offset} must start at ${pos} (no gap, no overlap)`);
    assert.ok(e.length > 0, `empty extent at ${e.offset}`);
    const piece = expected.subarray(e.offset, e.offset + e.length);
    if (e.hash) {
      assert.ok(e.length <= MAX_CHUNK, `chunk at ${e.offset} is ${e.length} bytes`);
      assert.equal(hex(e.hash), hex(sha256(piece)), `hash of the extent at ${e.offset}+${e.length}`);
      assert.ok(h.chunks.has(e.hash), `chunk at ${e.offset} is stored`);
    } else {
      assert.ok(
        piece.every((x) => x === 0),
        `hole at ${e.offset}+${e.length} must cover zeros`,
      );
    }
    pos += e.length;
  }
  assert.equal(pos, expected.length, 'extents end at the size');
  return ext;
}

describe('reading and writing', () => {
  test('writes show in reads and attributes before they are committed', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(1);
    const { ino, fh } = await createFile(h, 'f');
    const base = rnd.bytes(3 * MiB);
    await writeAll(h, fh, 0, base);
    assert.deepEqual(await readAll(h.fs, fh, 0, base.length), base, 'a new file, uncommitted');
    assert.equal(h.fs.getattr(ino).size, base.length);
    assert.equal(h.meta.getInode(ino)?.content, null, 'nothing committed yet');
    await h.fs.flush(fh);
    const committed = assertCommitted(h, ino, base);

    // staged writes over the committed version: the merged view
    const expected = Buffer.concat([base, Buffer.alloc(MiB)]);
    const patch = rnd.bytes(5000);
    await h.fs.write(fh, 1_000_000, patch);
    patch.copy(expected, 1_000_000);
    const tail = rnd.bytes(100);
    await h.fs.write(fh, base.length + 200_000, tail);
    tail.copy(expected, base.length + 200_000);
    const size = base.length + 200_100;
    assert.equal(h.fs.getattr(ino).size, size);
    assert.deepEqual(await readAll(h.fs, fh, 0, 2 * size), expected.subarray(0, size));
    assert.deepEqual(await readAll(h.fs, fh, 999_990, 20), expected.subarray(999_990, 1_000_010));
    assert.deepEqual(h.extents(ino), committed, 'the committed version is unchanged');
    await h.fs.release(fh);
    assertCommitted(h, ino, expected.subarray(0, size));
  });

  test('close commits; the bytes survive a reopen', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(2);
    const data = rnd.bytes(2 * MiB + 123);
    const small = b('small file');
    const f = await createFile(h, 'big', O_WRONLY);
    const g = await createFile(h, 'small', O_WRONLY);
    await writeAll(h, f.fh, 0, data);
    await h.fs.write(g.fh, 0, small);
    for (const x of [f, g]) {
      await h.fs.flush(x.fh);
      await h.fs.release(x.fh);
    }
    await h.reopen();
    assert.deepEqual(await readFile(h, f.ino), data);
    assert.deepEqual(await readFile(h, g.ino), small);
    assertCommitted(h, f.ino, data);
  });

  test('reads past the end are short; reading an empty file gives nothing', async (t) => {
    const h = createFs(t);
    const { fh } = await createFile(h, 'f');
    assert.deepEqual(await readAll(h.fs, fh, 0, 100), Buffer.alloc(0));
    await h.fs.write(fh, 0, b('abc'));
    assert.equal((await readAll(h.fs, fh, 1, 100)).toString(), 'bc');
    assert.deepEqual(await readAll(h.fs, fh, 3, 100), Buffer.alloc(0));
    assert.deepEqual(await readAll(h.fs, fh, 1000, 100), Buffer.alloc(0));
    await h.fs.release(fh);
  });

  test('a write of zero bytes changes nothing', async (t) => {
    const h = createFs(t);
    const { ino, fh } = await createFile(h, 'f');
    await h.fs.write(fh, 0, b('abc'));
    await h.fs.flush(fh);
    const before = h.fs.getattr(ino);
    assert.equal(await h.fs.write(fh, 10 * MiB, Buffer.alloc(0)), 0);
    assert.equal(await h.fs.write(fh, 0, Buffer.alloc(0)), 0);
    const after = h.fs.getattr(ino);
    assert.equal(after.size, 3, 'write(2): with nbyte 0 "no other results"');
    assert.equal(after.mtime, before.mtime, 'timestamps change only when nbyte > 0');
    await h.fs.release(fh);
    assert.equal(h.fs.getattr(ino).size, 3);
  });

  test('offsets past 4 GiB: a sparse file of 5 GiB', async (t) => {
    const h = createFs(t);
    const { ino, fh } = await createFile(h, 'f');
    const far = 5 * 1024 * MiB;
    await h.fs.write(fh, far, b('far away'));
    assert.equal(h.fs.getattr(ino).size, far + 8);
    assert.equal((await readAll(h.fs, fh, far - 2, 20)).toString(), '\0\0far away');
    await h.fs.release(fh);
    const ext = h.extents(ino);
    assert.deepEqual(ext[0], { offset: 0, length: far, hash: null });
    assert.equal(ext.length, 2);
    await h.reopen();
    assert.equal(h.fs.getattr(ino).size, far + 8);
    const r = await h.fs.open(ino, O_RDONLY);
    assert.equal((await readAll(h.fs, r, far, 100)).toString(), 'far away');
    assert.equal(h.fs.lseek(r, 0, SEEK_DATA), far);
    await h.fs.release(r);
  });

  test('utimes on a file with uncommitted writes survives the commit', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(13);
    const { ino, fh } = await createFile(h, 'f');
    await writeAll(h, fh, 0, rnd.bytes(2 * MiB)); // a sequential write
    await h.fs.setattr(ino, { mtime: 1_500_000_000_000_000_000n });
    assert.equal(h.fs.getattr(ino).mtime, 1_500_000_000_000_000_000n);
    await h.fs.release(fh);
    assert.equal(h.fs.getattr(ino).mtime, 1_500_000_000_000_000_000n, 'as cp -p and rsync expect');
    const w = await h.fs.open(ino, O_RDWR);
    await h.fs.write(w, 100, b('x')); // a staged write
    await h.fs.setattr(ino, { mtime: 1_600_000_000_000_000_000n });
    await h.fs.release(w);
    await h.reopen();
    assert.equal(h.fs.getattr(ino).mtime, 1_600_000_000_000_000_000n);
  });

  test('an unlinked open file and a new file of the same name are independent', async (t) => {
    const h = createFs(t);
    const old = await createFile(h, 'f');
    await h.fs.write(old.fh, 0, b('old'));
    h.fs.unlink(ROOT_INO, b('f'));
    const neu = await createFile(h, 'f');
    assert.notEqual(neu.ino, old.ino);
    await h.fs.write(neu.fh, 0, b('new!'));
    await h.fs.write(old.fh, 3, b(' data'));
    await h.fs.release(neu.fh);
    assert.equal((await readAll(h.fs, old.fh, 0, 100)).toString(), 'old data');
    await h.fs.release(old.fh);
    assert.throws(() => h.fs.getattr(old.ino), { code: 'ENOENT' });
    assert.equal((await readFile(h, h.fs.lookup(ROOT_INO, b('f')).ino)).toString(), 'new!');
  });

  test('create: O_EXCL refuses an existing name; without it the file is opened; directories are EISDIR', async (t) => {
    const h = createFs(t);
    const { ino, fh } = await createFile(h, 'f');
    await h.fs.write(fh, 0, b('keep'));
    await h.fs.release(fh);
    await assert.rejects(h.fs.create(USER, ROOT_INO, b('f'), 0o644, O_WRONLY | O_EXCL), { code: 'EEXIST' });
    const again = await h.fs.create(USER, ROOT_INO, b('f'), 0o600, O_RDWR);
    assert.equal(again.attrs.ino, ino);
    assert.equal(again.attrs.mode & 0o777, 0o644, 'an existing file keeps its mode');
    assert.equal((await readAll(h.fs, again.fh, 0, 10)).toString(), 'keep');
    await h.fs.release(again.fh);
    h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    await assert.rejects(h.fs.create(USER, ROOT_INO, b('d'), 0o644, O_WRONLY), { code: 'EISDIR' });
    await assert.rejects(h.fs.open(ROOT_INO, O_RDONLY), { code: 'EISDIR' });
    await assert.rejects(h.fs.open(424242n, O_RDONLY), { code: 'ENOENT' });
    await assert.rejects(h.fs.create(USER, ino, b('x'), 0o644, O_WRONLY), { code: 'ENOTDIR' });
  });

  test('handles: a released or unknown handle is EBADF; a read-only handle cannot write', async (t) => {
    const h = createFs(t);
    const { ino, fh } = await createFile(h, 'f');
    await h.fs.write(fh, 0, b('data'));
    await h.fs.release(fh);
    await assert.rejects(h.fs.read(fh, 0, 10), { code: 'EBADF', name: 'BadHandleError' });
    await assert.rejects(h.fs.write(fh, 0, b('x')), { code: 'EBADF' });
    await assert.rejects(h.fs.fsync(999n), { code: 'EBADF' });
    assert.throws(() => h.fs.lseek(999n, 0, SEEK_DATA), { code: 'EBADF' });
    await h.fs.release(999n); // releasing twice is harmless
    const ro = await h.fs.open(ino, O_RDONLY);
    // write(2) on a descriptor not open for writing
    await assert.rejects(h.fs.write(ro, 0, b('x')), { code: 'EBADF' });
    await h.fs.release(ro);
    assert.equal((await readFile(h, ino)).toString(), 'data');
  });

  test('two handles on one file see each other’s writes; the last close commits', async (t) => {
    const h = createFs(t);
    const { ino, fh: a } = await createFile(h, 'f');
    const c = await h.fs.open(ino, O_RDWR);
    await h.fs.write(a, 0, b('hello '));
    assert.equal((await readAll(h.fs, c, 0, 100)).toString(), 'hello ');
    await h.fs.write(c, 6, b('world'));
    assert.equal((await readAll(h.fs, a, 0, 100)).toString(), 'hello world');
    await h.fs.flush(a);
    await h.fs.release(a);
    assert.equal((await readFile(h, ino)).toString(), 'hello world');
    await h.fs.write(c, 0, b('HELLO'));
    await h.fs.release(c);
    await h.reopen();
    assert.equal((await readFile(h, ino)).toString(), 'HELLO world');
  });

  test('concurrent writes, reads and flushes on one handle keep a consistent file', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(3);
    const { ino, fh } = await createFile(h, 'f');
    const expected = Buffer.alloc(4 * MiB);
    const ops: Array<Promise<unknown>> = [];
    for (let i = 0; i < 16; i++) {
      const off = rnd.int(3 * MiB);
      const data = rnd.bytes(rnd.range(1, 512 * KiB));
      data.copy(expected, off);
      ops.push(h.fs.write(fh, off, data));
      if (i % 5 === 4) ops.push(h.fs.flush(fh));
      ops.push(h.fs.read(fh, rnd.int(3 * MiB), 64 * KiB));
    }
    await Promise.all(ops);
    const size = h.fs.getattr(ino).size;
    await h.fs.release(fh);
    assertCommitted(h, ino, expected.subarray(0, size));
    assert.deepEqual(await readFile(h, ino), expected.subarray(0, size));
  });
});

describe('durability', () => {
  test('fsync makes a file durable: it survives a crash', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(4);
    const data = rnd.bytes(MiB + 77);
    const { ino, fh } = await createFile(h, 'f');
    await writeAll(h, fh, 0, data);
    await h.fs.fsync(fh);
    await h.reopen({ crash: true });
    assert.deepEqual(await readFile(h, ino), data);
    assertCommitted(h, ino, data);
  });

  test('flush (close) also commits before returning; staged writes do not survive a crash', async (t) => {
    const h = createFs(t);
    const { ino, fh } = await createFile(h, 'f');
    await h.fs.write(fh, 0, b('committed'));
    await h.fs.flush(fh);
    await h.fs.write(fh, 0, b('STAGED...'));
    await h.reopen({ crash: true });
    assert.equal((await readFile(h, ino)).toString(), 'committed');
  });

  test('syncAll makes metadata changes durable', async (t) => {
    const h = createFs(t);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    h.fs.symlink(USER, d.ino, b('l'), b('target'));
    h.fs.syncAll();
    assert.equal(h.uncommitted, false);
    await h.reopen({ crash: true });
    assert.equal(h.fs.readlink(h.fs.lookup(d.ino, b('l')).ino).toString(), 'target');
  });

  test('O_TRUNC is staged at open: one version at close with what was written; a crash before close keeps the old content', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(5);
    const { ino, fh } = await createFile(h, 'f');
    const old = rnd.bytes(MiB);
    await writeAll(h, fh, 0, old);
    await h.fs.release(fh);
    const before = h.meta.getInode(ino)?.content;
    await h.fs.open(ino, O_WRONLY | O_TRUNC); // left open: the crash drops the handle
    assert.equal(h.fs.getattr(ino).size, 0, 'the open file is empty at once');
    assert.equal(h.meta.getInode(ino)?.content, before, 'no version committed yet');
    await h.reopen({ crash: true });
    assert.equal(h.fs.getattr(ino).size, MiB, 'nothing acknowledged: the old content stays');
    assert.ok((await readFile(h, ino)).equals(old));

    const fh2 = await h.fs.open(ino, O_WRONLY | O_TRUNC);
    await h.fs.write(fh2, 0, b('xyz'));
    await h.fs.release(fh2);
    const after = h.meta.getInode(ino);
    assert.equal(after?.size, 3);
    assert.equal(h.meta.getVersion(after?.content as bigint)?.base, before, 'one version, based on the old one');
    assert.equal((await readFile(h, ino)).toString(), 'xyz');
    assert.deepEqual(
      h.storedChunks(),
      new Set([createHash('sha256').update('xyz').digest('hex')]),
      'the old chunks are collected',
    );
    // create() on an existing name with O_TRUNC truncates too
    const w = await h.fs.open(ino, O_WRONLY);
    await h.fs.write(w, 0, b('abc'));
    await h.fs.release(w);
    const c = await h.fs.create(USER, ROOT_INO, b('f'), 0o644, O_WRONLY | O_TRUNC);
    assert.equal(c.attrs.size, 0);
    await h.fs.release(c.fh);
    assert.equal((await readFile(h, ino)).length, 0);
  });
});

describe('holes, truncate, fallocate, lseek', () => {
  test('a truncate-extended range is a hole extent, not a chunk of zeros', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(6);
    const data = rnd.bytes(MiB);
    const { ino, fh } = await createFile(h, 'f');
    await writeAll(h, fh, 0, data);
    await h.fs.release(fh);
    const chunks = h.storedChunks().size;
    await h.fs.setattr(ino, { size: 5 * MiB });
    const expected = Buffer.concat([data, Buffer.alloc(4 * MiB)]);
    const ext = assertCommitted(h, ino, expected);
    assert.deepEqual(ext.at(-1), { offset: MiB, length: 4 * MiB, hash: null });
    assert.equal(h.storedChunks().size, chunks, 'no chunk stored for the hole');
    assert.deepEqual(await readFile(h, ino), expected);

    // a file that is all hole
    const s = await createFile(h, 'sparse');
    await h.fs.release(s.fh);
    await h.fs.setattr(s.ino, { size: 100 * MiB });
    assert.deepEqual(h.extents(s.ino), [{ offset: 0, length: 100 * MiB, hash: null }]);
    const r = await h.fs.open(s.ino, O_RDONLY);
    assert.deepEqual(await readAll(h.fs, r, 50 * MiB - 10, 20), Buffer.alloc(20));
    await h.fs.release(r);

    // a write past the end leaves a hole before it
    const g = await createFile(h, 'gap');
    await h.fs.write(g.fh, 0, b('head'));
    await h.fs.write(g.fh, 2 * MiB, b('tail'));
    await h.fs.release(g.fh);
    const gap = h.extents(g.ino);
    assert.ok(
      gap.some((e) => e.hash === null && e.offset <= 4 && e.offset + e.length >= 2 * MiB - 1000),
      `a hole between head and tail: ${gap.map(key).join(' ')}`,
    );
  });

  test('truncate down then up reads zeros in between, before and after the commit', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(7);
    const data = rnd.bytes(3 * MiB);
    const { ino, fh } = await createFile(h, 'f');
    await writeAll(h, fh, 0, data);
    await h.fs.flush(fh);
    await h.fs.write(fh, 2 * MiB, b('staged beyond the cut'));
    await h.fs.setattr(ino, { size: MiB + 5 });
    await h.fs.setattr(ino, { size: 3 * MiB });
    const expected = Buffer.concat([data.subarray(0, MiB + 5), Buffer.alloc(2 * MiB - 5)]);
    assert.deepEqual(await readAll(h.fs, fh, 0, 4 * MiB), expected);
    await h.fs.release(fh);
    assertCommitted(h, ino, expected);
  });

  test('fallocate: mode 0 extends, PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE zero', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(8);
    const data = rnd.bytes(2 * MiB);
    const { ino, fh } = await createFile(h, 'f');
    await writeAll(h, fh, 0, data);
    const expected = Buffer.concat([data, Buffer.alloc(2 * MiB)]);
    await h.fs.fallocate(fh, 3 * MiB, MiB, 0);
    assert.equal(h.fs.getattr(ino).size, 4 * MiB);
    await h.fs.fallocate(fh, 0, MiB, 0);
    assert.equal(h.fs.getattr(ino).size, 4 * MiB, 'mode 0 inside the file changes nothing');
    await h.fs.fallocate(fh, 100, 1000, FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE);
    expected.fill(0, 100, 1100);
    await h.fs.fallocate(fh, 4 * MiB - 10, 100, FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE);
    assert.equal(h.fs.getattr(ino).size, 4 * MiB, 'punching past the end keeps the size');
    await h.fs.fallocate(fh, MiB, 4096, FALLOC_ZERO_RANGE);
    expected.fill(0, MiB, MiB + 4096);
    await h.fs.fallocate(fh, 4 * MiB - 5, 10, FALLOC_ZERO_RANGE | FALLOC_KEEP_SIZE);
    assert.equal(h.fs.getattr(ino).size, 4 * MiB);
    await h.fs.fallocate(fh, 4 * MiB - 5, 10, FALLOC_ZERO_RANGE);
    assert.equal(h.fs.getattr(ino).size, 4 * MiB + 5, 'ZERO_RANGE without KEEP_SIZE extends');
    const full = Buffer.concat([expected, Buffer.alloc(5)]);
    assert.deepEqual(await readAll(h.fs, fh, 0, 5 * MiB), full);
    await h.fs.flush(fh);
    const ext = assertCommitted(h, ino, full);
    assert.ok(
      ext.some((e) => e.hash === null && e.offset <= 3 * MiB && e.offset + e.length >= 4 * MiB - 10),
      'the range mode 0 added is a hole',
    );
    await assert.rejects(h.fs.fallocate(fh, 0, 10, FALLOC_PUNCH_HOLE), { code: 'EOPNOTSUPP' });
    await assert.rejects(h.fs.fallocate(fh, 0, 10, 0x08), { code: 'EOPNOTSUPP' });
    await assert.rejects(h.fs.fallocate(fh, 0, 0, 0), { code: 'EINVAL' });
    await assert.rejects(h.fs.fallocate(fh, -1, 10, 0), { code: 'EINVAL' });
    await h.fs.release(fh);
  });

  test('lseek SEEK_DATA and SEEK_HOLE follow the committed extents; ENXIO past the end', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(9);
    const { ino, fh } = await createFile(h, 'f');
    // data [0,1M) hole [1M,5M) data [5M,6M) hole [6M,10M)
    await writeAll(h, fh, 0, rnd.bytes(MiB));
    await writeAll(h, fh, 5 * MiB, rnd.bytes(MiB));
    await h.fs.flush(fh);
    await h.fs.setattr(ino, { size: 10 * MiB });
    const ext = h.extents(ino);
    assert.deepEqual(
      ext.filter((e) => e.hash === null).map((e) => [e.offset, e.length]),
      [
        [MiB, 4 * MiB],
        [6 * MiB, 4 * MiB],
      ],
    );
    const seek = (off: number, whence: number) => h.fs.lseek(fh, off, whence);
    assert.equal(seek(0, SEEK_DATA), 0);
    assert.equal(seek(0, SEEK_HOLE), MiB);
    assert.equal(seek(MiB - 1, SEEK_HOLE), MiB);
    assert.equal(seek(MiB, SEEK_DATA), 5 * MiB);
    assert.equal(seek(3 * MiB, SEEK_DATA), 5 * MiB);
    assert.equal(seek(3 * MiB, SEEK_HOLE), 3 * MiB);
    assert.equal(seek(5 * MiB + 1, SEEK_DATA), 5 * MiB + 1);
    assert.equal(seek(5 * MiB, SEEK_HOLE), 6 * MiB);
    assert.equal(seek(9 * MiB, SEEK_HOLE), 9 * MiB);
    assert.throws(() => seek(6 * MiB, SEEK_DATA), { code: 'ENXIO', name: 'NoSuchOffsetError' });
    assert.throws(() => seek(10 * MiB, SEEK_HOLE), { code: 'ENXIO' });
    assert.throws(() => seek(10 * MiB, SEEK_DATA), { code: 'ENXIO' });
    assert.throws(() => seek(-1, SEEK_DATA), { code: 'ENXIO' });
    assert.throws(() => seek(0, 0), { code: 'EINVAL' });
    // with uncommitted writes the answers stay valid (the whole file may count as data)
    await h.fs.write(fh, 7 * MiB, b('x'));
    const d = seek(2 * MiB, SEEK_DATA);
    assert.ok(d === 2 * MiB || d === 5 * MiB, `SEEK_DATA gave ${d}`);
    const hole = seek(0, SEEK_HOLE);
    assert.ok(hole === MiB || hole === 10 * MiB, `SEEK_HOLE gave ${hole}`);
    await h.fs.release(fh);
    const e = await h.fs.open((await createFile(h, 'empty')).ino, O_RDONLY);
    assert.throws(() => h.fs.lseek(e, 0, SEEK_DATA), { code: 'ENXIO' });
    assert.throws(() => h.fs.lseek(e, 0, SEEK_HOLE), { code: 'ENXIO' });
    await h.fs.release(e);
  });
});

describe('chunks', () => {
  test('an overwrite of 4 KiB in a 16 MiB file reuses all but a few extents', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(10);
    const data = rnd.bytes(16 * MiB);
    const { ino, fh } = await createFile(h, 'f');
    await writeAll(h, fh, 0, data);
    await h.fs.flush(fh);
    const v1 = assertCommitted(h, ino, data);
    assert.ok(v1.length >= 6, `${v1.length} chunks`);

    const patch = rnd.bytes(4 * KiB);
    await h.fs.write(fh, 8 * MiB + 1000, patch);
    patch.copy(data, 8 * MiB + 1000);
    await h.fs.flush(fh);
    const v2 = assertCommitted(h, ino, data);
    const old = new Set(v1.map(key));
    const fresh = v2.filter((e) => !old.has(key(e)));
    assert.ok(fresh.length >= 1 && fresh.length <= 2, `new extents: ${fresh.map(key).join(' ')}`);
    assert.ok(v2.length - fresh.length >= v1.length - 2, 'the others are reused');
    // the replaced chunks are gone from the store, the rest is exactly what v2 uses
    assert.deepEqual(h.storedChunks(), dataHashes(v2));

    // so does an overwrite at offset 0
    const head = rnd.bytes(4 * KiB);
    await h.fs.write(fh, 0, head);
    head.copy(data, 0);
    await h.fs.flush(fh);
    const v2b = assertCommitted(h, ino, data);
    const v2keys0 = new Set(v2.map(key));
    assert.ok(v2b.filter((e) => !v2keys0.has(key(e))).length <= 2, 'overwrite at 0: only the first chunks change');

    // an append rechunks only the old last chunk
    const more = rnd.bytes(10 * KiB);
    await h.fs.write(fh, data.length, more);
    const grown = Buffer.concat([data, more]);
    await h.fs.flush(fh);
    const v3 = assertCommitted(h, ino, grown);
    const v2keys = new Set(v2b.map(key));
    assert.ok(v3.filter((e) => !v2keys.has(key(e))).length <= 2, 'append: only the tail changes');
    await h.fs.release(fh);
    assert.deepEqual(h.storedChunks(), dataHashes(v3));
  });

  test('data written into a hole continues the run before it, as chunking from scratch would', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(12);
    const data = rnd.bytes(6 * MiB);
    const { ino, fh } = await createFile(h, 'f');
    // data [0,3M), then a hole to 8M: the run's last chunk is cut by the hole, not by its bytes
    await writeAll(h, fh, 0, data.subarray(0, 3 * MiB));
    await h.fs.flush(fh);
    await h.fs.setattr(ino, { size: 8 * MiB });
    // now fill [3M,6M): the data run is [0,6M) and must be chunked as one
    await writeAll(h, fh, 3 * MiB, data.subarray(3 * MiB));
    await h.fs.release(fh);
    const ext = assertCommitted(h, ino, Buffer.concat([data, Buffer.alloc(2 * MiB)]));
    const lengths = chunkLengths(data);
    assert.deepEqual(
      ext.map((e) => [e.length, e.hash !== null]),
      [...lengths.map((n) => [n, true]), [2 * MiB, false]],
      'the same chunks as a file written in one go',
    );
  });

  test('chunks of overwritten and deleted files are removed once nothing uses them', async (t) => {
    const h = createFs(t);
    const rnd = new Prng(11);
    const data = rnd.bytes(3 * MiB);
    const a = await createFile(h, 'a');
    await writeAll(h, a.fh, 0, data);
    await h.fs.flush(a.fh);
    const first = dataHashes(h.extents(a.ino));
    // the same bytes in another file share the chunks
    const c = await createFile(h, 'c');
    await writeAll(h, c.fh, 0, data);
    await h.fs.release(c.fh);
    assert.deepEqual(dataHashes(h.extents(c.ino)), first);
    assert.deepEqual(h.storedChunks(), first);

    // rewrite a completely: its old chunks stay for c
    const other = rnd.bytes(3 * MiB);
    await writeAll(h, a.fh, 0, other);
    await h.fs.release(a.fh);
    const second = dataHashes(h.extents(a.ino));
    assert.deepEqual(h.storedChunks(), new Set([...first, ...second]));
    // deleting c frees the first chunks, deleting a the rest
    h.fs.unlink(ROOT_INO, b('c'));
    assert.deepEqual(h.storedChunks(), second);
    for (const x of first) assert.ok(!h.chunks.has(Buffer.from(x, 'hex')));
    h.fs.unlink(ROOT_INO, b('a'));
    assert.deepEqual(h.storedChunks(), new Set());
    assert.equal(h.chunks.stats().chunks, 0);

    // small files keep their chunk in the database: the same rules apply
    const s = await createFile(h, 's');
    await h.fs.write(s.fh, 0, b('tiny one'));
    await h.fs.flush(s.fh);
    const tiny = dataHashes(h.extents(s.ino));
    await h.fs.write(s.fh, 0, b('TINY TWO'));
    await h.fs.release(s.fh);
    assert.deepEqual(h.storedChunks(), dataHashes(h.extents(s.ino)));
    assert.notDeepEqual(h.storedChunks(), tiny);
    await h.fs.setattr(s.ino, { size: 0 });
    assert.deepEqual(h.storedChunks(), new Set());
  });
});

describe('read-only', () => {
  test('writes are refused with EROFS while readOnly() is true', async (t) => {
    let ro = false;
    const h = createFs(t, { readOnly: () => ro });
    const { ino, fh } = await createFile(h, 'f');
    await h.fs.write(fh, 0, b('before'));
    await h.fs.flush(fh);
    ro = true;
    await assert.rejects(h.fs.write(fh, 0, b('x')), { code: 'EROFS', name: 'ReadOnlyError' });
    await assert.rejects(h.fs.fallocate(fh, 0, MiB, 0), { code: 'EROFS' });
    await assert.rejects(h.fs.open(ino, O_RDONLY | O_TRUNC), { code: 'EROFS' });
    const r = await h.fs.open(ino, O_RDONLY);
    assert.equal((await readAll(h.fs, r, 0, 100)).toString(), 'before');
    await h.fs.release(r);
    await h.fs.release(fh);
    ro = false;
    assert.equal((await readFile(h, ino)).toString(), 'before');
  });
});

/** The expected content of a file, and which bytes were ever written (data) rather than never (holes). */
class FileModel {
  readonly bytes: Buffer;
  readonly written: Uint8Array;
  size = 0;

  constructor(capacity: number) {
    this.bytes = Buffer.alloc(capacity);
    this.written = new Uint8Array(capacity);
  }

  get content(): Buffer {
    return this.bytes.subarray(0, this.size);
  }

  write(off: number, data: Buffer): void {
    data.copy(this.bytes, off);
    this.written.fill(1, off, off + data.length);
    this.size = Math.max(this.size, off + data.length);
  }

  /** Zeros written as data, as fallocate's PUNCH_HOLE and ZERO_RANGE do here. */
  zero(off: number, end: number): void {
    if (end <= off) return;
    this.bytes.fill(0, off, end);
    this.written.fill(1, off, end);
    this.size = Math.max(this.size, end);
  }

  resize(n: number): void {
    if (n < this.size) {
      this.bytes.fill(0, n, this.size);
      this.written.fill(0, n, this.size);
    }
    this.size = n;
  }

  /** The extents of chunking every run of data from its start, with one hole per never-written range. */
  canonical(): Array<[number, number, boolean]> {
    const out: Array<[number, number, boolean]> = [];
    let i = 0;
    while (i < this.size) {
      const data = this.written[i] === 1;
      let j = this.written.indexOf(data ? 0 : 1, i);
      if (j < 0 || j > this.size) j = this.size;
      if (!data) out.push([i, j - i, false]);
      else {
        let off = i;
        for (const len of chunkLengths(this.bytes.subarray(i, j))) {
          out.push([off, len, true]);
          off += len;
        }
      }
      i = j;
    }
    return out;
  }
}

interface ModelOptions {
  seed: number;
  steps: number;
  maxSize: number;
  /** Also require the extents of chunking from scratch (fallocate then only extends). */
  canonical?: boolean;
}

/**
 * Random operations on one file, checked against a FileModel: writes at
 * random offsets (some sequential from 0), truncates, fallocate, flushes,
 * reads and reopens. After each flush the committed extents must tile the
 * file with correct hashes, and the store must hold exactly their chunks.
 */
async function modelRun(h: FsHarness, o: ModelOptions): Promise<void> {
  const rnd = new Prng(o.seed);
  const { maxSize } = o;
  const model = new FileModel(maxSize + MAX_CHUNK);
  const created = await createFile(h, 'model');
  const ino = created.ino;
  let fh = created.fh;
  const log: string[] = [];
  const seen = { holes: 0, chunks: 0 };
  const where = () => `seed ${o.seed}, after: ${log.slice(-6).join('; ')}`;

  const write = async (off: number, data: Buffer) => {
    log.push(`write ${off}+${data.length}`);
    assert.equal(await h.fs.write(fh, off, data), data.length);
    model.write(off, data);
  };
  const offset = () => {
    const r = rnd.int(4);
    if (r === 0) return model.size; // append
    if (r === 1) return Math.max(0, model.size - rnd.int(64 * KiB)); // near the end
    return rnd.int(maxSize);
  };
  const length = () => (rnd.int(3) === 0 ? rnd.range(64 * KiB, 3 * MiB) : rnd.range(1, 64 * KiB));
  const check = async () => {
    await h.fs.flush(fh);
    log.push('flush');
    const ext = assertCommitted(h, ino, model.content);
    assert.deepEqual(h.storedChunks(), dataHashes(ext), `stored chunks are those in use (${where()})`);
    if (o.canonical) {
      assert.deepEqual(
        ext.map((e) => [e.offset, e.length, e.hash !== null]),
        model.canonical(),
        `extents as if chunked from scratch (${where()})`,
      );
    }
    seen.holes += ext.filter((e) => e.hash === null).length;
    seen.chunks = Math.max(seen.chunks, ext.length);
  };

  for (let step = 0; step < o.steps; step++) {
    const op = rnd.int(100);
    if (op < 35) {
      const off = offset();
      const len = Math.min(length(), maxSize - off);
      if (len > 0) await write(off, rnd.bytes(len));
    } else if (op < 39) {
      // a sequential rewrite from the start, as cp or an editor's save does, or an overwrite of the start in place
      if (rnd.int(2) === 0) {
        log.push('truncate 0');
        await h.fs.setattr(ino, { size: 0 });
        model.resize(0);
      }
      const total = rnd.range(1, maxSize / 2);
      for (let p = 0; p < total; p += 256 * KiB) await write(p, rnd.bytes(Math.min(256 * KiB, total - p)));
    } else if (op < 51) {
      const n = rnd.int(3) === 0 ? rnd.int(maxSize) : rnd.int(model.size + 1);
      log.push(`truncate ${n}`);
      await h.fs.setattr(ino, { size: n });
      model.resize(n);
    } else if (op < 63) {
      const modes = [0, FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE, FALLOC_ZERO_RANGE, FALLOC_ZERO_RANGE | FALLOC_KEEP_SIZE];
      const mode = o.canonical ? 0 : rnd.pick(modes);
      const off = rnd.int(3) === 0 ? offset() : rnd.int(model.size + 1);
      const len = Math.min(length(), maxSize - off);
      if (len <= 0) continue;
      log.push(`fallocate ${mode} ${off}+${len}`);
      await h.fs.fallocate(fh, off, len, mode);
      const end = off + len;
      if (mode & FALLOC_KEEP_SIZE) model.zero(off, Math.min(end, model.size));
      else if (mode & FALLOC_ZERO_RANGE) model.zero(off, end);
      else if (end > model.size) model.resize(end);
    } else if (op < 78) {
      await check();
    } else if (op < 97) {
      const off = rnd.int(model.size + 10);
      const len = rnd.range(1, 2 * MiB);
      const got = await readAll(h.fs, fh, off, len);
      const want = model.bytes.subarray(Math.min(off, model.size), Math.min(off + len, model.size));
      assert.deepEqual(got, want, `read ${off}+${len} (${where()})`);
    } else {
      log.push('reopen');
      await h.reopen();
      fh = await h.fs.open(ino, O_RDWR);
      assertCommitted(h, ino, model.content);
    }
    assert.equal(h.fs.getattr(ino).size, model.size, `size (${where()})`);
  }
  await check();
  assert.ok(seen.holes > 0 && seen.chunks > 5, `the run covered holes and many chunks: ${JSON.stringify(seen)}`);
  await h.fs.release(fh);
  await h.reopen();
  assert.deepEqual(await readFile(h, ino), model.content, `content after reopen (${where()})`);
}

describe('model', () => {
  for (const [seed, stagingMemory] of [
    [101, undefined],
    [202, 16 * KiB],
    [303, undefined],
    [404, 4 * MiB],
  ] as const) {
    test(`random writes, truncates, fallocates and flushes match a plain buffer (seed ${seed})`, async (t) => {
      const h = createFs(t, { stagingMemory });
      await modelRun(h, { seed, steps: 70, maxSize: 20 * MiB });
    });
  }

  for (const seed of [505, 606]) {
    test(`committed extents are those of chunking from scratch, holes where never written (seed ${seed})`, async (t) => {
      const h = createFs(t);
      await modelRun(h, { seed, steps: 60, maxSize: 12 * MiB, canonical: true });
    });
  }
});
