import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type TestContext, test } from 'node:test';
import { Prng, tempDir, withDeadline } from '../core/testing.js';
import { Chunker, type ChunkingParams, chunkLengths, DEFAULT_CHUNKING } from './chunker.js';
import { ChunkPipeline, type ChunkRef, type ChunkStream, type PackPlace, type PipelineOptions } from './pipeline.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Small chunks, so a few MiB make many of them, some short enough to be inline. */
const SMALL: ChunkingParams = { minSize: 16 * KiB, avgSize: 64 * KiB, maxSize: 256 * KiB };
const INLINE = 32 * KiB;

interface Fixture {
  packDir: string;
  pipeline: ChunkPipeline;
  params: ChunkingParams;
  inlineMax: number;
}

function setup(t: TestContext, opts: Partial<PipelineOptions> = {}): Fixture {
  const cleanups: Array<() => void | Promise<void>> = [];
  const packDir = tempDir({ after: (fn) => cleanups.push(fn) }, 'wormhole-pipeline-');
  // The workers are unref'd (a daemon always has other live handles): stand in for those.
  const keepAlive = setInterval(() => {}, 60_000);
  const o: PipelineOptions = { packDir, firstPack: 1, inlineMax: INLINE, params: SMALL, ...opts };
  const pipeline = new ChunkPipeline(o);
  pipeline.start();
  t.after(async () => {
    await pipeline.stop();
    clearInterval(keepAlive);
    for (const fn of cleanups) await fn();
  });
  return { packDir, pipeline, params: o.params ?? DEFAULT_CHUNKING, inlineMax: o.inlineMax };
}

function sha(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

function packFile(packDir: string, id: number): string {
  return path.join(packDir, `${String(id).padStart(8, '0')}.pack`);
}

function readPack(packDir: string, id: number, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const fd = fs.openSync(packFile(packDir, id), 'r');
  try {
    assert.equal(fs.readSync(fd, out, 0, length, offset), length, `pack ${id} holds ${offset}+${length}`);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

function sameBytes(actual: Buffer | null, expected: Buffer, what: string): void {
  assert.ok(actual, `${what}: no bytes`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(actual.equals(expected), `${what}: bytes differ`);
}

/** Pushes `data` in uneven pieces of up to `maxPiece` bytes, some of them tiny. */
async function pushInPieces(s: ChunkStream, data: Buffer, rng: Prng, maxPiece = 300 * KiB): Promise<void> {
  for (let off = 0; off < data.length; ) {
    const n = Math.min(data.length - off, rng.int(0, 4) === 0 ? rng.int(1, 100) : rng.int(1, maxPiece));
    await s.push(data.subarray(off, off + n));
    off += n;
  }
}

/** The chunks tile the data, are cut where chunkLengths() cuts, and each one's bytes are where it says. */
function verify(f: Fixture, data: Buffer, chunks: ChunkRef[]): void {
  assert.deepEqual(
    chunks.map((c) => c.length),
    chunkLengths(data, f.params),
  );
  let off = 0;
  for (const [i, c] of chunks.entries()) {
    assert.equal(c.offset, off, `chunk ${i} starts where the previous one ends`);
    const bytes = data.subarray(off, off + c.length);
    assert.deepEqual(c.hash, sha(bytes), `chunk ${i} is named by its hash`);
    if (c.length <= f.inlineMax) {
      assert.equal(c.pack, null, `chunk ${i} of ${c.length} B is inline`);
      sameBytes(c.data, bytes, `inline chunk ${i}`);
    } else {
      assert.equal(c.data, null);
      assert.ok(c.pack !== null);
      sameBytes(readPack(f.packDir, c.pack, c.at, c.length), bytes, `chunk ${i} in pack ${c.pack} at ${c.at}`);
    }
    off += c.length;
  }
  assert.equal(off, data.length);
}

test('a stream pushed in uneven pieces is cut as chunkLengths() cuts it, each chunk stored where it says', async (t) => {
  const f = setup(t);
  const data = new Prng(1).bytes(6 * MiB);
  const s = f.pipeline.open();
  const seen: ChunkRef[] = [];
  s.onChunk = (c) => seen.push(c);
  await pushInPieces(s, data, new Prng(2));
  const chunks = await s.end();
  verify(f, data, chunks);
  assert.deepEqual(seen, chunks, 'onChunk saw every chunk, in order');
  assert.equal(s.fed, data.length);
  assert.equal(s.cut, data.length);

  const packed = chunks.filter((c) => c.pack !== null);
  assert.ok(packed.length > 10 && packed.length < chunks.length, 'both inline and packed chunks');
  let end = 0;
  for (const c of packed) {
    assert.deepEqual([c.pack, c.at], [1, end], 'one stream appends its chunks one after another');
    end += c.length;
  }
  assert.equal(fs.statSync(packFile(f.packDir, 1)).size, end, 'inline chunks are not in the pack');
});

test('an empty stream has no chunks; a stream shorter than inlineMax is one inline chunk', async (t) => {
  const f = setup(t);
  assert.deepEqual(await f.pipeline.open().end(), []);

  const data = new Prng(3).bytes(1000);
  const s = f.pipeline.open();
  await s.push(data.subarray(0, 1));
  await s.push(data.subarray(1));
  const [c, ...rest] = await s.end();
  assert.deepEqual(rest, []);
  assert.deepEqual({ ...c, data: null }, { offset: 0, length: 1000, hash: sha(data), data: null, pack: null, at: 0 });
  sameBytes(c?.data ?? null, data, 'inline chunk');
  assert.deepEqual(fs.readdirSync(f.packDir), [], 'no pack was created');
});

test('push() waits while the ring (2 * maxSize + 2 MiB) is full: a bigger write goes through', async (t) => {
  const f = setup(t, { params: DEFAULT_CHUNKING, inlineMax: 64 * KiB });
  const ring = 2 * DEFAULT_CHUNKING.maxSize + 2 * MiB;
  const data = new Prng(4).bytes(24 * MiB);
  const s = f.pipeline.open();
  let most = 0;
  s.onChunk = () => {
    most = Math.max(most, s.fed - s.cut);
  };
  const pushing = s.push(data);
  assert.equal(s.fed, ring, 'the first step fills the ring and no more');
  await withDeadline('a push of 24 MiB', pushing, 20_000);
  assert.equal(s.fed, data.length);
  assert.ok(most <= ring, `at most a ring of bytes in flight (saw ${most})`);
  verify(f, data, await s.end());
});

test('readRing() returns the bytes not yet cut; settled() and waitCut() follow the workers', async (t) => {
  const f = setup(t);
  const data = new Prng(5).bytes(MiB);
  const s = f.pipeline.open();
  await s.push(data.subarray(0, 10 * KiB));
  await s.settled();
  assert.deepEqual([s.processed, s.cut, s.chunks.length], [10 * KiB, 0, 0], 'less than minSize: no cut yet');
  sameBytes(s.readRing(0, 10 * KiB), data.subarray(0, 10 * KiB), 'the first bytes');
  sameBytes(s.readRing(100, 200), data.subarray(100, 200), 'a slice');

  let endCut = false;
  void s.waitCut(data.length).then(() => {
    endCut = true;
  });
  await pushInPieces(s, data.subarray(10 * KiB), new Prng(6), 100 * KiB);
  await s.settled();
  const cuts = new Chunker(SMALL).push(data);
  const cut = cuts[cuts.length - 1] as number;
  assert.ok(cut > 0 && cut < data.length);
  assert.equal(s.processed, data.length);
  assert.equal(s.cut, cut, 'settled: every cut in the bytes fed is in');
  assert.equal(s.chunks.length, cuts.length);
  sameBytes(s.readRing(cut, data.length), data.subarray(cut), 'the uncut tail');
  assert.throws(() => s.readRing(cut - 1, cut), RangeError);
  assert.throws(() => s.readRing(cut, data.length + 1), RangeError);
  await s.waitCut(cut);
  assert.equal(endCut, false, 'the last cut waits for end()');

  verify(f, data, await s.end());
  await s.waitCut(data.length);
  assert.equal(endCut, true);
});

test('abort() mid-stream fails the pushes under way and later ones; other streams go on', async (t) => {
  const f = setup(t);
  const s = f.pipeline.open();
  const rng = new Prng(7);
  await s.push(rng.bytes(MiB));
  // More than the ring holds: this push waits for cuts when abort() comes.
  const pushing = s.push(rng.bytes(8 * MiB));
  s.abort();
  await assert.rejects(withDeadline('the waiting push', pushing), { name: 'Error', message: /ended/ });
  await assert.rejects(s.push(Buffer.alloc(10)), { message: /ended/ });
  await withDeadline('end() after abort()', s.end());
  const frozen = s.chunks.length;

  const data = new Prng(8).bytes(3 * MiB);
  const next = f.pipeline.open();
  await pushInPieces(next, data, new Prng(9));
  verify(f, data, await next.end());
  assert.equal(s.chunks.length, frozen, 'the aborted stream gets no more chunks');
  const place = await f.pipeline.append(data.subarray(0, 100 * KiB));
  sameBytes(readPack(f.packDir, place.pack, place.offset, 100 * KiB), data.subarray(0, 100 * KiB), 'an append');
});

test('many streams interleaved at once each come out right', async (t) => {
  const f = setup(t);
  const rng = new Prng(10);
  const inputs = Array.from({ length: 8 }, (_, i) => new Prng(100 + i).bytes(rng.int(1, 3 * MiB)));
  const streams = inputs.map(() => f.pipeline.open());
  const offs = inputs.map(() => 0);
  while (offs.some((o, i) => o < (inputs[i] as Buffer).length)) {
    await Promise.all(
      streams.map(async (s, i) => {
        const data = inputs[i] as Buffer;
        const n = Math.min(rng.int(1, 200 * KiB), data.length - (offs[i] as number));
        const from = offs[i] as number;
        offs[i] = from + n;
        if (n > 0) await s.push(data.subarray(from, from + n));
      }),
    );
  }
  const results = await Promise.all(streams.map((s) => s.end()));
  for (const [i, chunks] of results.entries()) verify(f, inputs[i] as Buffer, chunks);
  const ids = new Set(streams.map((s) => s.id));
  assert.equal(ids.size, streams.length, 'each stream has its own id');
});

test('append() packs bytes one after another, rolls over past packMax; seal() starts a new pack', async (t) => {
  const f = setup(t, { firstPack: 5, packMax: 100 * KiB });
  const rng = new Prng(11);
  const parts = [60, 60, 60, 10].map((k) => rng.bytes(k * KiB));
  const places: PackPlace[] = [];
  for (const p of parts.slice(0, 3)) places.push(await f.pipeline.append(p));
  await f.pipeline.seal();
  places.push(await f.pipeline.append(parts[3] as Buffer));
  assert.deepEqual(places, [
    { pack: 5, offset: 0 },
    { pack: 5, offset: 60 * KiB },
    { pack: 6, offset: 0 },
    { pack: 7, offset: 0 },
  ]);
  for (const [i, p] of places.entries()) {
    const bytes = parts[i] as Buffer;
    sameBytes(readPack(f.packDir, p.pack, p.offset, bytes.length), bytes, `part ${i}`);
  }

  // A stream's chunks go to the same active pack, after the appended bytes.
  const data = new Prng(12).bytes(300 * KiB);
  const s = f.pipeline.open();
  await s.push(data);
  const chunks = await s.end();
  verify(f, data, chunks);
  assert.deepEqual([chunks[0]?.pack, chunks[0]?.at], [7, 10 * KiB]);

  await f.pipeline.sync([5, 6, 7]);
  await assert.rejects(f.pipeline.sync([99]), { message: /fsync of chunks failed: ENOENT/ });
});

test('a pack that cannot be created fails that append only; the next one goes to a new pack', async (t) => {
  const f = setup(t, { packMax: 10 * KiB });
  fs.writeFileSync(packFile(f.packDir, 2), 'in the way');
  const data = new Prng(13).bytes(20 * KiB);
  assert.deepEqual(await f.pipeline.append(data), { pack: 1, offset: 0 });
  await assert.rejects(f.pipeline.append(data), { message: /appending a chunk failed: EEXIST/ });
  // The worker must not keep the closed pack 1 as its active pack (it would close its fd again).
  assert.deepEqual(await f.pipeline.append(data), { pack: 3, offset: 0 });
  sameBytes(readPack(f.packDir, 3, 0, data.length), data, 'the append after the failure');
});

test('stop() settles the requests under way and refuses new work', async (t) => {
  const f = setup(t);
  const rng = new Prng(14);
  await f.pipeline.append(rng.bytes(10));
  const s = f.pipeline.open();
  const outcome = (p: Promise<unknown>) => p.catch((err: Error) => err.message);
  const pending = [
    outcome(s.push(rng.bytes(8 * MiB)).then(() => s.end())),
    outcome(f.pipeline.append(rng.bytes(4 * MiB))),
    outcome(f.pipeline.append(rng.bytes(4 * MiB))),
    outcome(f.pipeline.sync([1])),
    outcome(f.pipeline.append(rng.bytes(4 * MiB))),
  ];
  await f.pipeline.stop();
  for (const [i, p] of pending.entries()) await withDeadline(`request ${i} after stop()`, p, 2_000);
  await assert.rejects(f.pipeline.append(Buffer.alloc(1)), { message: /stopped/ });
  assert.throws(() => f.pipeline.open(), { message: /stopped/ });
});
