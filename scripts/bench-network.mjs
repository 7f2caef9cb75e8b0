#!/usr/bin/env node
// bench-network.mjs WORKDIR: the network figures of docs/PERFORMANCE.md, on
// real daemons over loopback TLS.
//  - propagation: close() of a 4 KiB file in mount A until mount B reads its
//    content, TRIALS times (default 100): p50, p95, max;
//  - remote read: a SIZE_MIB file (default 1024) written in A; a pod C that
//    joins afterwards (so holds none of its chunks) reads it: MiB/s;
//  - for comparison, the same file read back in A (chunks local) and a
//    single TLS stream's raw throughput is left to the transport unit tests.
// C joins as a cache pod, so placement never sends it chunks. Env: TRIALS, SIZE_MIB. Prints lines starting with "network:".
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mounted, stopAll, until, wh } from './lib/bench-pods.mjs';

const work = process.argv[2];
if (!work) {
  console.error('usage: bench-network.mjs WORKDIR');
  process.exit(2);
}
const TRIALS = Number(process.env.TRIALS ?? 100);
const SIZE_MIB = Number(process.env.SIZE_MIB ?? 1024);
const pods = ['a', 'b', 'c'].map((n) => ({ n, home: path.join(work, n, 'home'), mnt: path.join(work, n, 'mnt') }));

function readOr(file) {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

function pct(xs, p) {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function join(pod, via, extra = []) {
  fs.mkdirSync(path.dirname(pod.home), { recursive: true });
  wh(pod, ['daemon', 'start']);
  const token = wh(via, ['invite', 'bench']).trim();
  wh(pod, ['join', token, '--mount', pod.mnt, '--pod', pod.n, '--listen', '127.0.0.1:0', ...extra]);
  await until(`the mount of ${pod.n}`, () => mounted(pod.mnt));
}

async function main() {
  const [a, b, c] = pods;
  fs.mkdirSync(path.dirname(a.home), { recursive: true });
  wh(a, ['daemon', 'start']);
  wh(a, ['network', 'create', 'bench', '--mount', a.mnt, '--pod', 'a', '--listen', '127.0.0.1:0']);
  await until('the mount of a', () => mounted(a.mnt));
  await join(b, a);
  await until('a and b connected', () => wh(a, ['pod', 'list']).includes('connected'));

  // Propagation latency: close() in A until B reads the content.
  const lat = [];
  const block = Buffer.alloc(4096);
  for (let i = 0; i < TRIALS; i++) {
    block.write(`trial ${i} ${Date.now()}`.padEnd(64, '.'));
    const name = `lat-${i}`;
    fs.writeFileSync(path.join(a.mnt, name), block);
    const t0 = process.hrtime.bigint();
    const target = path.join(b.mnt, name);
    await until(`${name} on b`, () => readOr(target)?.equals(block), 30_000);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(
    `network: propagation of a 4 KiB file, close() in A to content readable in B, ${TRIALS} trials: p50 ${pct(lat, 50).toFixed(1)} ms, p95 ${pct(lat, 95).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`,
  );

  // A large file written in A (redundancy 2: every chunk also pushed to B).
  const big = path.join(a.mnt, 'big.bin');
  const piece = Buffer.alloc(1 << 20);
  const hash = createHash('sha256');
  let t0 = Date.now();
  const fd = fs.openSync(big, 'w');
  for (let i = 0; i < SIZE_MIB; i++) {
    for (let j = 0; j < piece.length; j += 8) piece.writeDoubleLE(Math.random(), j);
    hash.update(piece);
    fs.writeSync(fd, piece);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  const want = hash.digest('hex');
  console.log(
    `network: wrote ${SIZE_MIB} MiB in A at ${((SIZE_MIB * 1000) / (Date.now() - t0)).toFixed(0)} MiB/s (chunks pushed to B meanwhile)`,
  );

  // C, a cache pod (never a target), joins once A has pushed every chunk to B: it holds none of them.
  await until(
    'the push of the chunks to B',
    () => JSON.parse(wh(a, ['status', '--json'])).pods[0].sync.backlog === 0,
    600_000,
  );
  await join(c, a, ['--role', 'cache']);
  const onC = path.join(c.mnt, 'big.bin');
  await until('big.bin on c', () => fs.statSync(onC, { throwIfNoEntry: false })?.size === SIZE_MIB << 20);
  const readAll = (file) => {
    const h = createHash('sha256');
    const buf = Buffer.alloc(4 << 20);
    const f = fs.openSync(file, 'r');
    let n;
    const start = Date.now();
    while ((n = fs.readSync(f, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
    fs.closeSync(f);
    return { ms: Date.now() - start, sha: h.digest('hex') };
  };
  t0 = Date.now();
  const remote = readAll(onC);
  if (remote.sha !== want) throw new Error('the file read in C differs from the one written in A');
  const stats = JSON.parse(wh(c, ['status', '--json'])).pods[0].sync;
  console.log(
    `network: read ${SIZE_MIB} MiB in C, all chunks on A and B, over loopback TLS: ${((SIZE_MIB * 1000) / remote.ms).toFixed(0)} MiB/s (${(stats.fetchedBytes / 2 ** 20).toFixed(0)} MiB fetched, SHA-256 equal)`,
  );
  spawnSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
  const again = readAll(onC);
  console.log(
    `network: read again in C, chunks now in its cache, kernel cache dropped: ${((SIZE_MIB * 1000) / again.ms).toFixed(0)} MiB/s`,
  );
  const local = readAll(big);
  console.log(
    `network: read in A (chunks local), kernel cache dropped: ${((SIZE_MIB * 1000) / local.ms).toFixed(0)} MiB/s`,
  );
}

/**
 * The yardstick: one TLS 1.3 stream between two processes on loopback
 * (a pod certificate made with the project's PKI), 1 GiB in 1 MiB writes.
 */
async function rawTls() {
  const pki = await import('../dist/src/net/pki.js');
  const ca = await pki.createAuthority('bench');
  const { key, publicKey } = await pki.createKeyPair();
  const cert = await pki.issuePodCertificate(ca, { podId: '0123456789abcdef', network: 'bench', publicKey });
  const tls = await import('node:tls');
  const server = tls.createServer({ key, cert, minVersion: 'TLSv1.3' }, (sock) => {
    sock.setNoDelay(true);
    const buf = Buffer.alloc(1 << 20, 1);
    let n = 0;
    const go = () => {
      while (n < 1024) {
        n++;
        if (!sock.write(buf)) return sock.once('drain', go);
      }
      sock.end();
    };
    go();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const reader = `const tls=require('node:tls');const t0=Date.now();let got=0;const s=tls.connect({port:${server.address().port},host:'127.0.0.1',rejectUnauthorized:false});s.on('data',d=>{got+=d.length});s.on('end',()=>{console.log((got/2**20)/((Date.now()-t0)/1000));process.exit(0)});`;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', reader], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  await new Promise((resolve, reject) => {
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the TLS reader exited ${code}`))));
    child.once('error', reject);
  });
  const mibs = Number(out.trim());
  server.close();
  console.log(
    `network: one TLS 1.3 stream between two processes on loopback, 1 GiB: ${mibs.toFixed(0)} MiB/s (the yardstick)`,
  );
}

try {
  await rawTls();
  await main();
} finally {
  stopAll(pods);
}
