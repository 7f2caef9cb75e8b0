/**
 * kill -9 of the daemon in the middle of writes. A file whose close()
 * returned (or that was fsynced, or saved with write-fsync-rename-fsync dir)
 * must come back whole after a restart; a file caught mid-write may be
 * missing or old, but nothing may read as EIO and the mount must work.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { seededBytes, sha256, sha256File } from '../helpers/files.js';
import { defer, isMounted, startPod, type TestPod } from '../helpers/pods.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Writes files of argv[4] bytes to 5 MiB into argv[1] until an error stops it,
 * printing "name sha256" only after the file is safe by POSIX's promise:
 * close() returned, or for atomic saves, the rename and the directory fsync.
 */
const WRITER = `
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
const [dir, prefix, seedText, minText] = process.argv.slice(1);
const MIN = Number(minText);
let seed = Number(seedText) >>> 0;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let x = seed;
  x = Math.imul(x ^ (x >>> 15), x | 1);
  x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
};
const MAX = 5 * 1024 * 1024;
const report = (name, data) =>
  fs.writeSync(1, name + ' ' + crypto.createHash('sha256').update(data).digest('hex') + '\\n');
function writeAll(fd, data, piece, syncEvery) {
  for (let off = 0, n = 0; off < data.length; n++) {
    off += fs.writeSync(fd, data, off, Math.min(piece, data.length - off), off);
    if (syncEvery && n % syncEvery === syncEvery - 1) fs.fdatasyncSync(fd);
  }
}
try {
  for (let i = 0; ; i++) {
    // Sizes spread evenly over the orders of magnitude from 1 byte to 5 MiB.
    const size = Math.max(MIN, Math.min(MAX, Math.round(Math.exp(rand() * Math.log(MAX)))));
    const data = crypto.randomBytes(size);
    const name = prefix + String(i).padStart(5, '0');
    const file = path.join(dir, name);
    const piece = [4096, 65536, 1 << 20, 100003][i % 4];
    switch (i % 4) {
      case 0: {
        const fd = fs.openSync(file, 'w');
        writeAll(fd, data, piece, 0);
        fs.closeSync(fd);
        break;
      }
      case 1: {
        const fd = fs.openSync(file, 'w');
        writeAll(fd, data, piece, 0);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        break;
      }
      case 2: {
        const tmp = path.join(dir, '.tmp-' + name);
        const fd = fs.openSync(tmp, 'w');
        writeAll(fd, data, piece, 0);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        fs.renameSync(tmp, file);
        const dfd = fs.openSync(dir, 'r');
        fs.fsyncSync(dfd);
        fs.closeSync(dfd);
        break;
      }
      default: {
        const fd = fs.openSync(file, 'w');
        writeAll(fd, data, piece, 3);
        fs.closeSync(fd);
      }
    }
    report(name, data);
  }
} catch (err) {
  process.stderr.write('writer stopped: ' + err.code + '\\n');
}
`;

interface Writer {
  child: ChildProcess;
  /** name -> sha256 of every file reported safe so far. */
  done: Map<string, string>;
  exited: Promise<number | null>;
}

function startWriter(t: Parameters<typeof defer>[0], dir: string, prefix: string, minSize: number): Writer {
  const seed = prefix.charCodeAt(0);
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', WRITER, dir, prefix, String(seed), String(minSize)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const done = new Map<string, string>();
  let partial = '';
  child.stdout?.on('data', (b: Buffer) => {
    const lines = (partial + b.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      const [name, hash] = l.split(' ');
      if (name && hash) done.set(name, hash);
    }
  });
  child.stderr?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  defer(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, done, exited };
}

async function restart(pod: TestPod): Promise<void> {
  await pod.daemon.start();
  // The dead mount stays until the new daemon replaces it, answering ENOTCONN: wait for a listing that works.
  await waitFor('the remount', () => isMounted(pod.mount) && Array.isArray(fs.readdirSync(pod.mount))).catch((err) => {
    throw new Error(`${err.message}\ndaemon log:\n${pod.daemon.log().split('\n').slice(-20).join('\n')}`);
  });
}

/** Every file the writer reported is there, whole; every file there reads without an error. */
function check(pod: TestPod, dir: string, done: Map<string, string>): void {
  const log = () => pod.daemon.log().split('\n').slice(-30).join('\n');
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const [name, hash] of done) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) missing.push(name);
    else if (sha256File(file) !== hash) wrong.push(`${name} (${fs.statSync(file).size} bytes)`);
  }
  assert.deepEqual(missing, [], `files reported closed are missing; daemon log:\n${log()}`);
  assert.deepEqual(wrong, [], `files reported closed have other content; daemon log:\n${log()}`);
  const unreadable: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    try {
      sha256File(path.join(dir, name));
    } catch (err) {
      unreadable.push(`${name}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
  assert.deepEqual(unreadable, [], 'every file that exists reads without an error');
}

test('kill -9 during a stream of writes', { timeout: 5 * 60_000 }, async (t) => {
  const pod = await startPod(t);
  const dir = path.join(pod.mount, 'stream');
  fs.mkdirSync(dir);

  await t.test('every file reported closed survives each kill whole, and every file reads', async (t) => {
    const all = new Map<string, string>();

    // Files from 1 byte up; then only big ones, killed once the next one is half written.
    for (const [round, after, minSize] of [
      ['a', 40, 1],
      ['b', 25, 1],
      ['c', 7, 1],
      ['d', 3, 4 << 20],
      ['e', 1, 4 << 20],
      ['f', 1, 4 << 20],
    ] as const) {
      const w = startWriter(t, dir, `${round}-`, minSize);
      await waitFor(
        `${after} files written in round ${round}`,
        () => w.done.size >= after || w.child.exitCode !== null,
        120_000,
      );
      if (minSize > 1) {
        await waitFor(`a file of round ${round} half written`, () =>
          fs
            .readdirSync(dir)
            .some((n) => n.includes(`${round}-`) && !w.done.has(n) && fs.statSync(path.join(dir, n)).size >= 3 << 20),
        );
      }
      assert.equal(w.child.exitCode, null, 'the writer was still writing when the daemon was killed');
      await pod.daemon.kill9();
      assert.equal(await w.exited, 0, 'the writer stops on the first error');
      for (const [k, v] of w.done) all.set(k, v);
      t.diagnostic(`round ${round}: ${w.done.size} files closed before the kill`);
      await restart(pod);
      check(pod, dir, all);
    }

    const after = path.join(dir, 'after-restart');
    fs.writeFileSync(after, 'the mount works');
    assert.equal(fs.readFileSync(after, 'utf8'), 'the mount works');
  });

  await t.test('chunks stored for files the kills cut short are given back once every file is deleted', async () => {
    fs.rmSync(dir, { recursive: true });
    await pod.daemon.stop();
    await restart(pod);
    const usage = async () => {
      const [info] = JSON.parse(await pod.daemon.ok(['pod', 'list', '--json'])) as Array<Record<string, number>>;
      return { files: info?.files, bytes: info?.bytes, chunks: info?.chunks, chunkBytes: info?.chunkBytes };
    };
    let last = await usage();
    await waitFor(
      'the space to be given back',
      async () => {
        last = await usage();
        return last.files === 0 && last.chunks === 0;
      },
      5000,
    ).catch(() => undefined);
    assert.deepEqual(
      last,
      { files: 0, bytes: 0, chunks: 0, chunkBytes: 0 },
      'nothing is left once all files are deleted',
    );
  });
});

test('kill -9 with files open: the last closed or fsynced version survives, staged writes are not half applied', async (t) => {
  const pod = await startPod(t);
  const m = (n: string) => path.join(pod.mount, n);
  const v1 = seededBytes('v1', 3 * 1024 * 1024 + 5);
  fs.writeFileSync(m('file'), v1);
  fs.writeFileSync(m('grown'), 'short');
  const synced = seededBytes('synced', 2 * 1024 * 1024 + 1);
  const later = seededBytes('later', 100_000);

  // A child holds the files open with writes staged, neither closed nor (after the fsync) synced.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const fs = require('node:fs');
       const crypto = require('node:crypto');
       const [file, grown, fsynced] = process.argv.slice(1);
       const seeded = (seed, n) => crypto
         .createCipheriv('aes-128-ctr', crypto.createHash('sha256').update(seed).digest().subarray(0, 16), Buffer.alloc(16))
         .update(Buffer.alloc(n));
       const a = fs.openSync(file, 'r+');
       fs.writeSync(a, Buffer.alloc(1 << 20, 0x55), 0, 1 << 20, 1 << 20);
       const b = fs.openSync(grown, 'r+');
       fs.writeSync(b, Buffer.alloc(5 << 20, 0x66), 0, 5 << 20, 0);
       const c = fs.openSync(fsynced, 'w');
       fs.writeSync(c, seeded('synced', ${synced.length}));
       fs.fsyncSync(c);
       fs.writeSync(c, seeded('later', ${later.length}));
       process.stdout.write('staged\\n');
       process.stdin.resume();`,
      m('file'),
      m('grown'),
      m('fsynced'),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const exited = new Promise((resolve) => child.on('exit', resolve));
  defer(t, async () => {
    child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  await waitFor('the writes to be staged', () => out.includes('staged') || child.exitCode !== null);
  assert.equal(out, 'staged\n');
  await pod.daemon.kill9();
  child.kill('SIGKILL');
  await exited;
  await restart(pod);

  const back = fs.readFileSync(m('file'));
  assert.equal(back.length, v1.length);
  assert.equal(sha256(back), sha256(v1), 'the last closed version, not a mix with the staged writes');
  assert.equal(fs.readFileSync(m('grown'), 'utf8'), 'short');
  const f = fs.readFileSync(m('fsynced'));
  assert.ok(
    f.equals(synced) || f.equals(Buffer.concat([synced, later])),
    `fsynced data survives (got ${f.length} bytes, fsynced ${synced.length})`,
  );
});

test('a clean stop with a file still open commits what it staged', async (t) => {
  const pod = await startPod(t);
  const file = path.join(pod.mount, 'open');
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const fs = require('node:fs');
       const fd = fs.openSync(process.argv[1], 'w');
       fs.writeSync(fd, 'written, never closed');
       process.stdout.write('staged\\n');
       process.stdin.resume();`,
      file,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const exited = new Promise((resolve) => child.on('exit', resolve));
  defer(t, async () => {
    child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  await waitFor('the write to be staged', () => out.includes('staged') || child.exitCode !== null);
  assert.equal(out, 'staged\n');
  await pod.daemon.stop();
  assert.equal(isMounted(pod.mount), false, 'stop unmounts even with a file open');
  child.kill('SIGKILL');
  await exited;
  await restart(pod);
  assert.equal(fs.readFileSync(file, 'utf8'), 'written, never closed');
});
