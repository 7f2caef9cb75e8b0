import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { Prng } from '../core/testing.js';
import { Chunker, type ChunkingParams, chunkLengths, DEFAULT_CHUNKING, validateParams } from './chunker.js';

const MiB = 1024 * 1024;
const SMALL: ChunkingParams = { minSize: 64, avgSize: 256, maxSize: 1024 };

/** 64 MiB of seeded random bytes and their chunking, shared by the tests that need that much. */
const DATA = new Prng(42).bytes(64 * MiB);
const DATA_LENGTHS = chunkLengths(DATA);

function chunkHashes(data: Buffer, lengths: number[]): string[] {
  const out: string[] = [];
  let off = 0;
  for (const len of lengths) {
    out.push(
      createHash('sha256')
        .update(data.subarray(off, off + len))
        .digest('hex'),
    );
    off += len;
  }
  return out;
}

const DATA_HASHES = chunkHashes(DATA, DATA_LENGTHS);

/** How many chunks of `edited` are not chunks of DATA, and how many of DATA are gone. */
function changedChunks(edited: Buffer): { added: number; removed: number } {
  const hashes = chunkHashes(edited, chunkLengths(edited));
  const before = new Set(DATA_HASHES);
  const after = new Set(hashes);
  return {
    added: hashes.filter((h) => !before.has(h)).length,
    removed: DATA_HASHES.filter((h) => !after.has(h)).length,
  };
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Feeds `data` in pieces of the sizes `nextSize` gives; returns every cut. */
function cutsInPieces(data: Buffer, params: ChunkingParams, nextSize: () => number): number[] {
  const c = new Chunker(params);
  const cuts: number[] = [];
  for (let off = 0; off < data.length; ) {
    const len = Math.min(nextSize(), data.length - off);
    cuts.push(...c.push(data.subarray(off, off + len)));
    off += len;
  }
  cuts.push(...c.finish());
  return cuts;
}

function cutsOf(lengths: number[]): number[] {
  let off = 0;
  return lengths.map((l) => (off += l));
}

test('cut points depend only on the bytes, and are pinned (the gear table decides dedup on every pod)', () => {
  const data = new Prng(1).bytes(8 * MiB);
  const lengths = chunkLengths(data);
  assert.deepEqual(lengths, [1193310, 1064198, 1146934, 1435504, 1130360, 1286958, 1130719, 625]);
  assert.deepEqual(chunkLengths(Buffer.from(data)), lengths);
});

test('every chunk but the last is within [min, max], and the chunks cover the data exactly', () => {
  const { minSize, maxSize } = DEFAULT_CHUNKING;
  assert.equal(sum(DATA_LENGTHS), DATA.length);
  for (const len of DATA_LENGTHS.slice(0, -1)) {
    assert.ok(len >= minSize && len <= maxSize, `chunk of ${len} bytes outside [${minSize}, ${maxSize}]`);
  }
  const last = DATA_LENGTHS[DATA_LENGTHS.length - 1] as number;
  assert.ok(last > 0 && last <= maxSize);

  const small = new Prng(2).bytes(MiB);
  const lengths = chunkLengths(small, SMALL);
  assert.equal(sum(lengths), small.length);
  for (const len of lengths.slice(0, -1)) assert.ok(len >= SMALL.minSize && len <= SMALL.maxSize, `${len}`);
});

test('the mean chunk size of random data is near the target average', () => {
  const mean = DATA.length / DATA_LENGTHS.length;
  const avg = DEFAULT_CHUNKING.avgSize;
  assert.ok(mean >= 0.6 * avg && mean <= 1.5 * avg, `mean ${mean} for an average of ${avg}`);

  const small = chunkLengths(new Prng(3).bytes(4 * MiB), SMALL);
  const smallMean = (4 * MiB) / small.length;
  assert.ok(smallMean >= 0.6 * SMALL.avgSize && smallMean <= 1.5 * SMALL.avgSize, `mean ${smallMean}`);
});

test('inserting 100 bytes in the middle changes only the chunks around it', () => {
  const mid = 32 * MiB + 12345;
  const edited = Buffer.concat([DATA.subarray(0, mid), new Prng(7).bytes(100), DATA.subarray(mid)]);
  const { added, removed } = changedChunks(edited);
  assert.ok(added >= 1 && added <= 3, `${added} new chunks`);
  assert.ok(removed >= 1 && removed <= 3, `${removed} chunks gone`);
});

test('deleting 100 bytes in the middle changes only the chunks around it', () => {
  const mid = 32 * MiB + 12345;
  const edited = Buffer.concat([DATA.subarray(0, mid), DATA.subarray(mid + 100)]);
  const { added, removed } = changedChunks(edited);
  assert.ok(added >= 1 && added <= 3, `${added} new chunks`);
  assert.ok(removed >= 1 && removed <= 3, `${removed} chunks gone`);
});

test('overwriting 4 KiB in the middle changes only the chunks around it', () => {
  const edited = Buffer.from(DATA);
  new Prng(9).bytes(4096).copy(edited, 32 * MiB + 12345);
  const { added, removed } = changedChunks(edited);
  assert.ok(added >= 1 && added <= 3, `${added} new chunks`);
  assert.ok(removed >= 1 && removed <= 3, `${removed} chunks gone`);
});

test('feeding the data in pieces of any size gives the same cuts as one push', () => {
  const whole = cutsOf(DATA_LENGTHS);
  const rng = new Prng(11);
  // Mostly large pieces, with empty and tiny ones mixed in so cuts fall at piece edges too.
  const size = () => {
    const r = rng.float();
    return r < 0.1 ? 0 : r < 0.3 ? rng.int(1, 100) : rng.int(1, 3 * MiB);
  };
  assert.deepEqual(cutsInPieces(DATA, DEFAULT_CHUNKING, size), whole);

  const small = new Prng(12).bytes(512 * 1024);
  const smallWhole = cutsOf(chunkLengths(small, SMALL));
  assert.deepEqual(
    cutsInPieces(small, SMALL, () => rng.int(1, 300)),
    smallWhole,
  );
  assert.deepEqual(
    cutsInPieces(small, SMALL, () => 1),
    smallWhole,
  );
});

test('zeros and short repeating patterns cut at the maximum size', () => {
  const max = DEFAULT_CHUNKING.maxSize;
  assert.deepEqual(chunkLengths(Buffer.alloc(10 * MiB)), [max, max, 2 * MiB]);
  const pattern = Buffer.alloc(10 * MiB);
  for (let i = 0; i < pattern.length; i++) pattern[i] = 'wormhole'.charCodeAt(i % 8);
  assert.deepEqual(chunkLengths(pattern), [max, max, 2 * MiB]);
  assert.deepEqual(chunkLengths(Buffer.alloc(3000, 0xaa), SMALL), [1024, 1024, 952]);
});

test('finish() returns the last cut only when bytes remain', () => {
  assert.deepEqual(new Chunker().finish(), []);
  assert.deepEqual(chunkLengths(Buffer.alloc(0)), []);
  assert.deepEqual(chunkLengths(Buffer.alloc(1000)), [1000]);

  const c = new Chunker(SMALL);
  assert.deepEqual(c.push(Buffer.alloc(2048)), [1024, 2048]);
  assert.deepEqual(c.finish(), [], 'the stream ended on a cut');
  assert.deepEqual(c.push(Buffer.alloc(10)), []);
  assert.deepEqual(c.finish(), [2058], 'offsets stay absolute after finish()');
  assert.deepEqual(c.finish(), []);
});

test('invalid chunking parameters are refused', () => {
  const bad: ChunkingParams[] = [
    { minSize: 32, avgSize: 256, maxSize: 1024 },
    { minSize: 256, avgSize: 256, maxSize: 1024 },
    { minSize: 64, avgSize: 1024, maxSize: 1024 },
    { minSize: 64, avgSize: 300, maxSize: 1024 },
  ];
  for (const p of bad) {
    assert.throws(() => validateParams(p), { name: 'RangeError' }, JSON.stringify(p));
    assert.throws(() => new Chunker(p), { name: 'RangeError' });
  }
  validateParams(DEFAULT_CHUNKING);
  validateParams(SMALL);
});
