/** A 1 GiB file through the mount: same SHA-256 and same bytes at any offset, before and after a restart. */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { SeededBytes, seededSlice, sha256File } from '../helpers/files.js';
import { isMounted, startPod } from '../helpers/pods.js';
import { waitFor } from '../helpers/wait.js';

const MiB = 1 << 20;
const GiB = 1024 * MiB;
const SEED = 'bigfile';

/** Reads at offsets that straddle write, chunk and MiB boundaries and the end. */
function spotCheck(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    const offsets = [0, 1, 4095, MiB - 3, 64 * MiB + 12345, 512 * MiB - 7, GiB - 70_000, GiB - 1];
    for (const off of offsets) {
      const len = Math.min(70_000, GiB - off);
      const buf = Buffer.alloc(len);
      assert.equal(fs.readSync(fd, buf, 0, len, off), len, `read at ${off}`);
      assert.ok(buf.equals(seededSlice(SEED, off, len)), `bytes at offset ${off}`);
    }
    assert.equal(fs.readSync(fd, Buffer.alloc(10), 0, 10, GiB), 0, 'nothing past the end');
  } finally {
    fs.closeSync(fd);
  }
}

test('a 1 GiB file reads back with the same SHA-256, also after a daemon restart', {
  timeout: 10 * 60_000,
}, async (t) => {
  const pod = await startPod(t);
  const file = path.join(pod.mount, 'big.bin');
  const gen = new SeededBytes(SEED);
  const hash = crypto.createHash('sha256');
  // Writes of uneven sizes, so requests start and end off page and chunk boundaries.
  const sizes = [MiB, 4 * MiB + 4097, 65_536, 3 * MiB - 1, 12_345];
  const fd = fs.openSync(file, 'w');
  let written = 0;
  for (let i = 0; written < GiB; i++) {
    const n = Math.min(sizes[i % sizes.length] as number, GiB - written);
    const data = gen.next(n);
    hash.update(data);
    let off = 0;
    while (off < n) off += fs.writeSync(fd, data, off, n - off, written + off);
    written += n;
  }
  fs.closeSync(fd);
  const expected = hash.digest('hex');

  assert.equal(fs.statSync(file).size, GiB);
  assert.equal(sha256File(file), expected);
  spotCheck(file);

  await pod.daemon.stop();
  await pod.daemon.start();
  await waitFor('the remount', () => isMounted(pod.mount));
  assert.equal(fs.statSync(file).size, GiB);
  assert.equal(sha256File(file), expected, 'the same bytes after a restart');
  spotCheck(file);
});
