import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type TestContext, test } from 'node:test';
import { Prng, tempDir, withDeadline } from '../core/testing.js';
import { chunkLengths } from './chunker.js';
import { ChunkStore, type ChunkStoreOptions, sha256 } from './chunks.js';
import { type Db, openDatabase } from './db.js';
import type { ChunkRef, ChunkStream } from './pipeline.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Fixture {
  db: Db;
  store: ChunkStore;
  /** Stops the store and opens a new one on the same directory and database, as after a restart. */
  restart(): Promise<ChunkStore>;
}

function setup(t: TestContext, opts: Partial<ChunkStoreOptions> = {}): Fixture {
  const cleanups: Array<() => void | Promise<void>> = [];
  const dir = tempDir({ after: (fn) => cleanups.push(fn) }, 'wormhole-chunks-');
  const db = openDatabase(path.join(dir, 'meta.db'));
  // The pipeline's workers are unref'd (a daemon always has other live handles): stand in for those.
  const keepAlive = setInterval(() => {}, 60_000);
  const stores: ChunkStore[] = [];
  t.after(async () => {
    for (const s of stores) await s.stop();
    db.close();
    clearInterval(keepAlive);
    for (const fn of cleanups) await fn();
  });
  const open = () => {
    const s = new ChunkStore({ dir, db, ...opts });
    s.start();
    stores.push(s);
    return s;
  };
  const f: Fixture = {
    db,
    store: open(),
    async restart() {
      await f.store.stop();
      f.store = open();
      return f.store;
    },
  };
  return f;
}

type Chunk = { hash: Buffer; data: Buffer };

function chunk(seed: number, size: number): Chunk {
  const data = new Prng(seed).bytes(size);
  return { hash: createHash('sha256').update(data).digest(), data };
}

function packFile(store: ChunkStore, id: number): string {
  return path.join(store.packDir, `${String(id).padStart(8, '0')}.pack`);
}

/** Where the index says a chunk is. */
function placeOf(db: Db, hash: Buffer): { size: number; pack: number | null; offset: number | null } | undefined {
  return db.prepare('SELECT size, pack, offset FROM chunks WHERE hash = ?').get(hash) as never;
}

function readPack(store: ChunkStore, id: number, offset: number, length: number): Buffer {
  return fs.readFileSync(packFile(store, id)).subarray(offset, offset + length);
}

function sameBytes(actual: Buffer, expected: Buffer, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(actual.equals(expected), `${what}: bytes differ`);
}

async function pushInPieces(s: ChunkStream, data: Buffer, rng: Prng): Promise<void> {
  for (let off = 0; off < data.length; ) {
    const n = Math.min(data.length - off, rng.int(0, 4) === 0 ? rng.int(1, 100) : rng.int(1, 3 * MiB));
    await s.push(data.subarray(off, off + n));
    off += n;
  }
}

const liveBytes = (store: ChunkStore) => store.packs().reduce((a, p) => a + p.live, 0);

test('sha256 hashes views of larger buffers correctly, small and large', async () => {
  const big = new Prng(1).bytes(3 * MiB);
  for (const view of [big.subarray(5, 1000), big.subarray(7, 7 + 2 * MiB), big]) {
    assert.deepEqual(await sha256(view), createHash('sha256').update(view).digest());
  }
});

test('a small chunk is kept inline: readable at once, stored with the next flushInline()', async (t) => {
  const f = setup(t);
  const c = chunk(1, 1000);
  await f.store.put(c.hash, c.data);
  assert.equal(f.store.has(c.hash), true);
  assert.deepEqual(await f.store.get(c.hash), c.data);
  assert.deepEqual(f.store.stats(), { chunks: 0, bytes: 0, packs: 0, packBytes: 0 }, 'nothing before flushInline()');
  assert.equal(await f.store.sync([c.hash]), undefined, 'sync() of a chunk not yet flushed');

  f.store.flushInline();
  assert.deepEqual(f.store.stats(), { chunks: 1, bytes: 1000, packs: 0, packBytes: 0 });
  assert.deepEqual(placeOf(f.db, c.hash), { size: 1000, pack: null, offset: null });
  assert.deepEqual(fs.readdirSync(f.store.packDir), [], 'an inline chunk is in no pack');
  await f.store.sync([c.hash]);
  assert.deepEqual(await (await f.restart()).get(c.hash), c.data);
});

test('an inline chunk put but never flushed is gone after a restart; removed once released, it is dropped', async (t) => {
  const f = setup(t);
  const kept = chunk(2, 500);
  const removed = chunk(3, 100);
  await f.store.put(kept.hash, kept.data);
  await f.store.put(removed.hash, removed.data);
  f.store.release([removed.hash]);
  f.store.remove(removed.hash);
  assert.equal(f.store.has(removed.hash), false);
  const again = await f.restart();
  assert.equal(again.has(kept.hash), false);
  await assert.rejects(again.get(kept.hash), { name: 'MissingChunkError', code: 'EIO' });
});

test('bigger chunks are appended to a pack at the offset the index records; sync() flushes it', async (t) => {
  const f = setup(t);
  const chunks = [chunk(4, 200 * KiB), chunk(5, 4 * MiB), chunk(6, 64 * KiB), chunk(7, 64 * KiB + 1)];
  for (const c of chunks) await f.store.put(c.hash, c.data);
  f.store.flushInline();
  const packed = [chunks[0], chunks[1], chunks[3]] as Chunk[];
  let end = 0;
  for (const c of packed) {
    const place = placeOf(f.db, c.hash);
    assert.deepEqual(place, { size: c.data.length, pack: 1, offset: end });
    sameBytes(readPack(f.store, 1, end, c.data.length), c.data, `the pack at ${end}`);
    end += c.data.length;
  }
  assert.equal(placeOf(f.db, (chunks[2] as Chunk).hash)?.pack, null, 'inlineMax is inclusive');
  assert.deepEqual(f.store.packs(), [{ id: 1, end, live: end }]);
  const bytes = end + 64 * KiB;
  assert.deepEqual(f.store.stats(), { chunks: 4, bytes, packs: 1, packBytes: end });
  assert.equal(await f.store.sync([...chunks.map((c) => c.hash), chunk(8, 10).hash]), undefined);

  const again = await f.restart();
  for (const c of chunks) sameBytes(await again.get(c.hash), c.data, 'after restart');
});

test('putting a chunk already stored adds nothing; concurrent puts of a new one append it once', async (t) => {
  const f = setup(t);
  const big = chunk(8, 300 * KiB);
  const small = chunk(9, 10 * KiB);
  await f.store.put(big.hash, big.data);
  f.store.flushInline();
  await f.store.put(big.hash, Buffer.from(big.data));
  await Promise.all([f.store.put(small.hash, small.data), f.store.put(small.hash, Buffer.from(small.data))]);
  f.store.flushInline();
  await f.store.put(small.hash, small.data);
  f.store.flushInline();
  assert.deepEqual(f.store.stats(), { chunks: 2, bytes: 310 * KiB, packs: 1, packBytes: 300 * KiB });
  assert.equal(fs.statSync(packFile(f.store, 1)).size, 300 * KiB);

  const c = chunk(10, MiB);
  await Promise.all([1, 2, 3].map(() => f.store.put(c.hash, c.data)));
  assert.deepEqual(f.store.stats(), { chunks: 3, bytes: 1334 * KiB, packs: 1, packBytes: 1324 * KiB });
  sameBytes(await (await f.restart()).get(c.hash), c.data, 'after restart');
});

test('a corrupt chunk, in a pack or inline, is refused with CorruptChunkError and dropped', async (t) => {
  const f = setup(t);
  const [c, other, small] = [chunk(11, 256 * KiB), chunk(12, 100 * KiB), chunk(13, 2000)];
  for (const x of [c, other, small]) await f.store.put(x.hash, x.data);
  f.store.flushInline();
  f.store.release([c.hash, other.hash, small.hash]);
  const offset = placeOf(f.db, c.hash)?.offset as number;
  const fd = fs.openSync(packFile(f.store, 1), 'r+');
  fs.writeSync(fd, Buffer.from([(c.data[1000] as number) ^ 1]), 0, 1, offset + 1000);
  fs.closeSync(fd);
  f.db.prepare('UPDATE chunk_data SET data = ? WHERE hash = ?').run(Buffer.alloc(2000), small.hash);

  const store = await f.restart();
  for (const x of [c, small]) {
    await assert.rejects(store.get(x.hash), { name: 'CorruptChunkError', code: 'EIO' });
    assert.equal(store.has(x.hash), false);
    await assert.rejects(store.get(x.hash), { name: 'MissingChunkError' });
  }
  assert.deepEqual(store.packs(), [{ id: 1, end: 356 * KiB, live: 100 * KiB }]);
  assert.equal(f.db.prepare('SELECT count(*) AS n FROM chunk_data').pluck().get(), 0);
  sameBytes(await store.get(other.hash), other.data, 'the chunk next to it');
});

test('a chunk found corrupt while held is dropped too, so the good bytes can be stored again', async (t) => {
  const f = setup(t);
  const c = chunk(14, 256 * KiB);
  await f.store.put(c.hash, c.data);
  fs.writeFileSync(packFile(f.store, 1), Buffer.alloc(c.data.length));
  f.store.cache.clear();

  await assert.rejects(f.store.get(c.hash), { name: 'CorruptChunkError' });
  assert.equal(f.store.isHeld(c.hash), true);
  assert.equal(f.store.has(c.hash), false, 'the corrupt copy is still recorded as the chunk');
  await f.store.put(c.hash, c.data);
  assert.deepEqual(placeOf(f.db, c.hash), { size: 256 * KiB, pack: 1, offset: 256 * KiB });
  sameBytes(await (await f.restart()).get(c.hash), c.data, 'stored again');
});

test('a chunk whose pack is cut short or gone is refused with MissingChunkError and forgotten', async (t) => {
  const f = setup(t);
  const a = chunk(15, 200 * KiB);
  const b = chunk(16, 200 * KiB);
  await f.store.put(a.hash, a.data);
  await f.store.put(b.hash, b.data);
  f.store.release([a.hash, b.hash]);
  await f.store.stop();
  fs.truncateSync(packFile(f.store, 1), 200 * KiB + 10);

  let store = await f.restart();
  await assert.rejects(store.get(b.hash), { name: 'MissingChunkError', code: 'EIO' });
  assert.equal(store.has(b.hash), false);
  sameBytes(await store.get(a.hash), a.data, 'the whole chunk before the cut');

  await store.stop();
  fs.unlinkSync(packFile(store, 1));
  store = await f.restart();
  await assert.rejects(store.get(a.hash), { name: 'MissingChunkError', code: 'EIO' });
  assert.equal(store.has(a.hash), false);
  assert.deepEqual(store.stats().chunks, 0);
  await assert.rejects(store.get(chunk(17, 10).hash), { name: 'MissingChunkError' });
});

test('a held chunk survives remove(); once released it is dropped and its pack bytes become garbage', async (t) => {
  const f = setup(t);
  const big = chunk(18, 100 * KiB);
  const small = chunk(19, 100);
  await f.store.put(big.hash, big.data);
  await f.store.put(big.hash, big.data);
  await f.store.put(small.hash, small.data);
  f.store.flushInline();
  assert.equal(f.store.isHeld(big.hash), true);

  f.store.remove(big.hash);
  f.store.remove(small.hash);
  assert.equal(f.store.has(big.hash), true);
  assert.equal(f.store.has(small.hash), true);

  f.store.release([big.hash, small.hash]);
  assert.equal(f.store.isHeld(big.hash), true, 'put twice, released once');
  assert.equal(f.store.isHeld(small.hash), false);
  f.store.release([big.hash]);
  f.store.release([big.hash]);
  assert.equal(f.store.isHeld(big.hash), false, 'an extra release does not go negative');

  f.store.remove(big.hash);
  f.store.remove(small.hash);
  assert.equal(f.store.has(big.hash), false);
  assert.equal(f.store.has(small.hash), false);
  assert.deepEqual(f.store.stats(), { chunks: 0, bytes: 0, packs: 1, packBytes: 100 * KiB });
  assert.deepEqual(f.store.packs(), [{ id: 1, end: 100 * KiB, live: 0 }]);
  await assert.rejects(f.store.get(big.hash), { name: 'MissingChunkError' });
  await assert.rejects(f.store.get(small.hash), { name: 'MissingChunkError' });
  f.store.remove(big.hash);

  // A hold taken again by a later put protects the chunk again.
  await f.store.put(big.hash, big.data);
  f.store.remove(big.hash);
  assert.deepEqual(f.store.packs(), [{ id: 1, end: 200 * KiB, live: 100 * KiB }]);
  sameBytes(await (await f.restart()).get(big.hash), big.data, 'after restart');
});

test('start() deletes pack files no pack row refers to, and each run appends to a new pack', async (t) => {
  const f = setup(t);
  const c = chunk(20, 100 * KiB);
  await f.store.put(c.hash, c.data);
  await f.store.stop();
  fs.writeFileSync(packFile(f.store, 42), 'left by a crash');
  fs.writeFileSync(packFile(f.store, 0), 'left by a crash');

  const store = await f.restart();
  assert.deepEqual(fs.readdirSync(store.packDir), ['00000001.pack']);
  sameBytes(await store.get(c.hash), c.data, 'the known pack is kept');
  const d = chunk(21, 100 * KiB);
  await store.put(d.hash, d.data);
  const pack = placeOf(f.db, d.hash)?.pack;
  assert.ok(pack !== null && pack !== undefined && pack > 1, `a new pack (${pack})`);
  assert.equal(fs.statSync(packFile(store, 1)).size, 100 * KiB, 'the old pack is not appended to');
});

test('the RAM cache serves repeated reads and stop() empties it', async (t) => {
  const f = setup(t);
  const c = chunk(26, 256 * KiB);
  await f.store.put(c.hash, c.data);
  assert.equal(f.store.cache.has(c.hash.toString('hex')), true);
  await f.store.stop();
  assert.equal(f.store.cache.bytes, 0);
  await f.store.get(c.hash);
  assert.equal(f.store.cache.bytes, 256 * KiB, 'a verified read is cached');
});

test('stop() settles the puts under way; once started again the store takes and serves those chunks', async (t) => {
  const f = setup(t);
  const chunks = Array.from({ length: 10 }, (_, i) => chunk(40 + i, 4 * MiB));
  const puts = chunks.map((c) => f.store.put(c.hash, c.data).catch((err: Error) => err.name));
  await f.store.stop();
  for (const [i, p] of puts.entries()) await withDeadline(`put ${i} under way at stop()`, p, 2_000);
  f.store.start();
  for (const c of chunks) {
    await withDeadline('a put after start()', f.store.put(c.hash, c.data), 2_000);
    f.store.cache.clear();
    sameBytes(await withDeadline('a get after start()', f.store.get(c.hash), 2_000), c.data, 'stored again');
  }
});

test('a stream is chunked as chunkLengths() cuts it; its chunks are listed, held and readable', async (t) => {
  const f = setup(t);
  const data = new Prng(27).bytes(20 * MiB);
  const s = f.store.openStream();
  await pushInPieces(s, data, new Prng(28));
  const chunks = await s.end();
  assert.deepEqual(chunks.map((c) => c.length).join(), chunkLengths(data).join());
  let off = 0;
  for (const c of chunks) {
    assert.equal(c.offset, off);
    const bytes = data.subarray(off, off + c.length);
    assert.deepEqual(c.hash, createHash('sha256').update(bytes).digest());
    assert.equal(f.store.isHeld(c.hash), true);
    if (c.pack !== null) assert.deepEqual(placeOf(f.db, c.hash), { size: c.length, pack: c.pack, offset: c.at });
    sameBytes(await f.store.get(c.hash), bytes, `chunk at ${off}`);
    off += c.length;
  }
  assert.equal(off, data.length);
  f.store.flushInline();
  assert.deepEqual([f.store.stats().chunks, f.store.stats().bytes], [chunks.length, data.length]);
  f.store.release(chunks.map((c) => c.hash));
  assert.ok(chunks.every((c) => !f.store.isHeld(c.hash)));

  const again = await f.restart();
  for (const c of chunks) sameBytes(await again.get(c.hash), data.subarray(c.offset, c.offset + c.length), 'again');
});

test('a stream shorter than inlineMax comes back inline; a stream stored twice adds no chunk', async (t) => {
  const f = setup(t);
  const small = new Prng(29).bytes(1000);
  const s = f.store.openStream();
  await s.push(small);
  const [c] = await s.end();
  assert.deepEqual([c?.length, c?.pack], [1000, null]);
  const hash = c?.hash as Buffer;
  sameBytes(await f.store.get(hash), small, 'inline stream chunk');
  assert.equal(f.store.stats().chunks, 0, 'written by flushInline()');
  f.store.flushInline();
  assert.deepEqual(placeOf(f.db, hash), { size: 1000, pack: null, offset: null });

  const data = new Prng(30).bytes(3 * MiB);
  const store = async () => {
    const st = f.store.openStream();
    await st.push(data);
    return st.end();
  };
  const first = await store();
  f.store.flushInline();
  const before = f.store.stats();
  const live = liveBytes(f.store);
  const second = await store();
  f.store.flushInline();
  const names = (cs: ChunkRef[]) => cs.map((x) => x.hash.toString('hex'));
  assert.deepEqual(names(second), names(first));
  assert.deepEqual({ ...f.store.stats(), packBytes: 0 }, { ...before, packBytes: 0 });
  assert.equal(liveBytes(f.store), live, 'the second copy is garbage');
});

test('abort() mid-stream leaves the store usable', async (t) => {
  const f = setup(t);
  const s = f.store.openStream();
  await s.push(new Prng(31).bytes(6 * MiB));
  s.abort();
  await assert.rejects(s.push(Buffer.alloc(1)), { message: /ended/ });
  for (const c of s.chunks) assert.equal((await f.store.get(c.hash)).length, c.length);

  const data = new Prng(32).bytes(5 * MiB);
  const next = f.store.openStream();
  await pushInPieces(next, data, new Prng(33));
  for (const c of await next.end()) {
    sameBytes(await f.store.get(c.hash), data.subarray(c.offset, c.offset + c.length), `chunk at ${c.offset}`);
  }
});

test('compact() rewrites closed packs that are mostly garbage; their live chunks still read back', async (t) => {
  const f = setup(t, { packMax: MiB });
  const chunks = Array.from({ length: 12 }, (_, i) => chunk(100 + i, 200 * KiB));
  for (const c of chunks) await f.store.put(c.hash, c.data);
  f.store.release(chunks.map((c) => c.hash));
  const first = f.store.packs()[0];
  assert.ok(first && f.store.packs().length >= 2, 'the first pack is closed');
  const inFirst = chunks.filter((c) => placeOf(f.db, c.hash)?.pack === first.id);
  assert.ok(inFirst.length >= 4);
  const [kept, ...dropped] = inFirst as [Chunk, ...Chunk[]];
  for (const c of dropped) f.store.remove(c.hash);
  const before = f.store.stats();

  assert.equal(await f.store.compact(), first.end);
  assert.equal(fs.existsSync(packFile(f.store, first.id)), false, 'the old pack file is gone');
  assert.ok(!f.store.packs().some((p) => p.id === first.id), 'nor its row');
  const after = f.store.stats();
  assert.deepEqual(
    { chunks: after.chunks, bytes: after.bytes, packBytes: after.packBytes },
    { chunks: before.chunks, bytes: before.bytes, packBytes: before.packBytes - first.end + kept.data.length },
  );
  assert.equal(liveBytes(f.store), after.bytes, 'every byte left in a pack but the moved chunk is live');
  const place = placeOf(f.db, kept.hash);
  assert.ok(place?.pack && place.pack !== first.id);
  sameBytes(readPack(f.store, place.pack, place.offset as number, kept.data.length), kept.data, 'moved');
  f.store.cache.clear();
  for (const c of chunks.filter((x) => !dropped.includes(x))) sameBytes(await f.store.get(c.hash), c.data, 'live');
  assert.equal(await f.store.compact(), 0, 'nothing more to reclaim');
  const again = await f.restart();
  sameBytes(await again.get(kept.hash), kept.data, 'after restart');
});

test('get() concurrent with compact() still reads every live chunk', async (t) => {
  // Many small packs: more than the 64 pack files the store keeps open, so reads open and close them too.
  const f = setup(t, { packMax: 20 * KiB, inlineMax: KiB, ramBytes: 0 });
  const chunks = Array.from({ length: 300 }, (_, i) => chunk(1000 + i, 8 * KiB));
  for (const c of chunks) await f.store.put(c.hash, c.data);
  f.store.release(chunks.map((c) => c.hash));
  const old = f.store.packs().map((p) => p.id);
  assert.ok(old.length > 64);
  const live = chunks.filter((_, i) => i % 3 === 1);
  for (const c of chunks.filter((_, i) => i % 3 !== 1)) f.store.remove(c.hash);

  let compacting = true;
  const done = f.store.compact().finally(() => {
    compacting = false;
  });
  assert.equal(f.store.compact(), f.store.compact(), 'one compaction at a time');
  let reads = 0;
  const reader = async (from: number) => {
    do {
      for (let i = 0; i < live.length; i++) {
        const c = live[(from + i) % live.length] as Chunk;
        sameBytes(await f.store.get(c.hash), c.data, `read ${reads}`);
        reads++;
      }
    } while (compacting);
  };
  const [reclaimed] = await Promise.all([done, reader(0), reader(25), reader(50), reader(75)]);
  assert.ok(reclaimed > 0);
  assert.ok(reads >= 4 * live.length);
  assert.deepEqual(
    f.store.packs().filter((p) => old.slice(0, -1).includes(p.id)),
    [],
    'every closed pack was compacted',
  );
  for (const c of live) sameBytes(await f.store.get(c.hash), c.data, 'after compaction');
});
