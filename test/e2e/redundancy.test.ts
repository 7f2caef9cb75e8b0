/**
 * Redundancy, placement and failures, end to end: five storage pods in two
 * zones, each daemon in its own network namespace, redundancy 2.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type TestContext, test } from 'node:test';
import { SeededBytes, sha256, sha256File } from '../helpers/files.js';
import { health, podInfo, readError, sent, settled, where } from '../helpers/health.js';
import { type NetPod, startNetwork, type TestNetwork } from '../helpers/network.js';
import { isMounted } from '../helpers/pods.js';

const MiB = 1024 * 1024;
const ZONES = ['east', 'west'];
const zoneOf = (name: string) => ZONES[Number(name.slice(3)) % 2];

/** The files written, by name, with their SHA-256. */
const files = new Map<string, string>();

function writeTree(dir: string): void {
  const gen = new SeededBytes('redundancy');
  for (let i = 0; i < 3; i++) {
    const data = gen.next(6 * MiB);
    fs.writeFileSync(path.join(dir, `big-${i}.bin`), data);
    files.set(`big-${i}.bin`, sha256(data));
  }
  fs.mkdirSync(path.join(dir, 'small'));
  for (let i = 0; i < 24; i++) {
    const data = gen.next(20_000);
    fs.writeFileSync(path.join(dir, 'small', `s-${i}`), data);
    files.set(`small/s-${i}`, sha256(data));
  }
}

function checkAll(p: NetPod, except: Set<string> = new Set()): void {
  for (const [name, sum] of files) if (!except.has(name)) assert.equal(sha256File(path.join(p.mount, name)), sum, name);
}

/** Waits until a pass of `p`'s reconciler has run after now (two, to be sure one started after). */
async function passes(net: TestNetwork, p: NetPod, n = 2): Promise<void> {
  const since = Date.now();
  let seen = 0;
  let last = 0;
  await net.waitFor(`${n} replication passes on ${p.name}`, async () => {
    const h = await health(p);
    if ((h.at ?? 0) > since && h.at !== last) {
      seen++;
      last = h.at ?? 0;
    }
    return seen >= n;
  });
}

async function placement(t: TestContext, net: TestNetwork): Promise<void> {
  const [a] = net.pods as [NetPod];
  writeTree(a.mount);
  const h = await net.waitFor('every chunk on its two targets', () => settled(a, 5), 60_000);
  t.diagnostic(
    `${h.chunks} chunks, ${h.bytes} bytes; per pod: ${h.pods.map((p) => `${p.name} ${p.chunks}`).join(', ')}`,
  );
  for (const name of files.keys()) {
    const w = await where(a, path.join(a.mount, name));
    assert.ok(w.ranges.length > 0, `${name} has chunks`);
    for (const r of w.ranges) {
      assert.equal(r.holders.length, 2, `${name} ${r.start}-${r.end} is held by ${r.holders}`);
      assert.notEqual(zoneOf(r.holders[0] as string), zoneOf(r.holders[1] as string), `${name}: ${r.holders}`);
      assert.deepEqual([...r.holders].sort(), [...r.targets].sort(), `${name}: held where placed`);
    }
  }
  // Every pod holds a share (no pod left out, none holding everything).
  for (const p of h.pods) assert.ok((p.chunks ?? 0) > 0 && (p.chunks ?? 0) < h.chunks, `${p.name}: ${p.chunks}`);
}

async function isolation(t: TestContext, net: TestNetwork): Promise<void> {
  const [a, , , , e] = net.pods as [NetPod, NetPod, NetPod, NetPod, NetPod];
  const others = net.pods.slice(0, 4);
  // What pod4 holds whole, before the cut.
  const held = new Set<string>();
  for (const name of files.keys()) {
    const w = await where(a, path.join(a.mount, name));
    if (w.ranges.every((r) => r.holders.includes('pod4'))) held.add(name);
  }
  const before = await sent(others);
  await net.cut(4);
  try {
    await net.waitFor('pod4 knows it is isolated', async () => (await health(e)).state === 'isolated');
    await net.waitFor(
      'the others see pod4 unreachable',
      async () => (await health(a)).pods.find((p) => p.name === 'pod4')?.state === 'unreachable',
    );
    // The isolated pod keeps serving what it holds, fails the rest promptly, and takes changes (queued).
    checkAll(e, new Set([...files.keys()].filter((f) => !held.has(f))));
    const missing = [...files.keys()].find((f) => !held.has(f));
    if (missing) assert.equal(readError(path.join(e.mount, missing)), 'EIO', `${missing} is not on pod4`);
    fs.writeFileSync(path.join(e.mount, 'iso.txt'), 'written while isolated');
    assert.equal((await health(e)).access, 'read-write', 'an isolated pod stays writable');
    await passes(net, a);
    const h = await health(a);
    assert.equal(h.state, 'favorable', 'within the grace period, a silent pod is only unreachable');
    assert.ok(h.below > 0, 'its chunks count as below their redundancy');
    assert.deepEqual(await sent(others), before, 'no repair before the grace period');
    t.diagnostic(`pod4 served the ${held.size} files it holds whole while isolated`);
  } finally {
    await net.heal(4);
  }
  await net.waitFor('the change made while isolated reaches pod0', () => {
    try {
      return fs.readFileSync(path.join(a.mount, 'iso.txt'), 'utf8') === 'written while isolated';
    } catch {
      return false;
    }
  });
  await net.waitFor('pod4 back in the network', async () => (await health(e)).state === 'favorable');
  await net.waitFor('settled after healing', () => settled(a, 5), 60_000);
  files.set('iso.txt', sha256(Buffer.from('written while isolated')));
  t.diagnostic('isolated pod converged after healing');
}

async function killOne(t: TestContext, net: TestNetwork): Promise<void> {
  const [a, b, , d] = net.pods as [NetPod, NetPod, NetPod, NetPod];
  const survivors = net.pods.filter((p) => p !== d);
  await d.daemon.kill9();
  await net.waitFor(
    'pod3 unreachable',
    async () => (await health(a)).pods.find((p) => p.name === 'pod3')?.state === 'unreachable',
  );
  const before = await sent(survivors);
  await passes(net, a);
  assert.deepEqual(await sent(survivors), before, 'nothing moves during the grace period');
  const during = await health(a);
  assert.equal(during.state, 'favorable');
  assert.ok(during.below > 0);

  const started = Date.now();
  await a.daemon.ok(['network', 'set', net.name, 'grace', '2s']);
  const h = await net.waitFor(
    'redundancy rebuilt without pod3',
    async () => {
      const x = await health(a);
      return x.below === 0 && x.pods.find((p) => p.name === 'pod3')?.state === 'lost' && !x.repair.active && x;
    },
    60_000,
  );
  t.diagnostic(`rebuilt ${during.below} chunks in ${Date.now() - started} ms (grace 2 s)`);
  assert.equal(h.state, 'favorable');
  checkAll(b);

  // pod3 comes back: it is a target again, and the copies made meanwhile go.
  await a.daemon.ok(['network', 'set', net.name, 'grace', '1h']);
  await d.daemon.start();
  await net.waitFor('the mount of pod3 again', () => isMounted(d.mount));
  await net.waitFor('reconciled with pod3 back: surplus copies dropped', () => settled(a, 5), 90_000);
  checkAll(d);
}

async function drain(t: TestContext, net: TestNetwork): Promise<void> {
  const [a, b, c] = net.pods as [NetPod, NetPod, NetPod];
  // A reader reads every file over and over in b while c drains.
  let stop = false;
  let reads = 0;
  const failures: string[] = [];
  const reader = (async () => {
    while (!stop) {
      for (const [name, sum] of files) {
        try {
          const got = sha256(await fs.promises.readFile(path.join(b.mount, name)));
          if (got !== sum) failures.push(`${name}: wrong content`);
        } catch (err) {
          failures.push(`${name}: ${(err as Error).message}`);
        }
        reads++;
      }
    }
  })();
  try {
    await a.daemon.ok(['pod', 'drain', 'pod2']);
  } finally {
    stop = true;
    await reader;
  }
  assert.deepEqual(failures, [], 'every read succeeded during the drain');
  assert.ok(reads > files.size, `the reader read ${reads} files`);
  await net.waitFor('pod2 holds nothing', async () => (await podInfo(c)).chunkBytes === 0);
  await net.waitFor('settled without pod2', async () => {
    const h = await health(a);
    return h.below === 0 && h.pods.find((p) => p.name === 'pod2')?.chunks === 0;
  });
  await a.daemon.ok(['pod', 'remove', 'pod2']);
  t.diagnostic(`drained pod2 while reading ${reads} files`);

  // Removing a pod that holds replicas is refused without --force, and says why.
  const r = await a.daemon.cli(['pod', 'remove', 'pod1']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /below their redundancy/);
  assert.match(r.stderr, /--force/);
}

async function grave(t: TestContext, net: TestNetwork): Promise<void> {
  const [a] = net.pods as [NetPod];
  // A pair of pods (not pod0) that alone hold some file, and a file they do not hold.
  const alive = ['pod1', 'pod3', 'pod4'];
  let pair: string[] | undefined;
  let onPair = '';
  let elsewhere = '';
  for (const [x, y] of [
    ['pod1', 'pod4'],
    ['pod3', 'pod4'],
    ['pod1', 'pod3'],
  ] as const) {
    onPair = '';
    elsewhere = '';
    for (const name of files.keys()) {
      if (!name.startsWith('small/')) continue;
      const holders = (await where(a, path.join(a.mount, name))).ranges.flatMap((r) => r.holders);
      if (holders.every((h) => h === x || h === y)) onPair ||= name;
      if (!holders.some((h) => h === x || h === y)) elsewhere ||= name;
    }
    if (onPair && elsewhere) {
      pair = [x, y];
      break;
    }
  }
  assert.ok(pair, `no pair of ${alive} alone holds a file`);
  // The other pods restart first: no copy stays in their RAM caches or page caches (a chunk in RAM
  // is served, but it is no replica).
  for (const p of net.pods.filter((x) => alive.includes(x.name) || x.name === 'pod0')) {
    if (pair.includes(p.name)) continue;
    await p.daemon.stop();
    await p.daemon.start();
    await net.waitFor(`${p.name} mounted again`, () => isMounted(p.mount));
  }
  for (const name of pair) await net.pods.find((p) => p.name === name)?.daemon.kill9();
  await net.waitFor('health grave', async () => {
    const h = await health(a);
    return h.state === 'grave' && h.lost > 0;
  });
  const t0 = Date.now();
  assert.equal(readError(path.join(a.mount, onPair)), 'EIO', `${onPair}, held only by ${pair}, fails with EIO`);
  const ms = Date.now() - t0;
  assert.ok(ms < 15_000, `EIO came after ${ms} ms`);
  assert.equal(readError(path.join(a.mount, elsewhere)), null, `${elsewhere} reads fine`);
  t.diagnostic(`reading a file with no live copy failed with EIO in ${ms} ms`);

  await a.daemon.ok(['network', 'set', net.name, 'reaction.grave', 'read-only']);
  await net.waitFor('the mount turns read-only', async () => (await health(a)).access === 'read-only');
  assert.throws(() => fs.writeFileSync(path.join(a.mount, 'refused.txt'), 'x'), { code: 'EROFS' });
  assert.throws(() => fs.mkdirSync(path.join(a.mount, 'refused')), { code: 'EROFS' });
  assert.equal(readError(path.join(a.mount, elsewhere)), null, 'reads go on while read-only');

  await a.daemon.ok(['network', 'set', net.name, 'reaction.grave', 'cut']);
  await net.waitFor('access cut', async () => (await health(a)).access === 'cut');
  assert.throws(() => fs.readdirSync(path.join(a.mount, 'small')), { code: 'EACCES' });
  assert.ok(fs.statSync(a.mount).isDirectory(), 'the mount itself still answers stat');

  // The lost pods come back: the network is whole again, and writable.
  for (const name of pair) {
    const p = net.pods.find((x) => x.name === name) as NetPod;
    await p.daemon.start();
    await net.waitFor(`${name} mounted again`, () => isMounted(p.mount));
  }
  await net.waitFor('favorable again', async () => (await health(a)).state === 'favorable', 60_000);
  assert.equal((await health(a)).access, 'read-write');
  fs.writeFileSync(path.join(a.mount, 'after.txt'), 'writable again');
  assert.equal(readError(path.join(a.mount, onPair)), null, `${onPair} reads again`);
}

test('five storage pods in two zones: placement, isolation, a lost pod, drain, remove, grave', {
  timeout: 400_000,
}, async (t) => {
  const net = await startNetwork(t, 5, {
    netns: true,
    podArgs: (i) => ['--zone', zoneOf(`pod${i}`) as string],
  });
  await net.pods[0]?.daemon.ok(['network', 'set', net.name, 'grace', '1h']);
  await t.test('every chunk of a written tree sits on two pods in different zones', (st) => placement(st, net));
  await t.test('a cut pod knows it is isolated; no repair; both sides converge after healing', (st) =>
    isolation(st, net),
  );
  await t.test('a killed pod: nothing moves during the grace period, rebuilt after it, reconciled on return', (st) =>
    killOne(st, net),
  );
  await t.test('drain under load: no read fails, the pod ends holding nothing; remove asks for --force', (st) =>
    drain(st, net),
  );
  await t.test('both holders of some chunks killed: grave, EIO on those files only, read-only and cut', (st) =>
    grave(st, net),
  );
});
