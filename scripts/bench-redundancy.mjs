#!/usr/bin/env node
// bench-redundancy.mjs WORKDIR: the redundancy figures of docs/PERFORMANCE.md.
//  - placement (computed, no daemons): standard deviation of bytes per pod
//    with 10,000 chunks, and the share of replica bytes that move when a
//    sixth pod joins five;
//  - restore: five storage pods over loopback TLS, redundancy 2, SIZE_MIB
//    (default 2048) written; one pod is killed and the grace period set to
//    1 s; time from the kill until every chunk has two copies again, and
//    the bytes sent meanwhile.
// Env: SIZE_MIB. Prints lines starting with "redundancy:".
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mounted, root, stopAll, until, wh } from './lib/bench-pods.mjs';

const work = process.argv[2];
if (!work) {
  console.error('usage: bench-redundancy.mjs WORKDIR');
  process.exit(2);
}
const SIZE_MIB = Number(process.env.SIZE_MIB ?? 2048);
/** Placing and restoring gigabytes on a small VM takes minutes. */
const LONG = 1_800_000;
const pods = [0, 1, 2, 3, 4].map((i) => ({
  n: `p${i}`,
  home: path.join(work, `p${i}`, 'home'),
  mnt: path.join(work, `p${i}`, 'mnt'),
}));

const health = (pod) => JSON.parse(wh(pod, ['status', '--json'])).pods[0].health;

async function placement() {
  const m = await import(path.join(root, 'dist/src/replication/placement-stats.js'));
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  const one = m.balance(10_000, m.samplePods(5, ['a']), 2);
  const six = m.balance(10_000, m.samplePods(6, ['a', 'b']), 2);
  const uneven = m.balance(10_000, m.samplePods(5, ['a', 'b']), 2);
  console.log(
    `redundancy: placement of 10,000 chunks (R=2, equal capacities): stddev of bytes per pod ${pct(one.relStddev)} of the mean with 5 pods in one zone, ${pct(six.relStddev)} with 6 pods in 2 zones of 3, ${pct(uneven.relStddev)} with 5 pods in zones of 3 and 2 (each zone holds one replica)`,
  );
  const j = m.movedOnJoin(10_000, m.samplePods(5, ['a']), { id: 'sixth', zone: 'a', weight: 1 }, 2);
  console.log(
    `redundancy: a sixth pod joining five moves ${pct(j.fraction)} of the replica bytes (ideal ${pct(1 / 6)}), ${j.toOthers} bytes between the old pods`,
  );
}

async function restore() {
  const [a, ...rest] = pods;
  fs.mkdirSync(path.dirname(a.home), { recursive: true });
  wh(a, ['daemon', 'start']);
  wh(a, ['network', 'create', 'bench', '--mount', a.mnt, '--pod', a.n, '--listen', '127.0.0.1:0']);
  await until('the mount of p0', () => mounted(a.mnt));
  for (const p of rest) {
    fs.mkdirSync(path.dirname(p.home), { recursive: true });
    wh(p, ['daemon', 'start']);
    const token = wh(a, ['invite', 'bench']).trim();
    wh(p, ['join', token, '--mount', p.mnt, '--pod', p.n, '--listen', '127.0.0.1:0']);
    await until(`the mount of ${p.n}`, () => mounted(p.mnt));
  }
  await until('five pods connected', () => health(a).pods.filter((p) => p.state === 'connected').length === 4);
  const piece = Buffer.alloc(1 << 20);
  let t0 = Date.now();
  for (let f = 0; f < SIZE_MIB / 256; f++) {
    const fd = fs.openSync(path.join(a.mnt, `f${f}.bin`), 'w');
    for (let i = 0; i < 256; i++) {
      for (let j = 0; j < piece.length; j += 8) piece.writeDoubleLE(Math.random(), j);
      fs.writeSync(fd, piece);
    }
    fs.closeSync(fd);
  }
  await until(
    'every chunk on its two targets',
    () => {
      const h = health(a);
      const copies = h.pods.reduce((s, p) => s + (p.chunks ?? 0), 0);
      return h.below === 0 && !h.repair.active && copies === 2 * h.chunks;
    },
    LONG,
  );
  let h = health(a);
  console.log(
    `redundancy: wrote ${SIZE_MIB} MiB on five pods (R=2) and placed it in ${((Date.now() - t0) / 1000).toFixed(1)} s; per pod: ${h.pods.map((p) => `${p.name} ${(p.bytes / 2 ** 20).toFixed(0)} MiB`).join(', ')}`,
  );
  const victim = pods[4];
  const held = h.pods.find((p) => p.name === victim.n).bytes;
  wh(a, ['network', 'set', 'bench', 'grace', '1s']);
  const pid = Number(fs.readFileSync(path.join(victim.home, 'wormholed.pid'), 'utf8'));
  const sentBefore = pods
    .slice(0, 4)
    .reduce((s, p) => s + JSON.parse(wh(p, ['status', '--json'])).pods[0].sync.sentBytes, 0);
  t0 = Date.now();
  process.kill(pid, 'SIGKILL');
  await until('p4 seen lost', () => health(a).pods.find((p) => p.name === victim.n).state === 'lost');
  const lostAt = Date.now();
  await until(
    'redundancy restored',
    () => {
      h = health(a);
      return h.below === 0 && !h.repair.active;
    },
    LONG,
  );
  const ms = Date.now() - lostAt;
  const sent =
    pods.slice(0, 4).reduce((s, p) => s + JSON.parse(wh(p, ['status', '--json'])).pods[0].sync.sentBytes, 0) -
    sentBefore;
  console.log(
    `redundancy: restore after losing 1 of 5 pods (it held ${(held / 2 ** 20).toFixed(0)} MiB): ${(sent / 2 ** 20).toFixed(0)} MiB copied in ${(ms / 1000).toFixed(1)} s from the grace period's end = ${(sent / 2 ** 20 / (ms / 1000)).toFixed(0)} MiB/s (${((Date.now() - t0) / 1000).toFixed(1)} s from the kill)`,
  );
  if (mounted(victim.mnt)) spawnSync('umount', ['-l', victim.mnt]);
}

try {
  await placement();
  await restore();
} finally {
  stopAll(pods);
}
