import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { Prng } from '../core/testing.js';
import { encodeFrame, type Frame, FrameDecoder, FrameError } from './frame.js';

const packr = new Packr({ useRecords: false });

function header(length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(length);
  return b;
}

function rawFrame(value: unknown): Buffer {
  const body = packr.pack(value);
  return Buffer.concat([header(body.length), body]);
}

const samples: Frame[] = [
  { t: 'hello', v: 1 },
  { t: 'req', id: 7, type: 'chunk.get', body: { hash: 'ab'.repeat(32), offset: 0 } },
  { t: 'msg', type: 'op', body: { stamp: 2n ** 63n + 5n, name: Buffer.from('héllo'), list: [1, 'two', null, true] } },
  { t: 'res', id: 1, ok: false, error: { name: 'NotFoundError', message: 'no such chunk', code: 'ENOENT' } },
  { t: 'x', empty: Buffer.alloc(0), nested: { a: { b: { c: [] } } } },
];

test('frames round-trip whole, byte by byte, and split at random points', () => {
  const stream = Buffer.concat(samples.map((s) => encodeFrame(s)));
  assert.deepEqual(new FrameDecoder().push(stream), samples);

  const d = new FrameDecoder();
  const got: Frame[] = [];
  for (let i = 0; i < stream.length; i++) got.push(...d.push(stream.subarray(i, i + 1)));
  assert.deepEqual(got, samples);

  const prng = new Prng(7);
  for (let round = 0; round < 50; round++) {
    const dec = new FrameDecoder();
    const out: Frame[] = [];
    let pos = 0;
    while (pos < stream.length) {
      const n = prng.int(1, 40);
      out.push(...dec.push(stream.subarray(pos, pos + n)));
      pos += n;
    }
    assert.deepEqual(out, samples);
  }
});

test('bigints, Buffers and a 4 MiB field survive', () => {
  const data = new Prng(1).bytes(4 * 1024 * 1024);
  const [f] = new FrameDecoder().push(encodeFrame({ t: 'msg', body: { data, n: -(2n ** 62n) } }));
  const body = f!.body as { data: Buffer; n: bigint };
  assert.ok(Buffer.isBuffer(body.data));
  assert.ok(body.data.equals(data));
  assert.equal(body.n, -(2n ** 62n));
});

test('an oversized length is refused from its header alone', () => {
  const d = new FrameDecoder(1024);
  assert.throws(() => d.push(header(0xffffffff)), { name: 'FrameError', message: /exceeds the limit/ });
  assert.throws(() => new FrameDecoder(1024).push(header(1025)), { name: 'FrameError' });
  assert.equal(new FrameDecoder(1024).push(header(1024)).length, 0, 'a frame at the limit is awaited');
});

test('encodeFrame refuses a body the receiver would refuse', () => {
  assert.throws(() => encodeFrame({ t: 'msg', body: Buffer.alloc(2000) }, 1024), { name: 'FrameError' });
});

test('a body that is not a message object with a string t is a FrameError', () => {
  for (const value of [[1, 2], 'text', 42, null, { a: 1 }, { t: 5 }, new Date(0)]) {
    assert.throws(() => new FrameDecoder().push(rawFrame(value)), { name: 'FrameError' }, JSON.stringify(value));
  }
  assert.throws(() => new FrameDecoder().push(header(0)), { name: 'FrameError', message: /empty/ });
  const trailing = packr.pack({ t: 'a' });
  const body = Buffer.concat([trailing, Buffer.from([1, 2])]);
  assert.throws(() => new FrameDecoder().push(Buffer.concat([header(body.length), body])), { name: 'FrameError' });
});

test('fuzz: random bytes, truncations and bit flips only ever raise FrameError', () => {
  const prng = new Prng(2024);
  const valid = Buffer.concat(samples.map((s) => encodeFrame(s)));
  const expectOnlyFrameErrors = (chunks: Buffer[], maxFrame: number) => {
    const d = new FrameDecoder(maxFrame);
    try {
      for (const c of chunks) for (const f of d.push(c)) assert.equal(typeof f.t, 'string');
    } catch (err) {
      assert.ok(err instanceof FrameError, `unexpected ${(err as Error)?.name}: ${(err as Error)?.message}`);
    }
  };
  for (let i = 0; i < 3000; i++) {
    const kind = i % 3;
    let bytes: Buffer;
    if (kind === 0) {
      // a plausible header, then random bytes
      const n = prng.int(0, 300);
      bytes = Buffer.concat([header(prng.int(0, n + 10)), prng.bytes(n)]);
    } else if (kind === 1) {
      // a valid stream cut short, with a random frame's body cut mid-way
      const frame = encodeFrame(samples[prng.int(0, samples.length)]!);
      const cut = prng.int(4, frame.length);
      const body = frame.subarray(4, cut);
      bytes = Buffer.concat([header(body.length), body]);
    } else {
      bytes = Buffer.from(valid);
      for (let k = prng.int(1, 8); k > 0; k--) bytes[prng.int(0, bytes.length)]! ^= 1 << prng.int(0, 8);
    }
    const chunks: Buffer[] = [];
    for (let pos = 0; pos < bytes.length; ) {
      const n = prng.int(1, 64);
      chunks.push(bytes.subarray(pos, pos + n));
      pos += n;
    }
    expectOnlyFrameErrors(chunks, prng.int(16, 4096));
  }
});
